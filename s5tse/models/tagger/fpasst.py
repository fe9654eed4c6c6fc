"""Frame-level PaSST (fPaSST) encoder: 32 kHz waveform -> 40 ms frame features.

Clean-room re-implementation written from the description in the reference
(``tagger_m2d_passt.md`` §3; PretrainedSED is MIT, PaSST Apache-2.0, but no code is copied). Parameter
names match the published checkpoints (PretrainedSED ``fpasst_strong_1.pt``, cpjku_dcase24 Lightning
checkpoints), so the weights load with a plain ``load_state_dict``.

Architecture (``real`` preset = the published model, 88 421 632 parameters)::

    wav [B, n] @ 32 kHz
      -> KaldiFbankFrontend: resample to 16 kHz, pre-emphasis, Kaldi 128-mel 0-7000 Hz,
         (log + 4.5) / 5                                               -> [B, 1, 128, F]   (F = 1000 per 10 s)
      -> conv_in_1 (1->16, 3x3, s2) GELU, conv_in_2 (16->32, 3x3, s1) GELU,
         conv_in_3 (32->64, 3x3, s2) GELU                               -> [B, 64, 32, ceil(F/4)]
      -> reshape (channels x freq regrouped into 16 planes of 128 rows) -> [B, 16, 128, T']
      -> patch_embed.proj Conv2d(16->D, kernel (128, 2), padding (0, 1)), first column dropped
                                                                        -> [B, D, 1, T']
      -> + time_new_pos_embed[..., :T'] + freq_new_pos_embed; prepend cls_token and dist_token
         (+ new_pos_embed); `depth` pre-norm ViT blocks; LayerNorm `norm`; drop the two tokens
                                                                        -> [B, T', D]

**Time stamps.** ``T' = ceil(F / 4)`` with ``F = 1 + (n16 - 1) // 160`` frames for ``n16`` samples at
16 kHz: 250 frames for 10 s, 25 for 1 s, 625 for 25 s. Output frame ``t`` covers the nominal interval
``[0.04 t, 0.04 (t + 1))`` s and is centred at ``0.04 t + 0.02`` s (see :meth:`FPaSSTEncoder.frame_times`);
its convolutional receptive field spans mel frames ``4t - 5 ... 4t + 9`` (each 25 ms wide, 10 ms hop).

**Lengths.** Inputs with ``T' <= pos_len`` (250, i.e. up to 10 s) run in one pass with the time
positional embedding cropped to ``T'`` (offset 0 in eval, a random offset in training as in the
original). Longer inputs: the convolutional tokeniser runs on the whole signal (it is local, so the
tokens equal those of one long pass), then the transformer runs on windows of ``pos_len`` tokens that
overlap by at least ``2 * chunk_context`` tokens; each output frame is taken from the window whose
centre region holds it (boundaries at the midpoints of the overlaps), so every kept frame has at least
``chunk_context`` tokens (default 25 = 1 s) of context on each side inside its window.

**Presets** (identical front end and tokeniser: 128 mels, stem 16-32-64, (128, 2) frame patches,
pos_len 250): ``real`` 768/12 layers/12 heads, ``small`` 192/4/3, ``tiny`` 64/2/2.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from s5tse.models.tagger.checkpoint import (
    CheckpointError,
    check_state_dict,
    format_keys,
    load_checkpoint_file,
    unwrap_state_dict,
)
from s5tse.models.tagger.kaldi_frontend import KaldiFbankFrontend
from s5tse.models.tagger.vit import Blocks, PatchEmbed, init_vit_weights

__all__ = ["FPaSSTConfig", "FPASST_PRESETS", "FPaSSTEncoder", "CheckpointError"]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class FPaSSTConfig:
    """Hyper-parameters of an fPaSST backbone (the front end is fixed, see ``kaldi_frontend``)."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    pos_len: int = 250
    n_mels: int = 128
    stem_channels: Tuple[int, int, int] = (16, 32, 64)

    @property
    def in_chans(self) -> int:
        """Channels seen by the frame patch embedding: ``stem_channels[-1] * ceil(n_mels / 4) / n_mels``."""
        freq_out = math.ceil(math.ceil(self.n_mels / 2) / 2)
        total = self.stem_channels[-1] * freq_out
        if total % self.n_mels:
            raise ValueError(
                f"FPaSSTConfig: stem output ({self.stem_channels[-1]} x {freq_out}) is not divisible by "
                f"n_mels={self.n_mels}"
            )
        return total // self.n_mels


FPASST_PRESETS: Dict[str, FPaSSTConfig] = {
    "real": FPaSSTConfig(embed_dim=768, depth=12, num_heads=12),
    "small": FPaSSTConfig(embed_dim=192, depth=4, num_heads=3),
    "tiny": FPaSSTConfig(embed_dim=64, depth=2, num_heads=2),
}

# Top-level parameter names of the backbone (== the bare fPaSST checkpoint keys' first component).
_BACKBONE_ROOTS = (
    "cls_token",
    "dist_token",
    "new_pos_embed",
    "freq_new_pos_embed",
    "time_new_pos_embed",
    "conv_in_1",
    "conv_in_2",
    "conv_in_3",
    "patch_embed",
    "blocks",
    "norm",
)
# Heads that may accompany a backbone in published files; ignored unless asked for.
_HEAD_ROOTS = (
    "strong_head",  # PretrainedSED (447 AudioSet-strong classes)
    "weak_head",
    "head_linear_layer",  # cpjku_dcase24 AudiosetWrapper
    "att_linear_layer",
    "head",  # PaSST classifier heads (not expected in fPaSST files)
    "head_dist",
    "pre_logits",
)
# Prefixes in front of the bare fPaSST keys, most specific first.
_KNOWN_PREFIXES = (
    "net_strong.model.model.",  # cpjku_dcase24 Lightning, AudiosetWrapper(model=fPaSST)
    "net_strong.model.",  # cpjku_dcase24 Lightning, fPaSST trained without the wrapper
    "model.fpasst.",  # PretrainedSED after its loader's key rewrite
    "model.",  # PretrainedSED fpasst_strong_1.pt
    "module.",
    "",
)


def _trunc_normal_(t: torch.Tensor, std: float = 0.02) -> None:
    nn.init.trunc_normal_(t, mean=0.0, std=std, a=-2 * std, b=2 * std)


class FPaSSTEncoder(nn.Module):
    """fPaSST backbone with its front end: ``[B, n] @ 32 kHz -> [B, T', D]`` frame features (40 ms).

    Args:
        embed_dim, depth, num_heads, mlp_ratio, pos_len, n_mels, stem_channels: see :class:`FPaSSTConfig`.
        input_sample_rate: rate expected by :meth:`forward` (32 kHz, DCASE 2026 Task 4).
        chunk_context: minimum context (tokens) on each side of a kept frame when inputs longer than
            ``pos_len`` tokens are windowed; ``2 * chunk_context < pos_len``.
        drop_path_rate, grad_checkpointing: passed to the shared ``vit.Blocks`` (training only).
    """

    frame_hop_s: float = 0.04

    def __init__(
        self,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        pos_len: int = 250,
        n_mels: int = 128,
        stem_channels: Sequence[int] = (16, 32, 64),
        *,
        input_sample_rate: int = 32000,
        chunk_context: int = 25,
        drop_path_rate: float = 0.0,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        stem_channels = tuple(int(c) for c in stem_channels)
        if len(stem_channels) != 3:
            raise ValueError(f"FPaSSTEncoder: stem_channels needs 3 entries, got {stem_channels}")
        if embed_dim % num_heads:
            raise ValueError(f"FPaSSTEncoder: embed_dim={embed_dim} not divisible by num_heads={num_heads}")
        if not 0 <= 2 * chunk_context < pos_len:
            raise ValueError(
                f"FPaSSTEncoder: need 0 <= 2*chunk_context < pos_len, got {chunk_context}, {pos_len}"
            )
        self.config = FPaSSTConfig(
            embed_dim=int(embed_dim),
            depth=int(depth),
            num_heads=int(num_heads),
            mlp_ratio=float(mlp_ratio),
            pos_len=int(pos_len),
            n_mels=int(n_mels),
            stem_channels=stem_channels,
        )
        self.chunk_context = int(chunk_context)
        self.embed_dim = self.out_dim = int(embed_dim)
        self.pos_len = int(pos_len)
        self.n_mels = int(n_mels)
        self.in_chans = self.config.in_chans

        self.frontend = KaldiFbankFrontend(input_sample_rate=input_sample_rate, n_mels=n_mels)
        c1, c2, c3 = stem_channels
        self.conv_in_1 = nn.Conv2d(1, c1, kernel_size=3, stride=2, padding=1)
        self.conv_in_2 = nn.Conv2d(c1, c2, kernel_size=3, stride=1, padding=1)
        self.conv_in_3 = nn.Conv2d(c2, c3, kernel_size=3, stride=2, padding=1)
        self.act = nn.GELU()
        # frame patches: kernel (n_mels, 2), stride 1, padding (0, 1); the first column is dropped
        self.patch_embed = PatchEmbed(self.in_chans, embed_dim, (n_mels, 2), stride=1, padding=(0, 1))

        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.new_pos_embed = nn.Parameter(torch.zeros(1, 2, embed_dim))
        self.freq_new_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, 1, 1))
        self.time_new_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, 1, pos_len))
        self.blocks = Blocks(depth, embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, eps=1e-6,
                             drop_path_rate=drop_path_rate, grad_checkpointing=grad_checkpointing)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.reset_parameters()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, **kwargs) -> "FPaSSTEncoder":
        """``real`` | ``small`` | ``tiny``; ``kwargs`` override config fields or keyword options."""
        if name not in FPASST_PRESETS:
            raise ValueError(f"unknown fPaSST preset {name!r}; choose from {sorted(FPASST_PRESETS)}")
        cfg = asdict(FPASST_PRESETS[name])
        cfg.update(kwargs)
        return cls(**cfg)

    @classmethod
    def from_pretrained(cls, path: PathLike, preset: str = "real", **kwargs) -> "FPaSSTEncoder":
        """Build ``preset`` and load ``path`` into it (see :meth:`load_pretrained`)."""
        model = cls.from_preset(preset, **kwargs)
        model.load_pretrained(path)
        return model

    def reset_parameters(self) -> None:
        """ViT init: truncated normal (std 0.02) for tokens, position embeddings and Linear weights."""
        for p in (self.cls_token, self.dist_token, self.new_pos_embed, self.freq_new_pos_embed,
                  self.time_new_pos_embed):
            _trunc_normal_(p)
        self.blocks.apply(init_vit_weights)
        self.norm.apply(init_vit_weights)

    # ------------------------------------------------------------------ time axis
    @staticmethod
    def frames_for_mel(n_mel_frames: int) -> int:
        """Output frames for ``n_mel_frames`` mel frames: ``ceil(n / 4)``."""
        return -(-int(n_mel_frames) // 4)

    def num_frames(self, n_samples: int, sample_rate: Optional[int] = None) -> int:
        """Output frames for ``n_samples`` at ``sample_rate`` (default 32 kHz): 250 for 10 s, 25 for 1 s."""
        return self.frames_for_mel(self.frontend.num_frames(n_samples, sample_rate))

    def frame_times(self, n_frames: int) -> torch.Tensor:
        """``[n_frames, 2]`` nominal (start, end) seconds of each output frame: ``0.04 t``, ``0.04 (t+1)``.

        The centre ``0.04 t + 0.02`` s is where the frame's receptive field is centred.
        """
        t = torch.arange(n_frames, dtype=torch.float64) * self.frame_hop_s
        return torch.stack([t, t + self.frame_hop_s], dim=1)

    # ------------------------------------------------------------------ forward
    def _check_wav(self, wav: torch.Tensor, ndim: int, sample_rate: Optional[int], resample: bool) -> int:
        if not isinstance(wav, torch.Tensor) or wav.dim() != ndim:
            layout = "[B, T]" if ndim == 2 else "[B, C, T]"
            shape = tuple(wav.shape) if isinstance(wav, torch.Tensor) else type(wav).__name__
            raise ValueError(f"FPaSSTEncoder: expected {layout} audio, got {shape}")
        if wav.shape[-1] == 0:
            raise ValueError("FPaSSTEncoder: zero-length audio (0 samples)")
        sr = self.frontend.input_sample_rate if sample_rate is None else int(sample_rate)
        if sr != self.frontend.input_sample_rate and not resample:
            raise ValueError(
                f"FPaSSTEncoder: expected {self.frontend.input_sample_rate} Hz audio, got {sr} Hz "
                "(pass resample=True to resample it)"
            )
        return sr

    def forward(
        self, wav: torch.Tensor, sample_rate: Optional[int] = None, resample: bool = False
    ) -> torch.Tensor:
        """``wav [B, T]`` at 32 kHz -> frame features ``[B, T', D]`` (40 ms frames, see module docstring).

        ``sample_rate`` other than ``input_sample_rate`` is an error unless ``resample=True``.
        """
        sr = self._check_wav(wav, 2, sample_rate, resample)
        return self.forward_mel(self.frontend(wav, sample_rate=sr))

    def forward_multichannel(
        self, wav: torch.Tensor, sample_rate: Optional[int] = None, resample: bool = False
    ) -> torch.Tensor:
        """``wav [B, C, T]`` -> ``[B, T', C * D]``: channels folded into the batch (shared weights),
        features concatenated channel by channel (``[..., c*D:(c+1)*D]`` belongs to channel ``c``)."""
        sr = self._check_wav(wav, 3, sample_rate, resample)
        b, c, n = wav.shape
        feats = self.forward(wav.reshape(b * c, n), sample_rate=sr, resample=True)
        t, d = feats.shape[1], feats.shape[2]
        return feats.reshape(b, c, t, d).permute(0, 2, 1, 3).reshape(b, t, c * d)

    def tokenize(self, mel: torch.Tensor) -> torch.Tensor:
        """``mel [B, 1, n_mels, F]`` -> frame tokens ``[B, ceil(F/4), D]`` (no positional embedding)."""
        if mel.dim() != 4 or mel.shape[1] != 1 or mel.shape[2] != self.n_mels:
            raise ValueError(f"FPaSSTEncoder: expected mel [B, 1, {self.n_mels}, F], got {tuple(mel.shape)}")
        x = mel.to(self.cls_token.dtype)
        x = self.act(self.conv_in_1(x))
        x = self.act(self.conv_in_2(x))
        x = self.act(self.conv_in_3(x))  # [B, c3, ceil(n_mels/4), T']
        b, c, f, t = x.shape
        x = x.reshape(b, (c * f) // self.n_mels, self.n_mels, t)  # plain row-major regrouping
        x = self.patch_embed(x)[..., 1:]  # [B, D, 1, T']
        return x.flatten(2).transpose(1, 2)

    def _transformer(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Tokens ``[N, L, D]`` with ``L <= pos_len`` -> encoded frames ``[N, L, D]``."""
        n, length, _ = x.shape
        time_pos = self.time_new_pos_embed[:, :, 0, offset:offset + length].transpose(1, 2)
        x = x + time_pos
        x = x + self.freq_new_pos_embed[:, :, 0, :].transpose(1, 2)
        cls_tok = (self.cls_token + self.new_pos_embed[:, :1]).expand(n, -1, -1)
        dist_tok = (self.dist_token + self.new_pos_embed[:, 1:]).expand(n, -1, -1)
        x = torch.cat([cls_tok, dist_tok, x], dim=1)
        x = self.blocks(x)
        x = self.norm(x)
        return x[:, 2:]

    def window_starts(self, n_tokens: int) -> List[int]:
        """Start tokens of the transformer windows for ``n_tokens > pos_len`` (last one ends at the end)."""
        p, hop = self.pos_len, self.pos_len - 2 * self.chunk_context
        starts = list(range(0, n_tokens - p, hop))
        starts.append(n_tokens - p)
        return starts

    def forward_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``[B, 1, n_mels, F]`` (16 kHz front end) -> ``[B, ceil(F/4), D]``."""
        tokens = self.tokenize(mel)
        b, n_tok, d = tokens.shape
        p = self.pos_len
        if n_tok <= p:
            offset = 0
            if self.training and n_tok < p:
                offset = int(torch.randint(p - n_tok + 1, (1,)).item())
            return self._transformer(tokens, offset)
        starts = self.window_starts(n_tok)
        windows = torch.stack([tokens[:, s:s + p] for s in starts], dim=1)  # [B, W, P, D]
        enc = self._transformer(windows.reshape(b * len(starts), p, d)).reshape(b, len(starts), p, d)
        # boundary between window w and w+1: midpoint of their overlap [starts[w+1], starts[w] + p)
        bounds = [0] + [(starts[w + 1] + starts[w] + p) // 2 for w in range(len(starts) - 1)] + [n_tok]
        pieces = [enc[:, w, bounds[w] - s:bounds[w + 1] - s] for w, s in enumerate(starts)]
        return torch.cat(pieces, dim=1)

    # ------------------------------------------------------------------ checkpoints
    def load_pretrained(
        self, path: PathLike, *, with_heads: bool = False, allow_pickle: bool = False
    ) -> Dict[str, torch.Tensor]:
        """Load fPaSST weights from ``path`` into this encoder (strict on the backbone keys).

        Accepted layouts: a bare fPaSST state dict; PretrainedSED ``fpasst_strong_1.pt`` (``model.<key>``
        plus ``strong_head.*`` / ``weak_head.*``); cpjku_dcase24 Lightning checkpoints (``state_dict`` with
        ``net_strong.model.model.<key>`` or ``net_strong.model.<key>``); ``{"model": ...}`` /
        ``{"state_dict": ...}`` wrappers; ``module.`` / ``model.fpasst.`` prefixes. The configuration is
        checked against the file: ``embed_dim`` from ``cls_token``, ``pos_len`` from
        ``time_new_pos_embed``, ``in_chans`` and ``n_mels`` from ``patch_embed.proj.weight``, ``depth``
        from the block indices (``num_heads`` cannot be inferred and comes from the preset).

        Returns the head tensors stored next to the backbone (``strong_head.weight``, ``weak_head.bias``,
        ``head_linear_layer.weight``, ...) when ``with_heads`` is true, else ``{}``. Raises
        ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (one line, naming the file)
        for unreadable / truncated files, other models' checkpoints and configuration, key or shape
        mismatches. ``torch.load`` runs with ``weights_only=True``; ``allow_pickle=True`` allows
        ``weights_only=False`` for *trusted* files that pickle other objects (e.g. Lightning
        checkpoints whose hyper-parameters are custom classes).
        """
        if allow_pickle:
            label = os.fspath(path)
            if not os.path.isfile(label):
                raise FileNotFoundError(f"{label}: checkpoint file not found")
            try:
                obj = torch.load(label, map_location="cpu", weights_only=False)
            except Exception as exc:
                msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                raise CheckpointError(f"{label}: cannot read as a PyTorch checkpoint: {msg}") from exc
        else:
            obj = load_checkpoint_file(path)
        state = unwrap_state_dict(obj, path)
        backbone, heads = self._split_backbone(state, path)
        self._check_config(backbone, path)
        check_state_dict(backbone, self.state_dict(), path=path, what="fPaSST encoder")
        self.load_state_dict(backbone, strict=True)
        return heads if with_heads else {}

    def _split_backbone(
        self, state: Mapping[str, torch.Tensor], path: PathLike
    ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """Find the fPaSST prefix (the one in front of ``cls_token``) and split backbone / heads."""
        keys = list(state)
        prefixes = {k[: -len("cls_token")] for k in keys
                    if k == "cls_token" or k.endswith(".cls_token")}
        if not prefixes:
            raise CheckpointError(
                f"{path}: not an fPaSST checkpoint (no cls_token key; first keys: {format_keys(keys)})"
            )
        if len(prefixes) > 1:
            known = [p for p in _KNOWN_PREFIXES if p in prefixes]
            if not known:
                raise CheckpointError(
                    f"{path}: several candidate fPaSST models in one file (prefixes "
                    f"{format_keys(sorted(prefixes))})"
                )
            prefixes = {known[0]}
        prefix = prefixes.pop()
        backbone: Dict[str, torch.Tensor] = {}
        heads: Dict[str, torch.Tensor] = {}
        unexpected: List[str] = []
        for k in keys:
            v = state[k]
            if k.startswith(prefix):
                rel = k[len(prefix):]
                root = rel.split(".", 1)[0]
                if root in _BACKBONE_ROOTS:
                    backbone[rel] = v
                elif root in _HEAD_ROOTS:
                    heads[rel] = v
                else:
                    unexpected.append(k)
            else:
                # outside the backbone prefix: keep named heads (from the head's name on), ignore the rest
                parts = k.split(".")
                for i, part in enumerate(parts):
                    if part in _HEAD_ROOTS and part not in ("head", "pre_logits"):
                        heads[".".join(parts[i:])] = v
                        break
        if unexpected:
            raise CheckpointError(
                f"{path}: not an fPaSST checkpoint; unexpected {len(unexpected)} key(s): "
                f"{format_keys(unexpected)}"
            )
        return backbone, heads

    def _check_config(self, sd: Mapping[str, torch.Tensor], path: PathLike) -> None:
        """Infer embed_dim / pos_len / in_chans / n_mels / depth from ``sd``; mismatch -> one-line error."""
        for key in ("cls_token", "time_new_pos_embed", "patch_embed.proj.weight"):
            if key not in sd:
                raise CheckpointError(f"{path}: not an fPaSST checkpoint (missing {key})")
        w = sd["patch_embed.proj.weight"]
        if w.dim() != 4:
            raise CheckpointError(
                f"{path}: not an fPaSST checkpoint (patch_embed.proj.weight has shape {list(w.shape)})"
            )
        cfg = self.config
        blocks = {int(m.group(1)) for k in sd for m in [re.match(r"blocks\.(\d+)\.", k)] if m}
        checks = (
            ("embed_dim", "cls_token", int(sd["cls_token"].shape[-1]), cfg.embed_dim),
            ("pos_len", "time_new_pos_embed", int(sd["time_new_pos_embed"].shape[-1]), cfg.pos_len),
            ("in_chans", "patch_embed.proj.weight", int(w.shape[1]), self.in_chans),
            ("n_mels", "patch_embed.proj.weight", int(w.shape[2]), cfg.n_mels),
            ("depth", "blocks.*", (max(blocks) + 1) if blocks else 0, cfg.depth),
        )
        for name, key, got, want in checks:
            if got != want:
                raise CheckpointError(
                    f"{path}: {name}={got} (from {key}) does not match this encoder's {name}={want}"
                )
