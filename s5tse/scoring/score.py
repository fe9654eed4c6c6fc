"""Score a set of soundscapes: CAPI-SDRi, Acc_mix, Acc_src (ranking metrics of DCASE 2026
Task 4), the 2025 CA-SDRi, the mean raw SDR of the matched pairs, and breakdowns.

    items = items_from_folders(soundscape_dir, oracle_dir, estimate_dir, classes)  # s5tse.scoring.io
    result = score_set(items, nj=4, unprocessed=True, classes=classes)
    write_scores(result, "exp/x/scores",
                 extra_rows={"unprocessed mixture (oracle labels)": headline(result.unprocessed)})

``score_set`` reads and scores each soundscape (in a process pool when ``nj > 1``; the
results are identical and sorted by soundscape name in byte order).

Breakdowns (``SetResult.breakdown``):

* ``per_class``: for each class c, the CAPI-style entries whose class is c — its TP pairs
  (their SDRi) and its unmatched FP/FN (0 dB each) — with ``capi_sdri`` = mean over
  those entries, the TP/FP/FN counts and the mean SDR/SDRi of its TP pairs;
* ``by_num_refs``: headline numbers of the mixtures with 0, 1, 2, 3 reference targets;
* ``duplicates``: the same for the mixtures with / without a same-class duplicate among
  their references.

With ``unprocessed=True`` the mixture's channel 0 is also scored as the estimate of every
reference (``SetResult.unprocessed``), and ``SetResult.mixture_sdr`` (``scores.json`` key
``mixture_sdr``) is its mean SDR (dB) against the reference sources: the input level that
SDRi = SDR(estimate) - SDR(mixture) is measured from.

Every NaN (an empty subset) is written as ``null`` in ``scores.json`` and ``-`` in
``scores.md``.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from s5tse.fileio.atomic import atomic_write_text
from s5tse.fileio.table import byte_order
from s5tse.labels import ClassInventory
from s5tse.metrics.capi import (
    MixtureResult,
    aggregate_ca_sdri_2025,
    aggregate_capi,
    score_mixture,
)
from s5tse.metrics.labels import acc_mix, acc_src
from s5tse.scoring.io import LoadedItem, ScoringItem, load_item
from s5tse.utils.progress import progress_bar

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "ItemResult",
    "SetResult",
    "HEADLINE_KEYS",
    "score_loaded",
    "score_item",
    "score_set",
    "summarize",
    "headline",
    "unprocessed_estimates",
    "write_scores",
    "scores_dict",
    "format_markdown",
    "format_headline",
]

HEADLINE_KEYS = ("capi_sdri", "acc_mix", "acc_src")
_COLUMNS = (
    ("capi_sdri", "CAPI-SDRi (dB)"),
    ("acc_mix", "Acc_mix (%)"),
    ("acc_src", "Acc_src (%)"),
    ("ca_sdri_2025", "CA-SDRi 2025 (dB)"),
    ("mean_sdr", "mean SDR of TP pairs (dB)"),
)


@dataclass
class ItemResult:
    """Scores of one soundscape (no waveforms: cheap to pass between processes)."""

    name: str
    est_labels: List[str]
    ref_labels: List[str]
    capi: MixtureResult
    ca_sdri_2025: float

    @property
    def has_duplicates(self) -> bool:
        """True when a class occurs more than once among the references."""
        return any(n > 1 for n in Counter(self.ref_labels).values())


@dataclass
class SetResult:
    """Scores of a set; ``items`` sorted by name. NaN where a mean has nothing to average."""

    items: List[ItemResult]
    capi_sdri: float
    acc_mix: float
    acc_src: float
    ca_sdri_2025: float
    mean_sdr: float  # mean raw SDR of the matched (TP) pairs
    mean_sdri_tp: float  # mean SDRi of the matched pairs
    n_mixtures: int
    n_scored: int  # mixtures whose CAPI-SDRi is not None
    tp: int
    fp: int
    fn: int
    breakdown: Dict[str, object] = field(default_factory=dict)
    unprocessed: Optional["SetResult"] = None

    @property
    def mixture_sdr(self) -> Optional[float]:
        """Mean SDR (dB) of the mixture's channel 0 against every reference source (NaN: no
        reference); None unless scored with ``unprocessed=True``. Every reference is a TP pair
        of the unprocessed row, so this is that row's mean SDR."""
        return None if self.unprocessed is None else self.unprocessed.mean_sdr


def unprocessed_estimates(item: LoadedItem) -> List[Tuple[str, "object"]]:
    """For each reference label, the mixture's channel 0 as its estimate.

    Scored, this is the "unprocessed mixture with oracle labels" row: its CAPI-SDRi is 0 by
    definition (SDRi of the mixture itself), Acc_mix = Acc_src = 100, and its mean raw SDR
    is the input SDR of the references (every reference is matched to a copy of the
    mixture, so the TP pairs are all the references).
    """
    return [(label, item.mixture_ch0) for label, _ in item.refs]


def score_loaded(item: LoadedItem, classes: Optional[ClassInventory] = None) -> ItemResult:
    """Score one soundscape in memory (labels checked against ``classes`` when given)."""
    capi, ca2025 = score_mixture(item.mixture_ch0, item.ests, item.refs, classes)
    return ItemResult(
        name=item.name,
        est_labels=[label for label, _ in item.ests],
        ref_labels=[label for label, _ in item.refs],
        capi=capi,
        ca_sdri_2025=ca2025,
    )


def score_item(
    item: Union[ScoringItem, LoadedItem], unprocessed: bool = False,
    classes: Optional[ClassInventory] = None,
) -> Tuple[ItemResult, Optional[ItemResult]]:
    """Read (if needed) and score one soundscape; optionally also its unprocessed row."""
    loaded = item if isinstance(item, LoadedItem) else load_item(item)
    res = score_loaded(loaded, classes)
    unp = None
    if unprocessed:
        unp = score_loaded(LoadedItem(loaded.name, loaded.mixture_ch0, loaded.refs,
                                      unprocessed_estimates(loaded)), classes)
    return res, unp


def _score_job(args) -> Tuple[ItemResult, Optional[ItemResult]]:
    return score_item(*args)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _stats(items: Sequence[ItemResult]) -> Dict[str, object]:
    """Headline numbers of a subset (NaN where undefined, e.g. an empty subset)."""
    pairs = [p for it in items for p in it.capi.pairs]
    return {
        "n_mixtures": len(items),
        "n_scored": sum(1 for it in items if it.capi.value is not None),
        "capi_sdri": aggregate_capi(it.capi.value for it in items),
        "acc_mix": acc_mix(it.capi for it in items) if items else float("nan"),
        "acc_src": acc_src(it.capi for it in items) if items else float("nan"),
        "ca_sdri_2025": aggregate_ca_sdri_2025(it.ca_sdri_2025 for it in items),
        "mean_sdr": _mean([p[3] for p in pairs]),
    }


def _per_class(items: Sequence[ItemResult],
               classes: Optional[ClassInventory]) -> Dict[str, Dict[str, object]]:
    acc: Dict[str, Dict[str, list]] = {}
    for it in items:
        for label, _, _, sdr, sdri in it.capi.pairs:
            acc.setdefault(label, {"tp": [], "fp": 0, "fn": 0})["tp"].append((sdr, sdri))
        for label, _ in it.capi.fp_entries:
            acc.setdefault(label, {"tp": [], "fp": 0, "fn": 0})["fp"] += 1
        for label, _ in it.capi.fn_entries:
            acc.setdefault(label, {"tp": [], "fp": 0, "fn": 0})["fn"] += 1
    out = {}
    order = classes.classes if classes is not None else sorted(acc)
    for label in order:
        if label not in acc:
            continue
        a = acc[label]
        tp = len(a["tp"])
        n = tp + a["fp"] + a["fn"]
        out[label] = {
            "tp": tp,
            "fp": a["fp"],
            "fn": a["fn"],
            "capi_sdri": sum(s for _, s in a["tp"]) / n,
            "mean_sdr_tp": _mean([s for s, _ in a["tp"]]),
            "mean_sdri_tp": _mean([s for _, s in a["tp"]]),
        }
    return out


def summarize(items: Iterable[ItemResult], classes: Optional[ClassInventory] = None) -> SetResult:
    """Set-level numbers and breakdowns of per-soundscape results (sorted by name here;
    ``per_class`` in inventory order, else name order)."""
    items = sorted(items, key=lambda it: byte_order(it.name))
    if not items:
        raise ValueError("no soundscapes to score")
    pairs = [p for it in items for p in it.capi.pairs]
    by_refs: Dict[str, Dict[str, object]] = {}
    for n in sorted({len(it.ref_labels) for it in items} | {0, 1, 2, 3}):
        by_refs[str(n)] = _stats([it for it in items if len(it.ref_labels) == n])
    return SetResult(
        items=items,
        capi_sdri=aggregate_capi(it.capi.value for it in items),
        acc_mix=acc_mix(it.capi for it in items),
        acc_src=acc_src(it.capi for it in items),
        ca_sdri_2025=aggregate_ca_sdri_2025(it.ca_sdri_2025 for it in items),
        mean_sdr=_mean([p[3] for p in pairs]),
        mean_sdri_tp=_mean([p[4] for p in pairs]),
        n_mixtures=len(items),
        n_scored=sum(1 for it in items if it.capi.value is not None),
        tp=sum(it.capi.tp for it in items),
        fp=sum(it.capi.fp for it in items),
        fn=sum(it.capi.fn for it in items),
        breakdown={
            "per_class": _per_class(items, classes),
            "by_num_refs": by_refs,
            "duplicates": {
                "with_duplicates": _stats([it for it in items if it.has_duplicates]),
                "without_duplicates": _stats([it for it in items if not it.has_duplicates]),
            },
        },
    )


def score_set(
    items: Sequence[Union[ScoringItem, LoadedItem]], *, nj: int = 1, unprocessed: bool = False,
    classes: Optional[ClassInventory] = None,
) -> SetResult:
    """Score every soundscape and summarise.

    Args:
        items: from :mod:`s5tse.scoring.io` (read here) or already loaded.
        nj: worker processes (``> 1``: a multiprocessing pool; same results, same order).
        unprocessed: also score the mixture's channel 0 as the estimate of every reference
            (:func:`unprocessed_estimates`); the result goes to ``SetResult.unprocessed`` and
            its mean raw SDR to ``SetResult.mixture_sdr``.
        classes: the class inventory (labels checked, classes visited in its order).
    Raises:
        ScoringError (ValueError) for bad input, from the first failing soundscape.
    """
    if nj < 1:
        raise ValueError(f"nj must be >= 1, got {nj}")
    jobs = [(item, unprocessed, classes) for item in items]
    if not jobs:
        raise ValueError("no soundscapes to score")
    nj = min(nj, len(jobs))
    bar = dict(total=len(jobs), desc="score", unit="soundscape")
    if nj == 1:
        outputs = [_score_job(job) for job in progress_bar(jobs, **bar)]
    else:
        chunk = max(1, min(16, len(jobs) // (4 * nj)))
        with multiprocessing.get_context().Pool(nj) as pool:
            outputs = list(progress_bar(pool.imap(_score_job, jobs, chunksize=chunk), **bar))
    result = summarize((out[0] for out in outputs), classes)
    if unprocessed:
        result.unprocessed = summarize((out[1] for out in outputs), classes)
    return result


def headline(result: SetResult) -> Dict[str, float]:
    """The row of the headline table: CAPI-SDRi, Acc_mix, Acc_src, CA-SDRi 2025, mean SDR."""
    return {key: getattr(result, key) for key, _ in _COLUMNS}


# --------------------------------------------------------------------------- writing


def _clean(obj):
    """JSON-safe copy: NaN/Inf -> None, tuples -> lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _per_mixture(items: Sequence[ItemResult]) -> Dict[str, object]:
    return {
        it.name: {
            "est_labels": it.est_labels,
            "ref_labels": it.ref_labels,
            "capi_sdri": it.capi.value,
            "ca_sdri_2025": it.ca_sdri_2025,
            "tp": it.capi.tp,
            "fp": it.capi.fp,
            "fn": it.capi.fn,
            "pairs": [
                {"label": label, "est": e, "ref": r, "sdr": sdr, "sdri": sdri}
                for label, e, r, sdr, sdri in it.capi.pairs
            ],
        }
        for it in items
    }


def scores_dict(result: SetResult, extra_rows: Optional[Mapping[str, Mapping[str, float]]] = None) -> Dict:
    """What ``scores.json`` holds (before NaN -> null)."""
    out: Dict[str, object] = {
        "capi_sdri": result.capi_sdri,
        "acc_mix": result.acc_mix,
        "acc_src": result.acc_src,
        "n_mixtures": result.n_mixtures,
        "ca_sdri_2025": result.ca_sdri_2025,
        "mean_sdr": result.mean_sdr,
        "mean_sdri_tp": result.mean_sdri_tp,
        "n_scored": result.n_scored,
        "counts": {"tp": result.tp, "fp": result.fp, "fn": result.fn},
        "breakdown": result.breakdown,
    }
    if result.mixture_sdr is not None:
        out["mixture_sdr"] = result.mixture_sdr
    if extra_rows:
        out["extra_rows"] = {name: dict(row) for name, row in extra_rows.items()}
    out["per_mixture"] = _per_mixture(result.items)
    return out


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _stats_row(name: str, s: Mapping[str, object]) -> List[str]:
    return [name, _fmt(s["n_mixtures"]), _fmt(s["n_scored"]), _fmt(s["capi_sdri"]),
            _fmt(s["acc_mix"]), _fmt(s["acc_src"]), _fmt(s["ca_sdri_2025"]), _fmt(s["mean_sdr"])]


_STATS_HEADER = ["mixtures", "scored", "CAPI-SDRi (dB)", "Acc_mix (%)", "Acc_src (%)",
                 "CA-SDRi 2025 (dB)", "mean SDR of TP pairs (dB)"]


def format_markdown(result: SetResult, extra_rows: Optional[Mapping[str, Mapping[str, float]]] = None) -> str:
    """The text of ``scores.md``."""
    rows = [["system"] + [_fmt(getattr(result, key)) for key, _ in _COLUMNS]]
    for name, row in (extra_rows or {}).items():
        rows.append([name] + [_fmt(row.get(key)) for key, _ in _COLUMNS])
    excluded = result.n_mixtures - result.n_scored
    lines = ["# Scores", ""]
    lines += _table(["row"] + [title for _, title in _COLUMNS], rows)
    lines += [
        "",
        f"{result.n_mixtures} mixtures; CAPI-SDRi averages {result.n_scored} "
        f"({excluded} zero-target mixture(s) predicted empty are excluded). "
        f"Labels: {result.tp} TP, {result.fp} FP, {result.fn} FN.",
    ]
    if result.unprocessed is not None:
        lines += ["", f"Unprocessed mixture (channel 0): mean SDR {_fmt(result.mixture_sdr)} dB "
                      f"against the {result.unprocessed.tp} reference source(s)."]
    lines += [
        "",
        "## By number of reference targets",
        "",
    ]
    by_refs = result.breakdown["by_num_refs"]
    lines += _table(["targets"] + _STATS_HEADER, [_stats_row(n, s) for n, s in by_refs.items()])
    lines += ["", "## Same-class duplicates among the references", ""]
    dup = result.breakdown["duplicates"]
    lines += _table(["subset"] + _STATS_HEADER, [
        _stats_row("with duplicates", dup["with_duplicates"]),
        _stats_row("without duplicates", dup["without_duplicates"]),
    ])
    lines += ["", "## Per class", "",
              "CAPI-SDRi of a class: mean over its entries (SDRi of its TP pairs, 0 dB per FP/FN).", ""]
    lines += _table(
        ["class", "TP", "FP", "FN", "CAPI-SDRi (dB)", "mean SDR of TP (dB)", "mean SDRi of TP (dB)"],
        [[label, _fmt(s["tp"]), _fmt(s["fp"]), _fmt(s["fn"]), _fmt(s["capi_sdri"]),
          _fmt(s["mean_sdr_tp"]), _fmt(s["mean_sdri_tp"])]
         for label, s in result.breakdown["per_class"].items()],
    )
    return "\n".join(lines) + "\n"


def write_scores(
    result: SetResult,
    out_dir: PathLike,
    *,
    extra_rows: Optional[Mapping[str, Mapping[str, float]]] = None,
) -> Tuple[Path, Path]:
    """Write ``out_dir/scores.json`` and ``out_dir/scores.md`` atomically; returns both paths.

    Args:
        result: from :func:`score_set`.
        out_dir: created if needed.
        extra_rows: named rows for the headline table (e.g. ``"unprocessed mixture"``,
            ``"oracle labels"``), each a dict with any of ``capi_sdri``, ``acc_mix``,
            ``acc_src``, ``ca_sdri_2025``, ``mean_sdr``; also stored under ``extra_rows`` in
            the JSON.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = _clean(scores_dict(result, extra_rows))
    json_path, md_path = out / "scores.json", out / "scores.md"
    atomic_write_text(json_path, json.dumps(data, indent=2, allow_nan=False) + "\n")
    atomic_write_text(md_path, format_markdown(result, extra_rows))
    return json_path, md_path


def format_headline(result: SetResult) -> List[str]:
    """Lines printed by the CLI."""
    return [
        f"CAPI-SDRi:    {_fmt(result.capi_sdri)} dB  ({result.n_scored} of {result.n_mixtures} mixtures)",
        f"Acc_mix:      {_fmt(result.acc_mix)} %",
        f"Acc_src:      {_fmt(result.acc_src)} %",
        f"CA-SDRi 2025: {_fmt(result.ca_sdri_2025)} dB",
        f"mean SDR of TP pairs: {_fmt(result.mean_sdr)} dB",
    ]
