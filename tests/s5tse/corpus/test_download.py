"""Tests for s5tse.corpus.download against a fake Zenodo server on 127.0.0.1.

``FakeZenodo`` and ``make_split_archive`` are also used by
tests/s5tse/bin/test_download_corpus.py (loaded from this file by path).
"""
import hashlib
import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from s5tse.corpus.download import (
    ChecksumMismatchError,
    DownloadError,
    download_file,
    download_record,
    fetch_record_files,
)
from s5tse.corpus.layout import DATASET_NAME, write_dummy_dataset
from tests.fake_http import LoopbackServer

RECORD = 19328046


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def make_split_archive(tmp_path: Path, *, seconds: float = 0.1, zip64: bool = False):
    """Write a dummy dataset tree and a real Info-ZIP split archive of it (64 KiB parts).

    Returns (source parent folder holding DCASE2026Task4Dataset/, [part paths: .z01.. then .zip]).
    """
    if shutil.which("zip") is None:
        pytest.skip("Info-ZIP `zip` is not installed")
    src = tmp_path / "src"
    write_dummy_dataset(src / DATASET_NAME, seconds=seconds)
    arch = tmp_path / "archive"
    arch.mkdir()
    cmd = ["zip", "-q", "-r", "-s", "64k"] + (["-fz"] if zip64 else [])
    cmd += [str(arch / f"{DATASET_NAME}.zip"), DATASET_NAME]
    subprocess.run(cmd, cwd=src, check=True, stdin=subprocess.DEVNULL)
    parts = sorted(arch.glob(f"{DATASET_NAME}.z[0-9]*")) + [arch / f"{DATASET_NAME}.zip"]
    assert len(parts) >= 3, parts
    return src, parts


def tree_bytes(root: Path) -> dict:
    """{relative path: bytes} of all files below ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class FakeZenodo(LoopbackServer):
    """A loopback HTTP server imitating the Zenodo records API and file downloads.

    * ``GET /api/records/<record>`` -> JSON ``{"files": [{key, size, checksum, links.self}]}``
    * ``GET /api/records/<record>/files/<name>/content`` -> the bytes, with Range support
      (206 + Content-Range) unless ``honor_range`` is False.
    * ``drop_after[name] = n``: the next transfer of ``name`` sends n body bytes and then
      closes the connection (once).
    * ``checksums[name]``: overrides the listed checksum.
    * ``requests``: list of (path, headers dict) for every request.
    """

    def __init__(self, files: dict, record: int = RECORD):
        super().__init__()
        self.files = dict(files)
        self.record = record
        self.checksums: dict = {}
        self.honor_range = True

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/records/"

    def file_url(self, name: str) -> str:
        return f"{self.base}/api/records/{self.record}/files/{name}/content"

    def file_requests(self, name: str) -> list:
        return [h for p, h in self.requests if p == f"/api/records/{self.record}/files/{name}/content"]

    def route(self, h):
        if h.path == f"/api/records/{self.record}":
            listing = {"id": self.record, "files": [
                {"key": name, "size": len(data),
                 "checksum": self.checksums.get(name, "md5:" + hashlib.md5(data).hexdigest()),
                 "links": {"self": self.file_url(name)}}
                for name, data in self.files.items()]}
            body = json.dumps(listing).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        m = re.fullmatch(rf"/api/records/{self.record}/files/([^/]+)/content", h.path)
        if not m or m.group(1) not in self.files:
            h.send_error(404)
            return
        name = m.group(1)
        self.serve_bytes(h, name, self.files[name], honor_range=self.honor_range)


@pytest.fixture
def payloads():
    import numpy as np

    rng = np.random.default_rng(1)
    return {
        "DCASE2026Task4Dataset.z01": rng.bytes(200_000),
        "DCASE2026Task4Dataset.zip": rng.bytes(50_000),
        "LISENCE.pdf": b"%PDF-1.4 licence\n",
    }


@pytest.fixture
def zenodo(payloads):
    with FakeZenodo(payloads) as server:
        yield server


FAST = dict(progress=False, backoff=0.01, timeout=10)


# --------------------------------------------------------------------------- #
# tests
# --------------------------------------------------------------------------- #
def test_fetch_record_files(zenodo, payloads):
    files = fetch_record_files(RECORD, api_url=zenodo.api_url)
    assert [f.name for f in files] == list(payloads)
    for f in files:
        assert f.size == len(payloads[f.name])
        assert f.checksum == "md5:" + hashlib.md5(payloads[f.name]).hexdigest()
        assert f.url == zenodo.file_url(f.name)
    # api_url without a trailing slash works too
    assert fetch_record_files(RECORD, api_url=zenodo.api_url.rstrip("/")) == files


def test_fetch_record_files_unknown_record(zenodo):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_record_files(1, api_url=zenodo.api_url)


def test_split_archive_parts_download_with_interrupted_transfer(tmp_path):
    _, parts = make_split_archive(tmp_path)
    with FakeZenodo({p.name: p.read_bytes() for p in parts}) as server:
        first = parts[0].name
        server.drop_after[first] = 30_000
        paths = download_record(RECORD, tmp_path / "dl", api_url=server.api_url, **FAST)
        assert [p.name for p in paths] == [p.name for p in parts]
        for src, got in zip(parts, paths):
            assert got.read_bytes() == src.read_bytes()
            assert not got.with_name(got.name + ".part").exists()
        reqs = server.file_requests(first)
        assert len(reqs) == 2
        assert "Range" not in reqs[0]
        assert reqs[1]["Range"] == "bytes=30000-"


def test_resume_existing_part_file(zenodo, payloads, tmp_path):
    name = "DCASE2026Task4Dataset.z01"
    data = payloads[name]
    dest = tmp_path / name
    dest.with_name(name + ".part").write_bytes(data[:12345])
    download_file(zenodo.file_url(name), dest, size=len(data),
                  checksum="md5:" + hashlib.md5(data).hexdigest(), chunk_size=4096, **FAST)
    assert dest.read_bytes() == data
    reqs = zenodo.file_requests(name)
    assert [r.get("Range") for r in reqs] == ["bytes=12345-"]


def test_server_ignoring_range_restarts_from_zero(zenodo, payloads, tmp_path):
    name = "DCASE2026Task4Dataset.z01"
    data = payloads[name]
    zenodo.honor_range = False
    dest = tmp_path / name
    dest.with_name(name + ".part").write_bytes(b"x" * 5000)  # garbage that must not survive
    download_file(zenodo.file_url(name), dest, size=len(data),
                  checksum="md5:" + hashlib.md5(data).hexdigest(), **FAST)
    assert dest.read_bytes() == data


def test_sha256_checksum(zenodo, payloads, tmp_path):
    name = "DCASE2026Task4Dataset.zip"
    data = payloads[name]
    dest = download_file(zenodo.file_url(name), tmp_path / name,
                         checksum="sha256:" + hashlib.sha256(data).hexdigest(), **FAST)
    assert dest.read_bytes() == data


def test_checksum_mismatch_names_the_file(zenodo, tmp_path):
    name = "DCASE2026Task4Dataset.zip"
    zenodo.checksums[name] = "md5:" + "0" * 32
    with pytest.raises(ChecksumMismatchError, match=re.escape(name)):
        download_record(RECORD, tmp_path, api_url=zenodo.api_url, include=[name], **FAST)
    assert not (tmp_path / name).exists()
    assert not (tmp_path / (name + ".part")).exists()


def test_existing_complete_file_is_not_fetched_again(zenodo, payloads, tmp_path):
    download_record(RECORD, tmp_path, api_url=zenodo.api_url, **FAST)
    n_before = {name: len(zenodo.file_requests(name)) for name in payloads}
    assert all(n == 1 for n in n_before.values())
    paths = download_record(RECORD, tmp_path, api_url=zenodo.api_url, **FAST)
    assert {name: len(zenodo.file_requests(name)) for name in payloads} == n_before
    assert [p.read_bytes() for p in paths] == list(payloads.values())


def test_existing_mismatching_file_is_an_error_and_kept(zenodo, tmp_path):
    name = "LISENCE.pdf"
    (tmp_path / name).write_bytes(b"something else")
    with pytest.raises(ChecksumMismatchError) as err:
        download_record(RECORD, tmp_path, api_url=zenodo.api_url, include=["*.pdf"], **FAST)
    msg = str(err.value)
    assert name in msg and "remove it" in msg
    assert (tmp_path / name).read_bytes() == b"something else"
    assert zenodo.file_requests(name) == []


def test_include_globs(zenodo, tmp_path):
    paths = download_record(RECORD, tmp_path, api_url=zenodo.api_url, include=["*.z??", "*.zip"], **FAST)
    assert [p.name for p in paths] == ["DCASE2026Task4Dataset.z01", "DCASE2026Task4Dataset.zip"]
    assert not (tmp_path / "LISENCE.pdf").exists()
    with pytest.raises(DownloadError, match="no file matches"):
        download_record(RECORD, tmp_path, api_url=zenodo.api_url, include=["*.tar"], **FAST)


def test_retries_then_fails_on_refused_connection(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on this port now
    with pytest.raises(DownloadError, match="failed after 2 retries"):
        download_file(f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=2, **FAST)
    assert not (tmp_path / "x").exists()


def test_http_404_is_not_retried(zenodo, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(zenodo.file_url("nope"), tmp_path / "nope", retries=5, backoff=10, progress=False)
    assert len(zenodo.requests) == 1


def test_progress_lines_go_to_stderr(zenodo, payloads, tmp_path, capsys):
    name = "DCASE2026Task4Dataset.z01"
    download_file(zenodo.file_url(name), tmp_path / name, size=len(payloads[name]), progress=True,
                  progress_interval=0.0, chunk_size=65536)
    out, err = capsys.readouterr()
    assert out == ""
    assert "MB/s" in err and name in err
