"""Stateful block streaming of :class:`LabelQueriedSRCorrNet` with KV and convolution caches.

The ``N`` STFT frames of an input of ``n`` samples are processed in *present* blocks of
``present`` frames ``[s, s + present)``; every block also computes ``future`` lookahead frames
``[s + present, e)``, ``e = min(N, s + present + future)``, whose outputs are discarded (they are
recomputed as present frames later). Frames right of ``e`` are unknown and treated as zeros by
every time-axis operator (exactly the offline zero padding when ``e = N``). Past context enters
only through caches, each updated with the present frames of a block (the values computed when
those frames were present):

=============================== ===============================================================
time-axis operator              cache
=============================== ===============================================================
STFT analysis                   input samples from ``s * hop - n_fft // 2`` (:class:`.BlockSTFT`)
correlation / filter taps       the last ``P`` raw STFT frames (``taps_time = (P, Q)``)
embedding Conv2d (x2)           the last ``embed_kernel // 2`` frames of each conv input
ConvFFN Conv1d (x2 per FFN)     the last ``kernel_size // 2`` frames of each conv input
time attention (encoder blocks, at most ``past`` RoPE-rotated keys and values (absolute frame
every decoder block and slot)   index as the RoPE offset): ``[F, H, <= past, dh]`` encoder,
                                ``[K * F, H, <= past, dh]`` decoder
iSTFT                           overlap-add tail of at most ``n_fft`` samples (:class:`.BlockISTFT`)
=============================== ===============================================================

The frequency path, the label split / FiLM, the cross-slot attention and the filter head are per
frame and keep no state. Peak memory depends on ``(past, present, future)`` and the model size,
not on ``n`` (the strong query resampled to ``[K, N]`` is the only length-dependent array).

Streaming normalisation (the offline model uses per-utterance statistics):

* input std: the cumulative std over all channels and samples from 0 up to the last sample the
  current block uses (the end of its lookahead, ``(e - 1) * hop - n_fft // 2 + n_fft``, capped
  at ``n``), recomputed per block;
* correlation RMS ``sigma_f``: the cumulative mean of ``|X_W(f, t) / std|^2`` over frames
  ``0 ... e - 1``, recomputed per block and applied to the block and its cached past frames.

When ``present + future >= N`` the first block sees the whole input, so both equal the offline
statistics; with ``past >= N`` as well, the streamed output equals the offline one. The input std
cancels in the MISO filter output (filtering is linear in the input), so the filter is applied to
the raw spectrum and the output is not re-scaled; it only affects the network input.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Tuple

import torch
from torch import Tensor

from s5tse.models.separator.sr_corrnet.blocks import conv_time_streaming
from s5tse.models.separator.sr_corrnet.correlation import correlation_feature, unfold_neighbourhood
from s5tse.models.separator.sr_corrnet.filter import apply_miso_filter
from s5tse.models.separator.sr_corrnet.model import LabelQueriedSRCorrNet
from s5tse.models.separator.sr_corrnet.split import resample_strong, slot_activity
from s5tse.streaming.config import StreamingConfig
from s5tse.streaming.stats import RunningMeanPower, RunningStd
from s5tse.streaming.stft import BlockISTFT, BlockSTFT

__all__ = ["StreamingSeparator"]


class StreamingSeparator:
    """Block-streaming runner for one example of a :class:`LabelQueriedSRCorrNet` (inference only).

    Args:
        model: the separator (use ``model.eval()``); its weights are not changed.
        config: context sizes (:class:`StreamingConfig`, converted to the model's hop).
        strong: ``[K, T_q]`` strong query of the whole example (resampled as offline).
        weak: ``[K, num_classes]`` weak query.
        num_samples: total input length ``n`` (needed for the strong-query grid and the end padding).

    Feed ``process(chunk [C, m])`` with consecutive input chunks of any sizes; each call returns
    the output samples completed so far, ``[K, m']``; after the last input sample has been
    given, ``flush()`` returns the rest. The concatenated outputs are ``[K, n]``.
    """

    def __init__(self, model: LabelQueriedSRCorrNet, config: StreamingConfig, strong: Tensor,
                 weak: Tensor, num_samples: int) -> None:
        if not isinstance(model, LabelQueriedSRCorrNet):
            raise ValueError(f"StreamingSeparator needs a LabelQueriedSRCorrNet, got {type(model).__name__}")
        cfg = model.config
        k = cfg.num_slots
        if strong.dim() != 2 or strong.shape[0] != k or strong.shape[1] < 1:
            raise ValueError(f"strong must be [K={k}, T_q>0], got {tuple(strong.shape)}")
        if tuple(weak.shape) != (k, cfg.num_classes):
            raise ValueError(f"weak must be [K={k}, {cfg.num_classes}], got {tuple(weak.shape)}")
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.model = model
        self.cfg = cfg
        self.config = config.for_hop(cfg.hop_length)
        self.device = next(model.parameters()).device
        self.n = int(num_samples)
        self.num_frames = model.num_frames(self.n)
        strong = strong.to(self.device).float()[None]  # [1, K, T_q]
        weak = weak.to(self.device).float()[None]  # [1, K, C_cls]
        self.active = slot_activity(strong, weak)  # [1, K]
        self.key_mask = None if bool(self.active.all()) else self.active
        self.query = resample_strong(strong, self.num_frames, cfg.hop_length, self.n,
                                     cfg.strong_resample, cfg.strong_hop)  # [1, K, N]
        with torch.no_grad():
            self.embedding = model.weak_embed(weak)  # [1, K, d_label]
        # state
        self.stft = BlockSTFT(model.stft, cfg.num_channels, self.n, self.device)
        self.istft = BlockISTFT(model.stft, self.num_frames, self.n, k, self.device)
        self.input_std = RunningStd(self.device)
        self.ref_power = RunningMeanPower(model.stft.num_freqs, self.device)
        self.stats_samples = 0  # samples counted in input_std
        self.stats_frames = 0  # frames counted in ref_power
        p_taps = cfg.taps_time[0]
        self.spec_cache = torch.zeros(cfg.num_channels, model.stft.num_freqs, p_taps,
                                      dtype=torch.complex64, device=self.device)  # last P raw frames
        self.embed_cache: Dict[str, Tensor] = {}
        self.encoder_caches: List[dict] = [{} for _ in model.encoder]
        self.decoder_caches: List[dict] = [{} for _ in model.decoder.stages]
        self.next_frame = 0

    # ------------------------------------------------------------------ interface
    @property
    def received(self) -> int:
        return self.stft.received

    def process(self, chunk: Tensor) -> Tensor:
        """Consume input samples ``[C, m]``; returns the completed output samples ``[K, m']``."""
        c = self.cfg.num_channels
        if chunk.dim() != 2 or chunk.shape[0] != c:
            raise ValueError(f"input chunk must be [C={c}, m], got {tuple(chunk.shape)}")
        if self.received + chunk.shape[-1] > self.n:
            raise ValueError(f"input exceeds num_samples={self.n} ({self.received + chunk.shape[-1]} given)")
        if not bool(torch.isfinite(chunk).all()):
            raise ValueError("input chunk contains NaN or Inf samples")
        chunk = chunk.to(self.device).float()
        out = [torch.zeros(self.cfg.num_slots, 0, device=self.device)]
        pos = 0
        with torch.no_grad():
            while True:
                while self.next_frame < self.num_frames and self.received >= self._samples_for_next_block():
                    out.append(self._block())
                if pos >= chunk.shape[-1]:
                    break
                # buffer only what the next block needs (bounded buffer for any chunk size)
                take = chunk.shape[-1] - pos
                if self.next_frame < self.num_frames:
                    take = min(take, max(1, self._samples_for_next_block() - self.received))
                self.stft.push(chunk[:, pos: pos + take])
                pos += take
        return torch.cat(out, dim=-1)

    def flush(self) -> Tensor:
        """Finish the stream (all ``num_samples`` must have been given); returns ``[K, m']``."""
        if self.received < self.n:
            raise ValueError(f"flush after {self.received} of num_samples={self.n} input samples")
        return self.process(torch.zeros(self.cfg.num_channels, 0, device=self.device))

    def iter_caches(self) -> Iterator[Tuple[str, Tensor]]:
        """``(name, tensor)`` for every cached tensor (time axis: -1 for spectra, 2 otherwise)."""
        yield "spec", self.spec_cache
        for key, t in self.embed_cache.items():
            yield f"embed.{key}", t
        for group, caches in (("encoder", self.encoder_caches), ("decoder", self.decoder_caches)):
            for i, cache in enumerate(caches):
                for layer, sub in cache.items():
                    for key, t in sub.items():
                        yield f"{group}.{i}.{layer}.{key}", t

    # ------------------------------------------------------------------ one block
    def _block_end(self, start: int) -> int:
        return min(self.num_frames, start + self.config.present + self.config.future)

    def _samples_for_next_block(self) -> int:
        return self.stft.samples_needed(self._block_end(self.next_frame))

    def _block(self) -> Tensor:
        model, cfg, conf = self.model, self.cfg, self.config
        s = self.next_frame
        e = self._block_end(s)
        n_present = min(conf.present, self.num_frames - s)
        length = e - s
        p_taps, q_taps = cfg.taps_time

        # running statistics up to the end of the lookahead
        need = self.stft.samples_needed(e)
        self.input_std.update(self.stft.segment(self.stats_samples, need))
        self.stats_samples = need
        scale = self.input_std.value(cfg.input_norm_eps) if cfg.input_norm else torch.ones((), device=self.device)
        spec = self.stft.frames(s, e)  # raw [C, F, L]
        if e > self.stats_frames:
            new = spec[cfg.ref_channel, :, self.stats_frames - s:]
            self.ref_power.update(new.abs().pow(2))
            self.stats_frames = e
        sigma = (self.ref_power.mean() / scale.double() ** 2 + cfg.corr_eps).sqrt().float()  # [F]

        # past taps from the cache, zeros right of the block
        ext = torch.cat([self.spec_cache, spec, spec.new_zeros(*spec.shape[:2], q_taps)], dim=-1)[None]
        feat = correlation_feature(ext / scale, cfg.taps_time, cfg.taps_freq, cfg.ref_channel, cfg.phat_beta,
                                   cfg.corr_eps, sigma=sigma[None, :, None])[:, p_taps: p_taps + length]
        x_nb = unfold_neighbourhood(ext[..., : p_taps + n_present + q_taps], cfg.taps_time,
                                    cfg.taps_freq)[..., p_taps: p_taps + n_present]  # [1, C, L, F, n_present]
        if p_taps:
            self.spec_cache = torch.cat([self.spec_cache, spec[..., :n_present]], dim=-1)[..., -p_taps:].clone()

        # embedding (cached left context of both convolutions)
        h = conv_time_streaming(model.embed[0], feat.permute(0, 3, 1, 2), self.embed_cache, "conv1", n_present)
        h = conv_time_streaming(model.embed[2], model.embed[1](h), self.embed_cache, "conv2", n_present)
        h = model.embed_norm(h.permute(0, 2, 3, 1))  # [1, L, F, d]
        if model.freq_pe is not None:
            h = h + model.freq_pe.to(h.dtype)
        for block, cache in zip(model.encoder, self.encoder_caches):
            h = block.forward_streaming(h, cache, s, n_present, conf.past)

        a = self.query[..., s:e]
        z = model.split(h, self.embedding, a)  # [1, K, L, F, d]
        z = model.decoder.forward_streaming(z, self.embedding, a, self.key_mask, self.decoder_caches, s,
                                            n_present, conf.past)
        w = model.filter(z[:, :, :n_present])  # [1, K, n_present, F, C, L]
        y = self.istft.push(apply_miso_filter(w, x_nb)[0])  # [K, m']
        y = torch.where(self.active[0, :, None], y, torch.zeros((), device=y.device))

        self.next_frame = s + n_present
        self.stft.discard_before(min(self.next_frame * cfg.hop_length - self.stft.half, self.stats_samples))
        return y
