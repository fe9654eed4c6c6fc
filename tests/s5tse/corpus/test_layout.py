"""Tests for s5tse.corpus.layout (official DCASE 2026 Task 4 dev-set layout)."""
import shutil

import pytest

from s5tse.corpus.layout import (
    DATASET_NAME,
    REQUIRED,
    TARGET_CLASSES,
    check_layout,
    find_dataset_root,
    write_dummy_dataset,
)
from s5tse.corpus.dcase import DCASE2026_CLASSES as LABELS


@pytest.fixture
def root(tmp_path):
    return write_dummy_dataset(tmp_path / DATASET_NAME, seconds=0.01)


def test_classes_are_the_official_ones():
    assert TARGET_CLASSES == LABELS
    assert len(TARGET_CLASSES) == 18


def test_complete_tree_is_ok(root):
    assert check_layout(root) == []
    dev = root / "data/dev_set"
    for rel in REQUIRED:
        assert (dev / rel).exists()


def test_missing_room_ir_valid_and_one_class_folder(root):
    shutil.rmtree(root / "data/dev_set/room_ir/valid")
    shutil.rmtree(root / "data/dev_set/sound_event/train/Pour")
    assert check_layout(root) == [
        "missing: data/dev_set/room_ir/valid",
        "missing: data/dev_set/sound_event/train/Pour",
    ]


def test_empty_folders_unknown_class_and_wrong_kinds(root):
    dev = root / "data/dev_set"
    for f in (dev / "sound_event/valid/Speech").iterdir():
        f.unlink()
    (dev / "sound_event/valid/Speech/readme.txt").write_text("not audio")
    for f in (dev / "room_ir/train").iterdir():
        f.rename(f.with_suffix(".wav"))  # wrong type
    (dev / "sound_event/train/Dog").mkdir()
    (dev / "sound_event/train/Dog/bark.wav").write_bytes(b"")
    (dev / "metadata/valid.json").unlink()
    (dev / "metadata/valid.json").mkdir()
    shutil.rmtree(dev / "noise/valid")
    (dev / "noise/valid").write_text("a file, not a folder")
    assert check_layout(root) == [
        "not a file: data/dev_set/metadata/valid.json",
        "not a directory: data/dev_set/noise/valid",
        "empty: data/dev_set/room_ir/train (no .sofa files)",
        "unknown class folder: data/dev_set/sound_event/train/Dog",
        "empty: data/dev_set/sound_event/valid/Speech (no .wav files)",
    ]


def test_nested_class_files_and_hidden_folders_are_fine(root):
    dev = root / "data/dev_set/sound_event/train"
    pour = dev / "Pour"
    (pour / "a/b").mkdir(parents=True)
    for f in pour.glob("*.wav"):  # nested sub-folders (and upper-case suffixes) are allowed
        f.rename(pour / "a/b" / (f.stem + ".WAV"))
    (dev / ".cache").mkdir()
    assert check_layout(root) == []


def test_missing_split_folder_is_one_line(root):
    shutil.rmtree(root / "data/dev_set/sound_event/valid")
    assert check_layout(root) == ["missing: data/dev_set/sound_event/valid"]


def test_no_dev_set(tmp_path):
    assert check_layout(tmp_path) == ["missing: data/dev_set"]


def test_find_dataset_root(root, tmp_path):
    assert find_dataset_root(root) == root
    assert find_dataset_root(tmp_path) == root  # the parent
    assert find_dataset_root(root / "data/dev_set") == root
    assert find_dataset_root(root / "data") == root
    # a renamed dataset folder is still found from its parent when it is the only one
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.move(str(root), str(other / "renamed"))
    assert find_dataset_root(other) == other / "renamed"


def test_find_dataset_root_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        find_dataset_root(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no DCASE 2026 Task 4 dev set found"):
        find_dataset_root(tmp_path)
    (tmp_path / "a/data/dev_set").mkdir(parents=True)
    (tmp_path / "b/data/dev_set").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="several dataset roots"):
        find_dataset_root(tmp_path)
