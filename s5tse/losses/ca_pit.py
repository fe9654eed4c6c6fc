"""Class-aware permutation-invariant training (CA-PIT) loss for label-queried separators.

The DCASE 2026 Task 4 separator loss (reference ``dcase2026_task4.md`` §4.4; the class-aware
PIT of arXiv 2601.22504). Every output slot ``j`` of the separator was queried with the
label of target slot ``j``, so targets and estimates share one label vector per slot; with
same-class duplicates (2026) the order of the duplicates is arbitrary, so the loss may
reassign estimates, but only among slots with identical labels::

    m[b, i, j] = pair_loss(est[b, j], ref[b, i])   if label_i == label_j, both non-silent
               = silent_term(est[b, i])             if i == j and slot i is silent
               = (not allowed)                      otherwise
    loss_b     = min over permutations pi of  (1 / K) * sum_i m[b, i, pi(i)]
    loss       = mean_b loss_b

``pair_loss`` is ``-SNR`` (``objective="snr"``, the baseline; plain SNR with the float32
eps of the metric, §5.1), ``-SI-SDR`` (``"si_sdr"``) or a weighted sum of both
(``"sum"``, default weights ``{"snr": 1.0, "si_sdr": 0.1}``, i.e. ``-SNR - 0.1 SI-SDR`` as
suggested in ``separator_sr_corrnet.md`` §7.3: keep a scale-dependent term, the metric is
SNR based). All ``K!`` permutations are enumerated (6 for K = 3) and the disallowed ones
discarded; the identity is always allowed, and ties are broken towards the identity (then
lexicographic order), so slots with unique labels and silent slots never move.

**Silent slots** (all-zero label vector, or class index ``silence_index`` / negative) stay on
the diagonal. By default they contribute 0 (``silent_weight=0``, the baseline: the separator
gates empty slots to exact zeros anyway) but still count in the ``1 / K`` normalisation. With
``silent_weight > 0`` they add ``silent_weight * 10 log10(1 + sum est^2 / eps)``, which is
``-SNR(est, 0)`` against the all-zero reference: 0 for an exactly silent output, but large
otherwise (10 s at 32 kHz: about 94 dB for an output at -30 dBFS RMS, still 44 dB at -80 dBFS)
next to the -SNR of active slots (typically -20 to 0). Use it only for separators that do not
gate silent slots, with a small weight (e.g. 0.01), and clip gradients: its gradient grows like
``1 / ||est||``. ``slot_reduction="active"`` divides by the number of non-silent slots
instead of ``K`` (at least 1).

**Auxiliary outputs** (SepRe multi-stage losses of SepReformer / SR-CorrNet): a list of
``[B, K, T]`` estimates (e.g. ``extras["aux"]`` of a separator) scored with the same
objective and, by default, with the main output's permutation (SR-CorrNet's ``prior_idx``;
``aux_pit=True`` searches a permutation per output instead). The total is
``loss_main + sum_n w_n * loss_aux_n`` with weights given to :meth:`forward` or taken from
the schedule :func:`aux_weights` at the epoch set by :meth:`ClassAwarePITLoss.set_epoch`.

Example:
    >>> import torch
    >>> from s5tse.losses.ca_pit import ClassAwarePITLoss
    >>> _ = torch.manual_seed(0)
    >>> ref = torch.randn(2, 3, 1600)
    >>> labels = torch.tensor([[4, 4, 15], [7, 18, 18]])     # [A, A, B] and [C, silence, silence]
    >>> est = ref[:, [1, 0, 2]] + 0.1 * torch.randn(2, 3, 1600)   # item 0: the A slots swapped
    >>> est[1, 1:] = 0.0                                      # gated silent slots
    >>> loss_fn = ClassAwarePITLoss(objective="snr", silence_index=18)
    >>> loss, stats, perm = loss_fn(est, ref, labels)
    >>> perm.tolist()                                         # est[b, perm[b, i]] estimates ref[b, i]
    [[1, 0, 2], [0, 1, 2]]
    >>> sorted(stats)
    ['loss', 'snr']
    >>> loss, stats, perm = loss_fn(est, ref, labels, aux=[est, est], aux_weights=[0.25, 0.25])
    >>> sorted(stats)
    ['loss', 'loss_aux', 'loss_main', 'snr']
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from s5tse.losses.pit_tagger import reorder_slots, slot_permutations
from s5tse.losses.sdr import (
    EPS,
    neg_si_sdr,
    neg_snr,
    pairwise_neg_si_sdr,
    pairwise_neg_snr,
    si_sdr,
    snr,
)

__all__ = [
    "ClassAwarePITLoss",
    "AUX_SCHEDULES",
    "aux_weights",
    "class_aware_pairs",
]

OBJECTIVES = ("snr", "si_sdr", "sum")
DEFAULT_SUM_WEIGHTS: Mapping[str, float] = {"snr": 1.0, "si_sdr": 0.1}
MAX_SLOTS = 8  # K! permutations are enumerated

# Decaying weight of the auxiliary (SepRe) losses, per published recipe (epochs count from 1):
#   sr_corrnet:  0.5 up to epoch 100, then 0.5 * 0.95 ** (epoch - 100)
#   sepreformer: 0.4 up to epoch 100, then 0.4 * 0.8 ** (1 + (epoch - 101) // 5)
# (SepReformer mixes convexly, (1 - a) L_main + a L_aux; here the main weight is always 1.)
AUX_SCHEDULES: Mapping[str, Mapping[str, float]] = {
    "sr_corrnet": {"initial": 0.5, "decay": 0.95, "decay_start": 100, "decay_every": 1},
    "sepreformer": {"initial": 0.4, "decay": 0.8, "decay_start": 100, "decay_every": 5},
}


def aux_weights(
    epoch: int,
    num_aux: int,
    *,
    initial: float = 0.5,
    decay: float = 0.95,
    decay_start: int = 100,
    decay_every: int = 1,
) -> List[float]:
    """Per-output weights of ``num_aux`` auxiliary losses at ``epoch`` (decaying schedule).

    The total auxiliary weight is ``initial`` up to ``decay_start`` and
    ``initial * decay ** (1 + (epoch - decay_start - 1) // decay_every)`` after it; it is
    split evenly over the outputs (so the auxiliary term is ``w(epoch) * mean_n L_aux_n``).

    Args:
        epoch (int): current epoch (1-based, as the trainer counts).
        num_aux (int): number of auxiliary outputs (0 gives ``[]``).
        initial, decay, decay_start, decay_every: schedule (see :data:`AUX_SCHEDULES`).

    Returns:
        List[float]: ``num_aux`` equal weights.

    Examples:
        >>> aux_weights(10, 2)
        [0.25, 0.25]
        >>> [round(w, 4) for w in aux_weights(102, 1)]           # 0.5 * 0.95 ** 2
        [0.4512]
        >>> [round(w, 4) for w in aux_weights(106, 1, **AUX_SCHEDULES["sepreformer"])]  # 0.4 * 0.8 ** 2
        [0.256]
    """
    if num_aux < 0:
        raise ValueError(f"num_aux must be >= 0, got {num_aux}")
    if decay_every < 1:
        raise ValueError(f"decay_every must be >= 1, got {decay_every}")
    total = float(initial)
    if epoch > decay_start:
        total *= float(decay) ** (1 + (int(epoch) - int(decay_start) - 1) // int(decay_every))
    return [total / num_aux] * num_aux if num_aux else []


_schedule = aux_weights  # forward() has an argument of the same name


def class_aware_pairs(labels: Tensor, *, silence_index: int) -> Tuple[Tensor, Tensor]:
    """Active slots and allowed target/estimate pairs from per-slot labels.

    Args:
        labels (Tensor): ``[B, K]`` integer class indices (``silence_index`` or negative =
            silent), or ``[B, K, C]`` label vectors (all-zero row = silent; two slots share a
            label iff their rows are equal).
        silence_index (int): class index of an empty slot (``C``, the inventory's size, in s5tse).

    Returns:
        Tuple[Tensor, Tensor]: ``active [B, K]`` bool and ``allowed [B, K, K]`` bool, where
        ``allowed[b, i, j]`` is true iff target ``i`` may be matched with estimate ``j``: both
        active with equal labels, or ``i == j`` with slot ``i`` silent.

    Examples:
        >>> active, allowed = class_aware_pairs(torch.tensor([[3, 3, 18]]), silence_index=18)
        >>> active.tolist(), allowed.int().tolist()
        ([[True, True, False]], [[[1, 1, 0], [1, 1, 0], [0, 0, 1]]])
    """
    if labels.dim() == 2:
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError("[B, K] labels must be integer class indices")
        active = (labels >= 0) & (labels != silence_index)
        same = labels.unsqueeze(2) == labels.unsqueeze(1)
    elif labels.dim() == 3:
        active = (labels != 0).any(-1)
        same = (labels.unsqueeze(2) == labels.unsqueeze(1)).all(-1)
    else:
        raise ValueError(f"labels must be [B, K] indices or [B, K, C] vectors, got {tuple(labels.shape)}")
    both = active.unsqueeze(2) & active.unsqueeze(1)
    eye = torch.eye(labels.shape[1], dtype=torch.bool, device=labels.device)
    allowed = (same & both) | (eye & ~active.unsqueeze(2))
    return active, allowed


def _silent_term(est: Tensor, eps: float) -> Tensor:
    """``-SNR(est, 0) = 10 log10(1 + sum est^2 / eps)``, ``[B, K, T] -> [B, K]``."""
    return neg_snr(est, torch.zeros((), dtype=est.dtype, device=est.device).expand_as(est), eps=eps)


class ClassAwarePITLoss(torch.nn.Module):
    """Class-aware PIT loss (see the module docstring for the definition).

    Args:
        objective (str): ``"snr"`` (baseline), ``"si_sdr"`` or ``"sum"``.
        weights (Mapping[str, float], optional): for ``"sum"`` only, weights of the
            ``"snr"`` and ``"si_sdr"`` terms of the pair loss (default ``{"snr": 1.0,
            "si_sdr": 0.1}``): ``pair_loss = -w_snr SNR - w_si SI-SDR``.
        silent_weight (float): weight of the silent-slot term ``-SNR(est, 0)`` (default 0:
            silent slots excluded, as the baseline).
        slot_reduction (str): ``"all"`` divides the per-item sum by ``K`` (baseline),
            ``"active"`` by the number of active slots (at least 1).
        si_sdr_zero_mean (bool): zero-mean signals in the SI-SDR term.
        eps (float): epsilon of SNR / SI-SDR (float32 machine epsilon, as the metric).
        silence_index (int): class index of a silent slot for ``[B, K]`` integer labels.
        aux_pit (bool): search a permutation per auxiliary output instead of reusing the
            main output's.
        aux_schedule (str or Mapping): schedule of the auxiliary weights when
            :meth:`forward` gets none: a name in :data:`AUX_SCHEDULES` or keyword arguments
            of :func:`aux_weights`.

    Shapes (:meth:`forward`):
        - est: ``[B, K, T]`` estimates (slot ``j`` queried with label ``j``).
        - ref: ``[B, K, T]`` references (zeros for silent slots).
        - labels: ``[B, K]`` integer classes or ``[B, K, C]`` label vectors.
        - aux: optional list of ``[B, K, T]`` auxiliary estimates.

    Returns:
        ``(loss, stats, perm)``: ``loss`` 0-dim (batch mean); ``stats`` dict of detached
        0-dim tensors: ``loss``, ``snr`` (mean SNR in dB over the active slots of the batch
        after reordering; None when there is none), ``si_sdr`` (objectives using it), and
        ``loss_main`` / ``loss_aux`` (with auxiliary outputs); ``perm [B, K]`` int64 with
        ``est[b, perm[b, i]]`` the estimate of ``ref[b, i]`` (see
        :func:`s5tse.losses.pit_tagger.reorder_slots`).

    Examples:
        >>> loss_fn = ClassAwarePITLoss("sum", weights={"snr": 1.0, "si_sdr": 0.1}, silence_index=18)
        >>> est, ref = torch.randn(4, 3, 800), torch.randn(4, 3, 800)
        >>> weak = torch.zeros(4, 3, 18); weak[:, 0, 5] = 1; weak[:, 1, 5] = 1
        >>> loss, stats, perm = loss_fn(est, ref, weak)
        >>> loss.shape, perm.shape
        (torch.Size([]), torch.Size([4, 3]))
    """

    def __init__(
        self,
        objective: str = "snr",
        weights: Optional[Mapping[str, float]] = None,
        *,
        silent_weight: float = 0.0,
        slot_reduction: str = "all",
        si_sdr_zero_mean: bool = False,
        eps: float = EPS,
        silence_index: int,
        aux_pit: bool = False,
        aux_schedule: Union[str, Mapping[str, float]] = "sr_corrnet",
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if objective == "sum":
            weights = dict(DEFAULT_SUM_WEIGHTS if weights is None else weights)
            unknown = set(weights) - {"snr", "si_sdr"}
            if unknown or not weights:
                raise ValueError(f"weights must have keys among 'snr', 'si_sdr', got {sorted(weights)}")
            weights = {k: float(v) for k, v in weights.items()}
        elif weights is not None:
            raise ValueError(f"weights are only used with objective='sum', not {objective!r}")
        if slot_reduction not in ("all", "active"):
            raise ValueError(f"slot_reduction must be 'all' or 'active', got {slot_reduction!r}")
        if silent_weight < 0 or not math.isfinite(silent_weight):
            raise ValueError(f"silent_weight must be finite and >= 0, got {silent_weight}")
        if isinstance(aux_schedule, str):
            if aux_schedule not in AUX_SCHEDULES:
                raise ValueError(f"aux_schedule must be one of {sorted(AUX_SCHEDULES)} or a mapping")
            aux_schedule = AUX_SCHEDULES[aux_schedule]
        aux_schedule = dict(aux_schedule)
        aux_weights(1, 1, **aux_schedule)  # validates the keys
        self.objective = objective
        self.weights: Optional[Dict[str, float]] = weights
        self.silent_weight = float(silent_weight)
        self.slot_reduction = slot_reduction
        self.si_sdr_zero_mean = bool(si_sdr_zero_mean)
        self.eps = float(eps)
        self.silence_index = int(silence_index)
        self.aux_pit = bool(aux_pit)
        self.aux_schedule = aux_schedule
        self.epoch = 1

    def extra_repr(self) -> str:
        w = f", weights={self.weights}" if self.weights else ""
        return (f"objective={self.objective!r}{w}, silent_weight={self.silent_weight}, "
                f"slot_reduction={self.slot_reduction!r}, aux_pit={self.aux_pit}")

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch of the auxiliary-weight schedule (1-based)."""
        self.epoch = int(epoch)

    # -- pair losses ---------------------------------------------------------------------

    def _terms(self) -> Dict[str, float]:
        if self.objective == "sum":
            return self.weights
        return {self.objective: 1.0}

    def pairwise(self, est: Tensor, ref: Tensor) -> Tensor:
        """Pair-loss matrix ``[B, K, K]``: ``out[b, i, j] = pair_loss(est[b, j], ref[b, i])``."""
        out = None
        for name, w in self._terms().items():
            if name == "snr":
                term = pairwise_neg_snr(est, ref, eps=self.eps)
            else:
                term = pairwise_neg_si_sdr(est, ref, zero_mean=self.si_sdr_zero_mean, eps=self.eps)
            term = w * term
            out = term if out is None else out + term
        return out

    def slotwise(self, est: Tensor, ref: Tensor) -> Tensor:
        """Pair loss of aligned slots: ``[B, K, T] x [B, K, T] -> [B, K]``."""
        out = None
        for name, w in self._terms().items():
            if name == "snr":
                term = neg_snr(est, ref, eps=self.eps)
            else:
                term = neg_si_sdr(est, ref, zero_mean=self.si_sdr_zero_mean, eps=self.eps)
            term = w * term
            out = term if out is None else out + term
        return out

    # -- forward -------------------------------------------------------------------------

    def _check(self, est: Tensor, ref: Tensor, labels: Tensor) -> None:
        if est.dim() != 3 or est.shape != ref.shape:
            raise ValueError(f"expected est and ref [B, K, T] of one shape, got {tuple(est.shape)} "
                             f"and {tuple(ref.shape)}")
        if tuple(labels.shape[:2]) != tuple(est.shape[:2]):
            raise ValueError(f"labels {tuple(labels.shape)} do not match est {tuple(est.shape)}")
        if est.shape[1] > MAX_SLOTS:
            raise ValueError(f"at most {MAX_SLOTS} slots are supported (K! permutations), got {est.shape[1]}")

    def _reduce(self, slot_loss: Tensor, active: Tensor) -> Tensor:
        """``[B, K]`` per-slot losses -> 0-dim batch mean of the per-item normalised sums."""
        if self.slot_reduction == "all":
            per_item = slot_loss.sum(1) / slot_loss.shape[1]
        else:
            per_item = slot_loss.sum(1) / active.sum(1).clamp(min=1).to(slot_loss.dtype)
        return per_item.mean()

    def _silent(self, est_aligned: Tensor, active: Tensor) -> Tensor:
        """Silent-slot losses ``[B, K]`` (0 on active slots)."""
        if self.silent_weight == 0.0:
            return est_aligned.new_zeros(active.shape)
        term = self.silent_weight * _silent_term(est_aligned, self.eps)
        return torch.where(active, torch.zeros_like(term), term)

    def solve(self, est: Tensor, ref: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Class-aware assignment: ``(slot_loss [B, K], perm [B, K], active [B, K])``.

        ``slot_loss[b, i]`` is target ``i``'s term under the best allowed permutation
        (pair loss for active slots, silent term for silent ones); differentiable.
        """
        self._check(est, ref, labels)
        est, ref = self._float(est), self._float(ref)
        active, allowed = class_aware_pairs(labels.to(est.device), silence_index=self.silence_index)
        K = est.shape[1]
        pair = torch.where(allowed & active.unsqueeze(2), self.pairwise(est, ref), 0.0)
        perms = slot_permutations(K, device=est.device)               # [P, K], identity first
        rows = torch.arange(K, device=est.device).unsqueeze(0)        # [1, K]
        ok = allowed[:, rows, perms].all(-1)                          # [B, P]
        cost = pair[:, rows, perms].sum(-1)                           # [B, P]
        cost = torch.where(ok, cost.detach(), torch.full_like(cost, math.inf))
        best = cost.argmin(1)                                         # first minimum: identity on ties
        perm = perms[best]                                            # [B, K]
        slot_loss = pair.gather(2, perm.unsqueeze(2)).squeeze(2)      # [B, K]
        slot_loss = slot_loss + self._silent(est, active)             # silent slots stay in place
        return slot_loss, perm, active

    @staticmethod
    def _float(x: Tensor) -> Tensor:
        return x if x.dtype in (torch.float32, torch.float64) else x.float()

    def forward(
        self,
        est: Tensor,
        ref: Tensor,
        labels: Tensor,
        *,
        aux: Optional[Sequence[Tensor]] = None,
        aux_weights: Optional[Sequence[float]] = None,
    ) -> Tuple[Tensor, Dict[str, Optional[Tensor]], Tensor]:
        """Loss of ``est [B, K, T]`` against ``ref [B, K, T]`` with per-slot ``labels``.

        Args:
            est (Tensor): ``[B, K, T]`` estimates.
            ref (Tensor): ``[B, K, T]`` references.
            labels (Tensor): ``[B, K]`` integer classes or ``[B, K, C]`` label vectors.
            aux (Sequence[Tensor], optional): auxiliary estimates, each ``[B, K, T]``.
            aux_weights (Sequence[float], optional): one weight per auxiliary output; default
                from the schedule at the current epoch (:meth:`set_epoch`).

        Returns:
            ``(loss, stats, perm)``, see the class docstring.
        """
        slot_loss, perm, active = self.solve(est, ref, labels)
        loss_main = self._reduce(slot_loss, active)
        stats: Dict[str, Optional[Tensor]] = {}
        with torch.no_grad():
            aligned = self._float(reorder_slots(est.detach(), perm))
            ref_f = self._float(ref.detach())
            stats["snr"] = self._active_mean(snr(aligned, ref_f, eps=self.eps), active)
            if "si_sdr" in self._terms():
                stats["si_sdr"] = self._active_mean(
                    si_sdr(aligned, ref_f, zero_mean=self.si_sdr_zero_mean, eps=self.eps), active)
        loss = loss_main
        aux = list(aux) if aux is not None else []
        if aux:
            if aux_weights is None:
                aux_weights = _schedule(self.epoch, len(aux), **self.aux_schedule)
            if len(aux_weights) != len(aux):
                raise ValueError(f"{len(aux)} auxiliary outputs but {len(aux_weights)} weights")
            loss_aux = loss_main.new_zeros(())
            for w, a in zip(aux_weights, aux):
                if a.shape != est.shape:
                    raise ValueError(f"auxiliary output {tuple(a.shape)} does not match "
                                     f"est {tuple(est.shape)}")
                if self.aux_pit:
                    a_slot, _, _ = self.solve(a, ref, labels)
                else:
                    a_al = self._float(reorder_slots(a, perm))
                    a_slot = torch.where(active, self.slotwise(a_al, self._float(ref)), 0.0)
                    a_slot = a_slot + self._silent(a_al, active)
                loss_aux = loss_aux + float(w) * self._reduce(a_slot, active)
            loss = loss_main + loss_aux
            stats["loss_main"] = loss_main.detach()
            stats["loss_aux"] = loss_aux.detach()
        stats["loss"] = loss.detach()
        return loss, stats, perm

    @staticmethod
    def _active_mean(values: Tensor, active: Tensor) -> Optional[Tensor]:
        n = int(active.sum())
        if n == 0:
            return None
        return values[active].mean()
