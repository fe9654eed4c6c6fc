"""Fused / cached paths of the SR-CorrNet separator (issue 14) against independent computations."""
import copy

import pytest
import torch
import torch.nn.functional as F

from s5tse.models.separator.sr_corrnet import LabelQueriedSRCorrNet
from s5tse.models.separator.sr_corrnet.blocks import (
    ConvFFN,
    MultiHeadSelfAttention,
    RMSNorm,
    RotaryEmbedding,
    TFBlock,
    _SeqConv,
    chunk_rows,
    seq_conv,
)
from s5tse.models.separator.sr_corrnet.correlation import neighbourhood_ri, unfold_neighbourhood
from s5tse.models.separator.sr_corrnet.decoder import CrossSlotBlock
from s5tse.models.separator.sr_corrnet.filter import FilterEstimator, apply_miso_filter


def _tables(length, head_dim, offset=0, dtype=torch.float64):
    """RoPE cos/sin from the definition, in float64."""
    inv = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = (torch.arange(length, dtype=torch.float64) + offset)[:, None] * inv[None]
    return ang.cos().to(dtype), ang.sin().to(dtype)


def test_rope_tables_follow_length_offset_dtype_and_device():
    rope = RotaryEmbedding(8)
    for length, offset in [(5, 0), (7, 0), (5, 0), (5, 3), (1, 11)]:
        cos, sin = rope.cos_sin(length, torch.device("cpu"), offset)
        ref_cos, ref_sin = _tables(length, 8, offset, torch.float32)
        assert cos.shape == (length, 4)
        torch.testing.assert_close(cos, ref_cos, rtol=0, atol=1e-6)
        torch.testing.assert_close(sin, ref_sin, rtol=0, atol=1e-6)
    rope.double()  # dtype change: fresh float64 tables, not the cached float32 ones
    cos, _ = rope.cos_sin(5, torch.device("cpu"))
    assert cos.dtype == torch.float64
    torch.testing.assert_close(cos, _tables(5, 8)[0], rtol=0, atol=1e-8)
    meta = rope.to("meta").cos_sin(5, torch.device("meta"))[0]  # device move: not the CPU tables
    assert meta.device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rope_tables_cpu_cuda_round_trip():
    rope = RotaryEmbedding(8)
    c_cpu = rope.cos_sin(6, torch.device("cpu"))[0]
    rope.cuda()
    c_gpu = rope.cos_sin(6, torch.device("cuda"))[0]
    assert c_gpu.is_cuda
    torch.testing.assert_close(c_gpu.cpu(), c_cpu)
    rope.cpu()
    assert rope.cos_sin(6, torch.device("cpu"))[0].device.type == "cpu"


def test_attention_with_cached_tables_equals_a_fresh_module():
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(8, 2, RotaryEmbedding(4))
    x = {n: torch.randn(3, n, 8) for n in (5, 9)}
    for n in (5, 9, 5, 9):  # lengths change between calls
        fresh = copy.deepcopy(attn)
        fresh.rope.clear_cache()
        torch.testing.assert_close(attn(x[n]), fresh(x[n]), rtol=0, atol=0)


def test_tables_made_in_inference_mode_serve_training():
    torch.manual_seed(0)
    model = LabelQueriedSRCorrNet.from_preset("unit", num_classes=18)
    x = 0.1 * torch.randn(1, 4, 2000)
    strong, weak = torch.ones(1, 3, 5), torch.eye(3, 18)[None]
    with torch.inference_mode():
        model.eval()(x, strong, weak)
    y, _ = model.train()(x, strong, weak)  # same lengths: cached tables, saved for backward
    y.square().mean().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_seq_conv_equals_conv1d_and_gradcheck():
    torch.manual_seed(0)
    for swiglu in (False, True):
        x = torch.randn(2, 6, 8 if swiglu else 4, dtype=torch.float64, requires_grad=True)
        conv = torch.nn.Conv1d(4, 5, 3, padding=1).double()
        h = x
        if swiglu:
            a, g = x.chunk(2, dim=-1)
            h = F.silu(a) * g
        ref = conv(h.transpose(1, 2)).transpose(1, 2)
        torch.testing.assert_close(seq_conv(x, conv, swiglu), ref, rtol=1e-12, atol=1e-12)
        assert torch.autograd.gradcheck(lambda x_, w, b: _SeqConv.apply(x_, w, b, swiglu),
                                        (x, conv.weight, conv.bias))


def test_convffn_equals_transposed_conv1d_form():
    torch.manual_seed(0)
    ffn = ConvFFN(8, 6, 5)
    x = torch.randn(3, 11, 8)
    h = ffn.norm(x).transpose(1, 2)
    a, g = ffn.conv_in(h).chunk(2, dim=1)
    ref = ffn.conv_out(F.silu(a) * g).transpose(1, 2)
    torch.testing.assert_close(ffn(x), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunk", [1 << 22, 50])
def test_fused_filter_equals_complex_einsum(chunk):
    torch.manual_seed(0)
    head = FilterEstimator(6, 3, 4)
    s = torch.randn(2, 3, 7, 5, 6, requires_grad=True)
    spec = torch.randn(2, 3, 5, 7, dtype=torch.complex64)
    taps = ((1, 0), (0, 1))  # L = 2 * 2 = 4
    ref = apply_miso_filter(head(s), unfold_neighbourhood(spec, *taps))
    y = head.filter_spectrum(s, neighbourhood_ri(spec, *taps), chunk_elements=chunk)
    assert y.shape == ref.shape == (2, 3, 5, 7)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    r = torch.randn(ref.shape, dtype=torch.complex64)
    g_ref = torch.autograd.grad((ref * r).real.sum(), [s, head.proj.weight, head.norm.weight])
    g_new = torch.autograd.grad((y * r).real.sum(), [s, head.proj.weight, head.norm.weight])
    for a, b in zip(g_new, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_neighbourhood_ri_layout():
    spec = torch.randn(2, 3, 5, 7, dtype=torch.complex64)
    nb = unfold_neighbourhood(spec, (2, 1), (1, 1))  # [B, M, L, F, N]
    ri = neighbourhood_ri(spec, (2, 1), (1, 1))  # [2, B, N, F, M*L]
    ref = nb.permute(0, 4, 3, 1, 2).reshape(2, 7, 5, -1)
    assert torch.equal(ri[0], ref.real) and torch.equal(ri[1], ref.imag)


def _sdpa_reference(block, s, active):
    """The cross-slot block written with SDPA over [B*N*F, H, K, dh] and an expanded mask."""
    b, k, n, f, d = s.shape
    h = block.num_heads
    x = s.permute(0, 2, 3, 1, 4).reshape(b, n * f, k, d)
    y = block.attn_norm(x) + block.slot_embedding
    q, kk, v = block.qkv(y).view(b * n * f, k, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
    mask = None
    if active is not None:
        m = active[:, None, :] | torch.eye(k, dtype=torch.bool)[None]
        mask = m[:, None, None].expand(b, n * f, 1, k, k).reshape(b * n * f, 1, k, k)
    att = F.scaled_dot_product_attention(q, kk, v, attn_mask=mask)
    x = x + block.out(att.transpose(1, 2).reshape(b, n * f, k, d))
    x = x + block.ffn(block.ffn_norm(x))
    return x.view(b, n, f, k, d).permute(0, 3, 1, 2, 4)


@pytest.mark.parametrize("active", [None, "all", "silent"])
def test_cross_slot_block_equals_sdpa_form(active):
    torch.manual_seed(0)
    block = CrossSlotBlock(8, 2, 12, 3, slot_embedding_std=0.5)
    s = torch.randn(2, 3, 4, 5, 8)
    act = {None: None, "all": torch.ones(2, 3, dtype=torch.bool),
           "silent": torch.tensor([[True, False, True], [True, True, True]])}[active]
    ref = _sdpa_reference(block, s, act)
    torch.testing.assert_close(block(s, act), ref, rtol=1e-5, atol=1e-6)
    if active == "all":  # an all-true mask is the unmasked attention
        torch.testing.assert_close(block(s, act), block(s, None), rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["none", "block", "stage"])
def test_checkpointing_granularity_same_gradients(mode):
    torch.manual_seed(0)
    model = LabelQueriedSRCorrNet.from_preset("unit", num_decoder_blocks=2, num_classes=18)
    x = 0.1 * torch.randn(1, 4, 1500)
    strong, weak = torch.ones(1, 3, 4), torch.eye(3, 18)[None]
    grads = {}
    for m in ("none", mode):
        model.set_activation_checkpointing(m)
        model.zero_grad()
        y, ex = model.train()(x, strong, weak)
        (y.square().mean() + sum(a.square().mean() for a in ex["aux"])).backward()
        grads[m] = [p.grad.clone() for p in model.parameters()]
    assert model.checkpoint_granularity == mode
    for a, b in zip(grads[mode], grads["none"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_checkpoint_option_values():
    m = LabelQueriedSRCorrNet.from_preset("unit", activation_checkpointing="stage", num_classes=18)
    assert m.checkpoint_granularity == "stage"
    m.set_activation_checkpointing(True)  # the trainer's switch keeps the configured granularity
    assert m.checkpoint_granularity == "stage" and m.decoder.stages[0].stage_checkpointing
    m.set_activation_checkpointing(False)
    assert m.checkpoint_granularity == "none" and not m.encoder[0].checkpointing
    with pytest.raises(ValueError):
        LabelQueriedSRCorrNet.from_preset("unit", activation_checkpointing="layer", num_classes=18)


def test_rmsnorm_and_rope_functions_match_autograd_of_the_formulas():
    torch.manual_seed(0)
    norm = RMSNorm(6)
    with torch.no_grad():
        norm.weight.add_(0.3 * torch.randn(6))
    x = torch.randn(4, 5, 6, requires_grad=True)
    r = torch.randn(4, 5, 6)
    ref = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight
    g_ref = torch.autograd.grad((ref * r).sum(), [x, norm.weight])
    y = norm(x)
    torch.testing.assert_close(y, ref, rtol=1e-6, atol=1e-6)
    for a, b in zip(torch.autograd.grad((y * r).sum(), [x, norm.weight]), g_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    rope = RotaryEmbedding(6)
    cos, sin = _tables(5, 6, 2, torch.float32)
    q = torch.randn(3, 5, 6, requires_grad=True)
    plain = torch.cat([q[..., :3] * cos - q[..., 3:] * sin, q[..., :3] * sin + q[..., 3:] * cos], -1)
    out = rope.rotate(q, *rope.cos_sin(5, torch.device("cpu"), 2))
    torch.testing.assert_close(out, plain, rtol=1e-6, atol=1e-6)
    g = torch.randn(3, 5, 6)
    torch.testing.assert_close(torch.autograd.grad((out * g).sum(), q)[0],
                               torch.autograd.grad((plain * g).sum(), q)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel", [1, 3])
def test_seq_conv_with_fused_rmsnorm(kernel):
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 5, kernel, padding=kernel // 2)
    norm = RMSNorm(6)
    with torch.no_grad():
        norm.weight.add_(0.3 * torch.randn(6))
    x = torch.randn(3, 7, 6, requires_grad=True)
    y = seq_conv(x, conv, norm=norm)
    ref = conv(norm(x).transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-6)
    r = torch.randn(y.shape)
    params = [x, norm.weight, conv.weight, conv.bias]
    for a, b in zip(torch.autograd.grad((y * r).sum(), params), torch.autograd.grad((ref * r).sum(), params)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("grad", [False, True])
def test_chunked_blocks_equal_whole_blocks(grad):
    # TF block: chunks of frames (frequency path) and of bins (time path); cross-slot block:
    # chunks of frames; outputs and gradients equal those of one whole-input call
    torch.manual_seed(0)
    tf = TFBlock(8, 16, 2, 3).train(grad)
    cross = CrossSlotBlock(8, 2, 16, 3).train(grad)
    x = torch.randn(2, 7, 11, 8)
    s = torch.randn(1, 3, 7, 11, 8)
    active = torch.tensor([[True, False, True]])
    results = {}
    for chunk in (0, 8 * 11 * 2, 100):  # whole, 2 frames / bins per chunk, 1 per chunk
        tf.chunk_elements = cross.chunk_elements = chunk
        xi, si = x.clone().requires_grad_(grad), s.clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            y, z = tf(xi), cross(si, active)
        if grad:
            (y.square().sum() + z.square().sum()).backward()
            grads = [xi.grad, si.grad] + [p.grad.clone() for p in (*tf.parameters(), *cross.parameters())]
            tf.zero_grad(), cross.zero_grad()
        else:
            grads = []
        results[chunk] = [y.detach(), z.detach()] + grads
    assert chunk_rows(11, 8 * 7 * 2, 8 * 11 * 2, torch.device("cpu")) == 1
    assert chunk_rows(11, 8 * 7 * 2, 8 * 11 * 2, torch.device("cuda")) == 11  # GPUs: one chunk
    for chunk in (8 * 11 * 2, 100):
        for got, ref in zip(results[chunk], results[0]):
            # parameter gradients are sums over the chunks: float32 summation order only
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max()))
