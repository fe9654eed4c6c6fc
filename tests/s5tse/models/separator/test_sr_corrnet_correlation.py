import numpy as np
import pytest
import torch

from s5tse.models.separator.sr_corrnet.correlation import (
    correlation_feature,
    num_taps,
    reference_rms,
    unfold_neighbourhood,
)


def _rand_spec(b=2, m=4, f=7, t=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(b, m, f, t, generator=g), torch.randn(b, m, f, t, generator=g))


def test_unfold_matches_brute_force():
    x = _rand_spec()
    taps_time, taps_freq = (2, 1), (1, 2)
    nb = unfold_neighbourhood(x, taps_time, taps_freq)
    lt, lf = 4, 4
    assert nb.shape == (2, 4, lt * lf, 7, 9)
    assert num_taps(taps_time, taps_freq) == lt * lf
    xn = x.numpy()
    for i in range(-1, 3):
        for l in range(-2, 2):
            j = (i + 1) * lt + (l + 2)
            for f in range(7):
                for t in range(9):
                    want = xn[:, :, f + i, t + l] if (0 <= f + i < 7 and 0 <= t + l < 9) else 0.0
                    np.testing.assert_allclose(nb[:, :, j, f, t].numpy(), want)


def test_zero_lag_tap_is_identity():
    x = _rand_spec()
    nb = unfold_neighbourhood(x, (1, 1), (1, 1))
    centre = 1 * 3 + 1  # (i = 0, l = 0)
    assert torch.equal(nb[:, :, centre], x)


def test_scaled_copies_closed_form():
    """Channels m = c_m * W (real c_m): after per-bin RMS normalisation and PHAT-1/2 the
    zero-lag correlation is z_m = sign(c_m) sqrt|c_m| |W~| (real), so z_m / z_W = sign(c_m) sqrt|c_m|
    and the PHAT-1/2 magnitude of W with itself is |W| / sigma_f."""
    torch.manual_seed(1)
    w = _rand_spec(b=1, m=1, f=5, t=6)[:, 0]
    c = torch.tensor([1.0, 0.5, -2.0, 0.0])
    x = c[None, :, None, None] * w[:, None]
    taps_time, taps_freq = (1, 1), (1, 1)
    feat = correlation_feature(x, taps_time, taps_freq, ref_channel=0, beta=0.5, eps=1e-12)
    m, l = 4, 9
    assert feat.shape == (1, 6, 5, 2 * m * l)
    z = torch.view_as_complex(feat.reshape(1, 6, 5, m, l, 2).contiguous())  # [B, N, F, M, L]
    centre = 4
    sigma = torch.sqrt((w.abs() ** 2).mean(-1) + 1e-12)  # [1, F]
    w_mag = (w.abs() / sigma[..., None]).transpose(1, 2)  # [1, N, F]
    np.testing.assert_allclose(z[..., 0, centre].real.numpy(), w_mag.numpy(), rtol=1e-5, atol=1e-6)
    for k in range(m):
        expect = np.sign(c[k].item()) * np.sqrt(abs(c[k].item())) * w_mag.numpy()
        np.testing.assert_allclose(z[..., k, centre].real.numpy(), expect, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(z[..., k, centre].imag.numpy(), 0.0, atol=1e-5)


def test_general_phat_against_numpy():
    """Independent numpy computation of z = X~_r conj(X~_m(f+i, t+l)) / sqrt(|X~_r||X~_m| + eps)."""
    x = _rand_spec(b=1, m=3, f=6, t=8, seed=3)
    x[..., 2, :] *= 10.0  # unequal bin levels make the per-bin normalisation matter
    feat = correlation_feature(x, (1, 2), (1, 0), ref_channel=1, beta=0.5)
    lt, lf = 4, 2
    z = torch.view_as_complex(feat.reshape(1, 8, 6, 3, lt * lf, 2).contiguous()).numpy()
    xn = x[0].numpy()
    sigma = np.sqrt(np.mean(np.abs(xn[1]) ** 2, axis=-1) + 1e-12)  # [F]
    xt = xn / sigma[None, :, None]
    for i in (-1, 0):
        for l in (-1, 0, 1, 2):
            j = (i + 1) * lt + (l + 1)
            for f in range(6):
                for t in range(8):
                    r = xt[1, f, t]
                    for m in range(3):
                        if 0 <= f + i < 6 and 0 <= t + l < 8:
                            nb = xt[m, f + i, t + l]
                            want = r * np.conj(nb) / np.sqrt(abs(r) * abs(nb) + 1e-12)
                        else:
                            want = 0.0
                        np.testing.assert_allclose(z[0, t, f, m, j], want, rtol=1e-4, atol=1e-5)
                        if want != 0.0:  # PHAT-1/2 magnitude = geometric mean of the magnitudes
                            assert abs(abs(z[0, t, f, m, j]) - np.sqrt(abs(r) * abs(nb))) < 1e-4


def test_feature_is_scale_invariant_and_gradient_free():
    x = _rand_spec(b=1, m=4, f=5, t=7, seed=4).requires_grad_(True)
    f1 = correlation_feature(x, (1, 1), (1, 1))
    f2 = correlation_feature(x.detach() * 123.0, (1, 1), (1, 1))
    assert not f1.requires_grad
    torch.testing.assert_close(f1, f2, rtol=1e-4, atol=1e-5)
    assert reference_rms(x.detach()[:, 0]).shape == (1, 5, 1)


def test_invalid_taps():
    with pytest.raises(ValueError, match="taps_time"):
        num_taps((1, -1), (0, 0))
