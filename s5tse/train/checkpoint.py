"""Checkpoint files of an experiment directory (ESPnet2 names) and the resume policy.

Files in ``EXP/`` (recipe_conventions.md §3.4, §7.6)::

    checkpoint.pth          full training state, the only file training resumes from
    checkpoint.prev.pth     the previous checkpoint.pth (kept for a corrupt/truncated one)
    {N}epoch.pth            model weights after epoch N (state_dict only)
    latest.pth              -> {N}epoch.pth of the last finished epoch (relative symlink)
    valid.<key>.best.pth    -> {N}epoch.pth of the best epoch per criterion
    valid.<key>.ave_<k>best.pth, valid.<key>.ave.pth   averages (s5tse.train.average)
    config.yaml             the resolved config (resume refuses a different one)

``checkpoint.pth`` is written atomically: the new state goes to a temporary file in the
same folder (flushed and fsynced), the old ``checkpoint.pth`` is renamed to
``checkpoint.prev.pth``, then the temporary file is renamed to ``checkpoint.pth``. A
crash or a failing write (disk full) at any point leaves a loadable ``checkpoint.pth``
or ``checkpoint.prev.pth``; :func:`load_checkpoint` falls back to the latter with a
warning.

``checkpoint.pth`` holds model, optimizer, scheduler and GradScaler states, every RNG
state of the main process (Python, numpy, torch CPU, CUDA if initialised), the position
(epoch, iteration within it, global update count), the statistics history with the
best-k tables and a hash of the config. DataLoader workers' RNG states are NOT saved,
and need not be: items must be a pure function of ``(seed, epoch, index)`` (the dataset
contract of :mod:`s5tse.tasks.abs_task`), workers are re-created every epoch and seeded
from ``(seed, epoch, rank, worker id)``. Files are read with ``torch.load(weights_only=True)``: states hold tensors and
plain Python data only (:func:`get_rng_state` stores numpy's state as a tensor).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from s5tse.fileio.atomic import atomic_write

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "CHECKPOINT",
    "CHECKPOINT_PREV",
    "CONFIG",
    "RESUME_SAFE_KEYS",
    "CheckpointError",
    "best_name",
    "config_hash",
    "diff_configs",
    "epoch_name",
    "get_rng_state",
    "link_or_copy",
    "load_checkpoint",
    "purge_epochs",
    "save_checkpoint",
    "save_weights",
    "set_rng_state",
]

CHECKPOINT = "checkpoint.pth"
CHECKPOINT_PREV = "checkpoint.prev.pth"
CONFIG = "config.yaml"
# Config keys that change neither the results nor the files: they may differ on resume.
RESUME_SAFE_KEYS = ("num_workers", "log_interval")

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """No usable checkpoint, or a checkpoint that does not fit this run; one-line message."""


# ----------------------------------------------------------------------------- names
def epoch_name(epoch: int) -> str:
    """``"{N}epoch.pth"``: the weights after epoch ``N``."""
    return f"{int(epoch)}epoch.pth"


def best_name(phase: str, key: str) -> str:
    """``"{phase}.{key}.best.pth"``, e.g. ``valid.loss.best.pth``."""
    return f"{phase}.{key}.best.pth"


# ----------------------------------------------------------------------- RNG states
def get_rng_state() -> Dict[str, Any]:
    """Python, numpy, torch-CPU and (if initialised) CUDA RNG states, as tensors/plain data.

    DataLoader workers need no state here: every item is a pure function of
    ``(seed, epoch, index)`` and workers are re-created every epoch.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos),
                  int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned (CUDA only if present on both sides)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        for i, s in enumerate(cuda_states):
            torch.cuda.set_rng_state(s.cpu(), i)


# ---------------------------------------------------------------------- file writes
def save_checkpoint(state: Mapping[str, Any], output_dir: PathLike) -> Path:
    """Write ``state`` to ``output_dir/checkpoint.pth``, keeping the old one as ``.prev``.

    Order: temp file (flush + fsync) -> rename old checkpoint.pth to checkpoint.prev.pth
    -> rename temp to checkpoint.pth -> fsync the folder. If the write fails (disk full,
    any exception) the exception propagates and both old files are untouched.
    """
    out = Path(output_dir)
    target, prev = out / CHECKPOINT, out / CHECKPOINT_PREV

    def keep_previous() -> None:
        if target.exists():
            os.replace(target, prev)

    with atomic_write(target, "wb", before_replace=keep_previous) as f:
        torch.save(dict(state), f)
    return target


def save_weights(state_dict: Mapping[str, Any], path: PathLike) -> Path:
    """Write a model ``state_dict`` to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    with atomic_write(path, "wb") as f:
        torch.save(dict(state_dict), f)
    return path


def link_or_copy(target_name: str, link: PathLike) -> None:
    """Make ``link`` point to ``target_name`` (a file in the same folder), atomically.

    A relative symlink where the filesystem allows it, else a copy.
    """
    link = Path(link)
    tmp = link.parent / f".{link.name}.{os.getpid()}.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(target_name, tmp)
    except OSError:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        shutil.copyfile(link.parent / target_name, tmp)
    os.replace(tmp, link)


def purge_epochs(output_dir: PathLike, current_epoch: int, keep: Sequence[int]) -> List[int]:
    """Delete ``{N}epoch.pth`` for ``N < current_epoch`` not in ``keep``; return the deleted N."""
    removed = []
    for n in range(1, int(current_epoch)):
        p = Path(output_dir) / epoch_name(n)
        if n not in set(keep) and p.exists():
            p.unlink()
            removed.append(n)
    return removed


# ----------------------------------------------------------------------------- reads
def remove_run(output_dir: PathLike) -> int:
    """Remove a training run's outputs from ``output_dir``: every ``*.pth`` (checkpoints,
    epochs, best and averaged weights), ``config.prev.yaml`` and ``tensorboard/``; logs and
    ``config.yaml`` stay (the new run appends / rewrites them). Returns the files removed."""
    out = Path(output_dir)
    files = [p for p in out.glob("*.pth") if p.is_file() or p.is_symlink()]
    files += [p for p in (out / "config.prev.yaml",) if p.exists()]
    for p in files:
        p.unlink()
    board = out / "tensorboard"
    if board.is_dir():
        files += [p for p in board.rglob("*") if p.is_file()]
        shutil.rmtree(board)
    return len(files)


def _load(path: Path, map_location: Any) -> Dict[str, Any]:
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise CheckpointError(f"{path}: not an s5tse training checkpoint")
    return state


def load_checkpoint(
    output_dir: PathLike, map_location: Any = "cpu"
) -> Optional[Tuple[Dict[str, Any], Path]]:
    """The newest loadable full checkpoint of ``output_dir`` and its path, or None if none exists.

    ``checkpoint.pth`` first; if it is missing, truncated or corrupt, a warning is logged
    and ``checkpoint.prev.pth`` is used. Both present and unusable -> CheckpointError.
    """
    out = Path(output_dir)
    errors = []
    for name in (CHECKPOINT, CHECKPOINT_PREV):
        path = out / name
        if not path.exists():
            continue
        try:
            state = _load(path, map_location)
        except Exception as exc:  # corrupt zip, unpickling error, truncated file
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("cannot load %s (%s: %s)", path, type(exc).__name__, msg)
            errors.append(str(path))
            continue
        if errors or name == CHECKPOINT_PREV:
            log.warning("resuming from the previous checkpoint %s", path)
        return state, path
    if errors:
        raise CheckpointError(f"no loadable checkpoint in {out} (tried {', '.join(errors)})")
    return None


# ------------------------------------------------------------------- config checks
def _flatten(config: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(config, Mapping) and (config or not prefix):
        out: Dict[str, Any] = {}
        for k, v in config.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: config}


def diff_configs(
    old: Mapping[str, Any], new: Mapping[str, Any], ignore: Sequence[str] = RESUME_SAFE_KEYS
) -> List[str]:
    """Dotted keys whose values differ between two resolved configs (ignoring ``ignore``).

        >>> diff_configs({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3, "d": 4}})
        ['b.c', 'b.d']
    """
    fo, fn = _flatten(old), _flatten(new)
    skip = tuple(ignore)
    keys = sorted(set(fo) | set(fn))
    return [
        k for k in keys
        if k.split(".")[0] not in skip and (k not in fo or k not in fn or fo[k] != fn[k])
    ]


def config_hash(config: Mapping[str, Any], ignore: Sequence[str] = RESUME_SAFE_KEYS) -> str:
    """sha256 (hex, 16 chars) of ``config`` without the ``ignore`` keys (key order ignored)."""
    kept = {k: v for k, v in config.items() if k not in set(ignore)}
    text = json.dumps(kept, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
