"""Tests for s5tse.utils.types (argparse type helpers)."""
import argparse

import pytest

from s5tse.utils.types import float_or_none, int_or_none, str2bool, str_or_none


@pytest.mark.parametrize("text, value", [("true", True), ("True", True), ("TRUE", True),
                                         ("false", False), ("False", False), ("fAlSe", False)])
def test_str2bool_accepts_true_false(text, value):
    assert str2bool(text) is value


@pytest.mark.parametrize("text", ["yes", "no", "on", "off", "1", "0", "", "t", "truee"])
def test_str2bool_rejects_everything_else(text):
    with pytest.raises(argparse.ArgumentTypeError):
        str2bool(text)


def test_str2bool_in_parser_exits_2(capsys):
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--use_amp", type=str2bool, default=False)
    assert parser.parse_args(["--use_amp", "true"]).use_amp is True
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--use_amp", "yes"])
    assert info.value.code == 2
    assert "expected true or false, got 'yes'" in capsys.readouterr().err


def test_int_or_none():
    assert int_or_none("12") == 12 and int_or_none("-3") == -3
    assert int_or_none("none") is None and int_or_none("None") is None and int_or_none("null") is None
    with pytest.raises(argparse.ArgumentTypeError):
        int_or_none("1.5")


def test_float_or_none():
    assert float_or_none("1e-3") == 0.001 and float_or_none("2") == 2.0
    assert float_or_none("NONE") is None
    with pytest.raises(argparse.ArgumentTypeError):
        float_or_none("fast")


def test_str_or_none():
    assert str_or_none("exp/a") == "exp/a"
    assert str_or_none("none") is None and str_or_none("Null") is None
    assert str_or_none("") == ""
