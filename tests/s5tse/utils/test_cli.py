"""Tests for s5tse.utils.cli: the one-line error and Ctrl-C in every tool."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s5tse.utils.cli import fail

REPO = Path(__file__).resolve().parents[3]


def test_fail_prints_one_line_and_exits(capsys):
    with pytest.raises(SystemExit) as e:
        fail("tool", "data/x:\n  bad   thing", 3)
    assert e.value.code == 3
    assert capsys.readouterr().err == "tool: error: data/x: bad thing\n"


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    """SIGINT during a training run (the toy task): exit 130, one line, no traceback."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "s5tse.bin.train", "--task", "toy", "--output_dir", str(tmp_path / "exp"),
         "--max_epochs", "100000", "--iters_per_epoch", "50", "--batch_size", "2", "--num_workers", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a background shell (CI) starts us with SIGINT ignored, which the child would inherit
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = tmp_path / "exp" / "train.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "epoch 1" in log.read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert err.rstrip().splitlines()[-1] == "train: interrupted" and "Traceback" not in err
