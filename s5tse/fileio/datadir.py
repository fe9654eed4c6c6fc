"""Validate a Kaldi/ESPnet-style data directory (``data/<set>/``, ``dump/<set>/``).

Checks, stopping at the first problem with a one-line :class:`TableError`:

- every table present (``*.scp``, ``text``, ``text_spk{N}``, ``utt2*``, ``spk2utt``)
  parses: no blank lines, no duplicate keys, keys in ``LC_ALL=C`` byte order, a value
  on every line;
- tables keyed by utterance (``wav.scp``, ``text``, ``text_spk{N}``, ``noise{N}.scp``,
  ``dereverb{N}.scp``, ``utt2*``) have the key set of ``wav.scp`` (of ``rirs.scp`` or
  ``metadata.scp`` in a dir of rooms or of scenes); reference tables
  ``spk{N}.scp`` are sparse (a mixture has 0-3 sources): they hold exactly the mixtures
  whose N-th ``text`` label is not ``silence`` (a subset of ``wav.scp`` without ``text``);
- ``spk2utt`` is the inverse of ``utt2spk``; ``utt2num_samples`` holds positive integers;
- ``text`` labels belong to ``labels`` when given;
- with ``check_audio``: every plain-path entry of every ``*.scp`` exists (pipes are not
  run); with ``sample_rate``/``num_channels``, ``wav.scp`` headers are checked against
  them, ``spk{N}.scp`` references must be mono at ``sample_rate`` with the mixture's
  length, and ``utt2num_samples`` must equal the ``wav.scp`` lengths; with ``read_samples``
  every file is decoded too (unreadable data, NaN/Inf samples).

Relative paths in tables are relative to the current directory (the recipe
directory), as in Kaldi.

The recipe's data contract (every table stage 1, ``local/data.sh``, writes under
``data/``, and which stage reads it) is documented and checked in :mod:`s5tse.fileio.contract`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from s5tse.fileio.sound_scp import AudioFormatError, audio_info, is_pipe
from s5tse.fileio.table import TableError, read_table
from s5tse.labels import SILENCE

PathLike = Union[str, "os.PathLike[str]"]

_TABLE_RE = re.compile(r"(.+\.scp|text|text_spk\d+|utt2.+|spk2utt)")
_UTT_KEYED_RE = re.compile(r"(wav\.scp|text|text_spk\d+|(spk|noise|dereverb)\d+\.scp|utt2.+)")
_REF_RE = re.compile(r"spk\d+\.scp")
_PRIMARY_TABLES = ("wav.scp", "rirs.scp", "metadata.scp")  # the key set of a dir
_ARK_OFFSET_RE = re.compile(r"(.+\.ark):\d+")  # feats.scp style "file.ark:1234"
_MAX_LISTED = 3  # keys quoted in a key-set mismatch message


def list_tables(data_dir: PathLike) -> List[str]:
    """Names of the table files in ``data_dir`` (hidden and non-table files skipped), sorted."""
    names = []
    for entry in os.scandir(data_dir):
        if entry.is_file() and not entry.name.startswith(".") and _TABLE_RE.fullmatch(entry.name):
            names.append(entry.name)
    return sorted(names)


def _quote_keys(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(repr(k) for k in keys[:_MAX_LISTED])
    return shown + (", ..." if len(keys) > _MAX_LISTED else "")


def check_same_keys(path: str, keys: Iterable[str], ref_path: str, ref_keys: Iterable[str]) -> None:
    """Raise TableError naming missing/extra keys of ``path`` relative to ``ref_path``."""
    keys, ref_keys = set(keys), set(ref_keys)
    missing, extra = ref_keys - keys, keys - ref_keys
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} key(s) of {ref_path} missing ({_quote_keys(missing)})")
    if extra:
        parts.append(f"{len(extra)} key(s) not in {ref_path} ({_quote_keys(extra)})")
    raise TableError(f"{path}: " + "; ".join(parts))


def _check_spk2utt(d: Path, utt2spk: Dict[str, str], spk2utt: Dict[str, str]) -> None:
    """spk2utt must list exactly the utterances utt2spk gives each speaker."""
    expected: Dict[str, Set[str]] = {}
    for utt, spk in utt2spk.items():
        if len(spk.split()) != 1:
            raise TableError(f"{d / 'utt2spk'}: key {utt!r}: expected one speaker id, got {spk!r}")
        expected.setdefault(spk, set()).add(utt)
    check_same_keys(str(d / "spk2utt"), spk2utt, str(d / "utt2spk") + " speakers", expected)
    for spk, value in spk2utt.items():
        utts = value.split()
        if len(utts) != len(set(utts)) or set(utts) != expected[spk]:
            raise TableError(
                f"{d / 'spk2utt'}: speaker {spk!r}: utterances differ from utt2spk "
                f"(regenerate with utils/utt2spk_to_spk2utt.pl)"
            )


def _check_reference_keys(d: Path, name: str, tables: Dict[str, Dict[str, str]]) -> None:
    """``spk{N}.scp`` lists the mixtures whose slot N holds a source.

    A mixture has 0-3 sources, so reference tables are sparse: without ``text`` their keys
    must be a subset of ``wav.scp``'s; with ``text`` (labels per slot, padded with
    ``silence``) exactly the mixtures whose N-th label is not ``silence``.
    """
    keys = tables[name]
    if "text" not in tables:
        extra = set(keys) - set(tables["wav.scp"])
        if extra:
            check_same_keys(str(d / name), keys, str(d / "wav.scp"), tables["wav.scp"])
        return
    slot = int(name[3:-4])
    expected = [
        utt for utt, labels in tables["text"].items()
        if len(labels.split()) >= slot and labels.split()[slot - 1] != SILENCE
    ]
    check_same_keys(str(d / name), keys, f"{d / 'text'} (non-silence slot {slot})", expected)


def _check_num_samples(path: Path, table: Dict[str, str]) -> Dict[str, int]:
    num_samples = {}
    for key, value in table.items():
        if not value.isdigit() or int(value) <= 0:
            raise TableError(f"{path}: key {key!r}: expected a positive integer, got {value!r}")
        num_samples[key] = int(value)
    return num_samples


def _check_labels(path: Path, table: Dict[str, str], labels: Set[str]) -> None:
    for key, value in table.items():
        for label in value.split():
            if label not in labels:
                raise TableError(f"{path}: key {key!r}: unknown label {label!r}")


def _file_of(entry: str) -> str:
    """The file an entry refers to (``x.ark:123`` -> ``x.ark``)."""
    m = _ARK_OFFSET_RE.fullmatch(entry)
    if m and not os.path.exists(entry):
        return m.group(1)
    return entry


def _check_files_exist(path: Path, table: Dict[str, str]) -> Tuple[int, int]:
    """Every plain-path entry exists; returns ``(num_checked, num_pipes_skipped)``."""
    checked = pipes = 0
    for key, entry in table.items():
        if is_pipe(entry):
            pipes += 1
            continue
        if not os.path.isfile(_file_of(entry)):
            raise TableError(f"{path}: key {key!r}: no such file {entry!r}")
        checked += 1
    return checked, pipes


def _check_samples(path: Path, table: Dict[str, str]) -> None:
    """Decode every plain-path entry; unreadable data or NaN/Inf samples are errors."""
    import numpy as np

    from s5tse.fileio.sound_scp import read_audio

    for key, entry in table.items():
        if is_pipe(entry):
            continue
        try:
            x, _ = read_audio(entry)
        except AudioFormatError as e:
            raise AudioFormatError(f"{path}: key {key!r}: {e}") from None
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise AudioFormatError(f"{path}: key {key!r}: {entry}: {bad} NaN/Inf sample(s)")


def _info(path: Path, key: str, entry: str) -> Tuple[int, int, int]:
    try:
        return audio_info(entry)
    except AudioFormatError as e:
        raise AudioFormatError(f"{path}: key {key!r}: {e}") from None


def _check_wav_formats(
    d: Path,
    tables: Dict[str, Dict[str, str]],
    sample_rate: Optional[int],
    num_channels: Optional[int],
) -> None:
    """Header checks of ``wav.scp`` and ``spk{N}.scp`` (plain paths only)."""
    wav_path = d / "wav.scp"
    lengths: Dict[str, int] = {}
    for key, entry in tables["wav.scp"].items():
        if is_pipe(entry):
            continue
        sr, ch, n = _info(wav_path, key, entry)
        if sample_rate is not None and sr != sample_rate:
            raise AudioFormatError(f"{wav_path}: key {key!r}: {entry} has {sr} Hz, expected {sample_rate}")
        if num_channels is not None and ch != num_channels:
            raise AudioFormatError(
                f"{wav_path}: key {key!r}: {entry} has {ch} channels, expected {num_channels}"
            )
        lengths[key] = n
    if "utt2num_samples" in tables:
        for key, value in tables["utt2num_samples"].items():
            if key in lengths and int(value) != lengths[key]:
                raise TableError(
                    f"{d / 'utt2num_samples'}: key {key!r}: {value} samples, but "
                    f"{tables['wav.scp'][key]} has {lengths[key]}"
                )
    for name in sorted(n for n in tables if _REF_RE.fullmatch(n)):
        ref_path = d / name
        for key, entry in tables[name].items():
            if is_pipe(entry):
                continue
            sr, ch, n = _info(ref_path, key, entry)
            if ch != 1:
                raise AudioFormatError(f"{ref_path}: key {key!r}: {entry} has {ch} channels, expected 1")
            if sample_rate is not None and sr != sample_rate:
                raise AudioFormatError(
                    f"{ref_path}: key {key!r}: {entry} has {sr} Hz, expected {sample_rate}"
                )
            if key in lengths and n != lengths[key]:
                raise AudioFormatError(
                    f"{ref_path}: key {key!r}: {entry} has {n} samples, but the mixture "
                    f"has {lengths[key]}"
                )


def validate_data_dir(
    data_dir: PathLike,
    *,
    sample_rate: Optional[int] = None,
    num_channels: Optional[int] = None,
    check_audio: bool = True,
    required: Sequence[str] = ("wav.scp",),
    labels: Optional[Iterable[str]] = None,
    read_samples: bool = False,
) -> Dict[str, object]:
    """Validate ``data_dir`` (see the module docstring); raise TableError on the first problem.

    Args:
        data_dir: the directory.
        sample_rate: expected rate of ``wav.scp`` and ``spk{N}.scp`` audio (header check).
        num_channels: expected channel count of ``wav.scp`` audio (4 for FOA mixtures).
        check_audio: check that audio files exist (and headers, with the two above).
        required: tables that must be present.
        labels: allowed labels in ``text``; None = not checked.
        read_samples: with ``check_audio``, also decode every plain-path file of every
            ``*.scp``: unreadable data and NaN/Inf samples are errors (headers alone do not
            show them; a WAV cut shorter than its header is caught either way).
    Returns:
        ``{"data_dir", "num_utts", "tables", "num_audio_checked", "num_pipes_skipped"}``;
        ``num_utts`` is the size of ``wav.scp`` (0 without one).
    """
    d = Path(data_dir)
    if not d.is_dir():
        raise TableError(f"{d}: no such directory")
    for name in required:
        if not (d / name).is_file():
            raise TableError(f"{d}: required file {name!r} is missing")
    names = list_tables(d)
    tables = {name: read_table(d / name) for name in names}
    if labels is not None and "text" in tables:  # "silence" pads the slots and is always valid
        _check_labels(d / "text", tables["text"], set(labels) | {SILENCE})

    primary = next((n for n in _PRIMARY_TABLES if n in tables), None)
    if primary is not None:
        refs = [name for name in names if _REF_RE.fullmatch(name)]
        for name in names:
            if name != primary and name not in refs and _UTT_KEYED_RE.fullmatch(name):
                check_same_keys(str(d / name), tables[name], str(d / primary), tables[primary])
    if "wav.scp" in tables:
        for name in refs:  # after text, whose slots they follow
            _check_reference_keys(d, name, tables)
    if ("utt2spk" in tables) != ("spk2utt" in tables):
        have, lack = ("utt2spk", "spk2utt") if "utt2spk" in tables else ("spk2utt", "utt2spk")
        raise TableError(f"{d}: {have} exists but {lack} is missing")
    if "utt2spk" in tables:
        _check_spk2utt(d, tables["utt2spk"], tables["spk2utt"])
    if "utt2num_samples" in tables:
        _check_num_samples(d / "utt2num_samples", tables["utt2num_samples"])

    num_checked = num_pipes = 0
    if check_audio:
        for name in names:
            if name.endswith(".scp"):
                checked, pipes = _check_files_exist(d / name, tables[name])
                num_checked, num_pipes = num_checked + checked, num_pipes + pipes
        if "wav.scp" in tables and (sample_rate is not None or num_channels is not None):
            _check_wav_formats(d, tables, sample_rate, num_channels)
        if read_samples:
            for name in names:
                if name.endswith(".scp"):
                    _check_samples(d / name, tables[name])

    return {
        "data_dir": str(d),
        "num_utts": len(tables.get("wav.scp", {})),
        "tables": names,
        "num_audio_checked": num_checked,
        "num_pipes_skipped": num_pipes,
    }
