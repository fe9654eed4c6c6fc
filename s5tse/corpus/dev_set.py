"""The DCASE 2026 Task 4 dev-set folders as a :class:`~s5tse.simulate.sources.SourceIndex`.

For one split it lists (paths relative to the dataset root, the folder holding ``data/``)::

    data/dev_set/sound_event/<split>/<Label>/**/*.wav     target events
    data/dev_set/interference/<split>/<class>/**/*.wav    interference events
    data/dev_set/noise/<split>/*.wav                      4-ch background noise
    data/dev_set/room_ir/<split>/*.sofa                   FOA RIRs

Event files are found recursively below their class folder (nested sub-folders are
allowed) and kept in sorted order (code-point order of the relative path, the same as
``LC_ALL=C``). Names starting with ``.`` are skipped. Each event file's exclusion group
is its path below the class folder (:func:`~s5tse.simulate.sources.group_of`:
``Speech/p001/x.wav`` -> ``p001`` at depth 1; a file directly in the class folder is its
own group).

Stage 1 (:mod:`s5tse.corpus.prepare`) turns this index into the pool tables; the mini
corpus builder draws its validation and test scenes from it, so their JSONs carry the
official relative paths.

    index = scan_dev_set("/corpora/DCASE2026Task4Dataset", split="train", classes=DCASE2026)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Union

from s5tse.corpus.layout import DEV_SET
from s5tse.labels import ClassInventory
from s5tse.simulate.sources import DatasetError, SourceFile, SourceIndex

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["resolve_dataset_root", "scan_dev_set"]


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


def _listed(folder: Path, suffix: str) -> List[str]:
    return sorted(e.name for e in os.scandir(folder)
                  if e.name.endswith(suffix) and not e.name.startswith(".") and e.is_file())


def scan_dev_set(dataset_root: PathLike, split: str = "train",
                 classes: Optional[ClassInventory] = None) -> SourceIndex:
    """The :class:`SourceIndex` of one split of the dev-set folders.

    Args:
        dataset_root: folder holding ``data/dev_set`` (``data/dev_set`` itself is accepted).
        split: ``train`` or ``valid`` (any sub-folder name works).
        classes: the inventory: target class folders outside it are an error, classes
            without a folder are listed in ``missing_classes``. None: the folders present,
            sorted.
    Raises:
        DatasetError: missing ``sound_event/<split>``, an empty or unknown class folder, no
            noise or no room files (one line naming the path).
    """
    root = resolve_dataset_root(dataset_root)
    dirs = {
        "foreground": f"{DEV_SET}/sound_event/{split}",
        "interference": f"{DEV_SET}/interference/{split}",
        "background": f"{DEV_SET}/noise/{split}",
        "rooms": f"{DEV_SET}/room_ir/{split}",
    }
    fg_root = root / dirs["foreground"]
    if not fg_root.is_dir():
        raise DatasetError(f"{fg_root}: no such folder (target sound events)")
    present = _class_folders(fg_root)
    if classes is None:
        labels, missing = sorted(present), []
    else:
        unknown = [c for c in present if c not in classes]
        if unknown:
            raise DatasetError(
                f"{fg_root / unknown[0]}: unknown target class folder {unknown[0]!r} "
                f"(expected one of the {classes.num_classes} classes of the inventory)"
            )
        labels = [c for c in classes if c in present]
        missing = [c for c in classes if c not in present]
    if not labels:
        raise DatasetError(f"{fg_root}: no target class folders")
    int_root = root / dirs["interference"]
    int_files = _scan_classes(int_root, _class_folders(int_root)) if int_root.is_dir() else {}
    noise_root = root / dirs["background"]
    if not noise_root.is_dir():
        raise DatasetError(f"{noise_root}: no such folder (background noise)")
    noise = _listed(noise_root, ".wav")
    if not noise:
        raise DatasetError(f"{noise_root}: no noise .wav files")
    room_root = root / dirs["rooms"]
    if not room_root.is_dir():
        raise DatasetError(f"{room_root}: no such folder (room impulse responses)")
    rooms = [f"{dirs['rooms']}/{name}" for name in _listed(room_root, ".sofa")]
    if not rooms:
        raise DatasetError(f"{room_root}: no .sofa files")
    return SourceIndex(root=root, split=split, role_dirs=dirs,
                       fg_files=_scan_classes(fg_root, labels), int_files=int_files,
                       noise_files=noise, rooms=rooms, missing_classes=missing, path_groups=True)
