"""Dual-path TF building blocks of SR-CorrNet: RMSNorm, sinusoidal PE, RoPE MHSA, ConvFFN, TF block.

Written from the description in ``separator_sr_corrnet.md`` (§1.5, §1.6, §7.7); no code copied.

* :class:`RMSNorm` — ``x / sqrt(mean(x^2) + eps) * g`` over the last axis, computed in float32.
* :func:`sinusoidal_embedding` — absolute 1-D sinusoidal position table ``[length, dim]``
  (first half sines, second half cosines, geometric timescales 1 ... 10000); SR-CorrNet adds it
  over the **frequency** index after the input embedding (band identity, which RoPE lacks).
* :class:`RotaryEmbedding` — RoPE on half-split channel pairs (``x[:d/2]``, ``x[d/2:]``),
  angles ``(pos + offset) * base ** (-2k / d)``; ``offset`` is the absolute index of the first
  position (for a future KV-cached streaming mode). No parameters.
* :class:`MultiHeadSelfAttention` — bias-free ``Linear(d, 3d)`` -> RoPE(q), RoPE(k) ->
  ``scaled_dot_product_attention`` -> bias-free ``Linear(d, d)``; the caller applies the
  pre-norm and the residual.
* :class:`ConvFFN` — ``x + 1/2 * Conv1d(h -> d, k)(SwiGLU(Conv1d(d -> 2h, k)(RMSNorm(x))))``,
  "same" padding along the sequence axis, ``SwiGLU(a, g) = SiLU(a) * g``.
* :class:`TransBlock` — Macaron: ConvFFN -> (RMSNorm, MHSA, residual) -> ConvFFN, no final norm.
* :class:`TFBlock` — frequency path (TransBlock over F on ``[B*N, F, d]``), then time path
  (TransBlock over N on ``[B*F, N, d]``); separate RoPE instance per axis; optional activation
  checkpointing of the whole block (training only).

Implementation for speed and memory (issue 14; same functions, outputs equal to e1ed361 within
float32 rounding, parameter names unchanged):

* :class:`RMSNorm` is one autograd function (``_RMSNormFn``): forward ``x * rstd * g``, backward
  written out; saves ``x`` and the per-row ``rstd``.
* :class:`RotaryEmbedding` caches its ``(cos, sin)`` tables per ``(length, offset, device,
  inv_freq dtype/device)`` (recomputed after a length change, a device move or a dtype change;
  made outside inference mode so that they serve training too); the rotation is an autograd
  function whose backward is the inverse rotation (saves only the tables); q and k are rotated
  in one pass.
* ConvFFN convolutions (:func:`seq_conv`): channels-last ``[N, L, C]`` throughout (no
  transposes), one GEMM per tap on the zero-padded, flattened sequences accumulated in place; the
  second conv takes the SwiGLU input and computes ``SiLU(a) * g`` itself. Each conv saves only
  its input (not the normalised/activated copies), rebuilding them in backward.
* Macaron halves ``x + ffn/2`` as one ``add(alpha=0.5)``.
* On the CPU, :class:`TFBlock` (and the decoder's cross-slot block) run on chunks of independent
  sequences of about :data:`CHUNK_ELEMENTS` elements: every op's output is then a few MB that
  glibc serves from reused heap memory and the cache, instead of a fresh ``mmap`` of hundreds of
  MB whose page faults cost more than the op itself (a 2-s ``base`` decode: 31 s against 53 s
  unchunked, one thread, glibc defaults). Same functions on every sequence, so the outputs do
  not depend on the chunk size.

Streaming (``forward_streaming`` methods, used by :mod:`s5tse.streaming`): the time path runs on
one block of frames ``[offset, offset + L)`` whose first ``n_keep`` frames are the *present*
frames. Past context comes from a mutable ``cache`` dict: every time-axis convolution keeps the
last ``kernel // 2`` frames of its input (:func:`conv_time_streaming`; zeros at the stream start,
as the offline "same" padding), every time attention keeps the last ``max_past`` RoPE-rotated
keys and values (rotation with the absolute frame index). Frames right of the block are zeros.
Caches are updated with present frames only. The offline ``forward`` methods are unchanged.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

__all__ = [
    "RMSNorm",
    "sinusoidal_embedding",
    "RotaryEmbedding",
    "MultiHeadSelfAttention",
    "SwiGLU",
    "ConvFFN",
    "TransBlock",
    "TFBlock",
    "maybe_checkpoint",
    "conv_time_streaming",
    "CHUNK_ELEMENTS",
    "chunk_rows",
    "map_chunks",
]


def maybe_checkpoint(module: nn.Module, fn, *args):
    """Run ``fn(*args)`` under non-reentrant activation checkpointing if ``module.checkpointing``
    is set, the module is training and grad mode is on; plain call otherwise."""
    if getattr(module, "checkpointing", False) and module.training and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def conv_time_streaming(conv: nn.Module, x: Tensor, cache: dict, key: str, n_keep: int) -> Tensor:
    """"Same" convolution along axis 2 (time) of ``x [N, C, L]`` / ``[N, C, L, F]`` for one block.

    The left ``p = kernel // 2`` frames come from ``cache[key]`` (zeros if absent), the right ``p``
    frames are zeros; ``cache[key]`` becomes the last ``p`` frames of ``cat(cache, x[:, :, :n_keep])``.
    Returns ``[N, C_out, L(, F)]``; a Conv2d keeps its own frequency padding.
    """
    p = int(conv.padding[0])
    if p == 0:
        return conv(x)
    left = cache.get(key)
    if left is None:
        left = x.new_zeros(*x.shape[:2], p, *x.shape[3:])
    right = x.new_zeros(*x.shape[:2], p, *x.shape[3:])
    xp = torch.cat([left, x, right], dim=2)
    cache[key] = torch.cat([left, x[:, :, :n_keep]], dim=2)[:, :, -p:].clone()
    if isinstance(conv, nn.Conv2d):
        return F.conv2d(xp, conv.weight, conv.bias, conv.stride, (0, conv.padding[1]), conv.dilation, conv.groups)
    return F.conv1d(xp, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)


def _padded(n: int, length: int, c: int, p: int, like: Tensor) -> Tensor:
    """``[N, L + 2p, C]`` buffer with the ``p`` rows at both ends of every sequence zeroed."""
    buf = like.new_empty(n, length + 2 * p, c)
    if p:
        buf[:, :p] = 0
        buf[:, length + p:] = 0
    return buf


def _conv_input(x: Tensor, p: int, swiglu: bool, silu_a: Optional[Tensor] = None) -> Tensor:
    """Zero-padded conv input ``[N, L + 2p, C]`` from ``x [N, L, C]`` (or ``SwiGLU(x)``, C = C_x / 2;
    ``silu_a``: ``SiLU`` of the first half if already computed)."""
    n, length, c = x.shape
    if swiglu:
        a, g = x.chunk(2, dim=-1)
        xp = _padded(n, length, c // 2, p, x)
        torch.mul(F.silu(a) if silu_a is None else silu_a, g, out=xp[:, p: p + length])
    else:
        xp = _padded(n, length, c, p, x)
        xp[:, p: p + length] = x
    return xp


def _shift_gemm(xp: Tensor, weight: Tensor, bias: Optional[Tensor], length: int) -> Tensor:
    """``y[n, t] = bias + sum_j W_j xp[n, t + j]`` for ``xp [N, L + 2p, C]``, ``weight [O, C, k]``.

    Over the flattened rows of ``xp`` every tap is one GEMM on a contiguous row range accumulated
    in place (rows between sequences are computed and dropped). Returns a ``[N, L, O]`` view.
    """
    n, pl, c = xp.shape
    k = weight.shape[-1]
    o = weight.shape[0]
    rows = n * pl - (k - 1)
    x2 = xp.view(n * pl, c)
    acc = xp.new_empty(n * pl, o)
    w = weight.to(xp.dtype)
    out = acc[:rows]
    if bias is not None:
        torch.addmm(bias.to(xp.dtype), x2[0:rows], w[:, :, 0].t(), out=out)
    else:
        torch.mm(x2[0:rows], w[:, :, 0].t(), out=out)
    for j in range(1, k):
        out.addmm_(x2[j: j + rows], w[:, :, j].t())
    return acc.view(n, pl, o)[:, :length]


def _rms_forward(x: Tensor, weight: Tensor, eps: float):
    """``(RMSNorm(x) in x.dtype, rstd)`` with float32 math (as :class:`_RMSNormFn`)."""
    xf = x.float()
    rstd = torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True).add_(eps))
    return (xf * rstd).mul_(weight.float()).to(x.dtype), rstd


def _rms_backward(x: Tensor, weight: Tensor, rstd: Tensor, grad: Tensor, need_w: bool):
    """``(grad_x, grad_weight)`` of :func:`_rms_forward`."""
    xhat = x.float() * rstd
    grad = grad.float()
    grad_w = (grad * xhat).reshape(-1, x.shape[-1]).sum(0).to(weight.dtype) if need_w else None
    gw = grad * weight.float()
    m = (gw * xhat).mean(dim=-1, keepdim=True)
    return torch.addcmul(gw, xhat, m, value=-1.0).mul_(rstd).to(x.dtype), grad_w


class _SeqConv(torch.autograd.Function):
    """"Same" Conv1d along L of a channels-last ``x [N, L, C]``, optionally of ``SwiGLU(x)``
    (``swiglu=True``: ``x = [a, g]``, the conv input is ``SiLU(a) * g``) or of ``RMSNorm(x)``
    (``norm_weight`` given).

    Written as one GEMM per tap on the zero-padded, flattened sequence (:func:`_shift_gemm`): no
    transposes, no im2col. Saves only ``x`` (not the padded input nor the SwiGLU / RMSNorm
    output; both are rebuilt in backward). ``weight [O, C', k]`` and ``bias [O]`` are a Conv1d's
    parameters. Returns ``[N, L, O]``.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, x: Tensor, weight: Tensor, bias: Optional[Tensor], swiglu: bool,
                norm_weight: Optional[Tensor] = None, eps: float = 1e-6) -> Tensor:
        ctx.swiglu = swiglu
        ctx.eps = eps
        xin = x
        if norm_weight is not None:
            xin, rstd = _rms_forward(x, norm_weight, eps)
            ctx.save_for_backward(x, weight, bias, norm_weight, rstd)
        else:
            ctx.save_for_backward(x, weight, bias, None, None)
        xp = _conv_input(xin, weight.shape[-1] // 2, swiglu)
        return _shift_gemm(xp, weight, bias, x.shape[1])

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad: Tensor):
        x_raw, weight, bias, norm_weight, rstd = ctx.saved_tensors
        x = x_raw
        if norm_weight is not None:
            x = (x_raw.float() * rstd).mul_(norm_weight.float()).to(x_raw.dtype)
        k = weight.shape[-1]
        p = k // 2
        o = weight.shape[0]
        n, length, _ = x.shape
        pl = length + 2 * p
        rows = n * pl - (k - 1)
        silu_a = F.silu(x.chunk(2, dim=-1)[0]) if ctx.swiglu else None
        xp = _conv_input(x, p, ctx.swiglu, silu_a)  # [N, L + 2p, C]
        c = xp.shape[-1]
        # gradient of the output rows in the padded row grid (zeros between sequences)
        gp = grad.new_empty(n, pl, o)
        gp[:, :length] = grad
        gp[:, length:] = 0
        g2 = gp.view(n * pl, o)[:rows]
        x2 = xp.view(n * pl, c)
        grad_w = grad_b = grad_x = grad_nw = None
        if ctx.needs_input_grad[1]:
            grad_w = torch.stack([g2.t() @ x2[j: j + rows] for j in range(k)], dim=-1)  # [O, C, k]
        if bias is not None and ctx.needs_input_grad[2]:
            grad_b = grad.reshape(-1, o).sum(0)
        if ctx.needs_input_grad[0] or (norm_weight is not None and ctx.needs_input_grad[4]):
            w = weight.to(g2.dtype)
            gx = xp.new_empty(n * pl, c)
            torch.mm(g2, w[:, :, 0], out=gx[:rows])
            gx[rows:] = 0
            for j in range(1, k):
                gx[j: j + rows].addmm_(g2, w[:, :, j])
            grad_h = gx.view(n, pl, c)[:, p: p + length]  # [N, L, C]
            if ctx.swiglu:
                a, g = x.chunk(2, dim=-1)
                grad_x = torch.empty_like(x)
                ha = a.shape[-1]
                torch.ops.aten.silu_backward.grad_input(grad_h * g, a, grad_input=grad_x[..., :ha])
                torch.mul(grad_h, silu_a, out=grad_x[..., ha:])
            else:
                grad_x = grad_h
            if norm_weight is not None:
                grad_x, grad_nw = _rms_backward(x_raw, norm_weight, rstd, grad_x, ctx.needs_input_grad[4])
        return grad_x, grad_w, grad_b, None, grad_nw, None


def seq_conv(x: Tensor, conv: nn.Module, swiglu: bool = False, norm: Optional["RMSNorm"] = None) -> Tensor:
    """``conv`` ("same" padding, stride 1) along L of ``x [N, L, C]`` (of ``SwiGLU(x)`` if
    ``swiglu``) -> ``[N, L, O]``; the memory-lean equivalent of
    ``conv(f(x).transpose(1, 2)).transpose(1, 2)``; an ``nn.Linear`` counts as kernel size 1.
    ``norm``: an :class:`RMSNorm` applied first (``f = norm``), fused: only ``x`` is saved."""
    weight = conv.weight if conv.weight.dim() == 3 else conv.weight.unsqueeze(-1)  # nn.Linear: k = 1
    if norm is None:
        return _SeqConv.apply(x, weight, conv.bias, swiglu)
    return _SeqConv.apply(x, weight, conv.bias, swiglu, norm.weight, norm.eps)


class _RMSNormFn(torch.autograd.Function):
    """``x * rsqrt(mean(x^2) + eps) * w`` over the last axis, computed in float32, returned in
    ``x``'s dtype, with a written-out backward; saves ``x`` as given (bf16 stays bf16) and the
    per-row float32 ``rstd``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, eps: float) -> Tensor:
        y, rstd = _rms_forward(x, weight, eps)
        ctx.save_for_backward(x, weight, rstd)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight, rstd = ctx.saved_tensors
        grad_x, grad_w = _rms_backward(x, weight, rstd, grad, ctx.needs_input_grad[1])
        return grad_x, grad_w, None


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last axis with a learned gain (no bias).

    Computed in float32 by one autograd function (forward ``x * rstd * w`` as before, backward
    written out); any other input dtype (bf16 under autocast) is upcast inside and the result
    cast back, as before, and only the bf16 input is kept for backward.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return _RMSNormFn.apply(x, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, eps={self.eps}"


def sinusoidal_embedding(length: int, dim: int, max_timescale: float = 10000.0) -> Tensor:
    """``[length, dim]`` table ``[sin(p * w_k), cos(p * w_k)]``.

    ``w_k = max_timescale ** (-k / (dim/2 - 1))``, ``k = 0 ... dim/2 - 1``.
    """
    if dim % 2:
        raise ValueError(f"sinusoidal_embedding: dim must be even, got {dim}")
    half = dim // 2
    step = math.log(max_timescale) / max(half - 1, 1)
    inv = torch.exp(-step * torch.arange(half, dtype=torch.float64))
    ang = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([ang.sin(), ang.cos()], dim=1).float()


def _rotate_half_pairs(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    xf = x.float()
    half = x.shape[-1] // 2
    x1, x2 = xf[..., :half], xf[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


class _RotateFn(torch.autograd.Function):
    """RoPE rotation of half-split pairs; backward = rotation by the negative angle."""

    @staticmethod
    def forward(ctx, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        ctx.save_for_backward(cos, sin)
        return _rotate_half_pairs(x, cos, sin)

    @staticmethod
    def backward(ctx, grad: Tensor):
        cos, sin = ctx.saved_tensors
        return _rotate_half_pairs(grad, cos, -sin), None, None


class RotaryEmbedding(nn.Module):
    """Rotary position embedding over the sequence axis (dim -2) of ``[..., L, head_dim]``."""

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RotaryEmbedding: head_dim must be even, got {head_dim}")
        self.head_dim = int(head_dim)
        inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv, persistent=False)

    #: cached (cos, sin) pairs per RotaryEmbedding; cleared when it would grow past this
    max_cached_tables = 16

    def cos_sin(self, length: int, device: torch.device, offset: int = 0):
        """``(cos, sin)`` tables ``[length, head_dim / 2]`` for positions ``offset ... offset+length-1``.

        Cached per ``(length, offset, device, dtype and device of inv_freq)``: a new length, a
        move to another device or a dtype change computes (and caches) fresh tables.
        """
        inv = self.inv_freq
        device = torch.device(device)
        key = (int(length), int(offset), str(device), str(inv.device), inv.dtype)
        cache = self.__dict__.setdefault("_tables", {})
        hit = cache.get(key)
        if hit is None:
            # normal tensors even inside inference_mode (they are reused in training)
            with torch.inference_mode(False), torch.no_grad():
                pos = torch.arange(length, device=device, dtype=torch.float32) + float(offset)
                ang = pos[:, None] * inv.to(device)[None, :]
                hit = (ang.cos(), ang.sin())
            if len(cache) >= self.max_cached_tables:
                cache.clear()
            cache[key] = hit
        return hit

    def clear_cache(self) -> None:
        """Drop the cached tables."""
        self.__dict__.pop("_tables", None)

    def rotate(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """Rotate ``x [..., L, head_dim]`` with precomputed tables (float32 math; the backward is
        the inverse rotation, so nothing but the tables is saved)."""
        return _RotateFn.apply(x, cos, sin)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        cos, sin = self.cos_sin(x.shape[-2], x.device, offset)
        return self.rotate(x, cos, sin)


class MultiHeadSelfAttention(nn.Module):
    """Bias-free MHSA with optional RoPE; ``[N, L, d] -> [N, L, d]`` (no norm, no residual)."""

    def __init__(self, d_model: int, num_heads: int, rope: Optional[RotaryEmbedding] = None) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"MHSA: d_model={d_model} not divisible by num_heads={num_heads}")
        self.num_heads = int(num_heads)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.rope = rope

    def _qkv(self, x: Tensor, offset: int, norm: Optional["RMSNorm"] = None):
        """Project ``x [N, L, d]`` (``norm(x)`` if given, fused) to ``q, k, v [N, H, L, dh]``; q
        and k rotated (frames ``offset ...``)."""
        n, length, d = x.shape
        qkv = self.qkv(x) if norm is None else seq_conv(x, self.qkv, norm=norm)
        qkv = qkv.view(n, length, 3, self.num_heads, d // self.num_heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # [3, N, H, L, dh]
        if self.rope is None:
            return qkv.unbind(0)
        cos, sin = self.rope.cos_sin(length, x.device, offset)
        q, k = self.rope.rotate(qkv[:2], cos, sin).unbind(0)  # q and k in one pass
        # own copy of v: the projection output is not kept alive for backward through a view
        return q, k, qkv[2].contiguous()

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None, offset: int = 0,
                norm: Optional["RMSNorm"] = None) -> Tensor:
        """``x [N, L, d]`` -> ``[N, L, d]``; ``norm``: pre-norm applied to ``x`` (fused with the projection)."""
        n, length, d = x.shape
        q, k, v = self._qkv(x, offset, norm)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.out(y.transpose(1, 2).reshape(n, length, d))

    def forward_streaming(self, x: Tensor, cache: dict, offset: int, n_keep: int, max_past: int) -> Tensor:
        """Block ``x [N, L, d]`` (frames ``offset ...``) attending to itself and the cached past.

        ``cache["k"], cache["v"]``: ``[N, H, <= max_past, dh]`` rotated keys / values of the
        previous present frames; updated with the first ``n_keep`` frames of this block.
        """
        n, length, d = x.shape
        q, k, v = self._qkv(x, offset)
        k_all, v_all = k, v
        if "k" in cache:
            k_all, v_all = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
        y = F.scaled_dot_product_attention(q, k_all, v_all)
        if max_past > 0:
            kept = k_all.shape[2] - length + n_keep  # cached + present frames
            lo = max(0, kept - max_past)
            cache["k"] = k_all[:, :, lo:kept].clone()
            cache["v"] = v_all[:, :, lo:kept].clone()
        return self.out(y.transpose(1, 2).reshape(n, length, d))


class SwiGLU(nn.Module):
    """Split the last (``dim``) axis in halves ``a, g``: ``SiLU(a) * g``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        a, g = x.chunk(2, dim=self.dim)
        return F.silu(a) * g


class ConvFFN(nn.Module):
    """Pre-norm convolutional SwiGLU feed-forward along the sequence axis (returns the residual branch)."""

    def __init__(self, d_model: int, hidden: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"ConvFFN: kernel_size must be odd ('same' padding), got {kernel_size}")
        pad = kernel_size // 2
        self.norm = RMSNorm(d_model)
        self.conv_in = nn.Conv1d(d_model, 2 * hidden, kernel_size, padding=pad)
        self.act = SwiGLU(dim=1)
        self.conv_out = nn.Conv1d(hidden, d_model, kernel_size, padding=pad)

    def forward(self, x: Tensor) -> Tensor:
        u = seq_conv(x, self.conv_in, norm=self.norm)  # [N, L, 2h], channels last, RMSNorm fused
        return seq_conv(u, self.conv_out, swiglu=True)  # [N, L, d]

    def forward_streaming(self, x: Tensor, cache: dict, n_keep: int) -> Tensor:
        """Block ``x [N, L, d]`` with left context from ``cache`` (see :func:`conv_time_streaming`)."""
        h = self.norm(x).transpose(1, 2)  # [N, d, L]
        h = conv_time_streaming(self.conv_in, h, cache, "conv_in", n_keep)
        h = conv_time_streaming(self.conv_out, self.act(h), cache, "conv_out", n_keep)
        return h.transpose(1, 2)


class TransBlock(nn.Module):
    """Macaron transformer block on ``[N, L, d]``: ``x + FFN/2``, ``x + MHSA``, ``x + FFN/2``."""

    def __init__(self, d_model: int, ffn_hidden: int, num_heads: int, kernel_size: int,
                 rope: Optional[RotaryEmbedding]) -> None:
        super().__init__()
        self.ffn1 = ConvFFN(d_model, ffn_hidden, kernel_size)
        self.attn_norm = RMSNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, num_heads, rope)
        self.ffn2 = ConvFFN(d_model, ffn_hidden, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.add(x, self.ffn1(x), alpha=0.5)  # x + ffn/2 in one pass (0.5 * y is exact)
        x = x + self.attn(x, norm=self.attn_norm)
        return torch.add(x, self.ffn2(x), alpha=0.5)

    def forward_streaming(self, x: Tensor, cache: dict, offset: int, n_keep: int, max_past: int) -> Tensor:
        """Block ``x [N, L, d]`` of frames ``offset ...``; ``cache`` holds one sub-dict per layer."""
        x = x + 0.5 * self.ffn1.forward_streaming(x, cache.setdefault("ffn1", {}), n_keep)
        x = x + self.attn.forward_streaming(self.attn_norm(x), cache.setdefault("attn", {}), offset,
                                            n_keep, max_past)
        return x + 0.5 * self.ffn2.forward_streaming(x, cache.setdefault("ffn2", {}), n_keep)


#: elements of one ``d``-wide chunk of sequences (4 MB in float32) processed at a time by the
#: dual-path blocks (see :class:`TFBlock`); the ``2 * ffn_hidden``-wide intermediates are about
#: 4x that, which stays below glibc's largest mmap threshold (32 MB), so they reuse heap memory
CHUNK_ELEMENTS = 1 << 20


def chunk_rows(total: int, row_elements: int, chunk_elements: int, device: torch.device) -> int:
    """Rows per chunk so that one chunk holds about ``chunk_elements`` elements (at least one row;
    ``chunk_elements <= 0`` or a non-CPU ``device``: all rows at once; a GPU's caching allocator
    already reuses memory, and chunks would only add kernel launches)."""
    if chunk_elements <= 0 or device.type != "cpu":
        return max(total, 1)
    return max(1, min(total, chunk_elements // max(row_elements, 1)))


def map_chunks(fn, x: Tensor, dim: int, step: int) -> Tensor:
    """``fn`` (shape-preserving) on chunks of ``step`` along ``dim`` of ``x``, joined along ``dim``
    (contiguous). With autograd the chunks are split and concatenated (each chunk's gradient is
    one slice of one concatenation); without, they are written into one output buffer."""
    total = x.shape[dim]
    if step >= total:
        return fn(x).contiguous()
    if torch.is_grad_enabled():
        return torch.cat([fn(part) for part in x.split(step, dim)], dim)
    out = torch.empty_like(x)
    for i in range(0, total, step):
        size = min(step, total - i)
        out.narrow(dim, i, size).copy_(fn(x.narrow(dim, i, size)))
    return out


class TFBlock(nn.Module):
    """Dual-path block on ``[B, N, F, d]``: TransBlock along frequency, then along time.

    On the CPU both paths run on chunks of their independent sequences (frames for the frequency
    path, bins for the time path; about ``chunk_elements`` elements each, ``0``: one chunk): the same
    functions on each sequence, so the output does not depend on the chunking, while every
    intermediate of a chunk stays small (cache-resident, and reused heap memory instead of fresh
    pages for every op of a 10-s input). Without autograd the chunks are written into one output
    buffer and the time path reads its bins straight from the frequency path's output (no
    transposed copies of the whole tensor); with autograd they are split and concatenated (each
    chunk's gradient is one slice of one concatenation).
    """

    def __init__(self, d_model: int, ffn_hidden: int, num_heads: int, kernel_size: int = 3) -> None:
        super().__init__()
        head_dim = d_model // num_heads
        self.freq = TransBlock(d_model, ffn_hidden, num_heads, kernel_size, RotaryEmbedding(head_dim))
        self.time = TransBlock(d_model, ffn_hidden, num_heads, kernel_size, RotaryEmbedding(head_dim))
        self.checkpointing = False
        self.chunk_elements = CHUNK_ELEMENTS

    def _freq_path(self, x: Tensor) -> Tensor:
        """TransBlock over F for every frame of ``x [B, N, F, d]`` -> ``[B, N, F, d]``."""
        b, n, f, d = x.shape
        step = chunk_rows(b * n, f * d, self.chunk_elements, x.device)
        return map_chunks(self.freq, x.reshape(b * n, f, d), 0, step).view(b, n, f, d)

    def _time_path(self, x: Tensor) -> Tensor:
        """TransBlock over N for every bin of ``x [B, N, F, d]`` -> ``[B, N, F, d]``."""
        b, n, f, d = x.shape

        def run(part: Tensor) -> Tensor:  # [B, N, f', d] -> same, through [B * f', N, d]
            fp = part.shape[2]
            return self.time(part.transpose(1, 2).reshape(b * fp, n, d)).view(b, fp, n, d).transpose(1, 2)

        return map_chunks(run, x, 2, chunk_rows(f, b * n * d, self.chunk_elements, x.device))

    def _forward(self, x: Tensor) -> Tensor:
        return self._time_path(self._freq_path(x))

    def forward(self, x: Tensor) -> Tensor:
        return maybe_checkpoint(self, self._forward, x)

    def forward_streaming(self, x: Tensor, cache: dict, offset: int, n_keep: int, max_past: int) -> Tensor:
        """Block ``x [B, L, F, d]`` of frames ``offset ...``: stateless frequency path, cached time path."""
        b, n, f, d = x.shape
        x = self._freq_path(x)
        x = x.transpose(1, 2).reshape(b * f, n, d)
        x = self.time.forward_streaming(x, cache, offset, n_keep, max_past).view(b, f, n, d)
        return x.transpose(1, 2).contiguous()
