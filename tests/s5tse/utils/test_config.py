"""Tests for s5tse.utils.config: precedence, nested overrides, types, errors, round trip."""
import math
import os

import pytest
import yaml

from s5tse.utils.config import (
    ConfigArgumentParser,
    ConfigError,
    OpenDict,
    dump_config,
    load_config,
    save_config,
)
from s5tse.utils.yaml_io import load_yaml_text


def make_defaults():
    return {
        "seed": 0,
        "lr": 1.0e-3,
        "model": {"encoder": {"depth": 6, "dim": 64}, "dropout": 0.1},
        "use_amp": False,
        "crop_sec": None,
        "labels": ["a", "b"],
        "name": "baseline",
        "optim_conf": OpenDict({"betas": [0.9, 0.999]}),
    }


def plain_defaults():
    """The defaults as the plain dict load_config should return without changes."""
    return {
        "seed": 0,
        "lr": 0.001,
        "model": {"encoder": {"depth": 6, "dim": 64}, "dropout": 0.1},
        "use_amp": False,
        "crop_sec": None,
        "labels": ["a", "b"],
        "name": "baseline",
        "optim_conf": {"betas": [0.9, 0.999]},
    }


def write(path, text):
    path.write_text(text)
    return str(path)


def test_no_sources_returns_plain_copy_of_defaults():
    defaults = make_defaults()
    config = load_config(defaults)
    assert config == plain_defaults()
    assert type(config["optim_conf"]) is dict
    config["model"]["encoder"]["depth"] = 99
    assert defaults["model"]["encoder"]["depth"] == 6  # defaults not aliased


def test_nested_cli_override_changes_exactly_that_leaf():
    config = load_config(make_defaults(), overrides=["--model.encoder.depth", "4"])
    expected = plain_defaults()
    expected["model"]["encoder"]["depth"] = 4
    assert config == expected


def test_cli_equals_form_and_flow_mapping_merge():
    config = load_config(
        make_defaults(), overrides=["--lr=0.01", "--model.encoder", "{depth: 3}"]
    )
    assert config["lr"] == 0.01
    assert config["model"]["encoder"] == {"depth": 3, "dim": 64}  # merged, dim kept


def test_yaml_precedence_later_file_and_cli_win(tmp_path):
    a = write(tmp_path / "a.yaml", "seed: 1\nlr: 0.5\nmodel:\n  encoder:\n    dim: 32\n")
    b = write(tmp_path / "b.yaml", "seed: 2\nmodel:\n  dropout: 0.2\n")
    config = load_config(make_defaults(), [a, b], ["--seed", "3"])
    assert config["seed"] == 3  # CLI over both files
    assert config["lr"] == 0.5  # only a.yaml sets it
    assert config["model"] == {"encoder": {"depth": 6, "dim": 32}, "dropout": 0.2}
    config = load_config(make_defaults(), [a, b])
    assert config["seed"] == 2  # later file wins
    config = load_config(make_defaults(), [b, a])
    assert config["seed"] == 1


@pytest.mark.parametrize("text", ["1e-3", "1E-3", "1.0e-3", "0.001", "+1e-3"])
def test_yaml_exponent_floats_are_floats(tmp_path, text):
    path = write(tmp_path / "c.yaml", f"lr: {text}\n")
    config = load_config(make_defaults(), [path])
    assert type(config["lr"]) is float and config["lr"] == 0.001


def test_exponent_without_dot_and_int_for_float_field():
    config = load_config(make_defaults(), overrides=["--lr", "5e2", "--model.dropout", "0"])
    assert config["lr"] == 500.0 and type(config["lr"]) is float
    assert config["model"]["dropout"] == 0.0 and type(config["model"]["dropout"]) is float


def test_yaml_safe_loader_not_modified():
    assert yaml.safe_load("x: 1e-3") == {"x": "1e-3"}
    assert yaml.safe_load("x: yes") == {"x": True}


def test_unknown_key_in_yaml_names_file_and_valid_keys(tmp_path):
    path = write(tmp_path / "train.yaml", "model:\n  encoder:\n    dept: 4\n")
    with pytest.raises(ConfigError) as info:
        load_config(make_defaults(), [path])
    assert str(info.value) == f"{path}: unknown key 'model.encoder.dept' (valid: depth, dim)"
    assert "\n" not in str(info.value)


def test_unknown_key_on_cli_top_level_and_nested():
    with pytest.raises(ConfigError) as info:
        load_config(make_defaults(), overrides=["--model.encoder.dept", "4"])
    assert str(info.value) == "command line: unknown key 'model.encoder.dept' (valid: depth, dim)"
    with pytest.raises(ConfigError) as info:
        load_config(make_defaults(), overrides=["--lrr", "0.1"])
    assert str(info.value) == (
        "command line: unknown key 'lrr' (valid: seed, lr, model, use_amp, crop_sec, "
        "labels, name, optim_conf)"
    )
    with pytest.raises(ConfigError, match=r"unknown key 'model.encoder.x'"):
        load_config(make_defaults(), overrides=["--model.encoder", "{x: 1}"])


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    "tokens, message",
    [
        (["--model.encoder.depth", "four"], "command line: 'model.encoder.depth' expects int, got 'four'"),
        (["--model.encoder.depth", "4.0"], "command line: 'model.encoder.depth' expects int, got 4.0"),
        (["--seed", "true"], "command line: 'seed' expects int, got true"),
        (["--use_amp", "yes"], "command line: 'use_amp' expects bool (true/false), got 'yes'"),
        (["--use_amp", "on"], "command line: 'use_amp' expects bool (true/false), got 'on'"),
        (["--use_amp", "1"], "command line: 'use_amp' expects bool (true/false), got 1"),
        (["--labels", "a"], "command line: 'labels' expects list, got 'a'"),
        (["--lr", "fast"], "command line: 'lr' expects float, got 'fast'"),
        (["--model", "3"], "command line: 'model' expects a mapping, got 3"),
        (["--seed", "null"], "command line: 'seed' expects int, got null"),
    ],
)
def test_wrong_types_rejected(tokens, message):
    with pytest.raises(ConfigError) as info:
        load_config(make_defaults(), overrides=tokens)
    assert str(info.value) == message


def test_str_field_rejects_number_unless_quoted():
    with pytest.raises(ConfigError, match=r"'name' expects str, got 2026"):
        load_config(make_defaults(), overrides=["--name", "2026"])
    assert load_config(make_defaults(), overrides=["--name", "'2026'"])["name"] == "2026"


def test_bool_accepts_true_false_spellings():
    for text, value in [("true", True), ("True", True), ("FALSE", False), ("false", False)]:
        assert load_config(make_defaults(), overrides=["--use_amp", text])["use_amp"] is value


def test_wrong_type_in_yaml_names_file(tmp_path):
    path = write(tmp_path / "t.yaml", "use_amp: yes\n")
    with pytest.raises(ConfigError) as info:
        load_config(make_defaults(), [path])
    assert str(info.value) == f"{path}: 'use_amp' expects bool (true/false), got 'yes'"


def test_none_default_accepts_anything():
    for text, value in [("4.5", 4.5), ("abc", "abc"), ("[1, 2]", [1, 2]), ("null", None)]:
        assert load_config(make_defaults(), overrides=["--crop_sec", text])["crop_sec"] == value


def test_open_dict_accepts_new_keys_and_checks_declared_ones(tmp_path):
    path = write(tmp_path / "o.yaml", "optim_conf:\n  eps: 1e-8\n  nested: {a: 1}\n")
    config = load_config(
        make_defaults(), [path], ["--optim_conf.weight_decay", "0.01", "--optim_conf.nested.b", "2"]
    )
    assert config["optim_conf"] == {
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.01,
        "nested": {"a": 1, "b": 2},
    }
    with pytest.raises(ConfigError, match=r"'optim_conf.betas' expects list, got 0.9"):
        load_config(make_defaults(), overrides=["--optim_conf.betas", "0.9"])


def test_lists_replace_not_merge(tmp_path):
    path = write(tmp_path / "l.yaml", "labels: [c]\n")
    assert load_config(make_defaults(), [path])["labels"] == ["c"]


def test_malformed_cli_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match=r"^command line: 'lr' needs a value$"):
        load_config(make_defaults(), overrides=["--lr"])
    with pytest.raises(ConfigError, match=r"^command line: expected '--key value'"):
        load_config(make_defaults(), overrides=["lr", "1"])
    with pytest.raises(ConfigError, match=r"^command line: cannot parse the value of 'model'"):
        load_config(make_defaults(), overrides=["--model", "{a: 1"])
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"cannot read config file"):
        load_config(make_defaults(), [missing])
    bad = write(tmp_path / "bad.yaml", "a: [1,\n")
    with pytest.raises(ConfigError) as info:
        load_config(make_defaults(), [bad])
    assert str(info.value).startswith(f"{bad}: invalid YAML") and "\n" not in str(info.value)
    top = write(tmp_path / "top.yaml", "- 1\n")
    with pytest.raises(ConfigError, match=r"top level must be a mapping"):
        load_config(make_defaults(), [top])
    empty = write(tmp_path / "empty.yaml", "")
    assert load_config(make_defaults(), [empty]) == plain_defaults()


def test_dump_load_round_trip_with_tricky_values(tmp_path):
    defaults = {
        "eps": 1e-8,
        "lr": 1.0e-3,
        "big": 1e17,
        "third": 0.1 + 0.2,
        "neg": -2.5e-12,
        "inf": float("inf"),
        "none": None,
        "flag": True,
        "s_float_like": "1e-3",
        "s_bool_like": "yes",
        "s_date_like": "2026-05-01",
        "s_empty": "",
        "nested": {"x": [1, 2.0, "on", None], "y": {}},
    }
    text = dump_config(defaults)
    path = write(tmp_path / "rt.yaml", text)
    assert load_config(defaults, [path]) == defaults
    assert load_yaml_text(text) == defaults
    assert yaml.safe_load(text) == defaults  # plain PyYAML reads it identically
    assert "eps: 1.0e-08" in text.splitlines()
    assert math.isinf(load_yaml_text(text)["inf"])


def test_save_config_writes_file_atomically(tmp_path):
    config = load_config(make_defaults(), overrides=["--lr", "1e-8"])
    out = tmp_path / "exp" / "config.yaml"
    save_config(config, out)
    assert os.listdir(out.parent) == ["config.yaml"]  # no temp file left behind
    assert load_config(make_defaults(), [out]) == config
    save_config(dict(config, seed=7), out)  # overwrite
    assert load_config(make_defaults(), [out])["seed"] == 7
    assert os.listdir(out.parent) == ["config.yaml"]


def make_parser():
    parser = ConfigArgumentParser(make_defaults(), prog="tool")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--nj", type=int, default=1)
    parser.add_argument("--train_args", default="")
    return parser


def test_parser_splits_tool_options_from_overrides(tmp_path):
    path = write(tmp_path / "a.yaml", "seed: 5\nlr: 1e-2\n")
    args, config = make_parser().parse(
        ["--output_dir", "exp/x", "--config", path, "--model.encoder.depth", "2",
         "--nj=4", "--lr", "-1e-3", "--train_args", "--max_epoch 3"]
    )
    assert args.output_dir == "exp/x" and args.nj == 4 and args.config == [path]
    assert args.train_args == "--max_epoch 3"  # a tool option's value is never an override
    assert config["seed"] == 5 and config["lr"] == -0.001
    assert config["model"]["encoder"] == {"depth": 2, "dim": 64}


def test_parser_several_configs_in_order(tmp_path):
    a = write(tmp_path / "a.yaml", "seed: 1\n")
    b = write(tmp_path / "b.yaml", "seed: 2\n")
    _, config = make_parser().parse(["--output_dir", "o", "--config", a, "--config", b])
    assert config["seed"] == 2


def test_parser_config_error_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        make_parser().parse(["--output_dir", "o", "--model.encoder.dept", "4"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "tool: error: command line: unknown key 'model.encoder.dept' (valid: depth, dim)"


def test_parser_no_abbreviation_of_tool_options(capsys):
    # "--out" must not be taken as --output_dir; it is an (unknown) config key
    with pytest.raises(SystemExit):
        make_parser().parse(["--output_dir", "o", "--out", "x"])
    assert "unknown key 'out'" in capsys.readouterr().err


def test_parser_print_config(capsys):
    with pytest.raises(SystemExit) as info:
        make_parser().parse(["--output_dir", "o", "--print_config", "--lr", "1e-8"])
    assert info.value.code == 0
    printed = capsys.readouterr().out
    expected = plain_defaults()
    expected["lr"] = 1e-8
    assert load_yaml_text(printed) == expected


def test_parser_rejects_clash_between_option_and_key():
    parser = ConfigArgumentParser({"nj": 1})
    parser.add_argument("--nj", type=int)
    with pytest.raises(ValueError, match="clash"):
        parser.parse([])
