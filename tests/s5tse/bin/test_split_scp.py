"""Tests for s5tse.bin.split_scp (in-process main() and one subprocess run)."""
import argparse
import subprocess
import sys

import pytest

from s5tse.bin.split_scp import get_parser, main

LINES = [f"utt{i:02d} /x/{i}.wav" for i in range(10)]


@pytest.fixture
def scp(tmp_path):
    path = tmp_path / "wav.scp"
    path.write_text("".join(line + "\n" for line in LINES))
    return path


def test_get_parser():
    parser = get_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    args = parser.parse_args(["in.scp", "a.scp", "b.scp"])
    assert (args.in_scp, args.out_scps) == ("in.scp", ["a.scp", "b.scp"])
    assert (args.num_splits, args.out_pattern) == (None, None)


def test_positional_outputs(scp, tmp_path):
    outs = [tmp_path / f"out.{j}.scp" for j in (1, 2, 3)]
    assert main([str(scp)] + [str(o) for o in outs]) is None
    assert [len(o.read_text().splitlines()) for o in outs] == [4, 3, 3]
    assert "".join(o.read_text() for o in outs) == scp.read_text()


def test_job_pattern(scp, tmp_path):
    main([str(scp), "--num_splits", "4", "--out_pattern", str(tmp_path / "split4" / "keys.JOB.scp")])
    outs = [tmp_path / "split4" / f"keys.{j}.scp" for j in (1, 2, 3, 4)]
    assert [o.read_text().splitlines() for o in outs] == [LINES[0:3], LINES[3:6], LINES[6:8], LINES[8:10]]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ([], "no output files given"),
        (["a.scp", "--num_splits", "2", "--out_pattern", "k.JOB.scp"], "not both"),
        (["--num_splits", "2"], "go together"),
        (["--num_splits", "2", "--out_pattern", "keys.scp"], "does not contain JOB"),
        (["--num_splits", "0", "--out_pattern", "k.JOB.scp"], ">= 1"),
        (["--num_splits", "11", "--out_pattern", "k.JOB.scp"], "has 10 line(s), cannot split into 11"),
    ],
)
def test_errors(scp, tmp_path, monkeypatch, capsys, extra, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([str(scp)] + extra)
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("split_scp: error: ") and fragment in err
    assert len(err.splitlines()) == 1


def test_unsorted_input(tmp_path, capsys):
    path = tmp_path / "in.scp"
    path.write_text("b 1\na 2\n")
    with pytest.raises(SystemExit):
        main([str(path), str(tmp_path / "1"), str(tmp_path / "2")])
    assert capsys.readouterr().err == (
        f"split_scp: error: {path}:2: key 'a' is not in byte order after 'b' (sort with LC_ALL=C)\n"
    )
    main([str(path), str(tmp_path / "1"), str(tmp_path / "2"), "--no_check_sorted"])
    assert (tmp_path / "2").read_text() == "a 2\n"


def test_subprocess(scp, tmp_path, repo_root, subprocess_env):
    env = dict(subprocess_env, PYTHONPATH=str(repo_root))
    outs = [str(tmp_path / f"o{j}.scp") for j in (1, 2, 3)]
    ok = subprocess.run([sys.executable, "-m", "s5tse.bin.split_scp", str(scp)] + outs,
                        env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "".join(open(o).read() for o in outs) == scp.read_text()
    bad = subprocess.run([sys.executable, "-m", "s5tse.bin.split_scp", str(tmp_path / "nope.scp"), outs[0]],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr == f"split_scp: error: {tmp_path / 'nope.scp'}: no such file\n"
