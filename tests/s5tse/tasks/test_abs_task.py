"""Tests for s5tse.tasks.abs_task: config schema, resolution and errors."""
import pytest

from s5tse.tasks import get_task
from s5tse.train.options import TRAIN_DEFAULTS
from s5tse.utils.config import ConfigError, load_config


def resolve(*overrides):
    task = get_task("toy")
    return task.resolve_config(load_config(task.defaults(), overrides=list(overrides)))


def test_defaults_contain_choices_loop_keys_and_task():
    d = get_task("toy").defaults()
    assert d["task"] == "toy"
    for key in ("model", "loss", "train_dataset", "valid_dataset", "optim", "scheduler"):
        assert key in d and f"{key}_conf" in d
    for key in TRAIN_DEFAULTS:
        assert key in d
    assert list(d)[:2] == ["task", "model"]


def test_resolve_fills_class_defaults():
    c = resolve("--model_conf.channels", "3", "--optim_conf.lr", "1e-2")
    assert c["model_conf"] == {"channels": 3, "kernel_size": 9, "num_layers": 2}
    assert c["optim_conf"]["lr"] == 0.01 and c["optim_conf"]["betas"] == [0.9, 0.999]
    assert c["scheduler_conf"] == {"warmup_steps": 0}
    # injected arguments are not configurable and not shown
    assert "num_items" not in c["train_dataset_conf"] and "seed" not in c["train_dataset_conf"]
    assert c["valid_dataset_conf"]["num_items"] == 64


def test_resolve_is_idempotent():
    c = resolve("--scheduler", "cosine")
    again = get_task("toy").resolve_config(load_config(get_task("toy").defaults(), overrides=[]) | c)
    assert again == c
    assert c["scheduler_conf"] == {"warmup_steps": 0, "total_steps": None, "min_lr_ratio": 0.0}


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--model", "resnet"], r"unknown model 'resnet' \(choices: toy_conv\)"),
        (["--optim", "lamb"], r"unknown optim 'lamb' \(choices: adam, adamw, sgd\)"),
        (["--scheduler", "noam"], r"unknown scheduler 'noam' \(choices: constant, cosine, step\)"),
        (["--loss_conf.alpha", "1"], r"unknown key 'alpha' for loss 'mse'"),
        (["--train_dataset_conf.seed", "1"], r"'seed' is set by the engine"),
        (["--iters_per_epoch", "0"], r"'iters_per_epoch' must be >= 1"),
        (["--accum_grad", "3"], r"'iters_per_epoch' \(1000\) must be a multiple of accum_grad \(3\)"),
        (["--save_interval", "3", "--accum_grad", "2"], r"'save_interval' \(3\)"),
        (["--precision", "fp8"], r"'precision' must be one of fp32, bf16, fp16"),
        (["--best_model_criterion", "[[valid, loss, lowest]]"], r"best_model_criterion\[0\]"),
        (["--early_stopping_criterion", "[test, loss, min]"], r"early_stopping_criterion"),
        (["--param_groups", "[1]"], r"'param_groups' must be a list"),
        (["--task", "tagger"], r"config is for task 'tagger', not 'toy'"),
    ],
)
def test_bad_configs_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as exc:
        resolve(*overrides)
    assert "\n" not in str(exc.value)


def test_unset_choice():
    with pytest.raises(ConfigError, match=r"'model' is not set \(choices: toy_conv\)"):
        resolve("--model", "")
