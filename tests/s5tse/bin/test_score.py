"""Tests for the scoring CLI (python -m s5tse.bin.score) on the mini corpus's test set."""
import json
import math
import shutil
import subprocess
import sys
from functools import partial

import numpy as np
import pytest
import soundfile as sf

from s5tse.bin.score import main
from s5tse.corpus.dcase import DCASE2026
from s5tse.corpus.prepare import write_soundscape_tables
from s5tse.corpus.testset import scan_test_set
from tests.s5tse.bin.helpers import run_cli

EPS = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def test_set(mini_corpus):
    base = mini_corpus / "data" / "dev_set" / "synthesized" / "test"
    return base / "soundscape", base / "oracle_target"


@pytest.fixture
def oracle_estimates(test_set, tmp_path):
    """The oracle references copied as estimates, named <soundscape>_<slot>_<label>.wav."""
    sdir, odir = test_set
    edir = tmp_path / "est"
    edir.mkdir()
    for item in scan_test_set(sdir, odir):
        for slot, (label, path) in enumerate(item.refs):
            shutil.copy(path, edir / f"{item.name}_{slot}_{label}.wav")
    return edir


run = partial(run_cli, main)  # (args, capsys) -> (exit status, stdout, stderr)


def expected_oracle_capi(sdir, odir, mixture_sdrs=None):
    """Mean over the mixtures with references of the mean oracle SDRi, straight from the files;
    the SDR of the mixture's channel 0 against each reference is appended to ``mixture_sdrs``."""
    values = []
    for mix_path in sorted(sdir.glob("*.wav")):
        y = sf.read(str(mix_path), dtype="float32", always_2d=True)[0][:, 0].astype(np.float64)
        refs = sorted(odir.glob(mix_path.stem + "_*.wav"))
        if not refs:
            continue
        sdri = []
        for ref_path in refs:
            s = sf.read(str(ref_path), dtype="float32")[0].astype(np.float64)
            energy = np.sum(s ** 2)
            sdr_oracle = 10 * np.log10((energy + EPS) / EPS)  # estimate == reference
            sdr_mix = 10 * np.log10((energy + EPS) / (np.sum((s - y) ** 2) + EPS))
            sdri.append(sdr_oracle - sdr_mix)
            if mixture_sdrs is not None:
                mixture_sdrs.append(sdr_mix)
        values.append(np.mean(sdri))
    return float(np.mean(values)), len(values)


def test_oracle_estimates_score(test_set, oracle_estimates, tmp_path, capsys):
    sdir, odir = test_set
    out = tmp_path / "scores"
    status, stdout, stderr = run(["--soundscape_dir", sdir, "--oracle_dir", odir,
                                  "--estimate_dir", oracle_estimates, "--out_dir", out,
                                  "--unprocessed_row", "true"], capsys)
    assert status == 0, stderr
    data = json.loads((out / "scores.json").read_text())
    mixture_sdrs = []
    expected, n_scored = expected_oracle_capi(sdir, odir, mixture_sdrs)
    assert n_scored == 3  # test_0000 has no target and no estimate: excluded
    assert data["capi_sdri"] == pytest.approx(expected, abs=1e-9)
    assert data["acc_mix"] == 100.0 and data["acc_src"] == 100.0
    assert data["n_mixtures"] == 4 and data["n_scored"] == 3
    assert data["per_mixture"]["test_0000"]["capi_sdri"] is None
    assert data["per_mixture"]["test_0001"]["ref_labels"] == ["Cough", "Cough", "Pour"]  # by onset
    # the same-class duplicate is matched to itself
    assert sorted((p["est"], p["ref"]) for p in data["per_mixture"]["test_0001"]["pairs"]) == \
        [(0, 0), (1, 1), (2, 2)]
    unp = data["extra_rows"]["unprocessed mixture (oracle labels)"]
    assert unp["capi_sdri"] == 0.0 and unp["acc_mix"] == 100.0
    # the unprocessed mixture's own level: mean SDR of channel 0 against every reference
    assert len(mixture_sdrs) == sum(len(m["ref_labels"]) for m in data["per_mixture"].values()) > 0
    assert data["mixture_sdr"] == pytest.approx(float(np.mean(mixture_sdrs)), abs=1e-9)
    assert unp["mean_sdr"] == data["mixture_sdr"]
    assert f"CAPI-SDRi:    {expected:.3f} dB" in stdout
    assert "Acc_mix:      100.000 %" in stdout
    assert "1 soundscape(s) have no estimate files (scored as predicting nothing)" in stderr
    assert "unprocessed mixture (oracle labels)" in (out / "scores.md").read_text()


def test_nj_2_and_tables_equal_folders(test_set, oracle_estimates, tmp_path, capsys):
    sdir, odir = test_set
    # perturb one estimate so that the scores are not all "perfect"
    first = sorted(oracle_estimates.glob("*.wav"))[0]
    x, sr = sf.read(str(first), dtype="float32")
    sf.write(str(first), 0.5 * x, sr, subtype="FLOAT")
    common = ["--estimate_dir", oracle_estimates]
    s1, _, err1 = run(["--soundscape_dir", sdir, "--oracle_dir", odir, "--out_dir",
                       tmp_path / "a", "--nj", "1"] + common, capsys)
    s2, _, err2 = run(["--soundscape_dir", sdir, "--oracle_dir", odir, "--out_dir",
                       tmp_path / "b", "--nj", "2"] + common, capsys)
    data_dir = tmp_path / "data" / "test"
    write_soundscape_tables(scan_test_set(sdir, odir), data_dir)
    s3, _, err3 = run(["--data_dir", data_dir, "--out_dir", tmp_path / "c"] + common, capsys)
    assert s3 == 1 and "no lang/classes.txt" in err3  # the tables name no class inventory
    DCASE2026.write(tmp_path / "data" / "lang" / "classes.txt")
    s3, _, err3 = run(["--data_dir", data_dir, "--out_dir", tmp_path / "c"] + common, capsys)
    assert (s1, s2, s3) == (0, 0, 0), (err1, err2, err3)
    a = (tmp_path / "a" / "scores.json").read_text()
    assert (tmp_path / "b" / "scores.json").read_text() == a
    assert (tmp_path / "c" / "scores.json").read_text() == a
    assert (tmp_path / "b" / "scores.md").read_text() == (tmp_path / "a" / "scores.md").read_text()
    assert json.loads(a)["capi_sdri"] < 84  # the halved estimate costs dB
    assert "mixture_sdr" not in json.loads(a)  # no --unprocessed_row


@pytest.mark.parametrize("bad", ["label", "length", "orphan", "nan"])
def test_bad_input_exits_1_naming_the_file(test_set, oracle_estimates, tmp_path, capsys, bad):
    sdir, odir = test_set
    x = np.zeros(320000, np.float32)
    if bad == "label":
        name = "test_0002_5_Music.wav"
    elif bad == "length":
        name, x = "test_0002_5_Pour.wav", x[:-10]
    elif bad == "orphan":
        name = "test_0009_0_Pour.wav"
    else:
        name = "test_0002_5_Pour.wav"
        x[7] = np.nan
    sf.write(str(oracle_estimates / name), x, 32000, subtype="FLOAT")
    status, _, stderr = run(["--soundscape_dir", sdir, "--oracle_dir", odir, "--estimate_dir",
                             oracle_estimates, "--out_dir", tmp_path / "o"], capsys)
    assert status == 1
    line = [ln for ln in stderr.splitlines() if ln.startswith("score: error: ")]
    assert len(line) == 1 and name in line[0]
    assert not (tmp_path / "o" / "scores.json").exists()


def test_usage_errors(test_set, tmp_path, capsys):
    sdir, odir = test_set
    status, _, err = run(["--soundscape_dir", sdir, "--estimate_dir", tmp_path, "--out_dir",
                          tmp_path / "o"], capsys)
    assert status == 1 and "score: error: give --soundscape_dir and --oracle_dir" in err
    status, _, err = run(["--data_dir", tmp_path, "--soundscape_dir", sdir, "--estimate_dir",
                          tmp_path, "--out_dir", tmp_path / "o"], capsys)
    assert status == 1 and "not both" in err
    status, _, err = run(["--out_dir", tmp_path], capsys)
    assert status == 1 and err.startswith("score: error:") and "--estimate_dir" in err
    status, _, err = run(["--data_dir", tmp_path / "none", "--estimate_dir", tmp_path,
                          "--out_dir", tmp_path / "o"], capsys)
    assert status == 1 and "wav.scp: no such file" in err


def test_python_m_entry_point(test_set, oracle_estimates, tmp_path, subprocess_env):
    sdir, odir = test_set
    proc = subprocess.run(
        [sys.executable, "-m", "s5tse.bin.score", "--soundscape_dir", str(sdir), "--oracle_dir",
         str(odir), "--estimate_dir", str(oracle_estimates), "--out_dir", str(tmp_path / "o")],
        capture_output=True, text=True, env=subprocess_env)
    assert proc.returncode == 0, proc.stderr
    assert "Acc_src:      100.000 %" in proc.stdout
    assert math.isfinite(json.loads((tmp_path / "o" / "scores.json").read_text())["capi_sdri"])


def test_official_results_file(test_set, tmp_path, capsys):
    """official_results.json: the official evaluator's keys and types, slot-placed estimates,
    the decoding's probabilities, nparams and config; values equal to scores.json."""
    sdir, odir = test_set
    items = scan_test_set(sdir, odir)
    edir = tmp_path / "decode"
    edir.mkdir()
    probabilities, expected_est = [], {}
    for item in items:
        refs = item.refs[:2]  # a one-ref item puts its estimate in slot 2, others in 0 and 1
        slots = [2] if len(refs) == 1 else list(range(len(refs)))
        entry = {"soundscape": item.name, "estimate": []}
        est = ["silence"] * 3
        for slot, (label, path) in zip(slots, refs):
            fname = f"{item.name}_{slot}_{label}.wav"
            shutil.copy(path, edir / fname)
            entry["estimate"].append({"filename": fname, "label": label, "probability": 0.75})
            est[slot] = label
        probabilities.append(entry)
        expected_est[item.name] = est
    (edir / "probabilities.json").write_text(json.dumps(probabilities))
    (edir / "decode_info.json").write_text(json.dumps({"nparams": 4321, "rtf": 0.5}))
    (edir / "decode_config.yaml").write_text("report_threshold: 0.6\nstreaming: offline\n")
    status, _, stderr = run(["--soundscape_dir", sdir, "--oracle_dir", odir,
                             "--estimate_dir", edir, "--out_dir", tmp_path / "o"], capsys)
    assert status == 0, stderr
    ours = json.loads((tmp_path / "o" / "scores.json").read_text())
    text = (tmp_path / "o" / "official_results.json").read_text()
    data = json.loads(text)
    assert text.startswith('{\n    "CAPI-SDRi": {\n        "mean": ')  # json.dump(indent=4)
    assert list(data) == ["CAPI-SDRi", "label_metrics", "nparams", "details", "config"]
    assert data["CAPI-SDRi"] == {"mean": ours["capi_sdri"]}
    assert data["label_metrics"] == {"accuracy_mix": ours["acc_mix"], "accuracy_src": ours["acc_src"]}
    assert data["nparams"] == 4321
    assert data["config"] == {"report_threshold": 0.6, "streaming": "offline"}
    assert [d["soundscape"] for d in data["details"]] == sorted(i.name for i in items)
    for d in data["details"]:
        item = next(i for i in items if i.name == d["soundscape"])
        mine = ours["per_mixture"][d["soundscape"]]
        assert list(d) == ["soundscape", "ref_labels", "est_labels", "probabilities", "metrics"]
        assert d["ref_labels"] == ([label for label, _ in item.refs] + ["silence"] * 3)[:3]
        assert d["est_labels"] == expected_est[item.name]
        assert d["probabilities"] == [0.75 if label != "silence" else 1.0
                                      for label in expected_est[item.name]]
        n_ref = len(item.refs)
        assert d["metrics"] == [
            {"metric": "CAPI-SDRi", "value": mine["capi_sdri"]},
            {"metric": "label_metrics",
             "value": {"acc": n_ref <= 2, "tp": min(n_ref, 2), "fp": 0, "fn": max(0, n_ref - 2)}}]
