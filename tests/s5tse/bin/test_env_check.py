"""Tests for the stage-0 environment check (s5tse.bin.env_check)."""
import subprocess
import sys

import numpy
import pytest
import yaml

from s5tse.bin.env_check import get_parser, main


def test_ok_writes_file_and_prints(tmp_path, capsys):
    out = tmp_path / "exp" / "env_info.txt"
    main(["--out", str(out), "--require_packages", "numpy yaml", "--require_tools", "sh",
          "--repo_dir", str(tmp_path)])
    printed = capsys.readouterr().out
    text = out.read_text()
    assert text == printed
    assert "## Environments" in text and "- s5tse version: `0.1.0`" in text
    assert f"|numpy|{numpy.__version__}|" in text.splitlines()
    assert f"|yaml|{yaml.__version__}|" in text.splitlines()
    assert any(line.startswith("|sh|/") for line in text.splitlines())
    assert sorted(p.name for p in out.parent.iterdir()) == ["env_info.txt"]  # no temp files


def test_missing_package_exits_1_without_writing(tmp_path, capsys):
    out = tmp_path / "env_info.txt"
    with pytest.raises(SystemExit) as info:
        main(["--out", str(out), "--require_packages", "numpy no_such_pkg_s5tse_xyz",
              "--require_tools", "no_such_tool_s5tse_xyz sh"])
    assert info.value.code == 1
    assert not out.exists()
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "env_check: error: python package 'no_such_pkg_s5tse_xyz' cannot be imported "
        "(install with tools/install.sh)",
        "env_check: error: tool 'no_such_tool_s5tse_xyz' not found on PATH",
    ]


def test_broken_package_reports_reason(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken_pkg_s5tse.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SystemExit):
        main(["--require_packages", "broken_pkg_s5tse"])
    err = capsys.readouterr().err.strip()
    assert err == ("env_check: error: python package 'broken_pkg_s5tse' cannot be imported "
                   "(RuntimeError: boom; install with tools/install.sh)")


def test_parser_defaults():
    args = get_parser().parse_args([])
    assert args.out is None and args.require_tools == ""
    assert "torch" in args.require_packages.split()


@pytest.mark.slow
def test_command_line_entry_point(tmp_path, repo_root, subprocess_env):
    out = tmp_path / "env_info.txt"
    ok = subprocess.run([sys.executable, "-m", "s5tse.bin.env_check", "--out", str(out),
                         "--require_packages", "numpy"], cwd=repo_root, env=subprocess_env,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert out.read_text() == ok.stdout
    bad = subprocess.run([sys.executable, "-m", "s5tse.bin.env_check",
                          "--require_packages", "no_such_pkg_s5tse_xyz"], cwd=repo_root,
                         env=subprocess_env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith(
        "env_check: error: python package 'no_such_pkg_s5tse_xyz'")
