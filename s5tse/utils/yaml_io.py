"""YAML loading and dumping with predictable scalar types.

PyYAML implements YAML 1.1, which has two traps for configuration files:
``1e-3`` is read as the *string* ``'1e-3'`` (its float pattern needs a dot), and
``yes/no/on/off`` are read as booleans. The loader here follows YAML 1.2 for those
scalars: floats may omit the dot (``1e-3``, ``5E2``), only ``true/false`` (any case
form ``true``, ``True``, ``TRUE``) are booleans, and dates stay strings. Everything
else (ints, null, mappings, lists) is PyYAML's safe schema. ``yaml.SafeLoader``
itself is left untouched.

The dumper quotes every string that either this loader or ``yaml.safe_load`` would
read as something else, and writes floats with a dot (``1.0e-08``), so files it
writes read back identically with both.

    >>> load_yaml_text("lr: 1e-3\\nuse_amp: on\\n")
    {'lr': 0.001, 'use_amp': 'on'}
    >>> dump_yaml({"lr": 1e-8, "tag": "1e-3", "crop_sec": None})
    "lr: 1.0e-08\\ntag: '1e-3'\\ncrop_sec: null\\n"
"""
from __future__ import annotations

import os
import re
from typing import Any, Union

import yaml

PathLike = Union[str, "os.PathLike[str]"]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

# YAML 1.2 core-schema booleans only.
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
# Floats with or without a dot; an exponent alone (1e-3) is enough. Plain ints
# (no dot, no exponent) do not match and stay ints.
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[0-9][0-9_]*[eE][-+]?[0-9]+
    |\.(?:inf|Inf|INF))
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_FLOAT_FIRST = list("-+0123456789.")


class YamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats and booleans and no implicit dates."""


class YamlDumper(yaml.SafeDumper):
    """SafeDumper that also quotes strings :class:`YamlLoader` would read as floats."""


# Give the loader its own resolver table (a filtered copy of SafeLoader's), then
# add the replacements; add_implicit_resolver appends to the class's own table.
YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _FLOAT_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(_BOOL_TAG, _BOOL_RE, list("tTfF"))
YamlLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT_RE, _FLOAT_FIRST)
# The dumper keeps all of SafeDumper's resolvers (so 'yes', '2026-01-01' stay quoted
# for yaml.safe_load readers) and learns the extra float form (so '1e-3' is quoted).
YamlDumper.add_implicit_resolver(_FLOAT_TAG, _FLOAT_RE, _FLOAT_FIRST)


def load_yaml_text(text: str) -> Any:
    """Parse a YAML document (or a single scalar such as ``"4"``, ``"1e-3"``, ``"{a: 1}"``)."""
    return yaml.load(text, Loader=YamlLoader)


def load_yaml(path: PathLike) -> Any:
    """Read a YAML file with :class:`YamlLoader`; an empty file gives ``None``."""
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=YamlLoader)


def dump_yaml(obj: Any) -> str:
    """Serialise plain data (dict/list/str/int/float/bool/None) as block-style YAML.

    Keys keep their insertion order; floats always contain a dot or ``.inf``/``.nan``.
    """
    return yaml.dump(
        obj, Dumper=YamlDumper, default_flow_style=False, sort_keys=False, allow_unicode=True
    )
