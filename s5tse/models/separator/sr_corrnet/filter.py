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
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

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
