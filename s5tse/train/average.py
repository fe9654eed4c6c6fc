"""Average model weights over checkpoints (ESPnet ``valid.<key>.ave_<k>best.pth``).

Rule per state-dict entry, over ``n`` state dicts:

* floating tensors: ``sum / n`` computed in float64 and cast back to the tensor's dtype
  (so fp32 weights are averaged exactly up to the final rounding);
* integer tensors (e.g. BatchNorm's ``num_batches_tracked``): ``sum // n`` (floor
  division of the int64 sum), cast back to the dtype: an integer stays an integer;
* anything else (bool tensors, non-tensor entries): taken from the first state dict.

Keys and shapes must agree. ::

    avg = average_state_dicts([torch.load(p) for p in paths])
    average_checkpoints(["exp/3epoch.pth", "exp/5epoch.pth"], "exp/valid.loss.ave_2best.pth")
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import torch

from s5tse.train.checkpoint import epoch_name, link_or_copy, save_weights

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["average_checkpoints", "average_state_dicts", "ave_name", "write_nbest_averages"]


def ave_name(phase: str, key: str, k: int = 0) -> str:
    """``valid.loss.ave_5best.pth`` (``k > 0``) or the ``valid.loss.ave.pth`` link name."""
    return f"{phase}.{key}.ave_{k}best.pth" if k else f"{phase}.{key}.ave.pth"


def average_state_dicts(states: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Average ``states`` entry by entry (see the module docstring for the rules)."""
    if not states:
        raise ValueError("average_state_dicts: no state dicts given")
    first = states[0]
    for n, sd in enumerate(states[1:], start=1):
        if list(sd.keys()) != list(first.keys()) and set(sd.keys()) != set(first.keys()):
            missing = sorted(set(first) ^ set(sd))
            raise ValueError(f"state dict {n} has different keys (e.g. {missing[0]!r})")
    n = len(states)
    out: Dict[str, Any] = {}
    for key, ref in first.items():
        if not isinstance(ref, torch.Tensor):
            out[key] = ref
            continue
        for sd in states[1:]:
            if not isinstance(sd[key], torch.Tensor) or sd[key].shape != ref.shape:
                raise ValueError(f"'{key}': shapes differ between the state dicts")
        if ref.is_floating_point() or ref.is_complex():
            acc_dtype = torch.complex128 if ref.is_complex() else torch.float64
            acc = torch.zeros(ref.shape, dtype=acc_dtype)
            for sd in states:
                acc += sd[key].detach().cpu().to(acc_dtype)
            out[key] = (acc / n).to(ref.dtype)
        elif ref.dtype == torch.bool:
            out[key] = ref.detach().cpu().clone()
        else:  # integer
            acc = torch.zeros(ref.shape, dtype=torch.int64)
            for sd in states:
                acc += sd[key].detach().cpu().to(torch.int64)
            out[key] = torch.div(acc, n, rounding_mode="floor").to(ref.dtype)
    return out


def average_checkpoints(paths: Sequence[PathLike], output: PathLike) -> Path:
    """Average the weights-only files ``paths`` into ``output`` (written atomically)."""
    states = [torch.load(p, map_location="cpu", weights_only=True) for p in paths]
    return save_weights(average_state_dicts(states), output)


def write_nbest_averages(
    output_dir: PathLike,
    ranked: Mapping[Tuple[str, str], Sequence[int]],
    nbest: int,
) -> List[Path]:
    """For each ``(phase, key) -> epochs best first``, average the ``nbest`` best epochs.

    Writes ``{phase}.{key}.ave_{k}best.pth`` (``k = min(nbest, available epochs)``) and
    points ``{phase}.{key}.ave.pth`` at it. Epochs whose ``{N}epoch.pth`` is gone are
    skipped (they were purged because they were not in any n-best list).
    """
    out_dir = Path(output_dir)
    written = []
    for (phase, key), epochs in ranked.items():
        files = [out_dir / epoch_name(e) for e in epochs if (out_dir / epoch_name(e)).exists()]
        files = files[: max(0, int(nbest))]
        if not files:
            continue
        name = ave_name(phase, key, len(files))
        written.append(average_checkpoints(files, out_dir / name))
        link_or_copy(name, out_dir / ave_name(phase, key))
    return written
