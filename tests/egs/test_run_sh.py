"""egs/dcase2026_task4/run.sh: option handling, usage errors, stage 0."""
import json
import re
import shutil
import subprocess
import zipfile

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
        re.match(r'^([a-z_]+)=("[^"]*"|\S*)', line).groups()
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
def test_stages_on_the_mini_corpus(repo_root, subprocess_env, tmp_path):
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

    # stage 3 trains each configured tagger into exp/tagger_<config><args>
    res = run_recipe(repo_root, env, *args[2:], "--stage", "3", "--stop_stage", "3",
                     "--tagger_configs", "conf/tuning/train_tagger_fusion_tiny.yaml",
                     "--tagger_args", "--max_epochs 1 --iters_per_epoch 2 --batch_size 1")
    assert res.returncode == 0, res.stdout + res.stderr
    tagger = tmp_path / "exp" / "tagger_train_tagger_fusion_tiny_max_epochs1_iters_per_epoch2_batch_size1"
    assert (tagger / "checkpoint.pth").is_file() and (tagger / "valid.acc_mix.best.pth").exists()
    assert "--tagger_args --max_epochs\\ 1" in (tagger / "cmd.txt").read_text()  # printf %q

    # stages 6-7 on an oracle "decoding" of the test set (stage 5 is not part of the recipe yet)
    decode = tmp_path / "exp" / "oracle" / "decode_oracle_test"
    make_oracle_decoding(tmp_path / "data" / "test", decode)
    results = tmp_path / "RESULTS.md"
    res = run_recipe(repo_root, env, *args[2:], "--stage", "6", "--stop_stage", "7",
                     "--results", str(results), "--submission_set", "test",
                     "--submission_author", "Doe", "--submission_affiliation", "Lab")
    assert res.returncode == 0, res.stdout + res.stderr
    scores = json.loads((decode / "scoring" / "scores.json").read_text())
    assert scores["acc_mix"] == 100.0 and scores["acc_src"] == 100.0
    table = results.read_text()
    assert "## oracle" in table and "|decode_oracle_test|" in table
    assert "(reported)" not in table  # official numbers only next to the real dev test set
    assert (tmp_path / "exp" / "oracle" / "RESULTS.md").is_file()
    with zipfile.ZipFile(tmp_path / "exp" / "submission" / "Doe_Lab_task4_1.zip") as z:
        names = z.namelist()
    assert "Doe_Lab_task4_1/eval_results.json" in names
    assert "Doe_Lab_task4_1/dev_set_test_results.json" in names
    n_refs = sum(len(line.split()) - 1 - line.split().count("silence")
                 for line in (tmp_path / "data" / "test" / "text").read_text().splitlines())
    assert sum(n.startswith("Doe_Lab_task4_1/eval_out/") for n in names) == n_refs


def make_oracle_decoding(data_dir, out):
    """A decoding directory whose estimates are the references of data_dir (official names)."""
    out.mkdir(parents=True)
    text = dict(line.split(" ", 1) for line in (data_dir / "text").read_text().splitlines())
    probabilities = []
    for name, labels in sorted(text.items()):
        estimates = []
        for slot, label in enumerate(labels.split()):
            if label == "silence":
                continue
            scp = dict(line.split(" ", 1) for line in (data_dir / f"spk{slot + 1}.scp").read_text().splitlines())
            filename = f"{name}_{slot}_{label}.wav"
            shutil.copy(scp[name], out / filename)
            estimates.append({"filename": filename, "label": label, "probability": 1.0})
        probabilities.append({"soundscape": name, "estimate": estimates})
    (out / "probabilities.json").write_text(json.dumps(probabilities))
    (out / "decode_info.json").write_text(json.dumps({"nparams": 1, "rtf": None, "set": "test", "tag": "oracle"}))


def test_stage_6_without_decoding_dirs(repo_root, subprocess_env, tmp_path):
    """Asked for directly, stages 6 and 7 with nothing to score or pack are errors."""
    for stage in ("6", "7"):
        res = run_recipe(repo_root, subprocess_env, "--stage", stage, "--stop_stage", stage,
                         "--expdir", str(tmp_path / "exp"), "--results", str(tmp_path / "R.md"))
        assert res.returncode == 1
        assert "run stage 5" in res.stdout
    assert not (tmp_path / "R.md").exists()


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
