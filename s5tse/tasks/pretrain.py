"""The ``pretrain`` task: the tagger encoders pre-trained on isolated events (the AudioSet stand-in).

The real systems never train their taggers from scratch: M2D and fPaSST start from
AudioSet-trained weights (``./run.sh --stage 0 --download_pretrained true``). A corpus with no
such weights for its encoder size (the mini corpus, a fork's tiny profile) pre-trains them on
its own isolated target events, then writes them **in the published checkpoint layouts**, so
the tagger configs load them through the same ``m2d_weights`` / ``fpasst_weights`` keys,
readers and key checks as the published files::

    python -m s5tse.bin.train --config conf/tuning/pretrain_m2d_mini.yaml \\
        --train_data data --valid_data data --classes data/lang/classes.txt \\
        --output_dir exp/pretrain_m2d_mini
    python -m s5tse.bin.export_encoder --exp_dir exp/pretrain_m2d_mini
    # -> exp/pretrain_m2d_mini/m2d_weights.pth (M2D AS-FT layout), read by
    #    model_conf.m2d_weights of a tagger config

Data (:class:`IsolatedEventsDataset`): item ``i`` is one target event of
``<data>/sound_event_<split>`` placed at a random offset of a ``window_sec`` window over a
random stretch of ``<data>/noise_<split>`` (channel 0) at a random SNR, at a random level;
every event once per epoch (a per-epoch permutation), a pure function of
``(seed, split, epoch, i)``. Closer to AudioSet clips on request: ``rir_prob`` reverberates the
event through one FOA channel of a ``<data>/rirs_<split>`` RIR, ``interference_prob`` adds a
non-target event, ``extra_events`` further target events (multi-label windows). Validation
(the same dataset on ``split: valid``, no ``num_items``; the mini configs keep it dry):
every ``*_valid`` event once, fixed.

Models (the clip logits pool the encoder frames inside the event's span only, so a short
event in a long window is not diluted by its background):

* ``m2d`` (:class:`M2DClassifier`): clip-level classification as the AS-FT models
  (pooled encoder features -> BatchNorm (no affine) -> Linear), cross-entropy; published
  layout: flat ``module.ar.runtime.backbone.*`` + ``norm_stats`` and the head as
  ``module.head.norm.*`` / ``module.head.mlp.mlp.0.*``.
* ``fpasst`` (:class:`FPaSSTClassifier`): clip and frame level as PretrainedSED's strong
  models: ``weak_head`` on the pooled frames (cross-entropy) and ``strong_head`` per 40-ms
  frame, ``C + 1``-way (the event's class inside its span, ``background`` = index ``C``
  outside; cross-entropy, ``strong_weight``); published layout: ``model.*`` +
  ``strong_head.*`` + ``weak_head.*``.

Both losses are cross-entropies against the classes present, equally weighted (one event:
its class). Statistics: ``loss``, ``acc`` (clip-level top-1 among the window's classes,
percent) and for fPaSST ``weak_ce`` / ``strong_ce``. Shapes: ``mixture [B, 1, N]``,
``label [B, K]`` (-1: unused), ``span [B, K, 2]`` (samples), ``K = 1 + extra_events[1]``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile as sf
import torch
import torch.nn as nn
import torch.nn.functional as F

from s5tse.labels import ClassInventory
from s5tse.tasks.abs_task import (
    TRAIN_DATASET_INJECTED,
    VALID_DATASET_INJECTED,
    AbsTask,
    Choice,
)
from s5tse.tasks.data import inventory_of, resolve_data_dir
from s5tse.tasks.registry import Registry
from s5tse.utils.config import ConfigError

__all__ = ["DATASETS", "MODELS", "PUBLISHED_NAME", "TASK", "FPaSSTClassifier",
           "IsolatedEventsDataset", "M2DClassifier", "PretrainTask", "masked_mean", "span_mask"]

PathLike = Union[str, "os.PathLike[str]"]

MODELS = Registry("model")
DATASETS = Registry("dataset")

#: File name :mod:`s5tse.bin.export_encoder` writes in the experiment dir, per model.
PUBLISHED_NAME = {"m2d": "m2d_weights.pth", "fpasst": "fpasst_weights.pt"}

_SPLIT_CODE = {"train": 0, "valid": 1, "test": 2}


def _db(x: float) -> float:
    return 10.0 ** (x / 20.0)


# ---------------------------------------------------------------------------- data
@DATASETS.register("events")
class IsolatedEventsDataset(torch.utils.data.Dataset):
    """One isolated target event per item, over background noise (module docstring).

    Args:
        data_dir: the recipe's ``data/`` (the pools ``sound_event_<split>``, ``noise_<split>``).
        split, seed, num_items, classes: engine-supplied. ``num_items`` None (validation):
            every event once.
        window_sec: window length in seconds (longer events are cropped at random).
        snr_db: (low, high) event-to-noise ratio over the event's span, uniform.
        level_db: (low, high) RMS of the window in dBFS, uniform.
        sample_rate: expected sampling rate of the pool audio.
        rir_prob: probability that the event (and its interference) is reverberated by one
            channel (W, Y, Z or X, uniform) of a random RIR of the split's rooms
            (``<data>/rirs_<split>``): the taggers feed every FOA channel of reverberant
            scenes to the encoder, and AudioSet clips are not dry either.
        interference_prob: probability of one non-target event
            (``<data>/interference_<split>``) at a random offset of the window.
        interference_snr_db: (low, high) event-to-interference ratio (RMS of each over its
            own span), uniform.
        extra_events: (low, high) number of further target events (any class, uniform count)
            at random offsets over the first: multi-label windows, as AudioSet clips are.
        extra_snr_db: (low, high) ratio of the first event to each further one, uniform.

    Example:
        >>> ds = IsolatedEventsDataset("data", split="train", seed=0, num_items=64,
        ...                            classes=ClassInventory.read("data/lang/classes.txt"))
        ... # doctest: +SKIP
    """

    def __init__(self, data_dir: Optional[PathLike] = None, *, split: str = "train",
                 seed: int = 0, num_items: Optional[int] = None,
                 classes: Optional[ClassInventory] = None, window_sec: float = 10.0,
                 snr_db: Sequence[float] = (6.0, 30.0),
                 level_db: Sequence[float] = (-55.0, -25.0), sample_rate: int = 32000,
                 rir_prob: float = 0.0, interference_prob: float = 0.0,
                 interference_snr_db: Sequence[float] = (-5.0, 15.0),
                 extra_events: Sequence[int] = (0, 0),
                 extra_snr_db: Sequence[float] = (-5.0, 5.0)) -> None:
        from s5tse.simulate.sources import SourceIndex

        if classes is None:
            raise ValueError("IsolatedEventsDataset needs the class inventory (--classes)")
        if window_sec <= 0:
            raise ConfigError(f"events dataset: window_sec must be > 0, got {window_sec!r}")
        index = SourceIndex.from_data_dir(resolve_data_dir(data_dir, f"{split} data"), split,
                                          classes)
        self.events: List[Tuple[Path, int]] = [
            (index.abspath("foreground", f.rel), classes.label_to_index(label))
            for label, files in index.fg_files.items() for f in files]
        self.noises: List[Path] = [index.abspath("background", rel) for rel in index.noise_files]
        for name, p in (("rir_prob", rir_prob), ("interference_prob", interference_prob)):
            if not 0.0 <= float(p) <= 1.0:
                raise ConfigError(f"events dataset: {name} must be in [0, 1], got {p!r}")
        self.rir_prob, self.interference_prob = float(rir_prob), float(interference_prob)
        self.interference_snr_db = tuple(map(float, interference_snr_db))
        lo, hi = (int(v) for v in extra_events)
        if not 0 <= lo <= hi:
            raise ConfigError(f"events dataset: extra_events must be (low, high) with 0 <= low <= high, "
                             f"got {list(extra_events)!r}")
        self.extra_events, self.extra_snr_db = (lo, hi), tuple(map(float, extra_snr_db))
        self.interferences: List[Path] = [index.abspath("interference", f.rel)
                                          for files in index.int_files.values() for f in files]
        if self.interference_prob > 0 and not self.interferences:
            raise ConfigError(f"events dataset: interference_prob {interference_prob} needs interference files: "
                             f"the {split} pool has none")
        self.rirs: List[np.ndarray] = []                                 # per room [M, R, N]
        if self.rir_prob > 0:
            from s5tse.simulate.sources import read_room

            self.rirs = [read_room(index.root / rel, sample_rate).ir.astype(np.float64)
                         for rel in index.rooms]
            if not self.rirs:
                raise ConfigError(f"events dataset: rir_prob {rir_prob} needs rooms: the {split} pool has none")
        self.split, self.seed, self.sample_rate = split, int(seed), int(sample_rate)
        self.window = int(round(window_sec * sample_rate))
        self.snr_db, self.level_db = tuple(map(float, snr_db)), tuple(map(float, level_db))
        self.num_items = len(self.events) if num_items is None else int(num_items)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_items

    def _rng(self, *words: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SPLIT_CODE.get(self.split, 9), *words])

    def _read(self, path: Path, frames: int = -1, start: int = 0) -> np.ndarray:
        x, sr = sf.read(str(path), frames=frames, start=start, dtype="float32", always_2d=True)
        if sr != self.sample_rate:
            raise ValueError(f"{path}: {sr} Hz, expected {self.sample_rate} Hz (the data contract)")
        return x[:, 0]

    def _reverb(self, x: np.ndarray, rng: np.random.Generator, room: int, channel: int,
                length: int) -> np.ndarray:
        """``x`` convolved with channel ``channel`` of a random RIR of ``room``, cut to ``length``."""
        from scipy.signal import fftconvolve

        rirs = self.rirs[room]
        return fftconvolve(x, rirs[int(rng.integers(rirs.shape[0])), channel])[:length]

    def _random_window(self, path: Path, rng: np.random.Generator) -> np.ndarray:
        """A random stretch of ``path`` of at most the window's length (all of a shorter file)."""
        total = sf.info(str(path)).frames
        return self._read(path, frames=self.window,
                          start=int(rng.integers(0, max(1, total - self.window + 1))))

    def _random_source(self, path: Path, rng: np.random.Generator,
                       where: Optional[Tuple[int, int]]) -> Tuple[np.ndarray, int]:
        """A random stretch of ``path`` at a random offset of the window, reverberated in
        ``where`` = (room, channel) when given (its tail kept inside the window), at unit
        RMS: ``(samples, offset)``."""
        x = self._random_window(path, rng).astype(np.float64)
        at = int(rng.integers(0, self.window - len(x) + 1))
        if where is not None:
            x = self._reverb(x, rng, *where, self.window - at)
        return x / (float(np.sqrt(np.mean(x ** 2))) + 1e-12), at

    def _augment(self, event: np.ndarray, offset: int, rng: np.random.Generator
                 ) -> Tuple[np.ndarray, Optional[Tuple[np.ndarray, int]], Optional[Tuple[int, int]]]:
        """The event, reverberated with probability ``rir_prob`` (its tail kept inside the
        window); an interference ``(samples, offset)`` at unit event-to-interference RMS ratio
        divided by the drawn ratio (None without one); the (room, channel) drawn (None: dry)."""
        where = None
        if rng.random() < self.rir_prob:
            room = int(rng.integers(len(self.rirs)))
            where = (room, int(rng.integers(self.rirs[room].shape[1])))
            event = self._reverb(event.astype(np.float64), rng, *where, self.window - offset)
        if not rng.random() < self.interference_prob:
            return event, None, where
        path = self.interferences[int(rng.integers(len(self.interferences)))]
        other, at = self._random_source(path, rng, where)
        return event, (other / _db(rng.uniform(*self.interference_snr_db)), at), where

    def __getitem__(self, i: int) -> Dict[str, Any]:
        n_events = len(self.events)
        cycle, pos = divmod(int(i), n_events)
        order = self._rng(self.epoch, cycle).permutation(n_events)
        path, label = self.events[order[pos]]
        rng = self._rng(self.epoch, cycle, pos, 1)
        event = self._read(path)
        n = self.window
        if len(event) >= n:
            start = int(rng.integers(0, len(event) - n + 1))
            event, offset = event[start:start + n], 0
        else:
            offset = int(rng.integers(0, n - len(event) + 1))
        span = (offset, offset + len(event))
        aug = self._rng(self.epoch, cycle, pos, 2)
        event, interference, where = self._augment(event, offset, aug)
        noise = self._random_window(self.noises[int(rng.integers(len(self.noises)))], rng)
        noise = np.pad(noise, (0, n - len(noise)))
        x = np.zeros(n, dtype=np.float64)
        x[span[0]:span[0] + len(event)] = event
        e_rms = float(np.sqrt(np.mean(x[span[0]:span[1]] ** 2)) + 1e-12)
        if interference is not None:
            other, at = interference
            x[at:at + len(other)] += other * e_rms
        labels, spans = [label], [span]
        for _ in range(int(aug.integers(self.extra_events[0], self.extra_events[1] + 1))):
            path_k, other_label = self.events[int(aug.integers(len(self.events)))]
            other, at = self._random_source(path_k, aug, where)
            x[at:at + len(other)] += other * e_rms / _db(aug.uniform(*self.extra_snr_db))
            labels.append(other_label)
            spans.append((at, at + len(other)))
        pad = 1 + self.extra_events[1] - len(labels)
        labels, spans = labels + [-1] * pad, spans + [(0, 0)] * pad
        n_rms = float(np.sqrt(np.mean(noise[span[0]:span[1]].astype(np.float64) ** 2)) + 1e-12)
        snr = rng.uniform(*self.snr_db)
        x += noise * (e_rms / n_rms) / _db(snr)
        x *= _db(rng.uniform(*self.level_db)) / (float(np.sqrt(np.mean(x ** 2))) + 1e-12)
        peak = float(np.abs(x).max())
        if peak > 0.99:
            x *= 0.99 / peak
        return {"id": f"{self.split}_{self.epoch}_{i}_{path.stem}",
                "mixture": torch.from_numpy(x.astype(np.float32))[None],
                "label": torch.tensor(labels, dtype=torch.int64),
                "span": torch.tensor(spans, dtype=torch.int64)}


# -------------------------------------------------------------------------- models
def span_mask(centres: torch.Tensor, span: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """``[B, T]`` bool: frames whose centre (``centres [T]`` seconds) lies inside the item's
    span (``span [B, 2]`` samples); an item whose span holds no centre gets its nearest frame."""
    t = centres.to(torch.float64)[None, :] * sample_rate
    lo, hi = span[:, :1].to(torch.float64), span[:, 1:].to(torch.float64)
    inside = (t >= lo) & (t < hi)
    nearest = (t - (lo + hi) / 2).abs().argmin(dim=1)
    inside[torch.arange(len(span)), nearest] |= ~inside.any(dim=1)
    return inside


def event_activity(centres: torch.Tensor, label: torch.Tensor, span: torch.Tensor,
                   num_classes: int, sample_rate: int) -> torch.Tensor:
    """``[B, T, C]`` float: 1 where an event of class ``c`` covers the frame (each event at
    least its nearest frame, :func:`span_mask`). ``label [B, K]`` (-1: no event; ``[B]``: one
    event), ``span [B, K, 2]`` (``[B, 2]``)."""
    if label.ndim == 1:
        label, span = label[:, None], span[:, None]
    act = torch.zeros(label.shape[0], len(centres), num_classes, device=label.device)
    for k in range(label.shape[1]):
        inside = span_mask(centres, span[:, k], sample_rate) & (label[:, k] >= 0)[:, None]
        hot = F.one_hot(label[:, k].clamp(min=0), num_classes).to(act.dtype)     # [B, C]
        act = torch.maximum(act, inside[..., None].to(act.dtype) * hot[:, None, :])
    return act


def _distribution(weights: torch.Tensor) -> torch.Tensor:
    """Rows of ``weights [..., C]`` (each with a positive entry) scaled to sum to 1."""
    return weights / weights.sum(dim=-1, keepdim=True)


def masked_mean(feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``feats [B, T, D]`` averaged over the frames of ``mask [B, T]`` -> ``[B, D]``."""
    w = mask.to(feats.dtype)[..., None]
    return (feats * w).sum(dim=1) / w.sum(dim=1)


class _Classifier(nn.Module):
    """Shared part: ``forward(mixture, label, span, ...) -> (loss, stats, weight)``."""

    encoder: nn.Module

    def set_activation_checkpointing(self, enabled: bool) -> None:
        self.encoder.blocks.grad_checkpointing = bool(enabled)

    def published_state_dict(self) -> Dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _stats(loss: torch.Tensor, logits: torch.Tensor, present: torch.Tensor,
               **extra: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``acc``: percent of windows whose top class is one of theirs (``present [B, C]``)."""
        acc = present.gather(1, logits.detach().argmax(-1, keepdim=True)).mean() * 100.0
        return {"loss": loss.detach(), "acc": acc, **{k: v.detach() for k, v in extra.items()}}


@MODELS.register("m2d")
class M2DClassifier(_Classifier):
    """M2D encoder + AS-FT-style clip head (module docstring).

    Args:
        num_classes: target classes (engine-supplied from the inventory; no silence class).
        preset: ``tiny`` | ``small`` | ``real``.
        label_smoothing: of the cross-entropy.
    """

    def __init__(self, *, num_classes: int, preset: str = "tiny",
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        from s5tse.models.tagger.m2d import M2DEncoder

        self.encoder = M2DEncoder.from_preset(preset)
        dim = self.encoder.feature_dim
        self.norm = nn.BatchNorm1d(dim, affine=False)
        self.head = nn.Linear(dim, num_classes)
        self.label_smoothing = float(label_smoothing)

    def logits(self, wav: torch.Tensor, label: torch.Tensor,
               span: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``wav [B, N]``, events ``label [B, K]`` / ``span [B, K, 2]`` -> class logits
        ``[B, C]`` (columns inside any event's span) and the classes present ``[B, C]``."""
        feats = self.encoder(wav)                                                 # [B, T, D]
        act = event_activity(self.encoder.column_times(feats.shape[1], feats.device), label,
                             span, self.head.out_features, self.encoder.sample_rate)
        return self.head(self.norm(masked_mean(feats, act.amax(-1) > 0))), act.amax(1)

    def forward(self, mixture: torch.Tensor, label: torch.Tensor, span: torch.Tensor, **_: Any):
        """Cross-entropy against the classes present, equally weighted (one event: its class)."""
        logits, present = self.logits(mixture[:, 0], label, span)
        loss = F.cross_entropy(logits, _distribution(present),
                               label_smoothing=self.label_smoothing)
        return loss, self._stats(loss, logits, present), torch.tensor(mixture.shape[0])

    def published_state_dict(self) -> Dict[str, torch.Tensor]:
        """The M2D AS-FT file layout: ``module.ar.runtime.backbone.<key>`` (``norm_stats``
        included) and the head under ``module.head.``."""
        out = {f"module.ar.runtime.backbone.{k}": v.detach().clone()
               for k, v in self.encoder.state_dict().items()}
        for k, v in self.norm.state_dict().items():
            out[f"module.head.norm.{k}"] = v.detach().clone()
        for k, v in self.head.state_dict().items():
            out[f"module.head.mlp.mlp.0.{k}"] = v.detach().clone()
        return out


@MODELS.register("fpasst")
class FPaSSTClassifier(_Classifier):
    """fPaSST encoder + PretrainedSED-style strong (per frame) and weak (clip) heads.

    Args:
        num_classes: target classes (engine-supplied).
        preset: ``tiny`` | ``small`` | ``real``.
        strong_weight: weight of the frame-level cross-entropy.
        label_smoothing: of the clip-level cross-entropy.
    """

    def __init__(self, *, num_classes: int, preset: str = "tiny", strong_weight: float = 1.0,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        from s5tse.models.tagger.fpasst import FPaSSTEncoder

        self.encoder = FPaSSTEncoder.from_preset(preset)
        dim = self.encoder.config.embed_dim
        self.strong_head = nn.Linear(dim, num_classes + 1)                        # + background
        self.weak_head = nn.Linear(dim, num_classes)
        self.strong_weight = float(strong_weight)
        self.label_smoothing = float(label_smoothing)

    def frame_mask(self, span: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``[B, T]`` bool: the 40-ms frames whose centre lies in the event's span."""
        times = self.encoder.frame_times(num_frames).to(span.device).mean(dim=1)
        return span_mask(times, span, self.encoder.frontend.input_sample_rate)

    def forward(self, mixture: torch.Tensor, label: torch.Tensor, span: torch.Tensor, **_: Any):
        """Clip and frame cross-entropy against the classes present, equally weighted (a
        frame without event: ``background``; one event: its class inside its span)."""
        feats = self.encoder(mixture[:, 0])                                       # [B, T, D]
        times = self.encoder.frame_times(feats.shape[1]).to(feats.device).mean(dim=1)
        act = event_activity(times, label, span, self.weak_head.out_features,
                             self.encoder.frontend.input_sample_rate)             # [B, T, C]
        active = act.amax(-1, keepdim=True)                                       # [B, T, 1]
        weak = self.weak_head(masked_mean(feats, active[..., 0] > 0))             # [B, C]
        strong = self.strong_head(feats)                                          # [B, T, C+1]
        present = act.amax(1)
        weak_ce = F.cross_entropy(weak, _distribution(present),
                                  label_smoothing=self.label_smoothing)
        frame_target = _distribution(torch.cat([act, 1.0 - active], dim=-1))
        strong_ce = F.cross_entropy(strong.flatten(0, 1), frame_target.flatten(0, 1))
        loss = weak_ce + self.strong_weight * strong_ce
        stats = self._stats(loss, weak, present, weak_ce=weak_ce, strong_ce=strong_ce)
        return loss, stats, torch.tensor(mixture.shape[0])

    def published_state_dict(self) -> Dict[str, torch.Tensor]:
        """The PretrainedSED ``fpasst_strong_1.pt`` layout: ``model.<key>``, ``strong_head.*``,
        ``weak_head.*``."""
        out = {f"model.{k}": v.detach().clone() for k, v in self.encoder.state_dict().items()}
        for name in ("strong_head", "weak_head"):
            for k, v in getattr(self, name).state_dict().items():
                out[f"{name}.{k}"] = v.detach().clone()
        return out


# ---------------------------------------------------------------------------- task
class PretrainTask(AbsTask):
    """Encoder pre-training on isolated events (module docstring)."""

    name = "pretrain"
    requires_data = True
    uses_classes = True

    def choices(self) -> List[Choice]:
        return [
            Choice("model", MODELS, "m2d", ("num_classes",)),
            Choice("train_dataset", DATASETS, "events", TRAIN_DATASET_INJECTED + ("classes",)),
            Choice("valid_dataset", DATASETS, "events", VALID_DATASET_INJECTED + ("classes",)),
        ] + super().choices()

    def build_model(self, config: Mapping[str, Any]) -> torch.nn.Module:
        return self.build_choice("model", config, num_classes=inventory_of(config).num_classes)


TASK = PretrainTask
