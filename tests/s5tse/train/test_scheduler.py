"""Tests for s5tse.train.scheduler: values at given steps against hand-computed ones.

``closed_form`` below is an independent transcription of the formulas of the module
docstring; the schedulers must match it to 1e-12 relative (they compute the same closed
form, so in practice the values are equal up to the order of the float operations).
Resuming must give the same learning rates as an uninterrupted run, bit for bit.
"""
import io
import math
import warnings

import pytest
import torch

from s5tse.train.scheduler import SCHEDULERS

REL = 1e-12


def make(name, lrs=(1.0,), **conf):
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    opt = torch.optim.SGD(params, lr=lrs[0])
    total = conf.pop("num_training_steps", None)
    return opt, SCHEDULERS.build(name, conf, optimizer=opt, num_training_steps=total)


def lrs_over(opt, sched, steps, group=0):
    """lr used by update s = 0..steps-1 (of ``group``; None: every group)."""
    out = []
    for _ in range(steps):
        lrs = [g["lr"] for g in opt.param_groups]
        out.append(lrs if group is None else lrs[group])
        opt.step()
        sched.step()
    return out


def closed_form(name, base, s, warmup_steps=0, step_size=10000, gamma=0.5, total_steps=None,
                min_lr_ratio=0.0, num_training_steps=None):
    """lr of update ``s`` (0-based), written out from the module docstring."""
    lr = base
    if warmup_steps > 0 and s < warmup_steps:
        lr = lr * (s + 1) / warmup_steps
    if name == "step":
        lr = lr * gamma ** ((s - warmup_steps) // step_size if s > warmup_steps else 0)
    elif name == "cosine":
        total = total_steps if total_steps is not None else num_training_steps
        if s <= warmup_steps:
            p = 0.0
        elif s >= total:
            p = 1.0
        else:
            p = (s - warmup_steps) / max(1, total - warmup_steps)
        lr = lr * (min_lr_ratio + (1 - min_lr_ratio) * (1 + math.cos(math.pi * p)) / 2)
    return lr


CASES = {
    "constant_w0": ("constant", {}),
    "constant_w1": ("constant", {"warmup_steps": 1}),
    "constant_w7": ("constant", {"warmup_steps": 7}),
    "step_w0": ("step", {"step_size": 3, "gamma": 0.5}),
    "step_w5": ("step", {"warmup_steps": 5, "step_size": 4, "gamma": 0.3}),
    "cosine_w0": ("cosine", {"num_training_steps": 20}),
    "cosine_w6": ("cosine", {"warmup_steps": 6, "total_steps": 25, "min_lr_ratio": 0.05}),
    "cosine_warmup_is_total": ("cosine", {"warmup_steps": 10, "total_steps": 10, "min_lr_ratio": 0.3}),
    "cosine_total_in_warmup": ("cosine", {"warmup_steps": 8, "total_steps": 5, "min_lr_ratio": 0.2}),
}
STEPS = 40


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_the_closed_form_per_group(case):
    name, conf = CASES[case]
    bases = (3e-4, 0.02)
    opt, sched = make(name, lrs=bases, **conf)
    got = lrs_over(opt, sched, STEPS, group=None)
    for s, lrs in enumerate(got):
        for base, lr in zip(bases, lrs):
            assert lr == pytest.approx(closed_form(name, base, s, **conf), rel=REL, abs=0), (s, base)


def test_constant_with_warmup():
    opt, sched = make("constant", warmup_steps=4)
    assert lrs_over(opt, sched, 6) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_constant_without_warmup():
    opt, sched = make("constant", lrs=(0.1,))
    assert lrs_over(opt, sched, 3) == [0.1, 0.1, 0.1]


def test_warmup_boundary():
    opt, sched = make("constant", lrs=(0.5,), warmup_steps=1000)
    got = lrs_over(opt, sched, 1003)
    assert got[0] == 0.5 / 1000 and got[1] == pytest.approx(0.5 * 2 / 1000, rel=REL)
    assert got[998] == pytest.approx(0.5 * 999 / 1000, rel=REL)
    assert got[999:] == [0.5] * 4  # the last warm-up update already has the full lr, exactly


def test_step_decay():
    opt, sched = make("step", warmup_steps=2, step_size=3, gamma=0.5)
    # s: 0 1 | 2 3 4 | 5 6 7 | 8
    expect = [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert lrs_over(opt, sched, 9) == pytest.approx(expect, rel=REL, abs=0)


def test_cosine_by_hand():
    opt, sched = make("cosine", warmup_steps=2, total_steps=6, min_lr_ratio=0.2)
    got = lrs_over(opt, sched, 8)
    assert got[:3] == [0.5, 1.0, 1.0]
    assert got[4] == pytest.approx(0.6, rel=REL)  # half way: (1 + 0.2) / 2
    assert got[5] == pytest.approx(0.2 + 0.8 * (1 + math.cos(0.75 * math.pi)) / 2, rel=REL)
    assert got[6] == got[7] == pytest.approx(0.2, rel=REL)  # holds at the minimum


def test_cosine_end_holds_at_each_groups_minimum():
    # a per-group minimum: what CosineAnnealingLR's single eta_min cannot give
    opt, sched = make("cosine", lrs=(1e-3, 1e-4), warmup_steps=100, total_steps=1000,
                      min_lr_ratio=0.05)
    got = lrs_over(opt, sched, 1200, group=None)
    assert got[999][0] > got[1000][0]
    for s in (1000, 1001, 1199):
        assert got[s] == pytest.approx([0.05 * 1e-3, 0.05 * 1e-4], rel=REL)
    assert all(a[0] >= b[0] for a, b in zip(got[99:], got[100:]))  # never rises again


def test_cosine_total_defaults_to_the_run_length():
    opt, sched = make("cosine", num_training_steps=4)
    assert lrs_over(opt, sched, 5) == pytest.approx(
        [1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 0.0], rel=REL, abs=1e-300)
    with pytest.raises(ValueError, match="total_steps"):
        make("cosine")


def test_per_group_base_lrs_scale_together():
    opt, sched = make("constant", lrs=(1.0, 0.1), warmup_steps=2)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.05]
    assert sched.get_last_lr() == [0.5, 0.05]
    opt.step()
    sched.step()
    assert sched.get_last_lr() == [1.0, 0.1] and sched.last_step == 1


def test_is_a_library_scheduler_and_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt, sched = make("cosine", warmup_steps=3, total_steps=10)
        lrs_over(opt, sched, 12)
        state = sched.state_dict()
        sched.load_state_dict(state)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)


def test_registry_names_and_config_keys_unchanged():
    assert SCHEDULERS.names() == ["constant", "cosine", "step"]
    injected = ("optimizer", "num_training_steps")
    assert SCHEDULERS.default_kwargs("constant", injected) == {"warmup_steps": 0}
    assert SCHEDULERS.default_kwargs("step", injected) == {
        "warmup_steps": 0, "step_size": 10000, "gamma": 0.5}
    assert SCHEDULERS.default_kwargs("cosine", injected) == {
        "warmup_steps": 0, "total_steps": None, "min_lr_ratio": 0.0}


def test_state_dict_round_trip():
    opt, sched = make("step", warmup_steps=1, step_size=2, gamma=0.1)
    lrs_over(opt, sched, 4)
    state = sched.state_dict()
    assert state == {"last_step": 4, "base_lrs": [1.0]}
    opt2, sched2 = make("step", warmup_steps=1, step_size=2, gamma=0.1)
    sched2.load_state_dict(state)
    assert sched2.last_step == 4 and sched2.get_last_lr() == sched.get_last_lr()
    assert lrs_over(opt2, sched2, 3) == lrs_over(opt, sched, 3)


def save_load(obj):
    """A torch.save / torch.load(weights_only=True) round trip, as checkpoint.pth gets."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


RESUME = {
    "constant": ("constant", {"warmup_steps": 37}, (0, 1, 20, 36, 37, 38, 90)),
    "step": ("step", {"warmup_steps": 10, "step_size": 13, "gamma": 0.7}, (5, 9, 10, 11, 23, 24, 80)),
    "cosine": ("cosine", {"warmup_steps": 11, "num_training_steps": 97, "min_lr_ratio": 0.05},
               (3, 10, 11, 12, 50, 96, 97, 98)),
}


@pytest.mark.parametrize("case", sorted(RESUME))
def test_resume_mid_run_is_bit_identical(case):
    """Save at update k, rebuild optimizer + scheduler as the engine does, load, continue."""
    name, conf, ks = RESUME[case]
    bases = (1e-3, 3e-5)
    n = 120
    opt, sched = make(name, lrs=bases, **conf)
    ref = lrs_over(opt, sched, n, group=None)
    for k in ks:
        opt1, sched1 = make(name, lrs=bases, **conf)
        head = lrs_over(opt1, sched1, k, group=None)
        saved = save_load({"optimizer": opt1.state_dict(), "scheduler": sched1.state_dict()})
        opt2, sched2 = make(name, lrs=bases, **conf)  # a fresh process: built from the config
        opt2.load_state_dict(saved["optimizer"])
        sched2.load_state_dict(saved["scheduler"])
        assert sched2.last_step == k
        assert head + lrs_over(opt2, sched2, n - k, group=None) == ref, k


def test_resume_takes_the_base_lrs_from_the_config():
    conf = {"warmup_steps": 4, "total_steps": 30, "min_lr_ratio": 0.1}
    opt, sched = make("cosine", lrs=(1e-3, 1e-4), **conf)
    lrs_over(opt, sched, 10)
    saved = save_load({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()})
    # --allow_config_change true with new learning rates
    opt2, sched2 = make("cosine", lrs=(2e-3, 5e-5), **conf)
    opt2.load_state_dict(saved["optimizer"])  # brings back the old lr and initial_lr
    sched2.load_state_dict(saved["scheduler"])
    assert sched2.base_lrs == [2e-3, 5e-5]
    assert [g["initial_lr"] for g in opt2.param_groups] == [2e-3, 5e-5]
    got = lrs_over(opt2, sched2, 25, group=None)
    for s, lrs in enumerate(got, start=10):
        assert lrs == [pytest.approx(closed_form("cosine", b, s, **conf), rel=REL, abs=0)
                       for b in (2e-3, 5e-5)], s


def test_loads_a_checkpoint_of_the_previous_implementation():
    # checkpoints written before the schedulers were LambdaLR objects: the same scheduler
    # state, and optimizer groups without "initial_lr"
    conf = {"warmup_steps": 3, "step_size": 5, "gamma": 0.5}
    opt, sched = make("step", lrs=(0.1,), **conf)
    ref = lrs_over(opt, sched, 20)
    old_opt, _ = make("step", lrs=(0.1,), **conf)
    old_opt_state = old_opt.state_dict()
    for group in old_opt_state["param_groups"]:
        group.pop("initial_lr")
        group["lr"] = closed_form("step", 0.1, 8, **conf)
    opt2, sched2 = make("step", lrs=(0.1,), **conf)
    opt2.load_state_dict(old_opt_state)
    sched2.load_state_dict({"last_step": 8, "base_lrs": [0.1]})
    assert opt2.param_groups[0]["initial_lr"] == 0.1
    assert lrs_over(opt2, sched2, 12) == ref[8:]


def test_a_foreign_state_is_a_clear_error():
    opt, sched = make("constant")
    other = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0).state_dict()
    with pytest.raises(ValueError, match="without 'last_step'.*not written by s5tse"):
        sched.load_state_dict(other)


def test_bad_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        make("constant", warmup_steps=-1)
    with pytest.raises(ValueError, match="warmup_steps"):
        make("constant", warmup_steps=1.5)
    with pytest.raises(ValueError, match="step_size"):
        make("step", step_size=0)
    with pytest.raises(ValueError, match="total_steps"):
        make("cosine", total_steps=0)
