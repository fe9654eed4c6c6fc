"""The class inventory: which target classes a system knows, and in which output order.

Nothing here names a dataset's classes: the inventory comes from the data. Stage 1 writes it
as ``data/lang/classes.txt`` (one class a line; line order = model output index), a trained
experiment records it in its ``config.yaml`` (``classes:``), and everything downstream
(datasets, model heads, losses, bridge, scorer, results, submission) takes it from there.
``silence`` marks an empty output slot: it is never in the file; its index is the class count
(the last of the ``C + 1`` slot classes of a tagger) and an all-zero row in a multi-hot query.

    inv = ClassInventory.read("data/lang/classes.txt")     # or ClassInventory(["Dog", "Cat"])
    inv.num_classes, inv.silence_index                     # 2, 2
    inv.label_to_index("Cat"), inv.index_to_label(2)       # 1, 'silence'
    inv.write("exp/x/classes.txt")                         # atomic

Nothing here depends on torch; all arrays are numpy.
"""
from __future__ import annotations

import difflib
import os
from typing import Iterable, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

SILENCE: str = "silence"
NUM_SLOTS: int = 3  # at most three target sources per mixture
#: Where stage 1 writes the inventory, relative to the data root (``data/``).
CLASSES_FILE = os.path.join("lang", "classes.txt")

__all__ = ["SILENCE", "NUM_SLOTS", "CLASSES_FILE", "ClassInventory", "InventoryError",
           "find_inventory"]


class InventoryError(ValueError):
    """A bad class inventory or a label outside it; one line naming the file (and line)."""


class ClassInventory:
    """An ordered list of target class names (index = position) plus ``silence``.

    Class names are non-empty, contain no whitespace (they appear in Kaldi ``text`` lines and
    file names), are unique and are not ``silence``.
    """

    def __init__(self, classes: Sequence[str], where: str = "class inventory") -> None:
        if isinstance(classes, str):
            raise InventoryError(f"{where}: expected a list of class names, got a string")
        names = list(classes)
        if not names:
            raise InventoryError(f"{where}: no classes")
        seen = {}
        for i, name in enumerate(names):
            if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
                raise InventoryError(f"{where}: class #{i + 1} {name!r} must be a non-empty "
                                     f"name without whitespace")
            if name == SILENCE:
                raise InventoryError(f"{where}: {SILENCE!r} is not a class (empty slots are "
                                     f"handled by the code)")
            if name in seen:
                raise InventoryError(f"{where}: class {name!r} listed twice (#{seen[name] + 1} "
                                     f"and #{i + 1})")
            seen[name] = i
        self.classes: tuple = tuple(names)
        self._index = seen

    # ------------------------------------------------------------------ basics
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def silence_index(self) -> int:
        """Index of ``silence`` among the ``num_classes + 1`` slot classes."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.classes)

    def __contains__(self, label: object) -> bool:
        return label in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassInventory) and other.classes == self.classes

    def __hash__(self) -> int:
        return hash(self.classes)

    def __repr__(self) -> str:
        return f"ClassInventory({list(self.classes)!r})"

    def to_list(self) -> List[str]:
        return list(self.classes)

    # ----------------------------------------------------------------- labels
    def check_label(self, label: str, *, allow_silence: bool = False, where: str = "") -> str:
        """``label`` if it is one of the classes (or ``silence`` when allowed), else a one-line
        :class:`InventoryError` naming ``where`` and listing the valid labels."""
        if isinstance(label, str) and (label in self._index or (allow_silence and label == SILENCE)):
            return label
        ctx = f" in {where}" if where else ""
        hint = self.suggestion(label) if isinstance(label, str) else ""
        valid = ", ".join(list(self.classes) + ([SILENCE] if allow_silence else []))
        raise InventoryError(f"unknown sound class {label!r}{ctx}{hint}; valid labels are: {valid}")

    def suggestion(self, label: str) -> str:
        """`` (did you mean 'X'?)`` for a near miss of a class name (case first), else ``""``."""
        close = [n for n in self.classes if n.lower() == label.lower()]
        if close:
            return f" (labels are case-sensitive: did you mean {close[0]!r}?)"
        near = difflib.get_close_matches(label, self.classes, n=1, cutoff=0.8)
        return f" (did you mean {near[0]!r}?)" if near else ""

    def label_to_index(self, label: str) -> int:
        """``0..C-1`` for the classes, ``C`` for ``silence``."""
        if label == SILENCE:
            return self.silence_index
        return self._index[self.check_label(label)]

    def index_to_label(self, index: int) -> str:
        """Inverse of :meth:`label_to_index`."""
        try:
            i = int(index)
        except (TypeError, ValueError):
            raise InventoryError(f"class index must be an integer, got {index!r}") from None
        if i != index or not 0 <= i <= self.silence_index:
            raise InventoryError(f"class index must be in 0..{self.silence_index}, got {index!r}")
        return SILENCE if i == self.silence_index else self.classes[i]

    def multi_hot(self, labels: Iterable[str]) -> np.ndarray:
        """0/1 float32 vector ``[C]``; duplicates count once, ``silence`` is ignored."""
        vec = np.zeros(self.num_classes, dtype=np.float32)
        for label in labels:
            if label != SILENCE:
                vec[self._index[self.check_label(label)]] = 1.0
        return vec

    def one_hot_slots(self, labels: Iterable[str], num_slots: int = NUM_SLOTS) -> np.ndarray:
        """One-hot float32 ``[num_slots, C + 1]``, one row per label in order, padded with
        silence; duplicated labels occupy separate rows."""
        labels = list(labels)
        if num_slots < 1:
            raise ValueError(f"num_slots must be >= 1, got {num_slots}")
        if len(labels) > num_slots:
            raise ValueError(f"{len(labels)} labels do not fit into {num_slots} slots: {labels}")
        out = np.zeros((num_slots, self.num_classes + 1), dtype=np.float32)
        for row, label in enumerate(labels + [SILENCE] * (num_slots - len(labels))):
            out[row, self.label_to_index(label)] = 1.0
        return out

    # -------------------------------------------------------------------- files
    @classmethod
    def read(cls, path: PathLike) -> "ClassInventory":
        """Read ``classes.txt``: one class a line, no blank lines, no duplicates."""
        name = os.fspath(path)
        try:
            with open(name, "r", encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            raise InventoryError(f"{name}: no such class inventory (stage 1 writes "
                                 f"data/{CLASSES_FILE})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InventoryError(f"{name}: cannot read the class inventory ({exc})") from None
        seen = {}
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                raise InventoryError(f"{name}:{n}: blank line (one class a line)")
            if line != line.strip() or len(line.split()) != 1:
                raise InventoryError(f"{name}:{n}: {line!r} is not one class name without whitespace")
            if line in seen:
                raise InventoryError(f"{name}:{n}: class {line!r} already on line {seen[line]}")
            seen[line] = n
        return cls(lines, where=name)

    def write(self, path: PathLike) -> None:
        """Write ``classes.txt`` atomically."""
        from s5tse.fileio.atomic import atomic_write_text

        atomic_write_text(path, "".join(f"{c}\n" for c in self.classes))

    @classmethod
    def from_config(cls, config: Mapping, where: str = "config") -> "ClassInventory":
        """The inventory an experiment recorded in its ``config.yaml`` (``classes:``)."""
        classes = config.get("classes") if isinstance(config, Mapping) else None
        if classes is None:
            raise InventoryError(f"{where}: no 'classes' list (the class inventory the "
                                 f"experiment was trained with)")
        return cls(classes, where=f"{where}: classes")

    def check_same(self, other: "ClassInventory", mine: str, theirs: str) -> None:
        """One-line error naming both lists unless ``other`` is the same inventory."""
        if other != self:
            raise InventoryError(f"{mine} has classes {list(self.classes)} but {theirs} has "
                                 f"{list(other.classes)}")


def find_inventory(data_dir: PathLike, explicit: Optional[PathLike] = None) -> ClassInventory:
    """The inventory for a Kaldi data dir: ``explicit`` if given, else ``<data_dir>/lang/
    classes.txt`` or ``<data_dir>/../lang/classes.txt`` (``data/test`` -> ``data/lang``)."""
    if explicit is not None:
        return ClassInventory.read(explicit)
    here = os.path.abspath(os.fspath(data_dir))
    for folder in (here, os.path.dirname(here)):
        candidate = os.path.join(folder, CLASSES_FILE)
        if os.path.isfile(candidate):
            return ClassInventory.read(candidate)
    raise InventoryError(f"{data_dir}: no {CLASSES_FILE} in it or its parent folder (stage 1 "
                         f"writes data/{CLASSES_FILE}; or pass the file explicitly)")
