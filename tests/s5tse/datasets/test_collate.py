"""Tests for s5tse.datasets.collate."""
import numpy as np
import pytest
import torch

from s5tse.corpus.dcase import DCASE2026
from s5tse.datasets import collate_scenes, make_item


def item(name, length, labels, hop=10):
    rng = np.random.default_rng(length)
    mix = rng.standard_normal((4, length)).astype(np.float32)
    dry = rng.standard_normal((len(labels), length)).astype(np.float32)
    frames = -(-length // hop)
    return make_item(name, mix, labels, np.ones((len(labels), frames)), dry=dry,
                     classes=DCASE2026)


def test_equal_lengths_are_stacked():
    items = [item("a", 100, ["Speech"]), item("b", 100, ["Dishes", "Dishes", "Pour"])]
    batch = collate_scenes(items)
    assert batch["mixture"].shape == (2, 4, 100)
    assert batch["dry"].shape == (2, 3, 100)
    assert batch["label_index"].shape == (2, 3) and batch["label_index"].dtype == torch.int64
    assert batch["weak"].shape == (2, 3, 18)
    assert batch["strong"].shape == (2, 3, 10)
    assert batch["labels"] == [["Speech", "silence", "silence"], ["Dishes", "Dishes", "Pour"]]
    assert batch["id"] == ["a", "b"]
    assert batch["lengths"].tolist() == [100, 100]
    assert torch.equal(batch["mixture"][1], items[1]["mixture"])


def test_different_lengths_are_padded():
    items = [item("a", 95, ["Speech"]), item("b", 120, ["Pour"]), item("c", 120, [])]
    batch = collate_scenes(items)
    assert batch["mixture"].shape == (3, 4, 120) and batch["dry"].shape == (3, 3, 120)
    assert batch["strong"].shape == (3, 3, 12)
    assert batch["lengths"].tolist() == [95, 120, 120]
    assert torch.equal(batch["mixture"][0, :, :95], items[0]["mixture"])
    assert batch["mixture"][0, :, 95:].abs().sum() == 0 and batch["dry"][0, :, 95:].abs().sum() == 0
    assert batch["strong"][0, 0].tolist() == [1] * 10 + [0] * 2


def test_bad_batches():
    with pytest.raises(ValueError, match="empty"):
        collate_scenes([])
    a = item("a", 10, ["Speech"])
    b = dict(a)
    del b["dry"]
    with pytest.raises(ValueError, match="keys"):
        collate_scenes([a, b])
