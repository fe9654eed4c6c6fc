"""Tests for s5tse.fileio.json_file: content, and one-line errors that name the file."""
import pytest

from s5tse.fileio.json_file import read_json


class MyError(ValueError):
    pass


def test_reads_content(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"x": [1, 2.5, null], "é": "ü"}', encoding="utf-8")
    assert read_json(path) == {"x": [1, 2.5, None], "é": "ü"}
    assert read_json(str(path)) == read_json(path)


@pytest.mark.parametrize("kind,message", [
    ("missing", "{p}: no such file"),
    ("folder", "{p}: is a directory, expected a scene JSON file"),
    ("syntax", "{p}: invalid JSON: "),
    ("latin1", "{p}: cannot read: not UTF-8 (invalid continuation byte at byte 2)"),
])
def test_errors_are_one_line_and_name_the_file(tmp_path, kind, message):
    path = tmp_path / "x.json"
    if kind == "folder":
        path.mkdir()
    elif kind == "syntax":
        path.write_text('{"a": 1,\n}')
    elif kind == "latin1":
        path.write_bytes(b'["\xe9t\xe9"]')
    with pytest.raises(MyError) as e:
        read_json(path, "a scene JSON file", error=MyError)
    text = str(e.value)
    assert "\n" not in text
    if kind == "syntax":  # the decoder's wording varies across Python versions
        assert text.startswith(message.format(p=path)) and text.endswith("line 2 column 1 (char 9)")
    else:
        assert text == message.format(p=path)

