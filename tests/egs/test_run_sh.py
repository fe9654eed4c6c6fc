"""egs/dcase2026_task4/run.sh: option handling, usage errors, stage 0."""
import re
import subprocess

import pytest

RECIPE = "egs/dcase2026_task4"


def run_recipe(repo_root, env, *args, timeout=300):
    return subprocess.run(
        ["./run.sh", *args],
        cwd=repo_root / RECIPE,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def declared_options(repo_root):
    """Variables declared between the <options> markers of run.sh, read from the file."""
    text = (repo_root / RECIPE / "run.sh").read_text()
    block = text.split("# <options>\n", 1)[1].split("# </options>", 1)[0]
    return dict(
        re.match(r"^([a-z_]+)=(\S*)", line).groups()
        for line in block.splitlines()
        if line.strip()
    )


def test_help_lists_every_option_with_default(repo_root, subprocess_env):
    res = run_recipe(repo_root, subprocess_env, "--help")
    assert res.returncode == 0, res.stderr
    options = declared_options(repo_root)
    assert {"stage", "stop_stage", "skip_train", "skip_eval", "nj", "python"} <= set(options)
    for name, default in options.items():
        assert re.search(rf"--{name}\s+\[{re.escape(default)}\]", res.stdout), name


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus", "1"], "invalid option --bogus"),
        (["extra_positional"], "no positional arguments"),
        (["--stage=1"], "--name value"),
        (["--skip_train", "maybe"], '"true" or "false"'),
        (["--stage"], "requires a value"),
    ],
)
def test_usage_errors_exit_2_with_usage(repo_root, subprocess_env, args, message):
    res = run_recipe(repo_root, subprocess_env, *args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Options (default in brackets):" in res.stderr


def test_stage_0_writes_env_info_and_command(repo_root, subprocess_env, tmp_path):
    expdir = tmp_path / "exp"
    res = run_recipe(
        repo_root, subprocess_env,
        "--stage", "0", "--stop-stage", "0", "--expdir", str(expdir),
    )
    assert res.returncode == 0, res.stdout + res.stderr
    info = (expdir / "env_info.txt").read_text()
    assert "s5tse version" in info and "pytorch version" in info
    assert re.search(r"^\S+ \(run\.sh:\d+:main\) Stage 0: ", res.stdout, re.M)
    assert re.search(r"Stage 0 done \[elapsed=\d+s\]", res.stdout)
    assert "--stop-stage 0" in (expdir / "cmd.txt").read_text()


def test_stage_range_outside_runs_nothing(repo_root, subprocess_env, tmp_path):
    expdir = tmp_path / "exp"
    res = run_recipe(
        repo_root, subprocess_env,
        "--stage", "1", "--stop_stage", "0", "--expdir", str(expdir),
    )
    assert res.returncode == 0, res.stderr
    assert "Stage" not in res.stdout.replace("--stop_stage", "")
    assert not (expdir / "env_info.txt").exists()
