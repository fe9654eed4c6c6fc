"""Front end of M2D (Masked Modeling Duo): waveform -> normalised Slaney log-mel.

Clean-room re-implementation from the published description (reference
``tagger_m2d_passt.md`` §1.1 and the Slaney formula of §8); no upstream code is copied.
(fPaSST's Kaldi front end lives beside it in ``kaldi_frontend.py``.)

Pipeline for the 32 kHz checkpoints (both DCASE baselines use the 32 kHz M2D-AS model):

1. STFT ``n_fft = win_length = 800`` (25 ms), periodic Hann window, ``hop = 320`` (10 ms),
   ``center=True`` with reflect padding; power spectrum ``|X|**2``;
2. 80 Slaney mel bins from 50 Hz to 16000 Hz with Slaney area normalisation (each triangle
   scaled by ``2 / (f_right - f_left)``): ``torchaudio.functional.melscale_fbanks(...,
   norm="slaney", mel_scale="slaney")`` (= librosa's default bank, = nnAudio ``norm=1``);
3. ``log(mel + eps)`` with ``eps = torch.finfo(torch.float32).eps`` (1.19e-7), so an all-zero
   input gives the finite value ``log(eps) = -15.94``;
4. ``(x - mean) / std`` with the checkpoint's ``norm_stats = (mean, std)``; fallback
   ``(-7.1, 4.2)`` (:data:`DEFAULT_NORM_STATS`). The encoder owns ``norm_stats`` (it is a
   checkpoint tensor), so :class:`M2DLogMel` returns the un-normalised log-mel and
   :func:`normalize_log_mel` applies the statistics.

No pre-emphasis. Shapes: ``[..., n]`` -> ``[..., 80, 1 + n // 320]``, i.e. **1001 frames for
10 s** at 32 kHz and 101 for 1 s; frame ``j`` is centred at ``j * 10 ms``. The 16 kHz models
use the same design at half the sizes (``M2DFrontendConfig.for_sample_rate(16000)``: n_fft 400,
hop 160, 50-8000 Hz).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torchaudio.functional as taf

__all__ = [
    "DEFAULT_NORM_STATS",
    "M2DFrontendConfig",
    "slaney_mel_filterbank",
    "m2d_num_frames",
    "normalize_log_mel",
    "M2DLogMel",
]

#: (mean, std) used when a checkpoint carries no ``norm_stats`` ("for 2022 models").
DEFAULT_NORM_STATS: Tuple[float, float] = (-7.1, 4.2)


@dataclass(frozen=True)
class M2DFrontendConfig:
    """STFT / mel settings of an M2D checkpoint (defaults: the 32 kHz models)."""

    sample_rate: int = 32000
    n_fft: int = 800
    win_length: int = 800
    hop_length: int = 320
    n_mels: int = 80
    f_min: float = 50.0
    f_max: float = 16000.0
    log_eps: float = float(torch.finfo(torch.float32).eps)

    def __post_init__(self):
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} > n_fft {self.n_fft}")
        if not 0.0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= f_min < f_max <= Nyquist ({self.sample_rate / 2:g} Hz), "
                f"got f_min={self.f_min:g}, f_max={self.f_max:g}")

    @classmethod
    def for_sample_rate(cls, sample_rate: int) -> "M2DFrontendConfig":
        """M2D settings at ``sample_rate``: 25-ms window, 10-ms hop, 80 mels, 50 Hz-Nyquist."""
        if sample_rate % 100 != 0 or sample_rate % 40 != 0:
            raise ValueError(f"M2D front end: no integer 25-ms/10-ms framing at {sample_rate} Hz")
        n_fft = sample_rate // 40
        return cls(sample_rate=sample_rate, n_fft=n_fft, win_length=n_fft,
                   hop_length=sample_rate // 100, f_max=sample_rate / 2)


def slaney_mel_filterbank(sample_rate: int = 32000, n_fft: int = 800, n_mels: int = 80,
                          f_min: float = 50.0, f_max: float = 16000.0,
                          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Slaney-scale, area-normalised triangular mel bank ``[n_mels, n_fft // 2 + 1]``.

    Slaney mel: linear ``f / (200/3)`` below 1 kHz, ``15 + ln(f / 1000) / (ln 6.4 / 27)`` above;
    ``n_mels + 2`` edges equally spaced in mel between ``f_min`` and ``f_max``; triangles
    evaluated at ``linspace(0, sample_rate / 2, n_fft // 2 + 1)``; row ``i`` multiplied by
    ``2 / (f[i+2] - f[i])``. All weights are >= 0.
    """
    fb = taf.melscale_fbanks(n_freqs=n_fft // 2 + 1, f_min=float(f_min), f_max=float(f_max),
                             n_mels=n_mels, sample_rate=sample_rate, norm="slaney",
                             mel_scale="slaney")
    return fb.t().contiguous().to(dtype)


def m2d_num_frames(num_samples: int, hop_length: int = 320) -> int:
    """Frames of the centred STFT: ``1 + num_samples // hop_length`` (1001 for 10 s at 32 kHz)."""
    return 1 + int(num_samples) // int(hop_length)


_NormStats = Union[torch.Tensor, Sequence[float]]


def normalize_log_mel(x: torch.Tensor, norm_stats: _NormStats = DEFAULT_NORM_STATS) -> torch.Tensor:
    """``(x - mean) / std`` with ``norm_stats = (mean, std)`` (tensor [2] or a pair)."""
    if isinstance(norm_stats, torch.Tensor):
        stats = norm_stats.to(device=x.device, dtype=x.dtype)
        mean, std = stats[0], stats[1]
    else:
        mean, std = float(norm_stats[0]), float(norm_stats[1])
    return (x - mean) / std


class M2DLogMel(nn.Module):
    """Waveform ``[..., n]`` -> log-mel ``[..., n_mels, 1 + n // hop]`` (not normalised).

    Window and filter bank are non-persistent buffers (they follow ``.to(device)`` but never
    appear in state dicts, so checkpoints keep the published key set). Computed in float32
    (float64 for float64 input).
    """

    def __init__(self, config: M2DFrontendConfig | None = None):
        super().__init__()
        self.config = config or M2DFrontendConfig()
        c = self.config
        self.register_buffer("window", torch.hann_window(c.win_length, periodic=True),
                             persistent=False)
        self.register_buffer("mel_fb", slaney_mel_filterbank(c.sample_rate, c.n_fft, c.n_mels,
                                                             c.f_min, c.f_max),
                             persistent=False)

    @property
    def min_samples(self) -> int:
        """Shortest input: reflect padding of ``n_fft // 2`` needs more samples than that."""
        return self.config.n_fft // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        return m2d_num_frames(num_samples, self.config.hop_length)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        c = self.config
        if not isinstance(wav, torch.Tensor) or wav.ndim < 1:
            raise ValueError("M2DLogMel: expected a waveform tensor [..., samples]")
        n = wav.shape[-1]
        if n == 0:
            raise ValueError("M2DLogMel: the waveform has zero samples")
        if n < self.min_samples:
            raise ValueError(f"M2DLogMel: {n} samples is too short; the centred STFT needs at "
                             f"least {self.min_samples} (n_fft // 2 + 1)")
        dtype = torch.float64 if wav.dtype == torch.float64 else torch.float32
        lead = wav.shape[:-1]
        x = wav.reshape(-1, n).to(dtype)
        spec = torch.stft(x, n_fft=c.n_fft, hop_length=c.hop_length, win_length=c.win_length,
                          window=self.window.to(dtype), center=True, pad_mode="reflect",
                          return_complex=True)  # [B, n_fft//2+1, frames]
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.mel_fb.to(dtype), power)  # [B, n_mels, frames]
        out = torch.log(mel + c.log_eps)
        return out.reshape(*lead, c.n_mels, out.shape[-1])

    def extra_repr(self) -> str:
        c = self.config
        return (f"sample_rate={c.sample_rate}, n_fft={c.n_fft}, hop={c.hop_length}, "
                f"n_mels={c.n_mels}, f_min={c.f_min:g}, f_max={c.f_max:g}")
