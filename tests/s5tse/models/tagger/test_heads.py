"""Slot heads: shapes, pooling, masking, per-slot parameters, baseline head sizes."""
import pytest
import torch

from s5tse.corpus.dcase import DCASE2026

SILENCE_INDEX = DCASE2026.silence_index
from s5tse.models.tagger.heads import (BaselineSlotHead, PerSourceHead, TaggerOutput,
                                       freeze_encoder)
from s5tse.models.tagger.m2d import M2DEncoder


def _count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("pooling", ["attention", "mean"])
def test_per_source_head_shapes(pooling):
    torch.manual_seed(0)
    head = PerSourceHead(48, hidden=16, pooling=pooling, num_classes=19)
    strong, weak = head(torch.randn(2, 25, 48))
    assert strong.shape == (2, 3, 25, 19) and weak.shape == (2, 3, 19)
    assert torch.isfinite(strong).all() and torch.isfinite(weak).all()


def test_per_source_head_mean_pooling_is_the_time_average():
    torch.manual_seed(0)
    head = PerSourceHead(8, hidden=4, pooling="mean", dropout=0.0, num_classes=19)
    z = torch.randn(2, 7, 8)
    _, weak = head(z)
    u = head.trunk(z).view(2, 7, 3, 4)
    for s in range(3):
        torch.testing.assert_close(weak[:, s], head.clip_cls[s](u[:, :, s].mean(1)))


@pytest.mark.parametrize("pooling", ["attention", "mean"])
def test_per_source_head_mask_equals_cropping(pooling):
    torch.manual_seed(0)
    head = PerSourceHead(8, hidden=4, pooling=pooling, dropout=0.0, num_classes=19).eval()
    z = torch.randn(1, 10, 8)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[:, :6] = True
    padded = torch.cat([z[:, :6], 100 * torch.randn(1, 4, 8)], dim=1)
    _, weak_masked = head(padded, mask)
    strong_crop, weak_crop = head(z[:, :6])
    torch.testing.assert_close(weak_masked, weak_crop)


def test_per_source_head_slots_have_own_parameters():
    torch.manual_seed(0)
    head = PerSourceHead(8, hidden=4, num_classes=19)
    assert len(head.frame_cls) == len(head.clip_cls) == len(head.att) == 3
    strong, weak = head(torch.randn(1, 5, 8))
    assert not torch.allclose(weak[:, 0], weak[:, 1])


def test_per_source_head_errors():
    head = PerSourceHead(8, hidden=4, num_classes=19)
    with pytest.raises(ValueError, match=r"\[B, T, 8\]"):
        head(torch.randn(2, 5, 9))
    with pytest.raises(ValueError, match="pooling"):
        PerSourceHead(8, pooling="max", num_classes=19)
    with pytest.raises(ValueError, match="no valid frame"):
        head(torch.randn(1, 5, 8), torch.zeros(1, 5, dtype=torch.bool))


def test_baseline_head_matches_reported_parameter_counts():
    """4c: Linear(3072, 3072) + LN + 3 x (Linear(1024, 512) + LN + Linear(512, 19)) =
    11,053,113 (the baseline's step-1 trainable count); 1c: 3,975,225."""
    assert _count(BaselineSlotHead(4 * 768, num_classes=19)) == 11_053_113
    assert _count(BaselineSlotHead(768, num_classes=19)) == 3_975_225


def test_baseline_head_shapes_and_time_mean():
    torch.manual_seed(0)
    head = BaselineSlotHead(16, hidden=8, slot_hidden=4, num_classes=19)
    x = torch.randn(3, 7, 16)
    out = head(x)
    assert out.shape == (3, 3, 19)
    head.eval()
    torch.testing.assert_close(head(x), head(x.mean(1)))
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[:, 5:] = False
    torch.testing.assert_close(head(x, mask), head(x[:, :5]))
    with pytest.raises(ValueError, match=r"\[B, T, 16\]"):
        head(torch.randn(2, 5, 15))


def test_tagger_output_decoding():
    p = torch.zeros(1, 3, 19)
    p[0, 0, 4] = 1.0
    p[0, 1, SILENCE_INDEX] = 0.9
    p[0, 1, 2] = 0.1
    p[0, 2, 7] = 0.6
    p[0, 2, SILENCE_INDEX] = 0.4
    out = TaggerOutput(weak_prob=p, strong_prob=p[:, :, None].expand(-1, -1, 5, -1),
                       frame_times=torch.zeros(5, 2, dtype=torch.float64))
    assert out.argmax().tolist() == [[4, SILENCE_INDEX, 7]]
    torch.testing.assert_close(out.confidence(), torch.tensor([[1.0, 0.1, 0.6]]))
    assert out.num_frames == 5


def test_freeze_encoder():
    enc = M2DEncoder.from_preset("tiny")
    freeze_encoder(enc, 0)
    assert not any(p.requires_grad for p in enc.parameters())
    freeze_encoder(enc, 1)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("blocks.1.", "norm.")) for n in trainable)
    assert any(n.startswith("norm.") for n in trainable)
    with pytest.raises(ValueError, match="has 2 blocks"):
        freeze_encoder(enc, 3)
