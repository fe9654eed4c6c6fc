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


SMALL_CORPUS_OPTS = (
    "--num_valid_scenes 3 --num_test_scenes 3 --rooms.train 1 --positions_per_room 6 "
    "--rir_length_s 0.25 --max_order 6 --files_per_group.train 1"
)


@pytest.mark.slow
def test_stages_0_to_2_on_the_mini_corpus(repo_root, subprocess_env, tmp_path):
    env = dict(subprocess_env, MINI_CORPUS=str(tmp_path / "mini" / "DCASE2026Task4Dataset"))
    args = ["--stop_stage", "2", "--nj", "2", "--datadir", str(tmp_path / "data"),
            "--dumpdir", str(tmp_path / "dump"), "--expdir", str(tmp_path / "exp"),
            "--mini_corpus_opts", SMALL_CORPUS_OPTS]
    res = run_recipe(repo_root, env, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    for n in range(3):
        assert re.search(rf"Stage {n} done \[elapsed=\d+s\]", res.stdout)
    assert (tmp_path / "mini" / "DCASE2026Task4Dataset" / "data" / "dev_set").is_dir()
    assert len((tmp_path / "data" / "test" / "wav.scp").read_text().splitlines()) == 3
    valid = tmp_path / "dump" / "valid"
    assert len((valid / "wav.scp").read_text().splitlines()) == 3
    assert sorted(p.name for p in (valid / "log").glob("render.*.log")) == ["render.1.log", "render.2.log"]
    assert "# Ended (code 0)" in (valid / "log" / "render.1.log").read_text()

    # rerunning stage 2 resumes: every scene already rendered is skipped
    res = run_recipe(repo_root, env, *args[2:], "--stage", "2", "--stop_stage", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 rendered" in (valid / "log" / "render.1.log").read_text()


@pytest.mark.parametrize("make", [False, True])
def test_stage_0_corpus_path_errors_name_the_db_sh_variable(repo_root, subprocess_env, tmp_path, make):
    corpus = tmp_path / "corpus"
    if make:  # exists but is not a DCASE2026Task4Dataset
        (corpus / "data" / "dev_set").mkdir(parents=True)
    env = dict(subprocess_env, DCASE2026T4=str(corpus))
    res = run_recipe(repo_root, env, "--stop_stage", "0", "--expdir", str(tmp_path / "exp"))
    assert res.returncode == 1
    assert "set DCASE2026T4 in db.sh" in res.stdout + res.stderr


def test_stage_0_downloads_from_zenodo(repo_root, subprocess_env, tmp_path):
    """--download true: the real download path against a loopback Zenodo."""
    from tests.s5tse.corpus import test_download as zenodo

    _, parts = zenodo.make_split_archive(tmp_path)
    with zenodo.FakeZenodo({p.name: p.read_bytes() for p in parts}) as server:
        env = dict(subprocess_env, DOWNLOADS=str(tmp_path / "dl"))
        res = run_recipe(
            repo_root, env, "--stop_stage", "0", "--expdir", str(tmp_path / "exp"),
            "--download", "true", "--download_opts", f"--api_url {server.api_url} --quiet",
        )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "dl" / "DCASE2026Task4Dataset" / "data" / "dev_set" / "room_ir" / "valid").is_dir()
