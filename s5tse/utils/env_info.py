"""Software/hardware environment for logs and the RESULTS.md "Environments" block.

    >>> info = collect_env_info()
    >>> print(format_env_info(info))              # doctest: +SKIP
    - date: `Fri May 01 12:00:00 2026 +0000`
    - python version: `3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]`
    - platform: `Linux-6.8.0-x86_64-with-glibc2.36` host `node1` CPUs `16`
    - s5tse version: `0.1.0` (git `3f2c...` clean, commit date `Thu Apr 30 10:00:00 2026 +0200`)
    - pytorch version: `2.14.1+cu130` CUDA `13.0` cuDNN `92400` GPU `NVIDIA H100 80GB HBM3` x 1
    - torchaudio version: `2.11.0`
    - numpy version: `2.4.6`

Nothing here fails: a missing git or package is reported as ``"unknown"`` or
``"not installed"``.
"""
from __future__ import annotations

import datetime
import importlib
import os
import platform
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import s5tse

UNKNOWN = "unknown"
NOT_INSTALLED = "not installed"


def _git(repo_dir: Path, args: Sequence[str]) -> Optional[str]:
    """Output of ``git -C repo_dir ARGS`` (stripped), or None if git fails or is missing."""
    env = dict(os.environ, LC_ALL="C", GIT_TERMINAL_PROMPT="0")
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            capture_output=True, text=True, timeout=30, env=env,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _git_info(repo_dir: Path) -> Dict[str, Any]:
    """sha, dirty flag and commit date; "unknown"/None where git cannot tell
    (no git, not a repository, or no commit yet)."""
    status = _git(repo_dir, ["status", "--porcelain"])
    return {
        "git_sha": _git(repo_dir, ["rev-parse", "HEAD"]) or UNKNOWN,
        "git_dirty": None if status is None else bool(status),
        "git_commit_date": _git(repo_dir, ["log", "-1", "--format=%cd"]) or UNKNOWN,
    }


def _module_version(name: str) -> str:
    """``module.__version__``, ``"not installed"`` if it cannot be imported."""
    try:
        module = importlib.import_module(name)
    except Exception:  # a broken install can raise more than ImportError
        return NOT_INSTALLED
    return str(getattr(module, "__version__", UNKNOWN))


def _torch_info() -> Dict[str, Any]:
    try:
        import torch
    except Exception:
        return {"torch_version": NOT_INSTALLED, "cuda_version": "none", "cudnn_version": "none",
                "gpu_names": [], "gpu_count": 0}
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    names = []
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "none",
        "cudnn_version": str(cudnn) if cudnn else "none",
        "gpu_names": names,
        "gpu_count": len(names),
    }


def collect_env_info(repo_dir: Optional[Union[str, "os.PathLike[str]"]] = None) -> Dict[str, Any]:
    """Collect versions, git state and devices.

    Args:
        repo_dir: directory inside the git repository to describe; default: the
            one containing the ``s5tse`` package.
    Returns:
        dict with keys ``date, python_version, platform, hostname, cpu_count,
        s5tse_version, git_sha, git_dirty (bool, or None if unknown),
        git_commit_date, torch_version, cuda_version, cudnn_version,
        torchaudio_version, numpy_version, gpu_names (list), gpu_count, device
        ("cuda" or "cpu")``.
    """
    repo = Path(repo_dir) if repo_dir is not None else Path(s5tse.__file__).resolve().parent
    info: Dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().strftime("%a %b %d %H:%M:%S %Y %z"),
        "python_version": sys.version.replace("\n", " "),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count() or 0,
        "s5tse_version": s5tse.__version__,
    }
    info.update(_git_info(repo))
    info.update(_torch_info())
    info["torchaudio_version"] = _module_version("torchaudio")
    info["numpy_version"] = _module_version("numpy")
    info["device"] = "cuda" if info["gpu_count"] else "cpu"
    return info


def format_env_info(info: Dict[str, Any]) -> str:
    """Markdown bullet list (no header, no trailing newline) in ESPnet RESULTS.md style."""
    state = {True: "dirty", False: "clean"}.get(info.get("git_dirty"), "state unknown")
    names = Counter(info.get("gpu_names") or [])
    gpus = ", ".join(f"`{n}` x {c}" for n, c in names.items()) or "`none` (cpu)"
    lines = [
        f"- date: `{info['date']}`",
        f"- python version: `{info['python_version']}`",
        f"- platform: `{info['platform']}` host `{info['hostname']}` CPUs `{info['cpu_count']}`",
        f"- s5tse version: `{info['s5tse_version']}` (git `{info['git_sha']}` {state}, "
        f"commit date `{info['git_commit_date']}`)",
        f"- pytorch version: `{info['torch_version']}` CUDA `{info['cuda_version']}` "
        f"cuDNN `{info['cudnn_version']}` GPU {gpus}",
        f"- torchaudio version: `{info['torchaudio_version']}`",
        f"- numpy version: `{info['numpy_version']}`",
    ]
    return "\n".join(lines)
