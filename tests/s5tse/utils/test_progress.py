"""Tests for s5tse.utils.progress: bars on a terminal or when asked, never in logs."""
import argparse

import pytest

from s5tse.utils import progress


@pytest.fixture(autouse=True)
def reset():
    yield
    progress.set_progress(None)


def test_bars_follow_the_setting_and_the_terminal(capsys, monkeypatch):
    progress.set_progress(True)
    assert list(progress.progress_bar(range(3), desc="decode", unit="mixture")) == [0, 1, 2]
    err = capsys.readouterr().err
    assert "decode" in err and "3/3" in err and "mixture/s" in err
    progress.set_progress(False)
    assert list(progress.progress_bar(range(3), desc="decode")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    progress.set_progress(None)                       # auto: captured stderr is no terminal
    list(progress.progress_bar(range(3), desc="decode"))
    assert capsys.readouterr().err == "" and not progress.progress_enabled()
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert progress.progress_enabled()


def test_the_cli_option():
    parser = argparse.ArgumentParser()
    progress.add_progress_argument(parser)
    assert [parser.parse_args(a).progress for a in ([], ["--progress", "auto"],
            ["--progress", "true"], ["--progress", "false"])] == [None, None, True, False]
    with pytest.raises(SystemExit):
        parser.parse_args(["--progress", "maybe"])
