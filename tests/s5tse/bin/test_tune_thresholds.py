"""Tests of threshold tuning (python -m s5tse.bin.tune_thresholds, s5tse.decode.tune).

A constant tagger (confidences 0.9 / 0.6 / 0.25 for Cough / Pour / Speech on every mixture)
and a separator whose estimates are exactly zero make every grid point's labels and scores
computable by hand: the reported labels depend on tau_r only, and a zero estimate has
SDR 0, so its SDRi is -SDR(mixture ch 0, reference).
"""
import shutil
from functools import partial

import numpy as np
import pytest
import soundfile as sf

from s5tse.bin.tune_thresholds import main
from s5tse.corpus.prepare import write_soundscape_tables
from s5tse.corpus.testset import scan_test_set
from s5tse.decode.tune import GridRow, select_best, threshold_grid
from s5tse.metrics.capi import aggregate_capi, capi_sdri
from s5tse.metrics.labels import acc_mix, acc_src
from s5tse.utils.yaml_io import load_yaml
from tests.s5tse.bin.helpers import run_cli
from tests.s5tse.bin.test_decode import (
    DECODE_YAML,
    SEPARATOR_YAML,
    TAGGER_YAML,
    constant_fusion_tagger,
    make_experiment,
    slot_probs,
    zero_separator,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SLOTS = (("Cough", 0.8, 0.1), ("Pour", 0.5, 0.4), ("Speech", 0.2, 0.75))   # conf .9 .6 .25
QUERY_GRID = (0.2, 0.3, 0.5, 0.7)
REPORT_GRID = (0.3, 0.5, 0.7, 0.95)


@pytest.fixture(scope="module")
def setup(mini_corpus, tmp_path_factory):
    base = mini_corpus / "data" / "dev_set" / "synthesized" / "test"
    items = scan_test_set(base / "soundscape", base / "oracle_target")
    root = tmp_path_factory.mktemp("tune")
    write_soundscape_tables(items, root / "valid")
    tagger, _ = make_experiment("tagger", TAGGER_YAML, root / "tagger", "valid.loss.ave.pth",
                                edit=constant_fusion_tagger(slot_probs(SLOTS)))
    sep, _ = make_experiment("separator", SEPARATOR_YAML, root / "separator",
                             "valid.sdri.ave.pth", ["--model_conf.preset", "unit"],
                             edit=zero_separator)
    return {"items": items, "root": root, "data": root / "valid", "tagger": tagger,
            "separator": sep}


def reported_for(tau_r):
    return [lab for lab, p, p_sil in SLOTS if 1.0 - p_sil >= tau_r]


def expected_rows(items):
    """Grid table from the hand-made confidences and the reference files."""
    rows = []
    for tq, tr in threshold_grid(QUERY_GRID, REPORT_GRID):
        results = []
        for item in items:
            mix = sf.read(str(item.mixture), dtype="float32", always_2d=True)[0][:, 0]
            refs = [(lab, sf.read(str(p), dtype="float32")[0]) for lab, p in item.refs]
            ests = [(lab, np.zeros_like(mix)) for lab in reported_for(tr)]
            results.append(capi_sdri(mix, ests, refs))
        capi = aggregate_capi(r.value for r in results)
        rows.append(GridRow(tq, tr, None if np.isnan(capi) else capi, acc_mix(results),
                            acc_src(results), len(reported_for(tr)) * len(items)))
    return rows


run = partial(run_cli, main)  # (args, capsys) -> (exit status, stdout, stderr)


def record_separations(monkeypatch, method):
    """The labels of every call of ``Decoder.<method>`` from now on (a list that grows)."""
    from s5tse.decode import runner

    calls = []
    original = getattr(runner.Decoder, method)
    monkeypatch.setattr(runner.Decoder, method,
                        lambda self, x, q: calls.append(tuple(q.labels)) or original(self, x, q))
    return calls


def test_grid_search_writes_the_best_thresholds(setup, capsys, monkeypatch):
    calls = record_separations(monkeypatch, "separate")
    args = ["--config", DECODE_YAML, "--separator_exp", setup["separator"],
            "--tagger_exp", setup["tagger"], "--data", setup["data"],
            "--query_grid", ",".join(map(str, QUERY_GRID)),
            "--report_grid", ",".join(map(str, REPORT_GRID))]
    status, out, err = run(args, capsys)
    assert status == 0, err

    # separated once per distinct query set: {C, P, S} (0.2), {C, P} (0.3 and 0.5), {C} (0.7)
    n = len(setup["items"])
    assert len(calls) == 3 * n
    assert sorted(set(calls)) == sorted({("Cough", "Pour", "Speech"), ("Cough", "Pour", "silence"),
                                         ("Cough", "silence", "silence")})

    result = load_yaml(setup["tagger"] / "decode_thresholds.yaml")
    expected = expected_rows(setup["items"])
    assert len(result["grid"]) == len(expected) == 13
    for got, want in zip(result["grid"], expected):
        assert (got["query_threshold"], got["report_threshold"]) == (want.query_threshold,
                                                                     want.report_threshold)
        assert got["acc_mix"] == pytest.approx(want.acc_mix)
        assert got["acc_src"] == pytest.approx(want.acc_src)
        assert got["num_reported"] == want.num_reported
        if want.capi_sdri is None:
            assert got["capi_sdri"] is None
        else:
            assert got["capi_sdri"] == pytest.approx(want.capi_sdri, abs=1e-6)
    # best CAPI-SDRi; equal scores for every tau_q of a tau_r -> the first (smallest) tau_q
    best_capi = max(-np.inf if r.capi_sdri is None else r.capi_sdri for r in expected)
    first = next(r for r in expected
                 if r.capi_sdri is not None and abs(r.capi_sdri - best_capi) < 1e-6)
    assert (result["query_threshold"], result["report_threshold"]) == (
        first.query_threshold, first.report_threshold)
    assert result["query_threshold"] == min(QUERY_GRID)
    assert result["capi_sdri"] == pytest.approx(best_capi, abs=1e-6)
    assert "selected query_threshold" in out
    # the "one threshold" step: the best of the diagonal tau_q = tau_r (0.3, 0.5, 0.7)
    diagonal = [r for r in expected if r.query_threshold == r.report_threshold]
    assert [r.query_threshold for r in diagonal] == [0.3, 0.5, 0.7]
    want = select_best(diagonal)
    assert result["single_threshold"]["threshold"] == want.query_threshold
    assert result["single_threshold"]["acc_mix"] == pytest.approx(want.acc_mix)

    # decode reads the tuned thresholds by default; explicit values win
    from s5tse.bin.decode import main as decode_main

    common = ["--config", str(DECODE_YAML), "--separator_exp", str(setup["separator"]),
              "--tagger_exp", str(setup["tagger"]), "--data", str(setup["data"]),
              "--output_dir", str(setup["root"] / "decode_x_valid"), "--print_config"]
    decode_main(common)
    resolved = load_yaml_text(capsys.readouterr().out)
    assert (resolved["query_threshold"], resolved["report_threshold"]) == (
        result["query_threshold"], result["report_threshold"])
    decode_main(common + ["--report_threshold", "0.9"])
    resolved = load_yaml_text(capsys.readouterr().out)
    assert (resolved["query_threshold"], resolved["report_threshold"]) == (
        result["query_threshold"], 0.9)
    decode_main(common + ["--use_tuned_thresholds", "false"])
    resolved = load_yaml_text(capsys.readouterr().out)
    assert (resolved["query_threshold"], resolved["report_threshold"]) == (0.3, 0.5)


def load_yaml_text(text):
    from s5tse.utils.yaml_io import load_yaml_text as _load

    return _load(text)


def test_select_best_tie_breaks():
    rows = [GridRow(0.1, 0.5, 3.0, 50.0, 60.0, 5), GridRow(0.2, 0.5, 3.0, 75.0, 60.0, 5),
            GridRow(0.3, 0.5, 3.0, 75.0, 70.0, 5), GridRow(0.4, 0.5, 3.0, 75.0, 70.0, 5),
            GridRow(0.5, 0.5, None, 100.0, 100.0, 0)]
    assert select_best(rows) is rows[2]      # equal CAPI -> Acc_mix -> Acc_src -> grid order
    assert select_best([rows[4], GridRow(0.1, 0.1, -5.0, 0.0, 0.0, 1)]).capi_sdri == -5.0
    assert threshold_grid([0.5, 0.2], [0.3, 0.5]) == [(0.2, 0.3), (0.2, 0.5), (0.5, 0.5)]
    with pytest.raises(ValueError, match="grid is empty"):
        threshold_grid([0.9], [0.5])


def test_needs_references(setup, capsys, tmp_path):
    data = tmp_path / "noref"
    data.mkdir()
    shutil.copy(setup["data"] / "wav.scp", data / "wav.scp")
    status, _, err = run(["--config", DECODE_YAML, "--separator_exp", setup["separator"],
                          "--tagger_exp", setup["tagger"], "--data", data], capsys)
    assert status == 1
    assert f"{data / 'text'}: no such file" in err
    status, _, err = run(["--config", DECODE_YAML, "--separator_exp", setup["separator"],
                          "--tagger_exp", setup["tagger"], "--data", setup["data"],
                          "--query_grid", "0.2,1.5"], capsys)
    assert status == 1 and "--query_grid must be comma-separated numbers in [0, 1]" in err


def score_with(items, reported):
    """(CAPI-SDRi or None, Acc_mix, Acc_src) when the labels ``reported`` are output (zero
    estimates), computed from the files."""
    results = []
    for item in items:
        mix = sf.read(str(item.mixture), dtype="float32", always_2d=True)[0][:, 0]
        refs = [(lab, sf.read(str(p), dtype="float32")[0]) for lab, p in item.refs]
        results.append(capi_sdri(mix, [(lab, np.zeros_like(mix)) for lab in reported], refs))
    capi = aggregate_capi(r.value for r in results)
    return (None if np.isnan(capi) else capi), acc_mix(results), acc_src(results)


def test_per_class_thresholds_are_tuned_written_and_decoded_with(setup, capsys, tmp_path):
    out = tmp_path / "thresholds.yaml"
    args = ["--config", DECODE_YAML, "--separator_exp", setup["separator"],
            "--tagger_exp", setup["tagger"], "--data", setup["data"], "--output", out,
            "--query_grid", "0.2", "--report_grid", ",".join(map(str, REPORT_GRID)),
            "--per_class", "true"]
    status, stdout, err = run(args, capsys)
    assert status == 0, err
    result = load_yaml(out)
    per_class = result["class_report_thresholds"]
    tq, tr = result["query_threshold"], result["report_threshold"]
    assert tq == 0.2 and set(per_class) <= {"Cough", "Pour", "Speech"}
    assert all(v in REPORT_GRID and v >= tq and v != tr for v in per_class.values())
    confidence = {lab: 1.0 - p_sil for lab, _, p_sil in SLOTS}
    reported = [lab for lab in ("Cough", "Pour", "Speech")
                if confidence[lab] >= per_class.get(lab, tr)]
    capi, mix, src = score_with(setup["items"], reported)
    after = result["per_class"]["after"]
    assert after["acc_mix"] == pytest.approx(mix) and after["acc_src"] == pytest.approx(src)
    assert (after["capi_sdri"] is None) == (capi is None)
    if capi is not None:
        assert after["capi_sdri"] == pytest.approx(capi, abs=1e-6)
    before = result["per_class"]["before"]
    assert before["capi_sdri"] == pytest.approx(result["capi_sdri"], abs=1e-9)
    # no subset of the three labels scores better than the tuned one
    best = max(score_with(setup["items"], [lab for lab, keep in zip(("Cough", "Pour", "Speech"), m)
                                           if keep])
               for m in np.ndindex(2, 2, 2))
    assert (after["capi_sdri"], after["acc_mix"], after["acc_src"]) == pytest.approx(best, abs=1e-6)
    assert "per-class report thresholds" in stdout

    # decode takes them from decode_thresholds.yaml
    from s5tse.bin.decode import main as decode_main

    shutil.copy(out, setup["tagger"] / "decode_thresholds.yaml")
    try:
        decode_main(["--config", str(DECODE_YAML), "--separator_exp", str(setup["separator"]),
                     "--tagger_exp", str(setup["tagger"]), "--data", str(setup["data"]),
                     "--output_dir", str(tmp_path / "decode"), "--print_config"])
        resolved = load_yaml_text(capsys.readouterr().out)
        assert resolved["class_report_thresholds"] == (per_class or None) or \
            resolved["class_report_thresholds"] == per_class
    finally:
        (setup["tagger"] / "decode_thresholds.yaml").unlink()


def test_decision_steps_score_each_step_on_a_test_set(setup, capsys, tmp_path, monkeypatch):
    """argmax / one threshold / decoupled / per-class against the hand-made confidences
    (Cough .9, Pour .6, Speech .25; argmax: Cough and Pour beat silence, Speech does not)."""
    import json

    from s5tse.bin.decision_steps import main as steps_main
    from s5tse.utils.config import save_config

    tuned = tmp_path / "tuned.yaml"
    save_config({"query_threshold": 0.2, "report_threshold": 0.5,
                 "single_threshold": {"threshold": 0.7},
                 "class_report_thresholds": {"Cough": 0.95}}, tuned)
    calls = record_separations(monkeypatch, "separate")
    out = tmp_path / "decision_steps.json"
    status, stdout, err = run_cli(steps_main, [
        "--config", DECODE_YAML, "--separator_exp", setup["separator"], "--tagger_exp",
        setup["tagger"], "--data", setup["data"], "--thresholds", tuned, "--output", out], capsys)
    assert status == 0, err
    rows = json.loads(out.read_text())["steps"]
    expected = {"argmax": ["Cough", "Pour"], "one threshold": ["Cough"],
                "decoupled": ["Cough", "Pour"], "per-class": ["Pour"]}
    assert [r["name"] for r in rows] == list(expected)
    for row in rows:
        capi, mix, src = score_with(setup["items"], expected[row["name"]])
        assert row["acc_mix"] == pytest.approx(mix) and row["acc_src"] == pytest.approx(src)
        assert row["num_reported"] == len(expected[row["name"]]) * len(setup["items"])
        if capi is None:
            assert row["capi_sdri"] is None
        else:
            assert row["capi_sdri"] == pytest.approx(capi, abs=1e-6)
    # one separation per distinct query set: {C, P} (argmax), {C} (0.7), {C, P, S} (0.2, twice)
    assert len(calls) == 3 * len(setup["items"])
    assert "|per-class|0.2|0.5; Cough 0.95|" in stdout

    # two jobs and a merge give the same rows; a merge without every part names the missing one
    common = ["--config", DECODE_YAML, "--separator_exp", setup["separator"], "--tagger_exp",
              setup["tagger"], "--data", setup["data"], "--thresholds", tuned,
              "--output", tmp_path / "jobs.json", "--num_jobs", "2"]
    status, _, err = run_cli(steps_main, common + ["--merge", "true"], capsys)
    assert status == 1 and "jobs.json.parts/1.json: cannot read this job's part" in err
    for job in ("1", "2"):
        status, _, err = run_cli(steps_main, common + ["--job", job], capsys)
        assert status == 0, err
    assert not (tmp_path / "jobs.json").exists()
    status, _, err = run_cli(steps_main, common + ["--merge", "true"], capsys)
    assert status == 0, err
    merged = json.loads((tmp_path / "jobs.json").read_text())
    assert merged["num_items"] == len(setup["items"])
    for got, want in zip(merged["steps"], rows, strict=True):
        assert {k: v for k, v in got.items() if k != "capi_sdri"} == \
            {k: v for k, v in want.items() if k != "capi_sdri"}
        assert got["capi_sdri"] == pytest.approx(want["capi_sdri"], abs=1e-9)

    status, _, err = run_cli(steps_main, [
        "--config", DECODE_YAML, "--separator_exp", setup["separator"], "--tagger_exp",
        setup["tagger"], "--data", setup["data"], "--output", out], capsys)
    assert status == 1 and "decode_thresholds.yaml: missing; run python -m " \
        "s5tse.bin.tune_thresholds first" in err and len(err.strip().splitlines()) == 1


def test_decode_and_decision_steps_share_a_separation_cache(setup, capsys, tmp_path, monkeypatch):
    """With one --separation_cache, the decision steps read the query set that decode
    separated (tau_q 0.2: Cough, Pour, Speech) instead of separating it again, and score
    exactly what they score without the cache; the separator is a random (non-zero) one."""
    import json

    from s5tse.bin.decision_steps import main as steps_main
    from s5tse.bin.decode import main as decode_main
    from s5tse.utils.config import save_config

    sep, _ = make_experiment("separator", SEPARATOR_YAML, tmp_path / "separator_random",
                             "valid.sdri.ave.pth", ["--model_conf.preset", "unit"], seed=3)
    tuned = tmp_path / "tuned.yaml"
    save_config({"query_threshold": 0.2, "report_threshold": 0.5,
                 "single_threshold": {"threshold": 0.7}}, tuned)
    runs = record_separations(monkeypatch, "_separate")   # the separator runs themselves
    cache = tmp_path / "separations"
    n = len(setup["items"])
    status, _, err = run_cli(decode_main, [
        "--config", DECODE_YAML, "--separator_exp", sep, "--tagger_exp", setup["tagger"],
        "--data", setup["data"], "--output_dir", tmp_path / "decode_x_valid",
        "--query_threshold", "0.2", "--report_threshold", "0.5", "--use_tuned_thresholds", "false",
        "--separation_cache", cache], capsys)
    assert status == 0, err
    assert len(runs) == n and len(list(cache.glob("*.npy"))) == n

    steps = ["--config", DECODE_YAML, "--separator_exp", sep, "--tagger_exp", setup["tagger"],
             "--data", setup["data"], "--thresholds", tuned]
    runs.clear()
    status, _, err = run_cli(steps_main, steps + ["--output", tmp_path / "cached.json",
                                                  "--separation_cache", cache], capsys)
    assert status == 0, err
    # argmax {C, P} and one threshold {C} are separated; decoupled {C, P, S} comes from decode
    assert len(runs) == 2 * n and ("Cough", "Pour", "Speech") not in runs, runs
    runs.clear()
    status, _, err = run_cli(steps_main, steps + ["--output", tmp_path / "plain.json"], capsys)
    assert status == 0, err
    assert len(runs) == 3 * n
    cached = json.loads((tmp_path / "cached.json").read_text())["steps"]
    plain = json.loads((tmp_path / "plain.json").read_text())["steps"]
    assert cached == plain
