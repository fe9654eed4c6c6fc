"""Abstract interface of every s5tse separator (label-queried target sound extraction).

A separator takes a 4-channel FOA mixture and one query per output slot and returns one
single-channel estimate per slot::

    sources, extras = separator(mixture, strong, weak)

* ``mixture``: ``[B, C, T]`` waveform (FOA, ACN order W, Y, Z, X; 32 kHz).
* ``strong``: ``[B, K, T_q]`` frame-level query per slot (soft or hard activity of the
  queried class) on ANY frame grid whose ``T_q`` frames evenly cover the input; the model
  resamples it to its own frame rate.
* ``weak``: ``[B, K, num_classes]`` time-invariant class identity per slot (one-hot / multi-hot).
* A slot whose query is all zero (strong AND weak) is silent: its output is exactly zero.

Returns ``sources [B, K, T]`` (same ``T`` as the input) and a dict of extras (auxiliary
outputs, e.g. ``extras["aux"]`` for multi-stage losses; may be empty).
"""
from __future__ import annotations

import abc
from typing import Any, Dict, Tuple

import torch
from torch import Tensor


class AbsSeparator(torch.nn.Module, abc.ABC):
    """Base class of the label-queried separators."""

    @abc.abstractmethod
    def forward(
        self, mixture: Tensor, strong: Tensor, weak: Tensor
    ) -> Tuple[Tensor, Dict[str, Any]]:
        """Separate ``mixture [B, C, T]`` given ``strong [B, K, T_q]`` and ``weak [B, K, num_classes]``.

        Returns ``(sources [B, K, T], extras)``.  All-zero query on slot k -> zeros on slot k.
        """
        raise NotImplementedError

    @property
    @abc.abstractmethod
    def num_slots(self) -> int:
        """Number of output slots K."""
        raise NotImplementedError

    def set_activation_checkpointing(self, enable: bool) -> None:
        """Enable/disable activation checkpointing (no-op unless a subclass supports it)."""
        del enable
