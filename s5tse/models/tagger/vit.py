"""Plain ViT building blocks with timm-compatible parameter names (shared by M2D and fPaSST).

Published M2D and fPaSST checkpoints store timm ``VisionTransformer`` parameter names. The
modules here reproduce those names, so a checkpoint loads with plain ``load_state_dict``
without depending on timm (whose ViT internals changed across versions)::

    patch_embed.proj.{weight,bias}                       PatchEmbed (Conv2d)
    blocks.{i}.norm1.{weight,bias}                       LayerNorm(dim, eps=1e-6)
    blocks.{i}.attn.qkv.{weight,bias}                    Linear(dim, 3*dim), qkv bias
    blocks.{i}.attn.proj.{weight,bias}                   Linear(dim, dim)
    blocks.{i}.norm2.{weight,bias}                       LayerNorm(dim, eps=1e-6)
    blocks.{i}.mlp.fc1.{weight,bias}                     Linear(dim, mlp_ratio*dim)
    blocks.{i}.mlp.fc2.{weight,bias}                     Linear(mlp_ratio*dim, dim)

A block is pre-norm with residuals, ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``, exact
(erf) GELU, and multi-head attention through ``F.scaled_dot_product_attention``. The qkv
projection is split as timm does: ``qkv(x).reshape(B, N, 3, heads, head_dim)``.

    Block(dim, num_heads)(x [B, N, D]) -> [B, N, D]
    Blocks(depth, dim, num_heads)(x)   -> [B, N, D]   (an nn.ModuleList: keys blocks.{i}.*)
    PatchEmbed(in_chans, embed_dim, patch_size)(x [B, C, H, W]) -> [B, D, H', W']

``Blocks.grad_checkpointing = True`` recomputes each block's activations in the backward
pass (``torch.utils.checkpoint``, non-reentrant) while gradients are enabled.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = [
    "LN_EPS",
    "Attention",
    "Mlp",
    "DropPath",
    "Block",
    "Blocks",
    "PatchEmbed",
    "layer_norm",
    "init_vit_weights",
]

LN_EPS: float = 1e-6

_Size2 = Union[int, Tuple[int, int], Sequence[int]]


def _pair(v: _Size2) -> Tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(x) for x in v)
    if len(t) != 2:
        raise ValueError(f"expected an int or a pair, got {v!r}")
    return t  # type: ignore[return-value]


def layer_norm(dim: int, eps: float = LN_EPS) -> nn.LayerNorm:
    """The ViT LayerNorm (eps 1e-6, as timm's ViT and the published checkpoints)."""
    return nn.LayerNorm(dim, eps=eps)


class Attention(nn.Module):
    """Multi-head self-attention; parameters ``qkv`` and ``proj`` (timm names)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_drop = float(attn_drop)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, H, N, hd] each
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        x = x.transpose(1, 2).reshape(B, N, D)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` with exact GELU (timm names ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()  # approximate="none": erf GELU, as the checkpoints were trained
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth per sample (identity in eval mode or with ``p == 0``)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 eps: float = LN_EPS, *, attn_drop: float = 0.0, proj_drop: float = 0.0,
                 drop_path: float = 0.0):
        super().__init__()
        self.norm1 = layer_norm(dim, eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop,
                              proj_drop=proj_drop)
        self.norm2 = layer_norm(dim, eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=proj_drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


class Blocks(nn.ModuleList):
    """``depth`` Blocks applied in sequence; an ``nn.ModuleList``, so keys are ``<name>.{i}.*``.

    ``drop_path_rate`` rises linearly from 0 (first block) to the given rate (last block).
    With ``grad_checkpointing`` set, each block is recomputed in the backward pass (only
    while autograd records, so inference is unaffected).
    """

    def __init__(self, depth: int, dim: int, num_heads: int, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, eps: float = LN_EPS, *, drop_path_rate: float = 0.0,
                 grad_checkpointing: bool = False):
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        super().__init__(
            Block(dim, num_heads, mlp_ratio, qkv_bias, eps, drop_path=r) for r in rates)
        self.grad_checkpointing = bool(grad_checkpointing)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        use_ckpt = self.grad_checkpointing and torch.is_grad_enabled()
        for blk in self:
            if use_ckpt:
                x = checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        return x


class PatchEmbed(nn.Module):
    """Patch tokeniser ``proj`` = Conv2d(in_chans, embed_dim, patch_size, stride, padding).

    Returns the token grid ``[B, embed_dim, H', W']`` (not flattened, so callers can crop
    positional embeddings per axis). ``stride`` defaults to ``patch_size`` (no overlap).
    """

    def __init__(self, in_chans: int, embed_dim: int, patch_size: _Size2,
                 stride: _Size2 | None = None, padding: _Size2 = 0):
        super().__init__()
        self.patch_size = _pair(patch_size)
        self.stride = _pair(stride) if stride is not None else self.patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=self.patch_size,
                              stride=self.stride, padding=_pair(padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"PatchEmbed expects [B, C, H, W], got shape {tuple(x.shape)}")
        return self.proj(x)


@torch.no_grad()
def init_vit_weights(module: nn.Module) -> None:
    """timm-like initialisation, for ``model.apply(init_vit_weights)``.

    Linear: truncated normal (std 0.02), zero bias; LayerNorm: ones/zeros; PatchEmbed conv:
    Xavier-uniform on the flattened kernel, zero bias. Pretrained weights overwrite all of it.
    """
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        if module.weight is not None:
            nn.init.ones_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, PatchEmbed):
        w = module.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        if module.proj.bias is not None:
            nn.init.zeros_(module.proj.bias)
