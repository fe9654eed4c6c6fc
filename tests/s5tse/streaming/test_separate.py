"""separate(): offline path, dispatch, and overlapping chunks for ResUNetK."""
import pytest
import torch

from s5tse.models.separator.resunetk import ResUNetK
from s5tse.streaming import STREAMING_PRESETS, StreamingConfig, separate
from s5tse.streaming.chunked import min_input_samples, slice_strong

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def resunet():
    torch.manual_seed(0)
    return ResUNetK.from_preset("unit", num_classes=18).eval()  # n_fft 256, hop 128


@pytest.fixture(scope="module")
def example():
    g = torch.Generator().manual_seed(1)
    mixture = torch.randn(4, 8000, generator=g)
    strong = torch.rand(3, 25, generator=g)
    weak = torch.zeros(3, 18)
    weak[0, 2] = weak[1, 7] = 1  # slot 2 silent
    return mixture, strong, weak


def test_offline_path_equals_forward(resunet, example):
    mixture, strong, weak = example
    with torch.no_grad():
        ref = resunet(mixture[None], strong[None], weak[None])[0][0]
    y = separate(resunet, mixture, strong, weak, None)
    assert y.shape == (3, 8000) and torch.equal(y, ref)


@pytest.mark.parametrize("cfg", [StreamingConfig(0, 1000, 0), StreamingConfig(1000, 3, 1000)])
def test_chunked_equals_offline_when_one_window_covers_all(resunet, example, cfg):
    mixture, strong, weak = example
    ref = separate(resunet, mixture, strong, weak, None)
    y = separate(resunet, mixture, strong, weak, cfg)
    assert y.shape == (3, 8000)
    assert torch.allclose(y, ref, atol=1e-6)


def test_chunked_hard_cut_without_context(resunet, example):
    """past = future = 0: the output is the concatenation of independently separated chunks."""
    mixture, strong, weak = example
    y = separate(resunet, mixture, strong, weak, StreamingConfig(0, 20, 0))  # 2560-sample chunks
    pieces = []
    with torch.no_grad():
        for lo in range(0, 8000, 2560):
            pieces.append(resunet(mixture[None, :, lo: lo + 2560], None, weak[None])[0][0])
    assert torch.allclose(y, torch.cat(pieces, -1), atol=1e-6)
    assert y[2].abs().max() == 0


def test_chunked_preset_shape_and_errors(resunet, example):
    mixture, strong, weak = example
    y = separate(resunet, mixture, strong, weak, STREAMING_PRESETS["low_latency"])
    assert y.shape == (3, 8000) and bool(torch.isfinite(y).all())
    with pytest.raises(ValueError):
        separate(resunet, mixture[:2], strong, weak, STREAMING_PRESETS["low_latency"])
    bad = mixture.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError):
        separate(resunet, bad, strong, weak, None)


def test_slice_strong():
    strong = torch.arange(25.0)[None].repeat(2, 1)  # H_q = 320 samples for 8000 samples
    assert slice_strong(strong, 8000, 0, 8000) is strong
    assert slice_strong(strong, 8000, 640, 1600).tolist() == [[2.0, 3.0, 4.0]] * 2
    assert slice_strong(strong, 8000, 7990, 8000).tolist() == [[24.0]] * 2


def test_min_input_samples_reads_n_fft_of_the_model_or_its_config(resunet):
    from s5tse.models.separator.sr_corrnet.model import LabelQueriedSRCorrNet

    assert min_input_samples(resunet) == 256 // 2 + 1                 # ResUNetK.n_fft
    sr = LabelQueriedSRCorrNet(preset="unit", num_classes=18)
    assert not hasattr(sr, "n_fft") and min_input_samples(sr) == sr.config.n_fft // 2 + 1
    assert min_input_samples(torch.nn.Linear(2, 2)) == 1              # no STFT
