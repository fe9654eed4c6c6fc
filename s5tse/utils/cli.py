"""What every command-line tool shares: the one-line error and its exit status.

    from functools import partial
    _fail = partial(fail, "decode")
    _fail("data/test/wav.scp: no such file")   # stderr "decode: error: ...", exit 1
"""
from __future__ import annotations

import sys
from typing import NoReturn

__all__ = ["fail"]


def fail(prog: str, message: object, status: int = 1) -> NoReturn:
    """Print ``<prog>: error: <message on one line>`` to stderr and exit with ``status``."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(status)
