"""Golden checks of fPaSST's Kaldi front end (s5tse.models.tagger.kaldi_frontend)."""
import math

import numpy as np
import pytest
import torch

from s5tse.models.tagger.kaldi_frontend import (
    KaldiFbankFrontend,
    kaldi_mel_banks,
    num_fbank_frames,
)

N_MELS, N_FFT, SR16, FMAX = 128, 512, 16000, 7000.0
FLOOR = (math.log(1e-7) + 4.5) / 5.0  # normalised log of the clamp floor


def _mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def _reference_bank():
    """Independent numpy evaluation of the Kaldi mel formula (reference §8)."""
    delta = (_mel(FMAX) - _mel(0.0)) / (N_MELS + 1)
    m = _mel(np.arange(N_FFT // 2) * SR16 / N_FFT)[None, :]
    b = np.arange(N_MELS)[:, None]
    left, centre, right = b * delta, (b + 1) * delta, (b + 2) * delta
    w = np.maximum(0.0, np.minimum((m - left) / (centre - left), (right - m) / (right - centre)))
    return np.concatenate([w, np.zeros((N_MELS, 1))], axis=1)


@pytest.fixture(scope="module")
def frontend():
    return KaldiFbankFrontend()


def test_frame_counts():
    assert num_fbank_frames(160000) == 1000  # 10 s at 16 kHz: 1000, not 1001 (pre-emphasis)
    assert num_fbank_frames(16000) == 100
    assert num_fbank_frames(400000) == 2500
    with pytest.raises(ValueError):
        num_fbank_frames(1)


def test_ten_seconds_give_1000_frames(frontend):
    wav = torch.randn(1, 320000)  # 10 s at 32 kHz
    mel = frontend(wav)
    assert mel.shape == (1, 1, 128, 1000)
    assert frontend.num_frames(320000) == 1000
    assert frontend.num_frames(160000, sample_rate=16000) == 1000
    assert torch.isfinite(mel).all()


def test_bank_properties():
    bank = kaldi_mel_banks(N_MELS, N_FFT, SR16, 0.0, FMAX)
    assert bank.shape == (128, 257)
    assert float(bank.min()) >= 0.0 and float(bank.max()) <= 1.0
    assert torch.all(bank[:, -1] == 0)  # zero Nyquist column
    # 7000 Hz and above get no weight
    assert torch.all(bank[:, int(math.ceil(FMAX * N_FFT / SR16)):] == 0)
    # triangular: each non-empty row is one contiguous run that rises, then falls
    rows = 0
    for row in bank.numpy():
        nz = np.flatnonzero(row)
        if nz.size == 0:  # the lowest triangles are narrower than the 31.25 Hz FFT spacing
            continue
        rows += 1
        assert np.all(np.diff(nz) == 1)
        seg = row[nz[0]:nz[-1] + 1]
        peak = int(np.argmax(seg))
        assert np.all(np.diff(seg[:peak + 1]) >= 0) and np.all(np.diff(seg[peak:]) <= 0)
    assert rows >= 110
    # closed form, evaluated independently in float64 (torchaudio's float32 bank is within 1.4e-5)
    np.testing.assert_allclose(bank.double().numpy(), _reference_bank(), atol=2e-5, rtol=0)


def test_bank_equals_torchaudio_exactly():
    # the reference's call: get_mel_banks(..., vtln_low=100, vtln_high=-500, vtln_warp_factor=1)
    # in float32, padded with a zero Nyquist column
    from torchaudio.compliance import kaldi

    ta, _ = kaldi.get_mel_banks(N_MELS, N_FFT, SR16, 0.0, 7000, vtln_low=100.0, vtln_high=-500.0,
                                vtln_warp_factor=1.0)
    ta = torch.nn.functional.pad(ta, (0, 1), mode="constant", value=0.0)
    bank = kaldi_mel_banks()
    assert bank.dtype == ta.dtype == torch.float32
    assert torch.equal(bank, ta)
    frontend = KaldiFbankFrontend()
    assert torch.equal(frontend.mel_bank, ta)
    # the 32-kHz PaSST-S settings (n_fft 1024, 15 kHz) go through the same call
    ta2, _ = kaldi.get_mel_banks(128, 1024, 32000, 0.0, 15000, vtln_low=100.0, vtln_high=-500.0,
                                 vtln_warp_factor=1.0)
    assert torch.equal(kaldi_mel_banks(128, 1024, 32000, 0.0, 15000.0),
                       torch.nn.functional.pad(ta2, (0, 1)))


def test_bank_rejects_bad_range():
    with pytest.raises(ValueError, match="f_max"):
        kaldi_mel_banks(128, 512, 16000, 0.0, 9000.0)


@pytest.mark.parametrize("mel_bin", [60, 90, 110])
def test_pure_tone_peak_bin(frontend, mel_bin):
    # tone at the centre of mel bin `mel_bin`, from the Kaldi formula inverted by hand
    delta = 1127.0 * math.log1p(FMAX / 700.0) / (N_MELS + 1)
    f0 = 700.0 * (math.exp((mel_bin + 1) * delta / 1127.0) - 1.0)
    t = torch.arange(32000, dtype=torch.float64) / 32000.0
    wav = torch.sin(2 * math.pi * f0 * t).float()[None]
    mel = frontend(wav)[0, 0, :, 10:-10]  # skip the padded edges
    assert int(mel.mean(dim=1).argmax()) == mel_bin


def test_resampling_and_normalisation(frontend):
    ta_f = pytest.importorskip("torchaudio.functional")
    wav = torch.randn(2, 8000)
    mel = frontend(wav)
    assert mel.shape == (2, 1, 128, frontend.num_frames(8000))
    torch.testing.assert_close(mel, frontend.fbank(ta_f.resample(wav, 32000, 16000)))
    # explicit sample rate equal to the model rate skips resampling
    wav16 = torch.randn(1, 1600)
    torch.testing.assert_close(frontend(wav16, sample_rate=16000), frontend.fbank(wav16))


def test_all_zero_input_is_finite(frontend):
    mel = frontend(torch.zeros(2, 32000))
    assert torch.isfinite(mel).all()
    torch.testing.assert_close(mel, torch.full_like(mel, FLOOR))


def test_zero_length_and_bad_shape(frontend):
    with pytest.raises(ValueError, match="zero-length"):
        frontend(torch.zeros(1, 0))
    with pytest.raises(ValueError, match=r"\[B, n\]"):
        frontend(torch.zeros(32000))


def test_very_short_input(frontend):
    # shorter than n_fft // 2 after resampling: zero padding instead of reflect, still works
    mel = frontend(torch.randn(1, 100))
    assert mel.shape == (1, 1, 128, frontend.num_frames(100))
    assert torch.isfinite(mel).all()
    with pytest.raises(ValueError, match="too short"):
        frontend(torch.randn(1, 2))  # 1 sample at 16 kHz
