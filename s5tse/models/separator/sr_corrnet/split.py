"""Label-queried split: per-slot FiLM of the label-agnostic encoder features (replaces the dynamic split).

Written from the technical report (Ku, Jeong, Park, DCASE 2026, §2.1.2, eq. 1) and the design in
``separator_sr_corrnet.md`` §7.2 (rows 6a-6d); no code copied.

Per slot ``k`` and STFT frame ``t`` (eq. 1)::

    x_k(t) = x(t) * gamma_k(t) + beta_k(t) + beta_k^wk

* ``e_k = MLP_w(weak_k)`` — weak-label embedding (:class:`WeakLabelEmbedding`), shared by the
  split and every decoder re-injection;
* ``(gamma_k(t) - 1, beta_k(t)) = MLP_s([e_k, a_k(t), a_k(t) * e_k])`` with ``a_k(t)`` the strong
  query resampled to the STFT frame rate (:func:`resample_strong`);
* ``beta_k^wk = Linear(e_k)`` — time-invariant weak bias broadcast over time and frequency.

The last layers of ``MLP_s`` and the weak-bias Linear are **zero-initialised**, so at
initialisation ``gamma = 1`` and ``beta = beta^wk = 0``: the split passes the encoder features
through unchanged and the network starts as plain SR-CorrNet (every slot sees the same
features).  A learned per-slot embedding (``slot_embedding``, ``[K, d]``, small random init) is
added after the FiLM; it is the only thing that distinguishes two slots carrying the same
query (same-class duplicates with identical strong queries); class-aware PIT resolves their order.

:class:`LabelQueriedSplit`: ``h [B, N, F, d] -> s [B, K, N, F, d]``::

    x_k = FiLM_k(LayerNorm(h)) + slot_embedding_k
    s_k = LayerNorm(x_k + MLP(x_k))                  # per-bin MLP d -> hidden -> d, slot-shared
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

__all__ = [
    "resample_strong",
    "slot_activity",
    "WeakLabelEmbedding",
    "LabelFiLM",
    "LabelQueriedSplit",
]

RESAMPLE_MODES = ("nearest", "linear")


def resample_strong(
    strong: Tensor,
    num_frames: int,
    hop_length: int,
    num_samples: int,
    mode: str = "nearest",
    query_hop: Optional[float] = None,
) -> Tensor:
    """Resample a frame-level query ``[B, K, T_q]`` to the STFT frame grid ``[B, K, num_frames]``.

    Query frame ``j`` covers samples ``[j * H_q, (j + 1) * H_q)`` with ``H_q = query_hop`` (default
    ``num_samples / T_q``: the ``T_q`` frames evenly cover the input; 1280 samples = 40 ms for a
    10-s clip with 250 frames).  STFT frame ``t`` is centred on sample ``c_t = t * hop_length``.

    * ``nearest``: value of the query frame containing ``c_t``: ``j = floor(c_t / H_q)``, clamped
      to ``[0, T_q - 1]`` (a frame-accurate hold; keeps hard 0/1 queries binary).
    * ``linear``: linear interpolation between query-frame centres ``(j + 1/2) * H_q`` at
      position ``c_t``, held constant beyond the first/last centre.
    """
    if mode not in RESAMPLE_MODES:
        raise ValueError(f"unknown strong-query resampling mode {mode!r}; choose from {RESAMPLE_MODES}")
    t_q = strong.shape[-1]
    if t_q < 1:
        raise ValueError("strong query has no frames")
    h_q = float(num_samples) / t_q if query_hop is None else float(query_hop)
    centres = torch.arange(num_frames, device=strong.device, dtype=torch.float64) * hop_length
    strong = strong.float()
    if mode == "nearest":
        idx = torch.floor(centres / h_q).long().clamp_(0, t_q - 1)
        return strong.index_select(-1, idx)
    pos = (centres / h_q - 0.5).clamp_(0.0, float(t_q - 1))
    i0 = torch.floor(pos).long().clamp_(0, t_q - 1)
    i1 = (i0 + 1).clamp_(max=t_q - 1)
    w = (pos - i0.double()).float()
    return strong.index_select(-1, i0) * (1.0 - w) + strong.index_select(-1, i1) * w


def slot_activity(strong: Tensor, weak: Tensor) -> Tensor:
    """``[B, K]`` bool: a slot is active unless its strong AND weak queries are all zero."""
    return (strong != 0).any(dim=-1) | (weak != 0).any(dim=-1)


class WeakLabelEmbedding(nn.Module):
    """``weak [B, K, C] -> e [B, K, d_label]``: Linear -> SiLU -> Linear."""

    def __init__(self, num_classes: int, d_label: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(num_classes, d_label), nn.SiLU(), nn.Linear(d_label, d_label))

    def forward(self, weak: Tensor) -> Tensor:
        return self.net(weak)


class LabelFiLM(nn.Module):
    """Eq. 1 for one conditioning point: strong-label FiLM (per frame) plus a weak-label bias.

    ``forward(x [B, K, N, F, d], e [B, K, d_label], a [B, K, N]) -> x * gamma + beta + beta_wk``
    with ``gamma, beta: [B, K, N, 1, d]`` (broadcast over frequency) and ``beta_wk: [B, K, 1, 1, d]``.
    """

    def __init__(self, d_label: int, d_model: int, hidden: int) -> None:
        super().__init__()
        self.d_model = int(d_model)
        self.strong = nn.Sequential(
            nn.Linear(2 * d_label + 1, hidden), nn.SiLU(), nn.Linear(hidden, 2 * d_model)
        )
        self.weak_bias = nn.Linear(d_label, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero the output layers: gamma = 1, beta = beta_wk = 0 (identity FiLM)."""
        for lin in (self.strong[-1], self.weak_bias):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def coefficients(self, e: Tensor, a: Tensor):
        """``(gamma [B,K,N,d], beta [B,K,N,d], beta_wk [B,K,d])`` for ``e [B,K,De]``, ``a [B,K,N]``."""
        n = a.shape[-1]
        a = a.to(e.dtype).unsqueeze(-1)  # [B, K, N, 1]
        ee = e.unsqueeze(2).expand(-1, -1, n, -1)  # [B, K, N, De]
        u = torch.cat([ee, a, a * ee], dim=-1)
        d_gamma, beta = self.strong(u).chunk(2, dim=-1)
        return 1.0 + d_gamma, beta, self.weak_bias(e)

    def forward(self, x: Tensor, e: Tensor, a: Tensor) -> Tensor:
        gamma, beta, beta_wk = self.coefficients(e, a)
        return x * gamma.unsqueeze(3) + (beta.unsqueeze(3) + beta_wk[:, :, None, None, :])


class LabelQueriedSplit(nn.Module):
    """``h [B, N, F, d]`` (label-agnostic) -> ``s [B, K, N, F, d]`` (one stream per queried slot)."""

    def __init__(self, d_model: int, num_slots: int, d_label: int, film_hidden: int,
                 split_hidden: int, slot_embedding_std: float = 0.02) -> None:
        super().__init__()
        self.num_slots = int(num_slots)
        self.norm_in = nn.LayerNorm(d_model)
        self.film = LabelFiLM(d_label, d_model, film_hidden)
        self.slot_embedding = nn.Parameter(torch.zeros(num_slots, d_model))
        self.mlp = nn.Sequential(
            nn.Linear(d_model, split_hidden), nn.SiLU(), nn.Linear(split_hidden, d_model)
        )
        self.norm_out = nn.LayerNorm(d_model)
        self.slot_embedding_std = float(slot_embedding_std)
        if self.slot_embedding_std > 0:
            nn.init.normal_(self.slot_embedding, std=self.slot_embedding_std)

    def forward(self, h: Tensor, e: Tensor, a: Tensor) -> Tensor:
        b, n, f, d = h.shape
        x = self.norm_in(h).unsqueeze(1).expand(b, self.num_slots, n, f, d)
        x = self.film(x, e, a) + self.slot_embedding[None, :, None, None, :].to(h.dtype)
        return self.norm_out(x + self.mlp(x))
