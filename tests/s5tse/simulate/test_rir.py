"""Tests for s5tse.simulate.rir: RIR energy normalisation and the direct-path window."""
import numpy as np
import pytest

from s5tse.simulate.rir import direct_path_window, normalize_rir


def test_normalize_rir_unit_mean_energy():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(4, 5000)) * np.array([[3.0], [0.5], [0.1], [1.0]])
    out = normalize_rir(h)
    assert out.dtype == np.float32 and out.shape == h.shape
    energy = np.mean(np.sum(out.astype(np.float64) ** 2, axis=-1))
    assert energy == pytest.approx(1.0, abs=1e-6)
    # a pure scaling: channel ratios are kept
    scale = np.sqrt(np.mean(np.sum(h**2, axis=-1)))
    np.testing.assert_allclose(out, h / scale, rtol=1e-6)


def test_normalize_rir_known_value_and_batch():
    h = np.zeros((4, 10))
    h[0, 0] = 2.0  # energy per channel [4, 0, 0, 0] -> mean 1 -> unchanged
    np.testing.assert_array_equal(normalize_rir(h), h.astype(np.float32))
    h[:, 3] = 2.0  # energies [8, 4, 4, 4] -> mean 5
    np.testing.assert_allclose(normalize_rir(h), h / np.sqrt(5.0), rtol=1e-7)
    batch = np.stack([h, 3.0 * h])
    out = normalize_rir(batch)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6)


def test_normalize_rir_errors():
    with pytest.raises(ValueError, match="zero"):
        normalize_rir(np.zeros((4, 100)))
    with pytest.raises(ValueError, match=r"\[R, N\]"):
        normalize_rir(np.ones(100))


def test_direct_path_window_at_32k():
    h = np.zeros(10000)
    h[1000] = -1.0  # the peak of |h|, negative on purpose
    h[3000] = 0.5
    assert direct_path_window(h, 32000) == (1000 - 192, 1000 + 1600 + 1)
    start, stop = direct_path_window(h, 32000)
    assert stop - start == 192 + 1600 + 1  # both ends included


def test_direct_path_window_clips_at_edges():
    h = np.zeros(1500)
    h[100] = 1.0
    assert direct_path_window(h, 32000) == (0, 1500)
    h = np.zeros(5000)
    h[4900] = 1.0
    assert direct_path_window(h, 32000) == (4900 - 192, 5000)
    h = np.zeros(5000)
    h[0] = 1.0
    assert direct_path_window(h, 32000, before_ms=0.0, after_ms=0.0) == (0, 1)


def test_direct_path_window_other_rate_truncates():
    h = np.zeros(20000)
    h[5000] = 1.0
    # 6 ms at 44.1 kHz = 264.6 -> 264; 50 ms = 2205
    assert direct_path_window(h, 44100) == (5000 - 264, 5000 + 2205 + 1)


def test_direct_path_window_errors():
    with pytest.raises(ValueError, match="1-D"):
        direct_path_window(np.zeros((4, 100)), 32000)
    with pytest.raises(ValueError, match=">= 0"):
        direct_path_window(np.ones(100), 32000, before_ms=-1.0)
