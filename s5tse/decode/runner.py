"""Decode mixtures: tagger -> bridge -> separator (offline or streamed), one item at a time.

    decoder = Decoder(separator=load_experiment(...), tagger=load_experiment(...),
                      bridge=Bridge(0.5, 0.3, classes=sep.classes), streaming=None,
                      device="cpu")
    results = decoder.decode_batch([(item, mixture [4, T]), ...])   # -> [ItemResult]

Per mixture ``x [4, T]`` (32 kHz):

1. all-zero mixture -> nothing queried or reported (defined result; the models are not run);
2. tagger (skipped with oracle labels): ``predict(x)`` -> weak ``[3, C + 1]``, strong
   ``[3, T_tag, C + 1]``; mixtures shorter than the tagger's minimum (``min_samples``) are
   zero-padded for the tagger only; mixtures of equal length are batched (``batch_size``);
3. bridge (:class:`s5tse.bridge.Bridge`) or oracle queries
   (:func:`s5tse.bridge.oracle_queries` on the reference activity) -> labels, masks,
   ``strong [3, T_q]``, ``weak [3, num_classes]``;
4. separator via :func:`s5tse.streaming.separate` (``streaming`` None = offline) when any slot
   is queried -> ``sources [3, T]``; mixtures shorter than the separator's FFT are
   zero-padded and the output cropped.

``compute_seconds`` of each item = wall time of steps 2-4 (audio I/O excluded; a batched
tagger forward is shared out evenly; CUDA is synchronised before reading the clock).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from s5tse.bridge import Bridge, BridgeOutput, oracle_queries
from s5tse.decode.inputs import DecodeItem, read_references
from s5tse.decode.models import LoadedExperiment
from s5tse.labels import NUM_SLOTS
from s5tse.streaming.chunked import min_input_samples

__all__ = ["Decoder", "ItemResult"]


@dataclass
class ItemResult:
    """Decoding of one mixture: the bridge's decision, ``sources [K, T]`` float32 (zeros on
    silent slots) and the compute time in seconds."""

    name: str
    num_samples: int
    bridge: BridgeOutput
    sources: np.ndarray
    compute_seconds: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Decoder:
    """Run the models on mixtures (module docstring).

    Args:
        separator: the loaded separator experiment.
        tagger: the loaded tagger experiment (None with ``oracle=True``).
        bridge: thresholds -> queries (unused with ``oracle=True``, except for ``query_hop``).
        streaming: a :class:`s5tse.streaming.StreamingConfig` or None (offline).
        device: torch device for both models.
        oracle: oracle labels and activity from the references of each item.
        oracle_threshold_db: activity threshold of the oracle strong query.
        resample: resample references that are not 32 kHz (oracle mode).
        cache: a :class:`s5tse.decode.separation_cache.SeparationCache`; separations found
            there are read instead of computed, computed ones are stored (None: none).
    """

    def __init__(self, separator: LoadedExperiment, tagger: Optional[LoadedExperiment],
                 bridge: Bridge, streaming=None, device: str = "cpu", oracle: bool = False,
                 oracle_threshold_db: float = -60.0, resample: bool = False,
                 cache=None) -> None:
        if not oracle and tagger is None:
            raise ValueError("Decoder: a tagger is needed unless oracle labels are used")
        self.device = torch.device(device)
        self.separator = separator.network.to(self.device).eval()
        self.tagger = None if oracle or tagger is None else tagger.network.to(self.device).eval()
        self.has_strong = bool(tagger.has_strong) if tagger is not None else False
        self.bridge = bridge
        self.streaming = streaming
        self.oracle = bool(oracle)
        self.oracle_threshold_db = float(oracle_threshold_db)
        self.resample = bool(resample)
        self.sep_min = min_input_samples(self.separator)
        self.cache = cache

    # ------------------------------------------------------------------ steps
    def _tag(self, batch: Tensor):
        """Tagger output of ``batch [B, 4, T]`` on the device, zero-padded to the tagger's
        ``min_samples`` when shorter."""
        batch = batch.to(self.device)
        need = int(getattr(self.tagger, "min_samples", 1))
        if batch.shape[-1] < need:
            batch = torch.nn.functional.pad(batch, (0, need - batch.shape[-1]))
        return self.tagger.predict(batch)

    def predict(self, x: Tensor) -> Optional[Tuple[Tensor, Optional[Tensor], Tensor]]:
        """Tagger on one mixture ``x [4, T]`` -> ``(weak_prob [S, C+1], strong_prob [S, T', C+1]
        or None without frame output, frame_times [T', 2])``; None for an all-zero mixture."""
        if not bool(x.abs().max() > 0):
            return None
        pred = self._tag(x[None])
        strong = pred.strong_prob[0].cpu() if self.has_strong else None
        return pred.weak_prob[0].cpu(), strong, pred.frame_times.cpu()

    def _queries(self, items: Sequence[Tuple[DecodeItem, Tensor]],
                 refs: Optional[List[np.ndarray]] = None) -> List[BridgeOutput]:
        """Bridge outputs of a group of mixtures (tagger batched over equal lengths);
        ``refs``: the references ``[3, T]`` of each item (oracle mode)."""
        from s5tse.datasets.targets import activity_from_reference

        out: List[Optional[BridgeOutput]] = [None] * len(items)
        todo = []
        for i, (item, x) in enumerate(items):
            n = x.shape[-1]
            tq = self.bridge.num_query_frames(n)
            if self.oracle:
                act = activity_from_reference(refs[i], self.bridge.query_hop,
                                              self.oracle_threshold_db, tq)
                out[i] = oracle_queries(item.labels, act, self.bridge.classes)
            elif not bool(x.abs().max() > 0):
                out[i] = BridgeOutput.empty(NUM_SLOTS, tq, self.bridge.classes.num_classes)
            else:
                todo.append(i)
        groups: dict = {}
        for i in todo:
            groups.setdefault(items[i][1].shape[-1], []).append(i)
        for n, idx in groups.items():
            pred = self._tag(torch.stack([items[i][1] for i in idx]))
            for b, i in enumerate(idx):
                out[i] = self.bridge.from_tagger_output(pred, b, n, has_strong=self.has_strong)
        return out  # type: ignore[return-value]

    def separate(self, x: Tensor, q: BridgeOutput) -> np.ndarray:
        """``x [4, T]`` and the queries -> ``sources [K, T]`` float32 numpy (zeros where not
        queried; the separator is not run when nothing is, nor when ``cache`` holds the result)."""
        n = x.shape[-1]
        if not q.any_query:
            return np.zeros((q.num_slots, n), dtype=np.float32)
        if self.cache is None:
            return self._separate(x, q)
        key = self.cache.key(x, q)
        sources = self.cache.get(key)
        if sources is None or sources.shape != (q.num_slots, n):
            sources = self._separate(x, q)
            self.cache.put(key, sources)
        return sources

    def _separate(self, x: Tensor, q: BridgeOutput) -> np.ndarray:
        from s5tse.streaming import separate

        n = x.shape[-1]
        xin = x if n >= self.sep_min else torch.nn.functional.pad(x, (0, self.sep_min - n))
        strong = q.strong
        if xin.shape[-1] != n:  # keep the 40-ms grid: extend the query with zeros
            strong = torch.nn.functional.pad(
                strong, (0, self.bridge.num_query_frames(xin.shape[-1]) - strong.shape[-1]))
        y = separate(self.separator, xin.to(self.device), strong, q.weak, self.streaming)
        y = y[:, :n].float()
        y = torch.where(q.query[:, None].to(y.device), y, torch.zeros_like(y))
        return y.cpu().numpy().astype(np.float32)

    # ------------------------------------------------------------------ public
    def decode_batch(self, items: Sequence[Tuple[DecodeItem, Tensor]]) -> List[ItemResult]:
        """Decode mixtures ``[(item, x [4, T])]`` (one tagger batch) -> results in order."""
        refs = ([read_references(item, x.shape[-1], self.resample) for item, x in items]
                if self.oracle else None)
        _sync(self.device)
        t0 = time.perf_counter()
        queries = self._queries(items, refs)
        _sync(self.device)
        share = (time.perf_counter() - t0) / max(1, len(items))
        results = []
        for (item, x), q in zip(items, queries):
            t1 = time.perf_counter()
            sources = self.separate(x, q)
            _sync(self.device)
            dt = share + time.perf_counter() - t1
            results.append(ItemResult(item.name, int(x.shape[-1]), q, sources, dt))
        return results
