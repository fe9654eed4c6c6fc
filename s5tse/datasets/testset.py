"""Pre-rendered test mixtures: the official test folders or a Kaldi data directory.

* ``TestSetDataset(soundscape_dir, oracle_dir)`` reads ``synthesized/test/{soundscape,
  oracle_target}`` as listed by :func:`s5tse.corpus.testset.scan_test_set` (slot order =
  sorted oracle file names, missing slots ``silence``);
* ``TestSetDataset.from_data_dir(data_dir)`` reads ``wav.scp``, ``text`` (``<mix> <label1>
  <label2> <label3>``, padded with ``silence``) and the sparse ``spk{1,2,3}.scp`` (the
  mixtures whose slot N is not ``silence``). Relative paths are relative to the current
  directory (Kaldi convention); pipe entries (``cmd |``) work.

Item dict as in :mod:`s5tse.datasets.targets`; ``strong`` comes from the reference
waveforms (:func:`~s5tse.datasets.targets.activity_from_reference`, frames above
``threshold_db`` relative to the loudest frame), ``id`` is the mixture name.

Audio checks (each raises :class:`~s5tse.fileio.sound_scp.AudioFormatError` naming the
file): the mixture must have ``sample_rate`` (32 kHz, as the official loader asserts) and
``num_channels`` (4) channels; a reference must be mono, at ``sample_rate``, with the
mixture's length. With ``check_audio=True`` (default) the headers of all plain-path
files are checked when the dataset is built; the samples are checked again when an item
is read.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch.utils.data

from s5tse.corpus.testset import scan_test_set
from s5tse.datasets.onthefly import DEFAULT_FRAME_HOP
from s5tse.datasets.targets import activity_from_reference, make_item, num_frames_for
from s5tse.fileio.sound_scp import AudioFormatError, audio_info, is_pipe, read_audio
from s5tse.fileio.table import TableError, read_table
from s5tse.labels import NUM_SLOTS, SILENCE, ClassInventory

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["TestSetDataset", "TestEntry"]


@dataclass(frozen=True)
class TestEntry:
    """One mixture: its name, audio entry and ``NUM_SLOTS`` slots ``(label, entry or None)``."""

    __test__ = False  # not a pytest test class

    name: str
    mixture: str
    slots: Tuple[Tuple[str, Optional[str]], ...]

    @property
    def labels(self) -> List[str]:
        return [label for label, _ in self.slots]


class TestSetDataset(torch.utils.data.Dataset):
    """Pre-rendered mixtures with oracle references (see the module docstring).

    Args:
        soundscape_dir: folder of ``<name>.wav`` 4-ch mixtures.
        oracle_dir: folder of ``<name>[_<n>]_<label>.wav`` references (None: no references,
            every slot ``silence``, e.g. an evaluation set).
        frame_hop: samples per frame of ``strong``.
        sample_rate: required sample rate of every file.
        num_channels: required channel count of the mixtures.
        threshold_db: activity threshold relative to each reference's loudest frame.
        check_audio: check all headers (rate, channels, lengths) now.
        classes: the class inventory (labels are checked against it; items need it). The
            official folders default to the DCASE 2026 classes.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        soundscape_dir: PathLike,
        oracle_dir: Optional[PathLike],
        *,
        frame_hop: int = DEFAULT_FRAME_HOP,
        sample_rate: int = 32000,
        num_channels: int = 4,
        threshold_db: float = -60.0,
        check_audio: bool = True,
        classes: Optional[ClassInventory] = None,
    ) -> None:
        super().__init__()
        entries = []
        extra = {"classes": classes} if classes is not None else {}
        for item in scan_test_set(soundscape_dir, oracle_dir, **extra):
            slots = [(label, os.fspath(path)) for label, path in item.refs]
            slots += [(SILENCE, None)] * (NUM_SLOTS - len(slots))
            entries.append(TestEntry(item.name, os.fspath(item.mixture), tuple(slots)))
        if classes is None:
            from s5tse.corpus.dcase import DCASE2026  # the official folders' classes

            classes = DCASE2026
        self._setup(entries, frame_hop, sample_rate, num_channels, threshold_db, check_audio,
                    classes)

    def _setup(self, entries: Sequence[TestEntry], frame_hop: int, sample_rate: int,
               num_channels: int, threshold_db: float, check_audio: bool,
               classes: Optional[ClassInventory]) -> None:
        self.classes = classes
        if isinstance(frame_hop, bool) or int(frame_hop) != frame_hop or frame_hop <= 0:
            raise ValueError(f"frame_hop must be a positive integer, got {frame_hop!r}")
        self.frame_hop = int(frame_hop)
        self.sample_rate = int(sample_rate)
        self.num_channels = int(num_channels)
        self.threshold_db = float(threshold_db)
        self.entries: List[TestEntry] = list(entries)
        self.ids: List[str] = [e.name for e in self.entries]
        if check_audio:
            self.check_headers()

    # ---------------------------------------------------------------- data dir
    @classmethod
    def from_data_dir(
        cls,
        data_dir: PathLike,
        *,
        frame_hop: int = DEFAULT_FRAME_HOP,
        sample_rate: int = 32000,
        num_channels: int = 4,
        threshold_db: float = -60.0,
        check_audio: bool = True,
        classes: Optional[ClassInventory] = None,
    ) -> "TestSetDataset":
        """Build from a Kaldi data directory (``wav.scp``, ``text``, ``spk{1,2,3}.scp``).

        Without ``text`` every slot is ``silence`` (and no ``spk{N}.scp`` may exist).
        Raises TableError naming the table: a ``text`` key set different from
        ``wav.scp``'s, more than 3 labels, an unknown label, a ``spk{N}.scp`` whose keys
        are not exactly the mixtures with a non-silence slot N (a missing ``spk{N}.scp``
        counts as empty), a ``spk{N}.scp`` with N > 3.
        """
        d = Path(data_dir)
        if not d.is_dir():
            raise TableError(f"{d}: no such directory")
        wav = read_table(d / "wav.scp")
        text_path = d / "text"
        if text_path.is_file():
            text = {k: v.split() for k, v in read_table(text_path).items()}
            extra = [k for k in text if k not in wav]
            missing = [k for k in wav if k not in text]
            if extra or missing:
                what = (f"key {extra[0]!r} not in wav.scp" if extra
                        else f"no line for {missing[0]!r} of wav.scp")
                raise TableError(f"{text_path}: {what}")
        else:
            text = {k: [] for k in wav}
        for key, labels in text.items():
            if len(labels) > NUM_SLOTS:
                raise TableError(
                    f"{text_path}: key {key!r}: {len(labels)} labels, at most {NUM_SLOTS}"
                )
            for label in labels:
                try:
                    if classes is not None:
                        classes.check_label(label, allow_silence=True)
                    elif not label or label != label.strip():
                        raise ValueError(f"bad label {label!r}")
                except ValueError as e:
                    raise TableError(f"{text_path}: key {key!r}: {e}") from None
            labels.extend([SILENCE] * (NUM_SLOTS - len(labels)))

        spk_re = re.compile(r"spk(\d+)\.scp")
        refs: Dict[int, Dict[str, str]] = {}
        for entry in sorted(os.listdir(d)):
            m = spk_re.fullmatch(entry)
            if m is None:
                continue
            n = int(m.group(1))
            if not 1 <= n <= NUM_SLOTS:
                raise TableError(f"{d / entry}: slot {n} is out of range 1..{NUM_SLOTS}")
            refs[n] = read_table(d / entry)
        for n in range(1, NUM_SLOTS + 1):
            table = refs.get(n, {})
            expected = [k for k in wav if text[k][n - 1] != SILENCE]
            if set(table) != set(expected):
                extra = sorted(set(table) - set(expected))
                missing = sorted(set(expected) - set(table))
                name = d / f"spk{n}.scp"
                if extra:
                    raise TableError(
                        f"{name}: key {extra[0]!r} has slot {n} = silence in {text_path} "
                        f"(or is not in wav.scp)"
                    )
                raise TableError(
                    f"{name}: no reference for {missing[0]!r}, whose slot {n} in {text_path} "
                    f"is {text[missing[0]][n - 1]!r}"
                    + ("" if name.is_file() else " (file missing)")
                )
        entries = []
        for key, mix in wav.items():
            slots = tuple(
                (text[key][n - 1], refs[n][key] if text[key][n - 1] != SILENCE else None)
                for n in range(1, NUM_SLOTS + 1)
            )
            entries.append(TestEntry(key, mix, slots))
        obj = cls.__new__(cls)
        torch.utils.data.Dataset.__init__(obj)
        obj._setup(entries, frame_hop, sample_rate, num_channels, threshold_db, check_audio,
                   classes)
        return obj

    # ------------------------------------------------------------------ checks
    def _check_mixture(self, entry: str, sr: int, channels: int) -> None:
        if sr != self.sample_rate:
            raise AudioFormatError(f"{entry}: mixture has {sr} Hz, expected {self.sample_rate}")
        if channels != self.num_channels:
            raise AudioFormatError(
                f"{entry}: mixture has {channels} channels, expected {self.num_channels}"
            )

    def _check_ref(self, entry: str, sr: int, channels: int, frames: int, mix_frames: int,
                   mix_entry: str) -> None:
        if sr != self.sample_rate:
            raise AudioFormatError(f"{entry}: reference has {sr} Hz, expected {self.sample_rate}")
        if channels != 1:
            raise AudioFormatError(f"{entry}: reference has {channels} channels, expected 1")
        if frames != mix_frames:
            raise AudioFormatError(
                f"{entry}: reference has {frames} samples, the mixture {mix_entry} has {mix_frames}"
            )

    def check_headers(self) -> None:
        """Check rate/channels/length of every plain-path file from its header (pipes skipped)."""
        for e in self.entries:
            mix_frames = None
            if not is_pipe(e.mixture):
                sr, ch, mix_frames = audio_info(e.mixture)
                self._check_mixture(e.mixture, sr, ch)
            for _, ref in e.slots:
                if ref is None or is_pipe(ref):
                    continue
                sr, ch, n = audio_info(ref)
                self._check_ref(ref, sr, ch, n, n if mix_frames is None else mix_frames, e.mixture)

    # ------------------------------------------------------------------- items
    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"dataset index must be an integer, got {type(i).__name__}")
        i = int(i)
        if i < 0:
            i += len(self.entries)
        if not 0 <= i < len(self.entries):
            raise IndexError(f"index {i} out of range for {len(self.entries)} items")
        e = self.entries[i]
        mix, sr = read_audio(e.mixture)
        self._check_mixture(e.mixture, sr, mix.shape[0])
        t_len = mix.shape[1]
        dry = np.zeros((NUM_SLOTS, t_len), dtype=np.float32)
        for k, (label, ref) in enumerate(e.slots):
            if ref is None:
                continue
            x, rsr = read_audio(ref)
            self._check_ref(ref, rsr, x.shape[0], x.shape[1], t_len, e.mixture)
            dry[k] = x[0]
        strong = activity_from_reference(
            dry, self.frame_hop, self.threshold_db, num_frames_for(t_len, self.frame_hop)
        )
        if self.classes is None:
            raise ValueError(f"{type(self).__name__}: no class inventory given (classes=...)")
        return make_item(e.name, mix, e.labels, strong, dry=dry, classes=self.classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(items={len(self)}, frame_hop={self.frame_hop})"
