"""Items whose audio went through frozen encoders once: the feature cache of step-1 training.

With frozen backbones (the baseline's step 1: only projections and head train) every
update spends almost all of its time rendering the mixtures and running the backbones on
them, and both give the same result every time the same mixture comes back. This dataset
does that work once: it renders a fixed pool of items, runs ``encode`` on each batch of
them (no gradients) and keeps the outputs; its items are the base items with ``mixture``
(and ``dry``) replaced by ``encoded_<name> [...]`` tensors and ``lengths`` (samples).

Pool:

* a base dataset with ``set_epoch`` (on-the-fly mixtures, a new set per epoch): the items
  of epochs ``1 .. pool_epochs``; epoch ``e`` then yields the items of epoch
  ``(e - 1) % pool_epochs + 1``, so the mixtures repeat every ``pool_epochs`` epochs (the
  sampler still shuffles them anew). With ``pool_epochs >= max_epochs`` training sees exactly
  the mixtures it would see without the cache.
* any other dataset (validation): its items.

``encode`` should run the encoders in eval mode (the tagger wrappers' ``encode_frozen``
does): with dropout and drop-path off, that is what they compute in training mode too, except
that fPaSST draws a random positional offset in training mode for inputs shorter than 10 s.

Memory: the encoder outputs of every pool item stay in host memory (float32), e.g. the
``tiny`` fusion tagger's 320 KB per 10-s item (``[62, 256]`` M2D + ``[250, 256]`` fPaSST);
the ``real`` one's is 3.8 MB.

    ds = EncodedDataset(OnTheFlyDataset("data", num_items=80, classes=inv),
                        encode=model.encode_frozen, pool_epochs=4, batch_size=8)
    ds.set_epoch(5)
    ds[0]["encoded_m2d"].shape      # torch.Size([62, 256]), item 0 of epoch 1

Every item of the pool must have the same length (whole clips or one crop length): the
encoders run on stacked batches. Bad input raises ``ValueError`` naming the item.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
import torch.utils.data

__all__ = ["EncodedDataset", "ENCODED_PREFIX"]

log = logging.getLogger(__name__)

#: Batch keys of the encoder outputs: ``encoded_<name>`` for each ``encode`` output ``name``.
ENCODED_PREFIX = "encoded_"

_AUDIO_KEYS = ("mixture", "dry")

Key = Union[int, Tuple[int, int]]


class EncodedDataset(torch.utils.data.Dataset):
    """The base items with their audio replaced by ``encode``'s outputs, computed once.

    Args:
        base: items ``{"mixture": [C, n], ...}`` (:mod:`s5tse.datasets`); with ``set_epoch``,
            a new set per epoch.
        encode: ``mixture [B, C, n] -> {name: [B, ...]}``, run under ``torch.no_grad()``
            (e.g. the tagger wrappers' ``encode_frozen``).
        pool_epochs: epochs of a ``set_epoch`` base that are encoded (ignored otherwise).
        batch_size: items per ``encode`` call.
        device: where ``encode`` runs (its inputs are moved there); outputs are kept on the CPU.
        desc: what the log lines call this pool.
    """

    def __init__(self, base: torch.utils.data.Dataset,
                 encode: Callable[[torch.Tensor], Dict[str, torch.Tensor]], *,
                 pool_epochs: int = 1, batch_size: int = 8,
                 device: Union[str, torch.device] = "cpu", desc: str = "pool") -> None:
        for name, v in (("pool_epochs", pool_epochs), ("batch_size", batch_size)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"EncodedDataset: {name} must be a positive integer, got {v!r}")
        self.base = base
        self.size = len(base)
        self.epochs = hasattr(base, "set_epoch")
        self.pool_epochs = int(pool_epochs) if self.epochs else 1
        self.epoch = 1
        keys: List[Key] = ([(e, i) for e in range(1, self.pool_epochs + 1)
                            for i in range(self.size)] if self.epochs else list(range(self.size)))
        self.items: List[Dict[str, Any]] = []
        self._encode_all(keys, encode, int(batch_size), torch.device(device), desc)

    # ----------------------------------------------------------------- pool
    def _encode_all(self, keys: List[Key], encode: Callable, batch_size: int,
                    device: torch.device, desc: str) -> None:
        t0 = last = time.perf_counter()
        nbytes = 0
        for start in range(0, len(keys), batch_size):
            chunk = [self.base[k] for k in keys[start:start + batch_size]]
            mixture = _stack_audio(chunk)
            with torch.no_grad():
                out = encode(mixture.to(device))
            for b, item in enumerate(chunk):
                kept = {k: v for k, v in item.items() if k not in _AUDIO_KEYS}
                kept["lengths"] = torch.tensor(item["mixture"].shape[-1], dtype=torch.int64)
                for name, value in out.items():
                    kept[ENCODED_PREFIX + name] = value[b].detach().to("cpu", torch.float32).clone()
                    nbytes += kept[ENCODED_PREFIX + name].numel() * 4
                self.items.append(kept)
            now = time.perf_counter()
            if now - last > 60.0:
                log.info("encoding the %s: %d of %d items", desc, len(self.items), len(keys))
                last = now
        log.info("encoded the %s once: %d items in %.1f s, %.1f MB of encoder outputs",
                 desc, len(keys), time.perf_counter() - t0, nbytes / 1e6)

    # ---------------------------------------------------------------- dataset
    def set_epoch(self, epoch: int) -> None:
        """Select the items of ``epoch`` (``(epoch - 1) % pool_epochs + 1`` of the pool)."""
        if isinstance(epoch, bool) or int(epoch) != epoch or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: Key) -> Dict[str, Any]:
        epoch, i = key if isinstance(key, tuple) else (self.epoch, key)
        if not 0 <= int(i) < self.size:
            raise IndexError(f"item {i} out of range for {self.size} items")
        slot = ((int(epoch) - 1) % self.pool_epochs) * self.size if self.epochs else 0
        return dict(self.items[slot + int(i)])

    def __repr__(self) -> str:
        return (f"EncodedDataset({type(self.base).__name__}, items={self.size}, "
                f"pool_epochs={self.pool_epochs if self.epochs else '-'})")


def _stack_audio(items: List[Dict[str, Any]]) -> torch.Tensor:
    """``[B, C, n]`` from the items' mixtures, which must share one shape."""
    shapes = {tuple(it["mixture"].shape) for it in items}
    if len(shapes) != 1:
        ids = ", ".join(str(it.get("id", "?")) for it in items)
        raise ValueError(f"EncodedDataset: items {ids} have mixtures of shapes {sorted(shapes)}; "
                         "the encoder cache needs one length (whole clips or a fixed crop)")
    return torch.stack([it["mixture"] for it in items])
