"""Tests for python -m s5tse.bin.train: SIGKILL + resume exactness, config checks, dry runs."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from s5tse.bin.train import main
from s5tse.tasks.toy import ToyModel
from s5tse.train.checkpoint import CHECKPOINT, CHECKPOINT_PREV, load_checkpoint
from tests.conftest import DCASE_CLASSES_FILE

REPO = Path(__file__).resolve().parents[3]
TOY_CONF_DIR = REPO / "tests" / "s5tse" / "tasks" / "conf"
DEBUG = TOY_CONF_DIR / "train_toy_debug.yaml"


def all_configs():
    """Every training YAML of every recipe, plus the toy configs of the tests."""
    files = sorted(REPO.glob("egs/*/conf/**/*.yaml")) + sorted(TOY_CONF_DIR.glob("*.yaml"))
    return [pytest.param(p, id=str(p.relative_to(REPO))) for p in files]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_main(out, *extra):
    main(["--config", str(DEBUG), "--output_dir", str(out), *extra])


def model_of(path):
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state["model"] if "model" in state else state


def assert_same_weights(a, b):
    a, b = model_of(a), model_of(b)
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ------------------------------------------------------------------------- SIGKILL
def test_sigkill_mid_epoch_then_rerun_gives_the_same_weights(tmp_path, subprocess_env):
    env = dict(subprocess_env, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # identical commands but for the output dir; workers + slow items make the kill land mid-epoch
    def cmd(out):
        return [sys.executable, "-m", "s5tse.bin.train", "--config", str(DEBUG),
                "--output_dir", str(out), "--num_workers", "2",
                "--train_dataset_conf.delay_sec", "0.03"]

    ref_log = open(tmp_path / "ref.stderr", "w")
    ref = subprocess.Popen(cmd(tmp_path / "ref"), stdout=subprocess.DEVNULL, stderr=ref_log,
                           env=env, cwd=tmp_path)
    run = tmp_path / "run"
    victim = subprocess.Popen(cmd(run), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=env, cwd=tmp_path, text=True, start_new_session=True)
    seen = []
    try:
        for line in victim.stderr:
            seen.append(line)
            if "saved checkpoint.pth (epoch 2, iteration 2/8)" in line:
                os.killpg(victim.pid, signal.SIGKILL)  # the run and its DataLoader workers
                break
        else:
            pytest.fail("the run ended before the kill:\n" + "".join(seen[-20:]))
    finally:
        victim.wait(timeout=60)
        victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL
    assert ref.wait(timeout=120) == 0, (tmp_path / "ref.stderr").read_text()[-3000:]
    ref_log.close()

    state, _ = load_checkpoint(run)
    assert state["epoch"] == 2 and 0 < state["iteration"] < 8, "not killed mid-epoch"
    assert not (run / "3epoch.pth").exists()

    again = subprocess.run(cmd(run), capture_output=True, text=True, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"epoch 2: skipping the {state['iteration']} iterations already done" in again.stderr
    assert "resumed from" in again.stderr

    ref_dir = tmp_path / "ref"
    assert_same_weights(ref_dir / CHECKPOINT, run / CHECKPOINT)
    for name in ("3epoch.pth", "valid.loss.ave.pth", "valid.snr.ave.pth", "valid.loss.best.pth"):
        assert_same_weights(ref_dir / name, run / name)
    a = torch.load(ref_dir / CHECKPOINT, weights_only=True)
    b = torch.load(run / CHECKPOINT, weights_only=True)
    assert a["reporter"] == b["reporter"] and a["global_step"] == b["global_step"] == 24
    assert a["best"] == b["best"]
    # train.log mirrors the console (both runs appended; the line printed just before the
    # kill may be missing from the file: the kill can fall between the two handlers)
    log = (run / "train.log").read_text()
    assert log.count("--train_dataset_conf.delay_sec 0.03") == 2
    assert "saved checkpoint.pth (epoch 1, iteration 8/8)" in log
    assert "training finished" in log and "resumed from" in log


# ------------------------------------------------------------- resume and configs
def test_rerun_after_finishing_is_a_no_op(tmp_path, capsys):
    run_main(tmp_path)
    before = (tmp_path / CHECKPOINT).read_bytes()
    run_main(tmp_path)
    assert (tmp_path / CHECKPOINT).read_bytes() == before
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["task"] == "toy"


def test_config_change_is_refused_unless_allowed(tmp_path, capsys):
    run_main(tmp_path, "--max_epochs", "1")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_main(tmp_path, "--max_epochs", "2", "--optim_conf.lr", "0.5")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("train: error: ") and "config.yaml differs from the resolved config in: " \
        "max_epochs, optim_conf.lr; pass --allow_config_change true" in err
    # resume-safe keys may change
    run_main(tmp_path, "--max_epochs", "1", "--num_workers", "1", "--log_interval", "1")
    run_main(tmp_path, "--max_epochs", "2", "--allow_config_change", "true")
    assert (tmp_path / "2epoch.pth").exists() and (tmp_path / "config.prev.yaml").exists()
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["max_epochs"] == 2


def test_resume_false_on_a_run_needs_overwrite_which_removes_it(tmp_path, capsys):
    run_main(tmp_path, "--max_epochs", "2")
    assert (tmp_path / "2epoch.pth").exists()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_main(tmp_path, "--max_epochs", "1", "--resume", "false")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("train: error: ") and "holds a training run (checkpoint.pth)" in err \
        and "--overwrite true" in err
    run_main(tmp_path, "--max_epochs", "1", "--resume", "false", "--overwrite", "true")
    assert not (tmp_path / "2epoch.pth").exists()                 # nothing of the old run left
    assert load_checkpoint(tmp_path)[0]["epoch"] == 1
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["max_epochs"] == 1


def test_stale_temporaries_are_removed_and_config_waits_for_valid_inputs(tmp_path, capsys):
    from s5tse.fileio.atomic import atomic_path, stale_temporaries

    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / ".checkpoint.pth.ab12cd34.tmp.pth"       # a write killed before its rename
    stale.write_bytes(b"half")
    keep = tmp_path / ".hidden.txt"
    keep.write_text("x")
    with atomic_path(tmp_path / "x.wav") as tmp:                # the names atomic_path makes match
        assert stale_temporaries(tmp_path) == sorted([Path(tmp), stale])
    run_main(tmp_path, "--max_epochs", "1")
    assert not stale.exists() and keep.exists()
    assert "the temporary file of a write that was killed" in (tmp_path / "train.log").read_text()
    # a run that fails on its inputs leaves no config.yaml (the fixed rerun is no config change)
    bad = tmp_path / "bad"
    with pytest.raises(SystemExit):
        main(["--task", "tagger", "--classes", str(DCASE_CLASSES_FILE), "--output_dir", str(bad),
              "--train_data", str(tmp_path / "missing"), "--valid_data", str(tmp_path / "missing")])
    assert not (bad / "config.yaml").exists()


def test_corrupt_checkpoint_resumes_from_prev(tmp_path, capsys):
    run_main(tmp_path / "ref", "--max_epochs", "2")
    out = tmp_path / "run"
    run_main(out, "--max_epochs", "2")
    (out / CHECKPOINT).write_bytes((out / CHECKPOINT).read_bytes()[:1000])  # truncated
    prev = torch.load(out / CHECKPOINT_PREV, weights_only=True)
    assert (prev["epoch"], prev["iteration"]) == (2, 6)
    capsys.readouterr()
    run_main(out, "--max_epochs", "2")
    err = capsys.readouterr().err
    assert "WARNING cannot load" in err and "resuming from the previous checkpoint" in err
    assert "epoch 2: skipping the 6 iterations already done" in err
    assert_same_weights(tmp_path / "ref" / CHECKPOINT, out / CHECKPOINT)


def test_nonfinite_abort_is_one_line(tmp_path, monkeypatch, capsys):
    def nan_forward(self, mixture, source, **batch):
        return torch.tensor(float("nan"), requires_grad=True), {}, torch.tensor(1)

    monkeypatch.setattr(ToyModel, "forward", nan_forward)
    with pytest.raises(SystemExit) as exc:
        run_main(tmp_path, "--max_nonfinite_steps", "2")
    assert exc.value.code == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("train: error: 2 consecutive updates skipped because of non-finite")
    log = (tmp_path / "train.log").read_text()
    assert "non-finite loss (nan) at epoch 1 iteration 1, batch ids: toy-train-e1-" in log
    assert "ERROR 2 consecutive updates skipped" in log


# --------------------------------------------------------------- CLI surface
@pytest.mark.parametrize("config", all_configs())
def test_dry_run_every_config(config, capsys):
    data = yaml.safe_load(config.read_text()) or {}
    if "task" not in data:
        if config.name.startswith("train"):
            pytest.fail(f"{config}: training configs need a top-level 'task:' key")
        pytest.skip("not a training config (no 'task:' key)")
    classes = ["--classes", str(DCASE_CLASSES_FILE)] if data["task"] != "toy" else []
    main(["--config", str(config), "--dry_run", *classes])
    out, err = capsys.readouterr()
    assert f"task: {data['task']}" in out and "parameters: total " in out and "dry run" in out
    # weight files that are not here (published downloads, earlier steps): random init, named
    for key, value in (data.get("model_conf") or {}).items():
        if key.endswith("_weights") and value and not Path(value).is_file():
            assert f"dry run: model_conf.{key}: {value} is not here; building with random weights" in err


def test_print_config_round_trips(tmp_path, capsys):
    main(["--config", str(DEBUG), "--model_conf.channels", "3", "--print_config"])
    text = capsys.readouterr().out
    printed = yaml.safe_load(text)
    assert printed["model_conf"] == {"channels": 3, "kernel_size": 9, "num_layers": 2}
    assert printed["optim_conf"]["amsgrad"] is False and printed["scheduler_conf"] == {"warmup_steps": 2}
    (tmp_path / "c.yaml").write_text(text)
    main(["--config", str(tmp_path / "c.yaml"), "--print_config"])
    assert capsys.readouterr().out == text


def test_dry_run_counts_parameters_and_writes_nothing(tmp_path, capsys):
    main(["--task", "toy", "--model_conf.channels", "2", "--freeze_param", "[net.layers.0]",
          "--output_dir", str(tmp_path / "exp"), "--dry_run", "true"])
    out = capsys.readouterr().out
    # conv 1->2 (k=9): 18 + 2; conv 2->1: 18 + 1
    assert "parameters: total 39, trainable 19 (2 frozen tensors)" in out
    assert "train dataset: ToySinesDataset (8,000 items)" in out
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "toy", "--model", "unet", "--dry_run"], "unknown model 'unet' (choices: toy_conv)"),
        (["--task", "toy", "--optim", "lamb", "--dry_run"], "unknown optim 'lamb' (choices: adam, adamw, sgd)"),
        (["--task", "asr", "--dry_run"], "unknown task 'asr' (choices: pretrain, separator, tagger, toy)"),
        (["--dry_run"], "no task: pass --task {pretrain,separator,tagger,toy} or set 'task:' in the config"),
        (["--task", "toy"], "--output_dir is required"),
        (["--task", "toy", "--max_epoch", "3"], "unknown key 'max_epoch'"),
    ],
)
def test_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("train: error: ") and message in err


def test_task_from_the_config_file_and_cli_precedence(tmp_path, capsys):
    conf = tmp_path / "c.yaml"
    conf.write_text("task: nosuch\n")
    with pytest.raises(SystemExit):
        main(["--config", str(conf), "--dry_run"])
    assert "nosuch" in capsys.readouterr().err
    conf.write_text("task: toy\nmax_epochs: 3\n")
    main(["--config", str(conf), "--print_config"])  # the task comes from the config file
    assert yaml.safe_load(capsys.readouterr().out)["task"] == "toy"
    conf.write_text("task: tagger\nmax_epochs: 2\n")
    main(["--config", str(conf), "--task", "toy", "--print_config"])  # --task wins
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["task"] == "toy" and printed["max_epochs"] == 2
