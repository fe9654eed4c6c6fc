"""Slot heads of the taggers and the tagger output container.

Both taggers predict ``S = 3`` output slots, each a ``C + 1``-way distribution over the ``C``
classes of the inventory plus ``silence`` (the last index, ``C``; :mod:`s5tse.labels`). Slots are told
apart only by having their own parameters (the DCASE 2026 baseline's symmetry breaking);
training matches slots to targets with PIT (:mod:`s5tse.losses.pit_tagger`).

* :class:`PerSourceHead` -- frame-level head of the fusion tagger (reference §5.3)::

      z [B, T, in_dim]
        -> LayerNorm -> Linear(in_dim, S * hidden) -> GELU -> Dropout   (shared trunk)
        -> view [B, T, S, hidden]; for each slot s (own parameters):
             strong_s = Linear_s(hidden, C + 1)(u_s)               [B, T, C + 1]
             a_s      = softmax_T(Linear_s(hidden, 1)(u_s))     [B, T, 1]   ("attention")
                        or 1 / T                                            ("mean")
             weak_s   = Linear_s(hidden, C + 1)(sum_T a_s * u_s)   [B, C + 1]
        -> strong [B, S, T, C + 1], weak [B, S, C + 1]   (logits)

  The weak (clip) logits come from their own classifier on a pooled slot embedding, not
  from pooled frame posteriors: a slot's clip class is decided once per clip, while the
  strong logits give the slot's frame activity (class while active, silence otherwise).
  Padded frames can be excluded from the pooling with ``mask``.

* :class:`BaselineSlotHead` -- the clip head of the official 2026 baseline tagger
  (reference §4.2, ``HeadAvgLinear``)::

      x [B, T, D] -> mean over T -> BatchNorm1d(D, affine=False)
        -> Linear(D, S * hidden) -> LayerNorm(S * hidden) -> ReLU -> view [B, S, hidden]
        -> per slot s: Linear_s(hidden, slot_hidden) -> LayerNorm_s -> ReLU
                       -> Linear_s(slot_hidden, C + 1)
        -> weak [B, S, C + 1]   (logits)

  With ``D = 4 * 768, hidden = 1024, slot_hidden = 512`` it has 11,053,113 parameters and
  with ``D = 768`` 3,975,225, the trainable counts of the baseline's 4-channel and
  1-channel step 1.

* :class:`TaggerOutput` -- what ``predict`` of both taggers returns (probabilities and the
  frame grid), with the baseline's argmax decoding.

* :func:`freeze_encoder` -- freeze a ViT encoder except its last blocks (fine-tuning stages).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn

from s5tse.labels import NUM_SLOTS

__all__ = ["PerSourceHead", "BaselineSlotHead", "TaggerOutput", "freeze_encoder"]


def _check_positive(**kwargs: float) -> None:
    for name, value in kwargs.items():
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_dropout(p: float) -> float:
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {p!r}")
    return float(p)


class PerSourceHead(nn.Module):
    """Per-slot strong (frame) and weak (clip) logits from fused frame features.

    Args:
        in_dim: feature size of the input ``z [B, T, in_dim]``.
        num_slots: output slots ``S`` (3).
        num_classes: classes per slot including silence (``C + 1``).
        hidden: per-slot embedding size of the shared trunk (trunk output ``S * hidden``).
        dropout: dropout after the trunk activation (training only).
        pooling: ``"attention"`` (learned softmax weights over time, one scorer per slot)
            or ``"mean"`` (plain average) for the weak logits.

    Shapes::

        forward(z [B, T, in_dim], mask [B, T] bool (True = valid) | None)
            -> strong [B, S, T, num_classes], weak [B, S, num_classes]   (logits)

    Example::

        >>> head = PerSourceHead(64, num_classes=19, hidden=32)   # 18 classes + silence
        >>> strong, weak = head(torch.randn(2, 25, 64))
        >>> strong.shape, weak.shape
        (torch.Size([2, 3, 25, 19]), torch.Size([2, 3, 19]))
    """

    def __init__(self, in_dim: int, num_slots: int = NUM_SLOTS, *, num_classes: int,
                 hidden: int = 256, dropout: float = 0.1, pooling: str = "attention") -> None:
        super().__init__()
        _check_positive(in_dim=in_dim, num_slots=num_slots, num_classes=num_classes,
                        hidden=hidden)
        if pooling not in ("attention", "mean"):
            raise ValueError(f"pooling must be 'attention' or 'mean', got {pooling!r}")
        self.in_dim, self.num_slots = int(in_dim), int(num_slots)
        self.num_classes, self.hidden = int(num_classes), int(hidden)
        self.pooling = pooling
        self.trunk = nn.Sequential(
            nn.LayerNorm(self.in_dim),
            nn.Linear(self.in_dim, self.num_slots * self.hidden),
            nn.GELU(),
            nn.Dropout(_check_dropout(dropout)),
        )
        self.frame_cls = nn.ModuleList(nn.Linear(self.hidden, self.num_classes)
                                       for _ in range(self.num_slots))
        self.att = (nn.ModuleList(nn.Linear(self.hidden, 1) for _ in range(self.num_slots))
                    if pooling == "attention" else None)
        self.clip_cls = nn.ModuleList(nn.Linear(self.hidden, self.num_classes)
                                      for _ in range(self.num_slots))

    def forward(self, z: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        if z.ndim != 3 or z.shape[-1] != self.in_dim:
            raise ValueError(f"PerSourceHead: expected features [B, T, {self.in_dim}], "
                             f"got {tuple(z.shape)}")
        B, T, _ = z.shape
        if T == 0:
            raise ValueError("PerSourceHead: zero frames")
        if mask is not None:
            if mask.shape != (B, T):
                raise ValueError(f"PerSourceHead: mask must be [B, T] = {(B, T)}, "
                                 f"got {tuple(mask.shape)}")
            mask = mask.to(device=z.device, dtype=torch.bool)
            if not mask.any(dim=1).all():
                raise ValueError("PerSourceHead: a mask row has no valid frame")
        u = self.trunk(z).view(B, T, self.num_slots, self.hidden)
        strong, weak = [], []
        for s in range(self.num_slots):
            us = u[:, :, s]                                          # [B, T, H]
            strong.append(self.frame_cls[s](us))                     # [B, T, C]
            if self.att is not None:
                score = self.att[s](us).squeeze(-1)                  # [B, T]
                if mask is not None:
                    score = score.masked_fill(~mask, float("-inf"))
                w = torch.softmax(score, dim=1)
            elif mask is not None:
                w = mask.to(us.dtype) / mask.sum(dim=1, keepdim=True).to(us.dtype)
            else:
                w = us.new_full((B, T), 1.0 / T)
            pooled = torch.einsum("bt,bth->bh", w, us)                # [B, H]
            weak.append(self.clip_cls[s](pooled))                    # [B, C]
        return torch.stack(strong, dim=1), torch.stack(weak, dim=1)

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, num_slots={self.num_slots}, "
                f"num_classes={self.num_classes}, hidden={self.hidden}, pooling={self.pooling!r}")


class BaselineSlotHead(nn.Module):
    """The DCASE 2026 baseline's clip head (time mean -> BN -> shared MLP -> per-slot MLP).

    Args:
        in_dim: feature size ``D`` (``C * 768`` for the baseline with ``C`` channels).
        num_slots, num_classes: 3 slots, ``C + 1`` classes (the inventory's ``C`` + silence).
        hidden: per-slot width of the shared layer (1024; its output is ``S * hidden``).
        slot_hidden: width of each slot's own hidden layer (512).
        dropout: dropout before each slot's output layer (0 = as the baseline).

    Shapes::

        forward(x [B, T, D] | [B, D], mask [B, T] | None) -> weak logits [B, S, num_classes]

    ``BatchNorm1d(affine=False)`` normalises with batch statistics in training mode (needs
    ``B > 1`` there) and with its running statistics in eval mode.
    """

    def __init__(self, in_dim: int, num_slots: int = NUM_SLOTS, *, num_classes: int,
                 hidden: int = 1024, slot_hidden: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        _check_positive(in_dim=in_dim, num_slots=num_slots, num_classes=num_classes,
                        hidden=hidden, slot_hidden=slot_hidden)
        self.in_dim, self.num_slots = int(in_dim), int(num_slots)
        self.num_classes, self.hidden, self.slot_hidden = int(num_classes), int(hidden), \
            int(slot_hidden)
        self.norm = nn.BatchNorm1d(self.in_dim, affine=False)
        self.shared = nn.Sequential(
            nn.Linear(self.in_dim, self.num_slots * self.hidden),
            nn.LayerNorm(self.num_slots * self.hidden),
            nn.ReLU(),
        )
        p = _check_dropout(dropout)
        self.slots = nn.ModuleList(
            nn.Sequential(nn.Linear(self.hidden, self.slot_hidden), nn.LayerNorm(self.slot_hidden),
                          nn.ReLU(), nn.Dropout(p), nn.Linear(self.slot_hidden, self.num_classes))
            for _ in range(self.num_slots))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if x.ndim == 3 and x.shape[-1] == self.in_dim:
            if x.shape[1] == 0:
                raise ValueError("BaselineSlotHead: zero frames")
            if mask is None:
                x = x.mean(dim=1)
            else:
                if mask.shape != x.shape[:2]:
                    raise ValueError(f"BaselineSlotHead: mask must be [B, T] = "
                                     f"{tuple(x.shape[:2])}, got {tuple(mask.shape)}")
                m = mask.to(device=x.device, dtype=x.dtype).unsqueeze(-1)
                x = (x * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)
        elif not (x.ndim == 2 and x.shape[-1] == self.in_dim):
            raise ValueError(f"BaselineSlotHead: expected features [B, T, {self.in_dim}] or "
                             f"[B, {self.in_dim}], got {tuple(x.shape)}")
        h = self.shared(self.norm(x)).view(x.shape[0], self.num_slots, self.hidden)
        return torch.stack([self.slots[s](h[:, s]) for s in range(self.num_slots)], dim=1)

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, num_slots={self.num_slots}, "
                f"num_classes={self.num_classes}, hidden={self.hidden}, "
                f"slot_hidden={self.slot_hidden}")


@dataclass
class TaggerOutput:
    """Tagger predictions for decoding (``predict`` of :class:`FusionTagger` and
    :class:`M2DATTagger`).

    Attributes:
        weak_prob: ``[B, S, C + 1]`` clip probabilities per slot (softmax over the C classes +
            silence, sums to 1 over the last axis).
        strong_prob: ``[B, S, T, C + 1]`` frame probabilities per slot (softmax per frame).
        frame_times: ``[T, 2]`` float64 (start, end) seconds of each frame.
    """

    weak_prob: torch.Tensor
    strong_prob: torch.Tensor
    frame_times: torch.Tensor

    @property
    def num_frames(self) -> int:
        return int(self.strong_prob.shape[2])

    def argmax(self) -> torch.Tensor:
        """``[B, S]`` int64 class index per slot (``C`` = silence): the baseline's decoding
        (argmax over all C + 1 outputs, no threshold)."""
        return self.weak_prob.argmax(dim=-1)

    def confidence(self) -> torch.Tensor:
        """``[B, S]`` ``1 - p(silence)``: the score compared with the query / report
        thresholds (reference §5.5)."""
        return 1.0 - self.weak_prob[..., -1]  # silence is the last slot class


def freeze_encoder(encoder: nn.Module, trainable_blocks: int = 0) -> None:
    """Freeze ``encoder`` (M2D or fPaSST) except its last ``trainable_blocks`` transformer
    blocks and, when ``trainable_blocks > 0``, its final ``norm`` (the baseline's
    ``finetuning_layers``: ``head`` = 0, ``2_blocks`` = 2). Calling it again re-freezes first."""
    if isinstance(trainable_blocks, bool) or int(trainable_blocks) != trainable_blocks \
            or trainable_blocks < 0:
        raise ValueError(f"trainable_blocks must be a non-negative integer, got "
                         f"{trainable_blocks!r}")
    encoder.requires_grad_(False)
    k = int(trainable_blocks)
    if k == 0:
        return
    blocks = list(encoder.blocks)
    if k > len(blocks):
        raise ValueError(f"trainable_blocks={k} but the encoder has {len(blocks)} blocks")
    for blk in blocks[len(blocks) - k:]:
        blk.requires_grad_(True)
    encoder.norm.requires_grad_(True)
