"""Index of the source material of the DCASE 2026 Task 4 development set.

:class:`SourceIndex` lists, for one split (``train`` or ``valid``), the files the
scene generator draws from (paths below are relative to the dataset root, the folder
that holds ``data/``)::

    data/dev_set/sound_event/<split>/<Label>/**/*.wav     target events
    data/dev_set/interference/<split>/<class>/**/*.wav    interference events
    data/dev_set/noise/<split>/*.wav                      4-ch background noise
    data/dev_set/room_ir/<split>/*.sofa                   FOA RIRs

Event files are found recursively below their class folder (nested sub-folders are
allowed) and kept in sorted order (code-point order of the relative path, the same
as ``LC_ALL=C``), so the index, and the scenes drawn from it, do not depend on the
file system's listing order. Names starting with ``.`` are skipped. Each event file
remembers its *group*: the first-level entry below its class folder
(``Speech/p001/x.wav`` -> ``p001``; a file directly in the class folder is its own
group), used to keep same-class duplicates apart (different speaker/object).

Audio headers (duration, channels) are read lazily with ``soundfile.info`` and cached;
SOFA files are opened on first use (:meth:`SourceIndex.room`).

Errors are :class:`DatasetError` with one line naming the offending path: missing
``sound_event/<split>`` folder, an empty or unknown class folder, no noise or no room
files, an unreadable or zero-length wav.

    index = SourceIndex("/corpora/DCASE2026Task4Dataset", split="train")
    index.fg_labels                      # classes present (inventory order, else sorted)
    index.fg_files["Speech"][0].rel      # 'Speech/p001/p001_001.wav'
    index.duration("foreground", "Speech/p001/p001_001.wav")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import soundfile as sf

from s5tse.labels import ClassInventory

PathLike = Union[str, "os.PathLike[str]"]

DEV_SET = "data/dev_set"


class DatasetError(ValueError):
    """Missing or malformed source material; the message is one line naming the path."""


@dataclass(frozen=True)
class SourceFile:
    """An event file: ``rel`` is relative to its role's directory (``<class>/.../x.wav``)."""

    rel: str
    label: str
    group: str  # first-level entry below the class folder


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

    rel: str  # relative to the dataset root, e.g. data/dev_set/room_ir/train/x.sofa
    positions: np.ndarray  # [M, 3] float64 Cartesian source positions
    nchan: int
    nrir: int
    rir_len: int
    sample_rate: int


def resolve_dataset_root(path: PathLike) -> Path:
    """The dataset root (folder holding ``data/dev_set``) for ``path``.

    Accepts the root itself, its ``data`` folder or ``data/dev_set``. Raises
    DatasetError if none of them holds ``data/dev_set``.
    """
    p = Path(path)
    if (p / DEV_SET).is_dir():
        return p
    if p.name == "data" and (p.parent / DEV_SET).is_dir():
        return p.parent
    if p.name == "dev_set" and p.parent.name == "data" and p.is_dir():
        return p.parent.parent
    raise DatasetError(
        f"{os.fspath(path)}: not a dataset root (expected a folder holding data/dev_set, "
        f"or data/dev_set itself)"
    )


def group_of(rel: str, depth: int = 1) -> str:
    """Exclusion group of an event file ``<class>/<a>/<b>/x.wav``: ``a`` (depth 1), ``a/b`` (2).

    A path with fewer levels uses what it has (a file directly in the class folder is
    its own group).
    """
    parts = rel.split("/")[1:]
    return "/".join(parts[: max(1, depth)])


def _walk_wavs(folder: Path) -> List[str]:
    """Sorted ``*.wav`` paths below ``folder``, relative to it (posix), recursively."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(folder).as_posix()
        for name in filenames:
            if name.startswith(".") or not name.endswith(".wav"):
                continue
            found.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    return sorted(found)


def _class_folders(folder: Path) -> List[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


class SourceIndex:
    """Sorted lists of the event, interference, noise and room files of one split.

    Args:
        dataset_root: folder holding ``data/dev_set`` (``data/dev_set`` itself is
            accepted too).
        split: ``train`` or ``valid`` (any sub-folder name works).

    Attributes:
        root: the dataset root.
        foreground_dir, interference_dir, background_dir, room_dir: the role folders,
            relative to the root (as written into scene JSONs).
        fg_labels: target classes that have a folder, in inventory order (code-point order
            of the folder names without an inventory).
        missing_classes: inventory classes without a folder (the generator never draws
            them); empty without an inventory.
        fg_files: ``{label: [SourceFile, ...]}`` sorted by path.
        int_labels: interference classes (sorted), empty if the folder is missing.
        int_files: ``{class: [SourceFile, ...]}``.
        noise_files: noise wavs, relative to ``background_dir``.
        rooms: SOFA files, relative to the root.
    """

    def __init__(self, dataset_root: PathLike, split: str = "train",
                 classes: Optional[ClassInventory] = None) -> None:
        self.root = resolve_dataset_root(dataset_root)
        self.split = split
        self.foreground_dir = f"{DEV_SET}/sound_event/{split}"
        self.interference_dir = f"{DEV_SET}/interference/{split}"
        self.background_dir = f"{DEV_SET}/noise/{split}"
        self.room_dir = f"{DEV_SET}/room_ir/{split}"
        self._info: Dict[Path, AudioInfo] = {}
        self._rooms: Dict[str, RoomInfo] = {}

        fg_root = self.root / self.foreground_dir
        if not fg_root.is_dir():
            raise DatasetError(f"{fg_root}: no such folder (target sound events)")
        present = _class_folders(fg_root)
        if classes is None:
            self.fg_labels: List[str] = sorted(present)
            self.missing_classes: List[str] = []
        else:
            unknown = [c for c in present if c not in classes]
            if unknown:
                raise DatasetError(
                    f"{fg_root / unknown[0]}: unknown target class folder {unknown[0]!r} "
                    f"(expected one of the {classes.num_classes} classes of the inventory)"
                )
            self.fg_labels = [c for c in classes if c in present]
            self.missing_classes = [c for c in classes if c not in present]
        if not self.fg_labels:
            raise DatasetError(f"{fg_root}: no target class folders")
        self.fg_files = self._scan_classes(fg_root, self.fg_labels)

        int_root = self.root / self.interference_dir
        if int_root.is_dir():
            self.int_labels: List[str] = _class_folders(int_root)
            self.int_files = self._scan_classes(int_root, self.int_labels)
        else:
            self.int_labels, self.int_files = [], {}

        noise_root = self.root / self.background_dir
        if not noise_root.is_dir():
            raise DatasetError(f"{noise_root}: no such folder (background noise)")
        self.noise_files: List[str] = sorted(
            e.name
            for e in os.scandir(noise_root)
            if e.name.endswith(".wav") and not e.name.startswith(".") and e.is_file()
        )
        if not self.noise_files:
            raise DatasetError(f"{noise_root}: no noise .wav files")

        room_root = self.root / self.room_dir
        if not room_root.is_dir():
            raise DatasetError(f"{room_root}: no such folder (room impulse responses)")
        self.rooms: List[str] = sorted(
            f"{self.room_dir}/{e.name}"
            for e in os.scandir(room_root)
            if e.name.endswith(".sofa") and not e.name.startswith(".") and e.is_file()
        )
        if not self.rooms:
            raise DatasetError(f"{room_root}: no .sofa files")

    @staticmethod
    def _scan_classes(root: Path, labels: List[str]) -> Dict[str, List[SourceFile]]:
        files = {}
        for label in labels:
            rels = _walk_wavs(root / label)
            if not rels:
                raise DatasetError(f"{root / label}: class folder has no .wav files")
            files[label] = [
                SourceFile(rel=f"{label}/{r}", label=label, group=r.split("/", 1)[0]) for r in rels
            ]
        return files

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
        from s5tse.fileio.sofa import load_sofa  # lazy: only generation/rendering needs SOFA

        path = self.root / rel
        try:
            rirs = load_sofa(str(path), sample_rate=sample_rate)
        except DatasetError:
            raise
        except Exception as e:  # sofa reader errors vary (OSError, ValueError, ...)
            raise DatasetError(f"{path}: cannot read SOFA file: {e}") from None
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
