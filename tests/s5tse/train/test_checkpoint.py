"""Tests for s5tse.train.checkpoint: atomic save with .prev, corrupt fallback, RNG, config diff."""
import errno
import logging
import os
import random

import numpy as np
import pytest
import torch

from s5tse.train import checkpoint as C
from s5tse.train.checkpoint import (CHECKPOINT, CHECKPOINT_PREV, CheckpointError, config_hash,
                                    diff_configs, get_rng_state, link_or_copy, load_checkpoint,
                                    purge_epochs, save_checkpoint, save_weights, set_rng_state)


def state(step):
    return {"model": {"w": torch.full((3,), float(step))}, "epoch": 1, "iteration": step}


def files(d):
    return sorted(p.name for p in d.iterdir())


def test_save_keeps_previous(tmp_path):
    save_checkpoint(state(1), tmp_path)
    assert files(tmp_path) == [CHECKPOINT]
    save_checkpoint(state(2), tmp_path)
    save_checkpoint(state(3), tmp_path)
    assert files(tmp_path) == [CHECKPOINT_PREV, CHECKPOINT]
    got, path = load_checkpoint(tmp_path)
    assert path.name == CHECKPOINT and got["iteration"] == 3
    assert torch.load(tmp_path / CHECKPOINT_PREV, weights_only=True)["iteration"] == 2


def test_failing_save_leaves_old_checkpoint_intact(tmp_path, monkeypatch, caplog):
    save_checkpoint(state(1), tmp_path)
    save_checkpoint(state(2), tmp_path)
    before = {n: (tmp_path / n).read_bytes() for n in files(tmp_path)}
    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")  # some bytes reach the temp file, then ENOSPC
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(state(3), tmp_path)
    monkeypatch.setattr(torch, "save", real_save)
    assert files(tmp_path) == [CHECKPOINT_PREV, CHECKPOINT]  # no temp file left
    assert {n: (tmp_path / n).read_bytes() for n in files(tmp_path)} == before
    got, path = load_checkpoint(tmp_path)
    assert path.name == CHECKPOINT and got["iteration"] == 2


def test_failing_rename_leaves_a_loadable_file(tmp_path, monkeypatch):
    save_checkpoint(state(1), tmp_path)
    save_checkpoint(state(2), tmp_path)
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # old -> prev done, tmp -> checkpoint fails
            raise OSError(errno.EIO, "I/O error")
        real_replace(src, dst)

    monkeypatch.setattr(C.os, "replace", replace)
    with pytest.raises(OSError):
        save_checkpoint(state(3), tmp_path)
    monkeypatch.setattr(C.os, "replace", real_replace)
    assert files(tmp_path) == [CHECKPOINT_PREV]
    got, path = load_checkpoint(tmp_path)
    assert path.name == CHECKPOINT_PREV and got["iteration"] == 2


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "not_a_checkpoint"])
def test_corrupt_checkpoint_falls_back_to_prev(tmp_path, caplog, damage):
    save_checkpoint(state(1), tmp_path)
    save_checkpoint(state(2), tmp_path)
    path = tmp_path / CHECKPOINT
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        torch.save({"w": torch.zeros(1)}, path)
    with caplog.at_level(logging.WARNING):
        got, used = load_checkpoint(tmp_path)
    assert used.name == CHECKPOINT_PREV and got["iteration"] == 1
    assert "cannot load" in caplog.text and "resuming from the previous checkpoint" in caplog.text


def test_both_corrupt_and_none(tmp_path):
    assert load_checkpoint(tmp_path) is None
    (tmp_path / CHECKPOINT).write_bytes(b"x")
    (tmp_path / CHECKPOINT_PREV).write_bytes(b"y")
    with pytest.raises(CheckpointError, match="no loadable checkpoint"):
        load_checkpoint(tmp_path)


def test_rng_state_round_trip_through_a_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # a cached gaussian in numpy's state
    st = get_rng_state()
    torch.save({"rng": st}, tmp_path / "r.pth")
    want = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    set_rng_state(torch.load(tmp_path / "r.pth", weights_only=True)["rng"])
    got = (random.random(), np.random.normal(), np.random.rand(), torch.rand(3))
    assert got[:3] == want[:3] and torch.equal(got[3], want[3])


def test_weights_links_and_purge(tmp_path):
    for e in (1, 2, 3, 4):
        save_weights({"w": torch.tensor([float(e)])}, tmp_path / f"{e}epoch.pth")
    link_or_copy("2epoch.pth", tmp_path / "valid.loss.best.pth")
    link_or_copy("3epoch.pth", tmp_path / "valid.loss.best.pth")  # replaced atomically
    assert os.readlink(tmp_path / "valid.loss.best.pth") == "3epoch.pth"
    assert torch.load(tmp_path / "valid.loss.best.pth")["w"].item() == 3.0
    assert purge_epochs(tmp_path, 4, keep=[3]) == [1, 2]
    assert sorted(p.name for p in tmp_path.glob("*epoch.pth")) == ["3epoch.pth", "4epoch.pth"]


def test_diff_and_hash():
    a = {"lr": 0.1, "model_conf": {"dim": 4, "act": "relu"}, "num_workers": 2, "log_interval": 10}
    b = {"lr": 0.1, "model_conf": {"dim": 8, "act": "relu", "new": 1}, "num_workers": 8, "log_interval": 1}
    assert diff_configs(a, b) == ["model_conf.dim", "model_conf.new"]
    assert diff_configs(a, dict(a)) == []
    assert config_hash(a) != config_hash(b)
    # key order and resume-safe keys do not change the hash
    c = {"log_interval": 3, "num_workers": 0, "model_conf": {"act": "relu", "dim": 4}, "lr": 0.1}
    assert config_hash(a) == config_hash(c)
