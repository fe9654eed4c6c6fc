"""CAPI-SDRi (class-aware, permutation-invariant SDR improvement; reference §5.2) and the
2025 CA-SDRi, from waveforms in memory.

Per mixture, with ``y`` the mixture's channel 0 and labels ``silence`` removed::

    classes C = set(estimated labels) ∪ set(reference labels)
    C empty                      -> value None (excluded from the set mean)
    for each class c (n̂_c estimates, n_c references):
        n̂_c == 0 or n_c == 0     -> max(n̂_c, n_c) entries of 0 dB (FN or FP)
        else t = min(n̂_c, n_c); over every t-subset of references (combinations, in
             order) x every ordered t-tuple of distinct estimates (permutations) pick the
             first pairing with the largest mean RAW SDR(est, ref); report
             SDRi = SDR(est, ref) - SDR(y, ref) for its t pairs, plus |n̂_c - n_c| entries
             of 0 dB
    value = mean of all entries   (denominator = #TP + #FP + #FN)

    CAPI-SDRi of a set = mean of the values that are not None   (aggregate_capi)

Consequences: a zero-target mixture predicted empty is ``None``; one with k predictions
is 0.0 and counts. An all-zero estimate with the right label has SDR 0 and SDRi
``-SDR(y, ref)``. The criterion (raw SDR) and the reported number (SDRi) differ only
when a class has more references than estimates (the subset choice).

Each estimate x reference SDR of a class is computed once (``pairwise_snr_db``) and the
search runs on that small matrix; ties go to the first pairing in the enumeration order
above, as ``argmax`` does. The official code compares float32 means, so for two
pairings within ~1e-6 dB of each other the choice may differ; this needs
near-identical estimates and affects the result only through the subset choice.

2025 CA-SDRi (``ca_sdri_2025``): set-based, one waveform per label — TP = set(est) ∩
set(ref), FP/FN the set differences; value = mean([SDRi of each TP] + [0] * (|FP| +
|FN|)); set mean = ``np.mean`` over ALL mixtures (aggregate_ca_sdri_2025). For a
duplicated label the LAST waveform of that label (list order) is used, like the 2025
code's dict. 2025 had no zero-target mixtures; for a mixture without TP, FP and FN
(zero-target, predicted empty) the 2025 code would produce NaN (mean of nothing) —
here its value is defined as 0.0 and it is counted in the mean.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations, permutations
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from s5tse.labels import SILENCE, ClassInventory
from s5tse.metrics.sdr import pairwise_snr_db, snr_db

__all__ = [
    "MixtureResult",
    "capi_sdri",
    "score_mixture",
    "best_pairing",
    "aggregate_capi",
    "ca_sdri_2025",
    "aggregate_ca_sdri_2025",
]

Labeled = Tuple[str, np.ndarray]


@dataclass
class MixtureResult:
    """CAPI-SDRi of one mixture.

    Attributes:
        value: mean over the TP/FP/FN entries (dB); None when no class is present.
        tp, fp, fn: multiset label counts (silence removed).
        pairs: matched (TP) pairs ``(label, est_idx, ref_idx, sdr, sdri)``; indices into the
            ``estimates`` / ``references`` lists given to :func:`capi_sdri`.
        fp_entries: unmatched estimates ``(label, est_idx)`` (0 dB each).
        fn_entries: unmatched references ``(label, ref_idx)`` (0 dB each).
    """

    value: Optional[float]
    tp: int
    fp: int
    fn: int
    pairs: List[Tuple[str, int, int, float, float]] = field(default_factory=list)
    fp_entries: List[Tuple[str, int]] = field(default_factory=list)
    fn_entries: List[Tuple[str, int]] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """True when the label multisets are equal (Acc_mix's criterion)."""
        return self.fp == 0 and self.fn == 0


def _check_label(label: object, classes: Optional[ClassInventory], where: str) -> None:
    if classes is not None:
        classes.check_label(label, allow_silence=True, where=where)
    elif not isinstance(label, str) or not label:
        raise ValueError(f"{where}: label must be a non-empty string, got {label!r}")


def _check_inputs(mixture_ch0, estimates: Sequence[Labeled], references: Sequence[Labeled],
                  classes: Optional[ClassInventory] = None):
    mix = np.asarray(mixture_ch0)
    if mix.ndim != 1 or mix.shape[0] == 0:
        raise ValueError(f"mixture_ch0 must be a non-empty 1-d array [T], got shape {mix.shape}")
    length = mix.shape[0]
    out = []
    for what, items in (("estimate", estimates), ("reference", references)):
        checked = []
        for i, item in enumerate(items):
            try:
                label, wav = item
            except (TypeError, ValueError):
                raise ValueError(f"{what} {i}: expected a (label, waveform) pair") from None
            _check_label(label, classes, f"{what} {i}")
            wav = np.asarray(wav)
            if wav.shape != (length,):
                raise ValueError(
                    f"{what} {i} ({label}): waveform shape {wav.shape}, expected ({length},) "
                    f"like the mixture"
                )
            checked.append((label, wav))
        out.append(checked)
    return mix, out[0], out[1]


def _by_class(items: Sequence[Labeled]) -> Dict[str, List[int]]:
    groups: Dict[str, List[int]] = {}
    for i, (label, _) in enumerate(items):
        if label != SILENCE:
            groups.setdefault(label, []).append(i)
    return groups


def best_pairing(sdr: np.ndarray) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """The pairing maximising the mean of ``sdr[est, ref]`` over ``t = min(E, R)`` pairs.

    Args:
        sdr: ``[E, R]`` matrix (E, R >= 1) of raw SDRs of one class.
    Returns:
        ``(est_indices, ref_indices)``, each of length t, paired position-wise. Reference
        subsets are enumerated with ``itertools.combinations`` (outer loop) and estimate
        tuples with ``itertools.permutations`` (inner loop); the first maximum wins.
    """
    n_est, n_ref = sdr.shape
    if n_est == 0 or n_ref == 0:
        raise ValueError(f"best_pairing needs at least one estimate and one reference, got {sdr.shape}")
    t = min(n_est, n_ref)
    best = None
    best_score = -np.inf
    for refs in combinations(range(n_ref), t):
        for ests in permutations(range(n_est), t):
            score = sum(float(sdr[e, r]) for e, r in zip(ests, refs)) / t
            if best is None or score > best_score:
                best, best_score = (ests, refs), score
    return best


@dataclass
class _ClassTable:
    """SDRs of one class present on both sides: indices into the lists, raw SDR [n̂_c, n_c]
    and SDR of the mixture against each reference [n_c]."""

    est_idx: List[int]
    ref_idx: List[int]
    sdr: np.ndarray
    mix_sdr: np.ndarray


def _tables(mix: np.ndarray, ests: Sequence[Labeled], refs: Sequence[Labeled],
            inventory: Optional[ClassInventory] = None):
    """Classes present (inventory order, else name order), estimate/reference indices per
    class, and the SDR tables of the classes on both sides (each signal converted to float64
    once)."""
    est_groups, ref_groups = _by_class(ests), _by_class(refs)
    present = set(est_groups) | set(ref_groups)
    if inventory is not None:
        classes = sorted(present, key=inventory.label_to_index)
    else:
        classes = sorted(present)
    tables: Dict[str, _ClassTable] = {}
    mix64 = None
    for c in classes:
        e_idx, r_idx = est_groups.get(c, []), ref_groups.get(c, [])
        if e_idx and r_idx:
            if mix64 is None:
                mix64 = mix.astype(np.float64)
            r64 = np.stack([refs[j][1] for j in r_idx]).astype(np.float64)
            e64 = np.stack([ests[i][1] for i in e_idx]).astype(np.float64)
            tables[c] = _ClassTable(e_idx, r_idx, pairwise_snr_db(e64, r64),
                                    snr_db(mix64[None, :], r64))
    return classes, est_groups, ref_groups, tables


def _capi_from_tables(classes, est_groups, ref_groups, tables) -> MixtureResult:
    result = MixtureResult(value=None, tp=0, fp=0, fn=0)
    if not classes:
        return result
    total = 0.0
    for c in classes:
        e_idx, r_idx = est_groups.get(c, []), ref_groups.get(c, [])
        used_e, used_r = set(), set()
        if c in tables:
            tab = tables[c]
            sel_e, sel_r = best_pairing(tab.sdr)
            for e, r in zip(sel_e, sel_r):
                raw = float(tab.sdr[e, r])
                sdri = raw - float(tab.mix_sdr[r])
                result.pairs.append((c, e_idx[e], r_idx[r], raw, sdri))
                total += sdri
            used_e, used_r = set(sel_e), set(sel_r)
        result.fp_entries += [(c, e_idx[k]) for k in range(len(e_idx)) if k not in used_e]
        result.fn_entries += [(c, r_idx[k]) for k in range(len(r_idx)) if k not in used_r]
    result.tp = len(result.pairs)
    result.fp = len(result.fp_entries)
    result.fn = len(result.fn_entries)
    result.value = total / (result.tp + result.fp + result.fn)
    return result


def _ca2025_from_tables(classes, est_groups, ref_groups, tables) -> float:
    # set-based: a class is TP when on both sides; its LAST estimate and reference are used
    if not classes:
        return 0.0
    total = 0.0
    for c in tables:
        tab = tables[c]
        total += float(tab.sdr[-1, -1]) - float(tab.mix_sdr[-1])
    return total / len(classes)  # |TP| + |FP| + |FN| = number of classes present


def capi_sdri(mixture_ch0, estimates: Sequence[Labeled], references: Sequence[Labeled],
              classes: Optional[ClassInventory] = None) -> MixtureResult:
    """CAPI-SDRi of one mixture (see the module docstring).

    Args:
        mixture_ch0: channel 0 of the mixture ``[T]`` (the "unprocessed" signal).
        estimates: ``(label, waveform [T])`` pairs; ``silence`` entries are ignored.
        references: ``(label, waveform [T])`` pairs; ``silence`` entries are ignored.
        classes: the class inventory: labels must be in it, and classes are visited in its
            order (None: any non-empty label, name order).
    Returns:
        a :class:`MixtureResult`.
    Raises:
        ValueError: unknown label, waveform not 1-d of the mixture's length.
    """
    mix, ests, refs = _check_inputs(mixture_ch0, estimates, references, classes)
    return _capi_from_tables(*_tables(mix, ests, refs, classes))


def score_mixture(
    mixture_ch0, estimates: Sequence[Labeled], references: Sequence[Labeled],
    classes: Optional[ClassInventory] = None,
) -> Tuple[MixtureResult, float]:
    """``(capi_sdri(...), ca_sdri_2025(...))`` sharing the SDR computations."""
    mix, ests, refs = _check_inputs(mixture_ch0, estimates, references, classes)
    parts = _tables(mix, ests, refs, classes)
    return _capi_from_tables(*parts), _ca2025_from_tables(*parts)


def aggregate_capi(values: Iterable[Optional[float]]) -> float:
    """CAPI-SDRi of a set: mean of the per-mixture values that are not None.

    Returns NaN when every value is None (the official code would divide by zero).
    """
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else float("nan")


def ca_sdri_2025(mixture_ch0, estimates: Sequence[Labeled], references: Sequence[Labeled],
                 classes: Optional[ClassInventory] = None) -> float:
    """2025 CA-SDRi of one mixture (set-based; see the module docstring).

    Same arguments and errors as :func:`capi_sdri`. A mixture with no TP, FP or FN gives 0.0.
    """
    mix, ests, refs = _check_inputs(mixture_ch0, estimates, references, classes)
    return _ca2025_from_tables(*_tables(mix, ests, refs, classes))


def aggregate_ca_sdri_2025(values: Iterable[float]) -> float:
    """2025 set score: mean over ALL mixtures (``np.mean``); NaN for an empty set."""
    vals = [float(v) for v in values]
    return float(np.mean(vals)) if vals else float("nan")
