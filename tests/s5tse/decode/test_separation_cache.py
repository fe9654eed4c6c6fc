"""Tests of s5tse.decode.separation_cache: what the key depends on, round trips, bad entries."""
import numpy as np
import pytest
import torch

from s5tse.bridge import BridgeOutput
from s5tse.decode.separation_cache import SeparationCache, separator_key
from s5tse.streaming import STREAMING_PRESETS


def queries(seed=0, num_classes=18, frames=25):
    g = torch.Generator().manual_seed(seed)
    q = BridgeOutput.empty(3, frames, num_classes)
    q.strong = torch.rand(3, frames, generator=g)
    q.weak = torch.zeros(3, num_classes)
    q.weak[0, 2] = q.weak[1, 5] = 1.0
    q.query = torch.tensor([True, True, False])
    return q


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"weights-1")
    return path


def test_round_trip_and_what_the_key_depends_on(tmp_path, ckpt):
    x = torch.randn(4, 32000, generator=torch.Generator().manual_seed(1))
    q = queries()
    sep = separator_key(ckpt, STREAMING_PRESETS["long_context"], "cpu")
    cache = SeparationCache(tmp_path / "c", sep)
    assert cache.get(cache.key(x, q)) is None
    y = np.random.default_rng(0).standard_normal((3, 32000)).astype(np.float32)
    cache.put(cache.key(x, q), y)
    assert np.array_equal(cache.get(cache.key(x, q)), y) and len(list((tmp_path / "c").iterdir())) == 1

    changed_x = x.clone()
    changed_x[2, 7] += 1e-3
    changed_strong, changed_weak, changed_query = queries(), queries(), queries()
    changed_strong.strong[1, 3] += 1e-6
    changed_weak.weak[2, 0] = 1.0
    changed_query.query = torch.tensor([True, True, True])
    for xx, qq in ((changed_x, q), (x, changed_strong), (x, changed_weak), (x, changed_query)):
        assert cache.get(cache.key(xx, qq)) is None
    same = SeparationCache(tmp_path / "c", sep)
    assert same.get(same.key(x, queries())) is not None   # same inputs
    path2 = tmp_path / "w2.pth"
    path2.write_bytes(b"weights-2")
    others = (separator_key(path2, STREAMING_PRESETS["long_context"], "cpu"),
              separator_key(ckpt, STREAMING_PRESETS["low_latency"], "cpu"),
              separator_key(ckpt, None, "cpu"),
              separator_key(ckpt, STREAMING_PRESETS["long_context"], "meta"))
    assert len({sep, *others}) == 5
    for other in others:
        other_cache = SeparationCache(tmp_path / "c", other)
        assert other_cache.get(other_cache.key(x, q)) is None


def test_an_unreadable_entry_is_a_miss(tmp_path, ckpt):
    x = torch.zeros(4, 100)
    q = queries(frames=1)
    cache = SeparationCache(tmp_path / "c", separator_key(ckpt, None, "cpu"))
    (tmp_path / "c").mkdir()
    cache.path(cache.key(x, q)).write_bytes(b"not a npy file")
    assert cache.get(cache.key(x, q)) is None
    cache.put(cache.key(x, q), np.ones((3, 100), dtype=np.float32))
    assert cache.get(cache.key(x, q)).sum() == 300
    assert [p.suffix for p in (tmp_path / "c").iterdir()] == [".npy"]   # no temporaries
