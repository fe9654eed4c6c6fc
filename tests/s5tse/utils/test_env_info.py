"""Tests for s5tse.utils.env_info, using a throw-away git repository."""
import os
import platform
import shutil
import subprocess
import sys

import pytest

import s5tse
from s5tse.utils.env_info import collect_env_info, format_env_info

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
               GIT_COMMITTER_DATE="2026-05-01T12:00:00+0000", GIT_AUTHOR_DATE="2026-05-01T12:00:00+0000",
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", "-C", str(repo), *args], check=True, env=env,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "a.txt").write_text("one\n")
    git(path, "add", "a.txt")
    git(path, "commit", "-q", "-m", "init")
    return path


@needs_git
def test_clean_then_dirty(repo):
    sha = git(repo, "rev-parse", "HEAD")
    info = collect_env_info(repo_dir=repo)
    assert info["git_sha"] == sha and len(sha) == 40
    assert info["git_dirty"] is False
    assert info["git_commit_date"] == "Fri May 1 12:00:00 2026 +0000"
    (repo / "a.txt").write_text("two\n")
    info = collect_env_info(repo_dir=repo)
    assert info["git_dirty"] is True and info["git_sha"] == sha
    assert f"(git `{sha}` dirty, commit date `Fri May 1 12:00:00 2026 +0000`)" in format_env_info(info)


@needs_git
def test_subdirectory_of_repo(repo):
    sub = repo / "sub"
    sub.mkdir()
    assert collect_env_info(repo_dir=sub)["git_sha"] == git(repo, "rev-parse", "HEAD")


def test_not_a_repository(tmp_path):
    info = collect_env_info(repo_dir=tmp_path)
    assert info["git_sha"] == "unknown" and info["git_dirty"] is None
    assert "(git `unknown` state unknown, commit date `unknown`)" in format_env_info(info)


def test_no_git_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    info = collect_env_info(repo_dir=tmp_path)
    assert info["git_sha"] == "unknown" and info["git_commit_date"] == "unknown"


def test_versions_and_devices():
    import numpy
    import torch

    info = collect_env_info()
    assert info["python_version"].startswith(platform.python_version())
    assert info["s5tse_version"] == s5tse.__version__
    assert info["torch_version"] == torch.__version__
    assert info["cuda_version"] == (torch.version.cuda or "none")
    assert info["numpy_version"] == numpy.__version__
    assert info["cpu_count"] == os.cpu_count()
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert info["gpu_count"] == count == len(info["gpu_names"])
    assert info["device"] == ("cuda" if count else "cpu")
    try:
        import torchaudio
        assert info["torchaudio_version"] == torchaudio.__version__
    except ImportError:
        assert info["torchaudio_version"] == "not installed"


def test_missing_torchaudio_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchaudio", None)  # makes "import torchaudio" fail
    assert collect_env_info()["torchaudio_version"] == "not installed"


def test_format_env_info_layout():
    info = {
        "date": "Fri May 01 12:00:00 2026 +0000", "python_version": "3.11.7 (main) [GCC]",
        "platform": "Linux-x", "hostname": "node1", "cpu_count": 16, "s5tse_version": "0.1.0",
        "git_sha": "abc", "git_dirty": False, "git_commit_date": "Thu Apr 30 2026",
        "torch_version": "2.5.0", "cuda_version": "12.4", "cudnn_version": "90100",
        "gpu_names": ["H100", "H100"], "gpu_count": 2, "device": "cuda",
        "torchaudio_version": "2.5.0", "numpy_version": "2.0.0",
    }
    assert format_env_info(info).splitlines() == [
        "- date: `Fri May 01 12:00:00 2026 +0000`",
        "- python version: `3.11.7 (main) [GCC]`",
        "- platform: `Linux-x` host `node1` CPUs `16`",
        "- s5tse version: `0.1.0` (git `abc` clean, commit date `Thu Apr 30 2026`)",
        "- pytorch version: `2.5.0` CUDA `12.4` cuDNN `90100` GPU `H100` x 2",
        "- torchaudio version: `2.5.0`",
        "- numpy version: `2.0.0`",
    ]
    cpu = dict(info, gpu_names=[], gpu_count=0, device="cpu")
    assert "GPU `none` (cpu)" in format_env_info(cpu)
