"""Filter estimator and MISO multi-tap complex deep filtering (SR-CorrNet output stage).

Written from the description in ``separator_sr_corrnet.md`` (§1.9, §7.2 rows 8-9); no code copied.

:class:`FilterEstimator`: per slot and TF bin, ``RMSNorm -> Linear(d -> 3 * M * L)`` gives
``(a, b, c)`` for every input channel ``m`` and tap ``j``; the complex filter coefficient is::

    W = softplus(a) * (tanh(b) + 1j * tanh(c))

(non-negative, unbounded gain ``softplus(a)``; real and imaginary factors bounded by 1, so
``|Re W|, |Im W| <= softplus(a)`` and ``|W| <= sqrt(2) * softplus(a)``).

:func:`apply_miso_filter`: multi-input single-output filtering of the **un-normalised**
neighbourhood ``X_nb [B, M, L, F, N]`` (see :mod:`.correlation`)::

    Y_k(f, t) = sum_m sum_j W_k(t, f, m, j) * X_nb[m, j](f, t)

(no conjugate on ``W``; equivalent to ``w^H x`` with ``w = conj(W)``). Computed in complex64
outside autocast.

:meth:`FilterEstimator.filter_spectrum` is the fused form the model uses: head and filtering in
real arithmetic, ``Re Y = sum(Re W Re X - Im W Im X)``, ``Im Y = sum(Re W Im X + Im W Re X)``,
in chunks of frames and checkpointed per chunk in training. It never materialises ``W`` (about
371 MB per head for ``base``, 4-s crops, batch 2) nor einsum's copies of both operands, and
keeps nothing but its inputs for backward (the main head and every auxiliary head).
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from s5tse.models.separator.sr_corrnet.blocks import RMSNorm

__all__ = ["complex_filter", "apply_miso_filter", "FilterEstimator"]


def complex_filter(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """``softplus(a) * (tanh(b) + j tanh(c))`` as complex64 (computed in float32)."""
    a, b, c = a.float(), b.float(), c.float()
    mag = F.softplus(a)
    return torch.complex(mag * torch.tanh(b), mag * torch.tanh(c))


def apply_miso_filter(w: Tensor, x_nb: Tensor) -> Tensor:
    """``w [B, K, N, F, M, L]`` complex, ``x_nb [B, M, L, F, N]`` complex -> ``Y [B, K, F, N]``."""
    with torch.autocast(device_type=w.device.type, enabled=False):
        return torch.einsum("bktfml,bmlft->bkft", w.to(torch.complex64), x_nb.to(torch.complex64))


class FilterEstimator(nn.Module):
    """Slot streams ``[B, K, N, F, d]`` -> complex MISO filters ``[B, K, N, F, M, L]``."""

    def __init__(self, d_model: int, num_channels: int, num_taps: int) -> None:
        super().__init__()
        self.num_channels = int(num_channels)
        self.num_taps = int(num_taps)
        self.norm = RMSNorm(d_model)
        self.proj = nn.Linear(d_model, 3 * num_channels * num_taps)

    def coefficients(self, s: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Raw ``(a, b, c)``, each float32 ``[B, K, N, F, M, L]``."""
        y = self.proj(self.norm(s)).float()
        y = y.view(*s.shape[:-1], 3, self.num_channels, self.num_taps)
        a, b, c = y.unbind(-3)
        return a, b, c

    def forward(self, s: Tensor) -> Tensor:
        return complex_filter(*self.coefficients(s))

    def _filter_chunk(self, s: Tensor, xr: Tensor, xi: Tensor) -> Tuple[Tensor, Tensor]:
        """``s [B, K, n, F, d]``, ``xr, xi [B, 1, n, F, M*L]`` -> ``(Re Y, Im Y)``, each ``[B, K, n, F]``."""
        a, b, c = (t.flatten(-2) for t in self.coefficients(s))  # [B, K, n, F, M*L]
        with torch.autocast(device_type=s.device.type, enabled=False):
            mag = F.softplus(a)
            wr, wi = mag * torch.tanh(b), mag * torch.tanh(c)  # W = wr + j wi
            return (wr * xr - wi * xi).sum(-1), (wr * xi + wi * xr).sum(-1)

    def filter_spectrum(self, s: Tensor, x_ri: Tensor, chunk_elements: int = 1 << 22) -> Tensor:
        """Fused head + MISO filtering: ``s [B, K, N, F, d]``, ``x_ri [2, B, N, F, M*L]`` -> ``Y [B, K, F, N]``.

        Equal to ``apply_miso_filter(self(s), x_nb)`` (same float32 products, summed in another
        order) without materialising the complex filter: real arithmetic on ``(Re W, Im W)`` in
        chunks of frames (about ``chunk_elements`` filter coefficients each); with autograd on,
        every chunk is checkpointed, so only ``s`` (alive anyway: the decoder's activation) and
        ``x_ri`` are kept for backward and the coefficients are recomputed there.
        """
        b, k, n, f, _ = s.shape
        per_frame = b * k * f * 3 * self.num_channels * self.num_taps
        step = max(1, int(chunk_elements) // max(per_frame, 1))
        xr, xi = x_ri[0].unsqueeze(1), x_ri[1].unsqueeze(1)  # [B, 1, N, F, M*L]
        grad = torch.is_grad_enabled() and (s.requires_grad or any(p.requires_grad for p in self.parameters()))
        parts = []
        for t0 in range(0, n, step):
            args = (s[:, :, t0: t0 + step], xr[:, :, t0: t0 + step], xi[:, :, t0: t0 + step])
            if grad:
                parts.append(checkpoint(self._filter_chunk, *args, use_reentrant=False))
            else:
                parts.append(self._filter_chunk(*args))
        yr = torch.cat([p[0] for p in parts], dim=2) if len(parts) > 1 else parts[0][0]
        yi = torch.cat([p[1] for p in parts], dim=2) if len(parts) > 1 else parts[0][1]
        return torch.complex(yr, yi).transpose(-1, -2)  # [B, K, F, N]
