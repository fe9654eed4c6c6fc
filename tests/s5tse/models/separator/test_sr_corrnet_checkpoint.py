"""Tests for the SR_CorrNet_SS checkpoint import (s5tse.models.separator.sr_corrnet.checkpoint).

The mapping is checked twice: against a small functional re-statement of *their* modules
written here from their key layout (interleaved-pair RoPE, ``x1 * SiLU(x2)`` SwiGLU, correlation
channels ordered (tap, channel, re/im), filter logits ordered (channel, tap, (a, b, c)), no
norm in the filter head), and end to end by export -> file -> import into a fresh model.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

from s5tse.models.separator.sr_corrnet import LabelQueriedSRCorrNet
from s5tse.models.separator.sr_corrnet.checkpoint import (
    SRCorrNetCheckpointError,
    export_sr_corrnet_ss_layout,
    load_sr_corrnet_ss,
)
from s5tse.models.separator.sr_corrnet.correlation import unfold_neighbourhood

pytestmark = pytest.mark.usefixtures("one_torch_thread")

THEIR_EPS = torch.finfo(torch.float32).eps  # nn.RMSNorm(eps=None)


def _model(seed, **kw):
    torch.manual_seed(seed)
    return LabelQueriedSRCorrNet.from_preset("unit", **{"num_classes": 18, **kw})


def _their_random_state(model, seed=5):
    """A state dict in their layout with every tensor random (norm gains around 1)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in export_sr_corrnet_ss_layout(model).items():
        if k.endswith("rope.freqs"):
            out[k] = v
        elif "norm" in k and k.endswith("weight"):
            out[k] = 1.0 + 0.3 * torch.randn(v.shape, generator=g)
        else:
            out[k] = 0.3 * torch.randn(v.shape, generator=g)
    return out


# ------------------------------------------------------------------ their modules, re-stated
def _rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + THEIR_EPS) * w


def _rope_pairs(x):
    """Adjacent-pair RoPE over dim -2 of ``[..., L, dh]``: (2k, 2k+1) rotated by pos * 10000^(-2k/dh)."""
    length, dh = x.shape[-2:]
    freqs = 10000.0 ** (-torch.arange(0, dh, 2, dtype=torch.float32) / dh)
    ang = torch.arange(length, dtype=torch.float32)[:, None] * freqs[None]
    cos, sin = ang.cos(), ang.sin()
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1)
    return out.flatten(-2)


def _mhsa(x, sd, p, heads, rope):
    n, length, d = x.shape
    y = _rms(x, sd[f"{p}.layernorm.weight"])
    qkv = (y @ sd[f"{p}.block.qkv.weight"].T).view(n, length, 3, heads, d // heads)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
    if rope:
        q, k = _rope_pairs(q), _rope_pairs(k)
    att = torch.softmax(q @ k.transpose(-1, -2) / (d // heads) ** 0.5, dim=-1) @ v
    return x + att.transpose(1, 2).reshape(n, length, d) @ sd[f"{p}.block.aggregate_heads.0.weight"].T


def _conv_ffn(x, sd, p):
    y = _rms(x, sd[f"{p}.layernorm.weight"]).transpose(1, 2)
    w0, w2 = sd[f"{p}.net.0.weight"], sd[f"{p}.net.2.weight"]
    y = F.conv1d(y, w0, sd[f"{p}.net.0.bias"], padding=w0.shape[-1] // 2)
    v, g = y.chunk(2, dim=1)
    y = F.conv1d(v * F.silu(g), w2, sd[f"{p}.net.2.bias"], padding=w2.shape[-1] // 2)
    return x + 0.5 * y.transpose(1, 2)


def _trans_block(x, sd, p, heads):
    x = _conv_ffn(x, sd, f"{p}.ffn_1")
    x = _mhsa(x, sd, f"{p}.sa", heads, rope=True)
    return _conv_ffn(x, sd, f"{p}.ffn_2")


def _tf_block(x, sd, p, heads):
    """``[B, T, F, C]``: frequency path, then time path."""
    b, t, f, c = x.shape
    x = _trans_block(x.reshape(b * t, f, c), sd, f"{p}.freq_block.block", heads).view(b, t, f, c)
    x = x.transpose(1, 2).reshape(b * f, t, c)
    x = _trans_block(x, sd, f"{p}.time_block.block", heads).view(b, f, t, c)
    return x.transpose(1, 2)


def _cross_speaker(s, sd, p, heads):
    """``[B, N, T, F, C]``: MHSA over the N speakers at every bin (no PE) + SwiGLU FFN."""
    b, n, t, f, c = s.shape
    x = s.permute(0, 2, 3, 1, 4).reshape(b * t * f, n, c)
    x = _mhsa(x, sd, f"{p}.sa", heads, rope=False)
    y = _rms(x, sd[f"{p}.ffn.layernorm.weight"]) @ sd[f"{p}.ffn.net.0.weight"].T + sd[f"{p}.ffn.net.0.bias"]
    v, g = y.chunk(2, dim=-1)
    x = x + (v * F.silu(g)) @ sd[f"{p}.ffn.net.2.weight"].T + sd[f"{p}.ffn.net.2.bias"]
    return x.view(b, t, f, n, c).permute(0, 3, 1, 2, 4)


def _their_correlation(spec, taps_time, taps_freq, ref=0):
    """``[B, M, F, T]`` -> ``[B, T, F, 2ML]`` ordered (tap, channel, re/im); neighbours divided by
    sigma of the centre bin."""
    sigma = (spec[:, ref].abs().pow(2).mean(-1, keepdim=True) + 1e-12).sqrt()  # [B, F, 1]
    xr = spec[:, ref] / sigma
    nb = unfold_neighbourhood(spec, taps_time, taps_freq) / sigma[:, None, None]  # [B, M, L, F, T]
    corr = torch.einsum("bft,bmlft->btflm", xr, nb.conj())
    mag = torch.einsum("bft,bmlft->btflm", xr.abs(), nb.abs())
    z = corr / torch.sqrt(mag + 1e-12)
    return torch.view_as_real(z).flatten(3)


def _their_filter(s, w, bias, num_channels, num_taps):
    """Linear (no norm) -> ``[..., M, L]`` complex, logits ordered (m, j, (a, b, c))."""
    y = (s @ w.T + bias).view(*s.shape[:-1], num_channels, num_taps, 3)
    mag = F.softplus(y[..., 0])
    return torch.complex(mag * torch.tanh(y[..., 1]), mag * torch.tanh(y[..., 2]))


# ------------------------------------------------------------------ tests
def test_modules_match_their_layout_restated_independently():
    model = _model(0, num_heads=2).eval()  # two heads: exercises the per-head RoPE permutation
    cfg = model.config
    sd = _their_random_state(model)
    with torch.no_grad():  # a target whose filter-head gains are not 1 (e.g. already trained)
        model.filter.norm.weight.fill_(2.0)
        model.aux_filters[0].norm.weight.fill_(0.5)
    report = load_sr_corrnet_ss(model, sd)
    assert not report.missing and not report.unexpected and not report.mismatched
    g = torch.Generator().manual_seed(1)
    b, t, f, d = 2, 6, 5, cfg.d_model
    with torch.no_grad():
        h = torch.randn(b, t, f, d, generator=g)
        # float32 sums in another order (SDPA vs explicit softmax; the CPU's vector width
        # decides the kernels): 1.2e-5 apart on one of 480 outputs on some CPUs; a layout
        # error is O(1)
        tol = dict(rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(model.encoder[0](h), _tf_block(h, sd, "enc_block.0", 2), **tol)
        stage = model.decoder.stages[0]
        torch.testing.assert_close(stage.tf_block(h), _tf_block(h, sd, "dec_block.0", 2), **tol)
        s = torch.randn(b, 3, t, f, d, generator=g)
        cross = copy.deepcopy(stage.cross)
        cross.slot_embedding.zero_()  # ours only: without it the block is theirs
        torch.testing.assert_close(cross(s), _cross_speaker(s, sd, "dec_cs.0.block.block", 2), **tol)
        # input embedding: their feature order and conv weights vs ours
        spec = torch.randn(b, cfg.num_channels, f, t, dtype=torch.complex64, generator=g)
        theirs = _their_correlation(spec, cfg.taps_time, cfg.taps_freq)
        emb = F.silu(F.conv2d(theirs.permute(0, 3, 1, 2), sd["encoder.embed.0.weight"],
                              sd["encoder.embed.0.bias"], padding=1))
        emb = F.conv2d(emb, sd["encoder.embed.2.weight"], sd["encoder.embed.2.bias"], padding=1)
        emb = _rms(emb.permute(0, 2, 3, 1), sd["encoder.layer_norm.weight"])
        from s5tse.models.separator.sr_corrnet.correlation import correlation_feature

        ours = correlation_feature(spec, cfg.taps_time, cfg.taps_freq)
        ours = model.embed_norm(model.embed(ours.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
        torch.testing.assert_close(ours, emb, **tol)
        # filter heads: ours normalise first (gain reset to 1), theirs do not
        for name, head in [("filter_estim", model.filter), ("filter_estim_aux.0", model.aux_filters[0])]:
            w = head(s)
            ref = _their_filter(_rms(s, torch.ones(d)), sd[f"{name}.mask.net.weight"],
                                sd[f"{name}.mask.net.bias"], cfg.num_channels, cfg.num_taps)
            torch.testing.assert_close(w, ref, **tol)
            assert torch.equal(head.norm.weight, torch.ones(d))
    assert torch.equal(model.split.norm_out.weight, sd["layernorm.weight"])
    assert torch.equal(model.split.norm_out.bias, sd["layernorm.bias"])
    assert sorted(report.reset) == ["aux_filters.0.norm.weight", "filter.norm.weight"]


def _queries(b=2, k=3, t_q=9):
    g = torch.Generator().manual_seed(3)
    weak = torch.zeros(b, k, 18)
    weak[:, 0, 2] = 1.0
    weak[:, 1, 9] = 1.0
    weak[0, 2, 9] = 1.0  # item 0: a same-class pair; item 1: slot 2 silent
    strong = (torch.rand(b, k, t_q, generator=g) > 0.4).float() * (weak.sum(-1, keepdim=True) > 0)
    strong[:, :2, 0] = 1.0
    return strong, weak


def _randomise(model, names, seed, std=0.2):
    g = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n in names:
            params[n].add_(std * torch.randn(params[n].shape, generator=g))


def test_export_file_import_round_trip_gives_identical_outputs(tmp_path):
    source = _model(0)
    target = _model(1)
    # non-trivial conditioning on the target (any state it may have before the import)
    _randomise(target, [n for n, _ in target.named_parameters()
                        if "film" in n or "weak_embed" in n or "slot_embedding" in n], seed=2, std=0.5)
    before = {n: p.detach().clone() for n, p in target.named_parameters()}
    # the source: every parameter random, incl. norm gains (filter-head gains get folded on export)
    _randomise(source, [n for n, _ in source.named_parameters()], seed=4)
    path = tmp_path / "epoch.0042.pth"
    sd = export_sr_corrnet_ss_layout(source)
    torch.save({"epoch": 42, "model_state_dict": {f"module.{k}": v for k, v in sd.items()},
                "optimizer_state_dict": {}}, path)
    report = load_sr_corrnet_ss(target, path)
    assert report.source == str(path) and report.stripped_prefixes == ["module."]
    assert len(report.loaded) == len(sd) - len(report.checked)
    # untouched: the conditioning, the split (no counterpart), the slot embeddings
    params = dict(target.named_parameters())
    assert set(report.kept) == {n for n in params if n.startswith(("weak_embed.", "split.")) or ".film." in n
                                or n.endswith("slot_embedding")} - {"split.norm_out.weight", "split.norm_out.bias"}
    for n in report.kept:
        assert torch.equal(params[n], before[n]), n
    for n in ("split.film.strong.2.weight", "decoder.stages.0.film.weak_bias.weight"):
        assert n in report.kept
    # copy the parts without a counterpart into the source: then both compute the same function
    with torch.no_grad():
        src = dict(source.named_parameters())
        for n in report.kept:
            src[n].copy_(params[n])
    x = 0.1 * torch.randn(2, 4, 3000, generator=torch.Generator().manual_seed(7))
    strong, weak = _queries()
    for mode in ("eval", "train"):
        getattr(source, mode)()
        getattr(target, mode)()
        with torch.no_grad():
            y_s, ex_s = source(x, strong, weak)
            y_t, ex_t = target(x, strong, weak)
        assert y_s.abs().amax() > 0 and not torch.equal(y_s[0, 0], y_s[0, 2])
        torch.testing.assert_close(y_t, y_s, rtol=1e-5, atol=1e-6)
        for a_s, a_t in zip(ex_s["aux"], ex_t["aux"]):
            torch.testing.assert_close(a_t, a_s, rtol=1e-5, atol=1e-6)
    # the queries matter (non-trivial conditioning): another class on slot 0 changes slot 0 only
    weak2 = weak.clone()
    weak2[:, 0] = 0.0
    weak2[:, 0, 5] = 1.0
    target.eval()
    with torch.no_grad():
        y_ref, _ = target(x, strong, weak)
        y_other, _ = target(x, strong, weak2)
    assert (y_other[:, 0] - y_ref[:, 0]).abs().amax() > 1e-3 * y_ref[:, 0].abs().amax()


def test_wrappers_prefixes_and_legacy_names_load_the_same():
    sd = _their_random_state(_model(0))
    ref = _model(1)
    load_sr_corrnet_ss(ref, sd)

    def legacy(k):
        k = k.replace("encoder.", "input_layer.", 1) if k.startswith("encoder.") else k
        k = "mask_estim" + k[len("filter_estim"):] if k.startswith("filter_estim") else k
        k = k.replace(".freq_block.", ".frame_wise_block.").replace(".time_block.", ".freq_wise_block.")
        return k.replace(".block.sa.", ".block.ega.") if k.startswith("dec_cs.") else k

    old = {f"_orig_mod.{legacy(k)}": v for k, v in sd.items()}
    old["spk_split.spk_split.0.weight"] = torch.zeros(3, 8)  # FixedSplit: skipped
    old["_orig_mod.spk_split.spk_query"] = torch.zeros(1, 4, 8)
    old = {k if k.startswith("_orig_mod.") else f"_orig_mod.{k}": v for k, v in old.items()}
    other = _model(2)
    report = load_sr_corrnet_ss(other, {"state_dict": old})
    assert report.renamed > 0 and report.stripped_prefixes == ["_orig_mod."]
    assert report.skipped == ["spk_split.spk_split.0.weight", "spk_split.spk_query"]
    assert report.skipped_modules == ["spk_split"]
    ref_p, other_p = dict(ref.named_parameters()), dict(other.named_parameters())
    for _, ours in report.loaded:
        assert torch.equal(ref_p[ours], other_p[ours]), ours


def test_shape_mismatch_names_file_key_and_shapes_and_loads_nothing(tmp_path):
    model = _model(0)
    sd = _their_random_state(model)
    key = "enc_block.0.time_block.block.sa.block.qkv.weight"
    sd[key] = torch.zeros(30, 8)
    path = tmp_path / "model.pt"
    torch.save(sd, path)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(SRCorrNetCheckpointError) as exc:
        load_sr_corrnet_ss(model, path)
    msg = str(exc.value)
    assert str(path) in msg and f"'{key}': expected shape (24, 8), found (30, 8)" in msg
    assert "\n" not in msg
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_missing_and_unexpected_keys_are_named():
    model = _model(0)
    sd = _their_random_state(model)
    del sd["dec_cs.0.block.block.ffn.net.2.bias"]
    sd["enc_block.1.freq_block.block.sa.layernorm.weight"] = torch.ones(8)  # a second encoder block
    with pytest.raises(SRCorrNetCheckpointError) as exc:
        load_sr_corrnet_ss(model, sd)
    msg = str(exc.value)
    assert "<state dict>" in msg
    assert "missing 'dec_cs.0.block.block.ffn.net.2.bias' (expected shape (8,))" in msg
    assert "unexpected 'enc_block.1.freq_block.block.sa.layernorm.weight' (shape (8,))" in msg


def test_rope_frequencies_are_checked():
    model = _model(0)
    sd = _their_random_state(model)
    sd["dec_block.0.freq_block.block.sa.block.rope.freqs"] = sd[
        "dec_block.0.freq_block.block.sa.block.rope.freqs"] * 2.0
    with pytest.raises(SRCorrNetCheckpointError, match="RoPE frequencies differ"):
        load_sr_corrnet_ss(model, sd)
    with pytest.raises(SRCorrNetCheckpointError, match="no SR_CorrNet_SS keys"):
        load_sr_corrnet_ss(model, {"model_state_dict": {"foo.weight": torch.zeros(2)}})


def test_non_strict_loads_the_compatible_subset():
    """A 2-channel checkpoint into the 4-channel model: all but the first conv and filter heads."""
    two_ch = _their_random_state(_model(0, num_channels=2))
    model = _model(1)
    before = copy.deepcopy(model.state_dict())
    report = load_sr_corrnet_ss(model, two_ch, strict_backbone=False)
    bad = {k for k, _, _ in report.mismatched}
    assert bad == {"encoder.embed.0.weight", "filter_estim.mask.net.weight", "filter_estim.mask.net.bias",
                   "filter_estim_aux.0.mask.net.weight", "filter_estim_aux.0.mask.net.bias"}
    assert ("encoder.embed.0.weight", (16, 24, 3, 3), (16, 12, 3, 3)) in report.mismatched
    assert not report.missing and not report.unexpected and report.reset == []
    state = model.state_dict()
    assert torch.equal(state["embed.0.weight"], before["embed.0.weight"])
    assert torch.equal(state["embed.2.weight"], two_ch["encoder.embed.2.weight"])
    with pytest.raises(SRCorrNetCheckpointError):
        load_sr_corrnet_ss(_model(1), two_ch)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_sr_corrnet_ss(_model(0), "/nonexistent/nowhere.pth")
