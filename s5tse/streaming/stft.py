"""Block-wise STFT analysis and iSTFT overlap-add with bounded buffers.

Both reproduce the centred, zero-padded transforms of
:class:`s5tse.models.separator.sr_corrnet.stft.STFT` (``torch.stft(center=True,
pad_mode="constant")`` and ``torch.istft(center=True, length=n)``) frame by frame, without a
full-length spectrogram. Frame ``t`` covers the input samples
``[t * hop - n_fft // 2, t * hop - n_fft // 2 + n_fft)`` (zeros outside ``[0, n)``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from s5tse.models.separator.sr_corrnet.stft import STFT

__all__ = ["BlockSTFT", "BlockISTFT"]


def _padded_window(stft: STFT, device: torch.device) -> Tensor:
    """Analysis window zero-padded (centred) to ``n_fft``, as ``torch.stft`` does."""
    w = torch.zeros(stft.n_fft, device=device)
    left = (stft.n_fft - stft.win_length) // 2
    w[left: left + stft.win_length] = stft.window.float().to(device)
    return w


class BlockSTFT:
    """Rolling input buffer ``[C, m]`` -> STFT frames ``[C, F, b - a]`` on demand.

    Args:
        stft: the separator's STFT module (window, sizes).
        num_samples: total input length ``n`` (zero padding after it, as offline).
    """

    def __init__(self, stft: STFT, num_channels: int, num_samples: int, device: torch.device) -> None:
        self.stft = stft
        self.n = int(num_samples)
        self.half = stft.n_fft // 2
        self.buf = torch.zeros(num_channels, 0, device=device)  # input samples [start, received)
        self.start = 0
        self.received = 0

    def push(self, chunk: Tensor) -> None:
        """Append input samples ``[C, m]``."""
        self.buf = torch.cat([self.buf, chunk.to(self.buf)], dim=-1)
        self.received += chunk.shape[-1]

    def samples_needed(self, stop_frame: int) -> int:
        """Samples (from 0, capped at ``n``) needed to compute frames ``< stop_frame``."""
        return min(self.n, (stop_frame - 1) * self.stft.hop_length - self.half + self.stft.n_fft)

    def segment(self, lo: int, hi: int) -> Tensor:
        """Input samples ``[lo, hi)`` as ``[C, hi - lo]``, zeros outside ``[0, n)``."""
        a, b = max(lo, 0), min(hi, self.n)
        if b > a and (a < self.start or b > self.received):
            raise RuntimeError(f"BlockSTFT: samples [{a}, {b}) not in the buffer")
        body = self.buf[:, a - self.start: b - self.start] if b > a else self.buf[:, :0]
        return F.pad(body, (a - lo, hi - lo - (a - lo) - body.shape[-1]))

    def frames(self, a: int, b: int) -> Tensor:
        """Complex64 frames ``[a, b)`` as ``[C, F, b - a]``."""
        hop = self.stft.hop_length
        x = self.segment(a * hop - self.half, (b - 1) * hop - self.half + self.stft.n_fft)
        return torch.stft(x, n_fft=self.stft.n_fft, hop_length=hop, win_length=self.stft.win_length,
                          window=self.stft.window.float().to(x.device), center=False, normalized=False,
                          onesided=True, return_complex=True)

    def discard_before(self, sample: int) -> None:
        """Free input samples ``< sample``."""
        drop = min(max(0, sample - self.start), self.buf.shape[-1])
        if drop:
            self.buf = self.buf[:, drop:].clone()
            self.start += drop


class BlockISTFT:
    """Overlap-add synthesis of consecutive frames ``[R, F, m]`` -> completed samples ``[R, m']``.

    Matches ``torch.istft(center=True, length=num_samples)`` for ``num_frames`` frames in total:
    numerator (windowed inverse FFTs) and window-square envelope are overlap-added in a tail
    buffer of at most ``n_fft`` samples; a sample is emitted once no later frame overlaps it.
    """

    def __init__(self, stft: STFT, num_frames: int, num_samples: int, rows: int, device: torch.device) -> None:
        self.stft = stft
        self.num_frames = int(num_frames)
        self.n = int(num_samples)
        self.half = stft.n_fft // 2
        self.window = _padded_window(stft, device)
        self.acc = torch.zeros(rows, 0, device=device)  # numerator, padded coordinates [pos, ...)
        self.env = torch.zeros(0, device=device)  # sum of squared windows
        self.pos = 0
        self.next_frame = 0
        self.emitted = 0

    def push(self, spec: Tensor) -> Tensor:
        """Add the next ``m`` frames ``spec [R, F, m]``; returns the completed samples ``[R, m']``."""
        n_fft, hop = self.stft.n_fft, self.stft.hop_length
        m = spec.shape[-1]
        t0 = self.next_frame
        frames = torch.fft.irfft(spec.to(torch.complex64), n=n_fft, dim=-2) * self.window[:, None]
        span = (m - 1) * hop + n_fft
        ola = F.fold(frames, (span, 1), (n_fft, 1), stride=(hop, 1)).reshape(frames.shape[0], span)
        env = F.fold(self.window.pow(2)[None, :, None].expand(1, n_fft, m), (span, 1), (n_fft, 1),
                     stride=(hop, 1)).reshape(span)
        off = t0 * hop - self.pos
        grow = off + span - self.acc.shape[-1]
        if grow > 0:
            self.acc = F.pad(self.acc, (0, grow))
            self.env = F.pad(self.env, (0, grow))
        self.acc[:, off: off + span] += ola
        self.env[off: off + span] += env
        self.next_frame = t0 + m
        final = self.next_frame >= self.num_frames
        done = self.acc.shape[-1] if final else self.next_frame * hop - self.pos  # complete samples
        num, den = self.acc[:, :done], self.env[:done]
        # padded coordinate u -> output sample u - half, kept inside [emitted, n)
        lo = max(0, self.emitted + self.half - self.pos)
        hi = max(lo, min(done, self.n + self.half - self.pos))
        out = num[:, lo:hi] / torch.where(den[lo:hi] > 1e-11, den[lo:hi], torch.ones_like(den[lo:hi]))
        self.emitted += out.shape[-1]
        if final and self.emitted < self.n:  # istft pads zeros beyond the last frame
            out = F.pad(out, (0, self.n - self.emitted))
            self.emitted = self.n
        self.acc, self.env = self.acc[:, done:].clone(), self.env[done:].clone()
        self.pos += done
        return out
