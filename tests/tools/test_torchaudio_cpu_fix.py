"""Tests for tools/torchaudio_cpu_fix.py on fake torch / torchaudio packages (PYTHONPATH first).

The fake torchaudio fails to import while any ``lib/*.so`` is present, as PyPI's CUDA-linked
torchaudio does beside a CPU torch.
"""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "torchaudio_cpu_fix.py"

FAKE_TORCHAUDIO = '''
from pathlib import Path
libs = sorted(p.name for p in (Path(__file__).parent / "lib").glob("*.so"))
if libs:
    raise OSError(f"libc10_cuda.so: cannot open shared object file (loading {libs[0]})")
'''


def make_packages(root: Path, cuda):
    (root / "torch").mkdir(parents=True)
    (root / "torch" / "__init__.py").write_text(
        f"class version:\n    cuda = {cuda!r}\n")
    lib = root / "torchaudio" / "lib"
    lib.mkdir(parents=True)
    (root / "torchaudio" / "__init__.py").write_text(FAKE_TORCHAUDIO)
    for name in ("_torchaudio.abi3.so", "libtorchaudio.abi3.so"):
        (lib / name).write_bytes(b"\x7fELF")
    (lib / "__init__.py").write_text("")
    return lib


def run(root: Path):
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True)


def test_cpu_torch_moves_the_cuda_linked_libraries_aside(tmp_path):
    lib = make_packages(tmp_path, cuda=None)
    r = run(tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in lib.glob("*.so")) == []
    assert sorted(p.name for p in (lib / "cuda_only").iterdir()) == [
        "_torchaudio.abi3.so", "libtorchaudio.abi3.so"]
    assert (lib / "__init__.py").exists()
    assert r.stdout.count("moved CUDA-linked") == 2
    again = run(tmp_path)                            # idempotent: torchaudio now imports
    assert again.returncode == 0 and again.stdout == ""


def test_cuda_torch_is_left_alone(tmp_path):
    lib = make_packages(tmp_path, cuda="13.0")
    r = run(tmp_path)
    assert r.returncode == 1
    assert "torchaudio does not import beside a CUDA torch" in r.stderr
    assert len(list(lib.glob("*.so"))) == 2


@pytest.mark.parametrize("cuda", [None, "13.0"])
def test_importable_torchaudio_is_not_touched(tmp_path, cuda):
    lib = make_packages(tmp_path, cuda=cuda)
    (lib.parent / "__init__.py").write_text("")     # imports whatever lies in lib/
    r = run(tmp_path)
    assert r.returncode == 0 and r.stdout == ""
    assert len(list(lib.glob("*.so"))) == 2
