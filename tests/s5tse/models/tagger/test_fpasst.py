"""fPaSST encoder: shapes, long-input stitching, published checkpoint layouts, loader errors."""
import os
from pathlib import Path

import pytest
import torch

from s5tse.models.tagger.checkpoint import CheckpointError
from s5tse.models.tagger.fpasst import FPASST_PRESETS, FPaSSTEncoder

SR = 32000


def _tiny(seed=0):
    torch.manual_seed(seed)
    return FPaSSTEncoder.from_preset("tiny").eval()


@pytest.fixture(scope="module")
def tiny():
    return _tiny(0)


@pytest.fixture(scope="module")
def wav_1s():
    torch.manual_seed(123)
    return 0.1 * torch.randn(2, SR)


# ---------------------------------------------------------------- shapes and time axis
@pytest.mark.parametrize("seconds, frames", [(1, 25), (10, 250), (25, 625)])
def test_mono_shapes(tiny, seconds, frames):
    wav = 0.1 * torch.randn(1, seconds * SR)
    with torch.no_grad():
        out = tiny(wav)
    assert out.shape == (1, frames, 64)
    assert tiny.num_frames(seconds * SR) == frames
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("seconds, frames", [(1, 25), (10, 250), (25, 625)])
def test_multichannel_shapes(tiny, seconds, frames):
    wav = 0.1 * torch.randn(1, 4, seconds * SR)
    with torch.no_grad():
        out = tiny.forward_multichannel(wav)
    assert out.shape == (1, frames, 4 * 64)
    assert torch.isfinite(out).all()


def test_multichannel_is_shared_and_concatenated(tiny):
    wav = 0.1 * torch.randn(2, 3, SR // 2)
    with torch.no_grad():
        out = tiny.forward_multichannel(wav)
        for c in range(3):
            torch.testing.assert_close(out[..., c * 64:(c + 1) * 64], tiny(wav[:, c]))


def test_frame_times(tiny):
    times = tiny.frame_times(250)
    assert times.shape == (250, 2)
    assert times[0].tolist() == [0.0, 0.04]
    assert abs(float(times[-1, 1]) - 10.0) < 1e-9


def test_just_over_pos_len_uses_windows(tiny):
    # 10.04 s -> 251 frames (> pos_len = 250): windowed, not truncated
    with torch.no_grad():
        out = tiny(0.1 * torch.randn(1, SR * 10 + 1280))
    assert out.shape == (1, 251, 64)


def test_long_input_stitching(tiny):
    torch.manual_seed(5)
    wav = 0.1 * torch.randn(1, 25 * SR)
    with torch.no_grad():
        mel = tiny.frontend(wav)
        tokens = tiny.tokenize(mel)  # [1, 625, D]
        out = tiny.forward_mel(mel)
        starts = tiny.window_starts(tokens.shape[1])
        assert starts[0] == 0 and starts[-1] == tokens.shape[1] - tiny.pos_len
        # each window is the plain single-pass transformer; the kept frames come from it
        first = tiny._transformer(tokens[:, :250])
        bound = (starts[1] + 250) // 2
        torch.testing.assert_close(out[:, :bound], first[:, :bound])
        last = tiny._transformer(tokens[:, starts[-1]:])
        torch.testing.assert_close(out[:, -50:], last[:, -50:])


@pytest.mark.parametrize("n_tok", [251, 300, 450, 625, 1001])
def test_window_cover(tiny, n_tok):
    starts = tiny.window_starts(n_tok)
    p, ctx = tiny.pos_len, tiny.chunk_context
    assert all(0 <= s <= n_tok - p for s in starts)
    bounds = [0] + [(starts[w + 1] + starts[w] + p) // 2 for w in range(len(starts) - 1)] + [n_tok]
    for w, s in enumerate(starts):
        lo, hi = bounds[w], bounds[w + 1]
        assert lo < hi
        assert lo == 0 or lo - s >= ctx  # context before every kept frame
        assert hi == n_tok or s + p - hi >= ctx  # and after it


def test_sample_rate_check(tiny):
    wav = 0.1 * torch.randn(1, 16000)
    with pytest.raises(ValueError, match="resample=True"):
        tiny(wav, sample_rate=16000)
    with torch.no_grad():
        out = tiny(wav, sample_rate=16000, resample=True)  # 1 s at 16 kHz
    assert out.shape == (1, 25, 64)
    with pytest.raises(ValueError, match="resample=True"):
        tiny.forward_multichannel(0.1 * torch.randn(1, 4, 4410), sample_rate=44100)


def test_bad_audio(tiny):
    with pytest.raises(ValueError, match="zero-length"):
        tiny(torch.zeros(1, 0))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        tiny(torch.zeros(4, 2, 100))
    with pytest.raises(ValueError, match=r"\[B, C, T\]"):
        tiny.forward_multichannel(torch.zeros(2, 100))
    with torch.no_grad():
        out = tiny(torch.zeros(2, SR))
    assert out.shape == (2, 25, 64) and torch.isfinite(out).all()


def test_presets_share_front_end_and_tokeniser():
    cfgs = {name: FPASST_PRESETS[name] for name in ("real", "small", "tiny")}
    assert {(c.n_mels, c.pos_len, c.stem_channels, c.in_chans) for c in cfgs.values()} == {
        (128, 250, (16, 32, 64), 16)
    }
    assert [(c.embed_dim, c.depth, c.num_heads) for c in cfgs.values()] == [
        (768, 12, 12), (192, 4, 3), (64, 2, 2)
    ]
    with pytest.raises(ValueError, match="unknown fPaSST preset"):
        FPaSSTEncoder.from_preset("huge")


def test_state_dict_keys_are_the_fpasst_keys(tiny):
    keys = list(tiny.state_dict())
    for k in ("cls_token", "dist_token", "new_pos_embed", "freq_new_pos_embed", "time_new_pos_embed",
              "conv_in_1.weight", "conv_in_3.bias", "patch_embed.proj.weight", "blocks.1.attn.qkv.weight",
              "blocks.0.mlp.fc2.bias", "norm.weight"):
        assert k in keys
    assert len(keys) == 15 + 12 * 2  # 159 for the 12-block real model
    sd = tiny.state_dict()
    assert sd["patch_embed.proj.weight"].shape == (64, 16, 128, 2)
    assert sd["time_new_pos_embed"].shape == (1, 64, 1, 250)
    assert sd["freq_new_pos_embed"].shape == (1, 64, 1, 1)
    assert sd["new_pos_embed"].shape == (1, 2, 64)


# ---------------------------------------------------------------- published layouts
def _pretrainedsed_layout(enc):
    sd = {"model." + k: v.clone() for k, v in enc.state_dict().items()}
    sd["strong_head.weight"] = torch.randn(447, 64)
    sd["strong_head.bias"] = torch.randn(447)
    sd["weak_head.weight"] = torch.randn(447, 64)
    sd["weak_head.bias"] = torch.randn(447)
    return sd


def _cpjku_layout(enc, prefix="net_strong.model.model."):
    sd = {prefix + k: v.clone() for k, v in enc.state_dict().items()}
    sd["net_strong.model.head_linear_layer.weight"] = torch.randn(407, 64)
    sd["net_strong.model.head_linear_layer.bias"] = torch.randn(407)
    return {"state_dict": sd, "epoch": 3, "global_step": 1234}


@pytest.mark.parametrize("layout", ["pretrainedsed", "cpjku", "cpjku_nowrapper", "bare"])
def test_layout_round_trip(tmp_path, wav_1s, layout):
    src = _tiny(1)
    if layout == "pretrainedsed":
        obj = _pretrainedsed_layout(src)
        head_keys = {"strong_head.weight", "strong_head.bias", "weak_head.weight", "weak_head.bias"}
    elif layout == "cpjku":
        obj = _cpjku_layout(src)
        head_keys = {"head_linear_layer.weight", "head_linear_layer.bias"}
    elif layout == "cpjku_nowrapper":
        obj = _cpjku_layout(src, prefix="net_strong.model.")
        head_keys = {"head_linear_layer.weight", "head_linear_layer.bias"}
    else:
        obj = src.state_dict()
        head_keys = set()
    path = tmp_path / f"{layout}.pt"
    torch.save(obj, path)

    dst = _tiny(2)
    with torch.no_grad():
        assert not torch.allclose(dst(wav_1s), src(wav_1s))
        heads = dst.load_pretrained(path, with_heads=True)
        torch.testing.assert_close(dst(wav_1s), src(wav_1s), rtol=0, atol=0)
    assert set(heads) == head_keys
    assert dst.load_pretrained(path) == {}  # heads ignored unless asked for
    loaded = FPaSSTEncoder.from_pretrained(path, preset="tiny").eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(wav_1s), src(wav_1s), rtol=0, atol=0)


# ---------------------------------------------------------------- loader errors
def test_truncated_file(tmp_path, tiny):
    path = tmp_path / "fpasst_strong_1.pt"
    torch.save(_pretrainedsed_layout(tiny), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="fpasst_strong_1.pt") as err:
        _tiny().load_pretrained(path)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        _tiny().load_pretrained(tmp_path / "nope.pt")


def test_other_model_keys(tmp_path):
    # an M2D/ViT-like state dict: cls_token + pos_embed, 16x16 patches, no fPaSST parts
    sd = {"cls_token": torch.zeros(1, 1, 64), "pos_embed": torch.zeros(1, 311, 64),
          "patch_embed.proj.weight": torch.zeros(64, 1, 16, 16), "patch_embed.proj.bias": torch.zeros(64),
          "norm.weight": torch.ones(64), "norm.bias": torch.zeros(64)}
    path = tmp_path / "m2d_like.pth"
    torch.save({"model": sd}, path)
    with pytest.raises(CheckpointError, match="m2d_like.pth") as err:
        _tiny().load_pretrained(path)
    assert "pos_embed" in str(err.value) and "\n" not in str(err.value)

    path2 = tmp_path / "no_tokens.pt"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path2)
    with pytest.raises(CheckpointError, match="no_tokens.pt.*cls_token"):
        _tiny().load_pretrained(path2)


def test_config_mismatch_names_file_and_key(tmp_path):
    torch.manual_seed(0)
    small = FPaSSTEncoder.from_preset("small")
    path = tmp_path / "small.pt"
    torch.save(_pretrainedsed_layout_any(small), path)
    with pytest.raises(CheckpointError, match=r"small.pt: embed_dim=192 \(from cls_token\)"):
        _tiny().load_pretrained(path)

    tiny_sd = _tiny().state_dict()
    tiny_sd = {k: v for k, v in tiny_sd.items() if not k.startswith("blocks.1.")}
    path2 = tmp_path / "shallow.pt"
    torch.save(tiny_sd, path2)
    with pytest.raises(CheckpointError, match=r"shallow.pt: depth=1 \(from blocks"):
        _tiny().load_pretrained(path2)


def test_strict_backbone_keys(tmp_path):
    sd = _pretrainedsed_layout(_tiny())
    del sd["model.norm.weight"]
    path = tmp_path / "missing.pt"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"missing.pt: .*missing 1 key\(s\): norm.weight"):
        _tiny().load_pretrained(path)

    sd = _pretrainedsed_layout(_tiny())
    sd["model.blocks.0.attn.extra"] = torch.zeros(1)
    path2 = tmp_path / "extra.pt"
    torch.save(sd, path2)
    with pytest.raises(CheckpointError, match=r"extra.pt: .*unexpected 1 key\(s\): blocks.0.attn.extra"):
        _tiny().load_pretrained(path2)

    sd = _pretrainedsed_layout(_tiny())
    sd["model.dist_token"] = torch.zeros(1, 2, 64)
    path3 = tmp_path / "shape.pt"
    torch.save(sd, path3)
    with pytest.raises(CheckpointError, match=r"shape.pt: .*dist_token"):
        _tiny().load_pretrained(path3)


def _pretrainedsed_layout_any(enc):
    return {"model." + k: v.clone() for k, v in enc.state_dict().items()}


# ---------------------------------------------------------------- real weights (opt-in)
_WEIGHTS = os.environ.get("S5TSE_FPASST_WEIGHTS", "")


@pytest.mark.skipif(not (_WEIGHTS and Path(_WEIGHTS).is_file()),
                    reason="set S5TSE_FPASST_WEIGHTS to fpasst_strong_1.pt (or a cpjku_dcase24 .ckpt)")
def test_real_weights_smoke():
    enc = FPaSSTEncoder.from_preset("real").eval()
    heads = enc.load_pretrained(_WEIGHTS, with_heads=True)
    torch.manual_seed(0)
    with torch.no_grad():
        out = enc(0.1 * torch.randn(1, SR))
    assert out.shape == (1, 25, 768)
    assert torch.isfinite(out).all()
    for k, v in heads.items():
        assert torch.isfinite(v).all(), k
