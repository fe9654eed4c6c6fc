"""Tests for s5tse.train.trainer on the toy task (in-process, CPU, small)."""
import logging
import math

import pytest
import torch

from s5tse.tasks import get_task
from s5tse.tasks.toy import ToyModel, ToyTask
from s5tse.train.checkpoint import load_checkpoint
from s5tse.train.trainer import Trainer, TrainingError, build_components, iteration_seed
from s5tse.utils.config import load_config

BASE = {
    "max_epochs": 2, "iters_per_epoch": 4, "batch_size": 4, "num_workers": 0, "log_interval": 2,
    "use_tensorboard": False, "valid_dataset_conf": {"num_items": 8}, "optim_conf": {"lr": 1e-2},
    "seed": 5,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_config(**kw):
    task = get_task("toy")
    cfg = load_config(task.defaults())
    for key, value in list(BASE.items()) + list(kw.items()):
        if isinstance(value, dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return task, task.resolve_config(cfg)


def train(out, resume=True, **kw):
    task, cfg = make_config(**kw)
    trainer = Trainer(task, cfg, build_components(task, cfg), out)
    if resume:
        trainer.resume()
    trainer.run()
    return trainer


def weights(trainer):
    return {k: v.clone() for k, v in trainer.raw_model.state_dict().items()}


def test_loss_falls(tmp_path):
    t = train(tmp_path, max_epochs=3, iters_per_epoch=12, batch_size=8)
    h = t.reporter.history
    assert h[3]["train"]["loss"] < 0.3 * h[1]["train"]["loss"]
    assert h[3]["valid"]["loss"] < h[1]["valid"]["loss"] and h[3]["valid"]["snr"] > h[1]["valid"]["snr"] + 3
    assert t.global_step == 36


def test_gradient_accumulation_equals_the_big_batch(tmp_path):
    common = dict(max_epochs=1, optim="sgd", optim_conf={"lr": 0.5}, grad_clip=0.0)
    big = train(tmp_path / "big", batch_size=4, iters_per_epoch=1, accum_grad=1, **common)
    acc = train(tmp_path / "acc", batch_size=2, iters_per_epoch=2, accum_grad=2, **common)
    assert big.global_step == acc.global_step == 1
    init = build_components(*make_config(**common)).model.state_dict()
    for k, v in weights(big).items():
        assert not torch.equal(v, init[k])  # the update did something
        torch.testing.assert_close(weights(acc)[k], v, rtol=0, atol=1e-6)
    assert acc.reporter.history[1]["train"]["loss"] == pytest.approx(big.reporter.history[1]["train"]["loss"], rel=1e-6)


def test_iteration_seed_is_a_function_of_its_arguments():
    a = iteration_seed(1, 2, 3, 0)
    assert a == iteration_seed(1, 2, 3, 0) and 0 <= a < 2**32
    assert len({a, iteration_seed(1, 2, 4, 0), iteration_seed(1, 3, 3, 0), iteration_seed(1, 2, 3, 1)}) == 4


def nan_for(ids, grad=False):
    real = ToyModel.forward

    def forward(self, mixture, source, **batch):
        loss, stats, weight = real(self, mixture, source, **batch)
        if any(i in ids or "*" in ids for i in batch["id"]):
            if grad:  # finite value, NaN gradient: d sqrt(|x|) at 0
                loss = loss + (self.net.layers[0].weight.sum() * 0.0).abs().sqrt()
            else:
                loss = loss * float("nan")
        return loss, stats, weight

    return forward


def test_nonfinite_loss_skips_the_update_and_logs_ids(tmp_path, monkeypatch, caplog):
    bad = {"toy-train-e1-000003", "toy-train-e1-000009"}
    monkeypatch.setattr(ToyModel, "forward", nan_for(bad))
    with caplog.at_level(logging.WARNING):
        t = train(tmp_path, max_epochs=1)
    warnings = [r.getMessage() for r in caplog.records if "non-finite loss" in r.getMessage()]
    assert 1 <= len(warnings) <= 2
    assert all(any(b in w for w in warnings) for b in bad)
    assert all("skipping this update" in w for w in warnings)
    assert t.global_step == 4 - len(warnings)
    assert math.isfinite(t.reporter.history[1]["train"]["loss"])
    assert t.nonfinite_run == 0  # reset by the next good update


def test_nonfinite_gradient_skips_the_update(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ToyModel, "forward", nan_for({"*"}, grad=True))
    task, cfg = make_config(max_epochs=1, iters_per_epoch=2, max_nonfinite_steps=5)
    trainer = Trainer(task, cfg, build_components(task, cfg), tmp_path)
    before = weights(trainer)
    with caplog.at_level(logging.WARNING):
        trainer.run()
    assert sum("non-finite gradient norm" in r.getMessage() for r in caplog.records) == 2
    assert trainer.global_step == 0
    for k, v in weights(trainer).items():
        assert torch.equal(v, before[k])


def test_consecutive_nonfinite_updates_abort(tmp_path, monkeypatch):
    monkeypatch.setattr(ToyModel, "forward", nan_for({"*"}))
    with pytest.raises(TrainingError, match=r"^3 consecutive updates skipped because of non-finite "
                       r"loss/gradients \(last at epoch 1 iteration 3; max_nonfinite_steps=3\)"):
        train(tmp_path, max_nonfinite_steps=3)


class Crash(Exception):
    pass


RESUME_CASES = {
    "accum_cosine": dict(
        max_epochs=3, save_interval=2, iters_per_epoch=6, accum_grad=2, keep_nbest=2,
        best_model_criterion=[["valid", "loss", "min"], ["valid", "snr", "max"]],
        model_conf={"num_layers": 3}, scheduler="cosine", scheduler_conf={"warmup_steps": 2}),
    "features": dict(
        max_epochs=3, save_interval=2, iters_per_epoch=6, valid_interval=3, grad_clip=0.05,
        activation_checkpointing=True, freeze_param=["net.layers.0.bias"], loss="l1",
        param_groups=[{"pattern": "re:.*\\.1\\..*", "lr": 0.02}], optim_conf={"amsgrad": True},
        scheduler="step", scheduler_conf={"step_size": 3, "gamma": 0.5},
        best_model_criterion=[["valid", "loss", "min"], ["valid", "snr", "max"]]),
}


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_interrupted_run_resumes_exactly(tmp_path, monkeypatch, case):
    kw = RESUME_CASES[case]
    ref = train(tmp_path / "ref", **kw)

    real_save = Trainer._save_checkpoint
    count = {"n": 0}

    def crashing_save(self):
        real_save(self)
        count["n"] += 1
        if count["n"] == 4:  # after the save at epoch 2 iteration 2 (saves: 2, 4, end, 2)
            raise Crash()

    monkeypatch.setattr(Trainer, "_save_checkpoint", crashing_save)
    with pytest.raises(Crash):
        train(tmp_path / "run", **kw)
    monkeypatch.setattr(Trainer, "_save_checkpoint", real_save)
    state, _ = load_checkpoint(tmp_path / "run")
    assert (state["epoch"], state["iteration"]) == (2, 2)
    resumed = train(tmp_path / "run", **kw)
    for k, v in weights(ref).items():
        assert torch.equal(weights(resumed)[k], v), k
    assert resumed.reporter.history == ref.reporter.history
    assert resumed.global_step == ref.global_step == 18 // kw.get("accum_grad", 1)
    for name in ("valid.loss.ave.pth", "valid.snr.ave.pth", "3epoch.pth"):
        a = torch.load(tmp_path / "ref" / name, weights_only=True)
        b = torch.load(tmp_path / "run" / name, weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_files_best_links_and_keep_nbest(tmp_path):
    t = train(tmp_path, max_epochs=3, keep_nbest=1,
              best_model_criterion=[["valid", "loss", "min"], ["valid", "snr", "max"]])
    best_loss = t.reporter.best("valid", "loss", "min")[0]
    best_snr = t.reporter.best("valid", "snr", "max")[0]
    kept = sorted(p.name for p in tmp_path.glob("*epoch.pth"))
    assert kept == sorted({f"{e}epoch.pth" for e in (best_loss, best_snr, 3)})
    assert (tmp_path / "valid.loss.best.pth").resolve().name == f"{best_loss}epoch.pth"
    assert (tmp_path / "latest.pth").resolve().name == "3epoch.pth"
    for key in ("loss", "snr"):
        assert (tmp_path / f"valid.{key}.ave.pth").resolve().name == f"valid.{key}.ave_1best.pth"
    state, _ = load_checkpoint(tmp_path)
    assert state["best"]["valid.loss"][0][0] == best_loss
    assert set(state) >= {"model", "optimizer", "scheduler", "scaler", "rng", "epoch", "iteration",
                          "global_step", "best", "config_hash", "reporter", "epoch_stats"}
    assert (state["epoch"], state["iteration"], state["global_step"]) == (3, 4, 12)


def test_early_stopping(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        t = train(tmp_path, max_epochs=10, patience=2, optim_conf={"lr": 0.0, "weight_decay": 0.0})
    assert sorted(t.reporter.history) == [1, 2, 3]
    assert "early stopping: no improvement of valid.loss for 2 epochs" in caplog.text
    again = train(tmp_path, max_epochs=10, patience=2, optim_conf={"lr": 0.0, "weight_decay": 0.0})
    assert sorted(again.reporter.history) == [1, 2, 3]


def test_valid_interval_tensorboard_and_examples(tmp_path, monkeypatch, caplog):
    steps = []
    monkeypatch.setattr(ToyTask, "log_examples", lambda self, w, b, o, step: steps.append((step, o.shape)))
    with caplog.at_level(logging.INFO):
        train(tmp_path, use_tensorboard=True, valid_interval=2, max_epochs=2)
    assert [s for s, _ in steps] == [2, 4, 6, 8] and steps[0][1] == (1, 1, 256)
    assert "validation (epoch 1 iter 2/4)" in caplog.text
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch 1/2 iter")]
    assert len(progress) == 2 and all("it/s eta" in p and "lr=" in p and "loss=" in p for p in progress)
    assert any("epoch 2/2 summary: train loss=" in r.getMessage() for r in caplog.records)
    for phase in ("train", "valid"):
        assert list((tmp_path / "tensorboard" / phase).glob("events.out.tfevents.*"))


def test_tensorboard_scalars(tmp_path):
    train(tmp_path, use_tensorboard=True, max_epochs=1, param_groups=[{"pattern": "*.bias", "lr": 0.1}])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tensorboard" / "train"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert tags >= {"loss", "snr", "lr/default", "lr/group1", "grad_norm", "iters_per_sec",
                    "data_wait_fraction"}
    assert [e.step for e in acc.Scalars("loss")] == [2, 4]
    assert acc.Scalars("lr/group1")[0].value == pytest.approx(0.1)
    valid = EventAccumulator(str(tmp_path / "tensorboard" / "valid"))
    valid.Reload()
    assert {"loss", "snr"} <= set(valid.Tags()["scalars"])
    assert "examples/mixture_target_estimate" in valid.Tags()["images"]


def test_freezing_and_group_lrs_in_training(tmp_path):
    task, cfg = make_config(max_epochs=1, freeze_param=["net.layers.0"],
                            param_groups=[{"pattern": "*.bias", "lr": 0.05}],
                            scheduler="constant", scheduler_conf={"warmup_steps": 8})
    comp = build_components(task, cfg)
    assert comp.frozen == ["net.layers.0.weight", "net.layers.0.bias"]
    t = Trainer(task, cfg, comp, tmp_path)
    before = weights(t)
    t.run()
    after = weights(t)
    assert torch.equal(after["net.layers.0.weight"], before["net.layers.0.weight"])
    assert not torch.equal(after["net.layers.1.bias"], before["net.layers.1.bias"])
    # 4 updates taken: the lr of update 4 is (4 + 1) / 8 of each group's base lr
    assert [g["lr"] for g in t.optimizer.param_groups] == pytest.approx([0.01 * 5 / 8, 0.05 * 5 / 8])


def test_bf16_on_cpu_trains_in_fp32(tmp_path, caplog):
    ref = train(tmp_path / "a", max_epochs=1)
    with caplog.at_level(logging.WARNING):
        t = train(tmp_path / "b", max_epochs=1, precision="bf16")
    assert "precision bf16 is CUDA-only" in caplog.text
    assert not t.scaler.is_enabled() and t.amp_dtype is None
    assert all(torch.equal(weights(t)[k], v) for k, v in weights(ref).items())


def test_resume_false_starts_over(tmp_path):
    first = train(tmp_path, max_epochs=1)
    again = train(tmp_path, resume=False, max_epochs=1)
    assert again.global_step == first.global_step == 4
    assert all(torch.equal(weights(again)[k], v) for k, v in weights(first).items())


def test_changed_config_checkpoint_refused(tmp_path):
    from s5tse.train.checkpoint import CheckpointError

    train(tmp_path, max_epochs=1)
    task, cfg = make_config(max_epochs=2, optim_conf={"lr": 0.5})
    t = Trainer(task, cfg, build_components(task, cfg), tmp_path)
    with pytest.raises(CheckpointError, match=r"written with a different config \(max_epochs, optim_conf.lr\)"):
        t.resume()
    assert t.resume(allow_config_change=True) and t.epoch == 1
