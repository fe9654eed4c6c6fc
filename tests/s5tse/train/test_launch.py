"""Tests for s5tse.train.launch: the launcher prefix table, the CLI, the Slurm multi-node
mode, and end-to-end runs through utils/run.pl (torchrun, one node) and utils/slurm.pl
(fake sbatch/squeue/srun; two simulated nodes on this machine, real c10d rendezvous)."""
import json
import os
import shlex
import socket
import subprocess
import sys
import textwrap

import pytest

from s5tse.train import distributed as D
from s5tse.train.launch import LaunchError, launcher_command, main, slurm_torchrun_command

TORCHRUN_1NODE = ["torchrun", "--standalone", "--nproc-per-node"]


# ----------------------------------------------------------------------------- prefix table
@pytest.mark.parametrize("ngpu, backend", [(0, "local"), (1, "local"), (0, "slurm"), (1, "slurm")])
def test_single_process_has_no_prefix(ngpu, backend):
    assert launcher_command(ngpu, 1, backend) == []


@pytest.mark.parametrize("backend", ["local", "slurm"])
def test_one_node_multi_gpu_uses_torchrun_standalone(backend):
    assert launcher_command(4, 1, backend) == [*TORCHRUN_1NODE, "4", "--no-python"]
    assert launcher_command(2, 1, backend, rdzv_port=1234) == [*TORCHRUN_1NODE, "2", "--no-python"]


def test_multi_node_slurm_uses_the_wrapper():
    assert launcher_command(4, 2, "slurm") == [
        "python", "-m", "s5tse.train.launch", "slurm-torchrun", "--nnodes", "2", "--nproc_per_node", "4",
        "--rdzv_port", "29400", "--"]
    got = launcher_command(0, 3, "slurm", rdzv_port=29555, python="coverage run --append")
    assert got[:5] == ["coverage", "run", "--append", "-m", "s5tse.train.launch"]
    assert got[-7:] == ["--nnodes", "3", "--nproc_per_node", "1", "--rdzv_port", "29555", "--"]


def test_multi_node_local_is_an_error():
    msg = r"^run.pl cannot start jobs on other nodes; use --cmd_backend slurm$"
    with pytest.raises(LaunchError, match=msg):
        launcher_command(2, 2, "local")


@pytest.mark.parametrize("args, match", [
    ((-1, 1, "local"), "--ngpu"), ((1, 0, "local"), "--num_nodes"), ((1, 1, "sge"), "unknown --cmd_backend"),
])
def test_bad_values(args, match):
    with pytest.raises(LaunchError, match=match):
        launcher_command(*args)
    with pytest.raises(LaunchError, match="--rdzv_port"):
        launcher_command(2, 2, "slurm", rdzv_port=0)


# ----------------------------------------------------------------------------- CLI (prefix)
@pytest.mark.parametrize("argv, out", [
    (["--ngpu", "1"], ""),
    (["--ngpu", "0", "--num_nodes", "1", "--cmd_backend", "slurm"], ""),
    (["--ngpu", "2"], "torchrun --standalone --nproc-per-node 2 --no-python"),
    (["--ngpu", "8", "--num_nodes", "2", "--cmd_backend", "slurm", "--python", "'/opt/my env/bin/python'"],
     "'/opt/my env/bin/python' -m s5tse.train.launch slurm-torchrun --nnodes 2 --nproc_per_node 8 "
     "--rdzv_port 29400 --"),
])
def test_cli_prints_the_prefix(capsys, argv, out):
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed == out + "\n"
    # what the shell reads back is the list
    assert shlex.split(printed) == launcher_command(
        int(argv[1]), int(dict(zip(argv[::2], argv[1::2])).get("--num_nodes", 1)),
        dict(zip(argv[::2], argv[1::2])).get("--cmd_backend", "local"),
        python=dict(zip(argv[::2], argv[1::2])).get("--python", "python"))


@pytest.mark.parametrize("argv, message", [
    (["--ngpu", "2", "--num_nodes", "2", "--cmd_backend", "local"],
     "launch: error: run.pl cannot start jobs on other nodes; use --cmd_backend slurm"),
    (["--ngpu", "2", "--cmd_backend", "pbs"], "launch: error: unknown --cmd_backend 'pbs'"),
    (["--num_nodes", "2"], "launch: error: the following arguments are required: --ngpu"),
])
def test_cli_errors_are_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_cli_as_module(subprocess_env):
    proc = subprocess.run([sys.executable, "-m", "s5tse.train.launch", "--ngpu", "3"], capture_output=True,
                          text=True, env=subprocess_env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "torchrun --standalone --nproc-per-node 3 --no-python\n"


# ----------------------------------------------------------------------------- slurm-torchrun mode
SLURM_ENV = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_JOB_NUM_NODES": "2",
             "SLURM_CPUS_PER_TASK": "8"}


@pytest.fixture
def no_scontrol(monkeypatch):
    monkeypatch.setattr(D.shutil, "which", lambda name: None)


def test_slurm_torchrun_command(no_scontrol):
    cmd = slurm_torchrun_command(["python", "-m", "s5tse.bin.train", "--x", "a b"], nnodes=2,
                                 nproc_per_node=4, env=SLURM_ENV, python="/venv/bin/python")
    assert cmd == [
        "srun", "--export=ALL", "--nodes", "2", "--ntasks", "2", "--ntasks-per-node=1", "--cpus-per-task=8",
        "--kill-on-bad-exit=1",
        "/venv/bin/python", "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "4",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", "gpu07:29400", "--rdzv-id", "4242", "--no-python",
        "python", "-m", "s5tse.bin.train", "--x", "a b"]
    # no SLURM_CPUS_PER_TASK: no --cpus-per-task; the default interpreter is this one
    env = {k: v for k, v in SLURM_ENV.items() if k != "SLURM_CPUS_PER_TASK"}
    cmd = slurm_torchrun_command(["true"], nnodes=2, nproc_per_node=1, rdzv_port=1111, env=env)
    assert not any(w.startswith("--cpus-per-task") for w in cmd)
    assert sys.executable in cmd and "gpu07:1111" in cmd


@pytest.mark.parametrize("env, match", [
    ({}, "must run inside a Slurm job"),
    ({**SLURM_ENV, "SLURM_JOB_NUM_NODES": "1"}, r"has 1 node\(s\) but 2 are needed"),
])
def test_slurm_torchrun_errors(no_scontrol, env, match):
    with pytest.raises(LaunchError, match=match):
        slurm_torchrun_command(["true"], nnodes=2, nproc_per_node=1, env=env)
    with pytest.raises(LaunchError, match="no command"):
        slurm_torchrun_command([], nnodes=2, nproc_per_node=1, env=SLURM_ENV)


def test_slurm_torchrun_cli_dry_run(no_scontrol, monkeypatch, capsys):
    for k, v in SLURM_ENV.items():
        monkeypatch.setenv(k, v)
    assert main(["slurm-torchrun", "--nnodes", "2", "--nproc_per_node", "2", "--dry_run", "--",
                 "python", "-m", "s5tse.bin.train", "--opt", "x y"]) == 0
    out = shlex.split(capsys.readouterr().out)
    assert out[0] == "srun" and "gpu07:29400" in out and out[-5:] == ["python", "-m", "s5tse.bin.train",
                                                                      "--opt", "x y"]
    monkeypatch.delenv("SLURM_JOB_ID")
    with pytest.raises(SystemExit):
        main(["slurm-torchrun", "--nnodes", "2", "--nproc_per_node", "2", "--", "true"])
    assert capsys.readouterr().err.startswith("launch: error: slurm-torchrun must run inside a Slurm job")


# ----------------------------------------------------------------------------- end to end
# Writes its argv and what init_distributed sees; with --collective also all-reduces.
WORKER = textwrap.dedent('''
    import json, os, sys
    out = sys.argv[1]
    info = dict(argv=sys.argv[2:], env={k: os.environ.get(k) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE")})
    if "--collective" in sys.argv:
        from s5tse.train.distributed import all_reduce_mean, cleanup, init_distributed
        ctx = init_distributed(0)
        info.update(rank=ctx.rank, world=ctx.world_size, mean=all_reduce_mean(float(ctx.rank), ctx))
        cleanup(ctx)
    with open(os.path.join(out, "rank%s.json" % os.environ.get("RANK", "0")), "w") as f:
        json.dump(info, f)
''')

# Tricky arguments that must reach the program literally through run.pl/slurm.pl quoting.
TRICKY = ["a b", "$HOME", "x;y", "it's"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_run_pl_one_node_torchrun(tmp_path, repo_root, subprocess_env):
    (tmp_path / "w.py").write_text(WORKER)
    prefix = launcher_command(2, 1, "local")
    log = tmp_path / "exp" / "train.log"
    proc = subprocess.run([str(repo_root / "utils" / "run.pl"), "--gpu", "2", "--num_nodes", "1", str(log),
                           *prefix, "python", str(tmp_path / "w.py"), str(tmp_path), *TRICKY],
                          cwd=tmp_path, env={**subprocess_env, "PYTHONFAULTHANDLER": "1"},
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr + log.read_text()
    for rank in (0, 1):
        info = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert info["argv"] == TRICKY
        assert info["env"] == {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"}


FAKE_SBATCH = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_SLURM_DIR/sbatch.args"
args=("$@"); out=""
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = -o ] && out=${args[$((i + 1))]}; done
script=${args[$((${#args[@]} - 1))]}
SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_JOB_ID=4242 bash "$script" > "${out//%a/1}" 2>&1 || true
echo "Submitted batch job 4242"
"""

FAKE_SQUEUE = "#!/usr/bin/env bash\ntrue\n"

# Records its argv, then starts --ntasks copies of the command in parallel, one per
# simulated node (all on this machine), and waits for them.
FAKE_SRUN = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_SLURM_DIR/srun.args"
n=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ntasks|--nodes) [ "$1" = --ntasks ] && n=$2; shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
pids=()
for ((i = 0; i < n; i++)); do SLURM_PROCID=$i SLURM_NODEID=$i "$@" & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
"""


@pytest.mark.slow
def test_slurm_pl_two_nodes_end_to_end(tmp_path, repo_root, subprocess_env):
    """slurm.pl --num_nodes 2 with the multi-node prefix: the batch script runs the wrapper,
    which execs srun; two torchrun agents meet at the c10d rendezvous on the first node."""
    fake = tmp_path / "fake"
    fake.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("squeue", FAKE_SQUEUE), ("srun", FAKE_SRUN)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (work / "w.py").write_text(WORKER)
    env = dict(subprocess_env)
    env.update(PATH=f"{fake}{os.pathsep}{env['PATH']}", FAKE_SLURM_DIR=str(fake), SLURM_PL_POLL="0.05",
               SLURM_PL_GRACE="0.2", SLURM_JOB_ID="4242", SLURM_JOB_NODELIST="localhost,localhost",
               SLURM_JOB_NUM_NODES="2", SLURM_CPUS_PER_TASK="1", OMP_NUM_THREADS="1",
               PYTHONFAULTHANDLER="1")
    prefix = launcher_command(1, 2, "slurm", rdzv_port=_free_port())
    proc = subprocess.run([str(repo_root / "utils" / "slurm.pl"), "--gpu", "1", "--num_nodes", "2",
                           "exp/train.log", *prefix, "python", "w.py", str(work), "--collective", *TRICKY],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)
    log = (work / "exp" / "train.log").read_text() if (work / "exp" / "train.log").exists() else ""
    assert proc.returncode == 0, proc.stderr + log
    (sbatch,) = (fake / "sbatch.args").read_text().splitlines()
    assert "--nodes 2" in sbatch and "--gres=gpu:1" in sbatch
    (srun,) = (fake / "srun.args").read_text().splitlines()
    assert srun.startswith("--export=ALL --nodes 2 --ntasks 2 --ntasks-per-node=1 --cpus-per-task=1 ")
    assert "--rdzv-id 4242" in srun and "--rdzv-endpoint localhost:" in srun
    for rank in (0, 1):
        info = json.loads((work / f"rank{rank}.json").read_text())
        assert info["argv"] == ["--collective", *TRICKY]
        assert (info["rank"], info["world"], info["mean"]) == (rank, 2, 0.5)
        assert info["env"]["LOCAL_RANK"] == "0"  # one process per simulated node
