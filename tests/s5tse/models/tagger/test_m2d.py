"""M2D encoder: shapes, chunking, pos-embed cropping, 4-channel folding, checkpoint layouts."""
import os

import pytest
import torch

from s5tse.models.tagger.checkpoint import CheckpointError
from s5tse.models.tagger.frontend import DEFAULT_NORM_STATS
from s5tse.models.tagger.m2d import M2D_PRESETS, M2DEncoder

SR = 32000


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return M2DEncoder.from_preset("tiny").eval()


def _wav(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(*shape, generator=g)


# --- shapes and time axis ------------------------------------------------------------------
@pytest.mark.parametrize("seconds, columns", [(1, 7), (10, 62), (25, 157)])
def test_shapes_mono_and_multichannel(tiny, seconds, columns):
    n = seconds * SR
    assert tiny.num_columns(n) == columns
    with torch.no_grad():
        y = tiny(_wav(2, n))
        z = tiny.forward_multichannel(_wav(1, 4, n))
    assert y.shape == (2, columns, 64)
    assert z.shape == (1, columns, 4 * 64)
    assert torch.isfinite(y).all() and torch.isfinite(z).all()


def test_presets_share_front_end_and_tokeniser():
    assert {k: (p.embed_dim, p.depth, p.num_heads) for k, p in M2D_PRESETS.items()} == {
        "real": (768, 12, 12), "small": (192, 4, 3), "tiny": (64, 2, 2)}
    small = M2DEncoder.from_preset("small")
    tiny = M2DEncoder.from_preset("tiny")
    for enc in (small, tiny):
        assert enc.grid == (5, 62) and enc.patch_size == 16
        assert enc.frontend.config == tiny.frontend.config
        assert enc.pos_embed.shape[1] == 311
    assert sum(p.numel() for p in tiny.parameters()) == 136_512
    assert sum(p.numel() for p in small.parameters()) == 1_889_088
    with pytest.raises(ValueError, match="unknown M2D preset"):
        M2DEncoder.from_preset("huge")


def test_column_times(tiny):
    t = tiny.column_times(62)
    assert tiny.column_hop_s == pytest.approx(0.16)
    assert t[0].item() == pytest.approx(0.075)
    assert t[61].item() == pytest.approx(61 * 0.16 + 0.075)
    assert torch.allclose(t.diff(), torch.full((61,), 0.16, dtype=t.dtype))


def test_stack_pooling_layout():
    torch.manual_seed(0)
    enc = M2DEncoder.from_preset("tiny", freq_pooling="stack").eval()
    x = _wav(2, SR)
    with torch.no_grad():
        grid = enc.forward_grid(x)
        y = enc(x)
    assert enc.feature_dim == 5 * 64
    assert grid.shape == (2, 5, 7, 64) and y.shape == (2, 7, 320)
    # 'b t (f d)': frequency token f occupies features f*D ... (f+1)*D-1
    assert torch.equal(y[:, 3, 2 * 64:3 * 64], grid[:, 2, 3])
    with pytest.raises(ValueError):
        M2DEncoder.from_preset("tiny", freq_pooling="max")


def test_multichannel_equals_per_channel_concatenation(tiny):
    x = _wav(2, 4, SR, seed=3)
    with torch.no_grad():
        z = tiny.forward_multichannel(x)
        per = [tiny(x[:, c]) for c in range(4)]
    torch.testing.assert_close(z, torch.cat(per, dim=-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(z[..., 64:128], per[1], rtol=1e-5, atol=1e-5)


def test_long_input_is_chunked_on_the_uniform_grid(tiny):
    x = _wav(1, 25 * SR, seed=4)
    with torch.no_grad():
        lms = tiny.log_mel(x)  # [1, 1, 80, 2501]
        padded = torch.cat([lms, torch.zeros(1, 1, 80, 157 * 16 - 2501)], dim=-1)
        full = tiny.encode_log_mel(lms)
        first = tiny.encode_log_mel(padded[..., : 62 * 16])
        second = tiny.encode_log_mel(padded[..., 62 * 16: 124 * 16])
        last = tiny.encode_log_mel(padded[..., (157 - 62) * 16:])
    assert full.shape == (1, 5, 157, 64)
    torch.testing.assert_close(full[:, :, :62], first, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(full[:, :, 62:124], second, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(full[:, :, 124:], last[:, :, 29:], rtol=1e-5, atol=1e-5)


# --- zero padding of the last column (upstream portable runtime) -----------------------------
def _upstream_columns(frames: int, unit: int = 1001, p: int = 16) -> int:
    """Column count of the upstream rule, derived by hand: the normalised log-mel is
    zero-padded to a multiple of 16, cut into chunks of 1001 frames, each patchified by a
    stride-16 convolution (floor)."""
    padded = -(-frames // p) * p
    return sum(min(unit, padded - s) // p for s in range(0, frames, unit))


def test_column_count_is_ceil_up_to_the_trained_grid(tiny):
    for frames in range(1, 1002):
        assert tiny.num_columns_for_frames(frames) == _upstream_columns(frames), frames
    assert tiny.num_columns_for_frames(992) == 62 and tiny.num_columns_for_frames(991) == 62
    assert tiny.num_columns_for_frames(977) == 62 and tiny.num_columns_for_frames(976) == 61
    assert tiny.num_columns_for_frames(993) == 62 == tiny.num_columns_for_frames(1001)
    assert tiny.num_columns_for_frames(1002) == 63  # windowed: ceil beyond the grid too
    assert tiny.num_columns_for_frames(2501) == 157
    with pytest.raises(ValueError, match="mel frame"):
        tiny.num_columns_for_frames(0)
    for n in (401, 4800, 16000, 16001, 32000, 159999, 317439, 317440, 320000, 320319):
        frames = 1 + n // 320
        expect = -(-frames // 16) if frames <= 992 else 62
        assert tiny.num_columns(n) == expect, n


@pytest.mark.parametrize("n", [16000, 32000, 5 * SR + 123])
def test_short_input_tokens_equal_zero_padded_normalised_log_mel(tiny, n):
    x = _wav(2, n, seed=7)
    frames = 1 + n // 320
    cols = -(-frames // 16)
    # normalised log-mel computed here: STFT, the front end's Slaney bank, log, norm_stats
    c = tiny.frontend.config
    spec = torch.stft(x, c.n_fft, c.hop_length, c.win_length, torch.hann_window(c.win_length),
                      center=True, pad_mode="reflect", return_complex=True)
    lms = torch.log(tiny.frontend.mel_fb @ spec.abs().square() + c.log_eps)
    lms = (lms - DEFAULT_NORM_STATS[0]) / DEFAULT_NORM_STATS[1]
    assert lms.shape == (2, 80, frames)
    padded = torch.cat([lms, torch.zeros(2, 80, cols * 16 - frames)], dim=-1)[:, None]
    with torch.no_grad():
        grid = tiny.forward_grid(x)
        ref = tiny.encode_log_mel(padded)
        floor = tiny.encode_log_mel(padded[..., : (frames // 16) * 16])
    assert tiny.num_columns(n) == cols and grid.shape == (2, 5, cols, 64)
    torch.testing.assert_close(grid, ref, rtol=1e-4, atol=1e-4)
    # the padded column takes part in attention: the old floor rule gives other tokens
    assert not torch.allclose(grid[:, :, : frames // 16], floor, atol=1e-3)


def test_ten_seconds_keep_62_columns_and_drop_the_last_frames(tiny):
    x = _wav(1, 10 * SR, seed=8)
    with torch.no_grad():
        lms = tiny.log_mel(x)  # 1001 frames
        grid = tiny.encode_log_mel(lms)
        ref = tiny.encode_log_mel(lms[..., :992])
        # 996 frames (9.95 s): also one chunk of 62 columns, frames 992-995 dropped
        short = tiny.encode_log_mel(lms[..., :996])
    assert lms.shape[-1] == 1001 and grid.shape == (1, 5, 62, 64)
    assert torch.equal(grid, ref) and torch.equal(short, ref)


def test_short_input_uses_cropped_pos_embed():
    torch.manual_seed(0)
    enc = M2DEncoder.from_preset("tiny").eval()
    x = _wav(1, SR)  # 7 columns
    with torch.no_grad():
        y0 = enc(x)
        pe = enc.pos_embed.view(1, 1 + 5 * 62, 64)[:, 1:].view(1, 5, 62, 64)
        pe[:, :, 7:] += torch.randn(1, 5, 55, 64)  # columns beyond the input: unused
        y1 = enc(x)
        pe[:, :, 0] += torch.randn(1, 5, 64)  # first column: used (not a constant shift,
        # which the LayerNorms would remove)
        y2 = enc(x)
    assert torch.equal(y0, y1)
    assert not torch.allclose(y0, y2)


# --- input checks --------------------------------------------------------------------------
def test_sample_rate_check_and_resample(tiny):
    x16 = _wav(1, 16000)
    with pytest.raises(ValueError, match="16000 Hz but the model expects 32000 Hz"):
        tiny(x16, sample_rate=16000)
    with pytest.raises(ValueError, match="resample=True"):
        tiny.forward_multichannel(x16[:, None].expand(1, 4, 16000), sample_rate=16000)
    with torch.no_grad():
        y = tiny(x16, sample_rate=16000, resample=True)
        assert y.shape == (1, 7, 64)
        assert tiny(_wav(1, SR), sample_rate=SR).shape == (1, 7, 64)


def test_bad_inputs(tiny):
    with pytest.raises(ValueError, match="zero samples"):
        tiny(torch.zeros(2, 0))
    with pytest.raises(ValueError, match="zero samples"):
        tiny.forward_multichannel(torch.zeros(1, 4, 0))
    with pytest.raises(ValueError, match="too short"):
        tiny(torch.zeros(1, 400))
    assert tiny.min_samples == 401
    assert tiny(torch.zeros(1, 401)).shape == (1, 1, 64)  # 2 frames + 14 padding frames
    assert tiny(torch.zeros(1, 4800)).shape == (1, 1, 64)
    with pytest.raises(ValueError, match=r"\[B, samples\]"):
        tiny(torch.zeros(4, 1, SR))
    with pytest.raises(ValueError, match=r"\[B, channels, samples\]"):
        tiny.forward_multichannel(torch.zeros(1, SR))
    with pytest.raises(ValueError, match="float"):
        tiny(torch.zeros(1, SR, dtype=torch.int16))


def test_all_zero_audio_is_finite(tiny):
    with torch.no_grad():
        assert torch.isfinite(tiny(torch.zeros(2, SR))).all()
        assert torch.isfinite(tiny.forward_multichannel(torch.zeros(1, 4, SR))).all()


def test_grad_checkpointing_gives_same_output_and_gradients():
    torch.manual_seed(0)
    enc = M2DEncoder.from_preset("tiny")
    x = _wav(1, SR)
    enc(x).square().mean().backward()
    g0 = enc.pos_embed.grad.clone()
    enc.zero_grad()
    enc.set_grad_checkpointing(True)
    enc(x).square().mean().backward()
    torch.testing.assert_close(enc.pos_embed.grad, g0, rtol=1e-5, atol=1e-7)


# --- checkpoint layouts --------------------------------------------------------------------
NORM_STATS = (-6.25, 4.75)


def _head_keys(dim, prefix="module.head."):
    return {
        prefix + "norm.running_mean": torch.randn(dim),
        prefix + "norm.running_var": torch.rand(dim) + 0.5,
        prefix + "norm.num_batches_tracked": torch.tensor(10),
        prefix + "mlp.mlp.0.weight": torch.randn(527, dim),
        prefix + "mlp.mlp.0.bias": torch.randn(527),
    }


def _published(enc, variant):
    """The encoder's weights in one of the published key layouts."""
    bb = {k: v.clone() for k, v in enc.state_dict().items()}
    bb["norm_stats"] = torch.tensor(NORM_STATS)
    D = enc.embed_dim
    if variant in ("evar_model", "evar_plain"):
        sd = {"module.ar.runtime.backbone." + k: v for k, v in bb.items()}
        sd.update(_head_keys(D))
        sd["module.ar.runtime.to_spec.mel_basis"] = torch.rand(80, 401)
        sd["module.ar.runtime.to_spec.window"] = torch.rand(800)
        return {"model": sd} if variant == "evar_model" else sd
    if variant == "state_dict_backbone":
        return {"state_dict": {"backbone." + k: v for k, v in bb.items()}, "epoch": 7}
    if variant == "module":
        return {"model": {"module." + k: v for k, v in bb.items()}}
    if variant == "bare":
        return bb
    raise AssertionError(variant)


@pytest.fixture(scope="module")
def source_and_reference():
    torch.manual_seed(11)
    src = M2DEncoder.from_preset("tiny").eval()
    src.norm_stats.copy_(torch.tensor(NORM_STATS))
    x = _wav(2, SR, seed=5)
    with torch.no_grad():
        return src, x, src(x), src.forward_multichannel(_wav(1, 4, SR, seed=6))


@pytest.mark.parametrize("variant",
                         ["evar_model", "evar_plain", "state_dict_backbone", "module", "bare"])
def test_layout_round_trip_is_bitwise(tmp_path, source_and_reference, variant):
    src, x, y_ref, z_ref = source_and_reference
    path = tmp_path / f"{variant}.pth"
    torch.save(_published(src, variant), path)
    torch.manual_seed(99)
    dst = M2DEncoder.from_preset("tiny").eval()
    with torch.no_grad():
        assert not torch.allclose(dst(x), y_ref)
    info = dst.load_pretrained(path)
    assert info.norm_stats == NORM_STATS and info.norm_stats_in_file
    assert info.num_backbone_tensors == len(src.state_dict()) - 1
    with torch.no_grad():
        assert torch.equal(dst(x), y_ref)
        assert torch.equal(dst.forward_multichannel(_wav(1, 4, SR, seed=6)), z_ref)
    if variant.startswith("evar"):
        assert set(info.head) == {"norm.running_mean", "norm.running_var",
                                  "norm.num_batches_tracked", "mlp.mlp.0.weight",
                                  "mlp.mlp.0.bias"}
        assert info.head["mlp.mlp.0.weight"].shape == (527, 64)
        assert sorted(info.ignored_keys) == ["ar.runtime.to_spec.mel_basis",
                                             "ar.runtime.to_spec.window"]
    else:
        assert info.head == {} and info.ignored_keys == []


def test_from_pretrained_and_default_norm_stats(tmp_path, source_and_reference):
    src = source_and_reference[0]
    bb = {k: v for k, v in src.state_dict().items() if k != "norm_stats"}
    path = tmp_path / "no_stats.pth"
    torch.save({"model": bb}, path)
    enc = M2DEncoder.from_pretrained(path, preset="tiny")
    assert enc.pretrained_info.norm_stats == DEFAULT_NORM_STATS
    assert not enc.pretrained_info.norm_stats_in_file
    assert torch.allclose(enc.norm_stats, torch.tensor(DEFAULT_NORM_STATS))


# --- checkpoint errors ---------------------------------------------------------------------
def test_truncated_checkpoint(tmp_path, source_and_reference):
    good = tmp_path / "good.pth"
    torch.save(_published(source_and_reference[0], "evar_model"), good)
    data = good.read_bytes()
    bad = tmp_path / "weights_ep69.pth"
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CheckpointError, match=r"weights_ep69\.pth: cannot read"):
        M2DEncoder.from_preset("tiny").load_pretrained(bad)


@pytest.mark.parametrize("wrap", [lambda sd: sd, lambda sd: {"model": {"module." + k: v
                                                                       for k, v in sd.items()}}])
def test_state_dict_of_another_model(tmp_path, wrap):
    path = tmp_path / "linear.pth"
    torch.save(wrap(torch.nn.Linear(4, 3).state_dict()), path)
    with pytest.raises(CheckpointError) as ei:
        M2DEncoder.from_preset("tiny").load_pretrained(path)
    msg = str(ei.value)
    assert msg.startswith(str(path) + ": not a checkpoint of the M2D encoder")
    assert "missing" in msg and "cls_token, pos_embed" in msg
    assert "unexpected 2 key(s): weight, bias" in msg or "unexpected 2 key(s): bias, weight" in msg
    assert "\n" not in msg


def test_preset_mismatch_names_file_and_key(tmp_path, source_and_reference):
    path = tmp_path / "tiny_ckpt.pth"
    torch.save(_published(source_and_reference[0], "evar_model"), path)
    with pytest.raises(CheckpointError, match=r"tiny_ckpt\.pth: key 'pos_embed' .* embed_dim 64.*"
                                              r"preset 'small'"):
        M2DEncoder.from_preset("small").load_pretrained(path)
    with pytest.raises(CheckpointError, match=r"tiny_ckpt\.pth: key 'blocks\.1\..*' gives depth 2"):
        M2DEncoder.from_preset("tiny", depth=3).load_pretrained(path)
    with pytest.raises(CheckpointError, match=r"key 'pos_embed' .* 310 patch tokens"):
        M2DEncoder.from_preset("tiny", max_frames=608).load_pretrained(path)
    with pytest.raises(CheckpointError, match=r"'patch_embed\.proj\.weight' .* patch 16x16"):
        M2DEncoder.from_preset("tiny", patch_size=8, max_frames=248).load_pretrained(path)


def test_missing_and_unexpected_backbone_keys(tmp_path, source_and_reference):
    sd = _published(source_and_reference[0], "bare")
    del sd["norm.bias"]
    sd["blocks.0.attn.q_norm.weight"] = torch.ones(32)
    path = tmp_path / "edited.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as ei:
        M2DEncoder.from_preset("tiny").load_pretrained(path)
    msg = str(ei.value)
    assert msg.startswith(f"{path}: keys do not match the M2D encoder")
    assert "missing 1 key(s): norm.bias" in msg
    assert "unexpected 1 key(s): blocks.0.attn.q_norm.weight" in msg


def test_bad_norm_stats(tmp_path, source_and_reference):
    sd = _published(source_and_reference[0], "bare")
    sd["norm_stats"] = torch.tensor([-7.0, 0.0])
    path = tmp_path / "stats.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"stats\.pth: key 'norm_stats'"):
        M2DEncoder.from_preset("tiny").load_pretrained(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        M2DEncoder.from_preset("tiny").load_pretrained(tmp_path / "absent.pth")


# --- opt-in: the real published weights ----------------------------------------------------
@pytest.mark.skipif(not os.path.isfile(os.environ.get("S5TSE_M2D_WEIGHTS", "")),
                    reason="set S5TSE_M2D_WEIGHTS to a published M2D 32 kHz AS-FT weight file")
def test_real_weights_one_second():
    enc = M2DEncoder.from_pretrained(os.environ["S5TSE_M2D_WEIGHTS"], preset="real").eval()
    info = enc.pretrained_info
    assert info.num_backbone_tensors == 150
    print(f"\nnorm_stats={info.norm_stats} head={sorted(info.head)} ignored={info.ignored_keys}")
    t = torch.arange(SR) / SR
    x = torch.stack([0.3 * torch.sin(2 * torch.pi * 440 * t), _wav(SR, seed=1)])
    with torch.no_grad():
        y = enc(x)
        z = enc.forward_multichannel(x[:1, None].expand(1, 4, SR).contiguous())
    assert y.shape == (2, 7, 768) and z.shape == (1, 7, 4 * 768)
    assert torch.isfinite(y).all() and torch.isfinite(z).all()
