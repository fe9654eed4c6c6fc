"""Decoding outputs: estimate files, per-job parts and their merge (the decode-dir contract).

``exp/<system>/decode_<tag>_<set>/`` after the merge::

    <soundscape>_<slot>_<Label>.wav  32 kHz mono float32, mixture length, reported slots only
    probabilities.json   [{"soundscape": s, "estimate": [{"filename", "label", "probability"}]}]
                         one entry per soundscape (empty list: nothing reported), byte order
    text                 <soundscape> l1 l2 l3   reported labels in slot order, padded with silence
    decode_info.json     nparams (> 0), classes, rtf, set, tag, peak memory, thresholds, ...
    decode_config.yaml   the resolved decoding config
    logdir/probabilities.<j>.json, logdir/decode_info.<j>.json   job parts (kept)
    logdir/items/<soundscape>.json   one per decoded mixture, written after its estimates

These are what :mod:`s5tse.scoring.io` (``*.wav`` names), :mod:`s5tse.results.show`
(``decode_info.json``: ``nparams``, ``rtf``) and :mod:`s5tse.results.submission`
(``probabilities.json``: one entry per estimate file, none without one; ``nparams``) read.
``slot`` is the output slot of :class:`s5tse.bridge.BridgeOutput` (0-based); ``probability``
is the probability of the reported label.

A job refuses an output dir that already holds results for its share (merged
``probabilities.json``, its own part, or estimate files of its soundscapes) unless
``overwrite``, in which case exactly those are removed first. A job that was interrupted
(no part yet) continues instead: the mixtures it recorded under the same decoding
(:func:`decoding_key`) with all their estimates are kept, the rest is decoded again. :func:`merge_parts` refuses a
missing part (naming it), parts of another ``num_jobs`` or config, a soundscape decoded twice
or not at all, and estimate files that no part lists (removed with ``overwrite``).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from s5tse.decode.runner import ItemResult
from s5tse.fileio.atomic import atomic_write_text
from s5tse.fileio.json_file import read_json
from s5tse.labels import NUM_SLOTS, SILENCE

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["DecodeOutputError", "estimate_name", "write_item", "prepare_output_dir",
           "decoding_key", "finished_items", "item_record_path", "write_item_record",
           "write_job_part", "merge_parts", "part_paths", "PROBABILITIES", "DECODE_INFO",
           "DECODE_CONFIG", "TEXT", "LOGDIR", "SAMPLE_RATE"]

PROBABILITIES = "probabilities.json"
DECODE_INFO = "decode_info.json"
DECODE_CONFIG = "decode_config.yaml"
TEXT = "text"
LOGDIR = "logdir"
ITEMS = "items"
SAMPLE_RATE = 32000
_MERGED = (PROBABILITIES, DECODE_INFO, DECODE_CONFIG, TEXT)


class DecodeOutputError(ValueError):
    """Output-dir conflict or incomplete/inconsistent job parts; one line naming the file."""


def _byte_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def estimate_name(soundscape: str, slot: int, label: str) -> str:
    """``<soundscape>_<slot>_<Label>.wav``."""
    return f"{soundscape}_{int(slot)}_{label}.wav"


def part_paths(output_dir: PathLike, job: int) -> Dict[str, Path]:
    """``{"probabilities": logdir/probabilities.<job>.json, "info": logdir/decode_info.<job>.json}``."""
    log = Path(output_dir) / LOGDIR
    return {"probabilities": log / f"probabilities.{job}.json",
            "info": log / f"decode_info.{job}.json"}


def _dump_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _load_json(path: Path) -> Any:
    return read_json(path, error=DecodeOutputError)


def _estimates_of(output_dir: Path, names: Sequence[str]) -> Dict[str, List[Path]]:
    """Estimate ``*.wav`` files in ``output_dir`` per soundscape of ``names`` (+ key None for
    files that match none of them)."""
    from s5tse.scoring.io import parse_estimate_name

    stems = set(names)
    out: Dict[Any, List[Path]] = {}
    if not output_dir.is_dir():
        return out
    for entry in sorted(os.scandir(output_dir), key=lambda e: _byte_key(e.name)):
        if not entry.name.endswith(".wav") or entry.name.startswith(".") or not entry.is_file():
            continue
        parsed = parse_estimate_name(entry.name, stems)
        out.setdefault(parsed[0] if parsed else None, []).append(Path(entry.path))
    return out


def item_record_path(output_dir: PathLike, name: str) -> Path:
    """``logdir/items/<soundscape>.json``: one decoded mixture (written after its estimates)."""
    return Path(output_dir) / LOGDIR / ITEMS / f"{name}.json"


def decoding_key(config: Mapping[str, Any]) -> str:
    """A digest of what decides a decoding's outputs (models, checkpoints, thresholds,
    streaming, labels): items recorded under another key are decoded again."""
    import hashlib

    keep = {k: config.get(k) for k in sorted(config)
            if k not in ("num_threads", "batch_size", "device", "set", "tag", "threshold_source")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_item_record(output_dir: PathLike, entry: Mapping[str, Any], num_samples: int,
                      compute_seconds: float, key: str) -> None:
    """Record a decoded mixture (its :func:`write_item` entry) so that an interrupted job can
    continue after it."""
    _dump_json(item_record_path(output_dir, entry["soundscape"]),
               dict(entry, num_samples=int(num_samples),
                    compute_seconds=round(float(compute_seconds), 6), key=key))


def finished_items(output_dir: PathLike, names: Sequence[str], key: str) -> Dict[str, Dict[str, Any]]:
    """The mixtures of ``names`` an earlier, interrupted run of the same decoding finished:
    recorded under ``key`` with every estimate file it lists present."""
    out = Path(output_dir)
    done: Dict[str, Dict[str, Any]] = {}
    for name in names:
        path = item_record_path(out, name)
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if record.get("key") == key and all((out / e["filename"]).is_file()
                                            for e in record.get("estimate", [])):
            done[name] = record
    return done


def prepare_output_dir(output_dir: PathLike, names: Sequence[str], job: int,
                       overwrite: bool, clean: bool = True,
                       keep: Sequence[str] = ()) -> None:
    """Refuse (or, with ``overwrite``, clear) earlier results of job ``job``'s soundscapes
    ``names``, except the finished mixtures ``keep`` of an interrupted run of the same
    decoding (:func:`finished_items`), whose estimates stay; ``clean=False`` only checks."""
    out = Path(output_dir)
    parts = part_paths(out, job)
    found = [p for p in (out / PROBABILITIES, parts["probabilities"], parts["info"]) if p.exists()]
    ests = _estimates_of(out, names)
    kept = set(keep)
    own = [p for name in names if name not in kept for p in ests.get(name, [])]
    # continuing an interrupted job: estimates of its unfinished mixtures are leftovers
    if (found or (own and not kept)) and not overwrite:
        what = found[0] if found else own[0]
        raise DecodeOutputError(
            f"{what}: {out} already holds decoding results; pass --overwrite true to replace "
            f"them, or choose another --output_dir")
    if not clean:
        return
    records = [item_record_path(out, name) for name in names if name not in kept]
    for p in own + found + records + [out / name for name in _MERGED]:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    (out / LOGDIR / ITEMS).mkdir(parents=True, exist_ok=True)


def write_item(output_dir: PathLike, result: ItemResult) -> Dict[str, Any]:
    """Write the reported estimates of one mixture; return its ``probabilities.json`` entry
    (plus ``"slots"``: the per-slot decision, kept in the job part only)."""
    from s5tse.fileio.sound_scp import write_audio

    q = result.bridge
    estimates, slots = [], []
    for k in range(q.num_slots):
        reported = bool(q.report[k])
        slots.append({"slot": k, "label": q.labels[k], "confidence": round(float(q.confidence[k]), 6),
                      "probability": round(float(q.probability[k]), 6),
                      "query": bool(q.query[k]), "report": reported})
        if not reported:
            continue
        fname = estimate_name(result.name, k, q.labels[k])
        wav = np.asarray(result.sources[k], dtype=np.float32)
        if wav.shape != (result.num_samples,):
            raise DecodeOutputError(f"{fname}: estimate has shape {wav.shape}, expected "
                                    f"({result.num_samples},)")
        write_audio(Path(output_dir) / fname, wav, SAMPLE_RATE, subtype="FLOAT")
        prob = min(1.0, max(0.0, float(q.probability[k])))
        estimates.append({"filename": fname, "label": q.labels[k], "probability": round(prob, 6)})
    return {"soundscape": result.name, "estimate": estimates, "slots": slots}


def write_job_part(output_dir: PathLike, job: int, entries: Sequence[Mapping[str, Any]],
                   info: Mapping[str, Any]) -> Dict[str, Path]:
    """Write ``logdir/probabilities.<job>.json`` (entries without ``slots``) and
    ``logdir/decode_info.<job>.json`` (``info`` plus ``items`` and the per-slot decisions)."""
    paths = part_paths(output_dir, job)
    probs = [{"soundscape": e["soundscape"], "estimate": list(e["estimate"])} for e in entries]
    full = dict(info)
    full["items"] = [e["soundscape"] for e in entries]
    full["slots"] = {e["soundscape"]: e.get("slots", []) for e in entries}
    _dump_json(paths["info"], full)          # info first: a part counts once probabilities exist
    _dump_json(paths["probabilities"], probs)
    return paths


def _finite(x: Any) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(float(x)) else None


def merge_parts(output_dir: PathLike, num_jobs: int, names: Sequence[str],
                overwrite: bool = False) -> Dict[str, Any]:
    """Combine the job parts into ``probabilities.json``, ``text``, ``decode_info.json`` and
    ``decode_config.yaml``; return the merged decode info (module docstring for the checks).

    ``names``: every soundscape of the set (each must be decoded by exactly one part).
    """
    from s5tse.utils.config import save_config

    out = Path(output_dir)
    if not overwrite and (out / PROBABILITIES).exists():
        raise DecodeOutputError(f"{out / PROBABILITIES}: already merged; pass --overwrite true "
                                f"to merge again")
    infos, entries = [], {}
    for j in range(1, int(num_jobs) + 1):
        paths = part_paths(out, j)
        for p in (paths["info"], paths["probabilities"]):
            if not p.is_file():
                raise DecodeOutputError(f"{p}: missing part of job {j}/{num_jobs} (did job {j} "
                                        f"fail? see {out / LOGDIR}/decode.{j}.log)")
        info = _load_json(paths["info"])
        if not isinstance(info, dict) or info.get("num_jobs") != int(num_jobs):
            raise DecodeOutputError(f"{paths['info']}: written by a run with num_jobs="
                                    f"{info.get('num_jobs') if isinstance(info, dict) else '?'}, "
                                    f"merging {num_jobs}")
        if infos and info.get("config") != infos[0].get("config"):
            raise DecodeOutputError(f"{paths['info']}: decoded with another config than job 1")
        probs = _load_json(paths["probabilities"])
        if not isinstance(probs, list):
            raise DecodeOutputError(f"{paths['probabilities']}: expected a JSON list")
        for e in probs:
            name = e.get("soundscape") if isinstance(e, dict) else None
            if name in entries:
                raise DecodeOutputError(f"{paths['probabilities']}: soundscape {name!r} was "
                                        f"decoded by two jobs")
            entries[name] = e
        infos.append(info)
    missing = [n for n in names if n not in entries]
    if missing:
        raise DecodeOutputError(f"{out / LOGDIR}: no job decoded {len(missing)} soundscape(s) "
                                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
    extra = [n for n in entries if n not in set(names)]
    if extra:
        raise DecodeOutputError(f"{out / LOGDIR}: parts list soundscape {extra[0]!r}, which is "
                                f"not in the input")
    # estimate files on disk == files listed
    listed = {est["filename"] for e in entries.values() for est in e["estimate"]}
    on_disk = _estimates_of(out, names)
    stray = [p for ps in on_disk.values() for p in ps if p.name not in listed]
    if stray:
        if not overwrite:
            raise DecodeOutputError(f"{stray[0]}: estimate file listed by no job part ({len(stray)} "
                                    f"such file(s)); pass --overwrite true to remove them")
        for p in stray:
            p.unlink()
    for fname in sorted(listed):
        if not (out / fname).is_file():
            raise DecodeOutputError(f"{out / fname}: listed in a job part but missing")

    order = sorted(names, key=_byte_key)
    probabilities = [entries[n] for n in order]
    _dump_json(out / PROBABILITIES, probabilities)
    text_lines = []
    for n in order:
        labels = [est["label"] for est in entries[n]["estimate"]]
        labels += [SILENCE] * (NUM_SLOTS - len(labels))
        text_lines.append(f"{n} {' '.join(labels)}\n")
    atomic_write_text(out / TEXT, "".join(text_lines))

    config = dict(infos[0].get("config") or {})
    audio = sum(float(i.get("audio_seconds", 0.0)) for i in infos)
    compute = sum(float(i.get("compute_seconds", 0.0)) for i in infos)
    gpu = [i.get("peak_gpu_mb") for i in infos if i.get("peak_gpu_mb") is not None]
    merged: Dict[str, Any] = {
        "nparams": int(infos[0]["nparams"]),
        "nparams_tagger": infos[0].get("nparams_tagger"),
        "nparams_separator": infos[0].get("nparams_separator"),
        "classes": infos[0].get("classes"),
        "rtf": _finite(round(compute / audio, 6)) if audio > 0 else None,
        "set": config.get("set"),
        "tag": config.get("tag"),
        "num_items": len(order),
        "num_reported": len(listed),
        "num_jobs": int(num_jobs),
        "audio_seconds": round(audio, 3),
        "compute_seconds": round(compute, 3),
        "wall_seconds": round(sum(float(i.get("wall_seconds", 0.0)) for i in infos), 3),
        "peak_rss_mb": max(float(i.get("peak_rss_mb", 0.0)) for i in infos),
        "peak_gpu_mb": max(gpu) if gpu else None,
    }
    for key in ("use_oracle_labels", "report_threshold", "query_threshold", "frame_threshold",
                "threshold_source", "streaming", "streaming_frames", "latency_ms", "device",
                "tagger_exp", "tagger_checkpoint", "separator_exp", "separator_checkpoint"):
        merged[key] = config.get(key)
    _dump_json(out / DECODE_INFO, merged)
    save_config(config, out / DECODE_CONFIG)
    return merged
