"""Tests for utils/run.pl (local parallel job runner)."""
import subprocess

import pytest


@pytest.fixture
def run_pl(tmp_path, repo_root, subprocess_env):
    """Return run(*args) -> CompletedProcess of run.pl, executed in tmp_path."""

    def run(*args):
        return subprocess.run(
            [str(repo_root / "utils" / "run.pl"), *args], cwd=tmp_path, env=subprocess_env,
            capture_output=True, text=True, timeout=20,
        )

    return run


def test_help(run_pl):
    proc = run_pl("--help")
    assert proc.returncode == 0
    assert "Usage: run.pl" in proc.stdout


def test_three_jobs_succeed(run_pl, tmp_path):
    proc = run_pl("JOB=1:3", "exp/log/echo.JOB.log", "echo", "hello", "job-JOB")
    assert proc.returncode == 0, proc.stderr
    for i in (1, 2, 3):
        lines = (tmp_path / f"exp/log/echo.{i}.log").read_text().splitlines()
        assert lines[0] == f"# echo hello job-{i}"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"hello job-{i}"
        assert lines[3].startswith("# Accounting: time=") and lines[3].endswith(" threads=1")
        assert lines[4].startswith("# Ended (code 0) at ")
        assert "elapsed time" in lines[4]


def test_single_job_and_stderr_captured(run_pl, tmp_path):
    proc = run_pl("single.log", "bash", "-c", "echo out; echo err >&2")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "single.log").read_text()
    assert "out\n" in text and "err\n" in text


def test_log_truncated_at_start(run_pl, tmp_path):
    (tmp_path / "t.log").write_text("OLD CONTENT\n")
    assert run_pl("t.log", "true").returncode == 0
    assert "OLD CONTENT" not in (tmp_path / "t.log").read_text()


def test_one_of_three_fails(run_pl, tmp_path):
    script = 'echo "marker-$0-xyzzy"; [ "$0" != 2 ]'
    proc = run_pl("JOB=1:3", "log/f.JOB.log", "bash", "-c", script, "JOB")
    assert proc.returncode == 1
    assert "1 / 3 failed" in proc.stderr
    assert "log/f.*.log" in proc.stderr
    assert "log/f.2.log" in proc.stderr
    assert "marker-2-xyzzy" in proc.stderr  # tail of the failing log
    assert "marker-1-xyzzy" not in proc.stderr
    assert (tmp_path / "log/f.2.log").read_text().splitlines()[-1].startswith("# Ended (code 1)")


def test_single_job_failure_message(run_pl):
    proc = run_pl("one.log", "bash", "-c", "echo only-marker; exit 3")
    assert proc.returncode == 1
    assert "run.pl: job failed, log is in one.log" in proc.stderr
    assert "only-marker" in proc.stderr


def test_max_jobs_run_serialises(run_pl, tmp_path):
    body = 'echo "start $0" >> shared.txt; sleep 0.15; echo "end $0" >> shared.txt'
    proc = run_pl("--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log", "bash", "-c", body, "JOB")
    assert proc.returncode == 0, proc.stderr
    events = (tmp_path / "shared.txt").read_text().split("\n")[:-1]
    assert len(events) == 6
    for k in range(0, 6, 2):  # strictly start/end pairs of the same job: no overlap
        assert events[k].startswith("start ")
        assert events[k + 1] == "end " + events[k].split()[1]


@pytest.mark.skipif(len(__import__("os").sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_jobs_run_in_parallel_although_omp_num_threads_is_1(repo_root, subprocess_env, tmp_path):
    """path.sh exports OMP_NUM_THREADS=1 (one thread per job); the default number of parallel
    jobs is still the number of CPUs (GNU nproc alone would report 1): each job waits until
    it sees the other one start, which only a parallel run allows."""
    body = ('touch started.$0; for i in $(seq 200); do [ -e started.1 ] && [ -e started.2 ] '
            '&& { echo together > seen.$0; exit 0; }; sleep 0.05; done; echo alone > seen.$0')
    env = dict(subprocess_env, OMP_NUM_THREADS="1")
    proc = subprocess.run([str(repo_root / "utils" / "run.pl"), "JOB=1:2", "log/p.JOB.log", "bash",
                           "-c", body, "JOB"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [(tmp_path / f"seen.{j}").read_text().strip() for j in (1, 2)] == ["together"] * 2


def test_tc_alias(run_pl, tmp_path):
    proc = run_pl("-tc", "1", "JOB=1:2", "log/tc.JOB.log", "true")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("spec", ["JOB=1", "JOB=3:1", "JOB=a:b", "JOB=0:2", "JOB=1:"])
def test_malformed_ranges(run_pl, spec):
    proc = run_pl(spec, "x.JOB.log", "true")
    assert proc.returncode != 0
    assert spec in proc.stderr
    assert "VAR=START:END" in proc.stderr


def test_range_needs_var_in_log_name(run_pl):
    proc = run_pl("JOB=1:2", "x.log", "true")
    assert proc.returncode != 0
    assert "JOB" in proc.stderr


def test_other_identifier(run_pl, tmp_path):
    proc = run_pl("TASK=2:3", "t.TASK.log", "echo", "TASK")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "t.1.log").exists()
    assert "\n3\n" in (tmp_path / "t.3.log").read_text()


def test_pick_failed_reruns_only_failed(run_pl, tmp_path):
    # job 2 fails the first time (no flag file yet) and succeeds afterwards
    body = 'echo run >> count.$0; [ "$0" != 2 ] || [ -e flag ]'
    proc = run_pl("JOB=1:3", "log/p.JOB.log", "bash", "-c", body, "JOB")
    assert proc.returncode == 1
    (tmp_path / "flag").touch()
    proc = run_pl("--pick", "failed", "JOB=1:3", "log/p.JOB.log", "bash", "-c", body, "JOB")
    assert proc.returncode == 0, proc.stderr
    counts = {i: (tmp_path / f"count.{i}").read_text().count("run") for i in (1, 2, 3)}
    assert counts == {1: 1, 2: 2, 3: 1}


def test_pick_incomplete(run_pl, tmp_path):
    assert run_pl("JOB=1:2", "log/i.JOB.log", "true").returncode == 0
    (tmp_path / "log/i.2.log").write_text("# true\n# Started at yesterday\n")  # killed job
    proc = run_pl("--pick", "incomplete", "JOB=1:2", "log/i.JOB.log", "bash", "-c", "echo rerun-JOB")
    assert proc.returncode == 0, proc.stderr
    assert "rerun" not in (tmp_path / "log/i.1.log").read_text()
    assert "rerun-2" in (tmp_path / "log/i.2.log").read_text()


def test_quoted_arguments_and_escaped_pipe(run_pl, tmp_path):
    proc = run_pl("q.log", "echo", "a  b", "it's", "$HOME", "|", "tr", "a-z", "A-Z")
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "q.log").read_text().splitlines()
    assert lines[2] == "A  B IT'S $HOME"


def test_escaped_redirection(run_pl, tmp_path):
    proc = run_pl("r.log", "echo", "to file", ">", "out.txt")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.txt").read_text() == "to file\n"


def test_queue_options_ignored(run_pl, tmp_path):
    proc = run_pl("--gpu", "0", "--mem", "4G", "--num-threads", "2", "--time", "1:00:00",
                  "--name", "x", "--config", "conf/none.conf", "JOB=1:2", "g.JOB.log", "true")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.2.log").exists()


def test_bad_option_values(run_pl):
    assert run_pl("--max-jobs-run", "0", "x.log", "true").returncode != 0
    assert run_pl("--pick", "some", "x.log", "true").returncode != 0
    assert run_pl("x.log").returncode != 0  # no command
