"""M2DAT: the official DCASE 2026 Task 4 baseline tagger, re-implemented (reference §4.2).

Written from the published description only (the baseline's code is licensed for
evaluation); no code copied.

    4-channel ("M2DAT_4c")  wav [B, 4, n] -> M2D shared per channel -> [B, N, 4 * D]
    1-channel ("M2DAT_1c")  wav[:, ref_channel] (FOA W by default) -> M2D -> [B, N, D]
      -> BaselineSlotHead: mean over time (= the baseline's mean over all 5 x N patch
         tokens, the encoder already averages the 5 frequency tokens of a column)
         -> BatchNorm1d(affine=False) -> Linear(., 3 * 1024) -> LayerNorm -> ReLU
         -> per slot Linear(1024, 512) -> LayerNorm -> ReLU -> Linear(512, C + 1)
      -> weak logits [B, 3, C + 1]

Training: PIT cross-entropy over the 3 slots on the weak logits
(:func:`s5tse.losses.pit_tagger.baseline_pit_ce`). Decoding: per-slot softmax, argmax over
the C + 1 outputs, no threshold (:meth:`TaggerOutput.argmax`).

The model has no frame-level output. For a common decoding API, :meth:`M2DATTagger.predict`
returns ``strong_prob`` = the clip probabilities repeated on every frame of the 40 ms grid
of the fusion tagger and the dataset targets (``T = ceil(n / frame_hop)``, ``frame_hop``
1280 samples): a constant track that carries no timing information.

Parameters (``real``): 85,492,992 (M2D) + 11,053,113 head (4c) / 3,975,225 (1c) =
96,546,105 / 89,468,217, the baseline's measured totals (96,546,107 / 89,468,219) less the
2-element ``norm_stats``, a buffer here. The baseline's step 1 trains the head only
(:meth:`M2DATTagger.freeze_backbone` with 0 blocks), step 2 also the last 2 blocks and the
final norm (``freeze_backbone(2)``).
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Union

import torch
import torch.nn as nn

from s5tse.labels import NUM_SLOTS

from .heads import BaselineSlotHead, TaggerOutput, freeze_encoder
from .m2d import M2DEncoder

__all__ = ["M2DATTagger", "M2DAT_PRESETS", "TaggerOutput"]

PathLike = Union[str, os.PathLike]

#: Head sizes per preset (the encoder comes from the M2D preset of the same name).
M2DAT_PRESETS: Dict[str, Dict[str, int]] = {
    "tiny": dict(hidden=32, slot_hidden=32),
    "small": dict(hidden=256, slot_hidden=128),
    "real": dict(hidden=1024, slot_hidden=512),
}

#: FOA channels of a DCASE 2026 Task 4 mixture.
FOA_CHANNELS: int = 4


class M2DATTagger(nn.Module):
    """Baseline tagger: shared M2D per channel, concatenated features, per-slot clip head.

    Args:
        m2d: M2D encoder (``forward_multichannel(wav [B, C, n]) -> [B, N, C * feature_dim]``).
        num_channels: 4 (all FOA channels, "4c") or 1 (``ref_channel`` only, "1c").
        num_slots, num_classes: 3 slots x ``C + 1`` classes (the inventory's ``C`` + silence).
        hidden, slot_hidden, dropout: :class:`~s5tse.models.tagger.heads.BaselineSlotHead`.
        ref_channel: channel used by the 1-channel variant (0 = FOA W).
        frame_hop: samples per frame of the grid of :meth:`predict` (1280 = 40 ms).

    Input ``wav [B, 4, n]`` at 32 kHz (the 1-channel variant also takes ``[B, 1, n]``).
    ``forward(wav) -> {"weak": [B, S, C + 1]}`` logits; ``predict(wav) -> TaggerOutput``.

    Example::

        >>> model = M2DATTagger.from_preset("tiny", num_classes=19).eval()
        >>> model(torch.zeros(2, 4, 32000))["weak"].shape
        torch.Size([2, 3, 19])
    """

    def __init__(self, m2d: M2DEncoder, num_channels: int = FOA_CHANNELS,
                 num_slots: int = NUM_SLOTS, *, num_classes: int,
                 hidden: int = 1024, slot_hidden: int = 512, dropout: float = 0.0,
                 ref_channel: int = 0, frame_hop: int = 1280) -> None:
        super().__init__()
        if num_channels not in (1, FOA_CHANNELS):
            raise ValueError(f"M2DATTagger: num_channels must be 1 or {FOA_CHANNELS}, "
                             f"got {num_channels!r}")
        if not 0 <= int(ref_channel) < FOA_CHANNELS:
            raise ValueError(f"M2DATTagger: ref_channel must be in [0, {FOA_CHANNELS}), "
                             f"got {ref_channel!r}")
        if isinstance(frame_hop, bool) or int(frame_hop) != frame_hop or frame_hop < 1:
            raise ValueError(f"M2DATTagger: frame_hop must be a positive integer, "
                             f"got {frame_hop!r}")
        self.m2d = m2d
        self.num_channels = int(num_channels)
        self.ref_channel = int(ref_channel)
        self.frame_hop = int(frame_hop)
        self.num_slots, self.num_classes = int(num_slots), int(num_classes)
        self.preset: Optional[str] = None
        self.head = BaselineSlotHead(self.num_channels * int(m2d.feature_dim),
                                     num_slots=num_slots, num_classes=num_classes,
                                     hidden=hidden, slot_hidden=slot_hidden, dropout=dropout)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, num_channels: int = FOA_CHANNELS,
                    **overrides) -> "M2DATTagger":
        """``tiny`` | ``small`` | ``real`` (``real`` = the baseline's sizes); ``num_channels``
        4 or 1; ``overrides`` go to the constructor."""
        if name not in M2DAT_PRESETS:
            raise ValueError(f"unknown M2DATTagger preset {name!r}; choose from "
                             f"{sorted(M2DAT_PRESETS)}")
        kw = dict(M2DAT_PRESETS[name])
        kw.update(overrides)
        model = cls(M2DEncoder.from_preset(name), num_channels=num_channels, **kw)
        model.preset = name
        return model

    def load_pretrained(self, m2d_path: PathLike) -> None:
        """Load published M2D weights into the encoder (head stays as initialised)."""
        self.m2d.load_pretrained(m2d_path)

    def freeze_backbone(self, trainable_blocks: int = 0) -> None:
        """Freeze M2D except its last ``trainable_blocks`` blocks (+ final norm if > 0)."""
        freeze_encoder(self.m2d, trainable_blocks)

    # ------------------------------------------------------------------ geometry
    @property
    def sample_rate(self) -> int:
        return int(self.m2d.sample_rate)

    @property
    def min_samples(self) -> int:
        return int(self.m2d.min_samples)

    def num_frames(self, num_samples: int) -> int:
        """Frames of the :meth:`predict` grid: ``ceil(num_samples / frame_hop)``."""
        return -(-int(num_samples) // self.frame_hop)

    def frame_times(self, num_frames: int) -> torch.Tensor:
        """``[T, 2]`` float64 (start, end) seconds of the :meth:`predict` grid."""
        hop_s = self.frame_hop / self.sample_rate
        t = torch.arange(num_frames, dtype=torch.float64) * hop_s
        return torch.stack([t, t + hop_s], dim=1)

    # ------------------------------------------------------------------ forward
    def _select_channels(self, wav: torch.Tensor) -> torch.Tensor:
        ok = (FOA_CHANNELS,) if self.num_channels == FOA_CHANNELS else (FOA_CHANNELS, 1)
        if not isinstance(wav, torch.Tensor) or wav.ndim != 3 or wav.shape[1] not in ok:
            shape = tuple(wav.shape) if isinstance(wav, torch.Tensor) else type(wav).__name__
            want = " or ".join(f"[B, {c}, samples]" for c in ok)
            raise ValueError(f"M2DATTagger ({self.num_channels}-channel): expected a waveform "
                             f"{want}, got shape {shape}")
        if not wav.is_floating_point():
            raise ValueError(f"M2DATTagger: expected float audio, got dtype {wav.dtype}")
        if wav.shape[0] == 0 or wav.shape[-1] == 0:
            raise ValueError(f"M2DATTagger: empty input of shape {tuple(wav.shape)}")
        if wav.shape[-1] < self.min_samples:
            raise ValueError(f"M2DATTagger: {wav.shape[-1]} samples is too short; need at least "
                             f"{self.min_samples} ({self.min_samples / self.sample_rate:g} s)")
        if self.num_channels == 1 and wav.shape[1] != 1:
            wav = wav[:, self.ref_channel:self.ref_channel + 1]
        return wav

    def encode(self, wav: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The backbone alone: ``wav [B, 4, n]`` -> ``{"m2d": [B, N, C * D]}`` (what step 1,
        with a frozen backbone, can compute once)."""
        return {"m2d": self.m2d.forward_multichannel(self._select_channels(wav))}

    def forward_encoded(self, encoded: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """:meth:`forward` from :meth:`encode`'s output (the head)."""
        return {"weak": self.head(encoded["m2d"])}

    def forward(self, wav: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``wav [B, 4, n]`` -> ``{"weak": [B, S, C + 1]}`` logits."""
        return self.forward_encoded(self.encode(wav))

    @torch.no_grad()
    def predict(self, wav: torch.Tensor) -> TaggerOutput:
        """Inference (eval mode, no gradients, training flag restored): clip softmax per slot;
        ``strong_prob`` = the clip probabilities repeated over the 40 ms frames."""
        was_training = self.training
        self.eval()
        try:
            weak = self.forward(wav)["weak"].float().softmax(dim=-1)
        finally:
            self.train(was_training)
        T = self.num_frames(wav.shape[-1])
        strong = weak.unsqueeze(2).expand(-1, -1, T, -1).contiguous()
        return TaggerOutput(weak_prob=weak, strong_prob=strong,
                            frame_times=self.frame_times(T).to(weak.device))

    def extra_repr(self) -> str:
        return (f"preset={self.preset!r}, num_channels={self.num_channels}, "
                f"ref_channel={self.ref_channel}")
