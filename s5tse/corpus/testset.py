"""Scan the pre-rendered official test set (no torch; used by data preparation too).

Layout (reference §2.4)::

    synthesized/test/soundscape/<name>.wav                    4-ch mixtures
    synthesized/test/oracle_target/<name>_<label>.wav          mono dry references, or
    synthesized/test/oracle_target/<name>_<n>_<label>.wav      (2026 numbered form)

The references of a soundscape with stem ``s`` are the oracle files whose name matches
``^{s}(?:_(\\d+))?_(.+)\\.wav$`` with the label (group 2) one of the 18 target classes,
in file-name order (byte order); that order is the slot order, missing slots are
``silence``. A file name that several stems could claim (``t_1_0_Speech.wav`` with
soundscapes ``t_1`` and ``t_1_0``) belongs to the longest stem; a prefix that is not
followed by ``_`` never matches (``t_1`` does not take ``t_10_Speech.wav``).

Only ``*.wav`` files are considered; names starting with ``.`` are skipped. Every
problem raises :class:`TestSetError` with one line naming the offending path: a
missing folder, no soundscapes, an oracle file that no soundscape claims, a label
that is not a target class, more than 3 references for one soundscape.

    items = scan_test_set("data/dev_set/synthesized/test/soundscape",
                          "data/dev_set/synthesized/test/oracle_target")
    items[1].name, items[1].refs     # 'test_0001', [('Cough', Path(...)), ...]
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from s5tse.corpus.dcase import DCASE2026
from s5tse.labels import NUM_SLOTS, ClassInventory
from s5tse.simulate.sources import DatasetError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["TestItem", "TestSetError", "scan_test_set", "parse_oracle_name", "list_wavs"]


class TestSetError(DatasetError):
    """A malformed test-set folder; the message is one line naming the path (a ValueError)."""

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class TestItem:
    """One test mixture and its references (label, path) in slot order (at most 3)."""

    __test__ = False  # not a pytest test class

    name: str
    mixture: Path
    refs: List[Tuple[str, Path]] = field(default_factory=list)

    @property
    def labels(self) -> List[str]:
        """Reference labels in slot order, without padding."""
        return [label for label, _ in self.refs]


def _byte_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def list_wavs(folder: PathLike) -> List[str]:
    """Names of the ``*.wav`` files (not hidden, not folders) in ``folder``, in byte order."""
    names = [
        e.name for e in os.scandir(folder)
        if e.name.endswith(".wav") and not e.name.startswith(".") and e.is_file()
    ]
    return sorted(names, key=_byte_key)


def _pattern(stem: str) -> "re.Pattern[str]":
    return re.compile(rf"^{re.escape(stem)}(?:_(\d+))?_(.+)\.wav$", re.DOTALL)


def parse_oracle_name(file_name: str, stem: str) -> Optional[Tuple[Optional[int], str]]:
    """``(n or None, label)`` if ``file_name`` is an oracle name of soundscape ``stem``, else None.

    The label is not checked here (see :func:`scan_test_set`).

        >>> parse_oracle_name("t_1_0_Speech.wav", "t_1")
        (0, 'Speech')
        >>> parse_oracle_name("t_1_Speech.wav", "t_1")
        (None, 'Speech')
        >>> parse_oracle_name("t_10_Speech.wav", "t_1") is None
        True
    """
    m = _pattern(stem).match(file_name)
    if m is None:
        return None
    n = int(m.group(1)) if m.group(1) is not None else None
    return n, m.group(2)


def scan_test_set(
    soundscape_dir: PathLike,
    oracle_dir: Optional[PathLike],
    *,
    max_refs: int = NUM_SLOTS,
    classes: ClassInventory = DCASE2026,
) -> List[TestItem]:
    """List the test mixtures and their references, sorted by name (byte order).

    Args:
        soundscape_dir: folder of ``<name>.wav`` mixtures.
        oracle_dir: folder of the oracle targets; ``None`` for a set without references
            (e.g. the evaluation set): every item then has no references.
        max_refs: most references per mixture (3 slots).
        classes: the labels the file names may carry (the DCASE 2026 classes by default).
    Returns:
        one :class:`TestItem` per soundscape.
    Raises:
        TestSetError: missing folder(s) (all named), no soundscape, an oracle file with no
            soundscape, an unknown label, too many references (each naming the file).
    """
    sdir = Path(soundscape_dir)
    odir = Path(oracle_dir) if oracle_dir is not None else None
    missing = [str(d) for d in (sdir, odir) if d is not None and not d.is_dir()]
    if missing:
        raise TestSetError(
            f"{' and '.join(missing)}: no such folder"
            f"{'s' if len(missing) > 1 else ''} (test set: soundscape/ and oracle_target/)"
        )
    stems = [name[: -len(".wav")] for name in list_wavs(sdir)]
    if not stems:
        raise TestSetError(f"{sdir}: no soundscape .wav files")

    refs: Dict[str, List[Tuple[str, Path]]] = {s: [] for s in stems}
    if odir is not None:
        # longest stem first: a name two stems could claim goes to the more specific one
        patterns = [(s, _pattern(s)) for s in sorted(stems, key=lambda s: (-len(s), _byte_key(s)))]
        for name in list_wavs(odir):  # byte order: the slot order within each mixture
            owner = None
            for stem, pat in patterns:
                m = pat.match(name)
                if m is not None:
                    owner, label = stem, m.group(2)
                    break
            if owner is None:
                raise TestSetError(
                    f"{odir / name}: oracle file matches no soundscape in {sdir} "
                    f"(expected <name>_<label>.wav or <name>_<n>_<label>.wav)"
                )
            if label not in classes:
                raise TestSetError(
                    f"{odir / name}: {label!r} (from the file name, soundscape {owner!r}) is not "
                    f"one of the {classes.num_classes} classes of the inventory"
                )
            refs[owner].append((label, odir / name))

    items = []
    for stem in stems:
        if len(refs[stem]) > max_refs:
            names = ", ".join(p.name for _, p in refs[stem])
            raise TestSetError(
                f"{sdir / (stem + '.wav')}: {len(refs[stem])} oracle targets ({names}), "
                f"at most {max_refs} allowed"
            )
        items.append(TestItem(name=stem, mixture=sdir / f"{stem}.wav", refs=refs[stem]))
    return items
