"""Front end of frame-level PaSST (fPaSST): 32 kHz waveform -> normalised Kaldi log-mel.

Clean-room re-implementation from the published description (reference
``tagger_m2d_passt.md`` §3.1 and §8); no upstream code is copied.

Pipeline (evaluation settings of the PretrainedSED / cpjku_dcase24 fPaSST checkpoints):

1. resample the input (32 kHz for DCASE 2026 Task 4) to **16 kHz** with
   ``torchaudio.functional.resample`` (default windowed-sinc, Hann, width 6, roll-off 0.99);
2. pre-emphasis ``y[n] = x[n+1] - 0.97 x[n]`` (one sample shorter);
3. STFT ``n_fft=512``, ``win_length=400`` (25 ms, periodic Hann zero-padded to 512 by ``torch.stft``),
   ``hop=160`` (10 ms), ``center=True`` (reflect padding), power spectrum;
4. Kaldi mel bank (``1127 ln(1 + f/700)``, triangles in mel space, no area normalisation), 128 bins
   from 0 Hz to **7000 Hz** (``8000 - fmax_aug_range // 2`` with ``fmax_aug_range = 2000``), with a
   zero Nyquist column appended: torchaudio's ``compliance.kaldi.get_mel_banks`` in float32, as the
   reference computes it (:func:`kaldi_mel_banks`);
5. ``log(clamp(mel, min=1e-7))`` and the fixed "fast normalisation" ``(x + 4.5) / 5``.

Shapes: ``[B, n]`` at 16 kHz gives ``[B, 1, 128, 1 + (n - 1) // 160]`` frames, i.e. **1000 frames for
10 s** (160 000 samples; the pre-emphasis makes the signal one sample shorter, so not 1001) and 100
frames for 1 s. Frame ``f`` is centred at ``f * 10 ms`` (+ 1/16 ms for the pre-emphasis shift).

The training-time fmin/fmax augmentation of the original front end (fmin in [0, 10) Hz, fmax in
[6001, 8000] Hz) is not implemented: this module always computes the evaluation bank.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio.compliance.kaldi as _ta_kaldi

__all__ = [
    "kaldi_mel_banks",
    "num_fbank_frames",
    "KaldiFbankFrontend",
]


def kaldi_mel_banks(
    n_mels: int = 128,
    n_fft: int = 512,
    sample_rate: int = 16000,
    f_min: float = 0.0,
    f_max: float = 7000.0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Kaldi triangular mel filter bank with a zero Nyquist column, ``[n_mels, n_fft // 2 + 1]``.

    Exactly the reference's bank: ``torchaudio.compliance.kaldi.get_mel_banks(n_mels, n_fft,
    sample_rate, f_min, f_max, vtln_low=100, vtln_high=-500, vtln_warp_factor=1.0)``
    (``[n_mels, n_fft // 2]``, computed in torch's default dtype, float32) padded with one zero
    column for the Nyquist bin. Kaldi mel scale ``1127 ln(1 + f / 700)``, triangles in mel space,
    no area normalisation (weights in [0, 1]). Returned as ``dtype``. A non-positive ``f_max``
    counts from Nyquist (Kaldi convention).
    """
    if n_mels < 1:
        raise ValueError(f"kaldi_mel_banks: n_mels must be >= 1, got {n_mels}")
    if n_fft < 2 or n_fft % 2:
        raise ValueError(f"kaldi_mel_banks: n_fft must be a positive even number, got {n_fft}")
    nyquist = 0.5 * sample_rate
    f_hi = f_max + nyquist if f_max <= 0 else f_max
    if not (0.0 <= f_min < nyquist and 0.0 < f_hi <= nyquist and f_min < f_hi):
        raise ValueError(
            f"kaldi_mel_banks: need 0 <= f_min < f_max <= Nyquist ({nyquist:g} Hz), "
            f"got f_min={f_min:g}, f_max={f_max:g}"
        )
    bank, _ = _ta_kaldi.get_mel_banks(
        n_mels, n_fft, sample_rate, f_min, f_max,
        vtln_low=100.0, vtln_high=-500.0, vtln_warp_factor=1.0,
    )
    return F.pad(bank, (0, 1), value=0.0).to(dtype)  # Nyquist column


def num_fbank_frames(n_samples: int, hop_length: int = 160) -> int:
    """Frames produced for ``n_samples`` at the model rate: ``1 + (n_samples - 1) // hop_length``.

    (pre-emphasis removes one sample; ``center=True`` gives ``1 + length // hop`` frames.)
    160 000 samples (10 s at 16 kHz) -> 1000; 16 000 (1 s) -> 100.
    """
    if n_samples < 2:
        raise ValueError(f"need at least 2 samples at the model rate, got {n_samples}")
    return 1 + (n_samples - 1) // hop_length


class KaldiFbankFrontend(nn.Module):
    """Waveform ``[B, n]`` at ``input_sample_rate`` -> normalised log-mel ``[B, 1, n_mels, frames]``.

    Args:
        input_sample_rate: rate of the waveform given to :meth:`forward` by default (32 kHz).
        sample_rate: model rate (16 kHz for fPaSST); the input is resampled to it.
        n_mels, n_fft, win_length, hop_length, f_min, f_max: as documented in the module docstring.
        preemphasis: pre-emphasis coefficient (0 disables it).
        log_floor: ``log(clamp(mel, min=log_floor))``.
        norm_offset, norm_scale: ``(log_mel + norm_offset) / norm_scale``.

    All buffers are non-persistent, so the front end adds no keys to a state dict. The bank and the
    matrix product run in float32 regardless of autocast.
    """

    def __init__(
        self,
        input_sample_rate: int = 32000,
        sample_rate: int = 16000,
        n_mels: int = 128,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        f_min: float = 0.0,
        f_max: float = 7000.0,
        preemphasis: float = 0.97,
        log_floor: float = 1e-7,
        norm_offset: float = 4.5,
        norm_scale: float = 5.0,
    ) -> None:
        super().__init__()
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must not exceed n_fft ({n_fft})")
        self.input_sample_rate = int(input_sample_rate)
        self.sample_rate = int(sample_rate)
        self.n_mels = int(n_mels)
        self.n_fft = int(n_fft)
        self.win_length = int(win_length)
        self.hop_length = int(hop_length)
        self.f_min = float(f_min)
        self.f_max = float(f_max)
        self.preemphasis = float(preemphasis)
        self.log_floor = float(log_floor)
        self.norm_offset = float(norm_offset)
        self.norm_scale = float(norm_scale)
        self.register_buffer(
            "window", torch.hann_window(self.win_length, periodic=True), persistent=False
        )
        self.register_buffer(
            "mel_bank",
            kaldi_mel_banks(self.n_mels, self.n_fft, self.sample_rate, self.f_min, self.f_max),
            persistent=False,
        )

    def extra_repr(self) -> str:
        return (
            f"input_sr={self.input_sample_rate}, sr={self.sample_rate}, n_mels={self.n_mels}, "
            f"n_fft={self.n_fft}, win={self.win_length}, hop={self.hop_length}, "
            f"fmin={self.f_min:g}, fmax={self.f_max:g}"
        )

    def num_frames(self, n_input_samples: int, sample_rate: Optional[int] = None) -> int:
        """Output frames for ``n_input_samples`` at ``sample_rate`` (default: the input rate)."""
        sr = self.input_sample_rate if sample_rate is None else int(sample_rate)
        n = n_input_samples if sr == self.sample_rate else math.ceil(n_input_samples * self.sample_rate / sr)
        return num_fbank_frames(n, self.hop_length)

    def resample(self, wav: torch.Tensor, sample_rate: Optional[int] = None) -> torch.Tensor:
        """``[..., n]`` at ``sample_rate`` (default: input rate) -> model rate (torchaudio sinc)."""
        sr = self.input_sample_rate if sample_rate is None else int(sample_rate)
        if sr == self.sample_rate:
            return wav
        import torchaudio.functional as AF  # local import: torchaudio only needed when resampling

        return AF.resample(wav, sr, self.sample_rate)

    def fbank(self, wav16: torch.Tensor) -> torch.Tensor:
        """``[B, n]`` already at the model rate -> ``[B, 1, n_mels, frames]``."""
        if wav16.dim() != 2:
            raise ValueError(
                f"KaldiFbankFrontend.fbank: expected [B, n] audio, got shape {tuple(wav16.shape)}"
            )
        if wav16.shape[-1] < 2:
            raise ValueError(
                f"KaldiFbankFrontend: audio too short ({wav16.shape[-1]} samples at {self.sample_rate} Hz; "
                "need at least 2)"
            )
        device_type = wav16.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            x = wav16.float()
            if self.preemphasis:
                x = x[:, 1:] - self.preemphasis * x[:, :-1]
            # reflect padding needs more than n_fft // 2 samples; fall back to zeros for tiny inputs
            pad_mode = "reflect" if x.shape[-1] > self.n_fft // 2 else "constant"
            spec = torch.stft(
                x,
                self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=self.window.float(),
                center=True,
                pad_mode=pad_mode,
                normalized=False,
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()  # [B, n_fft/2+1, frames]
            mel = torch.matmul(self.mel_bank.float(), power)
            mel = torch.log(torch.clamp(mel, min=self.log_floor))
            mel = (mel + self.norm_offset) / self.norm_scale
        return mel.unsqueeze(1)

    def forward(self, wav: torch.Tensor, sample_rate: Optional[int] = None) -> torch.Tensor:
        """``[B, n]`` at ``sample_rate`` (default: ``input_sample_rate``) -> ``[B, 1, n_mels, frames]``."""
        if wav.dim() != 2:
            raise ValueError(f"KaldiFbankFrontend: expected [B, n] audio, got shape {tuple(wav.shape)}")
        if wav.shape[-1] == 0:
            raise ValueError("KaldiFbankFrontend: zero-length audio (0 samples)")
        return self.fbank(self.resample(wav, sample_rate))
