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


# A small mini corpus shared by the tests that need a dataset root (built once per session).
SMALL_MINI_CORPUS = dict(
    seed=7,
    groups_per_class={"train": 2, "valid": 2},
    files_per_group={"train": 1, "valid": 1},
    num_interference_classes=2,
    interference_files={"train": 1, "valid": 1},
    noise_files={"train": 1, "valid": 1},
    rooms={"train": 1, "valid": 1},
    positions_per_room=6,
    rir_length_s=0.25,
    max_order=6,
    num_valid_scenes=3,
    num_test_scenes=4,
)


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory) -> Path:
    """Root of a small built-in mini corpus (holds data/dev_set); treat it as read-only."""
    from s5tse.corpus.mini_corpus import MiniCorpusConfig, build_mini_corpus

    root = tmp_path_factory.mktemp("mini") / "DCASE2026Task4Dataset"
    return build_mini_corpus(root, MiniCorpusConfig(**SMALL_MINI_CORPUS))


@pytest.fixture(scope="session")
def mini_data(mini_corpus, tmp_path_factory) -> Path:
    """The stage-1 tables (``data/``, the data contract) of ``mini_corpus``; read-only."""
    from s5tse.corpus.prepare import prepare_data

    out = tmp_path_factory.mktemp("mini_data") / "data"
    prepare_data(mini_corpus, out)
    return out


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test (tiny models are faster and steadier so on a
    busy 2-core machine); restored afterwards. Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


#: The DCASE 2026 class inventory as stage 1 writes it (data/lang/classes.txt), for training
#: configs in tests (``--classes``); test_labels checks it against s5tse.corpus.dcase.
DCASE_CLASSES_FILE = REPO_ROOT / "tests" / "s5tse" / "tasks" / "conf" / "dcase_classes.txt"
