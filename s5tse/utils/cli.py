"""What every command-line tool shares: the one-line error and its exit status.

    from functools import partial
    _fail = partial(fail, "decode")
    _fail("data/test/wav.scp: no such file")   # stderr "decode: error: ...", exit 1

    if __name__ == "__main__":
        run_main(main)                          # Ctrl-C: "decode: interrupted", exit 130
"""
from __future__ import annotations

import sys
from typing import Any, Callable, NoReturn

__all__ = ["fail", "run_main"]


def fail(prog: str, message: object, status: int = 1) -> NoReturn:
    """Print ``<prog>: error: <message on one line>`` to stderr and exit with ``status``."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(status)


def run_main(main: Callable[[], Any]) -> Any:
    """Run a tool's ``main()``; Ctrl-C prints ``<prog>: interrupted`` and exits 130 (no
    traceback; ``finally`` blocks and atomic writes have cleaned up on the way out)."""
    try:
        return main()
    except KeyboardInterrupt:
        spec = main.__globals__.get("__spec__")       # python -m s5tse.bin.<tool>: __main__
        prog = main.__globals__.get("PROG") or (spec.name if spec else main.__module__).rsplit(".", 1)[-1]
        print(f"\n{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
