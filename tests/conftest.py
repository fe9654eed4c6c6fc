"""Shared fixtures: repository paths and a clean subprocess environment."""
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def subprocess_env():
    """Environment for shell-tool tests: the venv's python first on PATH, C locale."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["LC_ALL"] = "C"
    env["PYTHONUNBUFFERED"] = "1"
    return env
