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
``(seed, split, epoch, i)``. Validation (the same dataset on ``split: valid``, no
``num_items``): every ``*_valid`` event once, fixed.

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

Statistics: ``loss``, ``acc`` (clip-level top-1, percent) and for fPaSST ``weak_ce`` /
``strong_ce``. Shapes: ``mixture [B, 1, N]``, ``label [B]``, ``span [B, 2]`` (samples).
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

    Example:
        >>> ds = IsolatedEventsDataset("data", split="train", seed=0, num_items=64,
        ...                            classes=ClassInventory.read("data/lang/classes.txt"))
        ... # doctest: +SKIP
    """

    def __init__(self, data_dir: Optional[PathLike] = None, *, split: str = "train",
                 seed: int = 0, num_items: Optional[int] = None,
                 classes: Optional[ClassInventory] = None, window_sec: float = 10.0,
                 snr_db: Sequence[float] = (6.0, 30.0),
                 level_db: Sequence[float] = (-55.0, -25.0), sample_rate: int = 32000) -> None:
        from s5tse.simulate.sources import SourceIndex

        if classes is None:
            raise ValueError("IsolatedEventsDataset needs the class inventory (--classes)")
        if window_sec <= 0:
            raise ValueError(f"window_sec must be > 0, got {window_sec!r}")
        index = SourceIndex.from_data_dir(resolve_data_dir(data_dir, f"{split} data"), split,
                                          classes)
        self.events: List[Tuple[Path, int]] = [
            (index.abspath("foreground", f.rel), classes.label_to_index(label))
            for label, files in index.fg_files.items() for f in files]
        self.noises: List[Path] = [index.abspath("background", rel) for rel in index.noise_files]
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
        noise_path = self.noises[int(rng.integers(len(self.noises)))]
        total = sf.info(str(noise_path)).frames
        noise = self._read(noise_path, frames=n, start=int(rng.integers(0, max(1, total - n + 1))))
        noise = np.pad(noise, (0, n - len(noise)))
        x = np.zeros(n, dtype=np.float64)
        x[span[0]:span[1]] = event
        e_rms = float(np.sqrt(np.mean(event.astype(np.float64) ** 2)) + 1e-12)
        n_rms = float(np.sqrt(np.mean(noise[span[0]:span[1]].astype(np.float64) ** 2)) + 1e-12)
        snr = rng.uniform(*self.snr_db)
        x += noise * (e_rms / n_rms) / _db(snr)
        x *= _db(rng.uniform(*self.level_db)) / (float(np.sqrt(np.mean(x ** 2))) + 1e-12)
        peak = float(np.abs(x).max())
        if peak > 0.99:
            x *= 0.99 / peak
        return {"id": f"{self.split}_{self.epoch}_{i}_{path.stem}",
                "mixture": torch.from_numpy(x.astype(np.float32))[None],
                "label": torch.tensor(label, dtype=torch.int64),
                "span": torch.tensor(span, dtype=torch.int64)}


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
    def _stats(loss: torch.Tensor, logits: torch.Tensor, label: torch.Tensor,
               **extra: torch.Tensor) -> Dict[str, torch.Tensor]:
        acc = (logits.detach().argmax(-1) == label).float().mean() * 100.0
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

    def logits(self, wav: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        """``wav [B, N]``, ``span [B, 2]`` -> class logits ``[B, C]`` (columns in the span)."""
        feats = self.encoder(wav)                                                 # [B, T, D]
        mask = span_mask(self.encoder.column_times(feats.shape[1], feats.device), span,
                         self.encoder.sample_rate)
        return self.head(self.norm(masked_mean(feats, mask)))

    def forward(self, mixture: torch.Tensor, label: torch.Tensor, span: torch.Tensor, **_: Any):
        logits = self.logits(mixture[:, 0], span)
        loss = F.cross_entropy(logits, label, label_smoothing=self.label_smoothing)
        return loss, self._stats(loss, logits, label), torch.tensor(mixture.shape[0])

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
        feats = self.encoder(mixture[:, 0])                                       # [B, T, D]
        mask = self.frame_mask(span, feats.shape[1])
        weak = self.weak_head(masked_mean(feats, mask))                           # [B, C]
        strong = self.strong_head(feats)                                          # [B, T, C+1]
        background = strong.shape[-1] - 1
        target = torch.where(mask, label[:, None], torch.full_like(mask, background, dtype=torch.long))
        weak_ce = F.cross_entropy(weak, label, label_smoothing=self.label_smoothing)
        strong_ce = F.cross_entropy(strong.flatten(0, 1), target.flatten())
        loss = weak_ce + self.strong_weight * strong_ce
        stats = self._stats(loss, weak, label, weak_ce=weak_ce, strong_ce=strong_ce)
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
