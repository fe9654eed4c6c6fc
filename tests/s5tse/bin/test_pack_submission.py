"""Tests for s5tse.bin.pack_submission (in-process main() and one subprocess run)."""
import argparse
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from s5tse.bin.pack_submission import get_parser, main
from tests.s5tse.results.helpers import (GOOD_ESTIMATES, MIX_LEN, build_decode_dir,
                                        official_dev_results, write_wav)

NAME = "Doe_ACME_task4_1"


def cmd(tmp_path, ddir, sdir, *extra, author="Doe", affiliation="ACME", number="1"):
    return ["--decode_dir", str(ddir), "--soundscape_dir", str(sdir), "--author", author,
            "--affiliation", affiliation, "--number", number, "--out_dir", str(tmp_path / "out"),
            *extra]


def test_get_parser():
    parser = get_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    args = parser.parse_args(["--decode_dir", "d", "--soundscape_dir", "s", "--author", "A",
                              "--affiliation", "B", "--number", "3", "--out_dir", "o"])
    assert (args.number, args.dev_results, args.overwrite) == ("3", None, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--decode_dir", "d"])


def test_main_packs(tmp_path):
    ddir, sdir, probabilities, decode_info = build_decode_dir(tmp_path, GOOD_ESTIMATES)
    dev = tmp_path / "official_results.json"
    dev.write_text(json.dumps(official_dev_results(["mix_000", "mix_001", "mix_002"])))
    assert main(cmd(tmp_path, ddir, sdir, "--dev_results", str(dev),
                    "--dev_soundscape_dir", str(sdir))) is None
    with zipfile.ZipFile(tmp_path / "out" / f"{NAME}.zip") as zf:
        wavs = sorted(n for n in zf.namelist() if n.endswith(".wav"))
        assert wavs == sorted(f"{NAME}/eval_out/{p.name}" for p in ddir.glob("*.wav"))
        assert len(zf.namelist()) == len(wavs) + 2
        assert json.loads(zf.read(f"{NAME}/eval_results.json")) == {
            "nparams": 123456, "probabilities": probabilities, "config": decode_info}


def test_main_reports_all_problems(tmp_path, capsys):
    ddir, sdir, _, _ = build_decode_dir(tmp_path, GOOD_ESTIMATES)
    write_wav(ddir / "mix_002_1_Cough.wav", np.zeros(MIX_LEN), sr=16000)  # + no probability entry
    write_wav(ddir / "mix_002_2_Dog.wav", np.zeros(MIX_LEN))               # + no probability entry
    with pytest.raises(SystemExit) as e:
        main(cmd(tmp_path, ddir, sdir, affiliation="AC_ME", number="-2"))
    assert e.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert all(line.startswith("pack_submission: error: ") for line in lines)
    assert lines[-1] == "pack_submission: error: 6 problem(s); nothing was packed"
    body = lines[:-1]
    assert sum("mix_002_1_Cough.wav" in l and "16000 Hz" in l for l in body) == 1
    assert sum("mix_002_1_Cough.wav" in l and "no entry in" in l for l in body) == 1
    assert sum("mix_002_2_Dog.wav" in l and "'Dog' is not one of the 18" in l for l in body) == 1
    assert sum("mix_002_2_Dog.wav" in l and "no entry in" in l for l in body) == 1
    assert sum("affiliation 'AC_ME'" in l for l in body) == 1
    assert sum("number '-2'" in l for l in body) == 1
    assert not (tmp_path / "out").exists()


def test_refuses_to_overwrite(tmp_path, capsys):
    ddir, sdir, _, _ = build_decode_dir(tmp_path, GOOD_ESTIMATES)
    main(cmd(tmp_path, ddir, sdir))
    zip_path = tmp_path / "out" / f"{NAME}.zip"
    zip_path.write_bytes(b"old")  # recognisable content
    with pytest.raises(SystemExit) as e:
        main(cmd(tmp_path, ddir, sdir))
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert f"{zip_path}: already exists" in err and "--overwrite true" in err
    assert zip_path.read_bytes() == b"old"
    main(cmd(tmp_path, ddir, sdir, "--overwrite", "true"))
    assert zipfile.is_zipfile(zip_path)


def test_subprocess(tmp_path, subprocess_env, repo_root):
    ddir, sdir, _, _ = build_decode_dir(tmp_path, GOOD_ESTIMATES)
    proc = subprocess.run([sys.executable, "-m", "s5tse.bin.pack_submission",
                           *cmd(tmp_path, ddir, sdir, number="7")],
                          cwd=repo_root, env=subprocess_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "dev_set_test_results.json" in proc.stderr  # the warning about --dev_results
    assert zipfile.is_zipfile(tmp_path / "out" / "Doe_ACME_task4_7.zip")
