import math

import torch

from s5tse.models.separator.sr_corrnet.blocks import (
    ConvFFN,
    MultiHeadSelfAttention,
    RMSNorm,
    RotaryEmbedding,
    TFBlock,
    sinusoidal_embedding,
)


def test_rmsnorm():
    norm = RMSNorm(6)
    x = torch.randn(3, 5, 6) * 7.0
    y = norm(x)
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(3, 5), rtol=1e-4, atol=1e-4)


def test_sinusoidal_embedding():
    pe = sinusoidal_embedding(10, 8)
    assert pe.shape == (10, 8)
    assert torch.allclose(pe[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert torch.allclose(pe[3, 0], torch.tensor(math.sin(3.0)))  # fastest timescale = 1
    assert torch.allclose(pe[:, :4] ** 2 + pe[:, 4:] ** 2, torch.ones(10, 4), atol=1e-6)


def test_rope_relative_and_norm_preserving():
    torch.manual_seed(0)
    rope = RotaryEmbedding(8)
    q = torch.randn(1, 1, 1, 8).expand(1, 1, 12, 8)
    k = torch.randn(1, 1, 1, 8).expand(1, 1, 12, 8)
    rq, rk = rope(q), rope(k)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))
    dots = (rq[0, 0, :, None, :] * rk[0, 0, None, :, :]).sum(-1)  # [Lq, Lk]
    # same relative offset -> same score
    torch.testing.assert_close(dots[2, 5], dots[6, 9], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dots[7, 1], dots[10, 4], rtol=1e-5, atol=1e-5)
    # the offset shifts absolute positions
    torch.testing.assert_close(rope(q[..., :4, :], offset=3), rq[..., 3:7, :], rtol=1e-5, atol=1e-5)


def test_attention_and_convffn_shapes():
    x = torch.randn(5, 11, 8)
    assert MultiHeadSelfAttention(8, 2, RotaryEmbedding(4))(x).shape == x.shape
    assert ConvFFN(8, 16, 3)(x).shape == x.shape


def test_tf_block_shape_and_checkpointing():
    torch.manual_seed(0)
    block = TFBlock(8, 16, 2, 3).train()
    x = torch.randn(2, 7, 9, 8, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    g = torch.autograd.grad(y.square().sum(), [x] + list(block.parameters()))
    block.checkpointing = True
    y2 = block(x)
    g2 = torch.autograd.grad(y2.square().sum(), [x] + list(block.parameters()))
    torch.testing.assert_close(y2, y)
    for a, b in zip(g, g2):
        torch.testing.assert_close(a, b)


def test_tf_block_mixes_time_and_frequency():
    torch.manual_seed(0)
    block = TFBlock(8, 16, 2, 3).eval()
    x = torch.randn(1, 6, 5, 8)
    y0 = block(x)
    x2 = x.clone()
    x2[0, 0, 0] += 1.0  # perturb one (t, f) bin
    diff = (block(x2) - y0).abs().sum(-1)[0]  # [N, F]
    assert (diff > 0).all()  # freq path then time path reaches every bin
