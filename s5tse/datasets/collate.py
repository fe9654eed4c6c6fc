"""Batch the item dicts of :mod:`s5tse.datasets` (``DataLoader(collate_fn=collate_scenes)``).

Tensors are stacked: ``mixture [B, C, T]``, ``dry [B, S, T]``, ``label_index [B, S]``,
``weak [B, S, num_classes]``, ``strong [B, S, F]``; ``labels`` and ``id`` become lists. Items of
different lengths (pre-rendered test sets) are zero-padded at the end to the longest
``T`` (and ``strong`` to the longest ``F``); ``lengths [B]`` (int64, samples before
padding) is always returned. Other keys are stacked when they are tensors of one shape,
else returned as lists.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch

__all__ = ["collate_scenes", "pad_stack"]

_TIME_PADDED = ("mixture", "dry", "strong")  # last axis may differ between items
_LISTS = ("labels", "id")


def pad_stack(tensors: Sequence[torch.Tensor], value: float = 0.0) -> torch.Tensor:
    """Stack tensors that differ only in their last axis, padding it at the end with ``value``."""
    if not tensors:
        raise ValueError("nothing to stack")
    lead = tensors[0].shape[:-1]
    for t in tensors:
        if t.shape[:-1] != lead:
            raise ValueError(
                f"cannot stack tensors of shapes {tuple(tensors[0].shape)} and {tuple(t.shape)}"
            )
    longest = max(t.shape[-1] for t in tensors)
    if all(t.shape[-1] == longest for t in tensors):
        return torch.stack(list(tensors))
    out = tensors[0].new_full((len(tensors), *lead, longest), value)
    for b, t in enumerate(tensors):
        out[b, ..., : t.shape[-1]] = t
    return out


def collate_scenes(items: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Collate item dicts into a batch dict (see the module docstring)."""
    items = list(items)
    if not items:
        raise ValueError("collate_scenes: empty batch")
    keys = list(items[0].keys())
    for n, item in enumerate(items[1:], start=1):
        if set(item.keys()) != set(keys):
            raise ValueError(
                f"collate_scenes: item {n} has keys {sorted(item.keys())}, item 0 {sorted(keys)}"
            )
    batch: Dict[str, Any] = {}
    for key in keys:
        values: List[Any] = [item[key] for item in items]
        if key in _LISTS:
            batch[key] = [list(v) if isinstance(v, (list, tuple)) else v for v in values]
        elif key in _TIME_PADDED:
            batch[key] = pad_stack(values)
        elif all(isinstance(v, torch.Tensor) for v in values) and all(
            v.shape == values[0].shape for v in values
        ):
            batch[key] = torch.stack(values)
        else:
            batch[key] = values
    if "mixture" in batch:
        lengths = [item["mixture"].shape[-1] for item in items]
        batch["lengths"] = torch.tensor(lengths, dtype=torch.int64)
    return batch
