import pytest
import torch

from s5tse.models.separator import AbsSeparator
from s5tse.models.separator.sr_corrnet import SR_CORRNET_PRESETS, LabelQueriedSRCorrNet, SRCorrNetConfig

SR = 32000


def _model(**kw):
    torch.manual_seed(0)
    return LabelQueriedSRCorrNet.from_preset("unit", **{"num_classes": 18, **kw})


def _queries(b, k=3, t_q=25, classes=(0, 5, 11)):
    weak = torch.zeros(b, k, 18)
    strong = torch.zeros(b, k, t_q)
    for i, c in enumerate(classes):
        weak[:, i, c] = 1.0
        strong[:, i, 2 * i : t_q - i] = 1.0
    return strong, weak


def _mixture(b, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 4, n, generator=g) * 0.1


def _randomise_zero_init(model, std=0.3):
    """Give the zero-initialised FiLM output layers non-zero weights."""
    for name, p in model.named_parameters():
        if ".film." in name and (".strong.2." in name or ".weak_bias." in name):
            torch.nn.init.normal_(p, std=std)


def test_interface():
    model = _model()
    assert isinstance(model, AbsSeparator)
    assert model.num_slots == 3
    assert model.num_frames(SR) == SR // 128 + 1


@pytest.mark.parametrize("n", [SR, SR + 37])
def test_shapes_one_second_and_odd_length(n):
    model = _model().eval()
    strong, weak = _queries(2)
    with torch.no_grad():
        y, extras = model(_mixture(2, n), strong, weak)
    assert y.shape == (2, 3, n) and y.dtype == torch.float32
    assert torch.isfinite(y).all() and y.abs().sum() > 0
    assert extras["aux"] == [] and extras["active"].all()


def test_train_mode_aux_outputs_and_input_scale():
    model = _model(num_decoder_blocks=2).train()
    strong, weak = _queries(1, t_q=7)
    x = _mixture(1, 4001)
    y, extras = model(x, strong, weak)
    assert len(extras["aux"]) == 2
    assert all(a.shape == y.shape for a in extras["aux"])
    # std normalisation is undone on the output: the model is scale-equivariant
    y2, _ = model(x * 100.0, strong, weak)
    torch.testing.assert_close(y2, y * 100.0, rtol=1e-3, atol=1e-4)


def test_gradient_reaches_every_parameter():
    model = _model(num_decoder_blocks=2, taps_freq=(1, 1)).train()  # also exercise frequency taps
    _randomise_zero_init(model)
    strong, weak = _queries(2, t_q=7)
    y, extras = model(_mixture(2, 4000), strong, weak)
    loss = y.square().mean() + sum(a.square().mean() for a in extras["aux"])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_zero_init_film_is_identity():
    """At initialisation gamma = 1, beta = 0 everywhere: FiLM outputs equal their inputs and the
    separation does not depend on which class is queried (plain SR-CorrNet)."""
    model = _model(num_decoder_blocks=2).eval()
    films = [model.split.film] + [st.film for st in model.decoder.stages]
    pairs = []
    for film in films:
        film.register_forward_hook(lambda mod, inp, out: pairs.append((inp[0], out)))
    x = _mixture(1, 4000)
    strong, weak = _queries(1, t_q=7)
    with torch.no_grad():
        y1, _ = model(x, strong, weak)
        strong2, weak2 = _queries(1, t_q=7, classes=(3, 3, 17))
        y2, _ = model(x, strong2 * 0.3, weak2)
    assert len(pairs) == 6
    for inp, out in pairs:
        assert torch.equal(out, inp)
    torch.testing.assert_close(y1, y2)
    # once FiLM is non-zero the query steers the output
    _randomise_zero_init(model)
    with torch.no_grad():
        y3, _ = model(x, strong, weak)
        y4, _ = model(x, strong2 * 0.3, weak2)
    assert (y3 - y4).abs().max() > 1e-4


def test_silent_slot_is_exactly_zero():
    model = _model().train()
    _randomise_zero_init(model)
    strong, weak = _queries(2, t_q=7)
    strong[0, 1] = 0.0
    weak[0, 1] = 0.0
    x = _mixture(2, 4000)
    y, extras = model(x, strong, weak)
    assert extras["active"].tolist() == [[True, False, True], [True, True, True]]
    assert torch.equal(y[0, 1], torch.zeros(4000))
    assert all(torch.equal(a[0, 1], torch.zeros(4000)) for a in extras["aux"])
    assert y[0, 0].abs().sum() > 0 and y[0, 2].abs().sum() > 0 and y[1].abs().sum(-1).gt(0).all()
    # active slots do not attend to the silent one: perturbing its stream changes nothing
    with torch.no_grad():
        model.split.slot_embedding[1] += 5.0
        y2, _ = model(x, strong, weak)
    torch.testing.assert_close(y2[0], y[0].detach())
    assert (y2[1] - y[1]).abs().max() > 1e-5  # in example 1 the slot is active and matters
    # all slots silent -> all zeros
    y0, _ = model(x, torch.zeros_like(strong), torch.zeros_like(weak))
    assert torch.equal(y0, torch.zeros_like(y0))


def test_slot_identity_breaks_duplicate_symmetry():
    """Same query on every slot (same-class duplicates): the learned per-slot embeddings make the
    outputs differ; with them zeroed the model is slot-permutation-equivariant -> identical outputs."""
    model = _model().eval()
    _randomise_zero_init(model)
    strong, weak = _queries(1, t_q=7, classes=(4, 4, 4))
    strong[:] = strong[:, :1]
    x = _mixture(1, 4000)
    slot_params = [p for n, p in model.named_parameters() if n.endswith("slot_embedding")]
    assert len(slot_params) == 2  # split + one decoder cross-slot block
    with torch.no_grad():
        for p in slot_params:
            torch.nn.init.normal_(p, std=0.5)
        y, _ = model(x, strong, weak)
        assert (y[0, 0] - y[0, 1]).abs().max() > 1e-4
        assert (y[0, 1] - y[0, 2]).abs().max() > 1e-4
        for p in slot_params:
            p.zero_()
        y, _ = model(x, strong, weak)
    torch.testing.assert_close(y[0, 0], y[0, 1], rtol=0, atol=1e-6)
    torch.testing.assert_close(y[0, 0], y[0, 2], rtol=0, atol=1e-6)


def test_strong_query_resampled_inside():
    """A strong query on the 40-ms grid and the same query given per STFT frame agree."""
    model = _model().eval()
    _randomise_zero_init(model)
    n = 12800  # 0.4 s: 10 tagger frames of 1280 samples (40 ms), 101 STFT frames of hop 128
    strong40, weak = _queries(1, t_q=10)
    strong40[0, 0, 3] = 0.0  # a gap inside the activity
    frame_q = strong40.repeat_interleave(20, dim=-1)  # same query on a 64-sample (2 ms) grid
    x = _mixture(1, n)
    with torch.no_grad():
        y1, _ = model(x, strong40, weak)
        y2, _ = model(x, frame_q, weak)
    torch.testing.assert_close(y1, y2)
    linear = LabelQueriedSRCorrNet(config=model.config, strong_resample="linear", num_classes=18)
    linear.load_state_dict(model.state_dict())
    with torch.no_grad():
        y3, _ = linear.eval()(x, strong40, weak)
    assert (y3 - y1).abs().max() > 0


def test_activation_checkpointing_same_gradients():
    model = _model().train()
    _randomise_zero_init(model)
    strong, weak = _queries(1, t_q=5)
    x = _mixture(1, 3000)

    def step():
        model.zero_grad()
        y, extras = model(x, strong, weak)
        (y.square().mean() + sum(a.square().mean() for a in extras["aux"])).backward()
        return y.detach(), [p.grad.clone() for p in model.parameters()]

    y1, g1 = step()
    model.set_activation_checkpointing(True)
    assert model.encoder[0].checkpointing and model.decoder.stages[0].cross.checkpointing
    y2, g2 = step()
    torch.testing.assert_close(y2, y1)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_invalid_inputs_and_options():
    model = _model()
    strong, weak = _queries(1)
    with pytest.raises(ValueError, match="mixture"):
        model(torch.zeros(1, 2, 1000), strong, weak)
    with pytest.raises(ValueError, match="strong"):
        model(torch.zeros(1, 4, 1000), strong[:, :2], weak)
    with pytest.raises(ValueError, match="weak"):
        model(torch.zeros(1, 4, 1000), strong, weak[..., :17])
    with pytest.raises(TypeError, match="unknown option"):
        LabelQueriedSRCorrNet(preset="unit", d_modle=8, num_classes=18)
    with pytest.raises(ValueError, match="unknown SR-CorrNet preset"):
        LabelQueriedSRCorrNet.from_preset("huge", num_classes=18)
    with pytest.raises(ValueError, match="num_heads"):
        SRCorrNetConfig(d_model=10, num_heads=4, num_classes=18)
    # YAML-style lists are accepted for the tap pairs
    assert SRCorrNetConfig(taps_time=[1, 0], num_classes=18).taps_time == (1, 0)


def test_silent_mixture_gives_zeros():
    model = _model().eval()
    strong, weak = _queries(1, t_q=4)
    with torch.no_grad():
        y, _ = model(torch.zeros(1, 4, 2000), strong, weak)
    assert torch.equal(y, torch.zeros_like(y))


def test_preset_parameter_counts():
    counts = {}
    for name in SR_CORRNET_PRESETS:
        model = LabelQueriedSRCorrNet.from_preset(name, num_classes=18)
        counts[name] = sum(p.numel() for p in model.parameters())
    print("SR-CorrNet preset parameters:", counts)
    assert counts["unit"] < 50_000
    assert 100_000 < counts["cpu_small"] < 1_000_000
    assert abs(counts["base"] - 5e6) <= 0.25 * 5e6
    assert abs(counts["large"] - 10e6) <= 0.25 * 10e6


def test_bf16_autocast_keeps_signal_path_in_float32():
    model = _model().eval()
    strong, weak = _queries(1, t_q=4)
    x = _mixture(1, 3000)
    with torch.no_grad():
        y32, _ = model(x, strong, weak)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y16, _ = model(x, strong, weak)
    assert y16.dtype == torch.float32 and torch.isfinite(y16).all()
    assert (y16 - y32).norm() < 0.1 * y32.norm()
