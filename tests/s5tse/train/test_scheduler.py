"""Tests for s5tse.train.scheduler: values at given steps against hand-computed ones."""
import math

import pytest
import torch

from s5tse.train.scheduler import SCHEDULERS


def make(name, lrs=(1.0,), **conf):
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    opt = torch.optim.SGD(params, lr=lrs[0])
    total = conf.pop("num_training_steps", None)
    return opt, SCHEDULERS.build(name, conf, optimizer=opt, num_training_steps=total)


def lrs_over(opt, sched, steps):
    """lr used by update s = 0..steps-1 (group 0)."""
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_constant_with_warmup():
    opt, sched = make("constant", warmup_steps=4)
    assert lrs_over(opt, sched, 6) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_constant_without_warmup():
    opt, sched = make("constant", lrs=(0.1,))
    assert lrs_over(opt, sched, 3) == [0.1, 0.1, 0.1]


def test_step_decay():
    opt, sched = make("step", warmup_steps=2, step_size=3, gamma=0.5)
    # s: 0 1 | 2 3 4 | 5 6 7 | 8
    expect = [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert lrs_over(opt, sched, 9) == pytest.approx(expect, abs=1e-15)


def test_cosine_by_hand():
    opt, sched = make("cosine", warmup_steps=2, total_steps=6, min_lr_ratio=0.2)
    got = lrs_over(opt, sched, 8)
    span = 4
    expect = [0.5, 1.0] + [
        0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * min(1.0, (s - 2) / span))) for s in range(2, 8)
    ]
    assert got == pytest.approx(expect, abs=1e-12)
    assert got[2] == pytest.approx(1.0) and got[6] == pytest.approx(0.2) and got[7] == pytest.approx(0.2)
    assert got[4] == pytest.approx(0.6)  # half way: (1 + 0.2) / 2


def test_cosine_total_defaults_to_the_run_length():
    opt, sched = make("cosine", num_training_steps=4)
    assert lrs_over(opt, sched, 5) == pytest.approx([1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 0.0])
    with pytest.raises(ValueError, match="total_steps"):
        make("cosine")


def test_per_group_base_lrs_scale_together():
    opt, sched = make("constant", lrs=(1.0, 0.1), warmup_steps=2)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.05]
    opt.step()
    sched.step()
    assert sched.get_last_lr() == [1.0, 0.1]


def test_state_dict_round_trip():
    opt, sched = make("step", warmup_steps=1, step_size=2, gamma=0.1)
    lrs_over(opt, sched, 4)
    state = sched.state_dict()
    opt2, sched2 = make("step", warmup_steps=1, step_size=2, gamma=0.1)
    sched2.load_state_dict(state)
    assert sched2.last_step == 4 and sched2.get_last_lr() == sched.get_last_lr()
    assert lrs_over(opt2, sched2, 3) == lrs_over(opt, sched, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        make("constant", warmup_steps=-1)
    with pytest.raises(ValueError, match="step_size"):
        make("step", step_size=0)
