"""Decoding inputs: the list of mixtures (Kaldi data dir or official folders), job shares,
and audio reading with the checks of the task format.

Two ways to name the mixtures:

* a Kaldi data dir (``--data data/test``): ``wav.scp``; for oracle decoding also ``text``
  (``<name> l1 l2 l3``, padded with ``silence``) and ``spk{1,2,3}.scp``
  (:meth:`TestSetDataset.from_data_dir <s5tse.datasets.testset.TestSetDataset.from_data_dir>`);
* the official folders (``--soundscape_dir .../soundscape [--oracle_dir .../oracle_target]``,
  :func:`s5tse.corpus.testset.scan_test_set`).

Items keep the order of ``wav.scp`` / the folder scan (byte order of the names). Job ``j``
of ``n`` (1-based) decodes the items with ``index % n == j - 1``: a pure function of the
list, whatever order or machine the jobs run on.

:func:`read_mixture` returns ``[4, T]`` float32 at 32 kHz. It rejects, with a one-line
:class:`DecodeInputError` naming the file: unreadable audio, a channel count other than 4,
a sample rate other than 32 kHz (unless ``resample=True``: ``torchaudio.functional.resample``),
NaN/Inf samples.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from s5tse.labels import NUM_SLOTS, SILENCE, ClassInventory

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["DecodeInputError", "DecodeItem", "list_items", "job_share", "read_mixture",
           "read_references", "SAMPLE_RATE", "NUM_CHANNELS"]

SAMPLE_RATE = 32000
NUM_CHANNELS = 4


class DecodeInputError(ValueError):
    """Bad decoding input; the message is one line naming the file."""


@dataclass(frozen=True)
class DecodeItem:
    """One mixture: name, audio entry and (oracle decoding) reference slots.

    ``slots``: ``(label, entry or None)`` per slot, padded with ``silence`` to 3 (empty when
    the input has no references).
    """

    name: str
    mixture: str
    slots: Tuple[Tuple[str, Optional[str]], ...] = field(default_factory=tuple)

    @property
    def labels(self) -> List[str]:
        return [label for label, _ in self.slots]


def list_items(data_dir: Optional[PathLike] = None, soundscape_dir: Optional[PathLike] = None,
               oracle_dir: Optional[PathLike] = None, need_references: bool = False,
               classes: Optional[ClassInventory] = None) -> List[DecodeItem]:
    """The mixtures to decode (module docstring); ``need_references`` for oracle decoding,
    whose labels must be in ``classes`` (the models' inventory).

    Raises:
        DecodeInputError: neither or both sources given, missing tables/folders, references
            needed but absent or inconsistent (one line, naming the file).
    """
    from s5tse.corpus.testset import scan_test_set
    from s5tse.fileio.table import read_table

    if (data_dir is None) == (soundscape_dir is None):
        raise DecodeInputError("give --data (a Kaldi data dir) or --soundscape_dir, not both")
    try:
        if data_dir is not None:
            d = Path(data_dir)
            if not d.is_dir():
                raise DecodeInputError(f"{d}: no such data directory")
            if not need_references:
                wav = read_table(d / "wav.scp")
                items = [DecodeItem(k, v) for k, v in wav.items()]
            else:
                if not (d / "text").is_file():
                    raise DecodeInputError(f"{d / 'text'}: no such file (the reference labels are "
                                           f"needed here)")
                from s5tse.datasets.testset import TestSetDataset

                ds = TestSetDataset.from_data_dir(d, check_audio=False, classes=classes)
                items = [DecodeItem(e.name, e.mixture, tuple(e.slots)) for e in ds.entries]
        else:
            if need_references and oracle_dir is None:
                raise DecodeInputError("oracle labels need --oracle_dir (the oracle_target folder)")
            extra = {"classes": classes} if classes is not None else {}
            tests = scan_test_set(soundscape_dir, oracle_dir if need_references else None, **extra)
            items = []
            for t in tests:
                slots: Tuple[Tuple[str, Optional[str]], ...] = ()
                if need_references:
                    refs = [(label, os.fspath(p)) for label, p in t.refs]
                    slots = tuple(refs + [(SILENCE, None)] * (NUM_SLOTS - len(refs)))
                items.append(DecodeItem(t.name, os.fspath(t.mixture), slots))
    except DecodeInputError:
        raise
    except (ValueError, OSError) as exc:  # TableError, TestSetError, AudioFormatError
        raise DecodeInputError(" ".join(str(exc).split()) or type(exc).__name__) from None
    if not items:
        raise DecodeInputError(f"{data_dir or soundscape_dir}: no mixtures to decode")
    for item in items:
        if any(c.isspace() for c in item.name):
            raise DecodeInputError(f"{item.mixture}: the soundscape name {item.name!r} contains "
                                   "whitespace, which a Kaldi text line cannot hold; rename it")
    return items


def check_mixtures(items: Sequence[DecodeItem], resample: bool = False) -> None:
    """Read every mixture once with :func:`read_mixture`'s checks, so that a bad file stops a
    job before the models run rather than half-way through it (DecodeInputError naming it)."""
    for item in items:
        read_mixture(item.mixture, resample)


def job_share(items: Sequence[DecodeItem], job: int, num_jobs: int) -> List[DecodeItem]:
    """Items of job ``job`` (1-based) of ``num_jobs``: those with ``index % num_jobs == job - 1``."""
    if num_jobs < 1 or not 1 <= job <= num_jobs:
        raise ValueError(f"job must be in 1..num_jobs (num_jobs >= 1), got job={job}, "
                         f"num_jobs={num_jobs}")
    return [it for i, it in enumerate(items) if i % num_jobs == job - 1]


def _resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    import torchaudio.functional as AF

    y = AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), int(sr), int(target))
    return y.numpy()


def _read(entry: str, role: str) -> Tuple[np.ndarray, int]:
    from s5tse.fileio.sound_scp import AudioFormatError, read_audio

    try:
        return read_audio(entry)
    except (AudioFormatError, OSError) as exc:
        raise DecodeInputError(f"{role}: {' '.join(str(exc).split())}") from None


def check_mixture_array(x: np.ndarray, sr: int, where: str, resample: bool = False,
                        sample_rate: int = SAMPLE_RATE, num_channels: int = NUM_CHANNELS,
                        resample_hint: str = "pass --resample true to resample it") -> torch.Tensor:
    """A mixture ``x [C, T]`` at ``sr`` Hz -> ``[num_channels, T]`` float32 at ``sample_rate``;
    DecodeInputError starting with ``where`` (a file, or ``input`` for an array) when it has
    another channel count, NaN/Inf or non-float samples, or another rate without ``resample``."""
    if x.ndim != 2 or x.shape[0] != num_channels:
        got = f"{x.shape[0]} channel(s)" if x.ndim == 2 else f"shape {tuple(x.shape)}"
        raise DecodeInputError(f"{where}: mixture has {got}, expected {num_channels} "
                               f"(FOA W, Y, Z, X)")
    if not np.issubdtype(x.dtype, np.floating):
        raise DecodeInputError(f"{where}: mixture has {x.dtype} samples, expected floating point")
    if not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise DecodeInputError(f"{where}: mixture has {bad} NaN/Inf sample(s)")
    if int(sr) != sample_rate:
        if not resample:
            raise DecodeInputError(f"{where}: mixture has {sr} Hz, expected {sample_rate} "
                                   f"({resample_hint})")
        x = _resample(x, int(sr), sample_rate)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def read_mixture(entry: str, resample: bool = False, sample_rate: int = SAMPLE_RATE,
                 num_channels: int = NUM_CHANNELS) -> torch.Tensor:
    """``[num_channels, T]`` float32 mixture at ``sample_rate`` (checks in the module docstring)."""
    x, sr = _read(entry, "mixture")
    return check_mixture_array(x, sr, entry, resample, sample_rate, num_channels)


def read_references(item: DecodeItem, num_samples: int, resample: bool = False,
                    sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``[3, num_samples]`` float32 references of ``item`` (zeros for ``silence`` slots); each
    must be mono, at ``sample_rate`` (or resampled) and of the mixture's length."""
    out = np.zeros((len(item.slots), num_samples), dtype=np.float32)
    for k, (label, entry) in enumerate(item.slots):
        if label == SILENCE or entry is None:
            continue
        x, sr = _read(entry, "reference")
        if x.shape[0] != 1:
            raise DecodeInputError(f"{entry}: reference has {x.shape[0]} channels, expected 1")
        if sr != sample_rate:
            if not resample:
                raise DecodeInputError(f"{entry}: reference has {sr} Hz, expected {sample_rate}")
            x = _resample(x, sr, sample_rate)
        if x.shape[1] != num_samples:
            raise DecodeInputError(f"{entry}: reference has {x.shape[1]} samples, its mixture "
                                   f"{item.mixture} has {num_samples}")
        if not np.isfinite(x).all():
            raise DecodeInputError(f"{entry}: reference has NaN/Inf samples")
        out[k] = x[0]
    return out
