"""Shared ViT blocks: timm parameter names, attention layout, checkpointing, patch embedding."""
import math

import pytest
import torch
import torch.nn.functional as F

from s5tse.models.tagger.vit import (Attention, Block, Blocks, DropPath, PatchEmbed,
                                     init_vit_weights)

TIMM_BLOCK_KEYS = {
    f"{m}.{p}" for m in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
    for p in ("weight", "bias")
}


def _reference_block(blk: Block, x: torch.Tensor) -> torch.Tensor:
    """The timm ViT block written out with explicit softmax attention."""
    B, N, D = x.shape
    H = blk.attn.num_heads
    hd = D // H
    h = F.layer_norm(x, (D,), blk.norm1.weight, blk.norm1.bias, 1e-6)
    qkv = h @ blk.attn.qkv.weight.t() + blk.attn.qkv.bias
    q, k, v = qkv.reshape(B, N, 3, H, hd).permute(2, 0, 3, 1, 4)
    a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
    o = (a @ v).transpose(1, 2).reshape(B, N, D)
    x = x + o @ blk.attn.proj.weight.t() + blk.attn.proj.bias
    h = F.layer_norm(x, (D,), blk.norm2.weight, blk.norm2.bias, 1e-6)
    h = h @ blk.mlp.fc1.weight.t() + blk.mlp.fc1.bias
    h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))  # exact GELU
    return x + h @ blk.mlp.fc2.weight.t() + blk.mlp.fc2.bias


def test_block_parameter_names_and_shapes():
    blk = Block(dim=48, num_heads=4)
    sd = blk.state_dict()
    assert set(sd) == TIMM_BLOCK_KEYS
    assert sd["attn.qkv.weight"].shape == (144, 48)
    assert sd["attn.qkv.bias"].shape == (144,)
    assert sd["mlp.fc1.weight"].shape == (192, 48)
    assert sd["mlp.fc2.weight"].shape == (48, 192)
    assert blk.norm1.eps == 1e-6 and blk.norm2.eps == 1e-6
    assert blk.mlp.act.approximate == "none"


def test_block_matches_explicit_timm_computation():
    torch.manual_seed(0)
    blk = Block(dim=32, num_heads=4).eval()
    for p in blk.parameters():  # non-trivial LayerNorm/bias values
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 7, 32)
    y = blk(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, _reference_block(blk, x), rtol=1e-5, atol=1e-5)


def test_blocks_keys_and_grad_checkpointing_equivalence():
    torch.manual_seed(1)
    blocks = Blocks(depth=3, dim=16, num_heads=2)
    assert {k for k in blocks.state_dict() if k.startswith("2.")} == {
        "2." + k for k in TIMM_BLOCK_KEYS}
    x = torch.randn(2, 5, 16, requires_grad=True)
    y0 = blocks(x)
    (g0,) = torch.autograd.grad(y0.square().sum(), x)
    blocks.grad_checkpointing = True
    y1 = blocks(x)
    (g1,) = torch.autograd.grad(y1.square().sum(), x)
    torch.testing.assert_close(y0, y1, rtol=0, atol=0)
    torch.testing.assert_close(g0, g1, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(blocks(x), y0, rtol=0, atol=0)


def test_attention_checks_heads():
    with pytest.raises(ValueError, match="divisible"):
        Attention(dim=10, num_heads=3)
    with pytest.raises(ValueError):
        Blocks(depth=0, dim=8, num_heads=2)


def test_drop_path_is_identity_in_eval_and_rates_increase():
    x = torch.randn(4, 3, 8)
    dp = DropPath(0.5).eval()
    assert torch.equal(dp(x), x)
    blocks = Blocks(depth=3, dim=8, num_heads=2, drop_path_rate=0.2)
    assert [b.drop_path.p for b in blocks] == pytest.approx([0.0, 0.1, 0.2])


def test_patch_embed_grid_and_names():
    pe = PatchEmbed(in_chans=1, embed_dim=12, patch_size=16)
    assert set(pe.state_dict()) == {"proj.weight", "proj.bias"}
    assert pe(torch.randn(2, 1, 80, 1001)).shape == (2, 12, 5, 62)
    # fPaSST-style frame patches: kernel (128, 2), stride 1, padding (0, 1)
    fp = PatchEmbed(in_chans=16, embed_dim=8, patch_size=(128, 2), stride=1, padding=(0, 1))
    assert fp.proj.weight.shape == (8, 16, 128, 2)
    assert fp(torch.randn(1, 16, 128, 250)).shape == (1, 8, 1, 251)
    with pytest.raises(ValueError):
        pe(torch.randn(1, 80, 100))


def test_init_vit_weights():
    torch.manual_seed(0)
    blk = Block(dim=64, num_heads=2)
    blk.apply(init_vit_weights)
    assert torch.equal(blk.norm1.weight, torch.ones(64))
    assert torch.equal(blk.attn.qkv.bias, torch.zeros(192))
    assert abs(float(blk.mlp.fc1.weight.detach().std()) - 0.02) < 0.003
