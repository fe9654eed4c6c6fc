"""Tests for s5tse.losses.sdr (closed forms, eps convention, agreement with the metric, gradients)."""
import doctest
import math

import numpy as np
import pytest
import torch

import s5tse.losses.sdr as sdr_mod
from s5tse.losses.sdr import (
    EPS,
    neg_si_sdr,
    neg_snr,
    pairwise_neg_si_sdr,
    pairwise_neg_snr,
    si_sdr,
    snr,
    snr_loss,
)
from s5tse.metrics.sdr import snr_db


def test_eps_is_float32_eps():
    assert EPS == float(np.finfo(np.float32).eps)


def test_snr_closed_form_constant_signals():
    # ref = 2 * ones(100): sum ref^2 = 400; est = ref + 0.5: sum err^2 = 25
    ref = torch.full((100,), 2.0, dtype=torch.float64)
    est = ref + 0.5
    expected = 10 * math.log10((400 + EPS) / (25 + EPS))
    assert float(snr(est, ref)) == pytest.approx(expected, abs=1e-12)
    assert float(neg_snr(est, ref)) == pytest.approx(-expected, abs=1e-12)
    assert snr_loss is neg_snr


def test_snr_edge_cases_follow_eps_convention():
    ref = torch.full((64,), 0.125, dtype=torch.float64)  # energy 1
    assert float(snr(ref, ref)) == pytest.approx(10 * math.log10((1 + EPS) / EPS), abs=1e-9)
    assert float(snr(torch.zeros(64, dtype=torch.float64), ref)) == 0.0
    assert float(snr(torch.zeros(8), torch.zeros(8))) == 0.0
    # all-zero reference: -10 log10(1 + E / eps)
    est = torch.full((4,), 0.01, dtype=torch.float64)  # energy 4e-4
    assert float(snr(est, torch.zeros(4, dtype=torch.float64))) == pytest.approx(
        -10 * math.log10(1 + 4e-4 / EPS), abs=1e-9)


def test_si_sdr_closed_form_orthogonal_noise():
    # est = a * ref + n with <n, ref> = 0: a_hat = (a |r|^2 + eps) / (|r|^2 + eps)
    T = 1000
    t = torch.arange(T, dtype=torch.float64)
    ref = torch.sin(2 * math.pi * 5 * t / T)
    noise = 0.1 * torch.cos(2 * math.pi * 5 * t / T)
    assert abs(float((ref * noise).sum())) < 1e-9
    a = 0.5
    est = a * ref + noise
    er, en = float(ref.pow(2).sum()), float(noise.pow(2).sum())
    a_hat = (a * er + EPS) / (er + EPS)
    target = a_hat * ref
    expected = 10 * math.log10((a_hat**2 * er + EPS) / (float((target - est).pow(2).sum()) + EPS))
    assert float(si_sdr(est, ref)) == pytest.approx(expected, abs=1e-9)
    assert float(si_sdr(est, ref)) == pytest.approx(10 * math.log10(a**2 * er / en), abs=1e-6)
    assert float(neg_si_sdr(est, ref)) == pytest.approx(-expected, abs=1e-9)


def test_si_sdr_scale_invariant_snr_not():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(3, 2000, generator=g, dtype=torch.float64)
    est = ref + 0.3 * torch.randn(3, 2000, generator=g, dtype=torch.float64)
    assert torch.allclose(si_sdr(0.25 * est, ref), si_sdr(4.0 * est, ref), atol=1e-6)
    assert not torch.allclose(snr(0.25 * est, ref), snr(4.0 * est, ref), atol=1e-1)


def test_si_sdr_zero_mean_removes_offsets():
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(2, 500, generator=g, dtype=torch.float64)
    est = ref + 0.2 * torch.randn(2, 500, generator=g, dtype=torch.float64)
    zm = si_sdr(est, ref, zero_mean=True)
    assert torch.allclose(si_sdr(est + 3.0, ref - 1.0, zero_mean=True), zm, atol=1e-9)
    centred = si_sdr(est - est.mean(-1, keepdim=True), ref - ref.mean(-1, keepdim=True))
    assert torch.allclose(zm, centred, atol=1e-12)


def test_snr_matches_numpy_metric():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((4, 3, 3000)).astype(np.float32)
    est = (ref + 0.5 * rng.standard_normal(ref.shape)).astype(np.float32)
    est[0, 1] = 0.0
    ref[1, 2] = 0.0
    ours = snr(torch.from_numpy(est), torch.from_numpy(ref)).double().numpy()
    np.testing.assert_allclose(ours, snr_db(est, ref), atol=1e-4)
    ours64 = snr(torch.from_numpy(est).double(), torch.from_numpy(ref).double()).numpy()
    np.testing.assert_allclose(ours64, snr_db(est, ref), atol=1e-10)


def test_batch_shapes_broadcast_and_dtypes():
    est, ref = torch.randn(2, 3, 100), torch.randn(2, 3, 100)
    assert snr(est, ref).shape == (2, 3)
    assert si_sdr(est, ref).shape == (2, 3)
    assert snr(est, ref[:1]).shape == (2, 3)  # leading axes broadcast
    assert snr(est.half(), ref.half()).dtype == torch.float32
    assert snr(est.bfloat16(), ref).dtype == torch.float32
    assert snr(est.double(), ref).dtype == torch.float64


def test_pairwise_layout_rows_refs_cols_ests():
    g = torch.Generator().manual_seed(3)
    est, ref = torch.randn(2, 3, 400, generator=g), torch.randn(2, 4, 400, generator=g)
    pw = pairwise_neg_snr(est, ref)
    assert pw.shape == (2, 4, 3)
    pws = pairwise_neg_si_sdr(est, ref)
    for i in range(4):
        for j in range(3):
            assert torch.allclose(pw[:, i, j], neg_snr(est[:, j], ref[:, i]))
            assert torch.allclose(pws[:, i, j], neg_si_sdr(est[:, j], ref[:, i]))


def test_errors():
    with pytest.raises(ValueError, match="differ in length"):
        snr(torch.zeros(3, 10), torch.zeros(3, 11))
    with pytest.raises(ValueError, match="no samples"):
        snr(torch.zeros(3, 0), torch.zeros(3, 0))
    with pytest.raises(ValueError, match="expected est"):
        pairwise_neg_snr(torch.zeros(3, 10), torch.zeros(3, 10))


def test_gradients_finite_including_perfect_and_zero_estimates():
    ref = torch.randn(2, 3, 256)
    est = ref.clone()
    est[0, 0] = 0.0
    est.requires_grad_(True)
    (neg_snr(est, ref).sum() + neg_si_sdr(est, ref).sum()).backward()
    assert torch.isfinite(est.grad).all()
    # gradient of -SNR points from est towards ref
    est2 = torch.zeros(1, 256, requires_grad=True)
    neg_snr(est2, ref[0, :1]).sum().backward()
    assert float((est2.grad * ref[0, :1]).sum()) < 0


def test_docstring_examples():
    failures, _ = doctest.testmod(sdr_mod, verbose=False)
    assert failures == 0
