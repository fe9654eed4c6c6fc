import pytest
import torch

from s5tse.models.separator.sr_corrnet.split import (
    LabelFiLM,
    LabelQueriedSplit,
    WeakLabelEmbedding,
    resample_strong,
    slot_activity,
)


def test_resample_40ms_grid_nearest():
    # 1 s at 32 kHz, tagger grid 40 ms (1280 samples, 25 frames), STFT hop 64 (2 ms) -> 501 frames
    strong = torch.arange(25, dtype=torch.float32).view(1, 1, 25).repeat(2, 3, 1)
    out = resample_strong(strong, 501, 64, 32000, mode="nearest")
    assert out.shape == (2, 3, 501)
    expect = torch.clamp(torch.arange(501) * 64 // 1280, max=24).float()
    assert torch.equal(out[1, 2], expect)
    # hop 256 (8 ms): 126 frames, frame t in query frame t // 5
    out = resample_strong(strong, 126, 256, 32000)
    assert torch.equal(out[0, 0], torch.clamp(torch.arange(126) // 5, max=24).float())


def test_resample_binary_stays_binary_and_onset():
    strong = torch.zeros(1, 1, 25)
    strong[..., 10:15] = 1.0  # active 0.40 s .. 0.60 s
    out = resample_strong(strong, 126, 256, 32000)
    times = torch.arange(126) * 256 / 32000
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out[0, 0].bool(), (times >= 0.4 - 1e-9) & (times < 0.6 - 1e-9))


def test_resample_linear():
    strong = torch.arange(25, dtype=torch.float32).view(1, 1, 25)
    out = resample_strong(strong, 501, 64, 32000, mode="linear")
    # STFT frame t = 10 + 20 j sits on the centre of query frame j -> exact value j
    j = torch.arange(25)
    torch.testing.assert_close(out[0, 0, 10 + 20 * j], j.float())
    torch.testing.assert_close(out[0, 0, 20], torch.tensor(0.5))  # half-way between centres 0 and 1
    assert out[0, 0, :10].eq(0).all() and out[0, 0, 490:].eq(24).all()  # held beyond the end centres


def test_resample_explicit_query_hop():
    # 33000 samples, tagger emits ceil(33000 / 1280) = 26 frames of exactly 1280 samples
    strong = torch.arange(26, dtype=torch.float32).view(1, 1, 26)
    out = resample_strong(strong, 516, 64, 33000, query_hop=1280)
    assert torch.equal(out[0, 0], torch.clamp(torch.arange(516) * 64 // 1280, max=25).float())
    with pytest.raises(ValueError, match="resampling mode"):
        resample_strong(strong, 5, 64, 33000, mode="cubic")


def test_slot_activity():
    strong = torch.zeros(2, 3, 4)
    weak = torch.zeros(2, 3, 18)
    weak[0, 0, 3] = 1
    strong[1, 2, 1] = 0.5
    assert slot_activity(strong, weak).tolist() == [[True, False, False], [False, False, True]]


def test_film_zero_init_is_identity_and_eq1():
    torch.manual_seed(0)
    film = LabelFiLM(d_label=6, d_model=8, hidden=10)
    x = torch.randn(2, 3, 5, 4, 8)
    e = torch.randn(2, 3, 6)
    a = torch.rand(2, 3, 5)
    assert torch.equal(film(x, e, a), x)
    gamma, beta, beta_wk = film.coefficients(e, a)
    assert torch.equal(gamma, torch.ones(2, 3, 5, 8)) and not beta.any() and not beta_wk.any()
    # non-zero FiLM follows eq. 1: x * gamma(t) + beta(t) + beta_wk, broadcast over frequency
    for p in film.parameters():
        torch.nn.init.normal_(p, std=0.3)
    gamma, beta, beta_wk = film.coefficients(e, a)
    want = x * gamma[:, :, :, None] + beta[:, :, :, None] + beta_wk[:, :, None, None]
    torch.testing.assert_close(film(x, e, a), want)


def test_split_shapes_and_zero_film():
    torch.manual_seed(0)
    split = LabelQueriedSplit(d_model=8, num_slots=3, d_label=6, film_hidden=10, split_hidden=16)
    seen = {}
    split.film.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0], y=out))
    h = torch.randn(2, 5, 4, 8)
    e = WeakLabelEmbedding(18, 6)(torch.eye(18)[:3].expand(2, 3, 18))
    s = split(h, e, torch.rand(2, 3, 5))
    assert s.shape == (2, 3, 5, 4, 8)
    assert torch.equal(seen["y"], seen["x"])  # gamma = 1, beta = 0 at initialisation
    torch.testing.assert_close(seen["x"][:, 1], split.norm_in(h))
