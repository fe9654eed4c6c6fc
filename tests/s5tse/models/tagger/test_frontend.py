"""M2D front end: Slaney bank vs the closed-form formula, frame counts, numpy golden, tones."""
import math

import numpy as np
import pytest
import torch

from s5tse.models.tagger.frontend import (DEFAULT_NORM_STATS, M2DFrontendConfig, M2DLogMel,
                                          m2d_num_frames, normalize_log_mel,
                                          slaney_mel_filterbank)

SR, NFFT, HOP, NMELS, FMIN, FMAX = 32000, 800, 320, 80, 50.0, 16000.0
EPS32 = float(np.finfo(np.float32).eps)


# --- independent closed-form Slaney mel (reference §8) ------------------------------------
def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    log_part = 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, f / (200.0 / 3.0))


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27.0), m * 200.0 / 3.0)


def band_edges(n_mels=NMELS, fmin=FMIN, fmax=FMAX):
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))


def numpy_slaney_bank(sr=SR, n_fft=NFFT, n_mels=NMELS, fmin=FMIN, fmax=FMAX):
    edges = band_edges(n_mels, fmin, fmax)
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    bank = np.zeros((n_mels, freqs.size))
    for i in range(n_mels):
        lo, c, hi = edges[i:i + 3]
        tri = np.maximum(0.0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)))
        bank[i] = tri * 2.0 / (hi - lo)
    return bank


def numpy_log_mel(x, sr=SR, n_fft=NFFT, hop=HOP):
    pad = n_fft // 2
    xp = np.pad(x.astype(np.float64), pad, mode="reflect")
    n_frames = 1 + (xp.size - n_fft) // hop
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = np.stack([xp[j * hop:j * hop + n_fft] * win for j in range(n_frames)], axis=1)
    power = np.abs(np.fft.rfft(frames, axis=0)) ** 2
    return np.log(numpy_slaney_bank(sr, n_fft) @ power + EPS32)


# --- filter bank ---------------------------------------------------------------------------
def test_filterbank_matches_closed_form_and_is_nonnegative():
    fb = slaney_mel_filterbank(SR, NFFT, NMELS, FMIN, FMAX, dtype=torch.float64).numpy()
    assert fb.shape == (NMELS, NFFT // 2 + 1)
    assert fb.min() >= 0.0
    assert (fb.max(axis=1) > 0).all()  # every band sees at least one FFT bin
    ref = numpy_slaney_bank()
    np.testing.assert_allclose(fb, ref, rtol=1e-5, atol=1e-7)  # torchaudio works in float32


def test_filterbank_slaney_area_normalisation():
    fb = slaney_mel_filterbank(dtype=torch.float64).numpy()
    edges = band_edges()
    width_hz = edges[2:] - edges[:-2]
    df = SR / NFFT
    # the triangle of height 2/width has unit area; its sampled peak never exceeds that height
    assert (fb.max(axis=1) * width_hz / 2.0 <= 1.0 + 1e-6).all()
    wide = width_hz >= 10 * df  # Riemann sum is accurate for triangles wider than 10 bins
    assert wide.sum() >= 25
    np.testing.assert_allclose(fb[wide].sum(axis=1) * df, 1.0, atol=0.01)
    # the normalisation makes high (wide) bands lower: peak heights decrease with frequency
    assert fb[-1].max() < fb[40].max() < fb[10].max()


def test_filterbank_outside_band_is_zero():
    fb = slaney_mel_filterbank(dtype=torch.float64).numpy()
    freqs = np.linspace(0, SR / 2, NFFT // 2 + 1)
    assert np.all(fb[:, freqs <= FMIN] == 0.0)


# --- frame counts and config ---------------------------------------------------------------
def test_frame_counts():
    assert m2d_num_frames(10 * SR, HOP) == 1001
    assert m2d_num_frames(SR, HOP) == 101
    fe = M2DLogMel()
    assert fe(torch.zeros(1, 10 * SR)).shape == (1, NMELS, 1001)
    assert fe(torch.zeros(2, 3, SR)).shape == (2, 3, NMELS, 101)
    fe16 = M2DLogMel(M2DFrontendConfig.for_sample_rate(16000))
    c = fe16.config
    assert (c.n_fft, c.win_length, c.hop_length, c.f_max) == (400, 400, 160, 8000.0)
    assert fe16(torch.zeros(1, 10 * 16000)).shape == (1, NMELS, 1001)
    assert M2DFrontendConfig.for_sample_rate(32000) == M2DFrontendConfig()


def test_buffers_are_not_in_state_dict():
    assert len(M2DLogMel().state_dict()) == 0


# --- golden values -------------------------------------------------------------------------
def test_log_mel_matches_numpy_reference():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(SR // 2)).astype(np.float32)
    ours = M2DLogMel()(torch.from_numpy(x)[None])[0].double().numpy()
    ref = numpy_log_mel(x.astype(np.float64))
    assert ours.shape == ref.shape == (NMELS, 1 + x.size // HOP)
    np.testing.assert_allclose(ours, ref, atol=2e-4)


@pytest.mark.parametrize("band", [3, 12, 20, 41, 60, 77])
def test_pure_tone_peaks_in_expected_bin(band):
    # expected bin from the mel formula alone: the tone sits on the centre of band `band`
    f0 = float(band_edges()[band + 1])
    expected = int(round((hz_to_mel(f0) - hz_to_mel(FMIN))
                         / ((hz_to_mel(FMAX) - hz_to_mel(FMIN)) / (NMELS + 1)))) - 1
    assert expected == band
    t = torch.arange(SR // 2, dtype=torch.float64) / SR
    x = 0.5 * torch.sin(2 * math.pi * f0 * t)
    lm = M2DLogMel()(x[None])[0]
    assert int(lm[:, 2:-2].mean(dim=1).argmax()) == expected


# --- edge cases and normalisation ----------------------------------------------------------
def test_all_zero_input_is_finite():
    fe = M2DLogMel()
    lm = fe(torch.zeros(2, SR))
    assert torch.isfinite(lm).all()
    torch.testing.assert_close(lm, torch.full_like(lm, math.log(EPS32)))
    z = normalize_log_mel(lm, torch.tensor(DEFAULT_NORM_STATS))
    assert torch.isfinite(z).all()
    torch.testing.assert_close(z[0, 0, 0], torch.tensor((math.log(EPS32) + 7.1) / 4.2))


def test_zero_length_and_too_short_inputs_raise():
    fe = M2DLogMel()
    with pytest.raises(ValueError, match="zero samples"):
        fe(torch.zeros(1, 0))
    with pytest.raises(ValueError, match="too short"):
        fe(torch.zeros(1, 400))
    assert fe(torch.zeros(1, 401)).shape == (1, NMELS, 2)


def test_normalize_log_mel_pair_and_tensor():
    x = torch.randn(2, 80, 5)
    a = normalize_log_mel(x, (-5.0, 2.0))
    b = normalize_log_mel(x, torch.tensor([-5.0, 2.0]))
    torch.testing.assert_close(a, (x + 5.0) / 2.0)
    torch.testing.assert_close(a, b)


def test_config_validation():
    with pytest.raises(ValueError):
        M2DFrontendConfig(f_max=20000.0)
    with pytest.raises(ValueError):
        M2DFrontendConfig.for_sample_rate(22050)
