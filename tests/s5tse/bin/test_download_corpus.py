"""End-to-end tests of s5tse.bin.download_corpus and s5tse.bin.check_corpus (loopback server)."""
import shutil
import subprocess
import sys

import pytest

from s5tse.bin import check_corpus, download_corpus
from s5tse.corpus.layout import DATASET_NAME, write_dummy_dataset
from tests.s5tse.corpus import test_download as helpers

RECORD = helpers.RECORD


@pytest.fixture
def record(tmp_path):
    """A fake Zenodo record: the split archive of a dummy dataset plus LISENCE.pdf."""
    src, parts = helpers.make_split_archive(tmp_path)
    files = {p.name: p.read_bytes() for p in parts}
    files["LISENCE.pdf"] = b"%PDF-1.4 licence\n"
    with helpers.FakeZenodo(files) as server:
        yield src, server


def _args(tmp_path, server, *extra):
    return ["--out_dir", str(tmp_path / "downloads"), "--extract_dir", str(tmp_path / "corpus"),
            "--api_url", server.api_url, "--quiet", *extra]


@pytest.mark.parametrize("joiner", [[], ["--no_zip_tool"]])
def test_download_corpus_end_to_end(record, tmp_path, capsys, joiner):
    src, server = record
    assert download_corpus.main(_args(tmp_path, server, *joiner)) == 0
    out = capsys.readouterr().out.strip().splitlines()
    root = (tmp_path / "corpus" / DATASET_NAME).resolve()
    assert out[-1] == f"dataset root: {root}"
    assert helpers.tree_bytes(root) == helpers.tree_bytes(src / DATASET_NAME)
    assert (tmp_path / "downloads" / "LISENCE.pdf").is_file()
    assert (tmp_path / "downloads" / f"{DATASET_NAME}_full.zip").is_file()

    # rerun: no network at all, same answer
    n_requests = len(server.requests)
    assert download_corpus.main(_args(tmp_path, server, *joiner)) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"dataset root: {root}"
    assert len(server.requests) == n_requests


def test_download_corpus_resumes_interrupted_part(record, tmp_path, capsys):
    src, server = record
    server.drop_after[f"{DATASET_NAME}.z02"] = 10_000
    assert download_corpus.main(_args(tmp_path, server, "--remove_joined", "--backoff", "0.01")) == 0
    reqs = server.file_requests(f"{DATASET_NAME}.z02")
    assert [r.get("Range") for r in reqs] == [None, "bytes=10000-"]
    assert not (tmp_path / "downloads" / f"{DATASET_NAME}_full.zip").exists()
    root = (tmp_path / "corpus" / DATASET_NAME).resolve()
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"dataset root: {root}"


def test_download_corpus_reports_layout_problems(tmp_path, capsys):
    if shutil.which("zip") is None:
        pytest.skip("Info-ZIP `zip` is not installed")
    src = tmp_path / "src"
    write_dummy_dataset(src / DATASET_NAME, seconds=0.1)
    shutil.rmtree(src / DATASET_NAME / "data/dev_set/room_ir/valid")
    arch = tmp_path / "arch"
    arch.mkdir()
    subprocess.run(["zip", "-q", "-r", "-s", "64k", str(arch / f"{DATASET_NAME}.zip"), DATASET_NAME],
                   cwd=src, check=True, stdin=subprocess.DEVNULL)
    with helpers.FakeZenodo({p.name: p.read_bytes() for p in sorted(arch.iterdir())}) as server:
        assert download_corpus.main(_args(tmp_path, server)) == 1
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines() == ["missing: data/dev_set/room_ir/valid"]
    assert "problem" in captured.err
    assert not list((tmp_path / "corpus").glob(".download_corpus.*.done"))


def test_download_corpus_network_error(tmp_path, capsys):
    rc = download_corpus.main(["--out_dir", str(tmp_path / "d"), "--extract_dir", str(tmp_path / "c"),
                               "--api_url", "http://127.0.0.1:9/api/records/", "--quiet"])
    assert rc == 1
    assert capsys.readouterr().err.startswith("download_corpus: error: ")


def test_download_corpus_as_module(record, tmp_path, subprocess_env, repo_root):
    _, server = record
    proc = subprocess.run([sys.executable, "-m", "s5tse.bin.download_corpus", *_args(tmp_path, server)],
                          cwd=repo_root, env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    root = (tmp_path / "corpus" / DATASET_NAME).resolve()
    assert proc.stdout.strip().splitlines()[-1] == f"dataset root: {root}"


def test_check_corpus(tmp_path, capsys):
    root = write_dummy_dataset(tmp_path / DATASET_NAME, seconds=0.01)
    assert check_corpus.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"OK: {root}\n"
    shutil.rmtree(root / "data/dev_set/sound_event/valid/Cough")
    (root / "data/dev_set/sound_event/valid/Dog").mkdir()
    assert check_corpus.main([str(root / "data/dev_set")]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "missing: data/dev_set/sound_event/valid/Cough",
        "unknown class folder: data/dev_set/sound_event/valid/Dog",
    ]
    assert check_corpus.main([str(tmp_path / "nothing")]) == 1
    assert "check_corpus: error:" in capsys.readouterr().err


def test_parsers_have_usage_docstrings():
    for module in (download_corpus, check_corpus):
        assert "Usage:" in module.__doc__
        assert module.get_parser().prog in module.__doc__
