"""Tests for s5tse.train.reporter."""

import torch

from s5tse.train.reporter import Reporter, TensorBoardLogger, WeightedMean, format_duration, to_float


def test_weighted_mean_and_state():
    m = WeightedMean()
    m.add({"loss": torch.tensor(1.0), "snr": 3.0, "skip": None}, 1)
    m.add({"loss": 4.0}, torch.tensor(2))
    assert m.means() == {"loss": 3.0, "snr": 3.0}
    m2 = WeightedMean()
    m2.load_state_dict(m.state_dict())
    assert m2.means() == m.means() and m2.count == 2
    m.reset()
    assert m.means() == {}


def test_reporter_rankings():
    r = Reporter()
    for e, loss, snr in [(1, 3.0, 1.0), (2, 1.0, 5.0), (3, 1.0, 4.0), (4, float("nan"), 9.0)]:
        r.record(e, "valid", {"loss": loss, "snr": snr})
    assert r.ranked("valid", "loss", "min") == [(2, 1.0), (3, 1.0), (1, 3.0)]  # NaN left out
    assert r.best("valid", "snr", "max") == (4, 9.0)
    assert r.epochs_since_best("valid", "loss", "min", 4) == 2
    assert r.best("valid", "sdr", "max") is None
    r2 = Reporter()
    r2.load_state_dict(r.state_dict())
    assert r2.ranked("valid", "snr", "max") == r.ranked("valid", "snr", "max")


def test_helpers():
    assert format_duration(3725.0) == "1:02:05" and format_duration(float("nan")) == "-"
    assert to_float(torch.tensor([1.0, 3.0])) == 2.0 and to_float(None) is None


def test_tensorboard_logger(tmp_path):
    tb = TensorBoardLogger(tmp_path, enabled=False)
    tb.scalars("train", {"loss": 1.0}, 1)
    assert not list(tmp_path.iterdir())
    tb = TensorBoardLogger(tmp_path, purge_step=5)
    tb.scalars("train", {"loss": torch.tensor(1.0), "none": None}, 6)
    tb.close()
    assert list((tmp_path / "train").glob("events.out.tfevents.*"))
