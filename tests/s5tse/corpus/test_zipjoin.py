"""Tests for s5tse.corpus.zipjoin on real Info-ZIP split archives (zip -s 64k)."""
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from s5tse.corpus.layout import DATASET_NAME, check_layout, write_dummy_dataset
from s5tse.corpus.zipjoin import (
    EXTRACTED_MARKER,
    UnsafeZipMemberError,
    ZipJoinError,
    extract_zip,
    is_split_archive,
    join_split_zip,
    split_part_paths,
)

needs_zip = pytest.mark.skipif(shutil.which("zip") is None, reason="Info-ZIP `zip` is not installed")


def make_split_archive(tmp_path: Path, *, zip64: bool = False, seconds: float = 0.1):
    """Dummy dataset tree + real split archive (>= 3 parts) of it; returns (source parent, parts)."""
    src = tmp_path / "src"
    write_dummy_dataset(src / DATASET_NAME, seconds=seconds)
    arch = tmp_path / "archive"
    arch.mkdir()
    cmd = ["zip", "-q", "-r", "-s", "64k"] + (["-fz"] if zip64 else [])
    subprocess.run(cmd + [str(arch / f"{DATASET_NAME}.zip"), DATASET_NAME], cwd=src, check=True,
                   stdin=subprocess.DEVNULL)
    parts = sorted(arch.glob(f"{DATASET_NAME}.z[0-9]*")) + [arch / f"{DATASET_NAME}.zip"]
    assert len(parts) >= 3
    return src, parts


def tree_bytes(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != EXTRACTED_MARKER}


@pytest.fixture
def split_archive(tmp_path):
    if shutil.which("zip") is None:
        pytest.skip("Info-ZIP `zip` is not installed")
    return make_split_archive(tmp_path)


def test_split_part_paths(split_archive):
    _, parts = split_archive
    assert split_part_paths(parts[-1]) == parts
    assert [p.suffix for p in parts] == [f".z{i:02d}" for i in range(1, len(parts))] + [".zip"]
    assert is_split_archive(parts[-1])


def test_python_joiner_roundtrip(split_archive, tmp_path):
    src, parts = split_archive
    out = join_split_zip(parts[-1], tmp_path / "Full.zip", use_zip_tool=False)
    assert out == tmp_path / "Full.zip"
    assert not (tmp_path / "Full.zip.tmp.zip").exists()
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
    # entries span part boundaries, so offsets beyond the first part must be absolute
    assert max(i.header_offset for i in infos) > parts[0].stat().st_size
    assert not is_split_archive(out)
    extract_zip(out, tmp_path / "x", progress=False)
    assert tree_bytes(tmp_path / "x") == tree_bytes(src)
    assert check_layout(tmp_path / "x" / DATASET_NAME) == []


@needs_zip
def test_zip_tool_joiner_roundtrip_and_same_bytes(split_archive, tmp_path):
    src, parts = split_archive
    tool = join_split_zip(parts[-1], tmp_path / "tool.zip", use_zip_tool=True)
    py = join_split_zip(parts[-1], tmp_path / "py.zip", use_zip_tool=False)
    extract_zip(tool, tmp_path / "x", progress=False)
    assert tree_bytes(tmp_path / "x") == tree_bytes(src)
    # for a non-zip64 archive the pure-Python joiner reproduces `zip -s 0` byte for byte
    assert py.read_bytes() == tool.read_bytes()


@needs_zip
@pytest.mark.parametrize("force_zip64", [False, True])
def test_python_joiner_zip64_archive(tmp_path, force_zip64):
    src, parts = make_split_archive(tmp_path, zip64=True)
    out = join_split_zip(parts[-1], tmp_path / "Full.zip", use_zip_tool=False, force_zip64=force_zip64)
    extract_zip(out, tmp_path / "x", progress=False)
    assert tree_bytes(tmp_path / "x") == tree_bytes(src)
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tqq", str(out)], check=True, stdin=subprocess.DEVNULL)


def test_forced_zip64_output_from_plain_archive(split_archive, tmp_path):
    src, parts = split_archive
    out = join_split_zip(parts[-1], tmp_path / "Full.zip", use_zip_tool=False, force_zip64=True)
    data = out.read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # zip64 end records written
    extract_zip(out, tmp_path / "x", progress=False)
    assert tree_bytes(tmp_path / "x") == tree_bytes(src)


@needs_zip
@pytest.mark.parametrize("use_zip_tool", [False, True])
def test_entry_spanning_more_than_two_parts(tmp_path, use_zip_tool):
    """Info-ZIP 3.0's `zip -s 0` drops data here; the result must still be right."""
    import numpy as np

    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d/small.txt").write_text("small\n")
    (src / "d/big.bin").write_bytes(np.random.default_rng(0).bytes(200_000))  # > 3 x 64 KiB
    (tmp_path / "arch").mkdir()
    subprocess.run(["zip", "-q", "-r", "-s", "64k", str(tmp_path / "arch/X.zip"), "d"], cwd=src, check=True,
                   stdin=subprocess.DEVNULL)
    parts = split_part_paths(tmp_path / "arch/X.zip")
    assert len(parts) == 4
    out = join_split_zip(parts[-1], tmp_path / "Full.zip", use_zip_tool=use_zip_tool)
    extract_zip(out, tmp_path / "x", progress=False)
    assert tree_bytes(tmp_path / "x") == tree_bytes(src)


@pytest.mark.parametrize("use_zip_tool", [False, True])
def test_missing_part_is_listed(split_archive, tmp_path, use_zip_tool):
    _, parts = split_archive
    parts[1].unlink()  # .z02
    with pytest.raises(ZipJoinError, match=r"missing part\(s\) 02 \(DCASE2026Task4Dataset\.z02\)"):
        join_split_zip(parts[-1], tmp_path / "Full.zip", use_zip_tool=use_zip_tool)
    assert not (tmp_path / "Full.zip").exists()


def test_not_a_split_archive(tmp_path):
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("a.txt", "a")
    assert not is_split_archive(plain)
    assert split_part_paths(plain) == [plain]
    with pytest.raises(ZipJoinError, match="not a split archive"):
        join_split_zip(plain, tmp_path / "Full.zip")


def test_not_a_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"hello" * 100)
    with pytest.raises(ZipJoinError, match="not a zip file"):
        join_split_zip(bad, tmp_path / "Full.zip")


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "ok/../../evil.txt", "C:/evil.txt",
                                  "a\\..\\..\\evil.txt"])
def test_extract_rejects_unsafe_names(tmp_path, name):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("good.txt", "fine")
        zinfo = zipfile.ZipInfo("placeholder")
        zinfo.filename = name  # bypass zipfile's own sanitising of the name
        zf.writestr(zinfo, "evil")
    dest = tmp_path / "sub" / "dest"
    with pytest.raises(UnsafeZipMemberError, match="unsafe"):
        extract_zip(z, dest, progress=False)
    assert not dest.exists()  # nothing written, not even the safe member
    assert not list(tmp_path.rglob("evil.txt"))


def test_extract_resumes_and_writes_marker(tmp_path):
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("d/", "")
        zf.writestr("d/one.txt", "1" * 100)
        zf.writestr("d/two.txt", "2" * 200)
    dest = tmp_path / "out"
    extract_zip(z, dest, progress=False)
    assert (dest / "d/one.txt").read_text() == "1" * 100
    marker = json.loads((dest / EXTRACTED_MARKER).read_text())
    assert marker["zip"] == "a.zip" and marker["members"] == 3

    # marker present: nothing is touched (a deleted file stays deleted)
    (dest / "d/two.txt").unlink()
    extract_zip(z, dest, progress=False)
    assert not (dest / "d/two.txt").exists()

    # interrupted run (no marker): complete files are skipped, missing/partial ones redone
    (dest / EXTRACTED_MARKER).unlink()
    (dest / "d/one.txt").write_text("1" * 100)  # same size -> kept as is
    one_mtime = (dest / "d/one.txt").stat().st_mtime_ns
    extract_zip(z, dest, progress=False)
    assert (dest / "d/one.txt").stat().st_mtime_ns == one_mtime
    assert (dest / "d/two.txt").read_text() == "2" * 200
    assert (dest / EXTRACTED_MARKER).is_file()
    assert not list(dest.rglob("*.part"))
