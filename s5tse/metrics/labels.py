"""Label accuracy of DCASE 2026 Task 4 (reference §5.3).

Labels are compared as multisets (``collections.Counter``) after removing ``silence``;
a duplicated class counts once per occurrence::

    tp = |est ∩ ref| (multiset intersection), fp = |est| - tp, fn = |ref| - tp,
    exact = (est == ref as multisets)

    Acc_mix = 100 * mean(exact)                     over all mixtures
    Acc_src = 100 * sum(tp) / (sum(tp) + sum(fp) + sum(fn))   pooled over the set

A zero-target mixture predicted empty is exact (counts as correct in Acc_mix) and adds
nothing to Acc_src. **Choice:** when the pooled denominator of Acc_src is 0 (every
mixture zero-target and predicted empty) Acc_src is defined as 100.0 (nothing to find,
nothing wrongly predicted); the official code would divide by zero there. An empty set
of mixtures is an error for both accuracies.

    label_counts(["Speech", "Speech"], ["Speech"])   # (1, 1, 0, False)
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Optional, Sequence, Tuple

from s5tse.labels import SILENCE, ClassInventory

__all__ = ["label_counts", "acc_mix", "acc_src"]


def _multiset(labels: Sequence[str], what: str, classes: Optional[ClassInventory]) -> Counter:
    out: Counter = Counter()
    for label in labels:
        if classes is not None:
            classes.check_label(label, allow_silence=True, where=what)
        elif not isinstance(label, str) or not label:
            raise ValueError(f"{what}: label must be a non-empty string, got {label!r}")
        if label != SILENCE:
            out[label] += 1
    return out


def label_counts(est_labels: Sequence[str], ref_labels: Sequence[str],
                 classes: Optional[ClassInventory] = None) -> Tuple[int, int, int, bool]:
    """``(tp, fp, fn, exact)`` of one mixture; ``silence`` entries are ignored.

    Raises ValueError for a label that is neither in ``classes`` (when given) nor ``silence``.
    """
    est = _multiset(est_labels, "estimated labels", classes)
    ref = _multiset(ref_labels, "reference labels", classes)
    tp = sum((est & ref).values())
    fp = sum(est.values()) - tp
    fn = sum(ref.values()) - tp
    return tp, fp, fn, est == ref


def _tp_fp_fn(result) -> Tuple[int, int, int]:
    """Counts of one result: an object with ``tp``/``fp``/``fn`` or a ``(tp, fp, fn[, exact])`` tuple."""
    if hasattr(result, "tp"):
        return int(result.tp), int(result.fp), int(result.fn)
    tp, fp, fn = result[:3]
    return int(tp), int(fp), int(fn)


def acc_mix(results: Iterable) -> float:
    """Percentage of mixtures whose label multiset is exact (``fp == fn == 0``).

    Args:
        results: per-mixture counts: objects with ``tp``, ``fp``, ``fn`` attributes (e.g.
            :class:`s5tse.metrics.capi.MixtureResult`) or tuples from :func:`label_counts`.
    Raises:
        ValueError: no mixtures.
    """
    counts = [_tp_fp_fn(r) for r in results]
    if not counts:
        raise ValueError("acc_mix: no mixtures")
    exact = sum(1 for _, fp, fn in counts if fp == 0 and fn == 0)
    return exact * 100 / len(counts)


def acc_src(results: Iterable) -> float:
    """Pooled source accuracy ``100 * Σtp / (Σtp + Σfp + Σfn)``; 100.0 when the denominator is 0.

    Args and errors as :func:`acc_mix`.
    """
    counts = [_tp_fp_fn(r) for r in results]
    if not counts:
        raise ValueError("acc_src: no mixtures")
    tp = sum(c[0] for c in counts)
    den = tp + sum(c[1] for c in counts) + sum(c[2] for c in counts)
    return 100.0 if den == 0 else tp * 100 / den
