"""Tests for utils/slurm.pl with fake sbatch/squeue/scancel executables first on PATH."""
import os
import subprocess

import pytest

# Records its argv (one line per call), runs the array tasks locally one after the other
# (SLURM_ARRAY_TASK_ID exported, output to the -o file with %a replaced), skips the task
# given in FAKE_SBATCH_SKIP (a task that never ran, e.g. a dead node), prints a job id.
FAKE_SBATCH = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_SLURM_DIR/sbatch.args"
args=("$@")
array="" out=""
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --array) array=${args[$((i + 1))]} ;;
    -o) out=${args[$((i + 1))]} ;;
  esac
done
script=${args[$((${#args[@]} - 1))]}
ids=()
IFS=, read -ra parts <<< "${array%%\%*}"
for p in "${parts[@]}"; do
  if [[ $p == *-* ]]; then ids+=($(seq "${p%-*}" "${p#*-}")); else ids+=("$p"); fi
done
for t in "${ids[@]}"; do
  [ "$t" = "${FAKE_SBATCH_SKIP:-}" ] && continue
  SLURM_ARRAY_TASK_ID=$t SLURM_ARRAY_JOB_ID=4242 bash "$script" > "${out//%a/$t}" 2>&1 || true
done
echo "Submitted batch job 4242"
"""

# The job has always left the queue by the time slurm.pl asks.
FAKE_SQUEUE = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_SLURM_DIR/squeue.args"
"""

FAKE_SCANCEL = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_SLURM_DIR/scancel.args"
"""


@pytest.fixture
def slurm(tmp_path, repo_root, subprocess_env):
    """Return run(*args, env=None) -> CompletedProcess of slurm.pl, executed in tmp_path/work."""
    fake = tmp_path / "fake"
    fake.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("squeue", FAKE_SQUEUE), ("scancel", FAKE_SCANCEL)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    base_env = dict(subprocess_env)
    base_env.update(PATH=f"{fake}{os.pathsep}{base_env['PATH']}", FAKE_SLURM_DIR=str(fake),
                    SLURM_PL_POLL="0.02", SLURM_PL_GRACE="0.1")

    def run(*args, env=None):
        return subprocess.run(
            [str(repo_root / "utils" / "slurm.pl"), *args], cwd=work, env={**base_env, **(env or {})},
            capture_output=True, text=True, timeout=20,
        )

    run.work = work
    run.sbatch_calls = lambda: (fake / "sbatch.args").read_text().splitlines()
    return run


def test_help(slurm):
    proc = slurm("--help")
    assert proc.returncode == 0
    assert "Usage: slurm.pl" in proc.stdout


def test_defaults_and_jobs_run(slurm):
    proc = slurm("JOB=1:3", "exp/log/echo.JOB.log", "echo", "hello", "job-JOB", "a b")
    assert proc.returncode == 0, proc.stderr
    (call,) = slurm.sbatch_calls()
    argv = call.split()
    assert argv[0] == "--export=PATH"
    assert "-p cpu" in call  # default gpu=0
    assert "--array 1-3 " in call
    assert f"-o {slurm.work}/exp/log/q/echo-%a.out" in call
    assert argv[-1] == f"{slurm.work}/exp/log/q/echo.sh"
    for i in (1, 2, 3):
        lines = (slurm.work / f"exp/log/echo.{i}.log").read_text().splitlines()
        assert lines[0] == f"# echo hello job-{i} 'a b'"
        assert lines[1].startswith("# Started at ")
        assert f"hello job-{i} a b" in lines
        assert lines[-2].startswith("# Accounting: time=")
        assert lines[-1].startswith("# Ended (code 0) at ")
    # done markers are cleaned up
    assert not list((slurm.work / "exp/log/q").glob("done.*"))


def test_option_mapping(slurm):
    proc = slurm("--mem", "4G", "--gpu", "1", "--num-threads", "4", "--max-jobs-run", "2",
                 "--time", "1:00:00", "--name", "myjob", "JOB=1:3", "log/m.JOB.log", "true")
    assert proc.returncode == 0, proc.stderr
    (call,) = slurm.sbatch_calls()
    assert "--mem-per-cpu 4G" in call
    assert "-p gpu --gres=gpu:1 -c 1" in call
    assert "-p cpu" not in call
    assert "--cpus-per-task 4" in call
    assert "--time 1:00:00" in call
    assert "--job-name myjob" in call
    assert "--array 1-3%2 " in call
    assert "threads=4" in (slurm.work / "log/m.1.log").read_text()


def test_exact_value_mapping(slurm):
    proc = slurm("--mem", "0", "--num-threads", "1", "single.log", "true")
    assert proc.returncode == 0, proc.stderr
    (call,) = slurm.sbatch_calls()
    assert "--mem-per-cpu" not in call  # option mem=0 maps to nothing
    assert "--cpus-per-task 1" in call
    assert "--array 1-1 " in call


def test_unknown_option(slurm):
    proc = slurm("--bogus", "3", "x.log", "true")
    assert proc.returncode != 0
    assert "--bogus" in proc.stderr


def test_failing_task(slurm):
    body = 'echo "marker-$0-plugh"; [ "$0" != 2 ]'
    proc = slurm("JOB=1:3", "log/f.JOB.log", "bash", "-c", body, "JOB")
    assert proc.returncode == 1
    assert "1 / 3 failed" in proc.stderr
    assert "log/f.*.log" in proc.stderr
    assert "log/f.2.log" in proc.stderr
    assert "marker-2-plugh" in proc.stderr


def test_task_that_never_ran(slurm):
    proc = slurm("JOB=1:3", "log/n.JOB.log", "true", env={"FAKE_SBATCH_SKIP": "3"})
    assert proc.returncode == 1
    assert "1 / 3 failed" in proc.stderr
    assert "log/n.3.log" in proc.stderr


def test_pick_failed(slurm):
    body = '[ "$0" != 2 ] || [ -e flag ]'
    assert slurm("JOB=1:3", "log/p.JOB.log", "bash", "-c", body, "JOB").returncode == 1
    (slurm.work / "flag").touch()
    proc = slurm("--pick", "failed", "JOB=1:3", "log/p.JOB.log", "bash", "-c", body, "JOB")
    assert proc.returncode == 0, proc.stderr
    assert "--array 2-2 " in slurm.sbatch_calls()[-1]


def test_custom_config(slurm):
    conf = slurm.work / "my.conf"
    conf.write_text(
        "# site config\n"
        "command sbatch --export=ALL --account proj\n"
        "option mem=* --mem $0  # total memory\n"
        "default gpu=0\n"
        "option gpu=0\n"
        "option gpu=* --gpus $0\n"
    )
    proc = slurm("--config", str(conf), "--mem", "8G", "--gpu", "2", "x.log", "true")
    assert proc.returncode == 0, proc.stderr
    (call,) = slurm.sbatch_calls()
    assert call.startswith("--export=ALL --account proj --mem 8G --gpus 2 --array 1-1 ")
    # num_threads has no mapping in this config
    proc = slurm("--config", str(conf), "--num-threads", "2", "x.log", "true")
    assert proc.returncode != 0
    assert "--num-threads" in proc.stderr


def test_conf_slurm_conf_in_cwd_used_by_default(slurm):
    (slurm.work / "conf").mkdir()
    (slurm.work / "conf/slurm.conf").write_text("command sbatch --qos short\ndefault gpu=0\noption gpu=0 -p small\n")
    proc = slurm("x.log", "true")
    assert proc.returncode == 0, proc.stderr
    assert slurm.sbatch_calls()[0].startswith("--qos short -p small --array 1-1 ")


def test_missing_config_file(slurm):
    proc = slurm("--config", "nope.conf", "x.log", "true")
    assert proc.returncode != 0
    assert "nope.conf" in proc.stderr


def test_malformed_range(slurm):
    proc = slurm("JOB=0:2", "x.JOB.log", "true")
    assert proc.returncode != 0
    assert "VAR=START:END" in proc.stderr
