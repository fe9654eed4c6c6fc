"""The official evaluator's results file (``<config>_results.json`` of the DCASE 2026 Task 4
baseline's ``src.evaluation.evaluate``), which a submission ships as
``dev_set_test_results.json`` (reference §5.4).

Structure (keys and value types as the official file; ``json.dump(indent=4)``)::

    {"CAPI-SDRi":     {"mean": float},                        # mean over scored mixtures
     "label_metrics": {"accuracy_mix": float, "accuracy_src": float},   # percent
     "nparams":       int,                                    # only when known (a model ran)
     "details": [                                             # one per mixture, name order
        {"soundscape": "test_0000",
         "ref_labels": ["Speech", "Dishes", "silence"],       # padded to 3 with silence
         "est_labels": ["silence", "Speech", "silence"],      # one per output slot
         "probabilities": [1.0, 0.93, 1.0],                   # one per output slot
         "metrics": [{"metric": "CAPI-SDRi", "value": float | null},
                     {"metric": "label_metrics",
                      "value": {"acc": bool, "tp": int, "fp": int, "fn": int}}]}, ...],
     "config": {...}}                                         # what produced the estimates

The official validator (``verify_dev_set_test_json``) requires ``details[*].soundscape`` to be
exactly the set of soundscape wavs, without duplicates: :func:`check_official_results` checks
that and the structure above, one line per problem.

``est_labels`` puts each estimate at its slot (``<soundscape>_<slot>_<Label>.wav``), as a model
run of the official evaluator does; when the slots do not fit (no slot number, slot >= 3, a
slot used twice) the estimates are listed in file order and padded, as the evaluator does for
pre-generated estimates. ``probabilities``: the decoding's ``probabilities.json`` value for
each reported slot, 1.0 for the others (the evaluator's value for pre-generated estimates).
``ref_labels``: the references in file/slot order, padded.

    data = official_results(items, result, probabilities=probs, nparams=123, config={...})
    write_official_results(items, result, "exp/x/decode_y_test", "exp/x/decode_y_test/scoring")

``python -m s5tse.bin.score`` writes it as ``<out_dir>/official_results.json`` next to
``scores.json``; ``pack_submission --dev_results`` takes that file.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from s5tse.labels import NUM_SLOTS, SILENCE

__all__ = ["CAPI_NAME", "LABEL_METRICS_NAME", "OFFICIAL_RESULTS", "official_results",
           "check_official_results", "probabilities_by_file", "decoding_provenance",
           "write_official_results", "check_decoding_classes"]

CAPI_NAME = "CAPI-SDRi"
LABEL_METRICS_NAME = "label_metrics"


def _finite_or_none(x: Optional[float]) -> Optional[float]:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _pad(labels: Sequence[str], num_slots: int) -> List[str]:
    return list(labels) + [SILENCE] * max(0, num_slots - len(labels))


def _estimate_slots(ests: Sequence[tuple], name: str, num_slots: int) -> List[Optional[str]]:
    """The file name of the estimate in each output slot (None = silence)."""
    from s5tse.scoring.io import parse_estimate_name

    files = [os.path.basename(entry) for _, entry in ests]
    slots = [parse_estimate_name(f, {name}) for f in files]
    numbers = [p[1] if p is not None else None for p in slots]
    if all(n is not None and n < num_slots for n in numbers) and len(set(numbers)) == len(numbers):
        out: List[Optional[str]] = [None] * num_slots
        for n, f in zip(numbers, files):
            out[n] = f
        return out
    return files + [None] * max(0, num_slots - len(files))


def probabilities_by_file(probabilities: Any) -> Dict[str, float]:
    """``{estimate file name: probability}`` from a decoding's ``probabilities.json`` list."""
    out: Dict[str, float] = {}
    for entry in probabilities if isinstance(probabilities, list) else []:
        for est in entry.get("estimate", []) if isinstance(entry, dict) else []:
            if isinstance(est, dict) and isinstance(est.get("filename"), str):
                prob = est.get("probability")
                if isinstance(prob, (int, float)) and not isinstance(prob, bool):
                    out[os.path.basename(est["filename"])] = float(prob)
    return out


def official_results(
    items: Sequence[Any],
    result: Any,
    *,
    probabilities: Optional[Mapping[str, float]] = None,
    nparams: Optional[int] = None,
    config: Optional[Mapping[str, Any]] = None,
    num_slots: int = NUM_SLOTS,
) -> Dict[str, Any]:
    """The official results structure of a scored set.

    Args:
        items: the :class:`~s5tse.scoring.io.ScoringItem` list that was scored (its estimate
            file names give the slots).
        result: the :class:`~s5tse.scoring.score.SetResult` of ``items``.
        probabilities: ``{estimate file name: probability}`` (:func:`probabilities_by_file`).
        nparams: parameter count of the system; the key is left out when None, as the
            evaluator does without a model.
        config: what produced the estimates (the official file holds the evaluation config).
    Returns:
        The JSON-ready dict (NaN written as None).
    """
    by_name = {it.name: it for it in items}
    probabilities = probabilities or {}
    details = []
    for res in result.items:
        item = by_name[res.name]
        slot_files = _estimate_slots(item.ests, res.name, num_slots)
        label_of = {os.path.basename(entry): label for label, entry in item.ests}
        details.append({
            "soundscape": res.name,
            "ref_labels": _pad(res.ref_labels, num_slots),
            "est_labels": [label_of[f] if f is not None else SILENCE for f in slot_files],
            "probabilities": [float(probabilities.get(f, 1.0)) if f is not None else 1.0
                              for f in slot_files],
            "metrics": [
                {"metric": CAPI_NAME, "value": _finite_or_none(res.capi.value)},
                {"metric": LABEL_METRICS_NAME,
                 "value": {"acc": bool(res.capi.exact), "tp": int(res.capi.tp),
                           "fp": int(res.capi.fp), "fn": int(res.capi.fn)}},
            ],
        })
    out: Dict[str, Any] = {
        CAPI_NAME: {"mean": _finite_or_none(result.capi_sdri)},
        LABEL_METRICS_NAME: {"accuracy_mix": _finite_or_none(result.acc_mix),
                             "accuracy_src": _finite_or_none(result.acc_src)},
    }
    if nparams is not None:
        out["nparams"] = int(nparams)
    out["details"] = details
    out["config"] = dict(config or {})
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_official_results(data: Any, where: str,
                           soundscapes: Optional[Sequence[str]] = None) -> List[str]:
    """Problems (one line each, naming ``where``) with an official results structure.

    ``soundscapes``: the soundscape names (without ``.wav``) ``details`` must cover exactly,
    as the official ``verify_dev_set_test_json`` asks; None skips that check.
    """
    if not isinstance(data, dict):
        return [f"{where}: expected a JSON object (the official evaluator's results file)"]
    problems = []
    capi = data.get(CAPI_NAME)
    if not (isinstance(capi, dict) and (capi.get("mean") is None or _is_number(capi.get("mean")))
            and "mean" in capi):
        problems.append(f"{where}: {CAPI_NAME!r} must be {{'mean': number}}")
    labels = data.get(LABEL_METRICS_NAME)
    if not (isinstance(labels, dict)
            and all(_is_number(labels.get(k)) for k in ("accuracy_mix", "accuracy_src"))):
        problems.append(f"{where}: {LABEL_METRICS_NAME!r} must hold numbers 'accuracy_mix' and "
                        f"'accuracy_src'")
    if "nparams" in data and not (isinstance(data["nparams"], int)
                                  and not isinstance(data["nparams"], bool)):
        problems.append(f"{where}: 'nparams' must be an integer, got {data['nparams']!r}")
    if not isinstance(data.get("config", {}), dict):
        problems.append(f"{where}: 'config' must be a JSON object")
    details = data.get("details")
    if not isinstance(details, list):
        hint = " (is this an s5tse scores.json? use scoring/official_results.json)" \
            if "per_mixture" in data else ""
        problems.append(f"{where}: no 'details' list (one entry per mixture){hint}")
        return problems
    seen: Dict[str, int] = {}
    for i, d in enumerate(details):
        if not (isinstance(d, dict) and isinstance(d.get("soundscape"), str)):
            problems.append(f"{where}: details[{i}] has no 'soundscape' string")
            continue
        name = d["soundscape"]
        if name in seen:
            problems.append(f"{where}: soundscape {name!r} listed twice (details[{seen[name]}] "
                            f"and details[{i}])")
        seen[name] = i
        for key in ("ref_labels", "est_labels", "probabilities", "metrics"):
            if not isinstance(d.get(key), list):
                problems.append(f"{where}: details[{i}] ({name}) has no '{key}' list")
    if soundscapes is not None:
        wanted = set(soundscapes)
        missing = sorted(wanted - set(seen))
        extra = sorted(set(seen) - wanted)
        for what, names in (("has no entry for", missing), ("lists unknown", extra)):
            if names:
                shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
                problems.append(f"{where}: 'details' {what} {len(names)} soundscape(s) of the "
                                f"dev test set ({shown})")
    return problems


#: File name of the official structure next to ``scores.json``.
OFFICIAL_RESULTS = "official_results.json"


def decoding_provenance(estimate_dir: "os.PathLike[str] | str") -> Dict[str, Any]:
    """``probabilities``, ``nparams`` and ``config`` for :func:`official_results` from a
    decoding dir (``probabilities.json``, ``decode_info.json``, ``decode_config.yaml``);
    whatever a folder of estimates lacks stays at its default (None / {})."""
    from pathlib import Path

    from s5tse.fileio.json_file import read_json
    from s5tse.utils.config import read_config_file

    edir = Path(estimate_dir)
    out: Dict[str, Any] = {"probabilities": None, "nparams": None, "config": {}}
    if (edir / "probabilities.json").is_file():
        out["probabilities"] = probabilities_by_file(read_json(edir / "probabilities.json"))
    if (edir / "decode_info.json").is_file():
        info = read_json(edir / "decode_info.json")
        nparams = info.get("nparams") if isinstance(info, dict) else None
        if isinstance(nparams, int) and not isinstance(nparams, bool):
            out["nparams"] = nparams
    if (edir / "decode_config.yaml").is_file():
        out["config"] = dict(read_config_file(edir / "decode_config.yaml"))
    return out


def check_decoding_classes(estimate_dir: "os.PathLike[str] | str", classes: Any) -> None:
    """A decoding dir whose ``decode_info.json`` records ``classes`` must use ``classes``
    (one-line :class:`~s5tse.labels.InventoryError` naming both lists otherwise)."""
    from pathlib import Path

    from s5tse.fileio.json_file import read_json
    from s5tse.labels import ClassInventory

    info_path = Path(estimate_dir) / "decode_info.json"
    if not info_path.is_file():
        return
    info = read_json(info_path)
    if isinstance(info, dict) and info.get("classes") is not None:
        decoded = ClassInventory(info["classes"], where=f"{info_path}: classes")
        classes.check_same(decoded, "the data's class inventory", str(info_path))


def write_official_results(items: Sequence[Any], result: Any,
                           estimate_dir: "os.PathLike[str] | str",
                           out_dir: "os.PathLike[str] | str") -> "os.PathLike[str]":
    """Write ``out_dir/official_results.json`` (atomic, ``indent=4`` as the evaluator);
    returns its path."""
    import json
    from pathlib import Path

    from s5tse.fileio.atomic import atomic_write_text

    data = official_results(items, result, **decoding_provenance(estimate_dir))
    path = Path(out_dir) / OFFICIAL_RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=4, allow_nan=False) + "\n")
    return path
