"""Nested, type-checked configuration: defaults < YAML files < command line.

Every s5tse tool declares its defaults as a nested dict; that dict is also the
schema. YAML files given with ``--config`` are deep-merged over the defaults in
order (later wins), then ``--dotted.key VALUE`` tokens from the command line are
applied. Values are parsed as YAML (:mod:`s5tse.utils.yaml_io`, so ``1e-3`` is a
float and only ``true/false`` are booleans) and checked against the type of the
default. An unknown key or a wrong type raises :class:`ConfigError` with one line
naming the source, the dotted key and the valid keys.

ConfigArgParse is not used: it stringifies YAML values and drops ``null``
(recipe_conventions.md §3.1), which breaks nested dicts; plain argparse handles the
tool's flat options and this module handles the nested config.

Example (a tool)::

    DEFAULTS = {
        "seed": 0,
        "lr": 1.0e-3,
        "model": {"encoder": {"depth": 6, "dim": 64}, "dropout": 0.1},
        "optim_conf": OpenDict({}),       # free-form kwargs, any keys allowed
        "crop_sec": None,                 # None default: any value accepted
    }
    parser = ConfigArgumentParser(DEFAULTS, description=__doc__)
    parser.add_argument("--output_dir", required=True)   # the tool's own options
    args, config = parser.parse()
    save_config(config, f"{args.output_dir}/config.yaml")

    $ python -m s5tse.bin.train --output_dir exp/a --config conf/train.yaml \\
          --model.encoder.depth 4 --lr 1e-2 --optim_conf '{betas: [0.9, 0.98]}'

Resolved configs are plain dicts/lists/scalars; :func:`dump_config` writes them as
YAML that :func:`load_config` (and ``yaml.safe_load``) read back unchanged.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import yaml

from s5tse.fileio.atomic import atomic_write
from s5tse.utils.yaml_io import dump_yaml, load_yaml, load_yaml_text

PathLike = Union[str, "os.PathLike[str]"]
CLI = "command line"


class ConfigError(ValueError):
    """An invalid configuration value or key; the message is one line."""


class OpenDict(dict):
    """Marks a section of the defaults as free-form: any key is accepted below it.

    Keys present in the OpenDict's own defaults are still type-checked.

        >>> load_config({"optim_conf": OpenDict({"lr": 0.1})}, overrides=["--optim_conf.eps", "1e-8"])
        {'optim_conf': {'lr': 0.1, 'eps': 1e-08}}
    """


def _plain(obj: Any) -> Any:
    """Deep copy with OpenDict -> dict and tuple -> list (what YAML can represent)."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return copy.deepcopy(obj)


def _show(value: Any) -> str:
    """Render a bad value for an error message, YAML-flavoured."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _check_type(default: Any, value: Any, key: str, source: str) -> Any:
    """Return ``value`` (floats converted) if it has the default's type, else raise."""
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "bool (true/false)"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "int"
    elif isinstance(default, float):
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "float"
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok, expected = isinstance(value, str), "str"
    elif isinstance(default, (list, tuple)):
        ok, expected = isinstance(value, list), "list"
    else:  # other default types (rare): require the same type
        ok, expected = isinstance(value, type(default)), type(default).__name__
    if not ok:
        hint = " (quote it to pass a string)" if expected == "str" and value is not None else ""
        raise ConfigError(f"{source}: '{key}' expects {expected}, got {_show(value)}{hint}")
    return _plain(value)


def _merge(schema: Any, current: dict, new: Mapping, prefix: str, source: str) -> dict:
    """Merge mapping ``new`` into a copy of ``current``, validating against ``schema``.

    ``schema`` is the defaults at this level: a dict (closed), an OpenDict, or None
    (free-form, e.g. below a new key of an OpenDict).
    """
    out = dict(current)
    for key, value in new.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(schema, Mapping) and key in schema:
            sub = schema[key]
        elif schema is None or isinstance(schema, OpenDict):
            sub = None
        else:
            valid = ", ".join(str(k) for k in schema) or "none"
            raise ConfigError(f"{source}: unknown key '{dotted}' (valid: {valid})")
        out[key] = _assign(sub, out.get(key), value, dotted, source)
    return out


def _assign(schema: Any, current: Any, value: Any, key: str, source: str) -> Any:
    """New value of one key: dicts merge, everything else is type-checked and replaces."""
    if isinstance(schema, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: '{key}' expects a mapping, got {_show(value)}")
        return _merge(schema, current if isinstance(current, dict) else {}, value, key, source)
    if schema is None:  # free-form: deep-merge dicts, otherwise take the value as is
        if isinstance(current, dict) and isinstance(value, Mapping):
            return _merge(None, current, value, key, source)
        return _plain(value)
    return _check_type(schema, value, key, source)


def parse_overrides(tokens: Sequence[str]) -> List[Tuple[str, Any]]:
    """Turn ``["--a.b", "4", "--c=x"]`` into ``[("a.b", 4), ("c", "x")]`` (values parsed as YAML).

    An empty value (``--tag ""``) is the empty string; write ``null`` for None.
    """
    pairs = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) <= 2:
            raise ConfigError(f"{CLI}: expected '--key value', got {token!r}")
        if "=" in token:
            key, text = token[2:].split("=", 1)
            i += 1
        elif i + 1 < len(tokens):
            key, text = token[2:], tokens[i + 1]
            i += 2
        else:
            raise ConfigError(f"{CLI}: '{token[2:]}' needs a value")
        if not key or "" in key.split("."):
            raise ConfigError(f"{CLI}: malformed key {key!r}")
        try:
            value = load_yaml_text(text) if text != "" else ""
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ConfigError(f"{CLI}: cannot parse the value of '{key}' ({text!r}): {problem}") from None
        pairs.append((key, value))
    return pairs


def read_config_file(path: PathLike) -> Mapping:
    """Load one config file as a mapping; any problem is a one-line ConfigError."""
    try:
        data = load_yaml(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load_config(
    defaults: Mapping[str, Any],
    config_files: Optional[Iterable[PathLike]] = (),
    overrides: Optional[Sequence[str]] = (),
) -> dict:
    """Resolve a configuration: ``defaults`` < each YAML file in order < ``overrides``.

    Args:
        defaults: nested dict of defaults; also the schema (types, allowed keys).
            Wrap a section in :class:`OpenDict` to allow arbitrary keys below it.
        config_files: YAML files, deep-merged in order (later wins).
        overrides: command-line tokens, ``--dotted.key VALUE`` or ``--dotted.key=VALUE``;
            a mapping value (``--model.encoder '{depth: 4}'``) is merged into the section.
    Returns:
        a new plain nested dict.
    Raises:
        ConfigError: unknown key, wrong type, unreadable file.

        >>> d = {"lr": 1.0e-3, "model": {"encoder": {"depth": 6, "dim": 64}}}
        >>> load_config(d, overrides=["--model.encoder.depth", "4", "--lr", "1e-2"])
        {'lr': 0.01, 'model': {'encoder': {'depth': 4, 'dim': 64}}}
        >>> try:
        ...     load_config(d, overrides=["--model.encoder.dept", "4"])
        ... except ConfigError as exc:
        ...     print(exc)
        command line: unknown key 'model.encoder.dept' (valid: depth, dim)
    """
    config = _plain(defaults)
    for path in config_files or ():
        config = _merge(defaults, config, read_config_file(path), "", str(path))
    for key, value in parse_overrides(list(overrides or ())):
        for part in reversed(key.split(".")):  # "a.b" -> {"a": {"b": value}}
            value = {part: value}
        config = _merge(defaults, config, value, "", CLI)
    return config


def dump_config(config: Mapping[str, Any]) -> str:
    """The config as YAML text (what ``--print_config`` prints)."""
    return dump_yaml(_plain(config))


def save_config(config: Mapping[str, Any], path: PathLike) -> None:
    """Write the resolved config as YAML, atomically (temp file + rename); creates parents."""
    with atomic_write(path) as f:
        f.write(dump_config(config))


class ConfigArgumentParser(argparse.ArgumentParser):
    """argparse for a tool's own flat options, plus the nested config.

    Adds ``--config YAML`` (repeatable, applied in order) and ``--print_config``.
    :meth:`parse` hands every ``--name`` that is not one of the parser's options to
    :func:`load_config` as an override; such a token always takes exactly one value
    (``--name VALUE`` or ``--name=VALUE``). Tool options and top-level config keys
    must have different names. Prefix abbreviations are disabled (``allow_abbrev``),
    so an override never silently matches a tool option.
    """

    def __init__(self, defaults: Mapping[str, Any], *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault(
            "epilog",
            "Config: defaults < --config files (in order) < '--<dotted.key> VALUE' "
            "overrides; see --print_config for all keys.",
        )
        super().__init__(*args, **kwargs)
        self.config_defaults = defaults
        self.add_argument(
            "--config", action="append", default=[], metavar="YAML",
            help="YAML config file; repeat to merge several (later wins)",
        )
        self.add_argument(
            "--print_config", action="store_true",
            help="print the resolved config as YAML and exit",
        )

    def split_argv(self, argv: Sequence[str]) -> Tuple[List[str], List[str]]:
        """Split argv into (tokens for argparse, config override tokens)."""
        # argparse's table of option strings; public enough (unchanged since 2.7).
        options = self._option_string_actions
        tool, overrides = [], []
        i = 0
        while i < len(argv):
            token = argv[i]
            if token == "--":  # everything after is positional
                tool.extend(argv[i:])
                break
            name = token.split("=", 1)[0]
            if token.startswith("--") and len(token) > 2 and name not in options:
                step = 1 if "=" in token else 2
                overrides.extend(argv[i:i + step])
                i += step
                continue
            tool.append(token)
            i += 1
            action = options.get(name)
            if action is None or "=" in token:
                continue
            # copy the values this option consumes, so a value like "--x 1" stays put
            nargs = action.nargs
            if nargs is None:
                count = 1
            elif isinstance(nargs, int):
                count = nargs
            elif nargs == argparse.REMAINDER:
                count = len(argv) - i
            else:  # '?', '*', '+': up to the next option
                count = 0
                while i + count < len(argv) and not argv[i + count].startswith("--"):
                    count += 1
            tool.extend(argv[i:i + count])
            i += count
        return tool, overrides

    def parse(self, argv: Optional[Sequence[str]] = None) -> Tuple[argparse.Namespace, dict]:
        """Parse ``argv`` (default ``sys.argv[1:]``) into ``(args, config)``.

        Config errors exit with status 2 and one ``prog: error: ...`` line, like argparse.
        With ``--print_config`` the resolved config is printed and the program exits 0.
        """
        argv = list(sys.argv[1:] if argv is None else argv)
        clash = [k for k in self.config_defaults if f"--{k}" in self._option_string_actions]
        if clash:
            raise ValueError(f"config keys clash with tool options: {', '.join(map(str, clash))}")
        tool_argv, override_argv = self.split_argv(argv)
        args = self.parse_args(tool_argv)
        try:
            config = load_config(self.config_defaults, args.config, override_argv)
        except ConfigError as exc:
            self.error(str(exc))
        if args.print_config:
            sys.stdout.write(dump_config(config))
            self.exit(0)
        return args, config
