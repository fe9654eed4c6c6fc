"""Write the pool tables that scene synthesis draws from (stage 1, any corpus).

A corpus parser (``local/`` of a recipe, :mod:`s5tse.corpus.prepare` for DCASE) lists its
files as :class:`PoolItem` and calls these writers; :meth:`SourceIndex.from_data_dir
<s5tse.simulate.sources.SourceIndex.from_data_dir>` reads the result. Every audio header
is read: an unreadable, empty, wrongly sampled or wrongly shaped file is a one-line
:class:`~s5tse.simulate.sources.DatasetError` naming it, and nothing is skipped::

    write_event_pool("data/sound_event_train", items, sample_rate=32000)       # wav.scp text utt2group utt2num_samples
    write_event_pool("data/interference_train", items, label_table="utt2class")
    write_event_pool("data/noise_train", items, label_table=None, channels=4)
    write_room_pool("data/rirs_train", {"room1": "rooms/room1.sofa"})          # rirs.scp utt2num_channels utt2positions

Tables are sorted and written atomically (:func:`s5tse.fileio.table.write_table`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

import soundfile as sf

from s5tse.simulate.sources import DatasetError, read_room

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["PoolItem", "pool_key", "write_event_pool", "write_room_pool"]


@dataclass(frozen=True)
class PoolItem:
    """One source file: its table key, path, class (events) and exclusion group."""

    key: str
    path: str
    label: Optional[str] = None
    group: Optional[str] = None


def pool_key(rel: str) -> str:
    """Table key of a file path: no ``.wav``, no whitespace (``Speech/p 1/x.wav`` -> ``Speech/p_1/x``)."""
    return re.sub(r"\s+", "_", rel[:-4] if rel.endswith(".wav") else rel)


def _frames(path: str, sample_rate: int, channels: Optional[int]) -> int:
    try:
        info = sf.info(path)
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        raise DatasetError(f"{path}: cannot read audio header: {e}") from None
    if info.frames <= 0:
        raise DatasetError(f"{path}: audio has no samples")
    if info.samplerate != sample_rate:
        raise DatasetError(f"{path}: {info.samplerate} Hz, expected {sample_rate} (resample the "
                           f"corpus to {sample_rate} Hz; sources are not resampled on the fly)")
    if channels is not None and info.channels != channels:
        raise DatasetError(f"{path}: {info.channels} channels, expected {channels}")
    return int(info.frames)


def _unique(items: Sequence[PoolItem], out: Path) -> None:
    seen: Dict[str, str] = {}
    for it in items:
        if it.key in seen:
            raise DatasetError(f"{out}: files {seen[it.key]!r} and {it.path!r} have the same key "
                               f"{it.key!r}")
        if not it.key or re.search(r"\s", it.key):
            raise DatasetError(f"{it.path}: table key {it.key!r} is empty or has whitespace")
        seen[it.key] = it.path
    if not items:
        raise DatasetError(f"{out}: no files for this pool")


def write_event_pool(out_dir: PathLike, items: Sequence[PoolItem], *, sample_rate: int = 32000,
                     channels: Optional[int] = 1, label_table: Optional[str] = "text") -> None:
    """``wav.scp``, ``utt2num_samples`` and, per ``label_table``, the classes.

    Args:
        out_dir: the pool's data dir.
        items: the files (absolute paths are written).
        sample_rate, channels: what every header must say (``channels`` None: any).
        label_table: ``text`` (target events: also ``utt2group``, the exclusion groups;
            an item without a group is its own), ``utt2class`` (interference: the class,
            spaces allowed) or None (background noise).
    """
    from s5tse.fileio.table import write_table

    out = Path(out_dir)
    _unique(items, out)
    for it in items:
        if label_table and not it.label:
            raise DatasetError(f"{it.path}: no class given")
        if label_table == "text" and re.search(r"\s", it.label or ""):
            raise DatasetError(f"{it.path}: target class {it.label!r} has whitespace")
    tables: Dict[str, Dict[str, str]] = {
        "wav.scp": {it.key: os.path.abspath(it.path) for it in items},
        "utt2num_samples": {it.key: str(_frames(it.path, sample_rate, channels)) for it in items},
    }
    if label_table:
        tables[label_table] = {it.key: str(it.label) for it in items}
    if label_table == "text":
        tables["utt2group"] = {it.key: re.sub(r"\s+", "_", it.group or it.key) for it in items}
    for name, table in tables.items():
        write_table(out / name, table)


def write_room_pool(out_dir: PathLike, sofa_files: Mapping[str, PathLike], *,
                    sample_rate: int = 32000) -> int:
    """``rirs.scp`` plus what each SOFA file gives: ``utt2num_channels`` and
    ``utt2positions`` (the measured source positions, ``x y z`` per position in metres,
    SOFA order). Returns the receiver count, which must be the same for every room.
    """
    from s5tse.fileio.table import write_table

    out = Path(out_dir)
    if not sofa_files:
        raise DatasetError(f"{out}: no rooms (SOFA files)")
    scp, nchan, positions = {}, {}, {}
    for key, path in sofa_files.items():
        rirs = read_room(path, sample_rate)
        m, r, _ = rirs.ir.shape
        scp[key] = os.path.abspath(path)
        nchan[key] = str(int(r))
        positions[key] = " ".join(repr(float(v)) for v in
                                  [c for p in rirs.positions for c in p][: 3 * m])
    if len(set(nchan.values())) != 1:
        raise DatasetError(f"{out}: rooms differ in receiver count "
                           f"{sorted(set(nchan.values()))}")
    write_table(out / "rirs.scp", scp)
    write_table(out / "utt2num_channels", nchan)
    write_table(out / "utt2positions", positions)
    return int(next(iter(nchan.values())))
