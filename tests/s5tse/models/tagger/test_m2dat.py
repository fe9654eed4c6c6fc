"""M2DAT (baseline tagger): shapes, channel variants, head, predict, gradients, input checks."""
import pytest
import torch

from s5tse.losses import baseline_pit_ce
from s5tse.models.tagger.m2dat import M2DAT_PRESETS, M2DATTagger, TaggerOutput

from tests.s5tse.models.tagger.helpers import random_wav as _wav

SR = 32000


@pytest.fixture(scope="module")
def tiny4():
    torch.manual_seed(0)
    return M2DATTagger.from_preset("tiny", num_classes=19).eval()


@pytest.mark.parametrize("seconds", [1, 10, 25])
def test_shapes(tiny4, seconds):
    with torch.no_grad():
        out = tiny4(_wav(2, 4, seconds * SR))
    assert set(out) == {"weak"}
    assert out["weak"].shape == (2, 3, 19) and torch.isfinite(out["weak"]).all()


def test_four_channel_head_sees_concatenated_channels(tiny4):
    assert tiny4.head.in_dim == 4 * tiny4.m2d.feature_dim
    wav = _wav(2, 4, SR, seed=1)
    with torch.no_grad():
        feats = tiny4.m2d.forward_multichannel(wav)
        torch.testing.assert_close(tiny4(wav)["weak"], tiny4.head(feats.mean(1)))


def test_one_channel_variant_uses_ref_channel():
    torch.manual_seed(0)
    model = M2DATTagger.from_preset("tiny", num_channels=1, ref_channel=0, num_classes=19).eval()
    assert model.head.in_dim == model.m2d.feature_dim
    wav = _wav(2, 4, SR, seed=2)
    with torch.no_grad():
        a = model(wav)["weak"]
        b = model(wav[:, :1])["weak"]
        c = model(torch.cat([wav[:, :1], torch.zeros(2, 3, SR)], dim=1))["weak"]
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)                       # other channels are ignored


def test_predict_broadcasts_clip_probabilities(tiny4):
    n = SR + 640
    pred = tiny4.predict(_wav(2, 4, n, seed=3))
    assert isinstance(pred, TaggerOutput)
    T = -(-n // 1280)
    assert pred.weak_prob.shape == (2, 3, 19) and pred.strong_prob.shape == (2, 3, T, 19)
    torch.testing.assert_close(pred.weak_prob.sum(-1), torch.ones(2, 3))
    torch.testing.assert_close(pred.strong_prob.sum(-1), torch.ones(2, 3, T))
    torch.testing.assert_close(pred.strong_prob, pred.weak_prob[:, :, None].expand(-1, -1, T, -1))
    assert pred.frame_times.shape == (T, 2)
    assert pred.frame_times[-1].tolist() == pytest.approx([(T - 1) * 0.04, T * 0.04])
    assert pred.argmax().tolist() == pred.weak_prob.argmax(-1).tolist()


def test_training_step_head_only():
    torch.manual_seed(0)
    model = M2DATTagger.from_preset("tiny", num_classes=19)
    model.freeze_backbone(0)
    out = model(_wav(3, 4, SR, seed=4))
    loss, perm = baseline_pit_ce(out["weak"], torch.tensor([[1, 1, 18], [18, 18, 18],
                                                            [0, 5, 17]]))
    loss.backward()
    assert all(p.grad is not None for p in model.head.parameters())
    assert all(p.grad is None for p in model.m2d.parameters())
    assert perm.shape == (3, 3)


def test_input_checks(tiny4):
    with pytest.raises(ValueError, match=r"\(2, 2, 32000\)"):
        tiny4(torch.zeros(2, 2, SR))
    with pytest.raises(ValueError, match=r"\(2, 1, 32000\)"):
        tiny4(torch.zeros(2, 1, SR))                         # the 4c model needs 4 channels
    with pytest.raises(ValueError, match="empty input"):
        tiny4(torch.zeros(1, 4, 0))
    with pytest.raises(ValueError, match="too short"):
        tiny4(torch.zeros(1, 4, 400))
    with pytest.raises(ValueError, match="num_channels"):
        M2DATTagger.from_preset("tiny", num_channels=2, num_classes=19)


def test_all_zero_audio_gives_finite_outputs(tiny4):
    pred = tiny4.predict(torch.zeros(2, 4, SR))
    assert torch.isfinite(pred.weak_prob).all()


@pytest.mark.parametrize("name", sorted(M2DAT_PRESETS))
@pytest.mark.parametrize("channels", [4, 1])
def test_preset_parameter_counts(name, channels, meta_build):
    model = meta_build(M2DATTagger.from_preset, name, num_channels=channels, num_classes=19)
    enc = sum(p.numel() for p in model.m2d.parameters())
    head = sum(p.numel() for p in model.head.parameters())
    print(f"M2DATTagger[{name}, {channels}c]: {enc + head:,} parameters "
          f"(M2D {enc:,}, head {head:,})")
    assert enc > 0 and head > 0
    if name == "real":
        # the baseline's measured totals minus the 2-element norm_stats (a buffer here)
        assert enc + head == {4: 96_546_107, 1: 89_468_219}[channels] - 2
