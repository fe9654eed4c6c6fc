"""Tests for s5tse.utils.logging: format, idempotence, file mirror, rank filtering."""
import logging
import re
import shlex
import sys

import pytest

from s5tse.utils.logging import get_commandline_args, setup_logging

LINE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \(test_logging\.py:\d+\) INFO hello$")


@pytest.fixture(autouse=True)
def restore_root_logger():
    """Leave the root logger as we found it (other tests share the process)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def ours(root):
    """Handlers installed by setup_logging (pytest adds its own capture handlers)."""
    return [h for h in root.handlers if getattr(h, "_s5tse_handler", False)]


def test_format_in_file_and_console(tmp_path, capsys):
    log_file = tmp_path / "log" / "train.log"
    setup_logging("INFO", log_file=log_file)
    logging.getLogger("some.module").info("hello")
    logging.debug("not shown at INFO")
    lines = log_file.read_text().splitlines()
    assert len(lines) == 1 and LINE_RE.match(lines[0]), lines
    err = capsys.readouterr().err.splitlines()
    assert err == lines  # console mirrors the file


def test_idempotent(tmp_path, capsys):
    log_file = tmp_path / "a.log"
    setup_logging(log_file=log_file)
    setup_logging(log_file=log_file)
    root = logging.getLogger()
    assert len(ours(root)) == 2  # one console + one file handler, not four
    logging.info("hello")
    assert len(log_file.read_text().splitlines()) == 1
    assert len(capsys.readouterr().err.splitlines()) == 1
    setup_logging()  # no file now: the file handler goes away
    assert len(ours(root)) == 1


def test_file_is_appended(tmp_path):
    log_file = tmp_path / "a.log"
    log_file.write_text("old line\n")
    setup_logging(log_file=log_file)
    logging.info("hello")
    lines = log_file.read_text().splitlines()
    assert lines[0] == "old line" and LINE_RE.match(lines[1])


def test_level_names_and_numbers():
    setup_logging("debug")
    assert logging.getLogger().level == logging.DEBUG
    setup_logging(logging.WARNING)
    assert logging.getLogger().level == logging.WARNING


def test_nonzero_rank_logs_only_errors(tmp_path):
    log_file = tmp_path / "rank1.log"
    setup_logging("DEBUG", log_file=log_file, rank=1)
    logging.info("hidden")
    logging.warning("hidden too")
    logging.error("shown")
    lines = log_file.read_text().splitlines()
    assert len(lines) == 1 and lines[0].endswith(") ERROR shown")


def test_get_commandline_args_is_shell_quoted(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--tag", "my exp", "--x", "a'b"])
    line = get_commandline_args()
    assert shlex.split(line) == [sys.executable, "train.py", "--tag", "my exp", "--x", "a'b"]
    assert get_commandline_args(["a b"]) == shlex.join([sys.executable, "a b"])
