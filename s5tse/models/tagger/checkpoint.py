"""Shared helpers for loading published tagger checkpoints (M2D, fPaSST) into s5tse modules.

Every error raised here is a :class:`CheckpointError` with a one-line message that starts with
the file name, so a failing recipe stage says which file is wrong and why::

    sd = read_state_dict(path)                  # torch.load(weights_only=True) + unwrap
    sd = strip_key_prefixes(sd, ("module.ar.runtime.backbone.", "backbone.", "module."), path=path)
    check_state_dict(sd, model.state_dict(), path=path, what="M2D encoder")
    model.load_state_dict(sd)

``torch.load`` always runs with ``weights_only=True`` (no code execution from pickles); files
that need arbitrary unpickling (e.g. M2D pre-training checkpoints that pickle ``args``) are
refused with a hint to export a plain state dict.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

import torch

__all__ = [
    "CheckpointError",
    "load_checkpoint_file",
    "unwrap_state_dict",
    "read_state_dict",
    "strip_prefix",
    "strip_key_prefixes",
    "split_by_prefix",
    "format_keys",
    "check_state_dict_keys",
    "check_state_dict_shapes",
    "check_state_dict",
]

#: Wrapper keys under which training frameworks store the weights (unwrapped in this order).
WRAPPER_KEYS: Tuple[str, ...] = ("model", "state_dict")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read or does not fit the model (message names the file)."""


def _one_line(msg: str, limit: int = 300) -> str:
    s = " ".join(_ANSI.sub("", str(msg)).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _label(path) -> str:
    return os.fspath(path) if path is not None else "<state dict>"


def load_checkpoint_file(path, map_location: Any = "cpu") -> Any:
    """``torch.load(path, map_location, weights_only=True)`` with file-naming errors.

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` for an empty,
    truncated or corrupted file, for something that is not a PyTorch checkpoint, and for a
    pickle that ``weights_only=True`` refuses.
    """
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"{p}: checkpoint file not found")
    if os.path.getsize(p) == 0:
        raise CheckpointError(f"{p}: empty file, not a PyTorch checkpoint")
    with open(p, "rb") as f:
        head = f.read(4)
    # torch.save writes a zip (PK\x03\x04); the legacy format starts with a pickle (protocol
    # byte 0x80); anything else is another kind of file
    if not head.startswith(b"PK\x03\x04") and head[:1] != b"\x80":
        raise CheckpointError(f"{p}: not a PyTorch checkpoint (neither a zip nor a pickle; "
                              f"starts with {head!r})")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        text = _one_line(f"{type(e).__name__}: {e}")
        if "weights_only" in str(e) or "Weights only load failed" in str(e):
            m = re.search(r"Unsupported global: (?:GLOBAL )?([\w.]+)", str(e))
            what = f" (unsupported global {m.group(1)})" if m else ""
            raise CheckpointError(
                f"{p}: torch.load(weights_only=True) refused the file{what}; it pickles "
                f"objects other than tensors (e.g. a training checkpoint with its arguments); "
                f"export a plain state dict of the model") from e
        raise CheckpointError(
            f"{p}: cannot read as a PyTorch checkpoint (truncated, corrupted or another "
            f"format): {text}") from e


def unwrap_state_dict(obj: Any, path=None,
                      wrapper_keys: Sequence[str] = WRAPPER_KEYS) -> Dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint as a flat ``{key: tensor}`` dict.

    Descends into ``obj[k]`` for the first wrapper key ``k`` (``model``, ``state_dict``) whose
    value is a mapping, repeatedly (``{"state_dict": {"model": ...}}`` works). Non-tensor
    entries at the final level (epoch counters, config strings) are dropped. A checkpoint that
    is not a mapping or holds no tensor raises :class:`CheckpointError`.
    """
    label = _label(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"{label}: not a state dict (the file holds a {type(obj).__name__}, expected a "
            f"dict of tensors)")
    seen = 0
    while seen < 8:
        inner = next((obj[k] for k in wrapper_keys
                      if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            break
        obj, seen = inner, seen + 1
    out = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not out:
        keys = format_keys(list(obj.keys()))
        raise CheckpointError(f"{label}: no tensors found, not a state dict (top-level keys: "
                              f"{keys})")
    return out


def read_state_dict(path, map_location: Any = "cpu",
                    wrapper_keys: Sequence[str] = WRAPPER_KEYS) -> Dict[str, torch.Tensor]:
    """:func:`load_checkpoint_file` followed by :func:`unwrap_state_dict`."""
    return unwrap_state_dict(load_checkpoint_file(path, map_location), path, wrapper_keys)


def strip_prefix(key: str, prefixes: Sequence[str]) -> str:
    """Strip the first matching prefix, repeatedly, until none matches.

    ``("module.ar.runtime.backbone.", "backbone.", "module.")`` maps
    ``module.ar.runtime.backbone.pos_embed``, ``module.backbone.pos_embed`` and ``pos_embed``
    to ``pos_embed``. Longer prefixes should come first.
    """
    changed = True
    while changed:
        changed = False
        for p in prefixes:
            if p and key.startswith(p) and len(key) > len(p):
                key = key[len(p):]
                changed = True
                break
    return key


def strip_key_prefixes(state_dict: Mapping[str, torch.Tensor], prefixes: Sequence[str],
                       path=None) -> Dict[str, torch.Tensor]:
    """:func:`strip_prefix` on every key; two keys that collide raise :class:`CheckpointError`."""
    out: Dict[str, torch.Tensor] = {}
    origin: Dict[str, str] = {}
    for k, v in state_dict.items():
        s = strip_prefix(k, prefixes)
        if s in out:
            raise CheckpointError(
                f"{_label(path)}: keys {origin[s]!r} and {k!r} both map to {s!r} after "
                f"stripping prefixes {list(prefixes)}")
        out[s], origin[s] = v, k
    return out


def split_by_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str
                    ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """``({key without prefix: t for keys with prefix}, {the other keys})``."""
    inside, rest = {}, {}
    for k, v in state_dict.items():
        if k.startswith(prefix):
            inside[k[len(prefix):]] = v
        else:
            rest[k] = v
    return inside, rest


def format_keys(keys: Iterable[str], limit: int = 5) -> str:
    """``"a, b, c, ... (+N more)"`` for the first ``limit`` keys in the given order."""
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _ordered(keys: Iterable[str], order: Sequence[str]) -> list:
    rank = {k: i for i, k in enumerate(order)}
    return sorted(keys, key=lambda k: (rank.get(k, len(rank)), k))


def check_state_dict_keys(state_dict: Mapping[str, Any], expected: Iterable[str], path=None,
                          what: str = "model", limit: int = 5) -> None:
    """Strict key check; one-line :class:`CheckpointError` listing missing/unexpected keys."""
    expected = list(expected)
    have = list(state_dict.keys())
    missing = _ordered(set(expected) - set(have), expected)
    unexpected = _ordered(set(have) - set(expected), have)
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} key(s): {format_keys(missing, limit)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} key(s): {format_keys(unexpected, limit)}")
    verdict = (f"not a checkpoint of the {what}" if len(missing) == len(expected)
               else f"keys do not match the {what}")
    raise CheckpointError(f"{_label(path)}: {verdict}; " + "; ".join(parts))


def check_state_dict_shapes(state_dict: Mapping[str, torch.Tensor],
                            reference: Mapping[str, torch.Tensor], path=None,
                            what: str = "model", limit: int = 3) -> None:
    """Every key present in both must have the same shape; one-line error otherwise."""
    bad = [(k, tuple(v.shape), tuple(reference[k].shape)) for k, v in state_dict.items()
           if k in reference and tuple(v.shape) != tuple(reference[k].shape)]
    if bad:
        desc = ", ".join(f"{k} {list(a)} (expected {list(b)})" for k, a, b in bad[:limit])
        more = f", ... (+{len(bad) - limit} more)" if len(bad) > limit else ""
        raise CheckpointError(f"{_label(path)}: {len(bad)} tensor(s) have shapes that do not "
                              f"fit the {what}: {desc}{more}")


def check_state_dict(state_dict: Mapping[str, torch.Tensor],
                     reference: Mapping[str, torch.Tensor], path=None, what: str = "model",
                     ignore: Optional[Iterable[str]] = None) -> None:
    """:func:`check_state_dict_keys` then :func:`check_state_dict_shapes` against ``reference``
    (usually ``model.state_dict()``); keys in ``ignore`` are left out of the key check."""
    skip = set(ignore or ())
    expected = [k for k in reference.keys() if k not in skip]
    check_state_dict_keys({k: v for k, v in state_dict.items() if k not in skip}, expected,
                          path, what)
    check_state_dict_shapes(state_dict, reference, path, what)
