"""The official DCASE 2026 Task 4 development-set layout, and a checker for it.

After unpacking the Zenodo archive the dataset root is the folder
``DCASE2026Task4Dataset`` that holds ``data/dev_set``::

    DCASE2026Task4Dataset/data/dev_set
    |-- config/            EARS_config.json, FSD50K_config.json
    |-- metadata/          valid.json + valid/ (one JSON per validation mixture)
    |-- noise/             train/, valid/        4-channel background-noise wavs
    |-- room_ir/           train/, valid/        *.sofa FOA room impulse responses
    |-- sound_event/       train/<Label>/..., valid/<Label>/...   (18 target classes)
    |-- interference/      train/<class>/..., valid/<class>/...
    `-- synthesized/test/  soundscape/, oracle_target/

* :func:`check_layout` lists every problem (one line each, paths relative to
  the dataset root); an empty list means the layout is complete.
* :func:`find_dataset_root` accepts the dataset root, its parent, or
  ``data/dev_set`` itself and returns the dataset root.
* :func:`write_dummy_dataset` writes a tiny tree in this layout (noise wavs,
  placeholder ``.sofa`` files) for tests and smoke runs.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Sequence, Union

from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "DATASET_NAME",
    "DEV_SET",
    "REQUIRED",
    "TARGET_CLASSES",
    "check_layout",
    "find_dataset_root",
    "write_dummy_dataset",
]

DATASET_NAME = "DCASE2026Task4Dataset"
DEV_SET = "data/dev_set"

#: Paths (relative to ``data/dev_set``) that must exist; ``metadata/valid.json`` is a file.
REQUIRED: List[str] = [
    "config",
    "metadata/valid.json",
    "metadata/valid",
    "noise/train",
    "noise/valid",
    "room_ir/train",
    "room_ir/valid",
    "sound_event/train",
    "sound_event/valid",
    "interference/train",
    "interference/valid",
    "synthesized/test/soundscape",
    "synthesized/test/oracle_target",
]
_REQUIRED_FILES = {"metadata/valid.json"}

#: Folders (relative to ``data/dev_set``) that must hold at least one file of the given type.
CONTENT_CHECKS = {
    "noise/train": ".wav",
    "noise/valid": ".wav",
    "room_ir/train": ".sofa",
    "room_ir/valid": ".sofa",
}
SOUND_EVENT_SPLITS = ("sound_event/train", "sound_event/valid")


def _has_file_with_suffix(folder: Path, suffix: str) -> bool:
    """True if ``folder`` (searched recursively, stopping at the first hit) holds a ``*suffix`` file."""
    for _, _, files in os.walk(folder):
        if any(f.lower().endswith(suffix) and not f.startswith(".") for f in files):
            return True
    return False


def check_layout(root: PathLike, classes: Sequence[str] = TARGET_CLASSES) -> List[str]:
    """Return the problems with the dev-set layout under dataset root ``root``.

    ``root`` is the folder holding ``data/`` (``.../DCASE2026Task4Dataset``).
    Each problem is one line with a path relative to ``root``:

    * ``missing: data/dev_set/room_ir/valid`` -- a required file or folder,
      or a class folder ``sound_event/{train,valid}/<Label>``, is absent
      (class folders are only reported when their split folder exists);
    * ``not a directory: ...`` / ``not a file: ...`` -- wrong kind of entry;
    * ``empty: data/dev_set/sound_event/train/Pour (no .wav files)`` -- a noise,
      room-IR or class folder without any ``.wav`` / ``.sofa`` file (searched
      recursively);
    * ``unknown class folder: data/dev_set/sound_event/train/Dog``.

    An empty list means the layout is complete.
    """
    root = Path(root)
    dev = root / DEV_SET
    problems: List[str] = []
    if not dev.is_dir():
        return [f"missing: {DEV_SET}"]

    for rel in REQUIRED:
        path = dev / rel
        shown = f"{DEV_SET}/{rel}"
        if not path.exists():
            problems.append(f"missing: {shown}")
        elif rel in _REQUIRED_FILES and not path.is_file():
            problems.append(f"not a file: {shown}")
        elif rel not in _REQUIRED_FILES and not path.is_dir():
            problems.append(f"not a directory: {shown}")
        elif rel in CONTENT_CHECKS and not _has_file_with_suffix(path, CONTENT_CHECKS[rel]):
            problems.append(f"empty: {shown} (no {CONTENT_CHECKS[rel]} files)")

    known = set(classes)
    for split in SOUND_EVENT_SPLITS:
        split_dir = dev / split
        if not split_dir.is_dir():
            continue  # already reported above
        for label in classes:
            path = split_dir / label
            shown = f"{DEV_SET}/{split}/{label}"
            if not path.exists():
                problems.append(f"missing: {shown}")
            elif not path.is_dir():
                problems.append(f"not a directory: {shown}")
            elif not _has_file_with_suffix(path, ".wav"):
                problems.append(f"empty: {shown} (no .wav files)")
        for entry in sorted(os.listdir(split_dir)):
            if entry.startswith(".") or entry in known or not (split_dir / entry).is_dir():
                continue
            problems.append(f"unknown class folder: {DEV_SET}/{split}/{entry}")
    return problems


def _looks_like_root(path: Path) -> bool:
    return (path / DEV_SET).is_dir()


def find_dataset_root(path: PathLike) -> Path:
    """Return the dataset root (the folder holding ``data/dev_set``) for ``path``.

    ``path`` may be the ``DCASE2026Task4Dataset`` folder itself, its parent
    (e.g. the extraction folder), ``data/`` or ``data/dev_set``.  Raises
    :class:`FileNotFoundError` with the places that were looked at otherwise.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such directory (expected the {DATASET_NAME} folder, "
                                f"its parent, or its {DEV_SET} folder)")
    if _looks_like_root(path):
        return path
    if path.name == "dev_set" and path.parent.name == "data":
        return path.parent.parent
    if path.name == "data" and (path / "dev_set").is_dir():
        return path.parent
    if _looks_like_root(path / DATASET_NAME):
        return path / DATASET_NAME
    candidates = sorted(p for p in path.iterdir() if p.is_dir() and _looks_like_root(p))
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise FileNotFoundError(f"{path}: several dataset roots found "
                                f"({', '.join(str(c) for c in candidates)}); pass one of them")
    raise FileNotFoundError(
        f"{path}: no DCASE 2026 Task 4 dev set found; looked for {path}/{DEV_SET}, "
        f"{path}/{DATASET_NAME}/{DEV_SET}, {path}/*/{DEV_SET} and whether {path} is itself "
        f"a .../{DEV_SET} folder")


def write_dummy_dataset(root: PathLike, *, seconds: float = 0.05, sr: int = 32000,
                        seed: int = 0, classes: Sequence[str] = TARGET_CLASSES,
                        n_interference_classes: int = 2) -> Path:
    """Write a tiny development set in the official layout under dataset root ``root``.

    Audio is white noise (incompressible, so archives of it have a real size):
    mono events for every class in ``sound_event/{train,valid}``, 4-channel
    noise and test soundscapes, mono oracle targets and interference events.
    The ``.sofa`` files are placeholder random bytes, *not* valid SOFA files.
    Returns ``Path(root)``; :func:`check_layout` of it is ``[]``.
    """
    import numpy as np
    import soundfile as sf

    root = Path(root)
    dev = root / DEV_SET
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sr)))

    def wav(rel: str, channels: int = 1) -> None:
        path = dev / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.uniform(-0.5, 0.5, size=(n, channels)).astype(np.float32)
        sf.write(str(path), data if channels > 1 else data[:, 0], sr, subtype="PCM_16")

    for split in ("train", "valid"):
        wav(f"noise/{split}/noise_{split}_0.wav", channels=4)
        sofa = dev / f"room_ir/{split}/room_{split}_0.sofa"
        sofa.parent.mkdir(parents=True, exist_ok=True)
        sofa.write_bytes(rng.bytes(2048))
        for i, label in enumerate(classes):
            wav(f"sound_event/{split}/{label}/{label}_{split}_{i}.wav")
        for k in range(n_interference_classes):
            wav(f"interference/{split}/interference{k}/int_{split}_{k}.wav")
    (dev / "config").mkdir(parents=True, exist_ok=True)
    for name in ("EARS_config.json", "FSD50K_config.json"):
        (dev / "config" / name).write_text("[]\n")
    (dev / "metadata/valid").mkdir(parents=True, exist_ok=True)
    (dev / "metadata/valid/valid_0000.json").write_text(json.dumps({"fg_events": [], "bg_events": [],
                                                                    "int_events": []}) + "\n")
    (dev / "metadata/valid.json").write_text(json.dumps([{"metadata_path": "valid/valid_0000.json"}]) + "\n")
    wav("synthesized/test/soundscape/test_0000.wav", channels=4)
    wav(f"synthesized/test/oracle_target/test_0000_{classes[0]}.wav")
    return root

