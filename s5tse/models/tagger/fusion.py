"""Fusion tagger: M2D (+) frame-level PaSST, shared over the 4 FOA channels (reference §5).

Shapes for a 32 kHz FOA mixture ``wav [B, 4, n]`` (``real`` preset, 10 s: ``N = 62``,
``T = 250``)::

    M2D stream     m2d.forward_multichannel(wav)    -> [B, N, 4 * Dm]   160 ms columns
                   LayerNorm(4 Dm) -> Linear(4 Dm, d_fused) -> Dropout -> [B, N, d]
    fPaSST stream  fpasst.forward_multichannel(wav) -> [B, T, 4 * Dp]   40 ms frames
                   LayerNorm(4 Dp) -> Linear(4 Dp, d_fused) -> Dropout -> [B, T, d]
    alignment      M2D column t // 4 for fPaSST frame t (last column repeated) -> [B, T, d]
    fusion         concat on the feature axis                           -> z [B, T, 2 d]
    head           PerSourceHead(2 d)  -> strong [B, 3, T, C + 1], weak [B, 3, C + 1]   (logits)

Each backbone is shared across the channels (the channels are folded into the batch by the
encoders' ``forward_multichannel``) and the per-channel features are concatenated in input
channel order (FOA as delivered), like the baseline's spatial tagger. Each stream is
normalised before its projection because the two backbones' scales differ (and the FOA
X/Y/Z channels differ in gain from W).

Time alignment (§5.2). The fused grid is fPaSST's: ``T = ceil(n / 1280)`` frames of 40 ms,
frame ``t`` covering ``[0.04 t, 0.04 (t + 1))`` s -- the same grid as the dataset's strong
targets (:mod:`s5tse.datasets.targets`, ``frame_hop = 1280``). M2D column ``k`` pools mel
frames ``16 k ... 16 k + 15`` (160 ms) and so covers fPaSST frames ``4 k ... 4 k + 3``; frame
``t`` takes column ``min(t // 4, N - 1)`` (:func:`m2d_to_fpasst_index`). Always
``4 N - 4 <= T <= 4 N + 3`` (M2D zero-pads its last column, ``N = ceil(F / 16)`` mel
frames ``F``), so the last column serves ``T - 4 (N - 1)`` frames: 1-4 for almost all lengths
(1 s: N = 7, T = 25, one frame), none when ``T = 4 N - 4`` (the column is cropped), and 5-7
for 993-1001 mel frames (9.92-10.01 s, N = 62 at the grid cap; 10 s: frames 244-249).
(``F.interpolate(mode="nearest")`` maps ``floor(t N / T)`` instead, a one-column lag at
block boundaries; it is not used.)

Input: 32 kHz float audio ``[B, 4, n]`` with ``n >= 401`` samples (M2D's centred STFT).
Inputs longer than 10 s are windowed inside each encoder (see ``m2d.py``, ``fpasst.py``).

Presets (:meth:`FusionTagger.from_preset`; encoders from their own presets, identical
front ends and tokenisers)::

    name   M2D / fPaSST width   d_fused  head hidden  parameters
    tiny   64 / 64              32       32             566,133
    small  192 / 192            128      128          4,842,037
    real   768 / 768            512      512        178,710,133

``real``: backbones 85,492,992 (M2D) + 88,421,632 (fPaSST), projections 3,159,040, head
1,636,469.

``real`` has the published models' shapes; load their weights with
:meth:`FusionTagger.load_pretrained` (each encoder's clean-room loader; no weights ship).
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Union

import torch
import torch.nn as nn

from s5tse.labels import NUM_SLOTS

from .fpasst import FPaSSTEncoder
from .heads import PerSourceHead, TaggerOutput, freeze_encoder
from .m2d import M2DEncoder

__all__ = ["FusionTagger", "FUSION_PRESETS", "TaggerOutput", "m2d_to_fpasst_index",
           "align_m2d_to_fpasst"]

PathLike = Union[str, os.PathLike]

#: Head sizes per preset (encoders come from their own presets of the same name).
FUSION_PRESETS: Dict[str, Dict[str, object]] = {
    "tiny": dict(d_fused=32, head_hidden=32),
    "small": dict(d_fused=128, head_hidden=128),
    "real": dict(d_fused=512, head_hidden=512),
}

#: fPaSST frames per M2D column (160 ms / 40 ms).
FRAMES_PER_COLUMN: int = 4


def m2d_to_fpasst_index(num_columns: int, num_frames: int,
                        device: Optional[torch.device] = None) -> torch.Tensor:
    """``[num_frames]`` int64: the M2D column used for each fPaSST frame,
    ``min(t // 4, num_columns - 1)``."""
    if num_columns < 1 or num_frames < 1:
        raise ValueError(f"need at least one M2D column and one fPaSST frame, got "
                         f"{num_columns} and {num_frames}")
    idx = torch.arange(num_frames, device=device) // FRAMES_PER_COLUMN
    return idx.clamp_max(num_columns - 1)


def align_m2d_to_fpasst(zm: torch.Tensor, num_frames: int) -> torch.Tensor:
    """M2D features ``[B, N, D]`` (160 ms) -> ``[B, num_frames, D]`` on the 40 ms grid: each
    column repeated 4 times, the last one repeated to the end, surplus columns cropped."""
    if zm.ndim != 3:
        raise ValueError(f"expected M2D features [B, N, D], got {tuple(zm.shape)}")
    return zm[:, m2d_to_fpasst_index(zm.shape[1], num_frames, device=zm.device)]


class FusionTagger(nn.Module):
    """M2D + fPaSST fusion tagger with per-slot strong and weak outputs (reference §5).

    Args:
        m2d: M2D encoder (``forward_multichannel(wav [B, C, n]) -> [B, N, C * feature_dim]``).
        fpasst: fPaSST encoder (``forward_multichannel(wav) -> [B, T, C * out_dim]``).
        d_fused: projection size of each stream (fused features are ``2 * d_fused``).
        num_slots: output slots (3).
        num_classes: classes per slot including silence (``C + 1``).
        num_channels: input channels (4, FOA).
        head_hidden: per-slot width of :class:`~s5tse.models.tagger.heads.PerSourceHead`.
        head_dropout: dropout inside the head.
        proj_dropout: dropout after each stream's projection.
        pooling: weak pooling of the head, ``"attention"`` or ``"mean"``.

    ``forward(wav [B, 4, n]) -> {"strong": [B, S, T, C + 1], "weak": [B, S, C + 1]}`` (logits);
    ``predict(wav) -> TaggerOutput`` (probabilities and the frame grid).

    Example::

        >>> model = FusionTagger.from_preset("tiny", num_classes=19).eval()
        >>> out = model(torch.zeros(1, 4, 32000))
        >>> out["strong"].shape, out["weak"].shape
        (torch.Size([1, 3, 25, 19]), torch.Size([1, 3, 19]))
    """

    def __init__(self, m2d: M2DEncoder, fpasst: FPaSSTEncoder, d_fused: int = 256,
                 num_slots: int = NUM_SLOTS, *, num_classes: int,
                 num_channels: int = 4, head_hidden: int = 256, head_dropout: float = 0.1,
                 proj_dropout: float = 0.0, pooling: str = "attention") -> None:
        super().__init__()
        for name, v in (("d_fused", d_fused), ("num_channels", num_channels)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"FusionTagger: {name} must be a positive integer, got {v!r}")
        if not 0.0 <= float(proj_dropout) < 1.0:
            raise ValueError(f"FusionTagger: proj_dropout must be in [0, 1), got {proj_dropout!r}")
        self.m2d = m2d
        self.fpasst = fpasst
        self.num_channels = int(num_channels)
        self.d_fused = int(d_fused)
        self.num_slots, self.num_classes = int(num_slots), int(num_classes)
        self.preset: Optional[str] = None
        dm = self.num_channels * int(m2d.feature_dim)
        dp = self.num_channels * int(fpasst.out_dim)
        self.proj_m2d = nn.Sequential(nn.LayerNorm(dm), nn.Linear(dm, self.d_fused),
                                      nn.Dropout(float(proj_dropout)))
        self.proj_fpasst = nn.Sequential(nn.LayerNorm(dp), nn.Linear(dp, self.d_fused),
                                         nn.Dropout(float(proj_dropout)))
        self.head = PerSourceHead(2 * self.d_fused, num_slots=num_slots, num_classes=num_classes,
                                  hidden=head_hidden, dropout=head_dropout, pooling=pooling)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, **overrides) -> "FusionTagger":
        """``tiny`` | ``small`` | ``real``: both encoders from their preset of that name, head
        sizes from :data:`FUSION_PRESETS`; ``overrides`` go to the constructor (``d_fused``,
        ``head_hidden``, ``head_dropout``, ``pooling``, ...)."""
        if name not in FUSION_PRESETS:
            raise ValueError(f"unknown FusionTagger preset {name!r}; choose from "
                             f"{sorted(FUSION_PRESETS)}")
        kw = dict(FUSION_PRESETS[name])
        kw.update(overrides)
        model = cls(M2DEncoder.from_preset(name), FPaSSTEncoder.from_preset(name), **kw)
        model.preset = name
        return model

    def load_pretrained(self, m2d_path: Optional[PathLike] = None,
                        fpasst_path: Optional[PathLike] = None) -> None:
        """Load published backbone weights (either or both) with each encoder's
        ``load_pretrained`` (M2D: e.g. ``weights_ep69it3124-0.47998.pth``; fPaSST:
        ``fpasst_strong_1.pt``). Projections and head stay as initialised."""
        if m2d_path is not None:
            self.m2d.load_pretrained(m2d_path)
        if fpasst_path is not None:
            self.fpasst.load_pretrained(fpasst_path)

    def freeze_backbones(self, trainable_blocks: int = 0) -> None:
        """Freeze both encoders except their last ``trainable_blocks`` transformer blocks and
        (when ``trainable_blocks > 0``) their final ``norm``; projections and head are left
        trainable. ``trainable_blocks=0`` = the baseline's step 1, ``2`` = its step 2."""
        for enc in (self.m2d, self.fpasst):
            freeze_encoder(enc, trainable_blocks)

    # ------------------------------------------------------------------ geometry
    @property
    def sample_rate(self) -> int:
        return int(getattr(self.m2d, "sample_rate", 32000))

    @property
    def min_samples(self) -> int:
        """Shortest input (M2D's centred STFT: 401 samples at 32 kHz)."""
        return int(getattr(self.m2d, "min_samples", 1))

    def num_frames(self, num_samples: int) -> int:
        """Output frames ``T`` for ``num_samples`` (= ``ceil(num_samples / 1280)``)."""
        return int(self.fpasst.num_frames(num_samples))

    def frame_times(self, num_frames: int) -> torch.Tensor:
        """``[T, 2]`` float64 (start, end) seconds: ``0.04 t``, ``0.04 (t + 1)``."""
        return self.fpasst.frame_times(num_frames)

    # ------------------------------------------------------------------ forward
    def _check_input(self, wav: torch.Tensor) -> None:
        if not isinstance(wav, torch.Tensor):
            raise ValueError(f"FusionTagger: expected a tensor [B, {self.num_channels}, samples], "
                             f"got {type(wav).__name__}")
        if wav.ndim != 3 or wav.shape[1] != self.num_channels:
            raise ValueError(f"FusionTagger: expected a {self.num_channels}-channel waveform "
                             f"[B, {self.num_channels}, samples], got shape {tuple(wav.shape)}")
        if not wav.is_floating_point():
            raise ValueError(f"FusionTagger: expected float audio, got dtype {wav.dtype}")
        if wav.shape[0] == 0 or wav.shape[-1] == 0:
            raise ValueError(f"FusionTagger: empty input of shape {tuple(wav.shape)}")
        if wav.shape[-1] < self.min_samples:
            raise ValueError(f"FusionTagger: {wav.shape[-1]} samples is too short; need at least "
                             f"{self.min_samples} ({self.min_samples / self.sample_rate:g} s)")

    def encode(self, wav: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The backbones alone: ``wav [B, C, n]`` -> ``{"m2d": [B, N, C * Dm],
        "fpasst": [B, T, C * Dp]}`` (what step 1, with frozen backbones, can compute once)."""
        self._check_input(wav)
        return {"m2d": self.m2d.forward_multichannel(wav),
                "fpasst": self.fpasst.forward_multichannel(wav)}

    def fuse_encoded(self, encoded: Dict[str, torch.Tensor]) -> torch.Tensor:
        """:meth:`encode`'s output -> fused frame features ``z [B, T, 2 * d_fused]``
        (``z[..., :d]`` = aligned M2D stream, ``z[..., d:]`` = fPaSST stream)."""
        zm = self.proj_m2d(encoded["m2d"])          # [B, N, d]
        zp = self.proj_fpasst(encoded["fpasst"])    # [B, T, d]
        return torch.cat([align_m2d_to_fpasst(zm, zp.shape[1]), zp], dim=-1)

    def fuse(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav [B, C, n]`` -> fused frame features ``z [B, T, 2 * d_fused]``."""
        return self.fuse_encoded(self.encode(wav))

    def forward_encoded(self, encoded: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """:meth:`forward` from :meth:`encode`'s output (projections, fusion and head)."""
        strong, weak = self.head(self.fuse_encoded(encoded))
        return {"strong": strong, "weak": weak}

    def forward(self, wav: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``wav [B, 4, n]`` (32 kHz) -> ``{"strong": [B, S, T, C + 1], "weak": [B, S, C + 1]}``
        logits, ``T = ceil(n / 1280)``."""
        return self.forward_encoded(self.encode(wav))

    @torch.no_grad()
    def predict(self, wav: torch.Tensor) -> TaggerOutput:
        """Inference: softmax probabilities and the frame grid (eval mode, no gradients; the
        module's training flag is restored afterwards)."""
        was_training = self.training
        self.eval()
        try:
            out = self.forward(wav)
        finally:
            self.train(was_training)
        strong = out["strong"]
        return TaggerOutput(
            weak_prob=out["weak"].float().softmax(dim=-1),
            strong_prob=strong.float().softmax(dim=-1),
            frame_times=self.frame_times(strong.shape[2]).to(strong.device),
        )

    def extra_repr(self) -> str:
        return (f"preset={self.preset!r}, num_channels={self.num_channels}, "
                f"d_fused={self.d_fused}")

