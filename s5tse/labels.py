"""Official DCASE 2026 Task 4 target-class list and label/index helpers.

The 18 target classes and their index order are those of the task (identical in 2025 and
2026).  ``silence`` marks an empty output slot: it is index 18 in the 19-way slot
classification used by the 2026 tagger, and an all-zero vector in a multi-hot query.

Nothing here depends on torch; all arrays are numpy.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

TARGET_CLASSES: tuple[str, ...] = (
    "AlarmClock",
    "BicycleBell",
    "Blender",
    "Buzzer",
    "Clapping",
    "Cough",
    "CupboardOpenClose",
    "Dishes",
    "Doorbell",
    "FootSteps",
    "HairDryer",
    "MechanicalFans",
    "MusicalKeyboard",
    "Percussion",
    "Pour",
    "Speech",
    "Typing",
    "VacuumCleaner",
)

NUM_CLASSES: int = len(TARGET_CLASSES)  # 18
SILENCE: str = "silence"
SILENCE_INDEX: int = NUM_CLASSES  # 18
NUM_SLOTS: int = 3  # at most three target sources per mixture

_INDEX = {name: i for i, name in enumerate(TARGET_CLASSES)}


def _valid_list(allow_silence: bool) -> str:
    names = list(TARGET_CLASSES) + ([SILENCE] if allow_silence else [])
    return ", ".join(names)


def check_label(label: str, *, allow_silence: bool = False, where: str = "") -> str:
    """Return ``label`` if it is a valid target class (or ``silence`` when allowed).

    Raises ValueError naming the offending label, the context ``where`` (a file name, a
    config key, ...) and listing the valid labels.
    """
    if isinstance(label, str):
        if label in _INDEX:
            return label
        if allow_silence and label == SILENCE:
            return label
    ctx = f" in {where}" if where else ""
    hint = ""
    if isinstance(label, str):
        close = [n for n in TARGET_CLASSES if n.lower() == label.lower()]
        if close:
            hint = f" (labels are case-sensitive: did you mean {close[0]!r}?)"
    raise ValueError(
        f"unknown sound class {label!r}{ctx}{hint}; valid labels are: "
        f"{_valid_list(allow_silence)}"
    )


def label_to_index(label: str) -> int:
    """Index of a label: 0..17 for the target classes, 18 for ``silence``."""
    if label == SILENCE:
        return SILENCE_INDEX
    return _INDEX[check_label(label, allow_silence=True)]


def index_to_label(index: int) -> str:
    """Inverse of :func:`label_to_index` (18 -> ``silence``)."""
    try:
        i = int(index)
    except (TypeError, ValueError):
        raise ValueError(f"class index must be an integer, got {index!r}") from None
    if i != index or not 0 <= i <= SILENCE_INDEX:
        raise ValueError(f"class index must be in 0..{SILENCE_INDEX}, got {index!r}")
    return SILENCE if i == SILENCE_INDEX else TARGET_CLASSES[i]


def multi_hot(labels: Iterable[str]) -> np.ndarray:
    """0/1 float32 vector of shape [18]; duplicates count once, ``silence`` is ignored."""
    vec = np.zeros(NUM_CLASSES, dtype=np.float32)
    for label in labels:
        if label == SILENCE:
            continue
        vec[_INDEX[check_label(label)]] = 1.0
    return vec


def one_hot_slots(labels: Iterable[str], num_slots: int = NUM_SLOTS) -> np.ndarray:
    """One-hot float32 matrix [num_slots, 19], one row per label in order, padded with silence.

    Duplicated labels occupy separate rows.  More labels than slots is an error.
    """
    labels = list(labels)
    if num_slots < 1:
        raise ValueError(f"num_slots must be >= 1, got {num_slots}")
    if len(labels) > num_slots:
        raise ValueError(f"{len(labels)} labels do not fit into {num_slots} slots: {labels}")
    out = np.zeros((num_slots, NUM_CLASSES + 1), dtype=np.float32)
    padded = labels + [SILENCE] * (num_slots - len(labels))
    for row, label in enumerate(padded):
        out[row, label_to_index(label)] = 1.0
    return out
