"""The ``toy`` task: the training engine's self-test.

A synthetic separation problem small enough for CPU tests: each item is a mixture of
two sinusoid "sources" plus a little noise, and a tiny conv net learns to output source 1
(the low-frequency one), i.e. a learnt low-pass filter. Items are a pure function of
``(seed, split, epoch, index)``, so resume, DataLoader workers and DDP sharding can be
checked for exactness. Nothing here is meant for real data; stages never train it.

    python -m s5tse.bin.train --task toy --output_dir /tmp/toy \\
        --max_epochs 3 --iters_per_epoch 50 --batch_size 8 --optim_conf.lr 1e-2

Registries: model ``toy_conv``; loss ``mse`` | ``l1``; datasets ``toy_sines``.
Shapes: ``mixture [B, 1, T]``, ``source [B, 1, T]`` (the target), ``id`` (list of str).
Validation stats: ``loss`` and ``snr`` (dB, higher is better).
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.utils.checkpoint

from s5tse.tasks.abs_task import (
    TRAIN_DATASET_INJECTED,
    VALID_DATASET_INJECTED,
    AbsTask,
    Choice,
)
from s5tse.tasks.registry import Registry

__all__ = ["DATASETS", "LOSSES", "MODELS", "TASK", "ToyConvNet", "ToyModel", "ToySinesDataset",
           "ToyTask"]

MODELS = Registry("model")
LOSSES = Registry("loss")
DATASETS = Registry("dataset")

_SPLIT_CODE = {"train": 0, "valid": 1, "test": 2}


@MODELS.register("toy_conv")
class ToyConvNet(torch.nn.Module):
    """``x [B, 1, T] -> y [B, 1, T]``: ``num_layers`` same-padded Conv1d with tanh between.

    Args:
        channels: hidden channels.
        kernel_size: odd kernel size of every layer.
        num_layers: >= 1 (1 = a single linear FIR filter).
    """

    def __init__(self, channels: int = 8, kernel_size: int = 9, num_layers: int = 2) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        dims = [1] + [channels] * (num_layers - 1) + [1]
        self.layers = torch.nn.ModuleList(
            torch.nn.Conv1d(a, b, kernel_size, padding=kernel_size // 2)
            for a, b in zip(dims[:-1], dims[1:])
        )
        self.activation_checkpointing = False

    def set_activation_checkpointing(self, enabled: bool) -> None:
        """Recompute hidden activations in backward (saves memory; same results)."""
        self.activation_checkpointing = bool(enabled)

    def _hidden(self, layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(layer(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            if self.activation_checkpointing and self.training and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint(self._hidden, layer, x, use_reentrant=False)
            else:
                x = self._hidden(layer, x)
        return self.layers[-1](x)


@LOSSES.register("mse")
class MSELoss(torch.nn.Module):
    """Mean squared error per example: ``est, ref [B, 1, T] -> [B]``."""

    def forward(self, est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return (est - ref).pow(2).flatten(1).mean(1)


@LOSSES.register("l1")
class L1Loss(torch.nn.Module):
    """Mean absolute error per example: ``est, ref [B, 1, T] -> [B]``."""

    def forward(self, est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return (est - ref).abs().flatten(1).mean(1)


def snr_db(est: torch.Tensor, ref: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``10 log10(|ref|^2 / |ref - est|^2)`` per example: ``[B, ...] -> [B]``."""
    num = ref.pow(2).flatten(1).sum(1)
    den = (ref - est).pow(2).flatten(1).sum(1)
    return 10.0 * torch.log10((num + eps) / (den + eps))


class ToyModel(torch.nn.Module):
    """ESPnet-contract wrapper: ``forward(mixture, source, **batch) -> (loss, stats, weight)``."""

    def __init__(self, net: torch.nn.Module, loss: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.loss = loss

    def set_activation_checkpointing(self, enabled: bool) -> None:
        self.net.set_activation_checkpointing(enabled)

    def forward(
        self, mixture: torch.Tensor, source: torch.Tensor, **kwargs: Any
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        est = self.net(mixture)
        loss = self.loss(est, source).mean()
        stats = {"loss": loss.detach(), "snr": snr_db(est.detach(), source).mean()}
        return loss, stats, torch.tensor(mixture.shape[0], device=mixture.device)


@DATASETS.register("toy_sines")
class ToySinesDataset(torch.utils.data.Dataset):
    """Mixtures of a low-frequency and a high-frequency sinusoid; the target is the first.

    Item ``i`` of epoch ``e`` draws from ``numpy.random.default_rng([seed, split, e, i])``:
    frequencies ``f1 ~ U(0.01, 0.05)``, ``f2 ~ U(0.2, 0.4)`` cycles/sample, amplitudes
    ``U(0.5, 1)``, phases ``U(0, 2 pi)``, white noise of std ``noise``.

    Args:
        data_dir: ignored (the data is synthetic).
        split: ``train`` | ``valid`` | ``test`` (different items).
        seed: global seed.
        num_items: items per epoch.
        length: samples per item.
        noise: noise std.
        delay_sec: sleep per item (simulates slow data loading; tests use it).
    Returns (item): ``mixture [1, length]``, ``source [1, length]`` (float32), ``id`` str.
    """

    def __init__(
        self, data_dir: Optional[str] = None, *, split: str = "train", seed: int = 0,
        num_items: int = 64, length: int = 256, noise: float = 0.01, delay_sec: float = 0.0,
    ) -> None:
        if split not in _SPLIT_CODE:
            raise ValueError(f"split must be one of {sorted(_SPLIT_CODE)}, got {split!r}")
        self.split, self.seed, self.num_items = split, int(seed), int(num_items)
        self.length, self.noise, self.delay_sec = int(length), float(noise), float(delay_sec)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_items

    def __getitem__(self, i: int) -> Dict[str, Any]:
        if not 0 <= i < self.num_items:
            raise IndexError(f"index {i} out of range for {self.num_items} items")
        if self.delay_sec > 0:
            time.sleep(self.delay_sec)
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[self.split], self.epoch, int(i)])
        f1, f2 = rng.uniform(0.01, 0.05), rng.uniform(0.2, 0.4)
        a1, a2 = rng.uniform(0.5, 1.0, size=2)
        p1, p2 = rng.uniform(0.0, 2 * math.pi, size=2)
        t = np.arange(self.length)
        s1 = a1 * np.sin(2 * math.pi * f1 * t + p1)
        s2 = a2 * np.sin(2 * math.pi * f2 * t + p2)
        mix = s1 + s2 + self.noise * rng.standard_normal(self.length)
        return {
            "mixture": torch.from_numpy(mix.astype(np.float32)).unsqueeze(0),
            "source": torch.from_numpy(s1.astype(np.float32)).unsqueeze(0),
            "id": f"toy-{self.split}-e{self.epoch}-{i:06d}",
        }


def _collate(items: List[Mapping[str, Any]]) -> Dict[str, Any]:
    return {
        "mixture": torch.stack([it["mixture"] for it in items]),
        "source": torch.stack([it["source"] for it in items]),
        "id": [it["id"] for it in items],
    }


class ToyTask(AbsTask):
    """The engine self-test task (module docstring)."""

    name = "toy"
    requires_data = False

    def choices(self) -> List[Choice]:
        return [
            Choice("model", MODELS, "toy_conv"),
            Choice("loss", LOSSES, "mse"),
            Choice("train_dataset", DATASETS, "toy_sines", TRAIN_DATASET_INJECTED),
            Choice("valid_dataset", DATASETS, "toy_sines", VALID_DATASET_INJECTED),
        ] + super().choices()

    def build_model(self, config: Mapping[str, Any]) -> torch.nn.Module:
        return ToyModel(self.build_choice("model", config), self.build_choice("loss", config))

    def collate_fn(self, config: Mapping[str, Any]) -> Any:
        return _collate

    def forward_valid(self, model: torch.nn.Module, batch: Mapping[str, Any]) -> Any:
        loss, stats, weight = model(**batch)
        net = model.module.net if hasattr(model, "module") else model.net
        return loss, stats, weight, net(batch["mixture"][:1])

    def log_examples(self, writer: Any, batch: Mapping[str, Any], output: Any, step: int) -> None:
        """A tiny image: rows mixture / target / estimate of the first item, scaled to [0, 1]."""
        rows = torch.cat([batch["mixture"][0], batch["source"][0], output[0]], 0).detach().float().cpu()
        lo, hi = rows.min(), rows.max()
        image = ((rows - lo) / (hi - lo + 1e-8)).repeat_interleave(8, dim=0).unsqueeze(0)
        writer.add_image("examples/mixture_target_estimate", image, step)


TASK = ToyTask
