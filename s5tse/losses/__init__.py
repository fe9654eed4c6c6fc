"""Training losses of s5tse.

* :mod:`s5tse.losses.pit_tagger` -- permutation-invariant slot losses of the taggers
  (:class:`TaggerPITLoss`, :func:`baseline_pit_ce`).
"""
from s5tse.losses.pit_tagger import (
    TaggerPITLoss,
    baseline_pit_ce,
    reorder_slots,
    slot_permutations,
    strong_class_targets,
)

__all__ = ["TaggerPITLoss", "baseline_pit_ce", "reorder_slots", "slot_permutations",
           "strong_class_targets"]
