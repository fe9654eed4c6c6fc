"""Tests for s5tse.datasets.targets."""
import numpy as np
import pytest
import torch

from s5tse.datasets.targets import (
    activity_from_reference,
    frame_activity,
    label_indices,
    make_item,
    num_frames_for,
    weak_targets,
)
from s5tse.corpus.dcase import DCASE2026
from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES

from .helpers import expected_activity


def test_label_indices_and_weak_with_duplicates():
    labels = ["Speech", "Dishes", "Speech"]
    idx = label_indices(labels, DCASE2026)
    assert idx.dtype == torch.int64 and idx.tolist() == [15, 7, 15]
    weak = weak_targets(labels, DCASE2026)
    assert weak.dtype == torch.float32 and weak.shape == (3, 18)
    assert weak.sum(dim=1).tolist() == [1.0, 1.0, 1.0]
    assert torch.equal(weak[0], weak[2])
    assert weak[1, TARGET_CLASSES.index("Dishes")] == 1.0


def test_silence_slots():
    labels = ["AlarmClock", "silence", "silence"]
    assert label_indices(labels, DCASE2026).tolist() == [0, 18, 18]
    weak = weak_targets(labels, DCASE2026)
    assert weak[0, 0] == 1.0 and weak[1:].abs().sum() == 0


def test_unknown_label():
    with pytest.raises(ValueError, match="Guitar"):
        label_indices(["Guitar"], DCASE2026)


def test_frame_activity_by_hand():
    act = frame_activity(np.array([[15, 31], [20, 30], [40, 40], [0, 95]]), 95, 10)
    assert act.dtype == torch.float32 and act.shape == (4, 10)
    assert act[0].nonzero().flatten().tolist() == [1, 2, 3]
    assert act[1].nonzero().flatten().tolist() == [2]  # stop is exclusive
    assert act[2].sum() == 0  # empty span
    assert act[3].sum() == 10
    assert frame_activity(np.zeros((0, 2)), 95, 10).shape == (0, 10)
    assert frame_activity([[0, 95]], 95, 10, num_frames=4).tolist() == [[1.0] * 4]


def test_frame_activity_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 500))
        hop = int(rng.integers(1, 64))
        spans = np.sort(rng.integers(-10, n + 10, size=(3, 2)), axis=1)
        got = frame_activity(spans, n, hop)
        assert got.shape == (3, num_frames_for(n, hop))
        np.testing.assert_array_equal(got.numpy(), expected_activity(spans, n, hop))
    assert num_frames_for(320000, 1280) == 250 and num_frames_for(64001, 1280) == 51


def test_activity_from_reference():
    hop = 8
    x = np.zeros((2, 5 * hop - 3), dtype=np.float32)
    x[0, 0:hop] = 1.0                  # 0 dB (peak frame)
    x[0, hop:2 * hop] = 1e-2           # -40 dB: active
    x[0, 2 * hop:3 * hop] = 1e-4       # -80 dB: inactive
    x[0, 4 * hop:] = 0.5               # partial last frame, -9 dB: active
    act = activity_from_reference(x, hop)
    assert act.shape == (2, 5) and act.dtype == torch.float32
    assert act[0].tolist() == [1, 1, 0, 0, 1]
    assert act[1].sum() == 0          # all-zero reference
    low = activity_from_reference(torch.from_numpy(x), hop, threshold_db=-100)
    assert low[0].tolist() == [1, 1, 1, 0, 1]
    assert activity_from_reference(x[0], hop, num_frames=7).shape == (1, 7)


def test_make_item_pads_and_silences():
    mix = np.ones((4, 20), dtype=np.float32)
    dry = np.ones((2, 20), dtype=np.float32)
    strong = np.ones((2, 3), dtype=np.float32)
    item = make_item("x", mix, ["Speech", "silence"], strong, dry=dry, classes=DCASE2026)
    assert item["labels"] == ["Speech", "silence", "silence"]
    assert item["dry"].shape == (3, 20) and item["dry"][1:].abs().sum() == 0
    assert item["strong"].tolist() == [[1, 1, 1], [0, 0, 0], [0, 0, 0]]
    assert item["label_index"].tolist() == [15, 18, 18]
    assert dry.sum() == 40 and strong.sum() == 6  # inputs untouched
    assert "dry" not in make_item("x", mix, [], np.zeros((0, 3)), classes=DCASE2026)
