"""Reconstruction decoder: slot-shared TF blocks, label re-injection and cross-slot attention.

Written from the description in ``separator_sr_corrnet.md`` (§1.8, §7.2 row 7); no code copied.

Stage ``i`` (``num_blocks`` distinct stages) on ``s [B, K, N, F, d]``::

    s = TFBlock_i(s.reshape(B*K, N, F, d))        # weights shared by the K slots
    s = LabelFiLM_i(s, e, a)                      # optional re-injection of the query (eq. 1, zero-init)
    s = CrossSlotBlock_i(s, active)               # MHSA over the K slot tokens at every (t, f), + FFN

:class:`CrossSlotBlock`: pre-norm MHSA over the K slots (no positional encoding; a learned
per-slot ``slot_embedding`` is added to the normalised attention input to tell slots apart)
followed by a pre-norm SwiGLU FFN, both residual.  Keys of silent slots (all-zero query) are
masked out, so active slots never attend to them (a silent slot still attends to itself).  The
attention over the K slot tokens is written out in the decoder's ``[B, K, N*F, d]`` layout (K
dot products per query, an additive 0 / -inf key bias of shape ``[B, K, K]`` broadcast over the
bins, softmax in float32): no permuted copies, no ``[B*N*F, 1, K, K]`` mask, and no host sync
to test whether every slot is active (all-active adds a zero bias).  With
the slot embeddings zeroed the block is permutation-equivariant over slots: two slots with the
same query and the same input get identical outputs.

The decoder returns the final streams and the *input* of every stage (stage 0 = the split
output), which the SepRe auxiliary filter heads turn into auxiliary estimates.

Activation checkpointing: ``checkpointing`` on :class:`~.blocks.TFBlock` / :class:`CrossSlotBlock`
("block" granularity) or ``stage_checkpointing`` on :class:`DecoderStage` ("stage": TF block +
FiLM + cross-slot block recomputed together), set by :meth:`LabelQueriedSRCorrNet.set_activation_checkpointing`.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from s5tse.models.separator.sr_corrnet.blocks import (
    CHUNK_ELEMENTS,
    RMSNorm,
    SwiGLU,
    TFBlock,
    chunk_rows,
    map_chunks,
    maybe_checkpoint,
    seq_conv,
)
from s5tse.models.separator.sr_corrnet.split import LabelFiLM

__all__ = ["CrossSlotBlock", "DecoderStage", "ReconstructionDecoder"]


class CrossSlotBlock(nn.Module):
    """Interaction between the K slot streams at every TF bin: ``[B, K, N, F, d] -> same``."""

    def __init__(self, d_model: int, num_heads: int, ffn_hidden: int, num_slots: int,
                 slot_embedding_std: float = 0.02) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"CrossSlotBlock: d_model={d_model} not divisible by num_heads={num_heads}")
        self.num_heads = int(num_heads)
        self.attn_norm = RMSNorm(d_model)
        self.slot_embedding = nn.Parameter(torch.zeros(num_slots, d_model))
        if slot_embedding_std > 0:
            nn.init.normal_(self.slot_embedding, std=float(slot_embedding_std))
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.ffn_norm = RMSNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, 2 * ffn_hidden), SwiGLU(), nn.Linear(ffn_hidden, d_model))
        self.checkpointing = False
        self.chunk_elements = CHUNK_ELEMENTS

    def _forward(self, s: Tensor, active: Optional[Tensor]) -> Tensor:
        # works in the [B, K, N*F, d] layout of the decoder (no permutes): attention over the K
        # slot tokens of every TF bin written out (K = 3: dot products and a softmax over 3 keys)
        b, k, n, f, d = s.shape
        h = self.num_heads
        dh = d // h
        x = s.reshape(b, k, n * f, d)
        y = self.attn_norm(x) + self.slot_embedding.to(x.dtype)[None, :, None, :]
        q, kk, v = self.qkv(y).view(b, k, n * f, 3, h, dh).unbind(3)  # each [B, K, NF, H, dh]
        # scores[b, i, j] = <q_i, k_j> / sqrt(dh): [B, K(query), K(key), NF, H]
        scores = torch.stack([(q * kk[:, j, None]).sum(-1) for j in range(k)], dim=2) * dh ** -0.5
        if active is not None:
            eye = torch.eye(k, dtype=torch.bool, device=s.device)
            allowed = active[:, None, :] | eye[None]  # [B, K(query), K(key)]: silent keys hidden
            bias = torch.zeros(allowed.shape, dtype=scores.dtype, device=s.device)
            scores = scores + bias.masked_fill(~allowed, float("-inf"))[..., None, None]
        p = torch.softmax(scores.float(), dim=2).to(v.dtype)
        att = p[:, :, 0, ..., None] * v[:, 0, None]
        for j in range(1, k):
            att = att + p[:, :, j, ..., None] * v[:, j, None]  # [B, K, NF, H, dh]
        x = x + self.out(att.reshape(b, k, n * f, d))
        # FFN: Linear -> SwiGLU -> Linear, the second Linear fused with the SwiGLU (saves only its input)
        u = seq_conv(x.view(b * k, n * f, d), self.ffn[0], norm=self.ffn_norm)  # RMSNorm fused
        x = x + seq_conv(u, self.ffn[2], swiglu=True).view(b, k, n * f, d)
        return x.view(b, k, n, f, d)

    def _chunked(self, s: Tensor, active: Optional[Tensor]) -> Tensor:
        # every (t, f) position is independent: chunks of frames on the CPU (see TFBlock)
        b, k, n, f, d = s.shape
        step = chunk_rows(n, b * k * f * d, self.chunk_elements, s.device)
        return map_chunks(lambda part: self._forward(part, active), s, 2, step)

    def forward(self, s: Tensor, active: Optional[Tensor] = None) -> Tensor:
        """``s [B, K, N, F, d]``, ``active [B, K]`` bool (None: every key visible) -> ``[B, K, N, F, d]``."""
        return maybe_checkpoint(self, self._chunked, s, active)


class DecoderStage(nn.Module):
    """One reconstruction stage: slot-shared TF block, optional FiLM re-injection, cross-slot block."""

    def __init__(self, d_model: int, ffn_hidden: int, num_heads: int, kernel_size: int, num_slots: int,
                 cross_ffn_hidden: int, d_label: int, film_hidden: int, reinject: bool,
                 slot_embedding_std: float) -> None:
        super().__init__()
        self.tf_block = TFBlock(d_model, ffn_hidden, num_heads, kernel_size)
        self.film = LabelFiLM(d_label, d_model, film_hidden) if reinject else None
        self.cross = CrossSlotBlock(d_model, num_heads, cross_ffn_hidden, num_slots, slot_embedding_std)
        # whole-stage checkpointing (activation_checkpointing="stage"); not named ``checkpointing``,
        # which marks the block-granularity modules
        self.stage_checkpointing = False

    def _forward(self, s: Tensor, e: Tensor, a: Tensor, active: Optional[Tensor]) -> Tensor:
        b, k, n, f, d = s.shape
        x = self.tf_block(s.reshape(b * k, n, f, d)).view(b, k, n, f, d)
        if self.film is not None:
            x = self.film(x, e, a)
        return self.cross(x, active)

    def forward(self, s: Tensor, e: Tensor, a: Tensor, active: Optional[Tensor]) -> Tensor:
        if self.stage_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(self._forward, s, e, a, active, use_reentrant=False)
        return self._forward(s, e, a, active)

    def forward_streaming(self, s: Tensor, e: Tensor, a: Tensor, active: Optional[Tensor], cache: dict,
                          offset: int, n_keep: int, max_past: int) -> Tensor:
        """One block of frames (see :meth:`TFBlock.forward_streaming`); FiLM and cross-slot are per frame."""
        b, k, n, f, d = s.shape
        x = self.tf_block.forward_streaming(s.reshape(b * k, n, f, d), cache, offset, n_keep,
                                            max_past).view(b, k, n, f, d)
        if self.film is not None:
            x = self.film(x, e, a)
        return self.cross(x, active)


class ReconstructionDecoder(nn.Module):
    """``num_blocks`` decoder stages; returns ``(s_out, [input of stage 0, ..., stage num_blocks-1])``."""

    def __init__(self, num_blocks: int, **stage_kwargs) -> None:
        super().__init__()
        self.stages = nn.ModuleList([DecoderStage(**stage_kwargs) for _ in range(num_blocks)])

    def forward(self, s: Tensor, e: Tensor, a: Tensor,
                active: Optional[Tensor] = None) -> Tuple[Tensor, List[Tensor]]:
        stage_inputs: List[Tensor] = []
        for stage in self.stages:
            stage_inputs.append(s)
            s = stage(s, e, a, active)
        return s, stage_inputs

    def forward_streaming(self, s: Tensor, e: Tensor, a: Tensor, active: Optional[Tensor], caches: list,
                          offset: int, n_keep: int, max_past: int) -> Tensor:
        """One block ``s [B, K, L, F, d]`` -> final streams; ``caches`` holds one dict per stage."""
        while len(caches) < len(self.stages):
            caches.append({})
        for stage, cache in zip(self.stages, caches):
            s = stage.forward_streaming(s, e, a, active, cache, offset, n_keep, max_past)
        return s
