"""Fusion tagger (M2D + fPaSST): shapes, t // 4 alignment, gradients, predict, input checks."""
import pytest
import torch
import torch.nn as nn

from s5tse.losses import TaggerPITLoss
from s5tse.models.tagger.fusion import (FUSION_PRESETS, FusionTagger, TaggerOutput,
                                        align_m2d_to_fpasst, m2d_to_fpasst_index)

from tests.s5tse.models.tagger.helpers import random_wav as _wav

SR = 32000


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return FusionTagger.from_preset("tiny", num_classes=19).eval()


@pytest.mark.parametrize("seconds, frames", [(1, 25), (10, 250), (25, 625)])
def test_shapes(tiny, seconds, frames):
    n = seconds * SR
    with torch.no_grad():
        out = tiny(_wav(1, 4, n))
    assert out["strong"].shape == (1, 3, frames, 19)
    assert out["weak"].shape == (1, 3, 19)
    assert torch.isfinite(out["strong"]).all() and torch.isfinite(out["weak"]).all()
    assert tiny.num_frames(n) == frames == -(-n // 1280)   # the dataset targets' grid


def test_alignment_index_map():
    idx = m2d_to_fpasst_index(62, 250)
    assert idx.tolist() == [min(t // 4, 61) for t in range(250)]
    assert idx[:8].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert idx[-3:].tolist() == [61, 61, 61]                  # 9.92-10 s reuse the last column
    assert m2d_to_fpasst_index(6, 25).tolist() == [t // 4 if t < 24 else 5 for t in range(25)]
    assert m2d_to_fpasst_index(10, 8).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]   # cropped
    # plain floor(t * N / T) ("nearest") would lag one column at block starts: not used
    assert (idx != (torch.arange(250) * 62) // 250).any()
    zm = torch.arange(6, dtype=torch.float32).view(1, 6, 1).expand(2, 6, 3)
    al = align_m2d_to_fpasst(zm, 25)
    assert al.shape == (2, 25, 3)
    assert al[0, :, 0].tolist() == [float(min(t // 4, 5)) for t in range(25)]


class _FakeM2D(nn.Module):
    """Column k of every channel is the one-hot vector e_k (so columns are distinguishable
    after LayerNorm and projection)."""

    feature_dim = 16
    sample_rate = SR
    min_samples = 401

    def forward_multichannel(self, wav):
        B, C, n = wav.shape
        frames = 1 + n // 320
        N = 62 if 992 < frames <= 1001 else -(-frames // 16)  # M2DEncoder.num_columns
        eye = torch.eye(self.feature_dim)[:N]
        return eye.repeat(1, C).unsqueeze(0).expand(B, -1, -1).clone()


class _FakeFPaSST(nn.Module):
    out_dim = 2

    def num_frames(self, n):
        return -(-n // 1280)

    def frame_times(self, T):
        t = torch.arange(T, dtype=torch.float64) * 0.04
        return torch.stack([t, t + 0.04], 1)

    def forward_multichannel(self, wav):
        B, C, n = wav.shape
        return torch.zeros(B, self.num_frames(n), C * self.out_dim)


def test_fused_m2d_stream_uses_column_t_div_4():
    torch.manual_seed(0)
    model = FusionTagger(_FakeM2D(), _FakeFPaSST(), d_fused=8, head_hidden=4, num_classes=19).eval()
    wav = torch.zeros(2, 4, SR)                                  # 7 columns, 25 frames
    with torch.no_grad():
        z = model.fuse(wav)
        zm = model.proj_m2d(model.m2d.forward_multichannel(wav))
    assert z.shape == (2, 25, 16) and zm.shape == (2, 7, 8)
    for t in range(25):
        k = min(t // 4, 6)
        torch.testing.assert_close(z[:, t, :8], zm[:, k])
        for other in range(7):
            if other != k:
                assert not torch.allclose(z[:, t, :8], zm[:, other])


def test_gradients_reach_head_and_projections():
    torch.manual_seed(0)
    model = FusionTagger.from_preset("tiny", num_classes=19)
    model.freeze_backbones(0)
    out = model(_wav(2, 4, SR, seed=1))
    labels = torch.tensor([[3, 3, 18], [18, 18, 18]])
    act = torch.zeros(2, 3, 25)
    act[0, 0, :10] = 1
    act[0, 1, 15:] = 1
    loss, stats, perm = TaggerPITLoss(strong_weight=1.0)(out["weak"], labels, out["strong"], act)
    loss.backward()
    for name in ("proj_m2d", "proj_fpasst", "head"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert sum(g.abs().sum() for g in grads) > 0, name
    assert all(p.grad is None for p in model.m2d.parameters())
    assert all(p.grad is None for p in model.fpasst.parameters())


def test_gradients_reach_unfrozen_blocks():
    torch.manual_seed(0)
    model = FusionTagger.from_preset("tiny", num_classes=19)
    model.freeze_backbones(1)
    out = model(_wav(2, 4, SR // 2, seed=2))
    out["weak"].logsumexp(-1).sum().backward()
    for enc in (model.m2d, model.fpasst):
        assert enc.blocks[-1].mlp.fc2.weight.grad is not None
        assert enc.blocks[0].mlp.fc2.weight.grad is None


def test_predict(tiny):
    tiny.train()
    pred = tiny.predict(_wav(2, 4, SR, seed=3))
    assert tiny.training                                       # mode restored
    tiny.eval()
    assert isinstance(pred, TaggerOutput)
    assert pred.weak_prob.shape == (2, 3, 19) and pred.strong_prob.shape == (2, 3, 25, 19)
    torch.testing.assert_close(pred.weak_prob.sum(-1), torch.ones(2, 3))
    torch.testing.assert_close(pred.strong_prob.sum(-1), torch.ones(2, 3, 25))
    assert pred.frame_times.shape == (25, 2) and pred.frame_times.dtype == torch.float64
    assert pred.frame_times[1].tolist() == pytest.approx([0.04, 0.08])
    assert not pred.weak_prob.requires_grad
    assert pred.argmax().shape == (2, 3)


def test_eval_is_deterministic_and_batch_independent(tiny):
    wav = _wav(2, 4, SR, seed=4)
    with torch.no_grad():
        both = tiny(wav)["weak"]
        one = tiny(wav[1:])["weak"]
    torch.testing.assert_close(both[1:], one, rtol=1e-4, atol=1e-5)


def test_input_checks(tiny):
    with pytest.raises(ValueError, match=r"4-channel.*\(2, 2, 32000\)"):
        tiny(torch.zeros(2, 2, SR))
    with pytest.raises(ValueError, match=r"\(4, 32000\)"):
        tiny(torch.zeros(4, SR))
    with pytest.raises(ValueError, match="empty input"):
        tiny(torch.zeros(1, 4, 0))
    with pytest.raises(ValueError, match="too short"):
        tiny(torch.zeros(1, 4, 100))
    with pytest.raises(ValueError, match="float"):
        tiny(torch.zeros(1, 4, SR, dtype=torch.int16))
    with pytest.raises(ValueError, match="unknown FusionTagger preset"):
        FusionTagger.from_preset("huge", num_classes=19)


def test_all_zero_audio_gives_finite_outputs(tiny):
    pred = tiny.predict(torch.zeros(1, 4, SR))
    assert torch.isfinite(pred.weak_prob).all() and torch.isfinite(pred.strong_prob).all()


@pytest.mark.parametrize("name", sorted(FUSION_PRESETS))
def test_preset_parameter_counts(name, meta_build):
    model = meta_build(FusionTagger.from_preset, name, num_classes=19)
    parts = {k: sum(p.numel() for p in getattr(model, k).parameters())
             for k in ("m2d", "fpasst", "proj_m2d", "proj_fpasst", "head")}
    total = sum(parts.values())
    print(f"FusionTagger[{name}]: {total:,} parameters {parts}")
    assert total > 0 and all(v > 0 for v in parts.values())
