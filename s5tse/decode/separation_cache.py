"""Separations kept on disk, so that tools that separate the same mixture with the same queries
(``s5tse.bin.decode``, ``decision_steps``, ``tune_thresholds``) run the separator once.

An entry is ``<dir>/<key>.npy``: the ``sources [K, T]`` float32 that
:meth:`s5tse.decode.runner.Decoder.separate` returned. The key is the SHA-256 of everything the
result depends on:

- the separator: the bytes of its weight file, the streaming sizes, the device type;
- the input: the mixture's samples ``x [4, T]`` (dtype, shape and bytes);
- the queries: ``strong [K, T_q]``, ``weak [K, C]`` and the queried-slot mask.

So a retrained separator, another streaming setting or other thresholds never read a stale
entry. Entries are written atomically (temp + rename); an unreadable entry is recomputed.

    cache = SeparationCache("exp/sep/decode_x_test/separations", separator_key(ckpt, stream, "cpu"))
    key = cache.key(x, q)                # hashes the mixture once
    sources = cache.get(key)             # None on a miss
    cache.put(key, sources)

``run.sh`` stage 5 gives the estimated-label decoding and its decision steps one cache (the
decoded query set is one of the steps') and removes it afterwards.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from s5tse.fileio.atomic import atomic_path

__all__ = ["SeparationCache", "separator_key"]


def _update(h, t: Union[torch.Tensor, np.ndarray]) -> None:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    a = np.ascontiguousarray(a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())


def separator_key(checkpoint: Union[str, os.PathLike], streaming, device: Union[str, torch.device]) -> str:
    """What identifies a separator's outputs: the weight file's bytes, the streaming sizes
    (``repr`` of the :class:`s5tse.streaming.StreamingConfig`, None = offline), the device type."""
    h = hashlib.sha256()
    with open(checkpoint, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(repr(streaming).encode())
    h.update(torch.device(device).type.encode())
    return h.hexdigest()


class SeparationCache:
    """A folder of separations keyed by (separator, mixture, queries); module docstring.

    Args:
        root: the folder (created on the first write).
        separator: :func:`separator_key` of the separator that fills it.
    """

    def __init__(self, root: Union[str, os.PathLike], separator: str) -> None:
        self.root = Path(root)
        self.separator = separator

    def key(self, x: torch.Tensor, q) -> str:
        """Entry name of mixture ``x [4, T]`` separated with the queries ``q`` (a
        :class:`s5tse.bridge.BridgeOutput`)."""
        h = hashlib.sha256(self.separator.encode())
        for t in (x, q.strong, q.weak, q.query):
            _update(h, t)
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npy"

    def get(self, key: str) -> Optional[np.ndarray]:
        """The stored ``sources [K, T]`` of :meth:`key` ``key``, or None (absent or unreadable)."""
        try:
            return np.load(self.path(key), allow_pickle=False)
        except (OSError, ValueError):
            return None

    def put(self, key: str, sources: np.ndarray) -> None:
        """Store ``sources [K, T]`` under ``key`` (atomically)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(sources, dtype=np.float32), allow_pickle=False)
