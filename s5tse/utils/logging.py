"""Kaldi/ESPnet-style logging setup.

Lines look like::

    2026-05-01T12:00:00 (train.py:42) INFO epoch 1

Usage at the top of a tool's ``main``::

    import logging
    from s5tse.utils.logging import get_commandline_args, setup_logging

    setup_logging("INFO", log_file=f"{args.output_dir}/train.log", rank=rank)
    logging.info(get_commandline_args())
"""
from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence, Union

LOG_FORMAT = "%(asctime)s (%(filename)s:%(lineno)d) %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
_TAG = "_s5tse_handler"  # marks the handlers installed here, so a second call replaces them


def setup_logging(
    level: Union[str, int] = "INFO",
    log_file: Optional[Union[str, "os.PathLike[str]"]] = None,
    rank: int = 0,
) -> logging.Logger:
    """Configure the root logger: a stderr handler and optionally a file handler.

    Args:
        level: level name (``"DEBUG"``, ``"INFO"``, ...) or number.
        log_file: if given, the same lines are also appended to this file
            (parent directories are created).
        rank: distributed rank; ranks > 0 log only ``ERROR`` and above.
    Returns:
        the root logger.

    Idempotent: handlers from a previous call are removed first; handlers
    installed by others (e.g. pytest's) are left alone.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _TAG, False)]:
        root.removeHandler(handler)
        handler.close()

    handlers: list = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    formatter = logging.Formatter(LOG_FORMAT, datefmt=DATE_FORMAT)
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _TAG, True)
        root.addHandler(handler)

    if isinstance(level, str):
        level = level.upper()
    root.setLevel(logging.ERROR if rank > 0 else level)
    return root


def get_commandline_args(argv: Optional[Sequence[str]] = None) -> str:
    """The command line that started this process, shell-quoted so it can be re-run.

        >>> get_commandline_args(["train.py", "--tag", "my exp"]).split(" ", 1)[1]
        "train.py --tag 'my exp'"
    """
    argv = sys.argv if argv is None else argv
    return shlex.join([sys.executable, *argv])
