"""Packed models (s5tse.packed, python -m s5tse.bin.pack_model), the Python API
(s5tse.SceneSeparator) and python -m s5tse.bin.separate, against s5tse.bin.decode.

The system is test_decode's: a constant fusion tagger (slots Cough 0.9, Pour 0.6, Speech 0.25
confidence) and a ResUNetK ``unit`` separator with random weights, decoded by s5tse.bin.decode
on the mini test set; its decode dir is packed, and the API and the CLI must give exactly the
waveforms decode wrote.
"""
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s5tse.bin.decode import main as decode_main
from s5tse.bin.pack_model import main as pack_main
from s5tse.bin.separate import main as separate_main
from tests.s5tse.bin.helpers import run_cli
from tests.s5tse.bin.test_decode import base_args, exps, test_set  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[3]
pack = partial(run_cli, pack_main)
separate = partial(run_cli, separate_main)


def error_line(err, prog):
    lines = [ln for ln in err.splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def data_dir(test_set, tmp_path_factory):  # noqa: F811
    """Kaldi tables of the first two mini test mixtures."""
    from s5tse.corpus.dcase import DCASE2026
    from s5tse.corpus.prepare import write_soundscape_tables
    from s5tse.corpus.testset import scan_test_set

    out = tmp_path_factory.mktemp("data2") / "test"
    write_soundscape_tables(scan_test_set(*test_set)[:2], out)
    DCASE2026.write(out.parent / "lang" / "classes.txt")
    return out


@pytest.fixture(scope="module")
def decoded(exps, data_dir):  # noqa: F811
    """A one-job decoding of the mini test set by s5tse.bin.decode (the reference outputs)."""
    out = exps["root"] / "separator_unit" / "decode_packed_test"
    decode_main([str(a) for a in base_args(exps, out, data_dir)])
    return out


@pytest.fixture(scope="module")
def packed(decoded, tmp_path_factory):
    out = tmp_path_factory.mktemp("packed") / "unit_system"
    pack_main(["--decode_dir", str(decoded), "--output", str(out)])
    return out


def wav_scp(data_dir):  # noqa: F811
    return dict(ln.split(maxsplit=1) for ln in (data_dir / "wav.scp").read_text().splitlines())


# ----------------------------------------------------------------------------- packing
def test_pack_layout_manifest_and_card(packed, decoded, exps):
    files = sorted(p.relative_to(packed).as_posix() for p in packed.rglob("*") if p.is_file())
    # no scoring/scores.md in this decode dir: no results.md; no env_info.txt next to the exps
    assert files == ["MANIFEST.sha256", "README.md", "classes.txt", "decode.yaml", "pack_info.json",
                     "separator/config.yaml", "separator/model.pth",
                     "tagger/config.yaml", "tagger/model.pth"]
    import hashlib

    listed = dict(reversed(ln.split("  ")) for ln in (packed / "MANIFEST.sha256").read_text().splitlines())
    assert sorted(listed) == [f for f in files if f != "MANIFEST.sha256"]
    for rel, digest in listed.items():
        assert hashlib.sha256((packed / rel).read_bytes()).hexdigest() == digest
    assert (packed / "tagger" / "model.pth").read_bytes() == \
        (exps["tagger"] / "valid.loss.ave.pth").read_bytes()
    info = json.loads((packed / "pack_info.json").read_text())
    assert info["format"] == "s5tse.packed/1" and info["num_classes"] == 18
    assert (info["decode"]["report_threshold"], info["decode"]["query_threshold"]) == (0.5, 0.2)
    assert info["parts"]["separator"]["nparams"] == exps["n_separator"]
    card = (packed / "README.md").read_text()
    assert "SceneSeparator.from_pretrained" in card and "(not given when packed)" in card
    assert "written by this recipe" not in card      # the tiny test models start from nothing


def test_a_pack_that_does_not_match_its_manifest_is_refused(packed, capsys, tmp_path):
    import shutil

    from s5tse.packed import PackedModelError, open_packed

    for damage, message in (
            (lambda d: (d / "tagger" / "model.pth").write_bytes(b"x"), r"tagger/model.pth: sha256 does not match"),
            (lambda d: (d / "separator" / "config.yaml").unlink(), r"separator/config.yaml: listed in .* but missing"),
            (lambda d: (d / "extra.txt").write_text("x"), r"extra.txt: not listed in MANIFEST.sha256"),
            (lambda d: (d / "MANIFEST.sha256").unlink(), r"MANIFEST.sha256: missing")):
        copy = tmp_path / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(packed, copy)
        damage(copy)
        with pytest.raises(PackedModelError, match=message):
            open_packed(copy)
    wav = tmp_path / "x.wav"
    sf.write(wav, np.zeros((3200, 4), np.float32), 32000)
    status, _, err = separate(["--model", str(copy), "--out_dir", str(tmp_path / "o"), str(wav)],
                              capsys)
    assert status == 1 and "MANIFEST.sha256: missing" in error_line(err, "separate")


def test_pack_refuses_to_overwrite_and_oracle_decodings(packed, decoded, capsys, tmp_path):
    status, _, err = pack(["--decode_dir", str(decoded), "--output", str(packed)], capsys)
    assert status == 1 and "exists; pass --overwrite true" in error_line(err, "pack_model")
    status, _, err = pack(["--decode_dir", str(tmp_path), "--output", str(tmp_path / "p")], capsys)
    assert status == 1 and "decode_config.yaml: no such file" in error_line(err, "pack_model")


# ------------------------------------------------------------------- API and CLI = decode
def test_api_in_a_fresh_process_elsewhere_gives_the_decoded_waveforms(packed, decoded, data_dir,  # noqa: F811
                                                                      tmp_path):
    """Load the pack as a zip from another directory, without the experiment dirs."""
    zipped = tmp_path / "unit_system.zip"
    pack_main(["--decode_dir", str(decoded), "--output", str(zipped)])
    items = wav_scp(data_dir)
    script = (
        "import json, sys, numpy as np\n"
        "from s5tse import SceneSeparator\n"
        "model = SceneSeparator.from_pretrained(sys.argv[1])\n"
        "out = {}\n"
        "for name, path in json.loads(sys.argv[2]).items():\n"
        "    srcs = model(path)\n"
        "    out[name] = [(s.slot, s.label, round(s.confidence, 4), s.spans) for s in srcs]\n"
        "    for s in srcs: np.save(f'{name}_{s.slot}.npy', s.waveform)\n"
        "print(json.dumps(out))\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", script, str(zipped), json.dumps(items)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in items:
        assert [[s, lab] for s, lab, _, _ in result[name]] == [[0, "Cough"], [1, "Pour"]]
        assert [c for _, _, c, _ in result[name]] == [0.9, 0.6]
        for slot, label in ((0, "Cough"), (1, "Pour")):
            ref, _ = sf.read(decoded / f"{name}_{slot}_{label}.wav", dtype="float32")
            assert np.array_equal(np.load(work / f"{name}_{slot}.npy"), ref)


def test_cli_writes_what_decode_wrote_and_resumes(packed, decoded, data_dir, capsys, tmp_path):  # noqa: F811
    out = tmp_path / "separated"
    status, stdout, err = separate(["--model", str(packed), "--out_dir", str(out),
                                    str(data_dir / "wav.scp")], capsys)
    assert status == 0, err
    items = wav_scp(data_dir)
    assert sorted(p.name for p in out.glob("*.wav")) == sorted(p.name for p in decoded.glob("*.wav"))
    for p in decoded.glob("*.wav"):
        a, sr = sf.read(p, dtype="float32")
        b, sr2 = sf.read(out / p.name, dtype="float32")
        assert sr == sr2 == 32000 and np.array_equal(a, b)
    for name, path in items.items():
        rec = json.loads((out / f"{name}.json").read_text())
        assert rec["input"] == path and rec["num_samples"] == sf.info(path).frames
        assert [(s["label"], s["confidence"]) for s in rec["sources"]] == [("Cough", 0.9), ("Pour", 0.6)]
        assert rec["rtf"] > 0
    assert "separate:" not in err.replace("separate: error", "")   # no bar off a terminal
    # a rerun skips what is done; a deleted record is redone (with a bar: --progress true)
    first = sorted(items)[0]
    (out / f"{first}.json").unlink()
    status, stdout, err = separate(["--model", str(packed), "--out_dir", str(out), "--progress", "true",
                                    str(data_dir / "wav.scp")], capsys)
    assert status == 0 and "1 input(s) separated" in stdout and f"{len(items) - 1} already done" in stdout
    assert f"separate: 100%" in err and f"{len(items)}/{len(items)}" in err


def test_cli_bad_and_silent_inputs(packed, capsys, tmp_path):
    rng = np.random.default_rng(0)
    ok = 0.01 * rng.standard_normal((32000, 4)).astype(np.float32)
    cases = {
        "stereo.wav": (ok[:, :2], 32000, "has 2 channel(s), expected 4"),
        "rate.wav": (ok, 16000, "has 16000 Hz, expected 32000 (pass --resample true"),
        "nan.wav": (np.where(np.arange(4)[None] == 1, np.nan, ok).astype(np.float32), 32000, "NaN/Inf"),
    }
    for fname, (x, sr, message) in cases.items():
        path = tmp_path / fname
        sf.write(path, x, sr, subtype="FLOAT")
        status, _, err = separate(["--model", str(packed), "--out_dir", str(tmp_path / "o"),
                                   str(path)], capsys)
        assert status == 1 and fname in error_line(err, "separate") and message in err, err
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    status, _, err = separate(["--model", str(packed), "--out_dir", str(tmp_path / "o"),
                               str(tmp_path / "broken.wav")], capsys)
    assert status == 1 and "broken.wav" in error_line(err, "separate")
    silent = tmp_path / "quiet" / "silent.wav"
    silent.parent.mkdir()
    sf.write(silent, np.zeros((32000, 4), np.float32), 32000, subtype="FLOAT")
    status, stdout, err = separate(["--model", str(packed), "--out_dir", str(tmp_path / "q"),
                                    str(silent.parent)], capsys)
    assert status == 0, err
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").iterdir())


def test_a_long_input_is_separated_in_bounded_windows(packed):
    """24 s through the API: the separator never sees more than one streaming window
    (past + present + future of the pack's long_context), so its working memory does not grow
    with the input; the output keeps the input's length. 16 kHz input needs resample=True."""
    from s5tse import SceneSeparator
    from s5tse.decode.inputs import DecodeInputError
    from s5tse.streaming.chunked import model_hop
    from s5tse.streaming.config import resolve_streaming_config

    model = SceneSeparator.from_pretrained(packed)
    decoder = model._decoder(model.config)
    seen = []
    hook = decoder.separator.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[-1]))
    try:
        x = 0.01 * np.random.default_rng(1).standard_normal((4, 24 * 32000)).astype(np.float32)
        sources = model(x, sample_rate=32000)
    finally:
        hook.remove()
    hop = model_hop(decoder.separator)
    cfg = resolve_streaming_config(model.config["streaming"]).for_hop(hop)
    assert len(seen) > 1 and max(seen) <= (cfg.past + cfg.present + cfg.future) * hop
    assert [s.label for s in sources] == ["Cough", "Pour"]
    assert all(s.waveform.shape == (24 * 32000,) for s in sources)
    assert sources[0].spans == [(0.0, 24.0)]       # the constant Cough track: p = 0.8 on every frame
    with pytest.raises(DecodeInputError, match="16000 Hz, expected 32000"):
        model(x[:, :16000], sample_rate=16000)
    assert model(x[:, :16000], sample_rate=16000, resample=True)[0].waveform.shape == (32000,)
