"""STFT front end / back end of the SR-CorrNet separator.

Written from the description in ``separator_sr_corrnet.md`` (§1.10, §7.4); no code copied.

* Analysis: ``torch.stft`` with ``center=True`` and **zero** padding (``pad_mode="constant"``, so
  the first/last frames do not depend on reflected future samples), one-sided, not normalised.
  Frame ``t`` is centred on sample ``t * hop_length``; ``num_frames(n) = n // hop_length + 1``.
* Synthesis: ``torch.istft`` (weighted overlap-add divided by the window envelope) with
  ``length=n``, so analysis -> synthesis reproduces the input exactly up to float error for any
  window satisfying NOLA (sqrt-Hann at 50 % overlap, Hann at 75 %, ...), and the output length
  always equals the input length.
* Windows: ``sqrt_hann`` (default; sqrt of the periodic Hann, the SR-CorrNet choice for 50 %
  overlap), ``hann``, ``hamming``, ``rect``. ``win_length`` defaults to ``n_fft``.

Everything runs in float32 / complex64, outside autocast (bf16 complex is unsupported).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ["STFT", "make_window"]

_WINDOWS = ("sqrt_hann", "hann", "hamming", "rect")


def make_window(name: str, win_length: int) -> Tensor:
    """Periodic analysis window ``name`` of ``win_length`` samples (float32)."""
    if name == "sqrt_hann":
        return torch.hann_window(win_length, periodic=True).sqrt()
    if name == "hann":
        return torch.hann_window(win_length, periodic=True)
    if name == "hamming":
        return torch.hamming_window(win_length, periodic=True)
    if name == "rect":
        return torch.ones(win_length)
    raise ValueError(f"unknown STFT window {name!r}; choose from {', '.join(_WINDOWS)}")


class STFT(nn.Module):
    """Multi-channel STFT / iSTFT pair: ``[..., n] <-> [..., F, N]`` complex.

    Args:
        n_fft: FFT size; ``F = n_fft // 2 + 1`` bins.
        hop_length: frame shift in samples.
        win_length: window length (``<= n_fft``, zero-padded to ``n_fft``); default ``n_fft``.
        window: one of ``sqrt_hann`` | ``hann`` | ``hamming`` | ``rect``.
    """

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int = 256,
        win_length: Optional[int] = None,
        window: str = "sqrt_hann",
    ) -> None:
        super().__init__()
        win_length = int(n_fft if win_length is None else win_length)
        if not 0 < hop_length <= win_length <= n_fft:
            raise ValueError(
                f"STFT: need 0 < hop_length <= win_length <= n_fft, got {hop_length}, {win_length}, {n_fft}"
            )
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.win_length = win_length
        self.window_name = window
        self.register_buffer("window", make_window(window, win_length), persistent=False)

    @property
    def num_freqs(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` samples (``center=True``)."""
        return int(num_samples) // self.hop_length + 1

    def frame_centres(self, num_frames: int) -> Tensor:
        """Sample index of the centre of each frame: ``t * hop_length`` (float64)."""
        return torch.arange(num_frames, dtype=torch.float64) * self.hop_length

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., n]`` real -> ``[..., F, N]`` complex64."""
        lead = x.shape[:-1]
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = torch.stft(
                x.reshape(-1, x.shape[-1]).float(),
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=self.window.float(),
                center=True,
                pad_mode="constant",
                normalized=False,
                onesided=True,
                return_complex=True,
            )
        return spec.reshape(*lead, *spec.shape[-2:])

    def inverse(self, spec: Tensor, length: int) -> Tensor:
        """``spec [..., F, N]`` complex -> ``[..., length]`` real float32."""
        lead = spec.shape[:-2]
        with torch.autocast(device_type=spec.device.type, enabled=False):
            wav = torch.istft(
                spec.reshape(-1, *spec.shape[-2:]).to(torch.complex64),
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=self.window.float(),
                center=True,
                normalized=False,
                onesided=True,
                length=int(length),
            )
        return wav.reshape(*lead, wav.shape[-1])

    def extra_repr(self) -> str:
        return (f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
                f"window={self.window_name!r}")
