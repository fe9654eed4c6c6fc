"""Kaldi text tables: one ``<key> <value>`` per line, keys unique and sorted in byte order.

A line is split at the first run of spaces/tabs: the key is what comes before, the
value is the rest of the line (inner whitespace kept; only the newline is removed).
"Byte order" is the order of ``LC_ALL=C sort``: keys compared as UTF-8 bytes, so
``"B" < "a"`` and ``"mix_10" < "mix_9"`` (zero-pad ids to get numeric order).

    wav.scp   mix_0001 /data/mix_0001.wav
    text      mix_0001 Dishes Speech          (read_table_lines -> ["Dishes", "Speech"])

Every problem raises :class:`TableError` with a one-line message naming the file
and the line, e.g. ``data/train/wav.scp:3: key 'a' is not in byte order after 'b'
(sort with LC_ALL=C)``.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, List, Mapping, NamedTuple, Sequence, Union

from s5tse.fileio.atomic import atomic_write

PathLike = Union[str, "os.PathLike[str]"]

_BLANKS = " \t"  # field separators of a Kaldi table line


class TableError(ValueError):
    """A malformed or inconsistent table/data directory; the message is one line."""


class TableEntry(NamedTuple):
    """One parsed table line."""

    lineno: int  # 1-based
    key: str
    value: str  # "" when the line has no value
    line: str  # the line as written, without its newline


def byte_order(key: str) -> bytes:
    """Sort key giving ``LC_ALL=C sort`` order: ``sorted(keys, key=byte_order)``."""
    return key.encode("utf-8")


def sort_keys(keys: Iterable[str]) -> List[str]:
    """Keys sorted in byte order (``LC_ALL=C``)."""
    return sorted(keys, key=byte_order)


def _read_bytes(path: PathLike) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise TableError(f"{os.fspath(path)}: no such file") from None
    except IsADirectoryError:
        raise TableError(f"{os.fspath(path)}: is a directory, expected a table file") from None
    except OSError as e:
        raise TableError(f"{os.fspath(path)}: cannot read: {e.strerror}") from None


def _split_line(raw: bytes, name: str, lineno: int) -> TableEntry:
    """Decode and split one line (without its ``\\n``)."""
    where = f"{name}:{lineno}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TableError(f"{where}: line is not valid UTF-8") from None
    if line.endswith("\r"):
        raise TableError(f"{where}: line ends with CR (DOS line endings; convert with dos2unix)")
    if not line.strip():
        raise TableError(f"{where}: blank line (expected '<key> <value>')")
    if line[0] in _BLANKS:
        raise TableError(f"{where}: line starts with whitespace (expected '<key> <value>')")
    end = len(line)
    for i, c in enumerate(line):
        if c in _BLANKS:
            end = i
            break
    key = line[:end]
    value = line[end:].lstrip(_BLANKS)
    return TableEntry(lineno, key, value, line)


def read_entries(
    path: PathLike, *, allow_empty_value: bool = False, check_sorted: bool = True
) -> List[TableEntry]:
    """Parse a table file into its lines, validating it.

    Rejects: a missing/unreadable file, invalid UTF-8, blank lines, CR line endings,
    duplicate keys (both line numbers named), keys out of byte order (when
    ``check_sorted``), lines without a value (unless ``allow_empty_value``).
    An empty file is a valid, empty table.
    """
    name = os.fspath(path)
    lines = _read_bytes(path).split(b"\n")
    if lines[-1] == b"":  # trailing newline (or empty file)
        lines.pop()
    entries: List[TableEntry] = []
    first_line: Dict[str, int] = {}
    prev = None
    for lineno, raw in enumerate(lines, start=1):
        where = f"{name}:{lineno}"
        entry = _split_line(raw, name, lineno)
        key = entry.key
        if not entry.value and not allow_empty_value:
            raise TableError(f"{where}: key {key!r} has no value (expected '<key> <value>')")
        if key in first_line:
            raise TableError(
                f"{where}: duplicate key {key!r} (first on line {first_line[key]})"
            )
        if check_sorted and prev is not None and byte_order(key) < byte_order(prev):
            raise TableError(
                f"{where}: key {key!r} is not in byte order after {prev!r} "
                f"(sort with LC_ALL=C)"
            )
        first_line[key] = lineno
        prev = key
        entries.append(entry)
    return entries


def read_table(
    path: PathLike, *, allow_empty_value: bool = False, check_sorted: bool = True
) -> Dict[str, str]:
    """Read a Kaldi table as ``{key: value}`` in file order (see :func:`read_entries`)."""
    entries = read_entries(path, allow_empty_value=allow_empty_value, check_sorted=check_sorted)
    return {e.key: e.value for e in entries}


def read_table_lines(
    path: PathLike, *, allow_empty_value: bool = False, check_sorted: bool = True
) -> Dict[str, List[str]]:
    """Read a multi-column table (``text``, ``spk2utt``) as ``{key: value.split()}``."""
    table = read_table(path, allow_empty_value=allow_empty_value, check_sorted=check_sorted)
    return {key: value.split() for key, value in table.items()}


def _check_key(name: str, key: str) -> None:
    if not isinstance(key, str) or not key:
        raise TableError(f"{name}: keys must be non-empty strings, got {key!r}")
    if any(c.isspace() for c in key):
        raise TableError(f"{name}: key {key!r} contains whitespace")


def _format_value(name: str, key: str, value: Union[str, Sequence[str]]) -> str:
    """A string value as is; a sequence of fields joined with one space."""
    if isinstance(value, str):
        return value
    if not isinstance(value, (list, tuple)):
        raise TableError(
            f"{name}: key {key!r}: value must be a str or a list of str, got {type(value).__name__}"
        )
    fields = list(value)
    for field in fields:
        if not isinstance(field, str) or not field or any(c.isspace() for c in field):
            raise TableError(
                f"{name}: key {key!r}: fields must be non-empty strings without "
                f"whitespace, got {field!r}"
            )
    return " ".join(fields)


def _check_entry(name: str, key: str, value: str, allow_empty_value: bool) -> None:
    """Reject what would not read back unchanged."""
    if not value and not allow_empty_value:
        raise TableError(f"{name}: key {key!r} has an empty value")
    if "\n" in value or "\r" in value:
        raise TableError(f"{name}: key {key!r}: value contains a newline: {value!r}")
    if value[:1] in (" ", "\t"):
        raise TableError(f"{name}: key {key!r}: value starts with whitespace: {value!r}")


def write_table(
    path: PathLike,
    mapping: Mapping[str, Union[str, Sequence[str]]],
    *,
    allow_empty_value: bool = False,
) -> None:
    """Write ``{key: value}`` sorted in byte order, atomically.

    A value may be a string or a sequence of strings (joined with one space, as in
    ``text``). Keys must be non-empty without whitespace; values must not contain a
    newline or start with whitespace, and may be empty only with ``allow_empty_value``
    (the line is then just the key).
    """
    name = os.fspath(path)
    values = {}
    for key in mapping:
        _check_key(name, key)
        values[key] = _format_value(name, key, mapping[key])
        _check_entry(name, key, values[key], allow_empty_value)
    lines = []
    for key in sort_keys(values):
        value = values[key]
        lines.append(f"{key} {value}\n" if value else f"{key}\n")
    with atomic_write(path) as f:
        f.writelines(lines)
