#!/usr/bin/env python3
"""Stage 0: check the environment and record it.

Collects the environment (python, s5tse + git sha, pytorch/CUDA/GPUs, ...),
checks that each required Python package imports and each required tool is on
PATH, prints a report with the package versions and, if nothing is missing,
writes it atomically to ``--out``. Each missing package/tool gives one
``env_check: error: ...`` line on stderr and exit status 1 (``--out`` is then not
written). Minimum versions are not checked here (setup.py pins them).

Usage:
    python -m s5tse.bin.env_check \\
        --out exp/env_info.txt \\
        --require_tools "perl sox" \\
        --require_packages "torch torchaudio soundfile numpy yaml kaldiio tensorboard tqdm"
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import shutil
import sys
from typing import List, Optional, Sequence, Tuple

from s5tse.fileio.atomic import atomic_write_text
from s5tse.utils.env_info import collect_env_info, format_env_info

# Import names of the runtime requirements in setup.py.
DEFAULT_PACKAGES = "torch torchaudio numpy scipy soundfile yaml kaldiio tensorboard tqdm"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=None,
                        help="write the report here (only if all checks pass); default: print only")
    parser.add_argument("--require_tools", default="",
                        help="space-separated command names that must be on PATH")
    parser.add_argument("--require_packages", default=DEFAULT_PACKAGES,
                        help="space-separated Python import names that must import")
    parser.add_argument("--repo_dir", default=None,
                        help="git repository to describe (default: the one containing s5tse)")
    return parser


def _names(text: str) -> List[str]:
    """``"a b,c"`` -> ``["a", "b", "c"]``."""
    return text.replace(",", " ").split()


def _package_version(name: str, module: object) -> str:
    version = getattr(module, "__version__", None)
    if version is None:  # fall back to the installed distribution's metadata
        dists = importlib.metadata.packages_distributions().get(name.split(".")[0], [])
        for dist in dists:
            try:
                version = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                pass
    return str(version or "unknown")


def check_packages(names: Sequence[str]) -> Tuple[List[Tuple[str, str]], List[str]]:
    """Import each package; return ([(name, version)], [error lines])."""
    rows, errors = [], []
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install raising anything else
            why = "" if isinstance(exc, ModuleNotFoundError) and exc.name == name.split(".")[0] \
                else f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
            errors.append(f"env_check: error: python package '{name}' cannot be imported "
                          f"({why}install with tools/install.sh)")
            rows.append((name, "MISSING"))
            continue
        rows.append((name, _package_version(name, module)))
    return rows, errors


def check_tools(names: Sequence[str]) -> Tuple[List[Tuple[str, str]], List[str]]:
    """Look each tool up on PATH; return ([(name, path)], [error lines])."""
    rows, errors = [], []
    for name in names:
        path = shutil.which(name)
        if path is None:
            errors.append(f"env_check: error: tool '{name}' not found on PATH")
        rows.append((name, path or "MISSING"))
    return rows, errors


def format_report(env_text: str, packages: Sequence[Tuple[str, str]],
                  tools: Sequence[Tuple[str, str]]) -> str:
    """Environment bullets + Markdown tables of packages and tools."""
    lines = ["## Environments", env_text, "", "## Python packages", "",
             "|package|version|", "|---|---|"]
    lines += [f"|{name}|{version}|" for name, version in packages]
    if tools:
        lines += ["", "## Tools", "", "|tool|path|", "|---|---|"]
        lines += [f"|{name}|{path}|" for name, path in tools]
    return "\n".join(lines) + "\n"


def main(cmd: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    packages, package_errors = check_packages(_names(args.require_packages))
    tools, tool_errors = check_tools(_names(args.require_tools))
    report = format_report(format_env_info(collect_env_info(args.repo_dir)), packages, tools)
    sys.stdout.write(report)
    sys.stdout.flush()
    errors = package_errors + tool_errors
    if errors:
        for line in errors:
            print(line, file=sys.stderr)
        sys.exit(1)
    if args.out is not None:
        atomic_write_text(args.out, report)


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
