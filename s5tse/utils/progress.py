"""Progress bars (tqdm) for the long loops: decoding, separating, rendering, scoring, downloads.

A bar shows k/N, the rate and the ETA on stderr. It is on only when stderr is a terminal,
so logs, ``run.pl`` job logs and CI output are unchanged, and off everywhere after
``set_progress(False)`` (the CLIs' ``--progress false``). The log lines of each tool stay as
they are; a bar is drawn next to them.

    from s5tse.utils.progress import progress_bar
    for item in progress_bar(items, desc="decode", unit="mixture"):
        ...
    with progress_bar(total=size, desc="corpus.zip", unit="B", unit_scale=True) as bar:
        bar.update(len(chunk))
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Iterable, Optional

__all__ = ["add_progress_argument", "progress_bar", "progress_enabled", "set_progress"]

_SETTING: Optional[bool] = None   # None: on when stderr is a terminal


def set_progress(enabled: Optional[bool]) -> None:
    """True / False: bars on / off in this process; None: on when stderr is a terminal."""
    global _SETTING
    _SETTING = None if enabled is None else bool(enabled)


def progress_enabled() -> bool:
    """Whether :func:`progress_bar` draws a bar now."""
    if _SETTING is not None:
        return _SETTING
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable: Optional[Iterable[Any]] = None, *, total: Optional[int] = None,
                 desc: Optional[str] = None, unit: str = "it", **kwargs: Any) -> Any:
    """A ``tqdm`` bar on stderr (disabled, i.e. a plain pass-through, when bars are off)."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr,
                disable=not progress_enabled(), dynamic_ncols=True, **kwargs)


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--progress auto|true|false`` (auto: bars when stderr is a terminal)."""
    def parse(value: str) -> Optional[bool]:
        v = value.lower()
        if v == "auto":
            return None
        if v in ("true", "yes", "1"):
            return True
        if v in ("false", "no", "0"):
            return False
        raise argparse.ArgumentTypeError(f"expected auto, true or false, got {value!r}")

    parser.add_argument("--progress", type=parse, default=None,
                        help="progress bars on stderr: auto (when it is a terminal), true, false")
