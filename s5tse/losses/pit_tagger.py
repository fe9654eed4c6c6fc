"""Permutation-invariant (PIT) slot losses of the taggers (reference §4.2, §5.4).

Both taggers output ``S = 3`` slots of ``C + 1``-way logits (the inventory's ``C`` classes +
``silence`` = ``C``; ``C = 18`` for DCASE 2026 in the examples). The
targets of a mixture are an unordered multiset of up to three classes padded with silence,
so every loss here is minimised over the ``S!`` assignments of prediction slots to target
slots (6 for 3 slots; enumerated with :func:`itertools.permutations`, no Hungarian solver
needed).

Permutation convention (as asteroid's ``PITLossWrapper``): ``perm[b, j]`` is the prediction
slot matched with target slot ``j``, so ``pred[b, perm[b]]`` is aligned with the targets
(:func:`reorder_slots`). For all-silence targets (no event) and for exact ties the first
permutation in ``itertools`` order wins, i.e. the identity.

* :class:`TaggerPITLoss` -- weak (clip) CE plus ``strong_weight`` times the frame-averaged
  strong CE, both under the same permutation (fusion tagger).
* :func:`baseline_pit_ce` -- PIT CE on the weak logits only (the DCASE 2026 baseline's loss).
* :func:`strong_class_targets` -- per-frame class targets from slot labels and activity.
* :func:`reorder_slots` -- apply a permutation.
"""
from __future__ import annotations

import itertools
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn


__all__ = ["TaggerPITLoss", "baseline_pit_ce", "strong_class_targets", "reorder_slots",
           "slot_permutations"]


def slot_permutations(num_slots: int, device: Optional[torch.device] = None) -> torch.Tensor:
    """``[S!, S]`` int64: all permutations of ``range(S)`` in :func:`itertools.permutations`
    order (the identity first)."""
    if num_slots < 1:
        raise ValueError(f"need at least one slot, got {num_slots}")
    return torch.tensor(list(itertools.permutations(range(num_slots))), dtype=torch.long,
                        device=device)


def reorder_slots(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """``x [B, S, ...]`` -> ``x[b, perm[b]]`` for every ``b`` (predictions in target order)."""
    if perm.ndim != 2 or x.shape[:2] != perm.shape:
        raise ValueError(f"reorder_slots: x {tuple(x.shape)} and perm {tuple(perm.shape)} "
                         f"disagree on [B, S]")
    batch = torch.arange(x.shape[0], device=x.device)[:, None]
    return x[batch, perm.to(x.device)]


def strong_class_targets(label_index: torch.Tensor, activity: torch.Tensor,
                         silence_index: int) -> torch.Tensor:
    """Per-frame class targets ``[B, S, T]`` int64: the slot's class where its activity is
    > 0.5, ``silence_index`` elsewhere; silence slots are silence on every frame.

    Args:
        label_index: ``[B, S]`` (or ``[S]``) int64 slot classes, silence = ``silence_index``.
        activity: ``[B, S, T]`` (or ``[S, T]``) frame activity (float 0/1 or bool), e.g. the
            item's ``strong`` tensor of :mod:`s5tse.datasets.targets`.
    """
    if activity.shape[:-1] != label_index.shape:
        raise ValueError(f"strong_class_targets: activity {tuple(activity.shape)} does not "
                         f"match label_index {tuple(label_index.shape)} + [T]")
    active = activity > 0.5 if activity.dtype != torch.bool else activity
    labels = label_index.to(device=activity.device, dtype=torch.long).unsqueeze(-1)
    return torch.where(active, labels, torch.full_like(labels, silence_index)).expand(
        activity.shape).clone()


def _pairwise_ce(logp: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """``logp [B, S, *F, C]`` (log-softmax), ``target [B, S, *F]`` -> ``[B, S_pred, S_tgt, *F]``
    cross-entropy of every prediction slot against every target slot."""
    B, S = target.shape[:2]
    rest = target.shape[2:]
    lp = logp.unsqueeze(2).expand(B, S, S, *logp.shape[2:])
    idx = target.unsqueeze(1).expand(B, S, S, *rest).unsqueeze(-1)
    nll = -lp.gather(-1, idx).squeeze(-1)
    if smoothing > 0.0:
        uniform = -logp.mean(dim=-1).unsqueeze(2)                  # [B, S, 1, *F]
        nll = (1.0 - smoothing) * nll + smoothing * uniform
    return nll


def _check_labels(label_index: torch.Tensor, weak_logits: torch.Tensor, who: str) -> torch.Tensor:
    if weak_logits.ndim != 3:
        raise ValueError(f"{who}: weak logits must be [B, S, C], got {tuple(weak_logits.shape)}")
    if label_index.shape != weak_logits.shape[:2]:
        raise ValueError(f"{who}: label_index {tuple(label_index.shape)} does not match the "
                         f"logits' [B, S] = {tuple(weak_logits.shape[:2])}")
    if label_index.is_floating_point() or label_index.dtype == torch.bool:
        raise ValueError(f"{who}: label_index must be integer class indices, got "
                         f"{label_index.dtype}")
    num_classes = weak_logits.shape[-1]
    if label_index.numel() and (label_index.min() < 0 or label_index.max() >= num_classes):
        raise ValueError(f"{who}: label_index values must be in [0, {num_classes - 1}], got "
                         f"min {int(label_index.min())}, max {int(label_index.max())}")
    return label_index.to(device=weak_logits.device, dtype=torch.long)


class TaggerPITLoss(nn.Module):
    """PIT loss over the output slots: weak CE + ``strong_weight`` x mean strong CE.

    For each mixture ``b`` and permutation ``p`` (``p[j]`` = prediction slot for target slot
    ``j``)::

        cost(b, p) = 1/S sum_j [ weak_weight   * CE(weak[b, p[j]], y[b, j])
                               + strong_weight * 1/T sum_t CE(strong[b, p[j], t], y_t[b, j, t]) ]

    with ``y`` the slot labels (silence = ``C`` for empty slots) and ``y_t`` the frame targets of
    :func:`strong_class_targets` (slot class where the slot is active, silence elsewhere;
    all silence for silence slots). The loss of a mixture is ``min_p cost(b, p)``; the weak
    and strong terms always share the permutation. Duplicated classes need no special case
    (their weak costs tie and the strong term, if any, separates them by timing);
    zero-target mixtures (all silence) cost the same under every permutation.

    Args:
        strong_weight: ``lambda``; 0 disables the strong term (then strong inputs are
            optional and ignored).
        weak_weight: weight of the weak CE (1).
        label_smoothing: as ``F.cross_entropy``'s, applied to both terms (0 = off).
        silence_index: class index of silence (None: the last class, ``C`` of ``C + 1``).
        reduction: ``"mean"`` (0-dim loss, mean over the batch) or ``"none"`` (``[B]``).

    Shape:
        - weak_logits: :math:`(B, S, C + 1)` logits.
        - label_index: :math:`(B, S)` int64 slot classes in ``[0, C)``.
        - strong_logits: :math:`(B, S, T, C)` frame logits (needed if ``strong_weight > 0``).
        - strong_activity: :math:`(B, S, T)` frame activity per target slot (float 0/1 or
          bool; the items' ``strong`` tensor), same ``T`` as ``strong_logits``.
        - frame_mask: :math:`(B, T)` bool, True = valid frame (optional; padded frames are
          left out of the strong mean).

    Returns:
        ``(loss, stats, perm)``: ``loss`` 0-dim (or ``[B]``); ``stats`` a dict of detached
        0-dim batch means -- ``loss``, ``weak_ce``, ``strong_ce`` (only with the strong term),
        ``slot_acc`` (fraction of slots whose argmax equals the matched target) and
        ``mix_acc`` (fraction of mixtures with all slots right); ``perm`` ``[B, S]`` int64,
        ``perm[b, j]`` = prediction slot matched with target slot ``j``
        (:func:`reorder_slots`).

    Examples:
        >>> import torch
        >>> from s5tse.losses import TaggerPITLoss, reorder_slots
        >>> B, S, T, C = 2, 3, 25, 19
        >>> weak, strong = torch.randn(B, S, C), torch.randn(B, S, T, C)
        >>> labels = torch.tensor([[4, 4, 18], [18, 18, 18]])   # duplicate / no event
        >>> activity = torch.zeros(B, S, T); activity[0, 0, :10] = 1; activity[0, 1, 12:] = 1
        >>> loss_fn = TaggerPITLoss(strong_weight=0.5)
        >>> loss, stats, perm = loss_fn(weak, labels, strong, activity)
        >>> loss.shape, perm.shape
        (torch.Size([]), torch.Size([2, 3]))
        >>> sorted(stats)
        ['loss', 'mix_acc', 'slot_acc', 'strong_ce', 'weak_ce']
        >>> perm[1].tolist()                                     # all silence: identity
        [0, 1, 2]
        >>> reorder_slots(weak, perm).shape                      # predictions in target order
        torch.Size([2, 3, 19])
    """

    def __init__(self, strong_weight: float = 1.0, weak_weight: float = 1.0,
                 label_smoothing: float = 0.0, silence_index: Optional[int] = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        if strong_weight < 0 or weak_weight < 0 or strong_weight + weak_weight <= 0:
            raise ValueError(f"TaggerPITLoss: weights must be >= 0 and not both 0, got "
                             f"strong_weight={strong_weight}, weak_weight={weak_weight}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"TaggerPITLoss: label_smoothing must be in [0, 1), got "
                             f"{label_smoothing}")
        if reduction not in ("mean", "none"):
            raise ValueError(f"TaggerPITLoss: reduction must be 'mean' or 'none', got "
                             f"{reduction!r}")
        self.strong_weight = float(strong_weight)
        self.weak_weight = float(weak_weight)
        self.label_smoothing = float(label_smoothing)
        self.silence_index = None if silence_index is None else int(silence_index)
        self.reduction = reduction

    def _silence(self, num_classes: int) -> int:
        """The silence class: ``silence_index``, or the last of the ``C + 1`` classes."""
        return num_classes - 1 if self.silence_index is None else self.silence_index

    def extra_repr(self) -> str:
        return (f"strong_weight={self.strong_weight}, weak_weight={self.weak_weight}, "
                f"label_smoothing={self.label_smoothing}, reduction={self.reduction!r}")

    def pairwise_costs(self, weak_logits: torch.Tensor, label_index: torch.Tensor,
                       strong_logits: Optional[torch.Tensor] = None,
                       strong_activity: Optional[torch.Tensor] = None,
                       frame_mask: Optional[torch.Tensor] = None,
                       ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(weak_ce, strong_ce)``, each ``[B, S_pred, S_tgt]`` (``strong_ce`` None when the
        strong term is off): the unweighted costs of every slot pairing."""
        who = type(self).__name__
        labels = _check_labels(label_index, weak_logits, who)
        silence = self._silence(weak_logits.shape[-1])
        if not 0 <= silence < weak_logits.shape[-1]:
            raise ValueError(f"{who}: silence_index {silence} is not a class of the "
                             f"{weak_logits.shape[-1]}-way logits")
        cw = _pairwise_ce(weak_logits.float().log_softmax(-1), labels, self.label_smoothing)
        if self.strong_weight == 0.0:
            return cw, None
        if strong_logits is None or strong_activity is None:
            raise ValueError(f"{who}: strong_weight={self.strong_weight} needs strong_logits "
                             f"[B, S, T, C] and strong_activity [B, S, T]")
        B, S, C = weak_logits.shape
        if strong_logits.ndim != 4 or strong_logits.shape[:2] != (B, S) \
                or strong_logits.shape[-1] != C:
            raise ValueError(f"{who}: strong_logits must be [B, S, T, C] = [{B}, {S}, T, {C}], "
                             f"got {tuple(strong_logits.shape)}")
        T = strong_logits.shape[2]
        if tuple(strong_activity.shape) != (B, S, T):
            raise ValueError(f"{who}: strong_activity {tuple(strong_activity.shape)} does not "
                             f"match strong_logits [B, S, T] = {(B, S, T)} (frame grids differ?)")
        if T == 0:
            raise ValueError(f"{who}: strong_logits have zero frames")
        ys = strong_class_targets(labels, strong_activity.to(weak_logits.device), silence)
        nll = _pairwise_ce(strong_logits.float().log_softmax(-1), ys, self.label_smoothing)
        if frame_mask is None:
            cs = nll.mean(dim=-1)
        else:
            if tuple(frame_mask.shape) != (B, T):
                raise ValueError(f"{who}: frame_mask must be [B, T] = {(B, T)}, got "
                                 f"{tuple(frame_mask.shape)}")
            m = frame_mask.to(device=nll.device, dtype=nll.dtype)[:, None, None, :]
            if (m.sum(-1) == 0).any():
                raise ValueError(f"{who}: a frame_mask row has no valid frame")
            cs = (nll * m).sum(-1) / m.sum(-1)
        return cw, cs

    def forward(self, weak_logits: torch.Tensor, label_index: torch.Tensor,
                strong_logits: Optional[torch.Tensor] = None,
                strong_activity: Optional[torch.Tensor] = None,
                frame_mask: Optional[torch.Tensor] = None,
                ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        cw, cs = self.pairwise_costs(weak_logits, label_index, strong_logits, strong_activity,
                                     frame_mask)
        cost = self.weak_weight * cw if cs is None else \
            self.weak_weight * cw + self.strong_weight * cs
        per_item, perm = _best_permutation(cost)
        B, S = perm.shape
        slots = torch.arange(S, device=cost.device)
        batch = torch.arange(B, device=cost.device)[:, None]
        with torch.no_grad():
            labels = label_index.to(device=weak_logits.device, dtype=torch.long)
            hit = reorder_slots(weak_logits.detach(), perm).argmax(-1) == labels
            stats = {
                "loss": per_item.detach().mean(),
                "weak_ce": cw[batch, perm, slots].detach().mean(),
                "slot_acc": hit.float().mean(),
                "mix_acc": hit.all(dim=1).float().mean(),
            }
            if cs is not None:
                stats["strong_ce"] = cs[batch, perm, slots].detach().mean()
        loss = per_item.mean() if self.reduction == "mean" else per_item
        return loss, stats, perm


def _best_permutation(cost: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``cost [B, S_pred, S_tgt]`` -> (``[B]`` min over permutations of the mean matched cost,
    ``perm [B, S]``); ties resolve to the first permutation (identity first)."""
    B, S, S2 = cost.shape
    if S != S2:
        raise ValueError(f"cost matrix must be square, got {tuple(cost.shape)}")
    perms = slot_permutations(S, device=cost.device)                  # [P, S]
    slots = torch.arange(S, device=cost.device)
    per_perm = cost[:, perms, slots].mean(dim=-1)                     # [B, P]
    best = per_perm.argmin(dim=1)                                     # first minimum on ties
    per_item = per_perm.gather(1, best[:, None]).squeeze(1)
    return per_item, perms[best]


def baseline_pit_ce(weak_logits: torch.Tensor, label_index: torch.Tensor,
                    label_smoothing: float = 0.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """PIT cross-entropy on the weak logits only (the DCASE 2026 baseline's loss):
    ``mean_b min_p 1/S sum_j CE(weak[b, p[j]], y[b, j])``.

    Args:
        weak_logits: ``[B, S, C]`` logits.
        label_index: ``[B, S]`` int64 classes (silence = ``C``).
        label_smoothing: as in ``F.cross_entropy`` (0 = the baseline).

    Returns:
        ``(loss, perm)``: 0-dim mean loss, ``perm [B, S]`` (``perm[b, j]`` = prediction slot
        of target slot ``j``).

    Example:
        >>> loss, perm = baseline_pit_ce(torch.randn(4, 3, 19), torch.randint(0, 19, (4, 3)))
        >>> loss.shape, perm.shape
        (torch.Size([]), torch.Size([4, 3]))
    """
    labels = _check_labels(label_index, weak_logits, "baseline_pit_ce")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"baseline_pit_ce: label_smoothing must be in [0, 1), got "
                         f"{label_smoothing}")
    cost = _pairwise_ce(weak_logits.float().log_softmax(-1), labels, float(label_smoothing))
    per_item, perm = _best_permutation(cost)
    return per_item.mean(), perm

