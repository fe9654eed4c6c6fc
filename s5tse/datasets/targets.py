"""Label and activity tensors of a training item, and the item dict itself.

* :func:`label_indices` -- ``[S]`` int64 class index per slot (``silence`` = ``C``).
* :func:`weak_targets` -- ``[S, C]`` float32 one-hot per slot, an all-zero row for ``silence``.
* :func:`frame_activity` -- ``[K, F]`` float32 frame activity from sample spans: frame ``f``
  covers samples ``[f * hop, (f + 1) * hop)`` and is active (1.0) when it overlaps the
  span ``[start, stop)``; ``F = ceil(num_samples / hop)`` by default.
* :func:`activity_from_reference` -- the same from waveforms (pre-rendered data without
  spans): a frame is active when its energy is above ``threshold_db`` relative to the
  reference's loudest frame.
* :func:`make_item` -- the item dict shared by all datasets of :mod:`s5tse.datasets`.

Item dict (``S = 3`` slots, ``T`` samples, ``F = ceil(T / hop)`` frames, ``C`` classes of the
inventory, :class:`s5tse.labels.ClassInventory`)::

    mixture      [C, T] float32      (C = 4 for FOA)
    dry          [S, T] float32      references in slot order, zeros for silence
    labels       list of S str       padded with "silence"
    label_index  [S] int64           silence = C
    weak         [S, C] float32
    strong       [S, F] float32
    id           str
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch

from s5tse.labels import NUM_SLOTS, SILENCE, ClassInventory

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]

__all__ = [
    "label_indices",
    "weak_targets",
    "num_frames_for",
    "frame_activity",
    "activity_from_reference",
    "pad_slots",
    "make_item",
]


def _check_hop(hop: int) -> int:
    if isinstance(hop, bool) or int(hop) != hop or hop <= 0:
        raise ValueError(f"frame hop must be a positive integer number of samples, got {hop!r}")
    return int(hop)


def label_indices(labels: Sequence[str], classes: ClassInventory) -> torch.Tensor:
    """``[len(labels)]`` int64: class index per slot (0..C-1, ``silence`` = C).

    Raises ValueError naming an unknown label.
    """
    return torch.tensor([classes.label_to_index(label) for label in labels], dtype=torch.int64)


def weak_targets(labels: Sequence[str], classes: ClassInventory) -> torch.Tensor:
    """``[len(labels), C]`` float32: one-hot row per slot, all zeros for ``silence``.

    Duplicated classes keep one row each (two slots with the same one-hot).
    """
    idx = label_indices(labels, classes)
    out = torch.zeros((len(idx), classes.num_classes), dtype=torch.float32)
    for row, i in enumerate(idx.tolist()):
        if i < classes.num_classes:
            out[row, i] = 1.0
    return out


def num_frames_for(num_samples: int, hop: int) -> int:
    """``ceil(num_samples / hop)``: frames covering ``num_samples`` (the last may be partial)."""
    hop = _check_hop(hop)
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    return -(-int(num_samples) // hop)


def frame_activity(
    spans: ArrayLike, num_samples: int, hop: int, num_frames: Optional[int] = None
) -> torch.Tensor:
    """``[K, F]`` float32 activity of ``K`` sample spans ``(start, stop)`` (stop exclusive).

    Frame ``f`` covers samples ``[f * hop, (f + 1) * hop)``; it is 1.0 when it overlaps
    ``[start, stop)``. Empty spans (``stop <= start``) give all-zero rows. Spans are
    clipped to ``[0, num_samples]``. ``num_frames`` defaults to ``ceil(num_samples / hop)``.
    """
    hop = _check_hop(hop)
    if num_frames is None:
        num_frames = num_frames_for(num_samples, hop)
    if isinstance(spans, torch.Tensor):
        spans = spans.detach().cpu().numpy()
    arr = np.asarray(spans, dtype=np.int64)
    if arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"spans must have shape [K, 2], got {arr.shape}")
    out = np.zeros((arr.shape[0], int(num_frames)), dtype=np.float32)
    for k, (start, stop) in enumerate(arr.tolist()):
        start, stop = max(0, start), min(int(num_samples), stop)
        if stop <= start:
            continue
        first = start // hop
        last = -(-stop // hop)  # exclusive: ceil(stop / hop)
        out[k, first:min(last, int(num_frames))] = 1.0
    return torch.from_numpy(out)


def activity_from_reference(
    ref: ArrayLike, hop: int, threshold_db: float = -60.0, num_frames: Optional[int] = None
) -> torch.Tensor:
    """``[K, F]`` float32 activity of reference waveforms ``[K, T]`` (or ``[T]``).

    Frame energy ``E_f = sum x^2`` over ``[f * hop, (f + 1) * hop)`` (the last frame
    zero-padded); a frame is active when ``E_f > 0`` and
    ``10 log10(E_f / max_f E_f) > threshold_db``. An all-zero row is inactive.
    ``num_frames`` defaults to ``ceil(T / hop)``; extra frames are zero, fewer truncate.
    """
    hop = _check_hop(hop)
    if isinstance(ref, torch.Tensor):
        ref = ref.detach().cpu().numpy()
    x = np.asarray(ref)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"reference must have shape [K, T] or [T], got {x.shape}")
    k, t = x.shape
    nf = num_frames_for(t, hop)
    padded = np.zeros((k, nf * hop), dtype=np.float64)
    padded[:, :t] = x
    energy = np.square(padded).reshape(k, nf, hop).sum(axis=-1)
    peak = energy.max(axis=-1, keepdims=True) if nf > 0 else np.zeros((k, 1))
    thr = peak * 10.0 ** (float(threshold_db) / 10.0)
    act = ((energy > 0.0) & (energy > thr)).astype(np.float32)
    if num_frames is not None:
        out = np.zeros((k, int(num_frames)), dtype=np.float32)
        m = min(int(num_frames), nf)
        out[:, :m] = act[:, :m]
        act = out
    return torch.from_numpy(np.ascontiguousarray(act))


def pad_slots(rows: ArrayLike, num_slots: int = NUM_SLOTS) -> np.ndarray:
    """``[K, N]`` -> a new ``[num_slots, N]`` float32 array, zero rows appended (K <= num_slots)."""
    if isinstance(rows, torch.Tensor):
        rows = rows.detach().cpu().numpy()
    arr = np.asarray(rows, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"expected a [K, N] array, got shape {arr.shape}")
    if arr.shape[0] > num_slots:
        raise ValueError(f"{arr.shape[0]} rows do not fit into {num_slots} slots")
    out = np.zeros((num_slots, arr.shape[1]), dtype=np.float32)
    out[: arr.shape[0]] = arr
    return out


def make_item(
    item_id: str,
    mixture: np.ndarray,
    labels: Sequence[str],
    strong: ArrayLike,
    dry: Optional[np.ndarray] = None,
    num_slots: int = NUM_SLOTS,
    *,
    classes: ClassInventory,
) -> Dict[str, Any]:
    """Assemble the item dict (see the module docstring).

    ``labels`` (padded with ``silence`` to ``num_slots`` if shorter), ``strong`` ``[K, F]``
    and ``dry`` ``[K, T]`` (``K <= num_slots``, zero-padded); rows of ``silence`` slots
    are forced to zero. ``dry=None`` leaves the key out.
    """
    labels = list(labels)
    if len(labels) > num_slots:
        raise ValueError(f"{item_id}: {len(labels)} labels do not fit into {num_slots} slots")
    labels = labels + [SILENCE] * (num_slots - len(labels))
    silent = np.array([label == SILENCE for label in labels])
    strong_np = pad_slots(strong, num_slots)
    strong_np[silent] = 0.0
    item: Dict[str, Any] = {
        "mixture": torch.from_numpy(np.ascontiguousarray(mixture, dtype=np.float32)),
    }
    if dry is not None:
        dry_np = pad_slots(dry, num_slots)
        if dry_np.shape[1] != item["mixture"].shape[-1]:
            raise ValueError(
                f"{item_id}: references have {dry_np.shape[1]} samples, the mixture "
                f"{item['mixture'].shape[-1]}"
            )
        dry_np[silent] = 0.0
        item["dry"] = torch.from_numpy(dry_np)
    item["labels"] = labels
    item["label_index"] = label_indices(labels, classes)
    item["weak"] = weak_targets(labels, classes)
    item["strong"] = torch.from_numpy(strong_np)
    item["id"] = item_id
    return item
