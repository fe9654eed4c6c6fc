"""Running statistics equal the statistics of every prefix (numpy reference)."""
import numpy as np
import pytest
import torch

from s5tse.streaming.stats import RunningMeanPower, RunningStd

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_running_std_matches_prefix_std():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1000)) * 3 + 0.5
    stats = RunningStd(torch.device("cpu"))
    assert float(stats.value(1e-8)) == pytest.approx(1e-8)
    for lo, hi in [(0, 1), (1, 17), (17, 500), (500, 1000)]:
        stats.update(torch.from_numpy(x[:, lo:hi]).float())
        assert float(stats.value(1e-8)) == pytest.approx(np.std(x[:, :hi].astype(np.float32)), rel=1e-5)


def test_running_std_of_silence_is_eps():
    stats = RunningStd(torch.device("cpu"))
    stats.update(torch.zeros(4, 100))
    assert float(stats.value(1e-8)) == pytest.approx(1e-8)


def test_running_mean_power():
    rng = np.random.default_rng(1)
    p = rng.random((5, 30))
    stats = RunningMeanPower(5, torch.device("cpu"))
    stats.update(torch.from_numpy(p[:, :7]))
    stats.update(torch.from_numpy(p[:, 7:]))
    np.testing.assert_allclose(stats.mean().numpy(), p.mean(axis=1), rtol=1e-12)
