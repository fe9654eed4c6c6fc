"""Tests for s5tse.fileio.table: Kaldi text tables, LC_ALL=C byte order, error messages."""
import os
import shutil
import subprocess

import pytest

from s5tse.fileio.table import (
    TableError,
    byte_order,
    read_entries,
    read_table,
    read_table_lines,
    sort_keys,
    write_table,
)


def _write(path, text):
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_table_error_is_value_error():
    assert issubclass(TableError, ValueError)


def test_round_trip(tmp_path):
    table = {
        "mix_0002": "/data/b.wav",
        "mix_0001": "sox /data/a.flac -t wav - |",
        "mix_0003": "dir with space/c.wav",
    }
    path = tmp_path / "wav.scp"
    write_table(path, table)
    assert path.read_text() == (
        "mix_0001 sox /data/a.flac -t wav - |\n"
        "mix_0002 /data/b.wav\n"
        "mix_0003 dir with space/c.wav\n"
    )
    got = read_table(path)
    assert got == table
    assert list(got) == ["mix_0001", "mix_0002", "mix_0003"]


def test_value_is_rest_of_line_after_first_whitespace_run(tmp_path):
    path = _write(tmp_path / "t", "a \t x  y\tz\nb\tq\n")
    assert read_table(path) == {"a": "x  y\tz", "b": "q"}


def test_no_trailing_newline_and_empty_file(tmp_path):
    assert read_table(_write(tmp_path / "t", "a 1\nb 2")) == {"a": "1", "b": "2"}
    assert read_table(_write(tmp_path / "e", "")) == {}


def test_read_table_lines(tmp_path):
    path = _write(tmp_path / "text", "mix_0001 Dishes Speech\nmix_0002 Cough\n")
    assert read_table_lines(path) == {"mix_0001": ["Dishes", "Speech"], "mix_0002": ["Cough"]}


def test_write_list_values(tmp_path):
    path = tmp_path / "text"
    write_table(path, {"m2": ["Cough"], "m1": ("Dishes", "Speech")})
    assert path.read_text() == "m1 Dishes Speech\nm2 Cough\n"
    with pytest.raises(TableError, match="text.*'m1'"):
        write_table(path, {"m1": ["Dishes Speech"]})
    with pytest.raises(TableError, match="'m1'"):
        write_table(path, {"m1": 5})


@pytest.mark.parametrize(
    "keys, expected",
    [
        (["a", "B"], ["B", "a"]),  # upper case before lower case in C locale
        (["mix_9", "mix_10"], ["mix_10", "mix_9"]),  # '1' < '9': not numeric order
        (["mix_0010", "mix_0009"], ["mix_0009", "mix_0010"]),
        (["z", "é", "a"], ["a", "z", "é"]),  # é = 0xC3 0xA9 > 'z' = 0x7A
        (["a_b", "a-b", "ab"], ["a-b", "a_b", "ab"]),  # '-' 0x2D < '_' 0x5F < 'b' 0x62
    ],
)
def test_byte_order(tmp_path, keys, expected):
    assert sort_keys(keys) == expected
    path = tmp_path / "t"
    write_table(path, {k: "v" for k in keys})
    assert [line.split(" ")[0] for line in path.read_text("utf-8").splitlines()] == expected
    assert list(read_table(path)) == expected


@pytest.mark.skipif(shutil.which("sort") is None, reason="needs coreutils sort")
def test_write_order_matches_lc_all_c_sort(tmp_path):
    keys = ["b", "B", "a", "mix_10", "mix_9", "mix-1", "é", "ü", "Z9", "z_1", "z.1", "_x", "0"]
    path = tmp_path / "t"
    write_table(path, {k: "1" for k in keys})
    env = dict(os.environ, LC_ALL="C")
    sorted_by_sort = subprocess.run(
        ["sort"], input=path.read_bytes(), stdout=subprocess.PIPE, env=env, check=True
    ).stdout
    assert path.read_bytes() == sorted_by_sort
    assert [byte_order(k) for k in read_table(path)] == sorted(k.encode() for k in keys)


def test_unsorted_rejected_with_location(tmp_path):
    path = _write(tmp_path / "wav.scp", "c 1\nd 2\na 3\n")
    with pytest.raises(TableError) as e:
        read_table(path)
    msg = str(e.value)
    assert msg == f"{path}:3: key 'a' is not in byte order after 'd' (sort with LC_ALL=C)"
    assert "\n" not in msg
    assert read_table(path, check_sorted=False) == {"c": "1", "d": "2", "a": "3"}


def test_numeric_order_is_not_byte_order(tmp_path):
    path = _write(tmp_path / "wav.scp", "mix_9 a\nmix_10 b\n")
    with pytest.raises(TableError, match=r"wav\.scp:2: key 'mix_10'"):
        read_table(path)


def test_duplicate_key_names_both_lines(tmp_path):
    path = _write(tmp_path / "t", "a 1\nb 2\nb 3\n")
    with pytest.raises(TableError) as e:
        read_table(path)
    assert str(e.value) == f"{path}:3: duplicate key 'b' (first on line 2)"
    path = _write(tmp_path / "u", "b 1\na 2\nb 3\n")  # not adjacent, unsorted allowed
    with pytest.raises(TableError, match=r"u:3: duplicate key 'b' \(first on line 1\)"):
        read_table(path, check_sorted=False)


def test_missing_file(tmp_path):
    path = tmp_path / "nope" / "wav.scp"
    with pytest.raises(TableError) as e:
        read_table(path)
    assert str(e.value) == f"{path}: no such file"


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(TableError, match="is a directory"):
        read_table(tmp_path)


@pytest.mark.parametrize(
    "content, lineno, fragment",
    [
        ("a 1\n\nb 2\n", 2, "blank line"),
        ("a 1\n   \nb 2\n", 2, "blank line"),
        ("a 1\nb\n", 2, "key 'b' has no value"),
        ("a 1\nb \n", 2, "key 'b' has no value"),
        ("a 1\n b 2\n", 2, "starts with whitespace"),
        ("a 1\r\nb 2\r\n", 1, "CR"),
        (b"a 1\nb \xff\n", 2, "not valid UTF-8"),
    ],
)
def test_malformed_lines(tmp_path, content, lineno, fragment):
    path = _write(tmp_path / "text", content)
    with pytest.raises(TableError) as e:
        read_table(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{lineno}: ")
    assert fragment in msg
    assert "\n" not in msg


def test_allow_empty_value(tmp_path):
    path = _write(tmp_path / "keys", "a\nb x\n")
    assert read_table(path, allow_empty_value=True) == {"a": "", "b": "x"}
    write_table(tmp_path / "out", {"b": "", "a": "1"}, allow_empty_value=True)
    assert (tmp_path / "out").read_text() == "a 1\nb\n"
    with pytest.raises(TableError, match="'b' has an empty value"):
        write_table(tmp_path / "out2", {"b": ""})


def test_read_entries_keep_raw_lines(tmp_path):
    path = _write(tmp_path / "t", "a\t1\nb  2 3\n")
    entries = read_entries(path)
    assert [(e.lineno, e.key, e.value, e.line) for e in entries] == [
        (1, "a", "1", "a\t1"),
        (2, "b", "2 3", "b  2 3"),
    ]


@pytest.mark.parametrize(
    "mapping, fragment",
    [
        ({"a b": "1"}, "contains whitespace"),
        ({"a\tb": "1"}, "contains whitespace"),
        ({"": "1"}, "non-empty"),
        ({"a": "x\ny"}, "newline"),
        ({"a": " x"}, "starts with whitespace"),
    ],
)
def test_write_rejects(tmp_path, mapping, fragment):
    path = tmp_path / "wav.scp"
    path.write_text("old 1\n")
    with pytest.raises(TableError) as e:
        write_table(path, mapping)
    assert str(e.value).startswith(f"{path}: ")
    assert fragment in str(e.value)
    assert path.read_text() == "old 1\n"  # untouched
    assert os.listdir(tmp_path) == ["wav.scp"]
