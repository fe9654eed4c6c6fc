"""M2D (Masked Modeling Duo) audio ViT encoder with a clean-room, key-compatible loader.

Re-implemented from the published description (reference ``tagger_m2d_passt.md`` §1, §5, §6);
no NTT code is used (nttcslab/m2d is licensed for evaluation only) and no weights are shipped:
the user downloads e.g. ``m2d_as_vit_base-80x1001p16x16p32k-240413_AS-FT_enconly/
weights_ep69it3124-0.47998.pth`` (the M2D-AS 32 kHz model of both DCASE baselines) and passes
its path to :meth:`M2DEncoder.from_pretrained`.

Model (``real`` preset = ViT-B, 85,492,992 parameters + the 2-element ``norm_stats`` buffer)::

    wav [B, n] (32 kHz)
      -> log-mel [B, 1, 80, 1 + n // 320]           frontend.M2DLogMel, (x - mean) / std
      -> zero-pad the normalised log-mel in time to 16 N frames (see below)
      -> patch_embed 16x16, stride 16               [B, D, 5, N]
      -> tokens frequency-major (f t), + pos_embed[:, 1:] (time-cropped to N columns)
      -> prepend cls_token + pos_embed[:, :1]; blocks (pre-norm ViT); norm; drop CLS
      -> grid [B, 5, N, D]
      -> forward(): mean over the 5 frequency tokens -> [B, N, D]
                    (freq_pooling="stack": [B, N, 5*D], the checkpoint's 'b t (f d)' layout)

Number of columns (:meth:`M2DEncoder.num_columns_for_frames`), for ``F = 1 + n // 320`` mel
frames, ``p = 16`` and the trained grid of ``T0 = 62`` columns (``max_frames = 1001``)::

    F <= 992 (= T0 p)         N = ceil(F / 16)   the last column is zero-padded (upstream)
    992 < F <= 1001           N = 62             frames 992 ... F-1 are dropped (upstream: one
                                                 1001-frame chunk through the stride-16 conv)
    F > 1001                  N = ceil(F / 16)   zero-padded, windows of 62 columns (below)

The padding is applied to the *normalised* log-mel (zeros = the ``norm_stats`` mean), as the
upstream portable runtime does, so inputs of at most 1001 frames (10 s + 319 samples) give the
same tokens as upstream.

Time axis. Patch column ``k`` covers mel frames ``16k ... 16k+15`` (frame ``j`` is centred at
``j * hop / sr`` = ``j * 10 ms``), i.e. a **160 ms hop and width**; its centre is
``160 k + 75`` ms (:meth:`M2DEncoder.column_times`); the last column may reach past the end
of the signal (padding). 1 s -> 101 frames -> 7 columns (the 7th holds frames 96-100 and 11
padding frames); 10 s -> 1001 frames -> 62 columns (0-9.92 s; the last 9 frames are dropped);
25 s -> 2501 frames -> 157 columns. The (upstream) ``i * 10 s / 62`` stamps are an
approximation.

Inputs longer than the trained grid (more than 1001 frames) are zero-padded to ``16 N`` frames
and encoded in windows of exactly 62 columns (992 frames) starting at columns 0, 62, 124, ...;
the last window is shifted back to end at the last column (overlapping its predecessor, so it
always has full context) and only its new columns are kept. Every column therefore keeps the
uniform 160 ms grid above. (Upstream M2D instead cuts chunks of 1001 frames, each giving 62
columns and dropping its last 9 frames, and zero-pads only the last chunk, which may then be
short; so beyond 1001 frames its columns drift by 9 frames per chunk. For inputs of at most
1001 frames both are identical.) Shorter inputs use the first N columns of the positional grid.

Four-channel use (as the DCASE 2026 baseline's spatial tagger): :meth:`forward_multichannel`
folds the channels into the batch (shared weights) and concatenates per-channel features on the
feature axis in input channel order: ``[B, C, n] -> [B, N, C * feature_dim]``.

Checkpoint layout (published files; :meth:`M2DEncoder.load_pretrained`): an optional
``{"model": ...}`` / ``{"state_dict": ...}`` wrapper; keys prefixed with
``module.ar.runtime.backbone.`` (EVAR fine-tuning), ``backbone.`` or ``module.``, or bare timm ViT
names ``cls_token, pos_embed, patch_embed.proj.*, blocks.{i}.*, norm.*`` plus ``norm_stats``;
``module.head.*`` (AudioSet head) is returned separately, other ``module.ar.*`` buffers are
ignored. Backbone keys are loaded strictly.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as nnf
import torchaudio.functional as taf

from .checkpoint import CheckpointError, check_state_dict, read_state_dict, strip_key_prefixes
from .frontend import DEFAULT_NORM_STATS, M2DFrontendConfig, M2DLogMel, normalize_log_mel
from .vit import Blocks, PatchEmbed, init_vit_weights, layer_norm

__all__ = ["M2DPreset", "M2D_PRESETS", "M2DCheckpointInfo", "M2DEncoder", "BACKBONE_PREFIXES"]

logger = logging.getLogger(__name__)

#: Prefixes stripped from checkpoint keys (repeatedly, longest first).
BACKBONE_PREFIXES: Tuple[str, ...] = ("module.ar.runtime.backbone.", "backbone.", "module.")


@dataclass(frozen=True)
class M2DPreset:
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0


#: Same front end and tokeniser (80 mels, 16x16 patches, 5x62 grid) in every preset.
M2D_PRESETS: Dict[str, M2DPreset] = {
    "real": M2DPreset(embed_dim=768, depth=12, num_heads=12),
    "small": M2DPreset(embed_dim=192, depth=4, num_heads=3),
    "tiny": M2DPreset(embed_dim=64, depth=2, num_heads=2),
}


@dataclass
class M2DCheckpointInfo:
    """What :meth:`M2DEncoder.load_pretrained` found besides the backbone weights."""

    path: str
    norm_stats: Tuple[float, float]
    norm_stats_in_file: bool
    #: AudioSet head tensors with ``module.head.`` / ``head.`` stripped, e.g.
    #: ``norm.running_mean``, ``mlp.mlp.0.weight`` (rows in sorted-MID order); empty if absent.
    head: Dict[str, torch.Tensor] = field(default_factory=dict)
    ignored_keys: List[str] = field(default_factory=list)
    num_backbone_tensors: int = 0


class M2DEncoder(nn.Module):
    """M2D ViT on log-mel patches; ``forward(wav [B, n]) -> [B, N, feature_dim]``.

    Args:
        embed_dim, depth, num_heads, mlp_ratio: transformer size (see :data:`M2D_PRESETS`).
        patch_size: square patch edge in (mel bins, frames); 16 for all published models.
        max_frames: trained input length in frames (1001 for the "80x1001" AS-FT models);
            the positional grid is ``(n_mels // patch) x (max_frames // patch)`` = 5 x 62.
        frontend: STFT / mel settings (default: 32 kHz, :class:`M2DFrontendConfig`).
        norm_stats: (mean, std) of the log-mel; replaced by the checkpoint's value on loading.
        freq_pooling: ``"mean"`` (feature_dim = embed_dim) or ``"stack"`` (n_freq * embed_dim).
        drop_path_rate: stochastic depth for fine-tuning (0 = off).
        grad_checkpointing: recompute block activations in the backward pass.
        preset: name recorded for error messages (set by :meth:`from_preset`).
    """

    def __init__(self, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, *, patch_size: int = 16, max_frames: int = 1001,
                 frontend: Optional[M2DFrontendConfig] = None,
                 norm_stats: Sequence[float] = DEFAULT_NORM_STATS, freq_pooling: str = "mean",
                 drop_path_rate: float = 0.0, grad_checkpointing: bool = False,
                 preset: Optional[str] = None):
        super().__init__()
        if freq_pooling not in ("mean", "stack"):
            raise ValueError(f"freq_pooling must be 'mean' or 'stack', got {freq_pooling!r}")
        fe = frontend or M2DFrontendConfig()
        n_freq, n_time = fe.n_mels // patch_size, max_frames // patch_size
        if n_freq < 1 or n_time < 1:
            raise ValueError(f"patch_size {patch_size} is larger than the input "
                             f"({fe.n_mels} mels x {max_frames} frames)")
        self.preset = preset
        #: set by :meth:`load_pretrained` (None for a randomly initialised encoder)
        self.pretrained_info: Optional[M2DCheckpointInfo] = None
        self.embed_dim, self.depth, self.num_heads = int(embed_dim), int(depth), int(num_heads)
        self.mlp_ratio = float(mlp_ratio)
        self.patch_size = int(patch_size)
        self.max_frames = int(max_frames)
        self.grid = (n_freq, n_time)
        self.freq_pooling = freq_pooling

        self.frontend = M2DLogMel(fe)
        self.patch_embed = PatchEmbed(1, embed_dim, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + n_freq * n_time, embed_dim))
        self.blocks = Blocks(depth, embed_dim, num_heads, mlp_ratio, qkv_bias=True,
                             drop_path_rate=drop_path_rate, grad_checkpointing=grad_checkpointing)
        self.norm = layer_norm(embed_dim)
        self.register_buffer("norm_stats", torch.tensor([float(v) for v in norm_stats],
                                                        dtype=torch.float32))
        self.apply(init_vit_weights)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, **overrides) -> "M2DEncoder":
        """``real`` (768/12/12), ``small`` (192/4/3) or ``tiny`` (64/2/2); same front end."""
        if name not in M2D_PRESETS:
            raise ValueError(f"unknown M2D preset {name!r}; choose from {sorted(M2D_PRESETS)}")
        p = M2D_PRESETS[name]
        kw = dict(embed_dim=p.embed_dim, depth=p.depth, num_heads=p.num_heads,
                  mlp_ratio=p.mlp_ratio, preset=name)
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def from_pretrained(cls, path, preset: str = "real", **overrides) -> "M2DEncoder":
        """Build from a preset and load a published checkpoint; the loader's
        :class:`M2DCheckpointInfo` is kept in ``encoder.pretrained_info``."""
        enc = cls.from_preset(preset, **overrides)
        enc.load_pretrained(path)
        return enc

    # ------------------------------------------------------------------ geometry
    @property
    def sample_rate(self) -> int:
        return self.frontend.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.frontend.config.hop_length

    @property
    def feature_dim(self) -> int:
        """Per-channel feature size of :meth:`forward`."""
        return self.embed_dim * (self.grid[0] if self.freq_pooling == "stack" else 1)

    @property
    def column_hop_s(self) -> float:
        """Seconds between patch columns (0.16 s)."""
        return self.patch_size * self.hop_length / self.sample_rate

    @property
    def min_samples(self) -> int:
        """Shortest input: the front end's (``n_fft // 2 + 1`` = 401 samples for the centred
        STFT); any frame count gives at least one (zero-padded) column."""
        return self.frontend.min_samples

    def num_columns_for_frames(self, num_frames: int) -> int:
        """Output steps for ``num_frames`` mel frames: ``ceil(F / 16)``, except
        ``992 < F <= 1001`` -> 62 (module docstring; same as upstream up to 1001 frames)."""
        f = int(num_frames)
        if f < 1:
            raise ValueError(f"M2DEncoder: need at least one mel frame, got {f}")
        p, T0 = self.patch_size, self.grid[1]
        if T0 * p < f <= self.max_frames:
            return T0
        return -(-f // p)

    def num_columns(self, num_samples: int) -> int:
        """Output steps for ``num_samples`` input samples (model rate):
        :meth:`num_columns_for_frames` of ``1 + n // hop`` frames."""
        return self.num_columns_for_frames(self.frontend.num_frames(num_samples))

    def column_times(self, num_columns: int, device=None) -> torch.Tensor:
        """Centre time in seconds of each output step: ``(16 k + 7.5) * hop / sr``
        (= 0.16 k + 0.075 s at 32 kHz). Column ``k`` pools the frames centred at
        0.16 k ... 0.16 k + 0.15 s (each frame itself spans +-12.5 ms); these are nominal
        centres, also for a last column that is partly zero padding."""
        k = torch.arange(num_columns, dtype=torch.float64, device=device)
        centre_frame = k * self.patch_size + (self.patch_size - 1) / 2
        return centre_frame * self.hop_length / self.sample_rate

    # ------------------------------------------------------------------ front end
    def _prepare(self, wav: torch.Tensor, sample_rate: Optional[int], resample: bool,
                 ndim: int, what: str) -> torch.Tensor:
        if not isinstance(wav, torch.Tensor) or wav.ndim != ndim:
            shape = tuple(wav.shape) if isinstance(wav, torch.Tensor) else type(wav).__name__
            want = "[B, samples]" if ndim == 2 else "[B, channels, samples]"
            raise ValueError(f"M2DEncoder.{what}: expected a waveform {want}, got {shape}")
        if not wav.is_floating_point():
            raise ValueError(f"M2DEncoder.{what}: expected a float waveform in [-1, 1], "
                             f"got dtype {wav.dtype}")
        if wav.shape[-1] == 0:
            raise ValueError(f"M2DEncoder.{what}: the waveform has zero samples")
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            if not resample:
                raise ValueError(
                    f"M2DEncoder.{what}: input is {int(sample_rate)} Hz but the model expects "
                    f"{self.sample_rate} Hz (pass resample=True to resample)")
            wav = taf.resample(wav, int(sample_rate), self.sample_rate)
        if wav.shape[-1] < self.min_samples:
            raise ValueError(
                f"M2DEncoder.{what}: {wav.shape[-1]} samples is too short; the centred STFT "
                f"needs at least {self.min_samples} samples at {self.sample_rate} Hz")
        return wav

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``[B, 1, n_mels, frames]`` of ``wav [B, n]`` (model rate)."""
        x = self.frontend(wav)
        return normalize_log_mel(x, self.norm_stats).unsqueeze(1)

    # ------------------------------------------------------------------ encoder
    def _encode_chunk(self, lms: torch.Tensor) -> torch.Tensor:
        """``[B, 1, n_mels, n * patch]`` with ``1 <= n <= grid[1]`` -> ``[B, n_freq, n, D]``."""
        x = self.patch_embed(lms.to(self.patch_embed.proj.weight.dtype))  # [B, D, F, n]
        B, D, nf, nt = x.shape
        F0, T0 = self.grid
        if nf != F0 or nt > T0:
            raise ValueError(f"M2DEncoder: patch grid {nf}x{nt} does not fit the positional "
                             f"grid {F0}x{T0}")
        x = x.flatten(2).transpose(1, 2)  # [B, F*n, D], frequency-major 'b (f t) d'
        pos = self.pos_embed[:, 1:].reshape(1, F0, T0, D)[:, :, :nt].reshape(1, F0 * nt, D)
        x = x + pos
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(B, -1, -1)
        x = torch.cat([cls, x], dim=1)
        x = self.norm(self.blocks(x))
        return x[:, 1:].reshape(B, F0, nt, D)

    def encode_log_mel(self, lms: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``[B, 1, n_mels, F]`` -> token grid ``[B, n_freq, N, D]``.

        ``N = num_columns_for_frames(F)``: the log-mel is zero-padded (or, for
        ``992 < F <= 1001``, cropped) to ``16 N`` frames; longer than the positional grid ->
        62-column windows (module docstring), all encoded in one batch.
        """
        if lms.ndim == 3:
            lms = lms.unsqueeze(1)
        B, _, _, frames = lms.shape
        p, T0 = self.patch_size, self.grid[1]
        n = self.num_columns_for_frames(frames)
        if n * p > frames:
            lms = nnf.pad(lms, (0, n * p - frames))  # zeros = the normalised mean
        else:
            lms = lms[..., : n * p]
        if n <= T0:
            return self._encode_chunk(lms)
        starts = list(range(0, n - T0 + 1, T0))
        if starts[-1] + T0 < n:
            starts.append(n - T0)
        chunks = torch.cat([lms[..., s * p:(s + T0) * p] for s in starts], dim=0)
        enc = self._encode_chunk(chunks)  # [K*B, F, T0, D], chunk-major
        enc = enc.reshape(len(starts), B, *enc.shape[1:])
        pieces, done = [], 0
        for i, s in enumerate(starts):
            pieces.append(enc[i, :, :, done - s:])
            done = s + T0
        return torch.cat(pieces, dim=2)

    def forward_grid(self, wav: torch.Tensor, sample_rate: Optional[int] = None, *,
                     resample: bool = False) -> torch.Tensor:
        """``wav [B, n]`` -> token grid ``[B, n_freq, N, D]`` (frequency x time)."""
        wav = self._prepare(wav, sample_rate, resample, 2, "forward_grid")
        return self.encode_log_mel(self.log_mel(wav))

    def _pool(self, grid: torch.Tensor) -> torch.Tensor:
        if self.freq_pooling == "mean":
            return grid.mean(dim=1)
        B, F, N, D = grid.shape
        return grid.permute(0, 2, 1, 3).reshape(B, N, F * D)

    def forward(self, wav: torch.Tensor, sample_rate: Optional[int] = None, *,
                resample: bool = False) -> torch.Tensor:
        """``wav [B, n]`` (mono, ``self.sample_rate``) -> frame features ``[B, N, feature_dim]``.

        ``N = num_columns(n)``; step ``k`` is centred at ``column_times(N)[k]`` (160 ms hop).
        ``sample_rate`` other than the model's raises unless ``resample=True``.
        """
        wav = self._prepare(wav, sample_rate, resample, 2, "forward")
        return self._pool(self.encode_log_mel(self.log_mel(wav)))

    def forward_multichannel(self, wav: torch.Tensor, sample_rate: Optional[int] = None, *,
                             resample: bool = False) -> torch.Tensor:
        """``wav [B, C, n]`` -> ``[B, N, C * feature_dim]``: shared weights per channel,
        channel features concatenated on the feature axis (channel-major, input order)."""
        wav = self._prepare(wav, sample_rate, resample, 3, "forward_multichannel")
        B, C, n = wav.shape
        feats = self._pool(self.encode_log_mel(self.log_mel(wav.reshape(B * C, n))))
        N, Df = feats.shape[1:]
        return feats.reshape(B, C, N, Df).permute(0, 2, 1, 3).reshape(B, N, C * Df)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.blocks.grad_checkpointing = bool(enable)

    def extra_repr(self) -> str:
        return (f"preset={self.preset!r}, embed_dim={self.embed_dim}, depth={self.depth}, "
                f"num_heads={self.num_heads}, grid={self.grid[0]}x{self.grid[1]}, "
                f"freq_pooling={self.freq_pooling!r}")

    # ------------------------------------------------------------------ checkpoints
    def _describe(self) -> str:
        name = f"preset {self.preset!r}" if self.preset else "encoder"
        return (f"{name}: embed_dim {self.embed_dim}, depth {self.depth}, patch "
                f"{self.patch_size}x{self.patch_size}, grid {self.grid[0]}x{self.grid[1]}")

    def _check_geometry(self, sd: Dict[str, torch.Tensor], label: str) -> None:
        """Infer embed_dim / patch / n_tokens / depth / mlp width from the tensors and
        compare with this encoder; the error names the file and the key."""
        def fail(key: str, what: str) -> None:
            raise CheckpointError(f"{label}: key {key!r} {what}, but the encoder is "
                                  f"{self._describe()}")

        pe = sd.get("pos_embed")
        if pe is not None:
            if pe.ndim != 3 or pe.shape[0] != 1:
                fail("pos_embed", f"has shape {list(pe.shape)} (expected [1, tokens, dim])")
            if pe.shape[-1] != self.embed_dim:
                fail("pos_embed", f"{list(pe.shape)} gives embed_dim {pe.shape[-1]}")
            n_tok = pe.shape[1] - 1
            if n_tok != self.grid[0] * self.grid[1]:
                fail("pos_embed", f"{list(pe.shape)} gives {n_tok} patch tokens (expected "
                                  f"{self.grid[0]}x{self.grid[1]} = {self.grid[0] * self.grid[1]}"
                                  f"; max_frames={self.max_frames})")
        w = sd.get("patch_embed.proj.weight")
        if w is not None:
            if w.ndim != 4:
                fail("patch_embed.proj.weight", f"has shape {list(w.shape)}")
            if tuple(w.shape[-2:]) != (self.patch_size, self.patch_size):
                fail("patch_embed.proj.weight",
                     f"{list(w.shape)} gives patch {w.shape[-2]}x{w.shape[-1]}")
            if w.shape[1] != 1:
                fail("patch_embed.proj.weight",
                     f"{list(w.shape)} gives {w.shape[1]} input channels (expected 1)")
            if w.shape[0] != self.embed_dim:
                fail("patch_embed.proj.weight", f"{list(w.shape)} gives embed_dim {w.shape[0]}")
        idx = sorted({int(m.group(1)) for k in sd for m in [re.match(r"blocks\.(\d+)\.", k)] if m})
        if idx and idx[-1] + 1 != self.depth:
            key = next(k for k in sd if k.startswith(f"blocks.{idx[-1]}."))
            fail(key, f"gives depth {idx[-1] + 1}")
        fc1 = sd.get("blocks.0.mlp.fc1.weight")
        hidden = int(self.embed_dim * self.mlp_ratio)
        if fc1 is not None and fc1.ndim == 2 and fc1.shape[0] != hidden:
            fail("blocks.0.mlp.fc1.weight", f"{list(fc1.shape)} gives MLP width {fc1.shape[0]} "
                                            f"(expected {hidden})")

    def load_pretrained(self, path) -> M2DCheckpointInfo:
        """Load a published M2D checkpoint (clean-room loader, reference §6.2).

        ``torch.load(path, map_location="cpu", weights_only=True)``; unwrap ``model`` /
        ``state_dict``; strip ``module.ar.runtime.backbone.``, ``backbone.``, ``module.``; take
        ``norm_stats`` (default (-7.1, 4.2)); set aside ``head.*`` (AudioSet head) and ignore
        other ``ar.*`` (EVAR wrapper) keys; check the geometry inferred from the tensors against
        this encoder; load the backbone strictly. All errors name the file
        (:class:`~s5tse.models.tagger.checkpoint.CheckpointError`; ``FileNotFoundError`` if
        missing).
        """
        label = os.fspath(path)
        sd = strip_key_prefixes(read_state_dict(path), BACKBONE_PREFIXES, path)
        backbone: Dict[str, torch.Tensor] = {}
        head: Dict[str, torch.Tensor] = {}
        ignored: List[str] = []
        for k, v in sd.items():
            if k.startswith("head."):
                head[k[len("head."):]] = v
            elif k.startswith("ar."):
                ignored.append(k)
            else:
                backbone[k] = v

        ns = backbone.pop("norm_stats", None)
        if ns is not None:
            vals = ns.detach().reshape(-1).double()
            if vals.numel() != 2 or not torch.isfinite(vals).all() or vals[1] <= 0:
                raise CheckpointError(f"{label}: key 'norm_stats' must hold (mean, std > 0), "
                                      f"got {ns.detach().reshape(-1).tolist()[:4]}")
            norm_stats = (float(vals[0]), float(vals[1]))
        else:
            norm_stats = DEFAULT_NORM_STATS

        self._check_geometry(backbone, label)
        reference = {k: v for k, v in self.state_dict().items() if k != "norm_stats"}
        check_state_dict(backbone, reference, path, what="M2D encoder")
        for k, v in backbone.items():
            if not v.is_floating_point():
                raise CheckpointError(f"{label}: key {k!r} has dtype {v.dtype}, expected floats")
        if not all(torch.isfinite(v).all() for v in backbone.values()):
            bad = next(k for k, v in backbone.items() if not torch.isfinite(v).all())
            raise CheckpointError(f"{label}: key {bad!r} holds non-finite values")

        full = dict(backbone)
        full["norm_stats"] = torch.tensor(norm_stats, dtype=torch.float32)
        self.load_state_dict(full, strict=True)
        if ignored:
            logger.info("%s: ignored %d wrapper key(s): %s", label, len(ignored),
                        ", ".join(ignored[:5]))
        if ns is None:
            logger.warning("%s: no norm_stats in the checkpoint, using the default %s", label,
                           DEFAULT_NORM_STATS)
        self.pretrained_info = M2DCheckpointInfo(
            path=label, norm_stats=norm_stats, norm_stats_in_file=ns is not None, head=head,
            ignored_keys=ignored, num_backbone_tensors=len(backbone))
        return self.pretrained_info
