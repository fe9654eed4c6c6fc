"""Grid search of the report / query thresholds on a validation set (CAPI-SDRi, then Acc_mix).

For every mixture of the validation set (with references)::

    tagger once                          -> weak [3, C + 1], strong [3, T, C + 1]
    for each distinct tau_q of the grid:   Bridge(query_threshold=tau_q) -> query set
        separate once per distinct query set (equal sets of consecutive tau_q are reused)
        for each tau_r >= tau_q:           reported = queried slots with confidence >= tau_r
            capi_sdri(mixture ch 0, reported estimates, references), label counts

then per grid point ``(tau_q, tau_r)``: CAPI-SDRi (:func:`s5tse.metrics.capi.aggregate_capi`),
Acc_mix and Acc_src (:mod:`s5tse.metrics.labels`). The selected point has the largest
CAPI-SDRi (NaN -- no scorable mixture -- counts as -inf); ties (equal to 1e-9 dB) go to the
larger Acc_mix, then the larger Acc_src, then the first point in grid order (tau_q ascending,
then tau_r ascending). Re-scoring a tau_r costs a few SNRs; only tau_q needs the separator.

    rows, best = tune_thresholds(decoder, items, [0.1, 0.3, 0.5], [0.3, 0.5, 0.7])

**Per-class report thresholds** (:func:`tune_class_thresholds`), after the grid: at the
selected ``tau_q`` (so the separator outputs do not change) each mixture's separation is
scored for every subset of its queried slots (at most 2^3; the grid search keeps these tables,
so nothing is separated twice); then, class by class in inventory
order, the class's report threshold takes the value of the report grid (``>= tau_q``) that
maximises the same criterion with the other classes fixed (ties keep the current value), for
``passes`` rounds. Only classes some queried slot carries are visited.

    per_class, before, after = tune_class_thresholds(decoder, items, best.query_threshold,
                                                     best.report_threshold, [0.3, 0.5, 0.7])

**What each decision step adds** (:func:`decision_step_results`, :func:`aggregate_decision_steps`, on a test set with
references, from the values tuned on the validation set): ``argmax`` (the official baseline's
rule, no threshold), ``one threshold`` (``tau_q = tau_r``, the best point of the grid's
diagonal), ``decoupled`` (the selected ``tau_q``, ``tau_r``) and ``per-class`` (plus the
per-class report thresholds). The tagger runs once per mixture, the separator once per
distinct query set.

    steps = decision_steps(read_config_file("exp/tagger_x/decode_thresholds.yaml"))
    rows = aggregate_decision_steps(steps, decision_step_results(decoder, items, steps))
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from s5tse.bridge import Bridge, BridgeOutput
from s5tse.decode.inputs import DecodeItem, read_mixture, read_references
from s5tse.decode.runner import Decoder
from s5tse.labels import SILENCE
from s5tse.utils.progress import progress_bar

__all__ = ["GridRow", "threshold_grid", "parse_grid", "tune_thresholds", "tune_class_thresholds",
           "select_best", "select_single_threshold", "decision_steps", "decision_step_results",
           "aggregate_decision_steps", "StepResult",
           "DEFAULT_GRID"]

log = logging.getLogger(__name__)

DEFAULT_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class GridRow:
    """Scores of one grid point (CAPI-SDRi in dB or None if NaN; accuracies in percent)."""

    query_threshold: float
    report_threshold: float
    capi_sdri: Optional[float]
    acc_mix: float
    acc_src: float
    num_reported: int

    def as_dict(self) -> Dict[str, object]:
        return asdict(self)

    @classmethod
    def from_results(cls, query_threshold: float, report_threshold: float, results: Sequence,
                     num_reported: int) -> "GridRow":
        """The scores of the per-mixture CAPI-SDRi ``results`` (:func:`capi_sdri` outputs)."""
        from s5tse.metrics.capi import aggregate_capi
        from s5tse.metrics.labels import acc_mix, acc_src

        capi = aggregate_capi(r.value for r in results)
        return cls(query_threshold=query_threshold, report_threshold=report_threshold,
                   capi_sdri=None if math.isnan(capi) else float(capi),
                   acc_mix=float(acc_mix(results)), acc_src=float(acc_src(results)),
                   num_reported=int(num_reported))


def parse_grid(text: str, what: str) -> List[float]:
    """``"0.1,0.3,0.5"`` -> sorted unique floats in [0, 1]; one-line ValueError otherwise."""
    try:
        values = sorted({float(v) for v in str(text).split(",") if v.strip() != ""})
    except ValueError:
        raise ValueError(f"--{what} must be comma-separated numbers in [0, 1], got {text!r}") from None
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"--{what} must be comma-separated numbers in [0, 1], got {text!r}")
    return values


def threshold_grid(query_values: Sequence[float], report_values: Sequence[float]
                   ) -> List[Tuple[float, float]]:
    """Grid points ``(tau_q, tau_r)`` with ``tau_q <= tau_r``, tau_q ascending then tau_r."""
    pts = [(q, r) for q in sorted(set(query_values)) for r in sorted(set(report_values)) if q <= r]
    if not pts:
        raise ValueError("threshold grid is empty: every query threshold exceeds every report "
                         "threshold")
    return pts


def _signature(q: BridgeOutput) -> Tuple:
    return (tuple(q.labels), q.strong.numpy().tobytes(), q.weak.numpy().tobytes())


def _key(row: GridRow) -> Tuple[float, float, float]:
    capi = -math.inf if row.capi_sdri is None else round(row.capi_sdri, 9)
    return capi, round(row.acc_mix, 9), round(row.acc_src, 9)


def select_best(rows: Sequence[GridRow]) -> GridRow:
    """The selected row (module docstring: CAPI-SDRi, Acc_mix, Acc_src, grid order)."""
    best = rows[0]
    for row in rows[1:]:
        if _key(row) > _key(best):
            best = row
    return best


@dataclass
class StepResult:
    """One mixture under one decision step: its CAPI-SDRi (dB, None when no class is present),
    label counts and number of reported slots."""

    value: Optional[float]
    tp: int
    fp: int
    fn: int
    num_reported: int


def select_single_threshold(rows: Sequence[GridRow]) -> Optional[GridRow]:
    """The best row with ``tau_q == tau_r`` (one threshold for query and report), or None if
    the grid has no such point."""
    diagonal = [r for r in rows if r.query_threshold == r.report_threshold]
    return select_best(diagonal) if diagonal else None


def _item_inputs(decoder: Decoder, item: DecodeItem, resample: bool):
    """One validation mixture: ``(x [C, n], channel 0 [n], references [(label, wav)], tagger
    prediction)`` (the tagger runs once per mixture)."""
    x = read_mixture(item.mixture, resample)
    refs_wav = read_references(item, x.shape[-1], resample)
    refs = [(lab, refs_wav[k]) for k, lab in enumerate(item.labels) if lab != SILENCE]
    return x, x[0].numpy(), refs, decoder.predict(x)


def _query(decoder: Decoder, pred, query_threshold: float, frame_threshold: Optional[float],
           num_samples: int) -> BridgeOutput:
    """The queried slots at ``query_threshold`` (nothing reported: the tuning decides that)."""
    bridge = Bridge(1.0, query_threshold, frame_threshold, decoder.bridge.query_hop,
                    classes=decoder.bridge.classes)
    return _apply(bridge, pred, num_samples)


def _apply(bridge: Bridge, pred, num_samples: int) -> BridgeOutput:
    """``bridge`` on a :meth:`Decoder.predict` output (None, an all-zero mixture: nothing)."""
    if pred is None:
        return BridgeOutput.empty(3, bridge.num_query_frames(num_samples),
                                  bridge.classes.num_classes)
    return bridge(pred[0], pred[1], pred[2], num_samples)


def _subset_table(decoder: Decoder, q: BridgeOutput, sources: np.ndarray, mix0: np.ndarray,
                  refs) -> Tuple[list, dict]:
    """``(slots [(k, label, confidence)], {kept slots: capi_sdri result})`` for every subset of
    the queried slots of ``q`` (at most 2^3), from one separation."""
    from s5tse.metrics.capi import capi_sdri

    slots = [(k, q.labels[k], float(q.confidence[k])) for k in range(q.num_slots)
             if bool(q.query[k])]
    results = {}
    for mask in range(1 << len(slots)):
        kept = tuple(k for i, (k, _, _) in enumerate(slots) if mask >> i & 1)
        results[kept] = capi_sdri(mix0, [(q.labels[k], sources[k]) for k in kept], refs,
                                  decoder.bridge.classes)
    return slots, results


def tune_thresholds(decoder: Decoder, items: Sequence[DecodeItem], query_values: Sequence[float],
                    report_values: Sequence[float], frame_threshold: Optional[float] = None,
                    resample: bool = False, subset_tables: Optional[Dict[float, list]] = None
                    ) -> Tuple[List[GridRow], GridRow]:
    """Score every grid point on ``items`` (with references); return ``(rows, best)``.

    ``subset_tables``: a dict to fill with ``{tau_q: [per mixture (slots, {subset: result})]}``
    (every subset of the queried slots scored), which :func:`tune_class_thresholds` takes
    instead of separating again.
    """

    grid = threshold_grid(query_values, report_values)
    taus_q = sorted({q for q, _ in grid})
    results: Dict[Tuple[float, float], list] = {pt: [] for pt in grid}
    reported: Dict[Tuple[float, float], int] = {pt: 0 for pt in grid}
    num_sep = 0
    for n_item, item in enumerate(progress_bar(items, desc="threshold grid", unit="mixture"), start=1):
        x, mix0, refs, pred = _item_inputs(decoder, item, resample)
        cache: Dict[Tuple, Tuple[list, dict]] = {}
        for tq in taus_q:
            q = _query(decoder, pred, tq, frame_threshold, x.shape[-1])
            sig = _signature(q)
            if sig not in cache:
                cache[sig] = _subset_table(decoder, q, decoder.separate(x, q), mix0, refs)
                num_sep += int(q.any_query)
            slots, table = cache[sig]
            if subset_tables is not None:
                subset_tables.setdefault(tq, []).append((slots, table))
            for tq2, tr in grid:
                if tq2 != tq:
                    continue
                keep = tuple(k for k, _, conf in slots if conf >= tr)
                results[(tq, tr)].append(table[keep])
                reported[(tq, tr)] += len(keep)
        log.info("tuning: %d/%d %s (%d distinct query sets)", n_item, len(items), item.name,
                 len(cache))
    rows = [GridRow.from_results(pt[0], pt[1], results[pt], reported[pt]) for pt in grid]
    log.info("tuning: %d separator runs for %d mixtures x %d query thresholds", num_sep,
             len(items), len(taus_q))
    return rows, select_best(rows)


def tune_class_thresholds(decoder: Decoder, items: Sequence[DecodeItem], query_threshold: float,
                          report_threshold: float, report_values: Sequence[float],
                          frame_threshold: Optional[float] = None, resample: bool = False,
                          passes: int = 2, tables: Optional[list] = None
                          ) -> Tuple[Dict[str, float], GridRow, GridRow]:
    """Per-class report thresholds at ``query_threshold`` (module docstring).

    ``tables``: the ``subset_tables[query_threshold]`` that :func:`tune_thresholds` filled
    (nothing is separated again); None: one separation per mixture here.

    Returns:
        ``(per_class, before, after)``: the classes whose threshold differs from
        ``report_threshold`` with their value, and the scores with the single threshold and
        with the per-class ones.
    """
    classes = decoder.bridge.classes
    values = sorted({float(v) for v in report_values if v >= query_threshold} | {report_threshold})
    if tables is None:
        tables = []    # per mixture: (slots [(k, label, confidence)], {subset: result})
        for n_item, item in enumerate(progress_bar(items, desc="per-class", unit="mixture"), start=1):
            x, mix0, refs, pred = _item_inputs(decoder, item, resample)
            q = _query(decoder, pred, query_threshold, frame_threshold, x.shape[-1])
            tables.append(_subset_table(decoder, q, decoder.separate(x, q), mix0, refs))
            log.info("per-class tuning: %d/%d %s", n_item, len(items), item.name)

    def score(thresholds: Mapping[str, float]) -> GridRow:
        res, count = [], 0
        for slots, results in tables:
            kept = tuple(k for k, lab, conf in slots
                         if conf >= thresholds.get(lab, report_threshold))
            res.append(results[kept])
            count += len(kept)
        return GridRow.from_results(query_threshold, report_threshold, res, count)

    seen = {lab for slots, _ in tables for _, lab, _ in slots}
    current: Dict[str, float] = {}
    before = best = score(current)
    for _ in range(max(1, int(passes))):
        for label in (c for c in classes if c in seen):
            for value in values:
                trial = dict(current, **{label: value})
                row = score(trial)
                if _key(row) > _key(best):
                    best, current = row, trial
    per_class = {lab: v for lab, v in current.items() if v != report_threshold}
    log.info("per-class tuning: CAPI-SDRi %s -> %s dB with %d class threshold(s)",
             before.capi_sdri, best.capi_sdri, len(per_class))
    return per_class, before, best


def decision_steps(tuned: Mapping) -> List[Dict[str, object]]:
    """The decision steps (module docstring) from a ``decode_thresholds.yaml`` mapping:
    ``[{"name", "argmax", "query_threshold", "report_threshold", "class_report_thresholds"}]``.

    ``one threshold`` needs ``single_threshold`` (written by ``tune_thresholds``), ``per-class``
    needs ``class_report_thresholds`` (``--per_class true``); a step without its value is left
    out. Raises ValueError when ``query_threshold`` / ``report_threshold`` are missing.
    """
    if any(k not in tuned for k in ("query_threshold", "report_threshold")):
        raise ValueError("tuned thresholds need query_threshold and report_threshold "
                         "(python -m s5tse.bin.tune_thresholds writes them)")
    tau_q, tau_r = float(tuned["query_threshold"]), float(tuned["report_threshold"])
    steps: List[Dict[str, object]] = [dict(name="argmax", argmax=True, query_threshold=None,
                                           report_threshold=None, class_report_thresholds={})]
    single = tuned.get("single_threshold")
    if isinstance(single, Mapping) and single.get("threshold") is not None:
        tau = float(single["threshold"])
        steps.append(dict(name="one threshold", argmax=False, query_threshold=tau,
                          report_threshold=tau, class_report_thresholds={}))
    steps.append(dict(name="decoupled", argmax=False, query_threshold=tau_q,
                      report_threshold=tau_r, class_report_thresholds={}))
    if tuned.get("class_report_thresholds") is not None:
        steps.append(dict(name="per-class", argmax=False, query_threshold=tau_q,
                          report_threshold=tau_r,
                          class_report_thresholds=dict(tuned["class_report_thresholds"])))
    return steps


def decision_step_results(decoder: Decoder, items: Sequence[DecodeItem],
                          steps: Sequence[Mapping[str, object]], resample: bool = False
                          ) -> Dict[str, List[StepResult]]:
    """``{mixture name: [StepResult per step]}`` of each step of :func:`decision_steps` on
    ``items`` (with references): the tagger once per mixture, the separator once per distinct
    query set."""
    from s5tse.metrics.capi import capi_sdri

    base = decoder.bridge
    bridges = []
    for step in steps:
        argmax = bool(step.get("argmax"))
        bridges.append(Bridge(
            0.5 if argmax else float(step["report_threshold"]),
            0.5 if argmax else float(step["query_threshold"]), base.frame_threshold,
            base.query_hop, classes=base.classes, argmax=argmax,
            class_report_thresholds=step.get("class_report_thresholds") or None))
    out: Dict[str, List[StepResult]] = {}
    for n_item, item in enumerate(progress_bar(items, desc="decision steps", unit="mixture"), start=1):
        x, mix0, refs, pred = _item_inputs(decoder, item, resample)
        cache: Dict[Tuple, np.ndarray] = {}
        out[item.name] = []
        for bridge in bridges:
            q = _apply(bridge, pred, x.shape[-1])
            sig = _signature(q)
            if sig not in cache:
                cache[sig] = decoder.separate(x, q)
            keep = [k for k in range(q.num_slots) if q.report[k]]
            res = capi_sdri(mix0, [(q.labels[k], cache[sig][k]) for k in keep], refs,
                            base.classes)
            out[item.name].append(StepResult(res.value, res.tp, res.fp, res.fn, len(keep)))
        log.info("decision steps: %d/%d %s (%d distinct query sets)", n_item, len(items),
                 item.name, len(cache))
    return out


def aggregate_decision_steps(steps: Sequence[Mapping[str, object]],
                             results: Mapping[str, Sequence[StepResult]]
                             ) -> List[Dict[str, object]]:
    """Per step: its fields plus ``capi_sdri`` (dB, None if NaN), ``acc_mix``, ``acc_src`` (%)
    and ``num_reported`` over the mixtures of ``results`` (:func:`decision_step_results`)."""
    rows = []
    for i, step in enumerate(steps):
        res = [per_step[i] for per_step in results.values()]
        row = GridRow.from_results(0.0, 0.0, res, sum(r.num_reported for r in res))
        rows.append(dict(step, capi_sdri=row.capi_sdri, acc_mix=row.acc_mix,
                         acc_src=row.acc_src, num_reported=row.num_reported))
    return rows
