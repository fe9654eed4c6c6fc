"""Overlapping-chunk inference for any :class:`AbsSeparator` (no model state).

The input is cut into centre chunks of ``present`` frames; each chunk is separated offline
together with up to ``past`` frames on its left and ``future`` frames on its right (clipped at the
input edges), and only the centre is kept (hard cut, no cross-fade: label-queried slots do not
permute between chunks). Frames are converted to samples with the separator's STFT hop
(``hop_length`` / ``frame_hop`` attribute). Weak queries are fixed per clip; the strong query is
re-gridded per window by nearest sampling (see :func:`slice_strong`). Peak memory depends on
``past + present + future``, not on the input length (besides the input and output themselves).
With ``past`` and ``future`` covering the whole input every window is the whole input and the
result equals the offline forward.
"""
from __future__ import annotations

import torch
from torch import Tensor

from s5tse.streaming.config import StreamingConfig

__all__ = ["model_hop", "min_input_samples", "slice_strong", "separate_chunked"]


def model_hop(model: torch.nn.Module) -> int:
    """STFT hop of a separator in samples (``frame_hop`` or ``hop_length`` or ``config.hop_length``)."""
    for obj, name in ((model, "frame_hop"), (model, "hop_length"), (getattr(model, "config", None), "hop_length")):
        value = getattr(obj, name, None) if obj is not None else None
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"{type(model).__name__}: no STFT hop found (frame_hop / hop_length)")


def min_input_samples(model: torch.nn.Module) -> int:
    """Shortest input the separator's STFT accepts (``n_fft // 2 + 1`` for reflect padding;
    ``n_fft`` of the model or of its ``config``; 1 without either)."""
    n_fft = getattr(model, "n_fft", None) or getattr(getattr(model, "config", None), "n_fft", None)
    return int(n_fft) // 2 + 1 if n_fft else 1


def slice_strong(strong: Tensor, num_samples: int, start: int, stop: int) -> Tensor:
    """Strong query ``[K, T_q]`` (covering ``num_samples`` evenly) for samples ``[start, stop)``.

    Returns ``[K, T_c]`` with ``T_c = max(1, round((stop - start) / H_q))``, ``H_q = num_samples / T_q``;
    chunk frame ``j`` takes the query frame containing its centre. The whole range returns
    ``strong`` unchanged.
    """
    t_q = strong.shape[-1]
    if start == 0 and stop == num_samples:
        return strong
    h_q = num_samples / t_q
    t_c = max(1, int(round((stop - start) / h_q)))
    centres = start + (torch.arange(t_c, dtype=torch.float64) + 0.5) * ((stop - start) / t_c)
    idx = torch.floor(centres / h_q).long().clamp_(0, t_q - 1).to(strong.device)
    return strong.index_select(-1, idx)


@torch.no_grad()
def separate_chunked(model: torch.nn.Module, mixture: Tensor, strong: Tensor, weak: Tensor,
                     config: StreamingConfig) -> Tensor:
    """``mixture [C, T]``, ``strong [K, T_q]``, ``weak [K, num_classes]`` -> ``[K, T]`` by overlapping chunks."""
    hop = model_hop(model)
    config = config.for_hop(hop)
    n = mixture.shape[-1]
    body, left, right = config.present * hop, config.past * hop, config.future * hop
    min_len = min_input_samples(model)
    pieces = []
    for start in range(0, n, body):
        stop = min(n, start + body)
        lo, hi = max(0, start - left), min(n, stop + right)
        if hi - lo < min_len:  # too short for the model's STFT: widen the window inside the input
            lo = max(0, hi - min_len)
            hi = min(n, lo + min_len)
        q = slice_strong(strong, n, lo, hi)
        y, _ = model(mixture[None, :, lo:hi], q[None], weak[None])
        pieces.append(y[0, :, start - lo: stop - lo])
    return torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0]

