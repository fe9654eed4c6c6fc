"""Block-wise STFT / iSTFT equal the full-length torch transforms."""
import pytest
import torch

from s5tse.models.separator.sr_corrnet.stft import STFT
from s5tse.streaming.stft import BlockISTFT, BlockSTFT

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("n_fft,hop,win,n", [(256, 128, None, 3000), (200, 64, 160, 1001), (64, 64, None, 50)])
def test_block_stft_frames_match_full_stft(n_fft, hop, win, n):
    torch.manual_seed(0)
    stft = STFT(n_fft, hop, win)
    x = torch.randn(2, n)
    full = torch.stft(x, n_fft, hop, win or n_fft, window=stft.window, center=True, pad_mode="constant",
                      return_complex=True)
    block = BlockSTFT(stft, 2, n, torch.device("cpu"))
    block.push(x)
    n_frames = stft.num_frames(n)
    assert full.shape[-1] == n_frames
    for a, b in [(0, 1), (0, n_frames), (n_frames // 2, n_frames)]:
        assert torch.allclose(block.frames(a, b), full[..., a:b], atol=1e-5)


@pytest.mark.parametrize("n_fft,hop,win,n", [(256, 128, None, 3000), (200, 64, 160, 1001), (256, 128, None, 7)])
@pytest.mark.parametrize("sizes", [[1], [3, 1, 5], [1000]])
def test_block_istft_matches_torch_istft(n_fft, hop, win, n, sizes):
    torch.manual_seed(1)
    stft = STFT(n_fft, hop, win)
    n_frames = stft.num_frames(n)
    spec = torch.randn(3, n_fft // 2 + 1, n_frames, dtype=torch.complex64)
    ref = torch.istft(spec, n_fft, hop, win or n_fft, window=stft.window, center=True, length=n)
    synth = BlockISTFT(stft, n_frames, n, 3, torch.device("cpu"))
    out, t, i = [], 0, 0
    while t < n_frames:
        m = min(sizes[i % len(sizes)], n_frames - t)
        out.append(synth.push(spec[..., t: t + m]))
        assert synth.acc.shape[-1] <= n_fft  # bounded overlap-add tail
        t, i = t + m, i + 1
    y = torch.cat(out, dim=-1)
    assert y.shape == ref.shape
    assert torch.allclose(y, ref, atol=1e-5)
