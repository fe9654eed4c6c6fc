"""ResUNetK: the DCASE 2026 Task 4 baseline separator (label-queried ResUNet, K = 3 slots).

Written from the architecture description in ``dcase2026_task4.md`` §4.3 (the official code is
under an evaluation-only licence and was not read). One pass of a residual U-Net separates
all ``K`` slots at once, conditioned on the concatenated slot queries::

    mixture [B, C=4, T]
      -> STFT (n_fft, hop, periodic Hann, centred, reflect-padded) per channel
         X [B, C, N, F]                                     (N frames, F = n_fft/2 + 1 bins)
      -> |X|; bn0 = BatchNorm over the F bins; time padded to a multiple of 2^(L-1),
         Nyquist bin dropped (F - 1 = n_fft/2 bins)         [B, C, N', F-1]
      -> pre_conv 1x1 (C -> c_1)
      -> L encoder blocks (ConvBlockRes + avg-pool (2,2), the last (1,2)),
         bottleneck ConvBlockRes, L decoder blocks (BN -> +beta -> LeakyReLU ->
         ConvTranspose2d, concat skip, ConvBlockRes)        [B, c_1, N', F-1]
      -> after_conv 1x1 -> K * C * 3 maps per TF bin, cropped back to N frames
      -> per slot k and input channel c: magnitude mask sigmoid(a), unit phase rotation
         (tanh b + j tanh c) / |.|:   Y_kc = sigmoid(a) * rot * X_c   (= relu(|X| M) e^{j(angle X + angle M)})
      -> out_conv 1x1 (C -> 1, real weights, no bias) on real and imaginary parts:
         Y_k = sum_c w_c Y_kc; Nyquist bin set to 0
      -> iSTFT (length T)                                    [B, K, T]
      -> slots with an all-zero query set to exact zeros (gate)

ConvBlockRes (pre-activation, additive FiLM, no gamma)::

    h = conv1(LeakyReLU(BN1(x) + beta1(e)));  h = conv2(LeakyReLU(BN2(h) + beta2(e)))
    out = h + shortcut(x)        (shortcut: 1x1 conv with bias if channels change, else identity)

with 3x3 bias-free convolutions, LeakyReLU slope 0.01 and ``beta = Linear(H, channels)(e)``
broadcast over time and frequency. The query embedding ``e [B, H]`` comes from the flattened
slot queries ``weak [B, K, num_classes] -> [B, 54]`` through Linear(54, H) -> LayerNorm -> ReLU ->
Linear(H, H) -> LayerNorm -> ReLU. Every block (encoder, bottleneck, decoder) has its own beta
layers; decoder blocks add one more for the BN in front of the transposed convolution.

**Queries.** ResUNetK is a clip-level model: it uses ``weak`` only (one-hot per slot, all-zero
row = empty slot) and ignores ``strong`` (accepted for the :class:`AbsSeparator` interface,
checked for its batch and slot sizes only). A slot is gated to exact zeros when its ``weak``
row is all zero, whatever ``strong`` holds. Slot order matters to the network (the 54-d vector
is positional); the baseline moves silent slots last.

**Input layout.** As in the baseline, only the magnitudes of the ``C`` channels enter the U-Net
(``pre_conv`` is ``C -> c_1``); the phases of the mixture channels enter through the complex
masks, which rotate each channel's own phase. ``phase_input=True`` (not the baseline) also
feeds ``cos`` and ``sin`` of every channel's phase (``pre_conv`` ``3C -> c_1``; ``bn0`` still
normalises the magnitudes only), exposing the inter-channel phase differences that carry the
FOA direction cues.

**Presets** (:meth:`ResUNetK.from_preset`):

========== ========= ===== =============================== ===== ============
preset     n_fft/hop  bins  channels                        H     parameters
========== ========= ===== =============================== ===== ============
official   1024/160   512   32, 64, 128, 256, 384, 384      512   25,916,970
cpu_small  512/256    256   8, 16, 32, 64, 64, 64           64    862,090
unit       256/128    128   4, 8, 8                         16    12,466
========== ========= ===== =============================== ===== ============

The reference estimates the official model at about 26.7 M trainable parameters (U-Net
21.4 M, FiLM linears 5.06 M, label MLP 0.29 M) plus 3.15 M frozen STFT/iSTFT kernels (§4.6).
Here the STFT is ``torch.stft`` (no parameters) and every parameter is used in the forward
pass: U-Net 21.39 M, FiLM linears 4.24 M, label MLP 0.29 M. The 0.82 M FiLM gap equals one
more ``Linear(512, c_in)`` per decoder block (513 x 1600 = 820,800, giving 26.74 M), e.g. a
beta for a second, unused decoder BatchNorm; nothing in the description needs it, so it is
not reproduced.

**Activation checkpointing** (:meth:`ResUNetK.set_activation_checkpointing`): encoder,
bottleneck and decoder blocks are recomputed in the backward pass (``torch.utils.checkpoint``,
non-reentrant). The recomputation updates the BatchNorm running statistics a second time with
the same batch statistics, so while it is on the momentum of every BatchNorm inside the
checkpointed blocks is set to ``1 - sqrt(1 - m)``: two updates then equal one update with
``m`` exactly (a training-mode forward that is never back-propagated updates them only half).

Example:
    >>> import torch
    >>> from s5tse.models.separator.resunetk import ResUNetK
    >>> model = ResUNetK.from_preset("unit", num_classes=18)
    >>> mixture = torch.randn(2, 4, 8001)
    >>> weak = torch.zeros(2, 3, 18); weak[:, 0, 4] = 1; weak[0, 1, 4] = 1   # slot 2 silent
    >>> sources, extras = model(mixture, torch.zeros(2, 3, 50), weak)
    >>> sources.shape
    torch.Size([2, 3, 8001])
    >>> bool((sources[:, 2] == 0).all()), bool((sources[1, 1] == 0).all())
    (True, True)
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from s5tse.models.separator.abs_separator import AbsSeparator

__all__ = ["ResUNetK", "RESUNETK_PRESETS"]

RESUNETK_PRESETS: Mapping[str, Mapping[str, Any]] = {
    # Baseline sizes (reference §4.3 / §4.6).
    "official": dict(n_fft=1024, hop_length=160, channels=(32, 64, 128, 256, 384, 384), film_hidden=512),
    # Mini recipe on a CPU: same topology, narrow, 16-ms window, 50 % overlap.
    "cpu_small": dict(n_fft=512, hop_length=256, channels=(8, 16, 32, 64, 64, 64), film_hidden=64),
    # Unit tests: three levels, tiny widths.
    "unit": dict(n_fft=256, hop_length=128, channels=(4, 8, 8), film_hidden=16),
}


class _ConvBlockRes(nn.Module):
    """Pre-activation residual block with additive FiLM (see the module docstring)."""

    def __init__(self, c_in: int, c_out: int, film_hidden: int, momentum: float, slope: float) -> None:
        super().__init__()
        self.slope = slope
        self.bn1 = nn.BatchNorm2d(c_in, momentum=momentum)
        self.beta1 = nn.Linear(film_hidden, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, momentum=momentum)
        self.beta2 = nn.Linear(film_hidden, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = self.bn1(x) + self.beta1(cond)[:, :, None, None]
        h = self.conv1(F.leaky_relu(h, self.slope))
        h = self.bn2(h) + self.beta2(cond)[:, :, None, None]
        h = self.conv2(F.leaky_relu(h, self.slope))
        return h + self.shortcut(x)


class _EncoderBlock(nn.Module):
    """ConvBlockRes, then average pooling; returns ``(pooled, skip)``."""

    def __init__(self, c_in: int, c_out: int, pool: Tuple[int, int], film_hidden: int,
                 momentum: float, slope: float) -> None:
        super().__init__()
        self.pool = tuple(pool)
        self.block = _ConvBlockRes(c_in, c_out, film_hidden, momentum, slope)

    def forward(self, x: Tensor, cond: Tensor) -> Tuple[Tensor, Tensor]:
        skip = self.block(x, cond)
        return F.avg_pool2d(skip, kernel_size=self.pool), skip


class _DecoderBlock(nn.Module):
    """BN + beta -> LeakyReLU -> ConvTranspose2d (stride = pool), concat skip, ConvBlockRes."""

    def __init__(self, c_in: int, c_out: int, pool: Tuple[int, int], film_hidden: int,
                 momentum: float, slope: float) -> None:
        super().__init__()
        self.slope = slope
        self.bn = nn.BatchNorm2d(c_in, momentum=momentum)
        self.beta = nn.Linear(film_hidden, c_in)
        self.up = nn.ConvTranspose2d(c_in, c_out, kernel_size=pool, stride=pool, bias=False)
        self.block = _ConvBlockRes(2 * c_out, c_out, film_hidden, momentum, slope)

    def forward(self, x: Tensor, skip: Tensor, cond: Tensor) -> Tensor:
        h = F.leaky_relu(self.bn(x) + self.beta(cond)[:, :, None, None], self.slope)
        h = self.up(h)
        return self.block(torch.cat([h, skip], dim=1), cond)


class ResUNetK(AbsSeparator):
    """Label-queried residual U-Net separating ``num_slots`` sources in one pass.

    Args:
        num_slots (int): output slots K (3).
        num_classes (int): query classes per slot (the class inventory's size); the query vector has
            ``num_slots * num_classes`` entries.
        in_channels (int): mixture channels C (4, FOA).
        n_fft (int): STFT size (window = n_fft, periodic Hann); ``n_fft / 2`` must be a
            multiple of ``2 ** len(channels)``.
        hop_length (int): STFT hop in samples.
        channels (Sequence[int]): encoder widths, one per level (decoder mirrors them); all
            levels pool (2, 2) except the last, which pools (1, 2).
        film_hidden (int): width H of the query embedding.
        bn_momentum (float): BatchNorm momentum (PyTorch convention).
        leaky_slope (float): LeakyReLU negative slope.
        phase_input (bool): also feed cos/sin of the channel phases to the U-Net (not the
            baseline; see the module docstring).

    Shapes (:meth:`forward`):
        - mixture: ``[B, C, T]`` with ``T > n_fft / 2``.
        - strong: ``[B, K, T_q]`` (ignored) or None.
        - weak: ``[B, K, num_classes]`` slot queries (all-zero row = silent slot).
        - returns ``(sources [B, K, T], {})``.
    """

    def __init__(
        self,
        num_slots: int = 3,
        *,
        num_classes: int,
        in_channels: int = 4,
        n_fft: int = 1024,
        hop_length: int = 160,
        channels: Sequence[int] = (32, 64, 128, 256, 384, 384),
        film_hidden: int = 512,
        bn_momentum: float = 0.01,
        leaky_slope: float = 0.01,
        phase_input: bool = False,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 1 or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty list of positive widths, got {channels}")
        if num_slots < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError("num_slots, num_classes and in_channels must be positive")
        levels = len(channels)
        if n_fft % 2 or (n_fft // 2) % (2 ** levels):
            raise ValueError(f"n_fft / 2 = {n_fft / 2} must be a multiple of 2 ** {levels} "
                             "(one halving per level)")
        if not 0 < hop_length <= n_fft:
            raise ValueError(f"hop_length must be in (0, n_fft], got {hop_length}")
        self._num_slots = int(num_slots)
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.channels = channels
        self.time_multiple = 2 ** (levels - 1)
        self.phase_input = bool(phase_input)
        self._checkpointing = False
        self._bn_momentum = float(bn_momentum)

        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)
        query_dim = self._num_slots * self.num_classes
        self.label_embedding = nn.Sequential(
            nn.Linear(query_dim, film_hidden), nn.LayerNorm(film_hidden), nn.ReLU(),
            nn.Linear(film_hidden, film_hidden), nn.LayerNorm(film_hidden), nn.ReLU(),
        )
        self.bn0 = nn.BatchNorm2d(self.n_fft // 2 + 1, momentum=bn_momentum)
        self.pre_conv = nn.Conv2d(self.in_channels * (3 if self.phase_input else 1), channels[0], 1)
        pools = [(2, 2)] * (levels - 1) + [(1, 2)]
        kw = dict(film_hidden=film_hidden, momentum=bn_momentum, slope=leaky_slope)
        c_prev = channels[0]
        self.encoders = nn.ModuleList()
        for c, pool in zip(channels, pools):
            self.encoders.append(_EncoderBlock(c_prev, c, pool, **kw))
            c_prev = c
        self.bottleneck = _ConvBlockRes(c_prev, c_prev, **kw)
        self.decoders = nn.ModuleList()
        for c, pool in zip(reversed(channels), reversed(pools)):
            self.decoders.append(_DecoderBlock(c_prev, c, pool, **kw))
            c_prev = c
        self.after_conv = nn.Conv2d(channels[0], self._num_slots * self.in_channels * 3, 1)
        self.out_conv = nn.Conv2d(self.in_channels, 1, 1, bias=False)

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "ResUNetK":
        """Build a preset of :data:`RESUNETK_PRESETS` (``official``, ``cpu_small``, ``unit``),
        with keyword ``overrides`` of the constructor arguments."""
        if name not in RESUNETK_PRESETS:
            raise ValueError(f"unknown ResUNetK preset {name!r}; choose from {sorted(RESUNETK_PRESETS)}")
        return cls(**{**RESUNETK_PRESETS[name], **overrides})

    @property
    def num_slots(self) -> int:
        return self._num_slots

    def set_activation_checkpointing(self, enable: bool) -> None:
        """Recompute the U-Net blocks in the backward pass (see the module docstring)."""
        enable = bool(enable)
        if enable == self._checkpointing:
            return
        self._checkpointing = enable
        m = self._bn_momentum
        momentum = 1.0 - math.sqrt(1.0 - m) if enable else m
        for blocks in (self.encoders, self.decoders, [self.bottleneck]):
            for module in blocks:
                for bn in module.modules():
                    if isinstance(bn, nn.BatchNorm2d):
                        bn.momentum = momentum

    # -- signal path ---------------------------------------------------------------------

    def _stft(self, x: Tensor) -> Tensor:
        """``[B, C, T] -> [B, C, N, F]`` complex64."""
        B, C, T = x.shape
        spec = torch.stft(
            x.reshape(B * C, T), n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.n_fft,
            window=self.window.to(x.dtype), center=True, pad_mode="reflect", return_complex=True,
        )
        return spec.view(B, C, spec.shape[-2], spec.shape[-1]).transpose(-1, -2)

    def _istft(self, spec: Tensor, length: int) -> Tensor:
        """``[B, K, N, F]`` complex -> ``[B, K, length]``."""
        B, K, N, Fb = spec.shape
        wav = torch.istft(
            spec.transpose(-1, -2).reshape(B * K, Fb, N), n_fft=self.n_fft, hop_length=self.hop_length,
            win_length=self.n_fft, window=self.window.to(spec.real.dtype), center=True, length=length,
        )
        return wav.view(B, K, length)

    def _run(self, fn, *args: Tensor):
        if self._checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def _unet(self, spec: Tensor, cond: Tensor) -> Tensor:
        """``[B, C, N, F]`` complex spectra -> ``[B, K * C * 3, N, F - 1]`` mask maps."""
        N = spec.shape[2]
        mag = spec.abs()
        x = self.bn0(mag.to(cond.dtype).transpose(1, 3)).transpose(1, 3)
        if self.phase_input:
            unit = spec / mag.clamp(min=1e-8)
            x = torch.cat([x, unit.real.to(x.dtype), unit.imag.to(x.dtype)], dim=1)
        pad = (-N) % self.time_multiple
        x = F.pad(x, (0, 0, 0, pad))[..., : self.n_fft // 2]
        x = self.pre_conv(x)
        skips: List[Tensor] = []
        for enc in self.encoders:
            x, skip = self._run(enc, x, cond)
            skips.append(skip)
        x = self._run(self.bottleneck, x, cond)
        for dec, skip in zip(self.decoders, reversed(skips)):
            x = self._run(dec, x, skip, cond)
        return self.after_conv(x)[:, :, :N]

    def _check_inputs(self, mixture: Tensor, strong: Optional[Tensor], weak: Tensor) -> None:
        if mixture.dim() != 3 or mixture.shape[1] != self.in_channels:
            raise ValueError(f"mixture must be [B, {self.in_channels}, T], got {tuple(mixture.shape)}")
        B, _, T = mixture.shape
        if T <= self.n_fft // 2:
            raise ValueError(f"mixture has {T} samples; need more than n_fft / 2 = {self.n_fft // 2}")
        if tuple(weak.shape) != (B, self._num_slots, self.num_classes):
            raise ValueError(f"weak must be [{B}, {self._num_slots}, {self.num_classes}], "
                             f"got {tuple(weak.shape)}")
        if strong is not None and tuple(strong.shape[:2]) != (B, self._num_slots):
            raise ValueError(f"strong must be [{B}, {self._num_slots}, T_q], got {tuple(strong.shape)}")

    def forward(
        self, mixture: Tensor, strong: Optional[Tensor], weak: Tensor
    ) -> Tuple[Tensor, Dict[str, Any]]:
        """Separate ``mixture [B, C, T]`` into ``[B, K, T]`` given the slot queries ``weak [B, K, num_classes]``.

        ``strong`` is ignored (clip-level model). Slots whose ``weak`` row is all zero are
        exactly zero. Returns ``(sources, {})``.
        """
        self._check_inputs(mixture, strong, weak)
        B, C, T = mixture.shape
        K = self._num_slots
        with torch.autocast(device_type=mixture.device.type, enabled=False):
            spec = self._stft(mixture.float())                          # [B, C, N, F]
        cond = self.label_embedding(weak.reshape(B, K * self.num_classes).to(self.pre_conv.weight.dtype))
        maps = self._unet(spec, cond)                                   # [B, K*C*3, N, F-1]
        with torch.autocast(device_type=mixture.device.type, enabled=False):
            N, Fu = maps.shape[2], maps.shape[3]
            maps = maps.float().view(B, K, C, 3, N, Fu)
            gain = torch.sigmoid(maps[:, :, :, 0])
            re, im = torch.tanh(maps[:, :, :, 1]), torch.tanh(maps[:, :, :, 2])
            inv = torch.rsqrt(re.square() + im.square() + 1e-20)      # unit-modulus rotation
            mask = torch.complex(gain * re * inv, gain * im * inv)      # [B, K, C, N, F-1]
            masked = mask * spec[:, None, :, :, :Fu]
            w = self.out_conv.weight.float().view(1, 1, C, 1, 1)
            combined = torch.complex((w * masked.real).sum(2), (w * masked.imag).sum(2))
            combined = F.pad(torch.view_as_real(combined), (0, 0, 0, 1))  # zero Nyquist bin
            sources = self._istft(torch.view_as_complex(combined.contiguous()), T)
        active = (weak != 0).any(-1)                                    # [B, K]
        sources = torch.where(active[:, :, None], sources, torch.zeros((), dtype=sources.dtype,
                                                                      device=sources.device))
        return sources, {}
