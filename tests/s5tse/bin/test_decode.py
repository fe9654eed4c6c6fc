"""Tests of the decoding CLI (python -m s5tse.bin.decode) with tiny models on the mini corpus.

The experiments are written the way the trainer writes them (``config.yaml`` from the task's
``resolve_config`` + a ``state_dict`` of the task's wrapper saved by ``save_weights``). The
tagger's clip and frame heads are set to constant outputs (zero weights, biases = log
probabilities), so the expected labels and probabilities are known by hand.
"""
import json
import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from s5tse.bin.decode import main
from s5tse.corpus.prepare import write_soundscape_tables
from s5tse.corpus.testset import scan_test_set
from s5tse.corpus.dcase import DCASE2026
from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES
from s5tse.labels import SILENCE
from tests.conftest import DCASE_CLASSES_FILE
from tests.s5tse.bin.helpers import run_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[3]
CONF = REPO / "egs" / "dcase2026_task4" / "conf"
TAGGER_YAML = CONF / "tuning" / "train_tagger_fusion_tiny.yaml"
SEPARATOR_YAML = CONF / "tuning" / "train_separator_resunetk_cpu_small.yaml"
DECODE_YAML = CONF / "decode.yaml"

# constant tagger: (label, p(label), p(silence)) per slot; confidences 0.9, 0.6, 0.25
SLOTS = (("Cough", 0.8, 0.1), ("Pour", 0.5, 0.4), ("Speech", 0.2, 0.75))


# --------------------------------------------------------------------------- helpers
def slot_probs(slots=SLOTS):
    """``[3, 19]`` distributions: p(label), p(silence), the rest spread over the others."""
    out = torch.zeros(len(slots), 19)
    for k, (label, p, p_sil) in enumerate(slots):
        i = TARGET_CLASSES.index(label)
        others = [j for j in range(18) if j != i]
        out[k, others] = (1.0 - p - p_sil) / len(others)
        out[k, i], out[k, 18] = p, p_sil
    return out


def make_experiment(role, yaml_path, out_dir, checkpoint, overrides=(), edit=None, seed=0):
    """Write ``out_dir/config.yaml`` and ``out_dir/<checkpoint>`` like s5tse.bin.train does."""
    from s5tse.tasks import get_task
    from s5tse.train.checkpoint import save_weights
    from s5tse.utils.config import load_config, save_config

    task = get_task(role)
    config = task.resolve_config(load_config(task.defaults(), [yaml_path],
                                             ["--classes", str(DCASE_CLASSES_FILE), *overrides]))
    torch.manual_seed(seed)
    model = task.build_model(config)
    if edit is not None:
        with torch.no_grad():
            edit(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    save_weights(model.state_dict(), out / checkpoint)
    return out, sum(p.numel() for p in getattr(model, role).parameters())


def constant_fusion_tagger(probs):
    """Edit a FusionTaggerModel: clip and frame outputs = ``probs [3, 19]`` for any input."""
    def edit(model):
        head = model.tagger.head
        for s in range(3):
            for layer in (head.clip_cls[s], head.frame_cls[s]):
                layer.weight.zero_()
                layer.bias.copy_(probs[s].log())
    return edit


def zero_separator(model):
    """Edit a ResUNetK SeparatorModel: every estimate is exactly zero."""
    model.separator.out_conv.weight.zero_()


run = partial(run_cli, main)  # (args, capsys) -> (exit status, stdout, stderr)


def error_line(err):
    lines = [ln for ln in err.splitlines() if ln.startswith("decode: error:")]
    assert len(lines) == 1, err
    return lines[0]


# -------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def test_set(mini_corpus):
    base = mini_corpus / "data" / "dev_set" / "synthesized" / "test"
    return base / "soundscape", base / "oracle_target"


@pytest.fixture(scope="module")
def data_dir(test_set, tmp_path_factory):
    """Kaldi tables (wav.scp, text, spk{n}.scp) of the mini test set."""
    out = tmp_path_factory.mktemp("data") / "test"
    write_soundscape_tables(scan_test_set(*test_set), out)
    DCASE2026.write(out.parent / "lang" / "classes.txt")  # as stage 1 writes data/lang
    return out


@pytest.fixture(scope="module")
def one_item_dir(test_set, tmp_path_factory):
    """Kaldi tables of the first test mixture with references (a cheap decode)."""
    items = [t for t in scan_test_set(*test_set) if t.refs][:1]
    out = tmp_path_factory.mktemp("data1") / "one"
    write_soundscape_tables(items, out)
    DCASE2026.write(out.parent / "lang" / "classes.txt")
    return out


@pytest.fixture(scope="module")
def exps(tmp_path_factory):
    """Tagger (constant fusion tiny) and separator (ResUNetK unit) experiment dirs."""
    root = tmp_path_factory.mktemp("exp")
    tagger, n_tag = make_experiment("tagger", TAGGER_YAML, root / "tagger_tiny",
                                    "valid.loss.ave.pth", edit=constant_fusion_tagger(slot_probs()))
    sep, n_sep = make_experiment("separator", SEPARATOR_YAML, root / "separator_unit",
                                 "valid.sdri.ave.pth", ["--model_conf.preset", "unit"])
    return {"tagger": tagger, "separator": sep, "n_tagger": n_tag, "n_separator": n_sep,
            "root": root}


def base_args(exps, out, data=None, oracle=False):
    args = ["--config", DECODE_YAML, "--separator_exp", exps["separator"], "--output_dir", out]
    if oracle:
        args += ["--use_oracle_labels", "true"]
    else:
        args += ["--tagger_exp", exps["tagger"], "--query_threshold", "0.2"]
    if data is not None:
        args += ["--data", data]
    return args


def read_text(path):
    return {ln.split()[0]: ln.split()[1:] for ln in Path(path).read_text().splitlines()}


# ----------------------------------------------------------------------------- tests
def test_two_jobs_merge_contract_and_scoring(exps, data_dir, capsys, tmp_path):
    from s5tse.bin.score import main as score_main
    from s5tse.results.submission import plan_submission

    out = exps["root"] / "separator_unit" / "decode_decode_test"
    args = base_args(exps, out, data_dir)
    for job in (1, 2):
        status, _, err = run(args + ["--job", job, "--num_jobs", 2], capsys)
        assert status == 0, err
    assert not (out / "probabilities.json").exists()          # not merged yet
    status, stdout, err = run(args + ["--num_jobs", 2, "--merge", "true"], capsys)
    assert status == 0, err

    wav_scp = dict(ln.split(maxsplit=1) for ln in (data_dir / "wav.scp").read_text().splitlines())
    names = list(wav_scp)
    # query_threshold 0.2 (CLI), report_threshold 0.5 (decode.yaml): slots 0 and 1 reported,
    # slot 2 (Speech, confidence 0.25) separated but not written
    expected_files = sorted(f"{n}_{k}_{lab}.wav" for n in names for k, lab in ((0, "Cough"), (1, "Pour")))
    assert sorted(p.name for p in out.glob("*.wav")) == expected_files
    for name in names:
        n_mix = sf.info(wav_scp[name]).frames
        for f in out.glob(f"{name}_*.wav"):
            info = sf.info(str(f))
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (32000, 1, n_mix, "FLOAT")

    probs = json.loads((out / "probabilities.json").read_text())
    assert [e["soundscape"] for e in probs] == sorted(names)
    for e in probs:
        assert e["estimate"] == [
            {"filename": f"{e['soundscape']}_0_Cough.wav", "label": "Cough", "probability": 0.8},
            {"filename": f"{e['soundscape']}_1_Pour.wav", "label": "Pour", "probability": 0.5}]
    assert read_text(out / "text") == {n: ["Cough", "Pour", SILENCE] for n in names}

    info = json.loads((out / "decode_info.json").read_text())
    assert info["nparams"] == exps["n_tagger"] + exps["n_separator"]
    assert isinstance(info["nparams"], int) and info["nparams"] > 0
    assert isinstance(info["rtf"], float) and info["rtf"] > 0 and math.isfinite(info["rtf"])
    assert (info["set"], info["tag"]) == ("test", "decode")
    assert (info["report_threshold"], info["query_threshold"]) == (0.5, 0.2)
    assert info["threshold_source"] == "config" and info["streaming"] == "long_context"  # conf/decode.yaml
    assert info["num_items"] == len(names) and info["num_jobs"] == 2
    assert info["peak_rss_mb"] > 0
    assert (out / "decode_config.yaml").is_file()

    # job j decodes the items with index % 2 == j - 1; the part lists every slot decision
    for job in (1, 2):
        part = json.loads((out / "logdir" / f"decode_info.{job}.json").read_text())
        assert part["items"] == names[job - 1::2]
        slots = part["slots"][names[job - 1]]
        assert [s["label"] for s in slots] == ["Cough", "Pour", "Speech"]
        assert [s["query"] for s in slots] == [True, True, True]
        assert [s["report"] for s in slots] == [True, True, False]
        assert [s["confidence"] for s in slots] == pytest.approx([0.9, 0.6, 0.25], abs=1e-5)

    # the scorer and the submission packer accept the directory
    status, _, err = run_cli(score_main, ["--data_dir", data_dir, "--estimate_dir", out,
                                          "--out_dir", out / "scoring"], capsys)
    assert status == 0, err
    scores = json.loads((out / "scoring" / "scores.json").read_text())
    assert scores
    plan = plan_submission(out, Path(next(iter(wav_scp.values()))).parent, "Doe", "ACME", 1,
                           tmp_path / "sub")
    assert len(plan.estimates) == len(expected_files)

    # one job gives the same result as two (no dependence on the job split)
    single = tmp_path / "decode_decode_test"
    status, _, err = run(base_args(exps, single, data_dir), capsys)
    assert status == 0, err
    assert (single / "probabilities.json").read_text() == (out / "probabilities.json").read_text()
    for f in expected_files:
        assert (single / f).read_bytes() == (out / f).read_bytes()


def test_oracle_labels_reproduce_the_references(exps, data_dir, test_set, capsys, tmp_path):
    out = tmp_path / "decode_oracle_test"
    status, _, err = run(base_args(exps, out, data_dir, oracle=True), capsys)
    assert status == 0, err
    ref_text = read_text(data_dir / "text")
    assert read_text(out / "text") == ref_text
    probs = json.loads((out / "probabilities.json").read_text())
    for e in probs:
        ref = [lab for lab in ref_text[e["soundscape"]] if lab != SILENCE]
        assert sorted(est["label"] for est in e["estimate"]) == sorted(ref)
        assert all(est["probability"] == 1.0 for est in e["estimate"])
    info = json.loads((out / "decode_info.json").read_text())
    assert info["nparams"] == exps["n_separator"] and info["use_oracle_labels"] is True
    # the official folders give the same labels
    folder = tmp_path / "decode_oraclefolders_test"
    sdir, odir = test_set
    args = ["--config", DECODE_YAML, "--separator_exp", exps["separator"], "--output_dir", folder,
            "--use_oracle_labels", "true", "--soundscape_dir", sdir, "--oracle_dir", odir]
    status, _, err = run(args, capsys)
    assert status == 0, err
    assert read_text(folder / "text") == ref_text


def test_refuses_to_overwrite(exps, one_item_dir, capsys, tmp_path):
    out = tmp_path / "decode_x_one"
    args = base_args(exps, out, one_item_dir)
    assert run(args, capsys)[0] == 0
    status, _, err = run(args, capsys)
    assert status == 1
    line = error_line(err)
    assert "already holds decoding results" in line and "--overwrite true" in line
    status, _, err = run(args + ["--overwrite", "true", "--streaming", "low_latency"], capsys)
    assert status == 0, err
    assert len(list(out.glob("*.wav"))) == 2
    # low_latency = 1 s / 0.25 s / 0.125 s -> frames of the unit ResUNetK (hop 128, n_fft 256);
    # latency = ((present + future) * hop + n_fft / 2) / 32 kHz
    info = json.loads((out / "decode_info.json").read_text())
    assert info["streaming"] == "low_latency"
    assert info["streaming_frames"] == {"past": 250, "present": 64, "future": 32, "hop": 128}
    assert info["latency_ms"] == pytest.approx((96 * 128 + 128) / 32.0)


def test_classes_of_data_and_experiments_must_agree(exps, one_item_dir, capsys, tmp_path):
    """An experiment is decoded only on data of its own class inventory (both lists named);
    the decoding dir records the classes, and the scorer checks them against the data."""
    import shutil

    from s5tse.labels import ClassInventory

    data = tmp_path / "data" / "one"
    shutil.copytree(one_item_dir, data)
    ClassInventory(["Dog", "Cat"]).write(tmp_path / "data" / "lang" / "classes.txt")
    status, _, err = run(base_args(exps, tmp_path / "decode_x_one", data), capsys)
    line = error_line(err)
    assert status == 1 and "['Dog', 'Cat']" in line and "'AlarmClock'" in line
    assert str(exps["separator"]) in line and not (tmp_path / "decode_x_one").exists()
    # separator and tagger of different inventories
    config = exps["root"] / "tagger_pets"
    shutil.copytree(exps["tagger"], config)
    text = (config / "config.yaml").read_text().replace("- VacuumCleaner\n", "")
    (config / "config.yaml").write_text(text)
    status, _, err = run(base_args(dict(exps, tagger=config), tmp_path / "d2", one_item_dir), capsys)
    assert status == 1 and "VacuumCleaner" in error_line(err)
    # the recorded classes reach decode_info.json; scoring on other data is refused
    out = tmp_path / "decode_ok"
    assert run(base_args(exps, out, one_item_dir), capsys)[0] == 0
    assert json.loads((out / "decode_info.json").read_text())["classes"] == list(TARGET_CLASSES)
    from s5tse.bin.score import main as score_main

    status, _, err = run_cli(score_main, ["--data_dir", data, "--estimate_dir", out,
                                          "--out_dir", out / "scoring"], capsys)
    assert status == 1 and "['Dog', 'Cat']" in err and str(out / "decode_info.json") in err


def test_merge_names_a_missing_part(exps, one_item_dir, capsys, tmp_path):
    out = tmp_path / "decode_x_one"
    args = base_args(exps, out, one_item_dir)
    assert run(args + ["--job", 1, "--num_jobs", 2], capsys)[0] == 0
    status, _, err = run(args + ["--num_jobs", 2, "--merge", "true"], capsys)
    assert status == 1
    line = error_line(err)
    assert "decode_info.2.json" in line and "missing part of job 2/2" in line


def test_missing_checkpoint_names_the_file_and_stage(exps, one_item_dir, capsys, tmp_path):
    args = base_args(exps, tmp_path / "decode_x_one", one_item_dir)
    status, _, err = run(args + ["--separator_checkpoint", "valid.nope.best.pth"], capsys)
    line = error_line(err)
    assert status == 1
    assert str(exps["separator"] / "valid.nope.best.pth") in line
    assert "made by stage 4 (separator) of run.sh" in line
    status, _, err = run(args + ["--tagger_checkpoint", "valid.nope.best.pth"], capsys)
    line = error_line(err)
    assert str(exps["tagger"] / "valid.nope.best.pth") in line
    assert "made by stage 3 (tagger) of run.sh" in line


def test_bad_decode_config_is_refused(exps, one_item_dir, capsys, tmp_path):
    args = base_args(exps, tmp_path / "decode_x_one", one_item_dir)
    status, _, err = run(args + ["--query_threshold", "0.7"], capsys)
    assert status == 2 and "must not exceed report_threshold" in error_line(err)
    status, _, err = run(args + ["--streaming", "fast"], capsys)
    assert status == 2 and "'streaming' must be offline, one of long_context, low_latency" in error_line(err)
    status, _, err = run(args + ["--num_threads", "-1"], capsys)
    assert status == 2 and "'num_threads' must be >= 0" in error_line(err)
    bad = tmp_path / "per_class.yaml"
    for text, message in (
            ("class_report_thresholds: 0.5\n", "'class_report_thresholds' must be null or a mapping"),
            ("class_report_thresholds: {Speech: 0.1}\n",
             "class_report_thresholds[Speech] (0.1) must not be below query_threshold"),
            ("class_report_thresholds: {Speech: 1.5}\n",
             "'class_report_thresholds.Speech' must be a number in [0, 1]")):
        bad.write_text(text)
        status, _, err = run(args + ["--config", str(bad)], capsys)
        assert status == 2 and message in error_line(err), err


def _soundscapes(tmp_path, **mixtures):
    """A soundscape folder of ``name=(data [C, T], sample_rate)`` files."""
    sdir = tmp_path / "soundscape"
    sdir.mkdir()
    for name, (data, sr) in mixtures.items():
        sf.write(str(sdir / f"{name}.wav"), np.asarray(data, dtype=np.float32).T, sr,
                 subtype="FLOAT")
    return sdir


def _folder_args(exps, sdir, out):
    return ["--config", DECODE_YAML, "--separator_exp", exps["separator"], "--tagger_exp",
            exps["tagger"], "--soundscape_dir", sdir, "--output_dir", out]


@pytest.mark.parametrize("kind", ["nan", "three_channels", "16k", "cut"])
def test_bad_mixtures_are_one_line_errors(exps, capsys, tmp_path, kind):
    """Every input is checked before the models run: the bad file, listed after a good one,
    stops the job before anything is decoded; a name with whitespace is refused too."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8000)).astype(np.float32) * 0.1
    good = x[:, :4000].copy()
    sr = 32000
    if kind == "nan":
        x[2, 100] = np.nan
        want = "1 NaN/Inf sample(s)"
    elif kind == "three_channels":
        x = x[:3]
        want = "3 channel(s), expected 4"
    elif kind == "16k":
        sr = 16000
        want = "16000 Hz, expected 32000 (pass --resample true"
    else:
        want = "truncated: its header promises 8000 frames, the file holds "
    sdir = _soundscapes(tmp_path, a_good=(good, 32000), bad=(x, sr))
    if kind == "cut":
        data = (sdir / "bad.wav").read_bytes()
        (sdir / "bad.wav").write_bytes(data[:len(data) // 3])
    out = tmp_path / "decode_x_bad"
    status, _, err = run(_folder_args(exps, sdir, out), capsys)
    line = error_line(err)
    assert status == 1 and str(sdir / "bad.wav") in line and want in line
    assert not list(out.glob("*.wav"))          # a_good.wav was not decoded before the error
    (tmp_path / "spaced").mkdir()
    spaced = _soundscapes(tmp_path / "spaced", **{"a b": (good, 32000)})
    status, _, err = run(_folder_args(exps, spaced, tmp_path / "decode_x_sp"), capsys)
    assert status == 1 and "the soundscape name 'a b' contains whitespace" in error_line(err)


def test_resample_silent_and_short_mixtures(exps, capsys, tmp_path):
    rng = np.random.default_rng(1)
    sdir = _soundscapes(
        tmp_path,
        low=(rng.standard_normal((4, 8000)) * 0.1, 16000),       # 0.5 s at 16 kHz
        silent=(np.zeros((4, 32000)), 32000),                     # all zero
        short=(rng.standard_normal((4, 100)) * 0.1, 32000),      # shorter than every model
    )
    out = tmp_path / "decode_x_odd"
    status, _, err = run(_folder_args(exps, sdir, out) + ["--resample", "true"], capsys)
    assert status == 0, err
    assert read_text(out / "text") == {"low": ["Cough", "Pour", SILENCE],
                                       "short": ["Cough", "Pour", SILENCE],
                                       "silent": [SILENCE] * 3}
    assert sf.info(str(out / "low_0_Cough.wav")).frames == 16000          # resampled to 32 kHz
    assert sf.info(str(out / "short_1_Pour.wav")).frames == 100
    assert not list(out.glob("silent_*.wav"))
    probs = {e["soundscape"]: e["estimate"] for e in json.loads((out / "probabilities.json").read_text())}
    assert probs["silent"] == []


def test_training_only_weight_files_are_not_read_at_decoding(tmp_path):
    """An SR_CorrNet_SS initialisation file named in the config is gone after training: the
    experiment's own checkpoint is all decoding needs."""
    from s5tse.decode.models import load_experiment
    from s5tse.models.separator.sr_corrnet.checkpoint import export_sr_corrnet_ss_layout
    from s5tse.models.separator.sr_corrnet.model import LabelQueriedSRCorrNet

    init = tmp_path / "sr_corrnet_ss.pt"
    torch.save(export_sr_corrnet_ss_layout(LabelQueriedSRCorrNet(preset="unit", num_classes=18)), init)
    yaml_path = CONF / "tuning" / "train_separator_lq_sr_corrnet_tiny.yaml"
    exp, n = make_experiment("separator", yaml_path, tmp_path / "exp", "valid.sdri.ave.pth",
                             overrides=["--model_conf.init_sr_corrnet_ss", str(init)])
    init.unlink()
    loaded = load_experiment(exp, "valid.sdri.ave.pth", "separator")
    assert loaded.nparams == n and loaded.config["model_conf"]["init_sr_corrnet_ss"] == str(init)


@pytest.mark.parametrize("target", ["tagger_config", "separator_config", "tuned_thresholds"])
def test_malformed_yaml_files_are_one_line_errors(exps, one_item_dir, capsys, tmp_path, target):
    """A broken config.yaml of an experiment or decode_thresholds.yaml: one line naming the file
    and the YAML line, no traceback."""
    import shutil

    tagger, sep = tmp_path / "tagger", tmp_path / "separator"
    shutil.copytree(exps["tagger"], tagger)
    shutil.copytree(exps["separator"], sep)
    bad = {"tagger_config": tagger / "config.yaml", "separator_config": sep / "config.yaml",
           "tuned_thresholds": tagger / "decode_thresholds.yaml"}[target]
    bad.write_text("report_threshold: 0.5\nquery_threshold: [0.3\n")
    args = ["--config", DECODE_YAML, "--separator_exp", sep, "--tagger_exp", tagger,
            "--data", one_item_dir, "--output_dir", tmp_path / "decode_x_one"]
    status, _, err = run(args, capsys)
    line = error_line(err)
    assert status == (2 if target == "tuned_thresholds" else 1)
    assert f"{bad}: invalid YAML at line " in line
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def two_items_dir(test_set, tmp_path_factory):
    """Kaldi tables of the first two mini test mixtures."""
    out = tmp_path_factory.mktemp("data2") / "two"
    write_soundscape_tables(scan_test_set(*test_set)[:2], out)
    DCASE2026.write(out.parent / "lang" / "classes.txt")
    return out


def test_an_interrupted_job_continues_where_it_stopped(exps, two_items_dir, capsys, tmp_path,
                                                       monkeypatch):
    """Ctrl-C after one mixture; the same command again decodes only the other, and the
    decode dir equals an uninterrupted run's (estimates bitwise, probabilities, text)."""
    from s5tse.decode.runner import Decoder

    data_dir = two_items_dir

    ref = tmp_path / "decode_ref_test"
    status, _, err = run(base_args(exps, ref, data_dir), capsys)
    assert status == 0, err
    out = tmp_path / "decode_cut_test"
    real = Decoder.decode_batch
    calls = []

    def interrupted(self, items):
        calls.append(items[0][0].name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, items)

    monkeypatch.setattr(Decoder, "decode_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(base_args(exps, out, data_dir), capsys)
    monkeypatch.setattr(Decoder, "decode_batch", real)
    assert not (out / "probabilities.json").exists()
    (out / f"{calls[1]}_0_Cough.wav").write_bytes(b"partial")      # a half-written leftover
    status, stdout, err = run(base_args(exps, out, data_dir), capsys)
    assert status == 0, err
    assert "continuing: 1 of 2 mixtures were decoded by an interrupted run" in err
    assert sorted(p.name for p in out.glob("*.wav")) == sorted(p.name for p in ref.glob("*.wav"))
    for p in ref.glob("*.wav"):
        assert (out / p.name).read_bytes() == p.read_bytes(), p.name
    assert (out / "text").read_text() == (ref / "text").read_text()
    assert json.loads((out / "probabilities.json").read_text()) == \
        json.loads((ref / "probabilities.json").read_text())
    # another decoding (other thresholds) does not reuse those records: refused as before
    status, _, err = run(base_args(exps, out, data_dir) + ["--report_threshold", "0.7"], capsys)
    assert status == 1 and "already holds decoding results" in error_line(err)
