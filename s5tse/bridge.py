"""The soft-query bridge: tagger probabilities -> labels, report/query masks and separator queries.

The taggers (:mod:`s5tse.models.tagger`) predict ``S = 3`` slots, each a (C + 1)-way
distribution (the C classes of the inventory + ``silence`` at index C); the separators
(:mod:`s5tse.models.separator`) take per-slot queries ``strong [K, T_q]`` and ``weak [K, C]``. :class:`Bridge` turns one into the
other with two thresholds (reference ``tagger_m2d_passt.md`` §5.5)::

    p      = weak_prob[s]                         [C+1]  clip softmax of slot s
    conf_s = 1 - p[C]                                    confidence that slot s holds an event
    cls_s  = argmax(p[:C])                               its class (duplicates across slots kept)
    query_s  = conf_s >= tau_q                           the separator extracts it
    report_s = conf_s >= tau_r[cls_s]  (tau_q <= tau_r)  its label and waveform are output
               (tau_r[c] = the per-class report threshold of c if given, else tau_r)
               (argmax=True, the official baseline's rule: query_s = report_s = p[cls_s] >= p[C])
    weak_s   = one_hot(cls_s) if query_s else 0          [C]
    strong_s = resample(strong_prob[s, :, cls_s]) if query_s else 0      [T_q]
               (optionally binarised: >= frame_threshold -> 1, else 0; all ones for a
                tagger without frame output, the M2DAT baseline)

``report ⊆ query`` because ``tau_q <= tau_r`` (enforced). A queried slot that is not reported
is still separated (it helps the separator tell the sources apart) but its waveform is not
written. Slots below ``tau_q`` get all-zero queries: the separators output exact zeros there.

**Confidence = 1 - p(silence)** (not the largest class probability). The report/query decision
is "does this slot hold a target event?", and ``1 - p(silence)`` is exactly the probability the
tagger gives to that, however the mass is spread over classes: a slot whose mass is split
between two similar classes (``Buzzer`` 0.45 / ``AlarmClock`` 0.45) is almost surely an event,
and dropping it would turn a likely TP (or a wrong-class FP + FN) into a sure FN. The class is
decided separately by the argmax. It is also what :meth:`TaggerOutput.confidence
<s5tse.models.tagger.heads.TaggerOutput.confidence>` returns and what the thresholds in
``conf/decode.yaml`` and ``decode_thresholds.yaml`` are tuned for. ``probability`` in
``probabilities.json`` is ``p[cls_s]`` (the probability of the reported label, as the official
baseline reports its max softmax).

**Slot order.** Queried slots come first, by decreasing confidence (ties: tagger slot order),
then the silent slots: the separators are trained with the ``silence`` slots last (the
datasets pad the target list with ``silence``). :attr:`BridgeOutput.slot_order` maps the
output slots back to the tagger's.

**Query grid** (the datasets' strong targets, :mod:`s5tse.datasets.targets`): frame ``q``
covers samples ``[q * hop, min((q + 1) * hop, n))``, ``T_q = ceil(n / hop)``, ``hop = 1280``
(40 ms at 32 kHz). The tagger's frames ``[start_t, end_t)`` (seconds, ``frame_times``) are
mapped onto it by overlap: ``strong_q = sum_t |q ∩ t| p_t / sum_t |q ∩ t|`` -- the identity
when both grids agree (the fusion tagger's fPaSST grid), a piecewise-constant copy for a
coarser grid (M2D's 160-ms columns); a query frame that overlaps no tagger frame takes the
nearest one (by centre).

    bridge = Bridge(report_threshold=0.5, query_threshold=0.3, classes=inventory,
                    class_report_thresholds={"Speech": 0.7})     # optional, per class
    out = bridge(weak_prob [S, C+1], strong_prob [S, T, C+1] | None, frame_times [T, 2], n)
    out.labels, out.report, out.query, out.strong [K, T_q], out.weak [K, C]
    oracle = oracle_queries(["Speech", "Speech", "silence"], activity [3, T_q], inventory)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import Tensor

from s5tse.labels import NUM_SLOTS, SILENCE, ClassInventory

__all__ = ["Bridge", "BridgeOutput", "oracle_queries", "resample_frames", "query_grid",
           "QUERY_HOP", "SAMPLE_RATE"]

#: Samples per strong-query frame (40 ms at 32 kHz; the datasets' ``frame_hop``).
QUERY_HOP: int = 1280
SAMPLE_RATE: int = 32000


def _check_prob(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def query_grid(num_samples: int, hop: int = QUERY_HOP, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """``[T_q, 2]`` float64 (start, end) seconds of the query frames of ``num_samples``:
    ``[q * hop, min((q + 1) * hop, n)) / sample_rate``, ``T_q = ceil(n / hop)``."""
    if isinstance(num_samples, bool) or int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    if isinstance(hop, bool) or int(hop) != hop or hop < 1:
        raise ValueError(f"query hop must be a positive integer, got {hop!r}")
    n, hop = int(num_samples), int(hop)
    tq = -(-n // hop)
    start = torch.arange(tq, dtype=torch.float64) * hop
    end = torch.clamp(start + hop, max=float(n))
    return torch.stack([start, end], dim=1) / float(sample_rate)


def resample_frames(values: Tensor, src_times: Tensor, dst_times: Tensor) -> Tensor:
    """Resample frame values ``[..., T]`` on frames ``src_times [T, 2]`` (start, end seconds)
    onto ``dst_times [T', 2]`` by overlap weighting -> ``[..., T']`` (module docstring).

    A destination frame without overlap takes the source frame with the nearest centre.
    """
    values = torch.as_tensor(values).detach().cpu()
    src = torch.as_tensor(src_times).detach().cpu().to(torch.float64)
    dst = torch.as_tensor(dst_times).detach().cpu().to(torch.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape[0] != values.shape[-1] or src.shape[0] == 0:
        raise ValueError(f"resample_frames: src_times must be [T, 2] with T = {values.shape[-1]} "
                         f"> 0, got {tuple(src.shape)}")
    if dst.ndim != 2 or dst.shape[1] != 2:
        raise ValueError(f"resample_frames: dst_times must be [T', 2], got {tuple(dst.shape)}")
    lo = torch.maximum(dst[:, None, 0], src[None, :, 0])
    hi = torch.minimum(dst[:, None, 1], src[None, :, 1])
    w = (hi - lo).clamp_min(0.0)                                      # [T', T]
    total = w.sum(dim=1, keepdim=True)
    empty = total[:, 0] <= 0
    if bool(empty.any()):
        centre_d = dst.mean(dim=1)[empty]
        centre_s = src.mean(dim=1)
        nearest = (centre_d[:, None] - centre_s[None, :]).abs().argmin(dim=1)
        w[empty] = 0.0
        w[empty.nonzero()[:, 0], nearest] = 1.0
        total = w.sum(dim=1, keepdim=True)
    w = w / total
    return (values.to(torch.float64) @ w.T).to(values.dtype if values.is_floating_point()
                                                 else torch.float32)


@dataclass
class BridgeOutput:
    """Per-mixture decision of the bridge (``K`` output slots, slot order in the module doc).

    Attributes:
        labels: ``K`` class names; ``silence`` for slots that are not queried.
        class_index: ``[K]`` int64 (``C`` = silence).
        confidence: ``[K]`` float32 ``1 - p(silence)`` (1.0 for oracle slots, 0.0 for silence).
        probability: ``[K]`` float32 probability of the slot's label (``p[cls]``).
        query: ``[K]`` bool, slots sent to the separator.
        report: ``[K]`` bool, slots whose label and waveform are output (subset of ``query``).
        strong: ``[K, T_q]`` float32 strong query (zeros for silent slots).
        weak: ``[K, C]`` float32 weak query (one-hot; zeros for silent slots).
        slot_order: ``K`` tagger slot index of each output slot.
    """

    labels: List[str]
    class_index: Tensor
    confidence: Tensor
    probability: Tensor
    query: Tensor
    report: Tensor
    strong: Tensor
    weak: Tensor
    slot_order: List[int] = field(default_factory=list)

    @property
    def num_slots(self) -> int:
        return len(self.labels)

    @property
    def reported_labels(self) -> List[str]:
        """Labels of the reported slots, in slot order."""
        return [lab for lab, r in zip(self.labels, self.report.tolist()) if r]

    @property
    def any_query(self) -> bool:
        return bool(self.query.any())

    def text_labels(self, num_slots: int = NUM_SLOTS) -> List[str]:
        """Reported labels padded with ``silence`` to ``num_slots`` (a Kaldi ``text`` line)."""
        labels = self.reported_labels
        return labels + [SILENCE] * (num_slots - len(labels))

    @classmethod
    def empty(cls, num_slots: int, num_frames: int, num_classes: int) -> "BridgeOutput":
        """Nothing queried or reported (e.g. an all-zero mixture): ``num_slots`` silent slots."""
        zeros = torch.zeros(num_slots)
        return cls(labels=[SILENCE] * num_slots,
                   class_index=torch.full((num_slots,), num_classes, dtype=torch.int64),
                   confidence=zeros.clone(), probability=zeros.clone(),
                   query=torch.zeros(num_slots, dtype=torch.bool),
                   report=torch.zeros(num_slots, dtype=torch.bool),
                   strong=torch.zeros(num_slots, num_frames),
                   weak=torch.zeros(num_slots, num_classes), slot_order=list(range(num_slots)))


class Bridge:
    """Tagger output -> labels, masks and separator queries (see the module docstring).

    Args:
        classes: the class inventory (tagger outputs ``C + 1`` classes, silence last).
        report_threshold: ``tau_r``; slots with confidence >= it are reported.
        query_threshold: ``tau_q <= tau_r``; slots with confidence >= it are separated.
        frame_threshold: None = soft strong query (the class's frame probability);
            a number in [0, 1] = binary query ``p >= frame_threshold`` (the separators are
            trained on binary oracle activity).
        query_hop: samples per query frame (1280 = 40 ms at 32 kHz, the separators'
            ``strong_hop``).
        sample_rate: of the mixture (32000).
        class_report_thresholds: ``{class: tau_r}`` replacing ``report_threshold`` for the
            slots labelled with that class (the per-class silence thresholds of the strongest
            2026 systems); each ``>= query_threshold``.
        argmax: the official baseline's rule instead of the thresholds: a slot is queried and
            reported iff its (C + 1)-way argmax is not ``silence`` (``max_c p[c] >= p[C]``;
            a tie goes to the class, as ``argmax`` returns the first maximum).

    Raises:
        ValueError: a threshold outside [0, 1], ``query_threshold > report_threshold`` (or a
            per-class value), a per-class key that is not a class of the inventory.
    """

    def __init__(self, report_threshold: float, query_threshold: float,
                 frame_threshold: Optional[float] = None, query_hop: int = QUERY_HOP,
                 sample_rate: int = SAMPLE_RATE, *, classes: ClassInventory,
                 class_report_thresholds: Optional[Mapping[str, float]] = None,
                 argmax: bool = False) -> None:
        self.classes = classes
        self.argmax = bool(argmax)
        self.report_threshold = _check_prob("report_threshold", report_threshold)
        self.query_threshold = _check_prob("query_threshold", query_threshold)
        if self.query_threshold > self.report_threshold:
            raise ValueError(
                f"query_threshold ({self.query_threshold:g}) must not exceed report_threshold "
                f"({self.report_threshold:g}): every reported slot must be separated")
        self.class_report_thresholds: Dict[str, float] = {}
        for label, value in dict(class_report_thresholds or {}).items():
            classes.check_label(str(label), where="class_report_thresholds")
            value = _check_prob(f"class_report_thresholds[{label}]", value)
            if value < self.query_threshold:
                raise ValueError(
                    f"class_report_thresholds[{label}] ({value:g}) must not be below "
                    f"query_threshold ({self.query_threshold:g}): every reported slot must be "
                    "separated")
            self.class_report_thresholds[str(label)] = value
        self._report_by_index = torch.full((classes.num_classes,), self.report_threshold)
        for label, value in self.class_report_thresholds.items():
            self._report_by_index[classes.label_to_index(label)] = value
        self.frame_threshold = (None if frame_threshold is None
                                else _check_prob("frame_threshold", frame_threshold))
        if isinstance(query_hop, bool) or int(query_hop) != query_hop or query_hop < 1:
            raise ValueError(f"query_hop must be a positive integer, got {query_hop!r}")
        self.query_hop = int(query_hop)
        self.sample_rate = int(sample_rate)

    def __repr__(self) -> str:
        return (f"Bridge(report_threshold={self.report_threshold:g}, "
                f"query_threshold={self.query_threshold:g}, frame_threshold={self.frame_threshold}, "
                f"query_hop={self.query_hop}" + (", argmax=True" if self.argmax else "")
                + (f", class_report_thresholds={self.class_report_thresholds}"
                   if self.class_report_thresholds else "") + ")")

    def num_query_frames(self, num_samples: int) -> int:
        """``T_q = ceil(num_samples / query_hop)``."""
        return -(-int(num_samples) // self.query_hop)

    def __call__(self, weak_prob: Tensor, strong_prob: Optional[Tensor],
                 frame_times: Optional[Tensor], num_samples: int) -> BridgeOutput:
        """One mixture.

        Args:
            weak_prob: ``[S, C + 1]`` clip probabilities per slot (``S <= 3``).
            strong_prob: ``[S, T, C + 1]`` frame probabilities, or None for a tagger without
                frame output (strong query = all ones on queried slots).
            frame_times: ``[T, 2]`` (start, end) seconds of the tagger frames (ignored when
                ``strong_prob`` is None).
            num_samples: mixture length ``n`` (sets ``T_q = ceil(n / query_hop)``).
        Returns:
            :class:`BridgeOutput`.
        """
        n_cls, silence = self.classes.num_classes, self.classes.silence_index
        weak_prob = torch.as_tensor(weak_prob).detach().float().cpu()
        if weak_prob.ndim != 2 or weak_prob.shape[1] != silence + 1:
            raise ValueError(f"Bridge: weak_prob must be [S, {silence + 1}] ({n_cls} classes + "
                             f"silence), got {tuple(weak_prob.shape)}")
        S = weak_prob.shape[0]
        if not 1 <= S <= NUM_SLOTS:
            raise ValueError(f"Bridge: {S} slots, expected 1..{NUM_SLOTS}")
        if not bool(torch.isfinite(weak_prob).all()):
            raise ValueError("Bridge: weak_prob has NaN/Inf values")
        tq = self.num_query_frames(num_samples)
        conf = 1.0 - weak_prob[:, silence]
        cls = weak_prob[:, :n_cls].argmax(dim=1)
        prob = weak_prob.gather(1, cls[:, None])[:, 0]
        if self.argmax:
            query = report = prob >= weak_prob[:, silence]
        else:
            query = conf >= self.query_threshold
            report = conf >= self._report_by_index[cls]
        if strong_prob is not None:
            strong_prob = torch.as_tensor(strong_prob).detach().float().cpu()
            if strong_prob.ndim != 3 or strong_prob.shape[0] != S \
                    or strong_prob.shape[2] != silence + 1:
                raise ValueError(f"Bridge: strong_prob must be [{S}, T, {silence + 1}], "
                                 f"got {tuple(strong_prob.shape)}")
            if frame_times is None:
                raise ValueError("Bridge: frame_times are needed with strong_prob")
            track = strong_prob.gather(2, cls[:, None, None].expand(S, strong_prob.shape[1], 1))
            track = resample_frames(track[..., 0], frame_times,
                                    query_grid(num_samples, self.query_hop, self.sample_rate))
            if self.frame_threshold is not None:
                track = (track >= self.frame_threshold).float()
        else:
            track = torch.ones(S, tq)
        # order: queried slots first by decreasing confidence (stable), then the silent ones
        order = sorted(range(S), key=lambda s: (not bool(query[s]), -float(conf[s]) if query[s]
                                                 else 0.0, s))
        idx = torch.tensor(order, dtype=torch.int64)
        query, report, conf, cls, prob, track = (t[idx] for t in (query, report, conf, cls, prob,
                                                                    track))
        weak = torch.zeros(S, n_cls)
        weak[query, cls[query]] = 1.0
        strong = torch.where(query[:, None], track, torch.zeros_like(track)).float()
        class_index = torch.where(query, cls, torch.full_like(cls, silence))
        labels = [self.classes.index_to_label(c) for c in class_index.tolist()]
        return BridgeOutput(labels=labels, class_index=class_index, confidence=conf.float(),
                            probability=torch.where(query, prob, torch.zeros_like(prob)).float(),
                            query=query, report=report & query, strong=strong, weak=weak,
                            slot_order=order)

    def from_tagger_output(self, output, index: int, num_samples: int,
                           has_strong: bool = True) -> BridgeOutput:
        """:meth:`__call__` on item ``index`` of a batched
        :class:`~s5tse.models.tagger.heads.TaggerOutput` (``has_strong=False``: ignore its
        ``strong_prob``, e.g. the M2DAT baseline's constant track)."""
        strong = output.strong_prob[index] if has_strong and output.strong_prob is not None else None
        return self(output.weak_prob[index], strong, output.frame_times, num_samples)


def oracle_queries(labels: Sequence[str], activities: Tensor, classes: ClassInventory) -> BridgeOutput:
    """Oracle decoding: reference ``labels`` (``K <= 3``, ``silence`` allowed) and their frame
    activity ``[K, T_q]`` on the query grid (e.g.
    :func:`~s5tse.datasets.targets.activity_from_reference`) -> every non-silence slot queried
    and reported with confidence and probability 1.0, weak = one-hot, strong = the activity.

    Non-silence slots keep their reference order and come first.
    """
    labels = list(labels)
    act = torch.as_tensor(activities).detach().float().cpu()
    if act.ndim != 2 or act.shape[0] != len(labels):
        raise ValueError(f"oracle_queries: activities must be [{len(labels)}, T_q], "
                         f"got {tuple(act.shape)}")
    if not 1 <= len(labels) <= NUM_SLOTS:
        raise ValueError(f"oracle_queries: {len(labels)} labels, expected 1..{NUM_SLOTS}")
    for lab in labels:
        classes.check_label(lab, allow_silence=True, where="oracle labels")
    order = [k for k, lab in enumerate(labels) if lab != SILENCE] + \
            [k for k, lab in enumerate(labels) if lab == SILENCE]
    labels = [labels[k] for k in order]
    act = act[torch.tensor(order, dtype=torch.int64)]
    active = torch.tensor([lab != SILENCE for lab in labels], dtype=torch.bool)
    class_index = torch.tensor([classes.label_to_index(lab) for lab in labels], dtype=torch.int64)
    weak = torch.zeros(len(labels), classes.num_classes)
    weak[active, class_index[active]] = 1.0
    strong = torch.where(active[:, None], act, torch.zeros_like(act))
    ones = active.float()
    return BridgeOutput(labels=labels, class_index=class_index, confidence=ones.clone(),
                        probability=ones.clone(), query=active.clone(), report=active.clone(),
                        strong=strong, weak=weak, slot_order=order)
