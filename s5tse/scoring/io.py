"""Inputs of the scorer: mixtures, references and estimates, found on disk and validated.

Two ways to name the references:

* official folders (reference §2.4): ``soundscape/<name>.wav`` and
  ``oracle_target/<name>_<label>.wav`` or ``<name>_<n>_<label>.wav``
  (:func:`items_from_folders`, via :func:`s5tse.corpus.testset.scan_test_set`);
* Kaldi tables (:func:`items_from_tables`): ``wav.scp`` (mixtures), ``text``
  (``<name> l1 l2 l3`` padded with ``silence``) and ``spk{n}.scp`` (reference of slot n,
  listed exactly for the mixtures whose slot n is not ``silence``).

Estimates are the files of one folder named like the official submission,
``<soundscape>_<slot>_<Label>.wav`` (slot = digits); the slot-less 2025 form
``<soundscape>_<Label>.wav`` is accepted too, as the official loader does. A file name
that two soundscapes could claim belongs to the longer name (like the oracle scan).
Estimates are kept in file-name (byte) order. Only ``*.wav`` files are considered;
hidden files and sub-folders are skipped. A soundscape without estimate files
"predicted nothing": each of its references is a false negative
(:func:`warn_missing_estimates` logs how many).

:func:`load_item` reads one soundscape and rejects, with a one-line
:class:`ScoringError` naming the file: an unreadable file (never a silent zero), a
mixture that is not 32 kHz or not 4-channel, an estimate or reference that is not mono,
not 32 kHz or not of its mixture's length, and NaN/Inf samples. The scan rejects an
estimate label outside the class inventory and an estimate file whose soundscape does not
exist.

    items = items_from_folders("test/soundscape", "test/oracle_target", "exp/x/estimates")
    loaded = load_item(items[0])      # LoadedItem: mixture_ch0 [T], refs/ests (label, [T])
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from s5tse.corpus.testset import list_wavs, scan_test_set
from s5tse.fileio.sound_scp import AudioFormatError, read_audio
from s5tse.fileio.table import read_table, read_table_lines
from s5tse.labels import SILENCE, ClassInventory

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "SAMPLE_RATE",
    "MIXTURE_CHANNELS",
    "ScoringError",
    "ScoringItem",
    "LoadedItem",
    "parse_estimate_name",
    "scan_estimates",
    "items_from_folders",
    "items_from_tables",
    "warn_missing_estimates",
    "load_item",
]

SAMPLE_RATE = 32000
MIXTURE_CHANNELS = 4
_SUFFIX = re.compile(r"^(?:_(\d+))?_(.+)$", re.DOTALL)


class ScoringError(ValueError):
    """Bad scorer input; the message is one line naming the offending file."""


@dataclass(frozen=True)
class ScoringItem:
    """One soundscape to score: audio entries (paths, or Kaldi ``cmd |`` entries for tables).

    ``refs`` and ``ests`` are ``(label, entry)`` lists without ``silence``.
    """

    name: str
    mixture: str
    refs: List[Tuple[str, str]] = field(default_factory=list)
    ests: List[Tuple[str, str]] = field(default_factory=list)


@dataclass
class LoadedItem:
    """One soundscape in memory: mixture channel 0 ``[T]`` and mono ``(label, [T])`` lists (float32)."""

    name: str
    mixture_ch0: np.ndarray
    refs: List[Tuple[str, np.ndarray]] = field(default_factory=list)
    ests: List[Tuple[str, np.ndarray]] = field(default_factory=list)


# --------------------------------------------------------------------------- estimates


def parse_estimate_name(file_name: str, stems: "set[str]") -> Optional[Tuple[str, Optional[int], str]]:
    """``(soundscape, slot or None, label)`` for an estimate file name, or None if no stem claims it.

    The longest soundscape name that is followed by ``_<digits>_<label>.wav`` or
    ``_<label>.wav`` wins. The label is not checked here.

        >>> parse_estimate_name("t_1_0_Speech.wav", {"t_1", "t_10"})
        ('t_1', 0, 'Speech')
    """
    if not file_name.endswith(".wav"):
        return None
    base = file_name[: -len(".wav")]
    cuts = [i for i, ch in enumerate(base) if ch == "_"]
    for cut in reversed(cuts):  # longest prefix first
        stem = base[:cut]
        if stem in stems:
            m = _SUFFIX.match(base[cut:])
            if m is not None:
                slot = int(m.group(1)) if m.group(1) is not None else None
                return stem, slot, m.group(2)
    return None


def scan_estimates(estimate_dir: PathLike, names: Iterable[str],
                   classes: ClassInventory) -> Dict[str, List[Tuple[str, str]]]:
    """Estimate files of ``estimate_dir`` per soundscape name (every name present, maybe empty).

    Raises:
        ScoringError: missing folder, a ``.wav`` that matches no soundscape, a label that is
            not in ``classes`` (each naming the file).
    """
    edir = Path(estimate_dir)
    if not edir.is_dir():
        raise ScoringError(f"{edir}: no such estimate folder")
    stems = set(names)
    out: Dict[str, List[Tuple[str, str]]] = {name: [] for name in names}
    for file_name in list_wavs(edir):  # byte order
        parsed = parse_estimate_name(file_name, stems)
        if parsed is None:
            raise ScoringError(
                f"{edir / file_name}: estimate file matches no soundscape (expected "
                f"<soundscape>_<slot>_<Label>.wav with <soundscape> one of the {len(stems)} "
                f"mixtures)"
            )
        stem, _, label = parsed
        if label not in classes:
            raise ScoringError(
                f"{edir / file_name}: label {label!r} (from the file name, soundscape "
                f"{stem!r}) is not one of the {classes.num_classes} classes of the inventory"
            )
        out[stem].append((label, str(edir / file_name)))
    return out


def warn_missing_estimates(items: Sequence[ScoringItem]) -> int:
    """Log (warning) how many soundscapes have no estimate files; returns that count."""
    n = sum(1 for item in items if not item.ests)
    if n:
        logging.warning("%d soundscape(s) have no estimate files (scored as predicting nothing)", n)
    return n


# --------------------------------------------------------------------------- references


def items_from_folders(
    soundscape_dir: PathLike, oracle_dir: PathLike, estimate_dir: PathLike,
    classes: ClassInventory,
) -> List[ScoringItem]:
    """Items from the official folder layout, sorted by soundscape name (byte order).

    Raises ScoringError / TestSetError (both ValueError) naming the offending path.
    """
    tests = scan_test_set(soundscape_dir, oracle_dir, classes=classes)
    ests = scan_estimates(estimate_dir, [t.name for t in tests], classes)
    return [
        ScoringItem(name=t.name, mixture=str(t.mixture),
                    refs=[(label, str(p)) for label, p in t.refs], ests=ests[t.name])
        for t in tests
    ]


def items_from_tables(data_dir: PathLike, estimate_dir: PathLike,
                      classes: ClassInventory) -> List[ScoringItem]:
    """Items from Kaldi tables ``wav.scp``, ``text`` and ``spk{n}.scp`` in ``data_dir``.

    Raises:
        ScoringError / TableError (ValueError): missing or malformed tables, a text line
            for an unknown mixture (or a mixture without one), a bad label, a reference
            missing for a non-silence slot or present for a silence slot, a
            ``spk{n}.scp`` key that is not a mixture.
    """
    ddir = Path(data_dir)
    wav = read_table(ddir / "wav.scp")
    if not wav:
        raise ScoringError(f"{ddir / 'wav.scp'}: no mixtures")
    text_path = ddir / "text"
    text = read_table_lines(text_path)
    for key in text:
        if key not in wav:
            raise ScoringError(f"{text_path}: {key!r} is not a mixture of {ddir / 'wav.scp'}")
    for key in wav:
        if key not in text:
            raise ScoringError(f"{text_path}: no labels for mixture {key!r}")
    n_slots = max(len(v) for v in text.values())
    for key, labels in text.items():
        for label in labels:
            try:
                classes.check_label(label, allow_silence=True, where=f"{text_path} (key {key!r})")
            except ValueError as e:
                raise ScoringError(str(e)) from None
    refs: Dict[str, List[Tuple[str, str]]] = {key: [] for key in wav}
    for n in range(1, n_slots + 1):
        scp = ddir / f"spk{n}.scp"
        needed = {key for key, labels in text.items() if len(labels) >= n and labels[n - 1] != SILENCE}
        if not scp.exists():
            if needed:
                raise ScoringError(
                    f"{scp}: no such file, but slot {n} of {sorted(needed)[0]!r} is "
                    f"{text[sorted(needed)[0]][n - 1]!r} in {text_path}"
                )
            continue
        table = read_table(scp)
        for key, entry in table.items():
            if key not in wav:
                raise ScoringError(f"{scp}: {key!r} is not a mixture of {ddir / 'wav.scp'}")
            if key not in needed:
                raise ScoringError(f"{scp}: {key!r} has a reference but slot {n} is silence in {text_path}")
            refs[key].append((text[key][n - 1], entry))
        for key in sorted(needed):
            if key not in table:
                raise ScoringError(
                    f"{scp}: no reference for {key!r} (slot {n} is {text[key][n - 1]!r} in {text_path})"
                )
    ests = scan_estimates(estimate_dir, list(wav), classes)
    return [ScoringItem(name=key, mixture=entry, refs=refs[key], ests=ests[key])
            for key, entry in wav.items()]


# --------------------------------------------------------------------------- audio


def _read(entry: str, role: str, name: str) -> Tuple[np.ndarray, int]:
    try:
        data, sr = read_audio(entry)
    except (AudioFormatError, OSError) as e:
        raise ScoringError(f"{role} of soundscape {name!r}: {e}") from None
    if sr != SAMPLE_RATE:
        raise ScoringError(f"{entry}: {role} of soundscape {name!r} has {sr} Hz, expected {SAMPLE_RATE}")
    if not np.isfinite(data).all():
        raise ScoringError(f"{entry}: {role} of soundscape {name!r} contains NaN or Inf samples")
    return data, sr


def load_item(item: ScoringItem, *, mixture_channels: Optional[int] = MIXTURE_CHANNELS) -> LoadedItem:
    """Read and validate one soundscape (see the module docstring).

    Args:
        item: what to read.
        mixture_channels: required channel count of the mixture (None: any; channel 0 is used).
    Raises:
        ScoringError: naming the offending file.
    """
    mix, _ = _read(item.mixture, "mixture", item.name)
    if mixture_channels is not None and mix.shape[0] != mixture_channels:
        raise ScoringError(
            f"{item.mixture}: mixture {item.name!r} has {mix.shape[0]} channel(s), "
            f"expected {mixture_channels}"
        )
    length = mix.shape[1]
    out = LoadedItem(name=item.name, mixture_ch0=np.ascontiguousarray(mix[0]))
    for role, src, dst in (("reference", item.refs, out.refs), ("estimate", item.ests, out.ests)):
        for label, entry in src:
            data, _ = _read(entry, role, item.name)
            if data.shape[0] != 1:
                raise ScoringError(
                    f"{entry}: {role} of soundscape {item.name!r} has {data.shape[0]} channels, "
                    f"expected mono (1)"
                )
            if data.shape[1] != length:
                raise ScoringError(
                    f"{entry}: {role} of soundscape {item.name!r} has {data.shape[1]} samples, "
                    f"its mixture {item.mixture} has {length}"
                )
            dst.append((label, data[0]))
    return out
