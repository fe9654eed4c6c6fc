"""Running (cumulative) statistics that replace the per-utterance ones of the offline model.

* :class:`RunningStd` — std over all channels and samples seen so far (``correction=0``), the
  streaming version of the input normalisation;
* :class:`RunningMeanPower` — per-bin mean of ``|X_ref|^2`` over the frames seen so far, the
  streaming version of the correlation RMS ``sigma_f``.

Sums are kept in float64; over the whole input they equal the offline statistics.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["RunningStd", "RunningMeanPower"]


class RunningStd:
    """Cumulative std of every value pushed (one scalar)."""

    def __init__(self, device: torch.device) -> None:
        self.count = 0
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.total_sq = torch.zeros((), dtype=torch.float64, device=device)

    def update(self, x: Tensor) -> None:
        """Add the values of ``x`` (any shape)."""
        if x.numel():
            xd = x.double()
            self.count += x.numel()
            self.total += xd.sum()
            self.total_sq += xd.pow(2).sum()

    def value(self, eps: float) -> Tensor:
        """float32 scalar ``max(std, eps)`` (``eps`` before any value)."""
        if self.count == 0:
            return torch.full((), float(eps), device=self.total.device)
        mean = self.total / self.count
        var = (self.total_sq / self.count - mean * mean).clamp_min(0.0)
        return var.sqrt().float().clamp_min(eps)


class RunningMeanPower:
    """Cumulative mean over frames of a per-bin power ``[F, m]`` -> ``[F]``."""

    def __init__(self, num_bins: int, device: torch.device) -> None:
        self.count = 0
        self.total = torch.zeros(num_bins, dtype=torch.float64, device=device)

    def update(self, power: Tensor) -> None:
        """Add ``m`` frames of ``power [F, m]``."""
        self.count += power.shape[-1]
        self.total += power.double().sum(dim=-1)

    def mean(self) -> Tensor:
        """float64 ``[F]`` mean power (zeros before any frame)."""
        return self.total / max(self.count, 1)
