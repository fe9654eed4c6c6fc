"""Tests for s5tse.corpus.testset (scan of the official test folders)."""
from pathlib import Path

import pytest

from s5tse.corpus.testset import TestSetError, parse_oracle_name, scan_test_set


def make_set(tmp_path, stems, oracle_names):
    sdir, odir = tmp_path / "soundscape", tmp_path / "oracle_target"
    sdir.mkdir()
    odir.mkdir()
    for s in stems:
        (sdir / f"{s}.wav").write_bytes(b"")  # the scan never opens the audio
    for name in oracle_names:
        (odir / name).write_bytes(b"")
    return sdir, odir


def as_dict(items):
    return {it.name: [(label, p.name) for label, p in it.refs] for it in items}


def test_both_naming_forms_sorted_by_file_name(tmp_path):
    sdir, odir = make_set(tmp_path, ["mix_b", "mix_a"], [
        "mix_a_Speech.wav", "mix_a_Dishes.wav",           # 2025 form
        "mix_b_1_Speech.wav", "mix_b_0_Speech.wav",       # 2026 form, duplicate class
        "mix_b_2_Pour.wav",
    ])
    items = scan_test_set(sdir, odir)
    assert [it.name for it in items] == ["mix_a", "mix_b"]
    assert items[0].mixture == sdir / "mix_a.wav"
    assert as_dict(items) == {
        "mix_a": [("Dishes", "mix_a_Dishes.wav"), ("Speech", "mix_a_Speech.wav")],
        "mix_b": [("Speech", "mix_b_0_Speech.wav"), ("Speech", "mix_b_1_Speech.wav"),
                  ("Pour", "mix_b_2_Pour.wav")],
    }
    assert items[1].labels == ["Speech", "Speech", "Pour"]
    assert all(isinstance(p, Path) and p.parent == odir for it in items for _, p in it.refs)


def test_prefix_trap(tmp_path):
    sdir, odir = make_set(tmp_path, ["t_1", "t_10", "t_2"], [
        "t_1_0_Cough.wav", "t_1_Speech.wav",
        "t_10_0_Dishes.wav", "t_10_1_Speech.wav", "t_10_Speech.wav",
    ])
    got = as_dict(scan_test_set(sdir, odir))
    assert got == {
        "t_1": [("Cough", "t_1_0_Cough.wav"), ("Speech", "t_1_Speech.wav")],
        "t_10": [("Dishes", "t_10_0_Dishes.wav"), ("Speech", "t_10_1_Speech.wav"),
                 ("Speech", "t_10_Speech.wav")],
        "t_2": [],
    }


def test_longest_stem_claims_an_ambiguous_name(tmp_path):
    sdir, odir = make_set(tmp_path, ["t_1", "t_1_0"], ["t_1_0_Speech.wav", "t_1_1_Pour.wav"])
    got = as_dict(scan_test_set(sdir, odir))
    assert got == {"t_1": [("Pour", "t_1_1_Pour.wav")], "t_1_0": [("Speech", "t_1_0_Speech.wav")]}


def test_byte_order_and_ignored_files(tmp_path):
    sdir, odir = make_set(tmp_path, ["a", "B", "c_10", "c_9"], ["a_Speech.wav", "a_Speech.flac"])
    (sdir / ".hidden.wav").write_bytes(b"")
    (sdir / "notes.txt").write_text("x")
    (odir / ".a_Pour.wav").write_bytes(b"")
    (odir / "sub").mkdir()
    items = scan_test_set(sdir, odir)
    assert [it.name for it in items] == ["B", "a", "c_10", "c_9"]
    assert as_dict(items)["a"] == [("Speech", "a_Speech.wav")]


def test_stray_oracle_file_is_named(tmp_path):
    sdir, odir = make_set(tmp_path, ["t_1"], ["t_1_Speech.wav", "t_10_Speech.wav"])
    with pytest.raises(TestSetError, match=r"t_10_Speech\.wav.*matches no soundscape"):
        scan_test_set(sdir, odir)


@pytest.mark.parametrize("name", ["t_1_Guitar.wav", "t_1_0_speech.wav", "t_1_silence.wav",
                                  "t_1_0_1_Speech.wav", "t_1_Speech_x.wav"])
def test_unknown_label_is_named(tmp_path, name):
    sdir, odir = make_set(tmp_path, ["t_1"], [name])
    with pytest.raises(TestSetError, match=name.replace(".", r"\.") + ".*not one of the 18"):
        scan_test_set(sdir, odir)


def test_more_than_three_references(tmp_path):
    sdir, odir = make_set(tmp_path, ["m"], [f"m_{n}_Speech.wav" for n in range(4)])
    with pytest.raises(TestSetError, match=r"m\.wav: 4 oracle targets"):
        scan_test_set(sdir, odir)


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(TestSetError, match="soundscape and .*oracle_target: no such folders"):
        scan_test_set(tmp_path / "soundscape", tmp_path / "oracle_target")
    (tmp_path / "soundscape").mkdir()
    with pytest.raises(TestSetError, match="oracle_target: no such folder"):
        scan_test_set(tmp_path / "soundscape", tmp_path / "oracle_target")
    (tmp_path / "oracle_target").mkdir()
    with pytest.raises(TestSetError, match="no soundscape .wav files"):
        scan_test_set(tmp_path / "soundscape", tmp_path / "oracle_target")


def test_without_oracle_dir(tmp_path):
    sdir, _ = make_set(tmp_path, ["eval_0001", "eval_0000"], [])
    items = scan_test_set(sdir, None)
    assert [(it.name, it.refs) for it in items] == [("eval_0000", []), ("eval_0001", [])]


def test_regex_metacharacters_in_stems(tmp_path):
    sdir, odir = make_set(tmp_path, ["a.b", "a+b"], ["a.b_Speech.wav", "a+b_0_Pour.wav"])
    got = as_dict(scan_test_set(sdir, odir))
    assert got == {"a+b": [("Pour", "a+b_0_Pour.wav")], "a.b": [("Speech", "a.b_Speech.wav")]}


def test_parse_oracle_name():
    assert parse_oracle_name("t_1_0_Speech.wav", "t_1") == (0, "Speech")
    assert parse_oracle_name("t_1_Speech.wav", "t_1") == (None, "Speech")
    assert parse_oracle_name("t_10_Speech.wav", "t_1") is None
    assert parse_oracle_name("t_1_Speech.flac", "t_1") is None


def test_mini_corpus_test_set(mini_corpus):
    test = mini_corpus / "data/dev_set/synthesized/test"
    items = scan_test_set(test / "soundscape", test / "oracle_target")
    assert [it.name for it in items] == ["test_0000", "test_0001", "test_0002", "test_0003"]
    assert items[0].refs == []
    dup = items[1].labels
    assert 2 <= len(dup) <= 3 and len(set(dup)) < len(dup)
