"""Validate a decoding directory and pack it as a DCASE 2026 Task 4 submission.

Output (the layout of the official ``generate_waveform.sh``)::

    <out_dir>/<Author>_<Affiliation>_task4_<N>/
        eval_out/<soundscape>_<slot>_<Label>.wav     # copies of the estimates
        eval_results.json                            # {"nparams", "probabilities", "config"}
        dev_set_test_results.json                    # --dev_results (if given), checked
    <out_dir>/<Author>_<Affiliation>_task4_<N>.zip   # the folder above, written to a temp name, renamed

Everything is checked before anything is written; all problems are collected and
raised together in one :class:`SubmissionError`, one line each, naming the file:

- the estimate names (``<soundscape>_<slot>_<Label>.wav``), the soundscape exists in
  ``soundscape_dir``, the label is in the class inventory (``classes``, else the one
  ``decode_info.json`` records), at most three
  estimates per soundscape with unique slot numbers;
- the audio: 32 kHz, mono, the mixture's length, no NaN/Inf;
- ``probabilities.json``: one entry per estimate and no entry without an estimate
  (entries labelled ``silence`` are not files and are dropped), a probability in
  [0, 1], one soundscape entry per soundscape of ``soundscape_dir`` (decoding complete);
- ``decode_info.json`` with an integer ``nparams``;
- ``dev_results``: the official evaluator's results structure (``official_results.json``
  written by ``s5tse.bin.score``; :func:`s5tse.scoring.official.check_official_results`),
  whose ``details`` cover exactly the soundscapes of ``dev_soundscape_dir`` when given, as
  the official ``verify_dev_set_test_json`` asks;
- author/affiliation ``[A-Za-z0-9-]+`` (the name is ``_``-separated), a positive number;
- an existing zip is not replaced unless ``overwrite=True``.

    >>> zip_path = pack_submission("exp/sep/decode_default_eval", "dump/eval/soundscape",
    ...                            "Doe", "ACME", 1, "submission")   # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import soundfile as sf

from s5tse.fileio.atomic import atomic_path, atomic_write_text
from s5tse.fileio.json_file import read_json
from s5tse.labels import NUM_SLOTS, SILENCE, ClassInventory, InventoryError
from s5tse.scoring.official import check_official_results

PathLike = Union[str, "os.PathLike[str]"]

SAMPLE_RATE = 32000
ESTIMATE_RE = re.compile(r"^(?P<soundscape>.+)_(?P<slot>\d+)_(?P<label>[A-Za-z]+)\.wav$")
IDENT_RE = re.compile(r"^[A-Za-z0-9-]+$")
PROBABILITIES = "probabilities.json"
DECODE_INFO = "decode_info.json"
EVAL_RESULTS = "eval_results.json"
DEV_RESULTS = "dev_set_test_results.json"
EVAL_OUT = "eval_out"


class SubmissionError(Exception):
    """One or more problems; ``problems`` holds one line per problem, each naming its file."""

    def __init__(self, problems: List[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Estimate:
    """One estimate file ``<soundscape>_<slot>_<label>.wav``."""

    path: Path
    soundscape: str
    slot: int
    label: str


@dataclass
class SubmissionPlan:
    """Everything :func:`write_submission` needs; produced by :func:`plan_submission`."""

    name: str
    out_dir: Path
    estimates: List[Estimate]
    eval_results: Dict[str, Any]
    dev_results: Optional[Path] = None
    overwrite: bool = False
    warnings: List[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.out_dir / self.name

    @property
    def zip_path(self) -> Path:
        return self.out_dir / f"{self.name}.zip"

    def members(self) -> List[str]:
        """The zip member names, in the order they are written."""
        names = [f"{self.name}/{EVAL_OUT}/{e.path.name}" for e in self.estimates]
        names.append(f"{self.name}/{EVAL_RESULTS}")
        if self.dev_results is not None:
            names.append(f"{self.name}/{DEV_RESULTS}")
        return names


def parse_estimate_name(filename: str) -> Optional[Tuple[str, int, str]]:
    """``"eval_0000_1_Speech.wav" -> ("eval_0000", 1, "Speech")``; None if it does not match."""
    m = ESTIMATE_RE.match(filename)
    if m is None:
        return None
    return m.group("soundscape"), int(m.group("slot")), m.group("label")


def check_identity(author: str, affiliation: str, number: Union[int, str]) -> List[str]:
    """Problems with the submission identity (empty list if fine)."""
    problems = []
    for what, value in (("author", author), ("affiliation", affiliation)):
        if not isinstance(value, str) or not IDENT_RE.match(value):
            problems.append(
                f"{what} {value!r}: must be non-empty letters, digits or '-' "
                f"(no '_' or spaces: the submission name is '_'-separated)"
            )
    if not _positive_int(number):
        problems.append(f"number {number!r}: must be a positive integer")
    return problems


def _positive_int(number: Union[int, str]) -> bool:
    if isinstance(number, bool):
        return False
    if isinstance(number, int):
        return number > 0
    return isinstance(number, str) and number.isascii() and number.isdigit() and int(number) > 0


def submission_name(author: str, affiliation: str, number: Union[int, str]) -> str:
    """``<author>_<affiliation>_task4_<number>``; SubmissionError if a part is invalid."""
    problems = check_identity(author, affiliation, number)
    if problems:
        raise SubmissionError(problems)
    return f"{author}_{affiliation}_task4_{int(number)}"


def _label_problem(label: str, classes: ClassInventory) -> str:
    return (f"label {label!r} is not one of the {classes.num_classes} target classes"
            f"{classes.suggestion(label)}")


def _read_json(path: Path, problems: List[str]) -> Any:
    """Parsed JSON, or None after appending a problem."""
    try:
        return read_json(path)
    except ValueError as e:
        problems.append(str(e))
    return None


def _list_soundscapes(soundscape_dir: Path, problems: List[str]) -> Dict[str, Path]:
    if not soundscape_dir.is_dir():
        problems.append(f"{soundscape_dir}: soundscape directory not found")
        return {}
    found = {p.stem: p for p in sorted(soundscape_dir.glob("*.wav")) if p.is_file()}
    if not found:
        problems.append(f"{soundscape_dir}: no soundscape .wav files")
    return found


def _check_audio(est: Estimate, mixture: Path, mixture_frames: Dict[str, Optional[int]],
                 sample_rate: int, problems: List[str]) -> None:
    """Rate, channels, length (against the mixture) and finiteness of one estimate."""
    path = est.path
    try:
        info = sf.info(os.fspath(path))
    except (sf.SoundFileError, RuntimeError) as e:
        problems.append(f"{path}: cannot read audio: {e}")
        return
    if info.samplerate != sample_rate:
        problems.append(f"{path}: sample rate {info.samplerate} Hz, expected {sample_rate}")
    if info.channels != 1:
        problems.append(f"{path}: {info.channels} channels, expected mono")
    if est.soundscape not in mixture_frames:
        try:
            mixture_frames[est.soundscape] = sf.info(os.fspath(mixture)).frames
        except (sf.SoundFileError, RuntimeError) as e:
            problems.append(f"{mixture}: cannot read the mixture: {e}")
            mixture_frames[est.soundscape] = None
    expected = mixture_frames[est.soundscape]
    if expected is not None and info.frames != expected:
        problems.append(
            f"{path}: {info.frames} samples, but the mixture {mixture.name} has {expected}"
        )
    try:
        data, _ = sf.read(os.fspath(path), dtype="float64", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        problems.append(f"{path}: cannot read samples: {e}")
        return
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        problems.append(f"{path}: {bad} NaN/Inf sample(s)")


def _check_slots(estimates: List[Estimate], decode_dir: Path, max_estimates: int,
                 problems: List[str]) -> None:
    by_soundscape: Dict[str, List[Estimate]] = {}
    for est in estimates:
        by_soundscape.setdefault(est.soundscape, []).append(est)
    for soundscape, ests in by_soundscape.items():
        if len(ests) > max_estimates:
            names = ", ".join(e.path.name for e in ests)
            problems.append(
                f"{decode_dir / (soundscape + '_*.wav')}: {len(ests)} estimates for soundscape "
                f"{soundscape!r}, at most {max_estimates} allowed ({names})"
            )
        seen: Dict[int, Estimate] = {}
        for est in ests:
            if est.slot in seen:
                problems.append(
                    f"{est.path}: slot {est.slot} of soundscape {soundscape!r} is already used by "
                    f"{seen[est.slot].path.name}"
                )
            else:
                seen[est.slot] = est


def _check_probabilities(
    prob_path: Path, probabilities: Any, estimates: List[Estimate],
    soundscapes: Dict[str, Path], soundscape_dir: Path, problems: List[str],
) -> List[Dict[str, Any]]:
    """Validate ``probabilities.json`` against the estimate files; return the packed list."""
    if not isinstance(probabilities, list):
        problems.append(f"{prob_path}: expected a JSON list of {{'soundscape', 'estimate'}} entries")
        return []
    by_name = {e.path.name: e for e in estimates}
    covered: Dict[str, str] = {}  # estimate file name -> where it was listed
    seen_soundscapes: Dict[str, int] = {}
    packed: List[Dict[str, Any]] = []
    for i, entry in enumerate(probabilities):
        where = f"{prob_path}: entry #{i}"
        if not (isinstance(entry, dict) and isinstance(entry.get("soundscape"), str)
                and isinstance(entry.get("estimate"), list)):
            problems.append(f"{where}: expected {{'soundscape': str, 'estimate': [...]}}")
            continue
        soundscape = entry["soundscape"]
        where = f"{prob_path}: soundscape {soundscape!r}"
        if soundscape in seen_soundscapes:
            problems.append(f"{where}: listed twice (entries #{seen_soundscapes[soundscape]} and #{i})")
            continue
        seen_soundscapes[soundscape] = i
        if soundscapes and soundscape not in soundscapes:
            problems.append(f"{where}: not found in {soundscape_dir}")
        kept = []
        for j, est in enumerate(entry["estimate"]):
            if not isinstance(est, dict):
                problems.append(f"{where}: estimate #{j} is not an object")
                continue
            label = est.get("label")
            filename = est.get("filename")
            if label == SILENCE and not (isinstance(filename, str)
                                         and os.path.basename(filename) in by_name):
                continue  # an empty slot: no file, not packed
            if not isinstance(filename, str) or not filename:
                problems.append(f"{where}: estimate #{j} has no 'filename'")
                continue
            base = os.path.basename(filename)
            target = by_name.get(base)
            if target is None:
                problems.append(
                    f"{prob_path}: stray entry {base!r} (soundscape {soundscape!r}): "
                    f"no such estimate file in the decoding directory"
                )
                continue
            if base in covered:
                problems.append(f"{prob_path}: {base!r} listed twice")
                continue
            covered[base] = soundscape
            if target.soundscape != soundscape:
                problems.append(
                    f"{prob_path}: {base!r} is listed under soundscape {soundscape!r}, "
                    f"its name says {target.soundscape!r}"
                )
            if label != target.label:
                problems.append(
                    f"{prob_path}: {base!r} has label {label!r}, its name says {target.label!r}"
                )
            prob = est.get("probability")
            if not (isinstance(prob, (int, float)) and not isinstance(prob, bool)
                    and math.isfinite(prob) and 0.0 <= prob <= 1.0):
                problems.append(
                    f"{prob_path}: {base!r} has probability {prob!r}, expected a number in [0, 1]"
                )
            kept.append(est)
        packed.append({**entry, "estimate": kept})
    for est in estimates:
        if est.path.name not in covered:
            problems.append(f"{est.path}: no entry in {prob_path}")
    missing = [s for s in soundscapes if s not in seen_soundscapes]
    if missing and isinstance(probabilities, list):
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        problems.append(
            f"{prob_path}: no entry for {len(missing)} of the {len(soundscapes)} soundscape(s) in "
            f"{soundscape_dir} ({shown}); was the decoding complete?"
        )
    return packed


def plan_submission(
    decode_dir: PathLike,
    soundscape_dir: PathLike,
    author: str,
    affiliation: str,
    number: Union[int, str],
    out_dir: PathLike,
    *,
    dev_results: Optional[PathLike] = None,
    dev_soundscape_dir: Optional[PathLike] = None,
    classes: Optional[ClassInventory] = None,
    overwrite: bool = False,
    sample_rate: int = SAMPLE_RATE,
    max_estimates: int = NUM_SLOTS,
) -> SubmissionPlan:
    """Check everything and return what to write; nothing is written.

    Raises:
        SubmissionError: with every problem found (one line each, naming the file).
    """
    decode_dir = Path(decode_dir)
    soundscape_dir = Path(soundscape_dir)
    out_dir = Path(out_dir)
    problems = check_identity(author, affiliation, number)
    name = f"{author}_{affiliation}_task4_{int(number)}" if not problems else ""

    soundscapes = _list_soundscapes(soundscape_dir, problems)
    estimates: List[Estimate] = []
    packed: List[Dict[str, Any]] = []
    decode_info: Any = None
    if not decode_dir.is_dir():
        problems.append(f"{decode_dir}: decoding directory not found")
    else:
        mixture_frames: Dict[str, Optional[int]] = {}
        for path in sorted(decode_dir.glob("*.wav")):
            parsed = parse_estimate_name(path.name)
            if parsed is None:
                problems.append(f"{path}: name does not match <soundscape>_<slot>_<Label>.wav")
                continue
            est = Estimate(path, *parsed)
            estimates.append(est)
            if est.soundscape in soundscapes:
                _check_audio(est, soundscapes[est.soundscape], mixture_frames, sample_rate, problems)
            elif soundscapes:
                problems.append(f"{path}: soundscape {est.soundscape!r} not found in {soundscape_dir}")
        if not estimates:
            problems.append(f"{decode_dir}: no estimate .wav files")
        _check_slots(estimates, decode_dir, max_estimates, problems)

        prob_path = decode_dir / PROBABILITIES
        probabilities = _read_json(prob_path, problems)
        if probabilities is not None:
            packed = _check_probabilities(prob_path, probabilities, estimates, soundscapes,
                                          soundscape_dir, problems)

        info_path = decode_dir / DECODE_INFO
        decode_info = _read_json(info_path, problems)
        if decode_info is not None:
            nparams = decode_info.get("nparams") if isinstance(decode_info, dict) else None
            if not isinstance(decode_info, dict):
                problems.append(f"{info_path}: expected a JSON object")
                decode_info = None
            elif not (isinstance(nparams, int) and not isinstance(nparams, bool) and nparams > 0):
                problems.append(f"{info_path}: 'nparams' must be a positive integer, got {nparams!r}")
            if isinstance(decode_info, dict) and decode_info.get("use_oracle_labels"):
                problems.append(f"{info_path}: decoded with the reference (oracle) labels; a "
                                "submission must use the system's own labels")
        if classes is None and isinstance(decode_info, dict) and decode_info.get("classes"):
            try:
                classes = ClassInventory(decode_info["classes"], where=f"{info_path}: classes")
            except InventoryError as e:
                problems.append(str(e))
        if classes is None and decode_info is not None:
            problems.append(f"{info_path}: no 'classes' recorded (decoded before class "
                            f"inventories?); pass the inventory (--classes data/lang/classes.txt)")
        elif classes is not None:
            for est in estimates:
                if est.label not in classes:
                    problems.append(f"{est.path}: {_label_problem(est.label, classes)}")

    dev_path = Path(dev_results) if dev_results is not None else None
    if dev_path is not None:
        dev = _read_json(dev_path, problems)
        dev_names = None
        if dev_soundscape_dir is not None:
            dev_names = list(_list_soundscapes(Path(dev_soundscape_dir), problems))
        if dev is not None:
            problems.extend(check_official_results(dev, str(dev_path), dev_names))

    if name and not overwrite and (out_dir / f"{name}.zip").exists():
        problems.append(f"{out_dir / (name + '.zip')}: already exists (use --overwrite true to replace it)")

    if problems:
        raise SubmissionError(problems)
    eval_results = {
        "nparams": decode_info["nparams"],
        "probabilities": packed,
        "config": decode_info if decode_info is not None else {},
    }
    warnings = []
    if dev_path is None:
        warnings.append(f"no --dev_results given: {name}.zip has no {DEV_RESULTS}")
    return SubmissionPlan(name=name, out_dir=out_dir, estimates=estimates,
                          eval_results=eval_results, dev_results=dev_path,
                          overwrite=overwrite, warnings=warnings)


def write_submission(plan: SubmissionPlan) -> Path:
    """Build ``<out_dir>/<name>/`` and ``<out_dir>/<name>.zip`` from a checked plan.

    The folder is built under a temporary name and renamed into place (a previous
    folder of the same name is replaced); the zip is written to a temporary name
    and renamed. Returns the zip path.
    """
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    if plan.zip_path.exists() and not plan.overwrite:
        raise SubmissionError([f"{plan.zip_path}: already exists (use --overwrite true to replace it)"])
    staging = Path(tempfile.mkdtemp(prefix=f".{plan.name}.", suffix=".tmp", dir=plan.out_dir))
    try:
        (staging / EVAL_OUT).mkdir()
        for est in plan.estimates:
            shutil.copyfile(est.path, staging / EVAL_OUT / est.path.name)
        atomic_write_text(staging / EVAL_RESULTS,
                          json.dumps(plan.eval_results, indent=2, ensure_ascii=False) + "\n")
        if plan.dev_results is not None:
            shutil.copyfile(plan.dev_results, staging / DEV_RESULTS)
        os.chmod(staging, 0o777 & ~_umask())
        if plan.folder.exists() or plan.folder.is_symlink():
            if plan.folder.is_dir() and not plan.folder.is_symlink():
                shutil.rmtree(plan.folder)
            else:
                plan.folder.unlink()
        os.replace(staging, plan.folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    with atomic_path(plan.zip_path) as tmp:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            for member in plan.members():
                source = plan.out_dir / member
                compress = zipfile.ZIP_STORED if member.endswith(".wav") else zipfile.ZIP_DEFLATED
                zf.write(source, arcname=member, compress_type=compress)
        with zipfile.ZipFile(tmp) as zf:
            if zf.namelist() != plan.members():
                raise OSError(f"{tmp}: the written zip does not list the expected members")
    return plan.zip_path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def pack_submission(*args, **kwargs) -> Path:
    """:func:`plan_submission` (same arguments) then :func:`write_submission`; returns the
    zip path. Raises SubmissionError (all problems, nothing written) if a check fails."""
    return write_submission(plan_submission(*args, **kwargs))
