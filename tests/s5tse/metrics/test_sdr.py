"""Tests for s5tse.metrics.sdr (closed-form values, broadcasting, pairwise precision)."""
import math

import numpy as np
import pytest

from s5tse.metrics.sdr import EPS, pairwise_snr_db, snr_db


def test_eps_is_float32_eps():
    assert EPS == float(np.finfo(np.float32).eps)
    assert EPS == pytest.approx(1.1920929e-07)


def test_constant_signals_closed_form():
    # ref = 2 * ones(100): sum ref^2 = 400; est = ref + 0.5: sum err^2 = 25
    ref = np.full(100, 2.0, dtype=np.float32)
    est = ref + np.float32(0.5)
    expected = 10 * math.log10((400 + EPS) / (25 + EPS))  # 12.0411... dB
    assert float(snr_db(est, ref)) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(12.041199826559248, abs=1e-6)


def test_estimate_equal_to_reference_and_zero_estimate():
    ref = np.full(64, 0.125)  # sum ref^2 = 1
    assert float(snr_db(ref, ref)) == pytest.approx(10 * math.log10((1 + EPS) / EPS), abs=1e-12)
    assert float(snr_db(np.zeros(64), ref)) == 0.0  # (S + eps) / (S + eps), exactly 1
    # silent reference and silent estimate: eps / eps
    assert float(snr_db(np.zeros(8), np.zeros(8))) == 0.0


def test_not_scale_invariant_and_not_zero_mean():
    ref = np.full(10, 1.0)
    # est = 2 * ref: error energy equals the signal energy -> 0 dB (no projection)
    assert float(snr_db(2 * ref, ref)) == pytest.approx(0.0, abs=1e-9)
    # a DC offset is an error (no mean removal): est = ref + 1 -> 0 dB too
    assert float(snr_db(ref + 1, ref)) == pytest.approx(0.0, abs=1e-9)


def test_broadcasting_and_shapes():
    ref = np.stack([np.full(50, 1.0), np.full(50, 3.0)])  # [2, 50]
    est = np.zeros(50)
    out = snr_db(est, ref)
    assert out.shape == (2,) and np.all(out == 0.0)
    assert snr_db(np.zeros((3, 1, 50)), ref).shape == (3, 2)
    with pytest.raises(ValueError, match="differ in length"):
        snr_db(np.zeros(49), np.zeros(50))


def test_float32_input_is_accumulated_in_float64():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(320000).astype(np.float32)
    est = (ref + 1e-3 * rng.standard_normal(320000)).astype(np.float32)
    r, e = ref.astype(np.float64), est.astype(np.float64)
    direct = 10 * np.log10((np.sum(r * r) + EPS) / (np.sum((r - e) ** 2) + EPS))
    assert float(snr_db(est, ref)) == pytest.approx(direct, abs=1e-9)


def _realistic(rng, n=320000):
    """Noise-like signals at speech-like levels, float32 like decoded audio."""
    env = np.abs(np.sin(np.linspace(0, 20, n)))
    return (0.1 * env * rng.standard_normal(n)).astype(np.float32)


def test_pairwise_matches_direct_formula_within_1e_9_db():
    rng = np.random.default_rng(0)
    refs = np.stack([_realistic(rng) for _ in range(3)])
    ests = np.stack([
        refs[0],                                                     # equal to a reference
        (refs[1] + 1e-4 * rng.standard_normal(refs.shape[1])).astype(np.float32),  # ~40 dB
        (refs[2] + 0.05 * rng.standard_normal(refs.shape[1])).astype(np.float32),
        np.zeros(refs.shape[1], dtype=np.float32),                   # all-zero estimate
    ])
    got = pairwise_snr_db(ests, refs)
    assert got.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            r, e = refs[j].astype(np.float64), ests[i].astype(np.float64)
            direct = 10 * math.log10((np.sum(r * r) + EPS) / (np.sum((r - e) ** 2) + EPS))
            assert abs(got[i, j] - direct) < 1e-9
            assert abs(got[i, j] - float(snr_db(ests[i], refs[j]))) < 1e-9
    assert got[3].tolist() == [0.0, 0.0, 0.0]
    assert got[0, 0] == pytest.approx(10 * math.log10((np.sum(refs[0].astype(np.float64) ** 2) + EPS) / EPS))


def test_pairwise_empty_and_shape_errors():
    assert pairwise_snr_db(np.zeros((0, 5)), np.ones((2, 5))).shape == (0, 2)
    assert pairwise_snr_db(np.ones((2, 5)), np.zeros((0, 5))).shape == (2, 0)
    with pytest.raises(ValueError):
        pairwise_snr_db(np.zeros(5), np.ones((2, 5)))
    with pytest.raises(ValueError, match="differ in length"):
        pairwise_snr_db(np.zeros((1, 4)), np.ones((2, 5)))
