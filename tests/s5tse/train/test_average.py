"""Tests for s5tse.train.average: floats averaged exactly, integer buffers stay integers."""
import pytest
import torch

from s5tse.train.average import (average_checkpoints, average_state_dicts, ave_name,
                                 write_nbest_averages)
from s5tse.train.checkpoint import epoch_name


def sd(w, b, n, flag=True):
    return {
        "w": torch.tensor(w, dtype=torch.float32),
        "b": torch.tensor(b, dtype=torch.float64),
        "bn.num_batches_tracked": torch.tensor(n, dtype=torch.int64),
        "mask": torch.tensor([flag, False]),
        "half": torch.tensor([1.0, 2.0], dtype=torch.float16) * (n + 1),
    }


def test_hand_computed_average():
    states = [sd([1.0, 2.0], [0.1], 10), sd([2.0, 4.0], [0.2], 11, False), sd([4.0, 9.0], [0.4], 15)]
    avg = average_state_dicts(states)
    assert torch.equal(avg["w"], torch.tensor([7.0 / 3.0, 5.0], dtype=torch.float32))
    assert avg["w"].dtype == torch.float32
    assert torch.equal(avg["b"], torch.tensor([(0.1 + 0.2 + 0.4) / 3], dtype=torch.float64))
    # integers: floor of the mean of 10, 11, 15 = 36 // 3 = 12, and still int64
    assert avg["bn.num_batches_tracked"].dtype == torch.int64
    assert int(avg["bn.num_batches_tracked"]) == 12
    assert int(average_state_dicts(states[:2])["bn.num_batches_tracked"]) == 10  # 21 // 2
    assert torch.equal(avg["mask"], torch.tensor([True, False]))  # bool: from the first
    assert avg["half"].dtype == torch.float16
    torch.testing.assert_close(avg["half"], torch.tensor([12.0, 24.0], dtype=torch.float16) * 13 / 12)


def test_float_average_is_exact_for_fp32():
    # the float64 accumulation gives the correctly rounded fp32 mean
    xs = [torch.tensor([1e8, 1.0, -3.3], dtype=torch.float32) + i for i in range(4)]
    avg = average_state_dicts([{"x": x} for x in xs])["x"]
    exact = (sum(x.double() for x in xs) / 4).float()
    assert torch.equal(avg, exact)


def test_batchnorm_model_round_trip(tmp_path):
    models = []
    for seed in range(2):
        torch.manual_seed(seed)
        m = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
        m.train()
        for _ in range(seed + 1):
            m(torch.randn(4, 2))
        models.append(m)
        torch.save(m.state_dict(), tmp_path / epoch_name(seed + 1))
    out = average_checkpoints([tmp_path / "1epoch.pth", tmp_path / "2epoch.pth"], tmp_path / "avg.pth")
    avg = torch.load(out, weights_only=True)
    torch.testing.assert_close(avg["0.weight"], (models[0][0].weight + models[1][0].weight).detach() / 2)
    assert avg["1.num_batches_tracked"].dtype == torch.int64 and int(avg["1.num_batches_tracked"]) == 1
    m = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    m.load_state_dict(avg)


def test_mismatches_raise():
    with pytest.raises(ValueError, match="no state dicts"):
        average_state_dicts([])
    with pytest.raises(ValueError, match="different keys"):
        average_state_dicts([{"a": torch.zeros(1)}, {"b": torch.zeros(1)}])
    with pytest.raises(ValueError, match="shapes differ"):
        average_state_dicts([{"a": torch.zeros(1)}, {"a": torch.zeros(2)}])


def test_write_nbest_averages(tmp_path):
    for e, v in [(1, 1.0), (2, 2.0), (3, 6.0)]:
        torch.save({"w": torch.tensor([v])}, tmp_path / epoch_name(e))
    written = write_nbest_averages(tmp_path, {("valid", "loss"): [3, 2, 1], ("valid", "snr"): [4, 1]}, 2)
    assert [p.name for p in written] == ["valid.loss.ave_2best.pth", "valid.snr.ave_1best.pth"]
    assert ave_name("valid", "loss") == "valid.loss.ave.pth"
    assert (tmp_path / "valid.loss.ave.pth").resolve().name == "valid.loss.ave_2best.pth"
    assert torch.load(tmp_path / "valid.loss.ave.pth")["w"].item() == 4.0
    assert torch.load(tmp_path / "valid.snr.ave.pth")["w"].item() == 1.0  # epoch 4 has no file
