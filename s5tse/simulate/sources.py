"""The source material the scene generator draws from: one split of the pool tables.

:class:`SourceIndex` holds, for one split (``train``, ``valid``, ...), the target events
(with their class and exclusion group), the interference events (with their class), the
background-noise files and the rooms (SOFA files). It is built from the Kaldi-style pool
tables that stage 1 writes (:meth:`SourceIndex.from_data_dir`, the data contract in
:mod:`s5tse.fileio.datadir`)::

    <data>/sound_event_<split>/    wav.scp text utt2group utt2num_samples
    <data>/interference_<split>/   wav.scp utt2class utt2num_samples
    <data>/noise_<split>/          wav.scp utt2num_samples
    <data>/rirs_<split>/           rirs.scp utt2num_channels utt2positions

or by a corpus parser that lists the files itself (the DCASE folder layout:
:func:`s5tse.corpus.dev_set.scan_dev_set`).

Every list is sorted by path (code-point order, the same as ``LC_ALL=C``), so the index,
and the scenes drawn from it, depend only on the files, never on the table or
file-system order. Scene JSONs name a file by its role directory and its path below it
(:attr:`SourceIndex.root` + ``foreground_dir`` + ``source_file``); for tables the role
directory is the deepest folder holding all the role's files.

Audio headers (duration, channels) are read lazily with ``soundfile.info`` and cached;
SOFA files are opened on first use (:meth:`SourceIndex.room`).

Errors are :class:`DatasetError` with one line naming the offending path.

    index = SourceIndex.from_data_dir("data", split="train", classes=inventory)
    index.fg_labels                      # classes present (inventory order)
    index.fg_files["Speech"][0].rel      # 'Speech/p001/p001_001.wav'
    index.duration("foreground", "Speech/p001/p001_001.wav")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile as sf

from s5tse.labels import ClassInventory

PathLike = Union[str, "os.PathLike[str]"]

#: role -> the pool table directory prefix (``<data>/<prefix>_<split>``)
POOL_DIRS = {
    "foreground": "sound_event",
    "interference": "interference",
    "background": "noise",
    "rooms": "rirs",
}


class DatasetError(ValueError):
    """Missing or malformed source material; the message is one line naming the path."""


@dataclass(frozen=True)
class SourceFile:
    """An event file: ``rel`` is relative to its role's directory (``<class>/.../x.wav``)."""

    rel: str
    label: str
    group: str  # exclusion group: same-class duplicates never share one


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class RoomInfo:
    """What the generator needs from a SOFA file (the RIRs themselves stay in load_sofa's cache)."""

    rel: str  # relative to the index root, e.g. data/dev_set/room_ir/train/x.sofa
    positions: np.ndarray  # [M, 3] float64 Cartesian source positions
    nchan: int
    nrir: int
    rir_len: int
    sample_rate: int


def group_of(rel: str, depth: int = 1) -> str:
    """Exclusion group of an event file ``<class>/<a>/<b>/x.wav``: ``a`` (depth 1), ``a/b`` (2).

    A path with fewer levels uses what it has (a file directly in the class folder is
    its own group).
    """
    parts = rel.split("/")[1:]
    return "/".join(parts[: max(1, depth)])


def _common_dir(paths: Sequence[str]) -> str:
    """The deepest folder holding every path (absolute, posix)."""
    return os.path.commonpath([os.path.dirname(p) for p in paths])


def _relative(paths: Sequence[str], base: str) -> List[str]:
    return [Path(os.path.relpath(p, base)).as_posix() for p in paths]


class SourceIndex:
    """Sorted lists of the event, interference, noise and room files of one split.

    Build it with :meth:`from_data_dir` (the pool tables) or a corpus parser
    (:func:`s5tse.corpus.dev_set.scan_dev_set`); the constructor takes the lists.

    Args:
        root: the folder that the role directories are relative to.
        split: the split name (``train``, ``valid``, ...).
        role_dirs: ``{"foreground", "interference", "background", "rooms"}`` -> folder
            relative to ``root`` (``rooms`` is informational: room paths are relative to
            ``root`` themselves).
        fg_files: ``{label: [SourceFile, ...]}``; labels in inventory order.
        int_files: ``{class: [SourceFile, ...]}`` (may be empty).
        noise_files: noise wavs, relative to the background directory.
        rooms: SOFA files, relative to ``root``.
        missing_classes: inventory classes without files (the generator never draws them).
        path_groups: exclusion groups come from the file paths (:func:`group_of` at the
            generator's depth), not from ``SourceFile.group``.

    Attributes:
        root, split, fg_files, int_files, noise_files, rooms, missing_classes: as given.
        foreground_dir, interference_dir, background_dir, room_dir: the role folders.
        fg_labels: the target classes present, in inventory order.
        int_labels: interference classes (sorted).
    """

    def __init__(
        self,
        *,
        root: PathLike,
        split: str,
        role_dirs: Mapping[str, str],
        fg_files: Mapping[str, List[SourceFile]],
        int_files: Mapping[str, List[SourceFile]],
        noise_files: Sequence[str],
        rooms: Sequence[str],
        missing_classes: Sequence[str] = (),
        path_groups: bool = False,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.foreground_dir = role_dirs["foreground"]
        self.interference_dir = role_dirs["interference"]
        self.background_dir = role_dirs["background"]
        self.room_dir = role_dirs["rooms"]
        self.fg_files: Dict[str, List[SourceFile]] = {k: sorted(v, key=lambda f: f.rel)
                                                      for k, v in fg_files.items()}
        self.fg_labels: List[str] = list(self.fg_files)
        self.int_labels: List[str] = sorted(int_files)
        self.int_files: Dict[str, List[SourceFile]] = {
            k: sorted(int_files[k], key=lambda f: f.rel) for k in self.int_labels}
        self.noise_files: List[str] = sorted(noise_files)
        self.rooms: List[str] = sorted(rooms)
        self.missing_classes: List[str] = list(missing_classes)
        self.path_groups = bool(path_groups)
        self._group: Dict[str, str] = {f.rel: f.group for v in self.fg_files.values() for f in v}
        self._info: Dict[Path, AudioInfo] = {}
        self._rooms: Dict[str, RoomInfo] = {}
        if not self.fg_labels:
            raise DatasetError(f"{self.root / self.foreground_dir}: no target events")
        if not self.noise_files:
            raise DatasetError(f"{self.root / self.background_dir}: no background noise files")
        if not self.rooms:
            raise DatasetError(f"{self.root / self.room_dir}: no rooms (SOFA files)")

    # ------------------------------------------------------------ from tables
    @classmethod
    def from_data_dir(cls, data_dir: PathLike, split: str = "train",
                      classes: Optional[ClassInventory] = None) -> "SourceIndex":
        """The index of ``split`` from the pool tables under ``data_dir`` (module docstring).

        Raises:
            DatasetError: one line naming the missing or malformed table (and the stage
                that writes it).
        """
        data = Path(data_dir)
        fg_dir = data / f"{POOL_DIRS['foreground']}_{split}"
        wav = _read_pool_table(fg_dir, "wav.scp")
        text = _read_pool_table(fg_dir, "text", wav)
        group = _read_pool_table(fg_dir, "utt2group", wav)
        fg_paths = {k: _audio_path(fg_dir / "wav.scp", k, v) for k, v in wav.items()}
        for key, label in text.items():
            if classes is not None and label not in classes:
                raise DatasetError(
                    f"{fg_dir / 'text'}: key {key!r}: class {label!r} is not in the class "
                    f"inventory{classes.suggestion(label)}")
        int_dir = data / f"{POOL_DIRS['interference']}_{split}"
        int_paths: Dict[str, str] = {}
        int_class: Dict[str, str] = {}
        if int_dir.is_dir():
            iwav = _read_pool_table(int_dir, "wav.scp")
            int_class = _read_pool_table(int_dir, "utt2class", iwav)
            int_paths = {k: _audio_path(int_dir / "wav.scp", k, v) for k, v in iwav.items()}
        noise_dir = data / f"{POOL_DIRS['background']}_{split}"
        noise_paths = {k: _audio_path(noise_dir / "wav.scp", k, v)
                       for k, v in _read_pool_table(noise_dir, "wav.scp").items()}
        rir_dir = data / f"{POOL_DIRS['rooms']}_{split}"
        room_paths = {k: _audio_path(rir_dir / "rirs.scp", k, v)
                      for k, v in _read_pool_table(rir_dir, "rirs.scp").items()}

        dirs = {
            "foreground": _common_dir(list(fg_paths.values())),
            "interference": _common_dir(list(int_paths.values())) if int_paths else "",
            "background": _common_dir(list(noise_paths.values())),
        }
        root = _common_dir([d + os.sep for d in dirs.values() if d]
                           + list(room_paths.values()))
        dirs["rooms"] = _common_dir(list(room_paths.values()))

        def files(paths: Dict[str, str], labels: Dict[str, str], groups: Dict[str, str],
                  base: str) -> Dict[str, List[SourceFile]]:
            out: Dict[str, List[SourceFile]] = {}
            keys = list(paths)
            for key, rel in zip(keys, _relative([paths[k] for k in keys], base)):
                out.setdefault(labels[key], []).append(
                    SourceFile(rel=rel, label=labels[key], group=groups.get(key, rel)))
            return out

        fg = files(fg_paths, text, group, dirs["foreground"])
        order = list(classes) if classes is not None else sorted(fg)
        fg = {c: fg[c] for c in order if c in fg}
        missing = [c for c in order if c not in fg]
        ints = files(int_paths, int_class, {}, dirs["interference"]) if int_paths else {}
        rel_dirs = {k: Path(os.path.relpath(v, root)).as_posix() if v else ""
                    for k, v in dirs.items()}
        return cls(
            root=root, split=split, role_dirs=rel_dirs, fg_files=fg, int_files=ints,
            noise_files=_relative(list(noise_paths.values()), dirs["background"]),
            rooms=_relative(list(room_paths.values()), root), missing_classes=missing,
        )

    # ------------------------------------------------------------------ lookups
    def role_dir(self, role: str) -> str:
        return {
            "foreground": self.foreground_dir,
            "interference": self.interference_dir,
            "background": self.background_dir,
        }[role]

    def abspath(self, role: str, rel: str) -> Path:
        """Absolute path of ``rel`` (relative to the role's directory)."""
        return self.root / self.role_dir(role) / rel

    def exclusion_group(self, rel: str, depth: int = 1) -> str:
        """The group (first ``depth`` levels) that same-class duplicates never share."""
        if self.path_groups:
            return group_of(rel, depth)
        return "/".join(self._group[rel].split("/")[: max(1, depth)])

    def info(self, role: str, rel: str) -> AudioInfo:
        """Header of a wav (cached). Raises DatasetError for unreadable or empty files."""
        path = self.abspath(role, rel)
        cached = self._info.get(path)
        if cached is not None:
            return cached
        try:
            i = sf.info(str(path))
        except (sf.SoundFileError, RuntimeError, OSError) as e:
            raise DatasetError(f"{path}: cannot read audio header: {e}") from None
        if i.frames <= 0:
            raise DatasetError(f"{path}: audio has no samples")
        info = AudioInfo(
            sample_rate=int(i.samplerate), channels=int(i.channels), frames=int(i.frames)
        )
        self._info[path] = info
        return info

    def check_files(self) -> None:
        """Read the header of every event, interference and noise file and check every room
        file exists: an unreadable or empty file fails at start-up, naming it (DatasetError),
        not when the generator first draws it. The headers stay cached."""
        for role, files in (("foreground", [f.rel for v in self.fg_files.values() for f in v]),
                            ("interference", [f.rel for v in self.int_files.values() for f in v]),
                            ("background", self.noise_files)):
            for rel in files:
                self.info(role, rel)
        for rel in self.rooms:
            path = self.root / rel
            if not path.is_file() or path.stat().st_size == 0:
                raise DatasetError(f"{path}: {'empty' if path.is_file() else 'no such'} room file")

    def duration(self, role: str, rel: str) -> float:
        """Duration in seconds (``frames / sample_rate``) of a wav (cached)."""
        return self.info(role, rel).duration

    def room(self, rel: str, sample_rate: int = 32000) -> RoomInfo:
        """Positions and sizes of a SOFA file (``rel`` relative to the root), cached.

        The file is read with ``s5tse.fileio.sofa.load_sofa`` (resampled to ``sample_rate``).
        """
        key = f"{rel}@{sample_rate}"
        cached = self._rooms.get(key)
        if cached is not None:
            return cached
        path = self.root / rel
        rirs = read_room(path, sample_rate)
        m, r, n = rirs.ir.shape
        info = RoomInfo(
            rel=rel,
            positions=np.array(rirs.positions, dtype=np.float64).reshape(m, 3),
            nchan=int(r),
            nrir=int(m),
            rir_len=int(n),
            sample_rate=int(rirs.sample_rate),
        )
        self._rooms[key] = info
        return info

    def summary(self) -> str:
        """One line: counts per role (for logs)."""
        n_fg = sum(len(v) for v in self.fg_files.values())
        n_int = sum(len(v) for v in self.int_files.values())
        return (
            f"{self.root} [{self.split}]: {n_fg} target files in {len(self.fg_labels)} classes, "
            f"{n_int} interference files in {len(self.int_labels)} classes, "
            f"{len(self.noise_files)} noise files, {len(self.rooms)} rooms"
        )


def read_room(path: PathLike, sample_rate: int = 32000):
    """``s5tse.fileio.sofa.load_sofa`` with its errors as one-line :class:`DatasetError`."""
    from s5tse.fileio.sofa import load_sofa  # lazy: only generation/rendering needs SOFA

    try:
        return load_sofa(str(path), sample_rate=sample_rate)
    except DatasetError:
        raise
    except Exception as e:  # sofa reader errors vary (OSError, ValueError, ...)
        raise DatasetError(f"{path}: cannot read SOFA file: {e}") from None


def _read_pool_table(folder: Path, name: str,
                     ref: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """A pool table; with ``ref`` (the folder's wav.scp) its keys must be the same."""
    from s5tse.fileio.datadir import check_same_keys
    from s5tse.fileio.table import TableError, read_table

    path = folder / name
    if not path.is_file():
        raise DatasetError(
            f"{path}: missing (stage 1, local/data.sh, writes it; training synthesises its "
            f"mixtures from the {folder.name} pool; the data contract: "
            f"s5tse/fileio/contract.py)")
    try:
        table = read_table(path)
        if ref is not None:
            check_same_keys(str(path), table, str(folder / "wav.scp"), ref)
    except TableError as e:
        raise DatasetError(str(e)) from None
    if not table:
        raise DatasetError(f"{path}: empty table")
    return table


def _audio_path(table: Path, key: str, value: str) -> str:
    from s5tse.fileio.sound_scp import is_pipe

    if is_pipe(value):
        raise DatasetError(f"{table}: key {key!r}: pipes are not supported for source "
                           f"material (the generator reads file headers), got {value!r}")
    return os.path.abspath(value)
