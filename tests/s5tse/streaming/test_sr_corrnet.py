"""Block streaming of the label-queried SR-CorrNet: equality with the offline forward, bounded state."""
import pytest
import torch

from s5tse.models.separator.sr_corrnet import LabelQueriedSRCorrNet
from s5tse.models.separator.sr_corrnet.split import LabelFiLM
from s5tse.streaming import StreamingConfig, separate
from s5tse.streaming.sr_corrnet import StreamingSeparator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_SAMPLES = 4000  # unit preset: hop 128 -> 32 frames


def rel_l2(a, b):
    return float((a - b).norm() / b.norm())


def make_model(**overrides):
    """Unit preset with random (non-zero) FiLM output layers so the queries matter."""
    torch.manual_seed(0)
    model = LabelQueriedSRCorrNet.from_preset("unit", **{"num_classes": 18, **overrides})
    for m in model.modules():
        if isinstance(m, LabelFiLM):
            for lin in (m.strong[-1], m.weak_bias):
                torch.nn.init.normal_(lin.weight, std=0.2)
                torch.nn.init.normal_(lin.bias, std=0.2)
    return model.eval()


def make_queries(t_q=25, seed=1):
    """K=3: slots 0 and 1 query the same class (different time courses), slot 2 silent."""
    g = torch.Generator().manual_seed(seed)
    strong = (torch.rand(3, t_q, generator=g) > 0.4).float()
    strong[2] = 0
    weak = torch.zeros(3, 18)
    weak[0, 5] = weak[1, 5] = 1
    return strong, weak


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def example():
    g = torch.Generator().manual_seed(2)
    mixture = torch.randn(4, N_SAMPLES, generator=g) * torch.linspace(0.2, 2.0, N_SAMPLES)
    return (mixture, *make_queries())


@pytest.fixture(scope="module")
def offline(model, example):
    with torch.no_grad():
        return model(example[0][None], example[1][None], example[2][None])[0][0]


def test_queries_matter(model, example, offline):
    mixture, strong, weak = example
    assert offline[2].abs().max() == 0  # silent slot
    assert rel_l2(offline[0], offline[1]) > 1e-2  # duplicate pair separated by their strong queries
    other = weak.clone()
    other[0] = 0
    other[0, 9] = 1
    with torch.no_grad():
        y = model(mixture[None], strong[None], other[None])[0][0]
    assert rel_l2(y[0], offline[0]) > 1e-2


@pytest.mark.parametrize("present", [1, 5, 7, 32, 100])
def test_full_context_streaming_equals_offline(model, example, offline, present):
    mixture, strong, weak = example
    y = separate(model, mixture, strong, weak, StreamingConfig(past=64, present=present, future=64))
    assert y.shape == (3, N_SAMPLES)
    assert rel_l2(y, offline) <= 1e-4
    assert y[2].abs().max() == 0


def test_full_context_other_geometry():
    """Odd window / hop, more taps, wider kernels, two decoder stages, linear query resampling."""
    model = make_model(taps_time=(2, 1), taps_freq=(1, 1), kernel_size=5, embed_kernel=5, num_decoder_blocks=2,
                       num_heads=2, strong_resample="linear", n_fft=200, hop_length=64, win_length=160)
    mixture = torch.randn(4, 3001, generator=torch.Generator().manual_seed(3))
    strong, weak = make_queries(t_q=17)
    with torch.no_grad():
        ref = model(mixture[None], strong[None], weak[None])[0][0]
    for present in (1, 6):
        y = separate(model, mixture, strong, weak, StreamingConfig(past=100, present=present, future=100))
        assert rel_l2(y, ref) <= 1e-4


def test_all_slots_active_and_input_norm_off():
    model = make_model(input_norm=False)
    mixture = 0.1 * torch.randn(4, 2000, generator=torch.Generator().manual_seed(4))
    strong = torch.ones(3, 10)
    weak = torch.eye(18)[:3]
    with torch.no_grad():
        ref = model(mixture[None], strong[None], weak[None])[0][0]
    y = separate(model, mixture, strong, weak, StreamingConfig(past=40, present=3, future=40))
    assert rel_l2(y, ref) <= 1e-4


def test_chunking_of_the_input_does_not_matter(model, example):
    """process() with arbitrary chunk sizes gives the same samples as one call (limited context)."""
    mixture, strong, weak = example
    cfg = StreamingConfig(past=6, present=4, future=2)
    one = StreamingSeparator(model, cfg, strong, weak, N_SAMPLES)
    y_one = torch.cat([one.process(mixture), one.flush()], dim=-1)
    many = StreamingSeparator(model, cfg, strong, weak, N_SAMPLES)
    outs, pos, sizes = [], 0, [1, 300, 7, 128, 1000, 55]
    for i in range(10 ** 6):
        if pos >= N_SAMPLES:
            break
        m = sizes[i % len(sizes)]
        outs.append(many.process(mixture[:, pos: pos + m]))
        pos += m
    outs.append(many.flush())
    y_many = torch.cat(outs, dim=-1)
    assert y_one.shape == y_many.shape == (3, N_SAMPLES)
    assert torch.allclose(y_one, y_many, atol=1e-6)


def test_limited_context_is_finite_and_differs_from_offline(model, example, offline):
    mixture, strong, weak = example
    y = separate(model, mixture, strong, weak, StreamingConfig(past=3, present=2, future=1))
    assert y.shape == (3, N_SAMPLES)
    assert bool(torch.isfinite(y).all())
    assert rel_l2(y, offline) > 1e-3  # the context really is limited
    assert y[2].abs().max() == 0


@pytest.mark.parametrize("past", [0, 1, 5])
def test_state_is_bounded(past):
    model = make_model()
    cfg = model.config
    n = 12000  # 94 frames, 94 blocks of one frame
    strong, weak = make_queries()
    mixture = torch.randn(4, n, generator=torch.Generator().manual_seed(5))
    runner = StreamingSeparator(model, StreamingConfig(past=past, present=1, future=2), strong, weak, n)
    max_buffer = 0
    for pos in range(0, n, 100):
        runner.process(mixture[:, pos: pos + 100])
        max_buffer = max(max_buffer, runner.stft.buf.shape[-1], runner.istft.acc.shape[-1])
    runner.flush()
    assert runner.next_frame == runner.num_frames == 94
    assert max_buffer <= cfg.n_fft + 4 * cfg.hop_length + 100
    f = model.stft.num_freqs
    kv = conv = 0
    for name, t in runner.iter_caches():
        if name.endswith(".k") or name.endswith(".v"):
            kv += 1
            rows = f if name.startswith("encoder") else 3 * f
            assert t.shape[0] == rows and t.shape[2] == past, name  # exactly `past` frames after many blocks
        elif name == "spec":
            assert t.shape == (4, f, cfg.taps_time[0])
        else:
            conv += 1
            kernel = cfg.embed_kernel if name.startswith("embed") else cfg.kernel_size
            assert t.shape[2] == kernel // 2, name
    assert kv == (0 if past == 0 else 2 * (cfg.num_encoder_blocks + cfg.num_decoder_blocks))
    assert conv == 2 + 4 * (cfg.num_encoder_blocks + cfg.num_decoder_blocks)


@pytest.mark.parametrize("n", [1, 50, 129])
def test_input_shorter_than_one_block(model, n):
    mixture = torch.randn(4, n, generator=torch.Generator().manual_seed(6))
    strong, weak = make_queries(t_q=1)
    with torch.no_grad():
        ref = model(mixture[None], strong[None], weak[None])[0][0]
    y = separate(model, mixture, strong, weak, StreamingConfig(past=10, present=10, future=10))
    assert y.shape == (3, n)
    assert rel_l2(y, ref) <= 1e-4


def test_silent_input_gives_zeros(model):
    strong, weak = make_queries()
    y = separate(model, torch.zeros(4, 3000), strong, weak, StreamingConfig(past=4, present=3, future=1))
    assert y.shape == (3, 3000)
    assert bool(torch.isfinite(y).all()) and y.abs().max() == 0


def test_bad_inputs_raise_one_line_value_error(model, example):
    mixture, strong, weak = example
    cfg = StreamingConfig(past=4, present=3, future=1)
    bad = mixture.clone()
    bad[1, 100] = float("nan")
    for args in [(bad, strong, weak), (mixture[:3], strong, weak)]:
        with pytest.raises(ValueError) as err:
            separate(model, *args, cfg)
        assert "\n" not in str(err.value)
    runner = StreamingSeparator(model, cfg, strong, weak, N_SAMPLES)
    for chunk in (bad[:, :200], mixture[:2, :200], torch.zeros(4, N_SAMPLES + 1)):
        with pytest.raises(ValueError) as err:
            runner.process(chunk)
        assert "\n" not in str(err.value)
    runner.process(mixture[:, :10])
    with pytest.raises(ValueError, match="flush"):
        runner.flush()
    with pytest.raises(ValueError):
        StreamingSeparator(model, cfg, strong[:2], weak, N_SAMPLES)


def test_one_big_chunk_keeps_the_input_buffer_bounded():
    """process() with the whole input buffers only what the next block needs."""
    model = make_model()
    n = 12000
    strong, weak = make_queries()
    mixture = torch.randn(4, n, generator=torch.Generator().manual_seed(7))
    runner = StreamingSeparator(model, StreamingConfig(past=2, present=2, future=1), strong, weak, n)
    sizes = []
    push = runner.stft.push

    def recording_push(chunk):
        push(chunk)
        sizes.append(runner.stft.buf.shape[-1])

    runner.stft.push = recording_push
    y = torch.cat([runner.process(mixture), runner.flush()], dim=-1)
    assert y.shape == (3, n)
    assert max(sizes) <= model.config.n_fft + 3 * model.config.hop_length
