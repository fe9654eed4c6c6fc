"""End-to-end tests of s5tse.bin.download_pretrained (loopback fake GitHub release server)."""
import subprocess
import sys
from pathlib import Path

import pytest

from s5tse.bin import download_pretrained
from tests.s5tse import test_pretrained as helpers

M2D_REL = f"m2d/{helpers.M2D_MEMBER}"
FPASST_REL = "fpasst/fpasst_strong_1.pt"


@pytest.fixture
def assets():
    return helpers.make_payloads()


@pytest.fixture
def github(assets):
    files, _ = assets
    with helpers.FakeGitHub(files) as server:
        yield server


def _args(tmp_path, server, *extra):
    return ["--download_dir", str(tmp_path / "downloads"), "--base_url_override", server.base,
            "--quiet", "true", "--backoff", "0.01", "--timeout", "10", *extra]


def test_defaults_end_to_end_and_rerun(github, assets, tmp_path, capsys):
    _, inner = assets
    dl = tmp_path / "downloads"
    assert download_pretrained.main(_args(tmp_path, github)) == 0
    out = capsys.readouterr().out.strip().splitlines()
    m2d, fpasst = dl / M2D_REL, dl / FPASST_REL
    assert out == [f"m2d_as_32k {m2d}", f"fpasst_strong {fpasst}", f"pretrained ready: {m2d} {fpasst}"]
    assert m2d.read_bytes() == inner["m2d_as_32k"]
    assert fpasst.read_bytes() == inner["fpasst_strong"]
    assert not (dl / "dcase2026_baseline").exists()  # optional, not a default
    n = len(github.requests)
    assert download_pretrained.main(_args(tmp_path, github)) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"pretrained ready: {m2d} {fpasst}"
    assert len(github.requests) == n  # complete files: verified, no request
    assert download_pretrained.main(_args(tmp_path, github, "--check_only", "true")) == 0


def test_names_selects_items(github, assets, tmp_path, capsys):
    _, inner = assets
    dl = tmp_path / "downloads"
    assert download_pretrained.main(_args(tmp_path, github, "--names", "dcase2026_baseline",
                                          "--keep_archives", "false")) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    names = ("m2dat_1c", "m2dat_4c", "resunetk")
    assert last == "pretrained ready: " + " ".join(str(dl / "dcase2026_baseline" / f"{n}.ckpt") for n in names)
    for n in names:
        assert (dl / "dcase2026_baseline" / f"{n}.ckpt").read_bytes() == inner[f"baseline_{n}"]
    assert not (dl / "dcase2026_baseline" / "baseline_checkpoint.zip").exists()
    assert not (dl / "fpasst").exists()


def test_check_only_names_missing_files(tmp_path, capsys):
    dl = tmp_path / "downloads"
    rc = download_pretrained.main(["--download_dir", str(dl), "--check_only", "true"])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert any(str(dl / M2D_REL) in line and "missing" in line for line in err)
    assert any(str(dl / FPASST_REL) in line and "missing" in line for line in err)
    assert all(line.startswith("download_pretrained: error: ") for line in err)
    assert not dl.exists()


def test_resume_from_part_file(github, assets, tmp_path, capsys):
    _, inner = assets
    dest = tmp_path / "downloads" / FPASST_REL
    dest.parent.mkdir(parents=True)
    cut = len(inner["fpasst_strong"]) // 3
    dest.with_name(dest.name + ".part").write_bytes(inner["fpasst_strong"][:cut])
    assert download_pretrained.main(_args(tmp_path, github, "--names", "fpasst_strong")) == 0
    assert dest.read_bytes() == inner["fpasst_strong"]
    ranges = [h.get("Range") for h in github.asset_requests(helpers.path_of(helpers.FPASST_URL))]
    assert ranges == [f"bytes={cut}-"]


def test_errors_are_one_line_and_name_the_file(github, assets, tmp_path, capsys):
    files, inner = assets
    github.files[helpers.path_of(helpers.M2D_URL)] = b"not a zip"
    github.files[helpers.path_of(helpers.FPASST_URL)] = inner["fpasst_strong"][:-100]
    assert download_pretrained.main(_args(tmp_path, github)) == 1
    cap = capsys.readouterr()
    assert "pretrained ready" not in cap.out
    err = cap.err.strip().splitlines()
    assert len(err) == 3, err
    assert f"{helpers.M2D_DIR}.zip" in err[0] and "not a valid zip" in err[0]
    assert str(tmp_path / "downloads" / FPASST_REL) in err[1] and "moved to" in err[1]
    assert err[2] == "download_pretrained: error: 2 of 2 item(s) failed"


def test_checksum_mismatch_keeps_the_file(github, tmp_path, capsys):
    assert download_pretrained.main(_args(tmp_path, github, "--names", "fpasst_strong")) == 0
    dest = tmp_path / "downloads" / FPASST_REL
    data = bytearray(dest.read_bytes())
    data[100] ^= 1
    dest.write_bytes(bytes(data))
    capsys.readouterr()
    assert download_pretrained.main(_args(tmp_path, github, "--names", "fpasst_strong")) == 1
    err = capsys.readouterr().err
    assert str(dest) in err and "sha256" in err and "expected" in err
    assert dest.read_bytes() == bytes(data)
    assert download_pretrained.main(_args(tmp_path, github, "--names", "fpasst_strong",
                                          "--check_only", "true")) == 1


def test_unknown_name_and_bad_bool(tmp_path, capsys):
    assert download_pretrained.main(["--download_dir", str(tmp_path), "--names", "bogus"]) == 1
    assert "unknown pretrained name(s) bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        download_pretrained.main(["--download_dir", str(tmp_path), "--check_only", "yes"])


def test_module_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "s5tse.bin.download_pretrained", "--download_dir",
                        str(tmp_path / "d"), "--names", "fpasst_strong", "--check_only", "true"],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[3])
    assert r.returncode == 1
    assert f"{tmp_path / 'd' / FPASST_REL}: missing (fpasst_strong, from {helpers.FPASST_URL})" in r.stderr
