"""Tests for s5tse.datasets.encoded: the frozen-encoder feature cache of step-1 training."""
import pytest
import torch

from s5tse.datasets import collate_scenes
from s5tse.datasets.encoded import EncodedDataset


class Items(torch.utils.data.Dataset):
    """Items ``mixture [2, n]`` whose values name (epoch, index)."""

    def __init__(self, size=3, samples=5):
        self.size, self.samples, self.epoch, self.reads = size, samples, 0, []

    def __len__(self):
        return self.size

    def __getitem__(self, key):
        epoch, i = key if isinstance(key, tuple) else (self.epoch, key)
        self.reads.append((epoch, i))
        value = 100.0 * epoch + i
        return {"mixture": torch.full((2, self.samples), value), "dry": torch.zeros(3, 5),
                "label_index": torch.tensor([i, 0, 0]), "id": f"e{epoch}/{i}"}


class Epochs(Items):
    """A new set of items per epoch."""

    def set_epoch(self, epoch):
        self.epoch = epoch


def encode_counting(calls):
    def encode(mixture):  # [B, C, n] -> per item: the mean, and the first sample per channel
        calls.append(mixture.shape[0])
        return {"mean": mixture.mean(dim=(1, 2)), "first": mixture[:, :, 0]}
    return encode


def test_epochs_repeat_every_pool_epochs_and_each_item_is_encoded_once():
    base, calls = Epochs(), []
    ds = EncodedDataset(base, encode_counting(calls), pool_epochs=2, batch_size=4)
    # the pool: epochs 1 and 2, each item read and encoded once, in batches of 4
    assert sorted(base.reads) == [(e, i) for e in (1, 2) for i in range(3)]
    assert calls == [4, 2] and len(ds) == 3
    for epoch, pool_epoch in ((1, 1), (2, 2), (3, 1), (4, 2), (7, 1)):
        ds.set_epoch(epoch)
        for i in range(3):
            item = ds[i]
            assert float(item["encoded_mean"]) == 100.0 * pool_epoch + i
            assert item["id"] == f"e{pool_epoch}/{i}"
            assert ds[(epoch, i)]["id"] == item["id"]
    assert len(base.reads) == 6                      # nothing rendered after the pool
    item = ds[0]
    assert "mixture" not in item and "dry" not in item
    assert int(item["lengths"]) == 5 and item["encoded_first"].shape == (2,)
    batch = collate_scenes([ds[0], ds[2]])
    assert batch["encoded_first"].shape == (2, 2) and batch["lengths"].tolist() == [5, 5]
    with pytest.raises(IndexError):
        ds[3]


def test_a_dataset_without_epochs_is_encoded_as_it_is():
    base = Items(size=2)
    ds = EncodedDataset(base, encode_counting([]), pool_epochs=5)
    assert base.reads == [(0, 0), (0, 1)]
    assert [float(ds[i]["encoded_mean"]) for i in range(2)] == [0.0, 1.0]


def test_items_of_different_lengths_are_refused_with_their_ids():
    class Ragged(Epochs):
        def __getitem__(self, key):
            item = super().__getitem__(key)
            if item["id"].endswith("/1"):
                item["mixture"] = item["mixture"][:, :3]
            return item
    with pytest.raises(ValueError, match=r"items e1/0, e1/1, e1/2 have mixtures of shapes.*one length"):
        EncodedDataset(Ragged(), encode_counting([]), pool_epochs=1)
    with pytest.raises(ValueError, match="pool_epochs must be a positive integer"):
        EncodedDataset(Epochs(), encode_counting([]), pool_epochs=0)
