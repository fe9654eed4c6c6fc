"""One-example separation entry point: offline, block-streamed (SR-CorrNet) or chunked (others).

:func:`separate` dispatches on the model and the config:

* ``config is None`` -> plain offline forward under ``torch.no_grad`` (any separator);
* :class:`LabelQueriedSRCorrNet` -> stateful block streaming with KV/conv caches
  (:class:`s5tse.streaming.sr_corrnet.StreamingSeparator`);
* any other :class:`AbsSeparator` (e.g. ResUNetK, a clip-level U-Net with no streamable state)
  -> overlapping chunks, left/centre/right windows of ``past``/``present``/``future`` frames, only
  centres kept (:func:`s5tse.streaming.chunked.separate_chunked`).

The model is used as it is (call ``model.eval()`` first); inputs are moved to the model's
device and the result is returned on the mixture's device.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from s5tse.streaming.chunked import separate_chunked
from s5tse.streaming.config import StreamingConfig

__all__ = ["separate", "check_example"]


def _num_channels(model: torch.nn.Module) -> Optional[int]:
    cfg = getattr(model, "config", None)
    for value in (getattr(cfg, "num_channels", None), getattr(model, "in_channels", None)):
        if isinstance(value, int):
            return value
    return None


def check_example(model: torch.nn.Module, mixture: Tensor, strong: Tensor, weak: Tensor) -> None:
    """One-line ``ValueError`` for a malformed single example (no batch axis)."""
    if mixture.dim() != 2 or mixture.shape[-1] < 1:
        raise ValueError(f"mixture must be [C, T] with T >= 1, got {tuple(mixture.shape)}")
    channels = _num_channels(model)
    if channels is not None and mixture.shape[0] != channels:
        raise ValueError(f"mixture has {mixture.shape[0]} channels; the model expects {channels}")
    if not bool(torch.isfinite(mixture).all()):
        raise ValueError("mixture contains NaN or Inf samples")
    if strong.dim() != 2 or weak.dim() != 2:
        raise ValueError(f"strong must be [K, T_q] and weak [K, num_classes], got {tuple(strong.shape)}, {tuple(weak.shape)}")


def _device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def separate(model: torch.nn.Module, mixture: Tensor, strong: Tensor, weak: Tensor,
             config: Optional[StreamingConfig] = None) -> Tensor:
    """Separate one example: ``mixture [C, T]``, ``strong [K, T_q]``, ``weak [K, num_classes]`` -> ``[K, T]``.

    ``config`` None: offline forward; else streamed / chunked (see the module docstring).
    """
    check_example(model, mixture, strong, weak)
    out_device = mixture.device
    dev = _device(model)
    mixture, strong, weak = mixture.to(dev).float(), strong.to(dev).float(), weak.to(dev).float()
    with torch.no_grad():
        if config is None:
            y = model(mixture[None], strong[None], weak[None])[0][0]
        else:
            from s5tse.models.separator.sr_corrnet.model import LabelQueriedSRCorrNet

            if isinstance(model, LabelQueriedSRCorrNet):
                from s5tse.streaming.sr_corrnet import StreamingSeparator

                runner = StreamingSeparator(model, config, strong, weak, mixture.shape[-1])
                y = torch.cat([runner.process(mixture), runner.flush()], dim=-1)
            else:
                y = separate_chunked(model, mixture, strong, weak, config)
    return y.to(out_device)
