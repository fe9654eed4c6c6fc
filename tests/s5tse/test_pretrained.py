"""Tests for s5tse.pretrained against a fake GitHub release server on 127.0.0.1.

``FakeGitHub``, ``payloads`` helpers and ``override`` are also used by
tests/s5tse/bin/test_download_pretrained.py.
"""
import hashlib
import io
import re
import subprocess
import sys
import urllib.parse
import zipfile
from pathlib import Path

import pytest
import torch

from s5tse.corpus.download import ChecksumMismatchError, DownloadError
from s5tse.pretrained import (
    DEFAULT_NAMES,
    MANIFEST,
    Output,
    PretrainedError,
    PretrainedItem,
    check_item,
    ensure_item,
    read_sidecar,
    resolve_url,
    select,
    sidecar_path,
)
from tests.fake_http import LoopbackServer

M2D_DIR = "m2d_as_vit_base-80x1001p16x16p32k-240413_AS-FT_enconly"
M2D_MEMBER = f"{M2D_DIR}/weights_ep69it3124-0.47998.pth"
M2D_URL = f"https://github.com/nttcslab/m2d/releases/download/v0.3.0/{M2D_DIR}.zip"
FPASST_URL = "https://github.com/fschmid56/PretrainedSED/releases/download/v0.0.1/fpasst_strong_1.pt"
BASELINE_URL = ("https://github.com/nttcslab/dcase2026_task4_baseline/releases/download/v1.0.0/"
                "baseline_checkpoint.zip")
FAST = dict(progress=False, backoff=0.01, timeout=10, retries=2)


# --------------------------------------------------------------------------- #
# payloads
# --------------------------------------------------------------------------- #
def torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def m2d_state_dict():
    """A tiny state dict in the published M2D layout (EVAR prefix, norm_stats, AS head)."""
    g = torch.Generator().manual_seed(0)
    p = "module.ar.runtime.backbone."
    sd = {p + "cls_token": torch.randn(1, 1, 8, generator=g),
          p + "pos_embed": torch.randn(1, 11, 8, generator=g),
          p + "patch_embed.proj.weight": torch.randn(8, 1, 16, 16, generator=g),
          p + "patch_embed.proj.bias": torch.zeros(8),
          p + "blocks.0.norm1.weight": torch.ones(8),
          p + "norm.weight": torch.ones(8),
          p + "norm_stats": torch.tensor([-7.1, 4.2]),
          "module.head.mlp.mlp.0.weight": torch.randn(5, 8, generator=g)}
    return sd


def fpasst_state_dict():
    g = torch.Generator().manual_seed(1)
    return {"model.cls_token": torch.randn(1, 1, 8, generator=g),
            "model.time_new_pos_embed": torch.randn(1, 8, 1, 4, generator=g),
            "strong_head.weight": torch.randn(3, 8, generator=g),
            "weak_head.bias": torch.zeros(3)}


def zip_bytes(members: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_payloads():
    """{url path: bytes} for the three release assets, plus the inner files."""
    m2d = torch_bytes(m2d_state_dict())
    fpasst = torch_bytes(fpasst_state_dict())
    ckpts = {n: torch_bytes({"epoch": 3, "state_dict": {f"{n}.w": torch.full((2, 2), float(i))}})
             for i, n in enumerate(("m2dat_1c", "m2dat_4c", "resunetk"))}
    files = {
        urllib.parse.urlsplit(M2D_URL).path: zip_bytes({f"{M2D_DIR}/": b"", M2D_MEMBER: m2d,
                                                        f"{M2D_DIR}/README.txt": b"hello"}),
        urllib.parse.urlsplit(FPASST_URL).path: fpasst,
        urllib.parse.urlsplit(BASELINE_URL).path: zip_bytes({f"{n}.ckpt": b for n, b in ckpts.items()},
                                                            compression=zipfile.ZIP_STORED),
    }
    inner = {"m2d_as_32k": m2d, "fpasst_strong": fpasst,
             **{f"baseline_{n}": b for n, b in ckpts.items()}}
    return files, inner


def path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path


class FakeGitHub(LoopbackServer):
    """Loopback server for release assets: ``files`` maps a URL path to bytes.

    * GitHub-like redirect: ``GET <path>`` answers 302 to ``/objects/<i>`` when ``redirect``
      is true, which serves the bytes (Range -> 206 + Content-Range).
    * ``drop_after[path] = n``: the next transfer of ``path`` sends n body bytes and closes the
      connection.
    * ``requests``: (path, headers) for every request.
    """

    def __init__(self, files: dict, redirect: bool = True):
        super().__init__()
        self.files = dict(files)
        self.redirect = redirect

    def asset_requests(self, url_path: str) -> list:
        """Headers of the requests that fetched the bytes of ``url_path`` (after any redirect)."""
        keys = list(self.files)
        target = f"/objects/{keys.index(url_path)}" if self.redirect else url_path
        return [h for p, h in self.requests if p == target]

    def route(self, h):
        keys = list(self.files)
        m = re.fullmatch(r"/objects/(\d+)", h.path)
        if m and self.redirect and int(m.group(1)) < len(keys):
            path = keys[int(m.group(1))]
        elif h.path in self.files:
            if self.redirect:
                h.send_response(302)
                h.send_header("Location", f"{self.base}/objects/{keys.index(h.path)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            path = h.path
        else:
            h.send_error(404)
            return
        self.serve_bytes(h, path, self.files[path])


@pytest.fixture
def assets():
    return make_payloads()


@pytest.fixture
def github(assets):
    files, _ = assets
    with FakeGitHub(files) as server:
        yield server


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dl(tmp_path) -> Path:
    return tmp_path / "downloads"


# --------------------------------------------------------------------------- #
# manifest
# --------------------------------------------------------------------------- #
def test_manifest_matches_the_reference():
    assert MANIFEST["m2d_as_32k"].url == M2D_URL
    assert MANIFEST["fpasst_strong"].url == FPASST_URL
    assert MANIFEST["dcase2026_baseline"].url == BASELINE_URL
    assert DEFAULT_NAMES == ("m2d_as_32k", "fpasst_strong")
    assert not MANIFEST["dcase2026_baseline"].default
    m2d = MANIFEST["m2d_as_32k"].outputs[0]
    assert m2d.member == M2D_MEMBER
    assert m2d.dest == f"m2d/{M2D_MEMBER}"
    assert MANIFEST["fpasst_strong"].outputs[0].dest == "fpasst/fpasst_strong_1.pt"
    assert [o.dest for o in MANIFEST["dcase2026_baseline"].outputs] == [
        "dcase2026_baseline/m2dat_1c.ckpt", "dcase2026_baseline/m2dat_4c.ckpt",
        "dcase2026_baseline/resunetk.ckpt"]
    keys = [o.key for it in MANIFEST.values() for o in it.outputs]
    assert len(keys) == len(set(keys))


def test_select_and_resolve_url():
    assert [i.name for i in select(None)] == ["m2d_as_32k", "fpasst_strong"]
    assert [i.name for i in select(["all"])] == list(MANIFEST)
    assert [i.name for i in select(["fpasst_strong", "fpasst_strong"])] == ["fpasst_strong"]
    with pytest.raises(PretrainedError, match="unknown pretrained name.*nope"):
        select(["nope"])
    assert resolve_url(FPASST_URL) == FPASST_URL
    assert resolve_url(FPASST_URL, "http://127.0.0.1:9/m/") == \
        "http://127.0.0.1:9/m/fschmid56/PretrainedSED/releases/download/v0.0.1/fpasst_strong_1.pt"


def test_manifest_rejects_unsafe_paths():
    with pytest.raises(ValueError, match="unsafe"):
        PretrainedItem(name="x", url="http://h/x", outputs=(Output(key="x", dest="../x.pt"),))
    with pytest.raises(ValueError, match="member"):
        PretrainedItem(name="x", url="http://h/x", archive="x.zip", outputs=(Output(key="x", dest="x.pt"),))


def test_nothing_touches_the_network_at_import():
    code = ("import socket\n"
            "def boom(*a, **k): raise SystemExit('network used at import')\n"
            "socket.socket.connect = boom\nsocket.create_connection = boom\n"
            "import s5tse.pretrained, s5tse.bin.download_pretrained\n"
            "import sys; assert 'torch' not in sys.modules, 'torch imported at import time'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------- #
# download, extract, verify
# --------------------------------------------------------------------------- #
def test_download_all_items(github, assets, tmp_path):
    files, inner = assets
    got = {}
    for item in select(["all"]):
        paths = ensure_item(item, dl(tmp_path), base_url_override=github.base, **FAST)
        got.update({o.key: p for o, p in zip(item.outputs, paths)})
    assert got["m2d_as_32k"] == dl(tmp_path) / "m2d" / M2D_DIR / "weights_ep69it3124-0.47998.pth"
    assert got["fpasst_strong"] == dl(tmp_path) / "fpasst" / "fpasst_strong_1.pt"
    for key, path in got.items():
        assert path.read_bytes() == inner[key], key
        assert read_sidecar(path) == sha(inner[key])
        assert sidecar_path(path).read_text() == f"{sha(inner[key])}  {path.name}\n"
    # the archives are kept, with their own sidecar
    archive = dl(tmp_path) / "m2d" / f"{M2D_DIR}.zip"
    assert archive.read_bytes() == files[path_of(M2D_URL)]
    assert read_sidecar(archive) == sha(files[path_of(M2D_URL)])
    # no temporary / partial files are left
    leftovers = [p for p in dl(tmp_path).rglob("*") if p.name.endswith((".part", ".bad")) or ".tmp" in p.name]
    assert leftovers == []
    # the M2D weights load with weights_only=True and equal the originals
    sd = torch.load(got["m2d_as_32k"], map_location="cpu", weights_only=True)
    ref = m2d_state_dict()
    assert sd.keys() == ref.keys()
    assert all(torch.equal(sd[k], ref[k]) for k in ref)
    assert check_item(MANIFEST["m2d_as_32k"], dl(tmp_path)) == []


def test_complete_files_are_skipped_without_requests(github, tmp_path):
    for item in select(["all"]):
        ensure_item(item, dl(tmp_path), base_url_override=github.base, **FAST)
    n = len(github.requests)
    mtimes = {p: p.stat().st_mtime_ns for p in dl(tmp_path).rglob("*") if p.is_file()}
    for item in select(["all"]):
        ensure_item(item, dl(tmp_path), base_url_override=github.base, **FAST)
    # the zip may even be gone: the extracted members are verified by their sidecars
    (dl(tmp_path) / "m2d" / f"{M2D_DIR}.zip").unlink()
    ensure_item(MANIFEST["m2d_as_32k"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert len(github.requests) == n
    assert {p: p.stat().st_mtime_ns for p in mtimes if p.exists()} == \
        {p: t for p, t in mtimes.items() if p.exists()}


def test_resume_after_truncated_part(github, assets, tmp_path):
    _, inner = assets
    data = inner["fpasst_strong"]
    dest = dl(tmp_path) / "fpasst" / "fpasst_strong_1.pt"
    dest.parent.mkdir(parents=True)
    half = len(data) // 2
    (dest.parent / "fpasst_strong_1.pt.part").write_bytes(data[:half])
    ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert dest.read_bytes() == data
    reqs = github.asset_requests(path_of(FPASST_URL))
    assert [h.get("Range") for h in reqs] == [f"bytes={half}-"]
    assert not (dest.parent / "fpasst_strong_1.pt.part").exists()


def test_resume_after_dropped_connection_in_a_zip(github, assets, tmp_path):
    files, inner = assets
    github.drop_after[path_of(M2D_URL)] = 1000
    paths = ensure_item(MANIFEST["m2d_as_32k"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert paths[0].read_bytes() == inner["m2d_as_32k"]
    reqs = github.asset_requests(path_of(M2D_URL))
    assert [h.get("Range") for h in reqs] == [None, "bytes=1000-"]


def test_existing_file_checksum_mismatch_is_not_replaced(github, tmp_path):
    paths = ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
    dest = paths[0]
    data = bytearray(dest.read_bytes())
    data[-10] ^= 0xFF
    dest.write_bytes(bytes(data))
    n = len(github.requests)
    with pytest.raises(ChecksumMismatchError, match=re.escape(str(dest)) + r".*sha256 .*expected"):
        ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert dest.read_bytes() == bytes(data)
    assert len(github.requests) == n
    problems = check_item(MANIFEST["fpasst_strong"], dl(tmp_path))
    assert len(problems) == 1 and str(dest) in problems[0] and "expected" in problems[0]


def test_download_checksum_mismatch_against_recorded_sidecar(github, assets, tmp_path):
    files, inner = assets
    paths = ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
    dest = paths[0]
    dest.unlink()  # the sidecar stays: the re-download must match it
    github.files[path_of(FPASST_URL)] = torch_bytes({"x": torch.ones(3)})
    with pytest.raises(PretrainedError) as e:
        ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
    msg = str(e.value)
    assert "fpasst_strong" in msg and path_of(FPASST_URL) in msg and sha(inner["fpasst_strong"]) in msg
    assert "fpasst_strong_1.pt.sha256" in msg
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()
    assert read_sidecar(dest) == sha(inner["fpasst_strong"])


def test_known_sha256_is_verified(github, assets, tmp_path):
    files, inner = assets
    good = PretrainedItem(name="f", url=FPASST_URL,
                          outputs=(Output(key="f", dest="f.pt", sha256=sha(inner["fpasst_strong"])),))
    ensure_item(good, dl(tmp_path), base_url_override=github.base, **FAST)
    assert (dl(tmp_path) / "f.pt").read_bytes() == inner["fpasst_strong"]
    bad = PretrainedItem(name="g", url=FPASST_URL, outputs=(Output(key="g", dest="g.pt", sha256="0" * 64),))
    with pytest.raises(PretrainedError, match=r"g: .*fpasst_strong_1\.pt.*expected 0{64}.*the manifest"):
        ensure_item(bad, dl(tmp_path), base_url_override=github.base, **FAST)
    assert not (dl(tmp_path) / "g.pt").exists()
    assert not (dl(tmp_path) / "g.pt.sha256").exists()


def test_corrupt_zip_is_an_error(github, assets, tmp_path):
    files, _ = assets
    data = bytearray(files[path_of(M2D_URL)])
    # flip a byte inside the member data (after the first local header) -> CRC failure
    off = data.index(b"PK\x03\x04", 1)  # local header of the second entry = the weights
    data[off + 200] ^= 0xFF
    github.files[path_of(M2D_URL)] = bytes(data)
    with pytest.raises(PretrainedError, match=r"m2d_as_vit_base.*\.zip.*(CRC|not a valid zip)"):
        ensure_item(MANIFEST["m2d_as_32k"], dl(tmp_path), base_url_override=github.base, **FAST)
    archive = dl(tmp_path) / "m2d" / f"{M2D_DIR}.zip"
    assert not archive.exists() and archive.with_name(archive.name + ".bad").exists()
    assert not (dl(tmp_path) / "m2d" / M2D_DIR).exists()
    # not a zip at all
    github.files[path_of(M2D_URL)] = b"<html>rate limited</html>"
    with pytest.raises(PretrainedError, match=r"\.zip: downloaded from .*not a valid zip"):
        ensure_item(MANIFEST["m2d_as_32k"], dl(tmp_path), base_url_override=github.base, **FAST)


def test_missing_member_is_an_error(github, assets, tmp_path):
    github.files[path_of(M2D_URL)] = zip_bytes({f"{M2D_DIR}/other.pth": b"x"})
    with pytest.raises(PretrainedError, match=re.escape(f"has no member {M2D_MEMBER!r}") + ".*other.pth"):
        ensure_item(MANIFEST["m2d_as_32k"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert not (dl(tmp_path) / "m2d" / M2D_DIR).exists()


def test_member_inside_a_folder_is_found(github, assets, tmp_path):
    _, inner = assets
    github.files[path_of(BASELINE_URL)] = zip_bytes(
        {f"checkpoint/{n}.ckpt": inner[f"baseline_{n}"] for n in ("m2dat_1c", "m2dat_4c", "resunetk")})
    paths = ensure_item(MANIFEST["dcase2026_baseline"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert [p.read_bytes() for p in paths] == [inner[f"baseline_{n}"] for n in ("m2dat_1c", "m2dat_4c", "resunetk")]


def test_truncated_weight_file_is_an_error(github, assets, tmp_path):
    _, inner = assets
    github.files[path_of(FPASST_URL)] = inner["fpasst_strong"][:-300]
    dest = dl(tmp_path) / "fpasst" / "fpasst_strong_1.pt"
    with pytest.raises(PretrainedError, match=re.escape(str(dest)) + r" \(downloaded from .*\): .*moved to"):
        ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert not dest.exists() and not sidecar_path(dest).exists()
    assert dest.with_name(dest.name + ".bad").read_bytes() == inner["fpasst_strong"][:-300]


def test_truncated_member_in_a_valid_zip_is_an_error(github, assets, tmp_path):
    _, inner = assets
    github.files[path_of(M2D_URL)] = zip_bytes({M2D_MEMBER: inner["m2d_as_32k"][:-200]})
    dest = dl(tmp_path) / "m2d" / M2D_DIR / "weights_ep69it3124-0.47998.pth"
    with pytest.raises(PretrainedError, match=re.escape(f"{dest} (member {M2D_MEMBER} of ")):
        ensure_item(MANIFEST["m2d_as_32k"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert list(dest.parent.iterdir()) == []


def test_truncated_lightning_ckpt_is_an_error(github, assets, tmp_path):
    _, inner = assets
    github.files[path_of(BASELINE_URL)] = zip_bytes(
        {"m2dat_1c.ckpt": inner["baseline_m2dat_1c"], "m2dat_4c.ckpt": inner["baseline_m2dat_4c"][:-100],
         "resunetk.ckpt": inner["baseline_resunetk"]})
    with pytest.raises(PretrainedError, match=r"m2dat_4c\.ckpt \(member m2dat_4c\.ckpt of .*(truncated|corrupt)"):
        ensure_item(MANIFEST["dcase2026_baseline"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert not (dl(tmp_path) / "dcase2026_baseline" / "m2dat_4c.ckpt").exists()


def test_present_file_without_sidecar(github, assets, tmp_path):
    _, inner = assets
    dest = dl(tmp_path) / "fpasst" / "fpasst_strong_1.pt"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(inner["fpasst_strong"])  # e.g. copied in by hand
    ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert github.requests == []
    assert read_sidecar(dest) == sha(inner["fpasst_strong"])
    # a truncated hand-copied file is reported and left alone
    sidecar_path(dest).unlink()
    dest.write_bytes(inner["fpasst_strong"][:-50])
    with pytest.raises(PretrainedError, match=re.escape(f"{dest} (already present, no fpasst_strong_1.pt.sha256)")):
        ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
    assert dest.read_bytes() == inner["fpasst_strong"][:-50]
    assert github.requests == []


def test_keep_archive_false_and_check_item(github, tmp_path):
    item = MANIFEST["m2d_as_32k"]
    problems = check_item(item, dl(tmp_path))
    assert len(problems) == 1 and "missing" in problems[0] and M2D_URL in problems[0]
    assert not dl(tmp_path).exists()  # checking writes nothing
    ensure_item(item, dl(tmp_path), base_url_override=github.base, keep_archive=False, **FAST)
    assert not (dl(tmp_path) / "m2d" / f"{M2D_DIR}.zip").exists()
    assert not (dl(tmp_path) / "m2d" / f"{M2D_DIR}.zip.sha256").exists()
    assert check_item(item, dl(tmp_path)) == []


def test_http_error_names_url_and_item(github, tmp_path):
    del github.files[path_of(FPASST_URL)]
    with pytest.raises(DownloadError, match=r"fpasst_strong: http://127\.0\.0\.1:\d+/fschmid56/.*HTTP 404"):
        ensure_item(MANIFEST["fpasst_strong"], dl(tmp_path), base_url_override=github.base, **FAST)
