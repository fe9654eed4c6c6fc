"""egs/dcase2026_task4/run.sh: option handling, usage errors, stage 0."""
import json
import math
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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
    env = dict(subprocess_env, MINI_CORPUS=str(tmp_path / "mini" / "DCASE2026Task4Dataset"))
    res = run_recipe(
        repo_root, env,
        "--stage", "0", "--stop-stage", "0", "--expdir", str(expdir),
    )
    assert res.returncode == 0, res.stdout + res.stderr
    info = (expdir / "env_info.txt").read_text()
    assert "s5tse version" in info and "pytorch version" in info
    assert re.search(r"^\S+ \(run\.sh:\d+:main\) Stage 0: ", res.stdout, re.M)
    assert re.search(r"Stage 0 done \[elapsed=\d+s\]", res.stdout)
    assert "--stop-stage 0" in (expdir / "cmd.txt").read_text()
    assert not (tmp_path / "mini").exists()  # the corpus is stage 1's (local/data.sh)


@pytest.mark.parametrize("stage, table, what", [
    ("2", "valid/metadata.scp", "stage 2 renders the validation scenes it lists"),
    ("3", "lang/classes.txt", "stage 3-4 trains on the classes it lists"),
    ("5", "test/wav.scp", "stage 5 decodes the mixtures it lists"),
])
def test_a_stage_names_the_missing_table_and_stage_1(repo_root, subprocess_env, tmp_path, stage,
                                                     table, what):
    (tmp_path / "exp" / "separator_lq_sr_corrnet_mini").mkdir(parents=True)
    res = run_recipe(repo_root, subprocess_env, "--stage", stage, "--stop_stage", stage,
                     "--datadir", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"),
                     "--oracle_labels", "true")
    assert res.returncode == 1
    errors = [line for line in res.stdout.splitlines() if "Error:" in line]
    assert len(errors) == 1
    assert f"{tmp_path / 'data' / table}: missing; {what}: run stage 1" in errors[0]


def test_ci_profile_writes_only_under_ci(repo_root, subprocess_env):
    """conf/ci.conf, sourced as run.sh does: corpus, tables, audio, experiments and results all
    under ci/ (away from the default run's), while an exported MINI_CORPUS still wins."""
    recipe = repo_root / RECIPE
    show = ('. conf/ci.conf; printf "%s\n" "$MINI_CORPUS" "$datadir" "$dumpdir" "$expdir" '
            '"$results"')
    env = {k: v for k, v in subprocess_env.items() if k != "MINI_CORPUS"}
    out = subprocess.run(["bash", "-c", show], cwd=recipe, env=env, capture_output=True,
                         text=True, check=True).stdout.split("\n")[:5]
    assert out[0] == f"{recipe}/ci/corpus/mini/DCASE2026Task4Dataset"
    assert out[1:] == ["ci/data", "ci/dump", "ci/exp", "ci/RESULTS.md"]
    defaults = declared_options(repo_root)
    assert [defaults[k] for k in ("datadir", "dumpdir", "expdir", "results")] == [
        "data", "dump", "exp", "RESULTS.md"]
    env["MINI_CORPUS"] = "/elsewhere/DCASE2026Task4Dataset"
    out = subprocess.run(["bash", "-c", show], cwd=recipe, env=env, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    assert out[0] == "/elsewhere/DCASE2026Task4Dataset"


@pytest.mark.parametrize("args, message", [
    (["--stage", "1", "--stop_stage", "0"], "--stage 1 --stop_stage 0 runs no stage (the stages are 0-8)"),
    (["--stage", "9"], "--stage 9 --stop_stage 100 runs no stage"),
    (["--stage", "abc"], "--stage must be a non-negative integer, got 'abc'"),
    (["--stop_stage", "-1"], "--stop_stage must be a non-negative integer, got '-1'"),
    (["--nj", "0"], "--nj must be at least 1, got 0"),
    (["--nj", "two"], "--nj must be a non-negative integer, got 'two'"),
])
def test_bad_stage_ranges_and_counts_are_usage_errors(repo_root, subprocess_env, tmp_path, args, message):
    expdir = tmp_path / "exp"
    res = run_recipe(repo_root, subprocess_env, *args, "--expdir", str(expdir))
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr and "Options (default in brackets):" in res.stderr
    assert "Successfully finished" not in res.stdout and not expdir.exists()


def table_rows(results_md):
    """``[(section, {column: cell})]`` of every table row of RESULTS.md (``## <exp dir>``
    sections, header ``|system|labels|test set|CAPI-SDRi (dB)|...``); hand-written notes skipped."""
    from s5tse.results.show import NOTES_MARKER

    rows, section, header = [], None, None
    for line in results_md.splitlines():
        if line.startswith(NOTES_MARKER):
            break
        if line.startswith("## "):
            section, header = line[3:].strip(), None
        elif line.startswith("### "):   # a sub-table (decision steps): not a results row
            header = None
        elif line.startswith("|") and not line.startswith("|---"):
            cells = line.strip("|").split("|")
            if header is None:
                header = cells
            elif header[0] == "system":
                rows.append((section, dict(zip(header, cells))))
    return rows


def finite_rows(results_md):
    """``{(section, system, labels, test set): (CAPI-SDRi, Acc_mix, Acc_src)}`` of the decoding
    rows of RESULTS.md (not the unprocessed-mixture rows: see :func:`mixture_sdrs`)."""
    rows = {}
    for section, row in table_rows(results_md):
        if not row["system"].startswith("unprocessed mixture"):
            key = (section, row["system"], row["labels"], row["test set"])
            assert key not in rows, key
            rows[key] = tuple(float(row[c]) for c in ("CAPI-SDRi (dB)", "Acc_mix (%)",
                                                      "Acc_src (%)"))  # "-" fails here
    return rows


def mixture_sdrs(results_md):
    """``{(section, test set): mixture SDR (dB)}`` of the rows ``unprocessed mixture (SDR x dB)``
    (CAPI-SDRi 0, accuracies ``-``)."""
    out = {}
    for section, row in table_rows(results_md):
        m = re.fullmatch(r"unprocessed mixture \(SDR (\S+) dB\)", row["system"])
        if m:
            assert (row["CAPI-SDRi (dB)"], row["Acc_mix (%)"], row["Acc_src (%)"]) == ("0.000", "-", "-")
            out[(section, row["test set"])] = float(m.group(1))
    return out


def official_submission_checks(folder, soundscape_dir):
    """The official checks of a submission folder (reference §5.4: ``verify_output_filename``,
    ``verify_json``, ``verify_dev_set_test_json``), the dev test set being ``soundscape_dir``."""
    from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES

    soundscapes = sorted(p.stem for p in Path(soundscape_dir).glob("*.wav"))
    wavs = sorted(p.name for p in (folder / "eval_out").glob("*.wav"))
    assert wavs
    for name in wavs:  # every estimate belongs to one soundscape and names a target class
        owner = [s for s in soundscapes if name.startswith(s)]
        assert len(owner) == 1, name
        m = re.match(rf"^{re.escape(owner[0])}(?:_(\d+))?_(.+)\.wav$", name)
        assert m and m.group(2) in TARGET_CLASSES, name
    results = json.loads((folder / "eval_results.json").read_text())
    listed = [e["filename"] for entry in results["probabilities"] for e in entry["estimate"]]
    assert len(set(listed)) == len(listed) and set(listed) == set(wavs)
    assert isinstance(results["nparams"], int) and isinstance(results["config"], dict)
    dev = json.loads((folder / "dev_set_test_results.json").read_text())
    names = [d["soundscape"] + ".wav" for d in dev["details"]]
    assert len(set(names)) == len(names) and set(names) == {s + ".wav" for s in soundscapes}
    assert isinstance(dev["CAPI-SDRi"]["mean"], float)
    assert set(dev["label_metrics"]) == {"accuracy_mix", "accuracy_src"}
    assert isinstance(dev["config"], dict) and isinstance(dev["nparams"], int)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_whole_recipe_ci_profile(repo_root, subprocess_env, tmp_path):
    """./run.sh --config conf/ci.conf: stages 0-8 with tiny models, both systems, both label modes."""
    env = dict(subprocess_env, MINI_CORPUS=str(tmp_path / "mini" / "DCASE2026Task4Dataset"))
    dirs = ["--datadir", str(tmp_path / "data"), "--dumpdir", str(tmp_path / "dump"),
            "--expdir", str(tmp_path / "exp")]
    results = tmp_path / "RESULTS.md"
    args = ["--config", "conf/ci.conf", *dirs, "--results", str(results), "--submission_set", "test",
            "--submission_author", "Doe", "--submission_affiliation", "Lab"]
    res = run_recipe(repo_root, env, *args, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    for n in range(9):
        assert re.search(rf"Stage {n} done \[elapsed=\d+s\]", res.stdout), n
    assert len((tmp_path / "data" / "test" / "wav.scp").read_text().splitlines()) == 3
    valid = tmp_path / "dump" / "valid"
    assert sorted(p.name for p in (valid / "log").glob("render.*.log")) == ["render.1.log", "render.2.log"]

    # stages 3-4: exp/<config without train_>, the i-th separator decoded with the i-th tagger
    exp = tmp_path / "exp"
    for name in ("tagger_fusion_tiny", "tagger_m2dat_tiny", "separator_lq_sr_corrnet_tiny",
                 "separator_resunetk_tiny"):
        assert (exp / name / "checkpoint.pth").is_file(), name
    assert "--config conf/ci.conf" in (exp / "tagger_fusion_tiny" / "cmd.txt").read_text()
    decodes = {p.relative_to(exp).as_posix() for p in exp.glob("*/decode_*") if p.is_dir()}
    assert decodes == {"separator_lq_sr_corrnet_tiny/decode_fusion_tiny_test",
                       "separator_lq_sr_corrnet_tiny/decode_oracle_test",
                       "separator_resunetk_tiny/decode_m2dat_tiny_test",
                       "separator_resunetk_tiny/decode_oracle_test"}

    # stage 6: a row per decoding, named by the models (config.yaml) and labels; finite numbers;
    # oracle labels reproduce the references; one unprocessed-mixture row per table
    rows = finite_rows(results.read_text())
    models = {"separator_lq_sr_corrnet_tiny": ("lq_sr_corrnet", "fusion"),
              "separator_resunetk_tiny": ("resunetk", "m2dat")}
    expected = set()
    for d in decodes:
        system, name = d.split("/")
        labels = name[len("decode_"):-len("_test")]
        sep, tagger = models[system]
        expected.add((system, sep, "oracle", "test") if labels == "oracle" else
                     (system, f"{sep} + {tagger}", f"estimated (tagger {labels})", "test"))
    assert set(rows) == expected
    assert all(math.isfinite(v) for values in rows.values() for v in values)
    for system, (sep, _) in models.items():
        assert rows[(system, sep, "oracle", "test")][1:] == (100.0, 100.0)
    mixture = mixture_sdrs(results.read_text())
    assert set(mixture) == {(system, "test") for system in models}
    assert all(math.isfinite(v) for v in mixture.values())
    assert "(reported)" not in results.read_text()  # official numbers only next to the real dev test set
    info = json.loads((exp / "separator_lq_sr_corrnet_tiny" / "decode_fusion_tiny_test" / "decode_info.json").read_text())
    assert info["set"] == "test" and info["nparams"] > 0

    # stage 5 tuned the thresholds on valid (per class too), then scored each decision step on
    # test; the last step decides as the decoding did, so it reproduces the decoding's row
    for system, (sep, tagger) in models.items():
        tagger_exp = exp / f"tagger_{tagger}_tiny"
        assert "class_report_thresholds" in (tagger_exp / "decode_thresholds.yaml").read_text()
        steps = json.loads((exp / system / f"decode_{tagger}_tiny_test" / "decision_steps.json")
                           .read_text())["steps"]
        assert [s["name"] for s in steps] == ["argmax", "one threshold", "decoupled", "per-class"]
        row = rows[(system, f"{sep} + {tagger}", f"estimated (tagger {tagger}_tiny)", "test")]
        assert (steps[-1]["acc_mix"], steps[-1]["acc_src"]) == pytest.approx(row[1:], abs=1e-3)
        assert steps[-1]["capi_sdri"] == pytest.approx(row[0], abs=2e-3)
    assert results.read_text().count("### Decision steps: ") == 2
    assert not list(exp.glob("*/separations_*"))   # the shared separation cache is removed

    # stage 7: one submission per estimated-label decoding, none for oracle labels
    zips = sorted(p.name for p in (exp / "submission").glob("*.zip"))
    assert zips == ["Doe_Lab_task4_1.zip", "Doe_Lab_task4_2.zip"]
    with zipfile.ZipFile(exp / "submission" / "Doe_Lab_task4_1.zip") as z:
        assert "Doe_Lab_task4_1/dev_set_test_results.json" in z.namelist()
        z.extractall(tmp_path / "unzipped")
    wav = (tmp_path / "data" / "test" / "wav.scp").read_text().split("\n")[0].split(" ", 1)[1]
    official_submission_checks(tmp_path / "unzipped" / "Doe_Lab_task4_1", Path(wav).parent)

    # stage 8: one packed model per estimated-label system; separate gives decode's waveforms
    packed = exp / "packed"
    assert sorted(p.name for p in packed.iterdir()) == ["lq_sr_corrnet_tiny+fusion_tiny",
                                                        "resunetk_tiny+m2dat_tiny"]
    decoded = exp / "separator_resunetk_tiny" / "decode_m2dat_tiny_test"
    sep = subprocess.run([sys.executable, "-m", "s5tse.bin.separate", "--model",
                          str(packed / "resunetk_tiny+m2dat_tiny"), "--out_dir", str(tmp_path / "sep"),
                          wav], cwd=tmp_path, env=dict(env, PYTHONPATH=str(repo_root)),
                         capture_output=True, text=True, timeout=300)
    assert sep.returncode == 0, sep.stderr
    name = Path(wav).stem
    assert sorted(p.name for p in (tmp_path / "sep").glob("*.wav")) == \
        sorted(p.name for p in decoded.glob(f"{name}_*.wav"))
    for p in decoded.glob(f"{name}_*.wav"):
        assert np.array_equal(sf.read(p)[0], sf.read(tmp_path / "sep" / p.name)[0])

    # re-running the synthesis resumes (every scene already rendered), stage 5 re-decodes
    res = run_recipe(repo_root, env, "--config", "conf/ci.conf", *dirs, "--stage", "2", "--stop_stage", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 rendered" in (valid / "log" / "render.1.log").read_text()


def test_stage_6_without_decoding_dirs(repo_root, subprocess_env, tmp_path):
    """Asked for directly, stages 6 and 7 with nothing to score or pack are errors."""
    for stage in ("6", "7"):
        res = run_recipe(repo_root, subprocess_env, "--stage", stage, "--stop_stage", stage,
                         "--expdir", str(tmp_path / "exp"), "--results", str(tmp_path / "R.md"))
        assert res.returncode == 1
        assert "run stage 5" in res.stdout
    assert not (tmp_path / "R.md").exists()


@pytest.mark.parametrize("make", [False, True])
def test_stage_1_corpus_path_errors_name_the_db_sh_variable(repo_root, subprocess_env, tmp_path, make):
    corpus = tmp_path / "corpus"
    if make:  # exists but is not a DCASE2026Task4Dataset
        (corpus / "data" / "dev_set").mkdir(parents=True)
    env = dict(subprocess_env, DCASE2026T4=str(corpus))
    res = run_recipe(repo_root, env, "--stage", "1", "--stop_stage", "1", "--expdir",
                     str(tmp_path / "exp"), "--datadir", str(tmp_path / "data"))
    assert res.returncode == 1
    assert "set DCASE2026T4 in db.sh" in res.stdout + res.stderr
    assert not (tmp_path / "data" / "lang").exists()


def test_stage_1_downloads_from_zenodo(repo_root, subprocess_env, tmp_path):
    """--local_data_opts "--download true": the real download path against a loopback Zenodo
    (the fake archive is a layout stub, so the table writing after it fails, naming a file)."""
    from tests.s5tse.corpus import test_download as zenodo

    _, parts = zenodo.make_split_archive(tmp_path)
    with zenodo.FakeZenodo({p.name: p.read_bytes() for p in parts}) as server:
        env = dict(subprocess_env, DOWNLOADS=str(tmp_path / "dl"))
        res = run_recipe(
            repo_root, env, "--stage", "1", "--stop_stage", "1", "--expdir", str(tmp_path / "exp"),
            "--datadir", str(tmp_path / "data"), "--local_data_opts",
            f"--download true --download_opts '--api_url {server.api_url} --quiet'",
        )
    assert (tmp_path / "dl" / "DCASE2026Task4Dataset" / "data" / "dev_set" / "room_ir" / "valid").is_dir()
    assert res.returncode == 1 and "prepare_data: error: " in res.stderr


def fake_python(tmp_path):
    """An interpreter stand-in that records its arguments, one line per call, and succeeds."""
    script = tmp_path / "fake_python"
    script.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "${FAKE_PYTHON_LOG}"\n')
    script.chmod(0o755)
    return script


def test_real_profile_wiring(repo_root, subprocess_env, tmp_path):
    """conf/real.conf, stages 3-5 with a recording interpreter: every step 1 trains before its
    step 2 on the data/ tables, the step-2 taggers decode (thresholds tuned first) on the GPU."""
    log = tmp_path / "calls.txt"
    env = dict(subprocess_env, FAKE_PYTHON_LOG=str(log))
    data = tmp_path / "data"
    (data / "test").mkdir(parents=True)
    (data / "lang").mkdir()
    (data / "lang" / "classes.txt").write_text("a\n")
    (data / "test" / "wav.scp").write_text("a a.wav\nb b.wav\nc c.wav\n")
    (data / "test" / "spk1.scp").write_text("a a1.wav\nb b1.wav\nc c1.wav\n")  # references
    exp = tmp_path / "exp"
    res = run_recipe(repo_root, env, "--config", "conf/real.conf", "--stage", "3",
                     "--stop_stage", "5", "--python", str(fake_python(tmp_path)),
                     "--datadir", str(data), "--expdir", str(exp), "--nj", "2",
                     "--oracle_labels", "false", "--tune_opts", "--per_class true")
    assert res.returncode == 0, res.stdout + res.stderr
    calls = [line.split() for line in log.read_text().splitlines()]

    def option(call, name):
        return call[call.index(name) + 1]

    trained = [(option(c, "--config"), option(c, "--output_dir"), option(c, "--train_data"))
               for c in calls if c[:2] == ["-m", "s5tse.bin.train"]]
    assert {option(c, "--synthesis") for c in calls if c[:2] == ["-m", "s5tse.bin.train"]} == {
        "conf/synthesis.yaml"}
    assert [(Path(conf).name, Path(out).name) for conf, out, _ in trained] == [
        ("train_tagger_fusion_real_step1.yaml", "tagger_fusion_real_step1"),
        ("train_tagger_fusion_real_step2.yaml", "tagger_fusion_real_step2"),
        ("train_tagger_m2dat_real.yaml", "tagger_m2dat_real"),
        ("train_tagger_m2dat_real_step2.yaml", "tagger_m2dat_real_step2"),
        ("train_separator_lq_sr_corrnet_base.yaml", "separator_lq_sr_corrnet_base"),
        ("train_separator_resunetk_official.yaml", "separator_resunetk_official")]
    assert {data_root for _, _, data_root in trained} == {str(data)}

    tuned = [(Path(option(c, "--separator_exp")).name, Path(option(c, "--tagger_exp")).name,
              option(c, "--device"), option(c, "--per_class"))
             for c in calls if c[:2] == ["-m", "s5tse.bin.tune_thresholds"]]
    assert tuned == [("separator_lq_sr_corrnet_base", "tagger_fusion_real_step2", "cuda", "true"),
                     ("separator_resunetk_official", "tagger_m2dat_real_step2", "cuda", "true")]
    decoded = [c for c in calls if c[:2] == ["-m", "s5tse.bin.decode"]]
    jobs = [c for c in decoded if "--job" in c]
    assert len(jobs) == 4 and {option(c, "--num_jobs") for c in jobs} == {"2"}
    assert all(option(c, "--device") == "cuda" for c in decoded)
    assert sorted(Path(option(c, "--output_dir")).relative_to(exp).as_posix()
                  for c in decoded if "--merge" in c) == [
        "separator_lq_sr_corrnet_base/decode_fusion_real_step2_test",
        "separator_resunetk_official/decode_m2dat_real_step2_test"]
    # then the decision steps on the test set (it has references), in jobs like the decoding
    steps = [c for c in calls if c[:2] == ["-m", "s5tse.bin.decision_steps"]]
    assert [("--merge" in c, Path(option(c, "--output")).parent.name, option(c, "--device"))
            for c in steps] == [
        (False, "decode_fusion_real_step2_test", "cuda"),
        (False, "decode_fusion_real_step2_test", "cuda"),
        (True, "decode_fusion_real_step2_test", "cuda"),
        (False, "decode_m2dat_real_step2_test", "cuda"),
        (False, "decode_m2dat_real_step2_test", "cuda"),
        (True, "decode_m2dat_real_step2_test", "cuda")]


def test_decode_taggers_must_pair_with_the_separators(repo_root, subprocess_env, tmp_path):
    res = run_recipe(repo_root, subprocess_env, "--stage", "5", "--stop_stage", "5",
                     "--expdir", str(tmp_path / "exp"),
                     "--decode_taggers", "conf/tuning/train_tagger_fusion_mini.yaml")
    assert res.returncode == 1
    assert "got 1 decode_taggers and 2 separator_configs" in res.stdout


def test_pretraining_trains_and_exports_before_the_taggers(repo_root, subprocess_env, tmp_path):
    """Stage 3 with --pretrain_configs: each encoder pre-training trains, is exported in its
    published layout, and only then do the taggers (which may read those files) train."""
    log = tmp_path / "calls.txt"
    env = dict(subprocess_env, FAKE_PYTHON_LOG=str(log))
    data = tmp_path / "data"
    (data / "lang").mkdir(parents=True)
    (data / "lang" / "classes.txt").write_text("a\n")
    exp = tmp_path / "exp"
    res = run_recipe(repo_root, env, "--stage", "3", "--stop_stage", "3", "--python",
                     str(fake_python(tmp_path)), "--datadir", str(data), "--expdir", str(exp),
                     "--pretrain_configs",
                     "conf/tuning/pretrain_m2d_mini.yaml conf/tuning/pretrain_fpasst_mini.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    calls = [line.split() for line in log.read_text().splitlines()]
    steps = [(c[1], Path(c[c.index("--output_dir" if "--output_dir" in c else "--exp_dir") + 1]).name)
             for c in calls if c[1] in ("s5tse.bin.train", "s5tse.bin.export_encoder")]
    assert steps == [("s5tse.bin.train", "pretrain_m2d_mini"), ("s5tse.bin.train", "pretrain_fpasst_mini"),
                     ("s5tse.bin.export_encoder", "pretrain_m2d_mini"),
                     ("s5tse.bin.export_encoder", "pretrain_fpasst_mini"),
                     ("s5tse.bin.train", "tagger_fusion_mini_pretrained"),
                     ("s5tse.bin.train", "tagger_m2dat_mini_pretrained")]


def test_parallel_trainings_name_the_one_that_failed(repo_root, subprocess_env, tmp_path, mini_data):
    """--train_jobs 2: both configs of the list run; the bad one (a config key typo) stops the
    stage with one error naming it and its log, while the other one completes."""
    good = repo_root / RECIPE / "conf" / "tuning" / "train_tagger_m2dat_tiny.yaml"
    bad = tmp_path / "train_tagger_typo.yaml"
    bad.write_text(good.read_text() + "max_epoch: 3\n")
    res = run_recipe(repo_root, subprocess_env, "--stage", "3", "--stop_stage", "3",
                     "--datadir", str(mini_data), "--expdir", str(tmp_path / "exp"),
                     "--pretrain_configs", "", "--train_jobs", "2",
                     "--tagger_configs", f"{bad} conf/tuning/train_tagger_m2dat_tiny.yaml",
                     "--tagger_args", "--dry_run true")
    assert res.returncode == 1, res.stdout + res.stderr
    errors = [line for line in res.stdout.splitlines() if "Error:" in line]
    assert len(errors) == 1, res.stdout
    log = tmp_path / "exp" / "tagger_typo_dry_runtrue" / "log" / "launch.log"
    assert f"training {bad} failed; see {log}" in errors[0]
    assert "unknown key 'max_epoch'" in log.read_text()
    assert "Ended (code 0)" in (tmp_path / "exp" / "tagger_m2dat_tiny_dry_runtrue" / "log"
                                / "launch.log").read_text()
    assert "Stage 3 done" not in res.stdout
