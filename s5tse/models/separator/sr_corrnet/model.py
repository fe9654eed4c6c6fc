"""Label-queried SR-CorrNet: assembly, configuration and presets.

Written from the SR-CorrNet description (``separator_sr_corrnet.md`` §1, §7) and the DCASE 2026
technical report of Ku, Jeong and Park (§2.1, eq. 1); no code copied from any repository.

Pipeline (shapes for B examples, C = 4 FOA channels, K slots, F = n_fft/2 + 1 bins,
N = n // hop + 1 frames, L = (P+Q+1)(D+U+1) taps, d = d_model)::

    mixture [B, C, n]
      -> divide by its std (one scalar per example, all channels; undone on the output)
      -> STFT (sqrt-Hann, centre, zero padding)                      X    [B, C, F, N]   complex
      -> neighbourhood unfold over (P, Q) frames x (D, U) bins        X_nb [B, C, L, F, N]
      -> PHAT-1/2 correlation with W (no grad, per-bin RMS norm)      z    [B, N, F, 2CL]
      -> Conv2d(2CL -> embed_hidden, k x k) -> SiLU -> Conv2d(-> d) -> RMSNorm
         + sinusoidal PE over frequency                               h    [B, N, F, d]
      -> num_encoder_blocks x TFBlock (label-agnostic, run once)      h    [B, N, F, d]
      -> label-queried split (eq. 1 FiLM + slot embedding)            s    [B, K, N, F, d]
      -> num_decoder_blocks x (slot-shared TFBlock, FiLM re-injection,
                               cross-slot attention at every (t, f))  s    [B, K, N, F, d]
      -> filter estimator softplus(a)(tanh b + j tanh c)              W    [B, K, N, F, C, L]
      -> MISO filtering of the un-normalised X_nb                     Y    [B, K, F, N]
      -> iSTFT (length n), times the input std, silent slots -> 0     y    [B, K, n]

Queries: ``strong [B, K, T_q]`` is resampled to the N STFT frames (``strong_resample``:
``nearest`` = value of the query frame containing the STFT frame centre, default; ``linear`` =
interpolation between query-frame centres; see :func:`.split.resample_strong`); the T_q frames are
assumed to cover the input evenly unless ``strong_hop`` (samples per query frame, e.g. 1280 for
the 40-ms tagger grid at 32 kHz) is given.  ``weak [B, K, num_classes]`` is embedded by an MLP.  A slot
whose strong and weak queries are both all zero is *silent*: its output (and its auxiliary
outputs) are exact zeros and the other slots do not attend to it.

Extras: ``extras["aux"]`` — in training mode, a list of ``num_decoder_blocks`` auxiliary
estimates ``[B, K, n]`` (the input of every decoder stage through its own filter head, SepRe
multi-loss; empty list in eval mode); ``extras["active"]`` — ``[B, K]`` bool slot activity.

Streaming-relevant choices (this is the offline model): the input std and the per-bin RMS
``sigma_f`` are per-utterance statistics (non-causal; a chunked/streaming runner must compute them
over its context window or replace them by running statistics); the time path uses full-context
attention and "same"-padded convolutions; the correlation and filter taps look ``Q`` frames
ahead. Block-wise streaming (history | body | future windows) needs no model change.

Training memory: activation checkpointing (``activation_checkpointing``: ``block`` = every TF
block and cross-slot block, ``stage`` = every encoder block and whole decoder stages; see
:meth:`LabelQueriedSRCorrNet.set_activation_checkpointing`); the filter heads are always
checkpointed per chunk of frames. On the CPU the TF blocks and cross-slot blocks run on chunks of their
independent sequences / positions (:meth:`LabelQueriedSRCorrNet.set_chunk_elements`; same
outputs). Speed/memory work of issue 14 (fused filter heads, one
neighbourhood unfold, slot attention without permutes or host sync, lean ConvFFN / RMSNorm /
RoPE): ``benchmarks/separator_step.py``; the outputs and state-dict keys of e1ed361 are pinned by
``tests/s5tse/models/separator/test_sr_corrnet_fixture.py``.

Presets (parameter counts are printed by the tests / report): ``unit`` (CI), ``cpu_small``
(mini recipe), ``base`` (~5 M, the "gpu_base" design), ``large`` (~10 M).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from s5tse.models.separator.abs_separator import AbsSeparator
from s5tse.models.separator.sr_corrnet.blocks import RMSNorm, TFBlock, sinusoidal_embedding
from s5tse.models.separator.sr_corrnet.correlation import (
    correlation_feature,
    neighbourhood_ri,
    num_taps,
)
from s5tse.models.separator.sr_corrnet.decoder import CrossSlotBlock, ReconstructionDecoder
from s5tse.models.separator.sr_corrnet.filter import FilterEstimator
from s5tse.models.separator.sr_corrnet.split import (
    RESAMPLE_MODES,
    LabelQueriedSplit,
    WeakLabelEmbedding,
    resample_strong,
    slot_activity,
)
from s5tse.models.separator.sr_corrnet.stft import STFT

__all__ = ["SRCorrNetConfig", "SR_CORRNET_PRESETS", "CHECKPOINT_MODES", "checkpoint_mode", "LabelQueriedSRCorrNet"]


@dataclass(frozen=True)
class SRCorrNetConfig:
    """Hyper-parameters of :class:`LabelQueriedSRCorrNet` (defaults = the ``base`` preset)."""

    # signal / query interface
    num_channels: int = 4
    num_slots: int = 3
    num_classes: Optional[int] = None  # the size of the class inventory: always given
    # STFT
    n_fft: int = 512
    hop_length: int = 256
    win_length: Optional[int] = None
    window: str = "sqrt_hann"
    # correlation feature / filter taps: (past, future) frames and (lower, upper) bins
    ref_channel: int = 0
    taps_time: Tuple[int, int] = (2, 2)
    taps_freq: Tuple[int, int] = (1, 1)
    phat_beta: float = 0.5
    corr_eps: float = 1e-12
    # backbone
    d_model: int = 96
    ffn_hidden: int = 192
    num_heads: int = 4
    kernel_size: int = 3
    embed_hidden: Optional[int] = None  # default 4 * d_model
    embed_kernel: int = 3
    pos_enc: bool = True
    num_encoder_blocks: int = 2
    num_decoder_blocks: int = 3
    cross_ffn_hidden: Optional[int] = None  # default 4 * d_model
    # label conditioning
    d_label: int = 64
    film_hidden: int = 128
    split_hidden: Optional[int] = None  # default 2 * d_model
    reinject_film: bool = True
    slot_embedding_std: float = 0.02
    strong_resample: str = "nearest"
    strong_hop: Optional[float] = None  # samples per strong-query frame; None: T_q frames cover the input
    # normalisation / memory
    input_norm: bool = True
    input_norm_eps: float = 1e-8
    # False / "none" | True / "block" (every TF block and cross-slot block) | "stage" (every
    # encoder TF block and whole decoder stages); training only, see set_activation_checkpointing
    activation_checkpointing: Union[bool, str] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "taps_time", tuple(int(t) for t in self.taps_time))
        object.__setattr__(self, "taps_freq", tuple(int(t) for t in self.taps_freq))
        if self.d_model % self.num_heads or (self.d_model // self.num_heads) % 2:
            raise ValueError(
                f"SRCorrNetConfig: d_model={self.d_model} must be divisible by num_heads={self.num_heads} "
                "with an even head dimension (RoPE)"
            )
        if self.d_model % 2:
            raise ValueError(f"SRCorrNetConfig: d_model must be even (sinusoidal PE), got {self.d_model}")
        if not 0 <= self.ref_channel < self.num_channels:
            raise ValueError(
                f"SRCorrNetConfig: ref_channel={self.ref_channel} outside [0, {self.num_channels})"
            )
        if self.strong_resample not in RESAMPLE_MODES:
            raise ValueError(
                f"SRCorrNetConfig: strong_resample={self.strong_resample!r}; choose from {RESAMPLE_MODES}"
            )
        if self.num_encoder_blocks < 0 or self.num_decoder_blocks < 0:
            raise ValueError("SRCorrNetConfig: block counts must be >= 0")
        for name in ("kernel_size", "embed_kernel"):
            if getattr(self, name) % 2 == 0:
                raise ValueError(f"SRCorrNetConfig: {name} must be odd, got {getattr(self, name)}")
        num_taps(self.taps_time, self.taps_freq)  # validates the tap pairs
        checkpoint_mode(self.activation_checkpointing)  # validates the option

    @property
    def num_taps(self) -> int:
        return num_taps(self.taps_time, self.taps_freq)

    @property
    def feature_dim(self) -> int:
        """Correlation feature channels ``2 * M * L``."""
        return 2 * self.num_channels * self.num_taps


CHECKPOINT_MODES = ("none", "block", "stage")


def checkpoint_mode(value: Union[bool, str, None]) -> str:
    """``False``/``None``/``"none"`` -> ``"none"``; ``True``/``"block"`` -> ``"block"``; ``"stage"``."""
    if value is None or value is False:
        return "none"
    if value is True:
        return "block"
    if isinstance(value, str) and value.lower() in CHECKPOINT_MODES:
        return value.lower()
    raise ValueError(f"activation_checkpointing={value!r}; choose from False, True, {CHECKPOINT_MODES}")


SR_CORRNET_PRESETS: Dict[str, SRCorrNetConfig] = {
    # CI: every forward + backward well under a second or two on a 2-core CPU
    "unit": SRCorrNetConfig(
        n_fft=256, hop_length=128, taps_time=(1, 1), taps_freq=(0, 0), d_model=8, ffn_hidden=16,
        num_heads=1, embed_hidden=16, num_encoder_blocks=1, num_decoder_blocks=1, cross_ffn_hidden=16,
        d_label=8, film_hidden=16, split_hidden=16,
    ),
    # mini recipe / local smoke training (~0.35 M)
    "cpu_small": SRCorrNetConfig(
        taps_time=(1, 1), taps_freq=(1, 1), d_model=32, ffn_hidden=64, num_heads=4,
        num_encoder_blocks=1, num_decoder_blocks=1, d_label=32, film_hidden=64,
    ),
    # first real GPU model ("gpu_base" of the design notes, ~5 M)
    "base": SRCorrNetConfig(),
    # larger GPU model (~10 M)
    "large": SRCorrNetConfig(
        taps_time=(3, 3), taps_freq=(1, 1), d_model=128, ffn_hidden=256, num_heads=4,
        num_encoder_blocks=2, num_decoder_blocks=4,
    ),
}


class LabelQueriedSRCorrNet(AbsSeparator):
    """Label-queried SR-CorrNet separator (see the module docstring).

    Construction::

        LabelQueriedSRCorrNet(num_classes=C)             # base preset defaults, C query classes
        LabelQueriedSRCorrNet(preset="cpu_small", num_classes=C, num_decoder_blocks=2)
        LabelQueriedSRCorrNet.from_preset("large", num_classes=C, activation_checkpointing=True)
        LabelQueriedSRCorrNet(config=SRCorrNetConfig(num_classes=C, ...))   # or a plain dict

    Keyword overrides must be :class:`SRCorrNetConfig` fields (``TypeError`` otherwise);
    ``num_classes`` (the class inventory's size) has no default.
    """

    def __init__(self, preset: Optional[str] = None, config: Union[SRCorrNetConfig, Mapping, None] = None,
                 **overrides: Any) -> None:
        super().__init__()
        if preset is not None and config is not None:
            raise ValueError("LabelQueriedSRCorrNet: give either preset or config, not both")
        if isinstance(config, Mapping):
            config = SRCorrNetConfig(**config)
        if config is None:
            if preset is not None and preset not in SR_CORRNET_PRESETS:
                raise ValueError(
                    f"unknown SR-CorrNet preset {preset!r}; choose from {sorted(SR_CORRNET_PRESETS)}"
                )
            config = SR_CORRNET_PRESETS[preset] if preset is not None else SRCorrNetConfig()
        fields = {f.name for f in dataclasses.fields(SRCorrNetConfig)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"LabelQueriedSRCorrNet: unknown option(s) {unknown}")
        cfg = dataclasses.replace(config, **overrides) if overrides else config
        if isinstance(cfg.num_classes, bool) or not isinstance(cfg.num_classes, int) \
                or cfg.num_classes < 1:
            raise ValueError(f"LabelQueriedSRCorrNet: num_classes must be the size of the class "
                             f"inventory (a positive integer), got {cfg.num_classes!r}")
        self.config = cfg
        d = cfg.d_model
        n_taps = cfg.num_taps

        self.stft = STFT(cfg.n_fft, cfg.hop_length, cfg.win_length, cfg.window)
        # input embedding of the correlation feature
        hid = cfg.embed_hidden or 4 * d
        pad = cfg.embed_kernel // 2
        self.embed = nn.Sequential(
            nn.Conv2d(cfg.feature_dim, hid, cfg.embed_kernel, padding=pad),
            nn.SiLU(),
            nn.Conv2d(hid, d, cfg.embed_kernel, padding=pad),
        )
        self.embed_norm = RMSNorm(d)
        if cfg.pos_enc:
            self.register_buffer("freq_pe", sinusoidal_embedding(self.stft.num_freqs, d), persistent=False)
        else:
            self.freq_pe = None
        self.encoder = nn.ModuleList(
            [TFBlock(d, cfg.ffn_hidden, cfg.num_heads, cfg.kernel_size)
             for _ in range(cfg.num_encoder_blocks)]
        )
        # label conditioning
        self.weak_embed = WeakLabelEmbedding(cfg.num_classes, cfg.d_label)
        self.split = LabelQueriedSplit(d, cfg.num_slots, cfg.d_label, cfg.film_hidden,
                                       cfg.split_hidden or 2 * d, cfg.slot_embedding_std)
        self.decoder = ReconstructionDecoder(
            cfg.num_decoder_blocks, d_model=d, ffn_hidden=cfg.ffn_hidden, num_heads=cfg.num_heads,
            kernel_size=cfg.kernel_size, num_slots=cfg.num_slots,
            cross_ffn_hidden=cfg.cross_ffn_hidden or 4 * d, d_label=cfg.d_label,
            film_hidden=cfg.film_hidden, reinject=cfg.reinject_film,
            slot_embedding_std=cfg.slot_embedding_std,
        )
        self.filter = FilterEstimator(d, cfg.num_channels, n_taps)
        self.aux_filters = nn.ModuleList(
            [FilterEstimator(d, cfg.num_channels, n_taps) for _ in range(cfg.num_decoder_blocks)]
        )
        self.set_activation_checkpointing(cfg.activation_checkpointing)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "LabelQueriedSRCorrNet":
        """``unit`` | ``cpu_small`` | ``base`` | ``large``; ``overrides`` replace config fields."""
        return cls(preset=name, **overrides)

    # ------------------------------------------------------------------ interface
    @property
    def num_slots(self) -> int:
        return self.config.num_slots

    @property
    def frame_hop(self) -> int:
        """STFT frame shift in samples (frame ``t`` is centred on sample ``t * frame_hop``)."""
        return self.config.hop_length

    def num_frames(self, num_samples: int) -> int:
        """STFT frames for ``num_samples`` input samples."""
        return self.stft.num_frames(num_samples)

    def set_activation_checkpointing(self, enable: Union[bool, str]) -> None:
        """Activation checkpointing in training (recompute in backward), by granularity:

        * ``"block"`` (or ``True``): every encoder/decoder TF block and every cross-slot block;
        * ``"stage"``: every encoder TF block and every whole decoder stage (TF block, FiLM
          re-injection and cross-slot block: fewer saved tensors, same recomputation);
        * ``"none"`` (or ``False``): off.

        ``True`` means the configured granularity (``config.activation_checkpointing``) if that is
        ``"stage"``, else ``"block"``: the trainer's on/off switch (``activation_checkpointing:
        true``, passed as a bool) keeps a ``model_conf`` choice of ``"stage"``.

        The filter heads are always checkpointed per chunk of frames (see
        :meth:`.filter.FilterEstimator.filter_spectrum`). Outputs and gradients do not depend on it.
        """
        mode = checkpoint_mode(enable)
        if enable is True and checkpoint_mode(self.config.activation_checkpointing) == "stage":
            mode = "stage"
        for block in self.encoder:
            block.checkpointing = mode != "none"
        for stage in self.decoder.stages:
            stage.stage_checkpointing = mode == "stage"
            stage.tf_block.checkpointing = stage.cross.checkpointing = mode == "block"
        self.checkpoint_granularity = mode

    def set_chunk_elements(self, elements: int) -> None:
        """CPU chunk size (elements of one ``d``-wide chunk) of every TF block and cross-slot block
        (see :class:`.blocks.TFBlock`); ``0``: each runs on its whole input. Outputs do not
        depend on it; the default (:data:`.blocks.CHUNK_ELEMENTS`) keeps intermediates small."""
        for module in self.modules():
            if isinstance(module, (TFBlock, CrossSlotBlock)):
                module.chunk_elements = int(elements)

    def _check_inputs(self, mixture: Tensor, strong: Tensor, weak: Tensor) -> None:
        cfg = self.config
        if mixture.dim() != 3 or mixture.shape[1] != cfg.num_channels:
            raise ValueError(f"mixture must be [B, {cfg.num_channels}, T], got {tuple(mixture.shape)}")
        b = mixture.shape[0]
        if strong.dim() != 3 or tuple(strong.shape[:2]) != (b, cfg.num_slots) or strong.shape[2] < 1:
            raise ValueError(f"strong must be [B={b}, K={cfg.num_slots}, T_q>0], got {tuple(strong.shape)}")
        if tuple(weak.shape) != (b, cfg.num_slots, cfg.num_classes):
            raise ValueError(
                f"weak must be [B={b}, K={cfg.num_slots}, {cfg.num_classes}], got {tuple(weak.shape)}"
            )

    def _synthesise(self, head: FilterEstimator, s: Tensor, x_ri: Tensor, scale: Tensor, active: Tensor,
                    n: int) -> Tensor:
        spec = head.filter_spectrum(s, x_ri)  # [B, K, F, N]
        y = self.stft.inverse(spec, n) * scale  # [B, K, n]
        return torch.where(active[..., None], y, torch.zeros((), dtype=y.dtype, device=y.device))

    def forward(self, mixture: Tensor, strong: Tensor, weak: Tensor) -> Tuple[Tensor, Dict[str, Any]]:
        """Separate ``mixture [B, C, T]`` given ``strong [B, K, T_q]`` and ``weak [B, K, num_classes]``.

        Returns ``(sources [B, K, T], extras)``; see the module docstring for the extras and the
        silent-slot rule.
        """
        self._check_inputs(mixture, strong, weak)
        cfg = self.config
        n = mixture.shape[-1]
        strong = strong.float()
        weak = weak.float()
        active = slot_activity(strong, weak)  # [B, K]

        with torch.autocast(device_type=mixture.device.type, enabled=False):
            x = mixture.float()
            if cfg.input_norm:
                # one std per example over all channels and samples (inter-channel levels kept)
                scale = x.std(dim=(1, 2), keepdim=True, correction=0)
                scale = scale.clamp_min(cfg.input_norm_eps).detach()  # [B, 1, 1]
            else:
                scale = torch.ones(x.shape[0], 1, 1, device=x.device)
            spec = self.stft(x / scale)  # [B, C, F, N]
            x_ri = neighbourhood_ri(spec, cfg.taps_time, cfg.taps_freq)  # [2, B, N, F, C*L]
            feat = correlation_feature(spec, cfg.taps_time, cfg.taps_freq, cfg.ref_channel,
                                       cfg.phat_beta, cfg.corr_eps)  # [B, N, F, 2CL]
        n_frames = spec.shape[-1]

        h = self.embed(feat.permute(0, 3, 1, 2))  # [B, d, N, F]
        h = self.embed_norm(h.permute(0, 2, 3, 1))  # [B, N, F, d]
        if self.freq_pe is not None:
            h = h + self.freq_pe.to(h.dtype)
        for block in self.encoder:
            h = block(h)

        a = resample_strong(strong, n_frames, cfg.hop_length, n, cfg.strong_resample, cfg.strong_hop)
        e = self.weak_embed(weak)  # [B, K, d_label]
        s = self.split(h, e, a)  # [B, K, N, F, d]
        # the key mask is always applied (a zero bias when every slot is active: no host sync)
        s, stage_inputs = self.decoder(s, e, a, active)

        y = self._synthesise(self.filter, s, x_ri, scale, active, n)
        aux: List[Tensor] = []
        if self.training:
            for head, s_i in zip(self.aux_filters, stage_inputs):
                aux.append(self._synthesise(head, s_i, x_ri, scale, active, n))
        return y, {"aux": aux, "active": active}
