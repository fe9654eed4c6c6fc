"""Tests for s5tse.bin.validate_data_dir (in-process main() and one subprocess run)."""
import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from s5tse.bin.validate_data_dir import get_parser, main


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data" / "test"
    d.mkdir(parents=True)
    wav = tmp_path / "m1.wav"
    ref = tmp_path / "m1_s1.wav"
    sf.write(str(wav), np.zeros((320, 4), dtype=np.float32), 32000, subtype="PCM_24")
    sf.write(str(ref), np.zeros((320, 1), dtype=np.float32), 32000, subtype="FLOAT")
    (d / "wav.scp").write_text(f"m1 {wav}\n")
    (d / "spk1.scp").write_text(f"m1 {ref}\n")
    (d / "text").write_text("m1 Speech\n")
    return d


def test_get_parser():
    parser = get_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    args = parser.parse_args(["d", "--sample_rate", "32000", "--num_channels", "4", "--no_audio"])
    assert (args.data_dir, args.sample_rate, args.num_channels, args.no_audio) == ("d", 32000, 4, True)
    assert args.labels_file is None and args.required == "wav.scp"


def test_ok(data_dir, capsys):
    assert main([str(data_dir), "--sample_rate", "32000", "--num_channels", "4"]) is None
    out, err = capsys.readouterr()
    assert out == (
        f"validate_data_dir: {data_dir}: OK: 1 utterances; tables: spk1.scp text wav.scp; "
        "2 audio files found, 0 pipes not run\n"
    )
    assert err == ""


def test_channel_error(data_dir, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(data_dir), "--num_channels", "2"])
    assert e.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"validate_data_dir: error: {data_dir / 'wav.scp'}: key 'm1': "
        f"{data_dir.parent.parent / 'm1.wav'} has 4 channels, expected 2\n"
    )


def test_no_audio(data_dir, capsys):
    os.unlink(data_dir.parent.parent / "m1.wav")
    with pytest.raises(SystemExit) as e:
        main([str(data_dir)])
    assert e.value.code == 1
    assert "no such file" in capsys.readouterr().err
    main([str(data_dir), "--no_audio"])
    assert "audio not checked" in capsys.readouterr().out


def test_labels_file(data_dir, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("Dishes\nCough 1\n\n")
    with pytest.raises(SystemExit) as e:
        main([str(data_dir), "--labels_file", str(labels)])
    assert e.value.code == 1
    assert capsys.readouterr().err == (
        f"validate_data_dir: error: {data_dir / 'text'}: key 'm1': unknown label 'Speech'\n"
    )
    labels.write_text("Speech\n")
    main([str(data_dir), "--labels_file", str(labels)])
    with pytest.raises(SystemExit):
        main([str(data_dir), "--labels_file", str(tmp_path / "nope.txt")])
    assert "cannot read labels file" in capsys.readouterr().err


def test_required(data_dir, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(data_dir), "--required", "wav.scp,spk2.scp"])
    assert e.value.code == 1
    assert capsys.readouterr().err.endswith("required file 'spk2.scp' is missing\n")


def test_subprocess(data_dir, repo_root, subprocess_env):
    env = dict(subprocess_env, PYTHONPATH=str(repo_root))
    cmd = [sys.executable, "-m", "s5tse.bin.validate_data_dir", str(data_dir), "--sample_rate", "32000"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"validate_data_dir: {data_dir}: OK: 1 utterances")
    (data_dir / "text").write_text("m2 Speech\n")
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"validate_data_dir: error: {data_dir / 'text'}: ")
    assert "Traceback" not in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_class_inventory_of_the_recipe(data_dir, tmp_path, capsys):
    """The text labels are checked against <data>/../lang/classes.txt (or --classes); a bad
    inventory is a one-line error naming the file and line."""
    lang = data_dir.parent / "lang" / "classes.txt"
    lang.parent.mkdir()
    lang.write_text("Dishes\nCough\n")
    with pytest.raises(SystemExit):
        main([str(data_dir), "--no_audio"])
    err = capsys.readouterr().err
    assert "unknown label 'Speech'" in err and str(data_dir / "text") in err
    lang.write_text("Speech\n\nDishes\n")
    with pytest.raises(SystemExit):
        main([str(data_dir), "--no_audio"])
    assert capsys.readouterr().err.strip() == \
        f"validate_data_dir: error: {lang}:2: blank line (one class a line)"
    lang.write_text("Speech\nDishes\nSpeech\n")
    with pytest.raises(SystemExit):
        main([str(data_dir), "--no_audio"])
    assert "class 'Speech' already on line 1" in capsys.readouterr().err
    other = tmp_path / "classes.txt"
    other.write_text("Speech\n")
    main([str(data_dir), "--no_audio", "--classes", str(other)])
    assert "OK" in capsys.readouterr().out


def test_check_audio_reads_the_samples(data_dir, capsys):
    """Headers do not show NaN samples; --check_audio true decodes every file. A WAV cut
    shorter than its header is caught by the header check already."""
    ref = data_dir.parent.parent / "m1_s1.wav"
    x = np.zeros((320, 1), dtype=np.float32)
    x[7] = np.nan
    sf.write(str(ref), x, 32000, subtype="FLOAT")
    assert main([str(data_dir)]) is None                      # headers only: passes
    with pytest.raises(SystemExit) as e:
        main([str(data_dir), "--check_audio", "true"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"validate_data_dir: error: {data_dir / 'spk1.scp'}: key 'm1': "
                                    f"{ref}: 1 NaN/Inf sample(s)")
    wav = data_dir.parent.parent / "m1.wav"
    wav.write_bytes(wav.read_bytes()[:600])
    with pytest.raises(SystemExit):
        main([str(data_dir), "--sample_rate", "32000"])
    assert "m1.wav: truncated: its header promises 320 frames" in capsys.readouterr().err
