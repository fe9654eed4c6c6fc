"""Tests for s5tse.fileio.split: contiguous near-equal parts, byte-exact concatenation."""
import os

import pytest

from s5tse.fileio.split import split_keys, split_sizes, split_table
from s5tse.fileio.table import TableError


@pytest.mark.parametrize(
    "num, parts, expected",
    [(10, 3, [4, 3, 3]), (10, 4, [3, 3, 2, 2]), (9, 3, [3, 3, 3]), (5, 5, [1] * 5), (7, 1, [7])],
)
def test_split_sizes(num, parts, expected):
    assert split_sizes(num, parts) == expected


@pytest.mark.parametrize("num", range(1, 25))
def test_split_sizes_properties(num):
    for parts in range(1, num + 1):
        sizes = split_sizes(num, parts)
        assert sum(sizes) == num and len(sizes) == parts
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
        assert sizes == sorted(sizes, reverse=True)


def test_split_sizes_errors():
    with pytest.raises(ValueError, match="cannot split 2"):
        split_sizes(2, 3)
    with pytest.raises(ValueError, match=">= 1"):
        split_sizes(2, 0)


def test_split_keys():
    keys = [f"k{i:02d}" for i in range(10)]
    assert split_keys(keys, 3, 1) == keys[0:4]
    assert split_keys(keys, 3, 2) == keys[4:7]
    assert split_keys(keys, 3, 3) == keys[7:10]
    assert sum((split_keys(keys, 4, j) for j in range(1, 5)), []) == keys
    with pytest.raises(ValueError, match="1..3"):
        split_keys(keys, 3, 0)
    with pytest.raises(ValueError, match="1..3"):
        split_keys(keys, 3, 4)


@pytest.fixture
def table(tmp_path):
    # tabs, repeated spaces and a key-only line must survive unchanged
    lines = [f"mix_{i:04d} /a/mix_{i:04d}.wav" for i in range(10)]
    lines[2] = "mix_0002\t/a/b  c.wav"
    lines[5] = "mix_0005"
    path = tmp_path / "wav.scp"
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def test_split_table(table, tmp_path):
    path, lines = table
    outs = [tmp_path / "split" / f"keys.{j}.scp" for j in (1, 2, 3)]
    assert split_table(path, outs) == [4, 3, 3]
    parts = [o.read_text().splitlines() for o in outs]
    assert parts == [lines[0:4], lines[4:7], lines[7:10]]
    assert b"".join(o.read_bytes() for o in outs) == path.read_bytes()


def test_split_table_one_part_per_line(table, tmp_path):
    path, lines = table
    outs = [tmp_path / f"{j}.scp" for j in range(1, 11)]
    assert split_table(path, outs) == [1] * 10
    assert [o.read_text() for o in outs] == [line + "\n" for line in lines]


def test_split_table_without_final_newline(tmp_path):
    path = tmp_path / "in.scp"
    path.write_text("a 1\nb 2\nc 3")
    outs = [tmp_path / "1.scp", tmp_path / "2.scp"]
    split_table(path, outs)
    assert [o.read_text() for o in outs] == ["a 1\nb 2\n", "c 3\n"]


def test_more_parts_than_lines(table, tmp_path):
    path, _ = table
    outs = [tmp_path / f"o{j}.scp" for j in range(11)]
    with pytest.raises(TableError) as e:
        split_table(path, outs)
    assert str(e.value) == f"{path}: has 10 line(s), cannot split into 11 non-empty parts (use fewer jobs)"
    assert not any(o.exists() for o in outs)


def test_empty_input(tmp_path):
    path = tmp_path / "empty.scp"
    path.write_text("")
    with pytest.raises(TableError, match="has 0 line"):
        split_table(path, [tmp_path / "o.scp"])


def test_bad_input_and_outputs(tmp_path):
    path = tmp_path / "in.scp"
    path.write_text("b 1\na 2\n")
    outs = [tmp_path / "1.scp", tmp_path / "2.scp"]
    with pytest.raises(TableError, match=r"in\.scp:2: key 'a' is not in byte order"):
        split_table(path, outs)
    assert split_table(path, outs, check_sorted=False) == [1, 1]
    assert outs[0].read_text() == "b 1\n"
    with pytest.raises(TableError, match="no such file"):
        split_table(tmp_path / "missing.scp", outs)
    with pytest.raises(TableError, match="no output"):
        split_table(path, [])
    with pytest.raises(TableError, match="given twice"):
        split_table(path, [outs[0], outs[0]], check_sorted=False)
    with pytest.raises(TableError, match="is the input"):
        split_table(path, [path, outs[0]], check_sorted=False)
    assert path.read_text() == "b 1\na 2\n"
    assert sorted(os.listdir(tmp_path)) == ["1.scp", "2.scp", "in.scp"]
