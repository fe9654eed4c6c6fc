"""Tests for s5tse.models.separator.resunetk (shapes, gating, conditioning, gradients, sizes)."""
import copy
import doctest

import pytest
import torch

import s5tse.models.separator.resunetk as resunetk_mod
from s5tse.models.separator.abs_separator import AbsSeparator
from s5tse.models.separator.resunetk import RESUNETK_PRESETS, ResUNetK

SR = 32000
REFERENCE_TRAINABLE = 26.7e6  # dcase2026_task4.md §4.6 (ResUNet30 K = 3, trainable)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _weak(batch, active):
    """``active``: per item, a list of (slot, class) pairs; other slots silent."""
    w = torch.zeros(batch, 3, 18)
    for b, pairs in enumerate(active):
        for slot, cls in pairs:
            w[b, slot, cls] = 1.0
    return w


def _model(preset="unit", seed=0, **kw):
    torch.manual_seed(seed)
    return ResUNetK.from_preset(preset, **{"num_classes": 18, **kw})


def test_shapes_one_second_odd_length_and_gating():
    model = _model()
    assert isinstance(model, AbsSeparator) and model.num_slots == 3
    T = SR + 1  # 1 s, odd length
    mixture = torch.randn(2, 4, T, generator=torch.Generator().manual_seed(1))
    weak = _weak(2, [[(0, 3), (1, 3)], [(0, 7)]])  # item 0: slot 2 silent; item 1: slots 1, 2 silent
    sources, extras = model(mixture, torch.rand(2, 3, 100), weak)
    assert sources.shape == (2, 3, T) and sources.dtype == torch.float32
    assert isinstance(extras, dict)
    assert torch.isfinite(sources).all()
    assert torch.equal(sources[0, 2], torch.zeros(T))
    assert torch.equal(sources[1, 1:], torch.zeros(2, T))
    for b, k in [(0, 0), (0, 1), (1, 0)]:
        assert sources[b, k].abs().max() > 0


def test_gradient_flows_to_every_parameter():
    model = _model()
    model.train()
    mixture = torch.randn(2, 4, 4001, generator=torch.Generator().manual_seed(2))
    weak = _weak(2, [[(0, 1), (1, 2)], [(0, 5), (1, 5), (2, 6)]])
    sources, _ = model(mixture, None, weak)
    sources.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert model.label_embedding[0].weight.grad.abs().sum() > 0
    assert model.out_conv.weight.grad.abs().sum() > 0
    assert model.encoders[0].block.beta1.weight.grad.abs().sum() > 0


def test_overfits_one_example_with_ca_pit_loss():
    from s5tse.losses.ca_pit import ClassAwarePITLoss

    model = _model(seed=0).train()
    T = 4000
    t = torch.arange(T) / SR
    s1 = torch.sin(2 * torch.pi * 440 * t)
    s2 = 0.3 * torch.sign(torch.sin(2 * torch.pi * 3000 * t))
    ref = torch.stack([s1, s2, torch.zeros(T)])[None]
    mixture = (s1 + s2)[None, None] * torch.tensor([1.0, 0.5, 0.3, 0.2])[None, :, None]
    weak = _weak(1, [[(0, 2), (1, 5)]])
    labels = torch.tensor([[2, 5, 18]])
    loss_fn = ClassAwarePITLoss(silence_index=18)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    snrs = []
    for _ in range(30):
        sources, _ = model(mixture, None, weak)
        loss, stats, _ = loss_fn(sources, ref, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        snrs.append(float(stats["snr"]))
    assert snrs[-1] > snrs[0] + 1.5


def test_query_conditions_output_and_strong_is_ignored():
    model = _model().eval()
    mixture = torch.randn(1, 4, 4000, generator=torch.Generator().manual_seed(3))
    w1 = _weak(1, [[(0, 2)]])
    w2 = _weak(1, [[(0, 11)]])
    with torch.no_grad():
        y1, _ = model(mixture, torch.zeros(1, 3, 10), w1)
        y1b, _ = model(mixture, torch.rand(1, 3, 37), w1)
        y1c, _ = model(mixture, None, w1)
        y2, _ = model(mixture, None, w2)
    assert torch.equal(y1, y1b) and torch.equal(y1, y1c)
    assert not torch.allclose(y1[0, 0], y2[0, 0])


def test_official_topology_on_a_short_input():
    # official STFT (1024 / 160) and six levels (time padded to a multiple of 32), tiny widths
    model = _model("official", channels=(2, 2, 2, 2, 2, 2), film_hidden=8)
    assert model.time_multiple == 32
    mixture = torch.randn(1, 4, 3201)
    sources, _ = model(mixture, None, _weak(1, [[(0, 0), (1, 17), (2, 17)]]))
    assert sources.shape == (1, 3, 3201) and torch.isfinite(sources).all()


def test_cpu_small_preset_runs():
    model = _model("cpu_small")
    mixture = torch.randn(1, 4, 8000)
    sources, _ = model(mixture, None, _weak(1, [[(0, 4)]]))
    assert sources.shape == (1, 3, 8000)
    n = sum(p.numel() for p in model.parameters())
    print(f"cpu_small ResUNetK parameters: {n:,}")
    assert n < 1.5e6


def test_phase_input_variant():
    base = _model()
    model = _model(phase_input=True)
    assert model.pre_conv.in_channels == 12
    extra = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in base.parameters())
    assert extra == 8 * model.channels[0]  # cos and sin of 4 channels into pre_conv
    mixture = torch.randn(1, 4, 4000, generator=torch.Generator().manual_seed(6))
    weak = _weak(1, [[(0, 2), (1, 9)]])
    sources, _ = model(mixture, None, weak)
    assert sources.shape == (1, 3, 4000) and torch.isfinite(sources).all()
    assert torch.equal(sources[0, 2], torch.zeros(4000))
    # flipping the sign of one channel changes its phase, not its magnitude: only the
    # phase-input U-Net sees it
    flipped = mixture.clone()
    flipped[:, 1] = -flipped[:, 1]
    with torch.no_grad():
        for m, sees_phase in ((model.eval(), True), (base.eval(), False)):
            cond = m.label_embedding(weak.reshape(1, -1))
            maps1 = m._unet(m._stft(mixture), cond)
            maps2 = m._unet(m._stft(flipped), cond)
            assert torch.allclose(maps1, maps2, atol=1e-5) != sees_phase


def test_official_parameter_count_close_to_reference():
    model = ResUNetK.from_preset("official", num_classes=18)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    print(f"official ResUNetK parameters: {trainable:,} trainable, {total:,} total "
          f"(reference ~{REFERENCE_TRAINABLE / 1e6:.1f} M trainable)")
    assert trainable == total
    assert abs(trainable - REFERENCE_TRAINABLE) / REFERENCE_TRAINABLE < 0.25
    # U-Net body and label MLP as in the reference breakdown (21.4 M / 0.29 M)
    film = sum(p.numel() for n, p in model.named_parameters() if ".beta" in n)
    label = sum(p.numel() for p in model.label_embedding.parameters())
    assert label == 292_864
    assert abs(trainable - film - label - 21.4e6) / 21.4e6 < 0.01


def test_activation_checkpointing_matches_plain_training_step():
    torch.manual_seed(4)
    plain = _model(seed=5).train()
    ckpt = copy.deepcopy(plain)
    ckpt.set_activation_checkpointing(True)
    mixture = torch.randn(2, 4, 3000)
    weak = _weak(2, [[(0, 1)], [(0, 2), (1, 2)]])
    y_p, _ = plain(mixture, None, weak)
    y_c, _ = ckpt(mixture, None, weak)
    assert torch.allclose(y_p, y_c, atol=1e-6)
    y_p.pow(2).sum().backward()
    y_c.pow(2).sum().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6), name
    # two BatchNorm updates with the compensated momentum == one with the original
    for (name, b), c in zip(plain.named_buffers(), ckpt.buffers()):
        if "running" in name:
            assert torch.allclose(b, c, rtol=1e-5, atol=1e-6), name
    ckpt.set_activation_checkpointing(False)
    bns = [m for m in ckpt.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.momentum == pytest.approx(0.01) for m in bns)


def test_invalid_inputs_and_configs():
    model = _model()
    with pytest.raises(ValueError, match="mixture"):
        model(torch.randn(1, 2, 1000), None, _weak(1, [[]]))
    with pytest.raises(ValueError, match="weak"):
        model(torch.randn(1, 4, 1000), None, torch.zeros(1, 2, 18))
    with pytest.raises(ValueError, match="strong"):
        model(torch.randn(1, 4, 1000), torch.zeros(2, 3, 5), _weak(1, [[]]))
    with pytest.raises(ValueError, match="samples"):
        model(torch.randn(1, 4, 100), None, _weak(1, [[]]))
    with pytest.raises(ValueError, match="preset"):
        ResUNetK.from_preset("huge", num_classes=18)
    with pytest.raises(ValueError, match="multiple"):
        ResUNetK(n_fft=96, channels=(4, 4, 4, 4, 4, 4), num_classes=18)
    assert set(RESUNETK_PRESETS) == {"official", "cpu_small", "unit"}


def test_docstring_example():
    failures, _ = doctest.testmod(resunetk_mod, verbose=False)
    assert failures == 0
