import pytest
import torch

from s5tse.models.separator.sr_corrnet.stft import STFT, make_window


@pytest.mark.parametrize(
    "n_fft,hop,window,length",
    [(512, 256, "sqrt_hann", 16000), (512, 256, "sqrt_hann", 16037), (512, 128, "hann", 9001),
     (128, 64, "sqrt_hann", 3200), (256, 64, "hamming", 5000)],
)
def test_round_trip(n_fft, hop, window, length):
    torch.manual_seed(0)
    stft = STFT(n_fft, hop, window=window)
    x = torch.randn(2, 4, length)
    spec = stft(x)
    assert spec.shape == (2, 4, n_fft // 2 + 1, length // hop + 1)
    assert spec.dtype == torch.complex64
    assert stft.num_frames(length) == spec.shape[-1]
    y = stft.inverse(spec, length)
    assert y.shape == x.shape
    assert (y - x).abs().max().item() < 1e-5


def test_frame_centres_and_window():
    stft = STFT(512, 256)
    assert stft.frame_centres(3).tolist() == [0.0, 256.0, 512.0]
    w = make_window("sqrt_hann", 512)
    # sqrt-Hann at 50 % overlap: squared windows sum to one (perfect-reconstruction WOLA)
    assert torch.allclose(w[:256] ** 2 + w[256:] ** 2, torch.ones(256), atol=1e-6)
    with pytest.raises(ValueError, match="unknown STFT window"):
        make_window("kaiser", 16)
    with pytest.raises(ValueError):
        STFT(256, 512)


def test_impulse_is_localised():
    # the frame centred on an impulse holds it: |X(f, t0)| is flat, constant pad keeps edges clean
    stft = STFT(128, 64)
    x = torch.zeros(1, 640)
    x[0, 320] = 1.0
    spec = stft(x)
    mag = spec[0, :, 320 // 64].abs()
    assert torch.allclose(mag, mag[0].expand_as(mag), atol=1e-6)
