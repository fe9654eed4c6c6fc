"""Tests for s5tse.fileio.atomic: temp file + rename, old content kept on failure."""
import os
import stat

import pytest

from s5tse.fileio.atomic import atomic_path, atomic_write, atomic_write_bytes, atomic_write_text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_write_creates_file_and_parents(tmp_path):
    target = tmp_path / "a" / "b" / "wav.scp"
    with atomic_write(target) as f:
        f.write("utt1 x.wav\n")
    assert target.read_text() == "utt1 x.wav\n"
    assert sorted(os.listdir(target.parent)) == ["wav.scp"]  # no temp file left


def test_atomic_write_exception_keeps_old_content(tmp_path):
    target = tmp_path / "wav.scp"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as f:
            f.write("new content\n")
            f.flush()
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["wav.scp"]


def test_atomic_write_exception_on_new_file_creates_nothing(tmp_path):
    target = tmp_path / "new.txt"
    with pytest.raises(KeyError):
        with atomic_write(target) as f:
            f.write("x")
            raise KeyError("k")
    assert os.listdir(tmp_path) == []


def test_atomic_write_target_unchanged_until_exit(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with atomic_write(target) as f:
        f.write("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"


def test_atomic_write_binary_and_helpers(tmp_path):
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01\xff"
    atomic_write_text(tmp_path / "t.txt", "é\nline2\n")
    assert (tmp_path / "t.txt").read_bytes() == "é\nline2\n".encode("utf-8")
    with atomic_write(tmp_path / "c.bin", "wb") as f:
        f.write(b"abc")
    assert (tmp_path / "c.bin").read_bytes() == b"abc"


def test_atomic_write_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_permissions_new_file_follow_umask(tmp_path):
    target = tmp_path / "x.txt"
    atomic_write_text(target, "x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def test_permissions_of_existing_file_kept(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic_write_text(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text() == "new"


def test_atomic_path_same_dir_same_suffix(tmp_path):
    target = tmp_path / "sub" / "model.pth"
    with atomic_path(target) as tmp:
        assert os.path.dirname(tmp) == str(target.parent)
        assert tmp.endswith(".pth") and tmp != str(target)
        with open(tmp, "wb") as f:
            f.write(b"weights")
        assert not target.exists()
    assert target.read_bytes() == b"weights"
    assert os.listdir(target.parent) == ["model.pth"]


def test_atomic_path_exception_removes_temp(tmp_path):
    target = tmp_path / "model.pth"
    target.write_bytes(b"old")
    with pytest.raises(OSError):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"partial")
            raise OSError("disk full")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.pth"]


def test_package_api_and_light_imports(repo_root, subprocess_env):
    """``s5tse.fileio`` re-exports its API lazily; atomic/table/split need no numpy/soundfile."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import s5tse.fileio.atomic, s5tse.fileio.table, s5tse.fileio.split\n"
        "assert 'numpy' not in sys.modules and 'soundfile' not in sys.modules\n"
        "import s5tse.fileio as f\n"
        "from s5tse.fileio import read_table, SoundScpReader, validate_data_dir, TableError\n"
        "assert all(callable(getattr(f, n)) for n in f.__all__)\n"
        "assert f.read_table is s5tse.fileio.table.read_table\n"
        "print(len(f.__all__))\n"
    )
    env = dict(subprocess_env, PYTHONPATH=str(repo_root))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "26"


def test_before_replace_runs_only_once_the_new_content_is_written(tmp_path):
    target, backup = tmp_path / "state.bin", tmp_path / "state.prev.bin"
    target.write_bytes(b"old")

    def keep_previous():
        os.replace(target, backup)

    with pytest.raises(RuntimeError):
        with atomic_write(target, "wb", before_replace=keep_previous) as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old" and not backup.exists()
    with atomic_write(target, "wb", before_replace=keep_previous) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and backup.read_bytes() == b"old"
