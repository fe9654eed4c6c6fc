import torch

from s5tse.models.separator.sr_corrnet.filter import FilterEstimator, apply_miso_filter, complex_filter


def test_filter_form():
    torch.manual_seed(0)
    est = FilterEstimator(d_model=8, num_channels=4, num_taps=9)
    s = torch.randn(2, 3, 5, 6, 8) * 5.0
    w = est(s)
    assert w.shape == (2, 3, 5, 6, 4, 9) and w.dtype == torch.complex64
    a, b, c = est.coefficients(s)
    mag = torch.nn.functional.softplus(a)
    assert (mag >= 0).all()
    assert (w.real.abs() <= mag + 1e-6).all() and (w.imag.abs() <= mag + 1e-6).all()
    assert (w.abs() <= 2 ** 0.5 * mag + 1e-5).all()
    torch.testing.assert_close(w, complex_filter(a, b, c))
    # tanh saturates at +-1: huge b, c give W = softplus(a) (1 + j)
    w_sat = complex_filter(torch.zeros(1), torch.full((1,), 50.0), torch.full((1,), -50.0))
    log2 = torch.log(torch.tensor([2.0]))
    torch.testing.assert_close(w_sat, torch.complex(log2, -log2))


def test_miso_filter_against_loops():
    g = torch.Generator().manual_seed(0)
    w = torch.complex(torch.randn(1, 2, 4, 3, 2, 5, generator=g), torch.randn(1, 2, 4, 3, 2, 5, generator=g))
    x = torch.complex(torch.randn(1, 2, 5, 3, 4, generator=g), torch.randn(1, 2, 5, 3, 4, generator=g))
    y = apply_miso_filter(w, x)
    assert y.shape == (1, 2, 3, 4)
    for k in range(2):
        for f in range(3):
            for t in range(4):
                want = sum(w[0, k, t, f, m, j] * x[0, m, j, f, t] for m in range(2) for j in range(5))
                torch.testing.assert_close(y[0, k, f, t], want, rtol=1e-5, atol=1e-5)
