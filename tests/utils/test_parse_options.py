"""Tests for utils/parse_options.sh, driven through a tiny bash script."""
import subprocess

import pytest

DRIVER = """#!/usr/bin/env bash
set -euo pipefail
stage=0
stop_stage=100
flag=false
cmd="run.pl"
name=x
help_message="Usage: driver.sh [options] <dir>
  --stage N   first stage"
{extra}
. {repo}/utils/parse_options.sh
printf 'stage=%s\\n' "$stage"
printf 'stop_stage=%s\\n' "$stop_stage"
printf 'flag=%s\\n' "$flag"
printf 'cmd=%s\\n' "$cmd"
printf 'name=%s\\n' "$name"
printf 'nargs=%s\\n' "$#"
for a in "$@"; do printf 'arg=%s\\n' "$a"; done
"""


HELP_LINES = ["Usage: driver.sh [options] <dir>", "  --stage N   first stage"]


def assert_error_then_usage(proc):
    """One error line naming the script, then the caller's help message."""
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(proc.args[0] + ": ")
    assert lines[1:] == HELP_LINES


@pytest.fixture
def drive(tmp_path, repo_root, subprocess_env):
    """Return run(*args, extra="") -> CompletedProcess of the driver script."""

    def run(*args, extra=""):
        script = tmp_path / "driver.sh"
        script.write_text(DRIVER.format(repo=repo_root, extra=extra))
        script.chmod(0o755)
        return subprocess.run(
            [str(script), *args], cwd=tmp_path, env=subprocess_env,
            capture_output=True, text=True, timeout=10,
        )

    return run


def values(proc):
    """Parse the driver's key=value output (arg lines collected into a list)."""
    out = {"arg": []}
    for line in proc.stdout.splitlines():
        key, _, val = line.partition("=")
        if key == "arg":
            out["arg"].append(val)
        else:
            out[key] = val
    return out


def test_defaults_without_options(drive):
    proc = drive()
    assert proc.returncode == 0, proc.stderr
    v = values(proc)
    assert (v["stage"], v["stop_stage"], v["flag"], v["cmd"], v["name"]) == ("0", "100", "false", "run.pl", "x")
    assert v["nargs"] == "0"


@pytest.mark.parametrize("opt", ["--stop-stage", "--stop_stage"])
def test_dash_and_underscore_names(drive, opt):
    proc = drive(opt, "6", "--stage", "2")
    assert proc.returncode == 0, proc.stderr
    v = values(proc)
    assert v["stop_stage"] == "6"
    assert v["stage"] == "2"


def test_config_file_is_overridden_by_explicit_options(drive, tmp_path):
    (tmp_path / "my.conf").write_text("stage=3\nname=from_config\n")
    # --config given after the explicit option: the explicit option still wins
    proc = drive("--stage", "5", "--config", "my.conf")
    assert proc.returncode == 0, proc.stderr
    v = values(proc)
    assert v["stage"] == "5"
    assert v["name"] == "from_config"


def test_missing_config_file(drive):
    proc = drive("--config", "nope.conf")
    assert proc.returncode == 1
    assert "nope.conf" in proc.stderr
    assert_error_then_usage(proc)


def test_boolean_option(drive):
    proc = drive("--flag", "true")
    assert proc.returncode == 0, proc.stderr
    assert values(proc)["flag"] == "true"
    proc = drive("--flag", "maybe")
    assert proc.returncode != 0
    assert "--flag" in proc.stderr


def test_unknown_option(drive):
    proc = drive("--bogus", "1")
    assert proc.returncode != 0
    assert "invalid option --bogus" in proc.stderr
    assert_error_then_usage(proc)


def test_equals_form_rejected(drive):
    proc = drive("--x=y")
    assert proc.returncode != 0
    assert "--name value" in proc.stderr


def test_missing_value_rejected(drive):
    proc = drive("--stage")
    assert proc.returncode != 0
    assert "--stage" in proc.stderr


def test_values_are_stored_literally(drive, tmp_path):
    tricky = "a b 'c' $HOME \"q\" $(touch pwned) `touch pwned2`; echo hi"
    proc = drive("--cmd", tricky)
    assert proc.returncode == 0, proc.stderr
    assert values(proc)["cmd"] == tricky
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()


def test_cmd_with_options_and_empty_value(drive):
    proc = drive("--cmd", "run.pl --mem 2G", "--name", "")
    assert proc.returncode == 0, proc.stderr
    v = values(proc)
    assert v["cmd"] == "run.pl --mem 2G"
    assert v["name"] == ""


def test_positional_arguments_are_left(drive):
    proc = drive("--stage", "1", "data/train", "--stop-stage", "3")
    assert proc.returncode == 0, proc.stderr
    v = values(proc)
    assert v["stage"] == "1"
    assert v["stop_stage"] == "100"  # parsing stopped at data/train
    assert v["arg"] == ["data/train", "--stop-stage", "3"]


def test_double_dash_ends_options(drive):
    proc = drive("--stage", "1", "--", "--stage", "9")
    assert proc.returncode == 0, proc.stderr
    v = values(proc)
    assert v["stage"] == "1"
    assert v["arg"] == ["--stage", "9"]


@pytest.mark.parametrize("opt", ["--help", "-h"])
def test_help(drive, opt):
    proc = drive("--stage", "1", opt)
    assert proc.returncode == 0
    assert "Usage: driver.sh [options] <dir>" in proc.stdout
    assert "--stage N   first stage" in proc.stdout
    assert "stage=" not in proc.stdout  # exited before the driver printed anything


def test_custom_exit_code(drive):
    extra = "parse_options_exit_code=2"
    assert drive("--bogus", "1", extra=extra).returncode == 2
    assert drive("--x=y", extra=extra).returncode == 2
    assert drive("--stage", extra=extra).returncode == 2
    assert drive("--flag", "maybe", extra=extra).returncode == 2
    assert drive("--help", extra=extra).returncode == 0
