"""Make PyPI's torchaudio importable beside a CPU-only torch build (called by tools/install.sh).

PyPI's x86_64 torchaudio wheels link their compiled ops against CUDA (``libc10_cuda.so``), so
with a CPU torch (``torch.version.cuda is None``) ``import torchaudio`` fails while loading
``torchaudio/lib/*.so``. s5tse uses only torchaudio's Python API (``functional.resample``,
``fftconvolve``, ``melscale_fbanks``, ``compliance.kaldi``); without the libraries torchaudio
imports with its extension marked unavailable. This moves them to ``lib/cuda_only/`` (kept, not
deleted) and does nothing when torchaudio already imports or torch is a CUDA build.

Usage: tools/venv/bin/python tools/torchaudio_cpu_fix.py
"""
import importlib.util
import subprocess
import sys
from pathlib import Path


def _imports(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"],
                          capture_output=True).returncode == 0


def main() -> int:
    if _imports("torchaudio"):
        return 0
    import torch
    if torch.version.cuda is not None:
        print("torchaudio_cpu_fix: torchaudio does not import beside a CUDA torch; "
              "reinstall matching torch/torchaudio releases", file=sys.stderr)
        return 1
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or spec.origin is None:
        print("torchaudio_cpu_fix: torchaudio is not installed", file=sys.stderr)
        return 1
    lib = Path(spec.origin).parent / "lib"
    aside = lib / "cuda_only"
    aside.mkdir(exist_ok=True)
    for so in sorted(lib.glob("*.so")):
        so.rename(aside / so.name)
        print(f"torchaudio_cpu_fix: moved CUDA-linked {so.name} to {aside}")
    if not _imports("torchaudio"):
        print("torchaudio_cpu_fix: torchaudio still does not import beside a CPU torch",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
