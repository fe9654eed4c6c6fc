"""argparse ``type=`` helpers for flat tool options.

    parser.add_argument("--use_amp", type=str2bool, default=False)
    parser.add_argument("--max_len", type=int_or_none, default=None)   # "none"/"null" -> None

``str2bool`` accepts only ``true``/``false`` (any case): ``yes``/``1``/``on`` are
rejected so that a typo cannot silently mean True.
"""
from __future__ import annotations

import argparse
from typing import Optional

_NONE = ("none", "null")


def str2bool(value: str) -> bool:
    """``"true"`` -> True, ``"false"`` -> False (case-insensitive); anything else is an error.

        >>> str2bool("True"), str2bool("FALSE")
        (True, False)
    """
    if isinstance(value, bool):
        return value
    lowered = str(value).lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def int_or_none(value: str) -> Optional[int]:
    """``"none"``/``"null"`` (any case) -> None, else ``int(value)``."""
    if str(value).lower() in _NONE:
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or none, got {value!r}") from None


def float_or_none(value: str) -> Optional[float]:
    """``"none"``/``"null"`` (any case) -> None, else ``float(value)`` (``1e-3`` works)."""
    if str(value).lower() in _NONE:
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float or none, got {value!r}") from None


def str_or_none(value: str) -> Optional[str]:
    """``"none"``/``"null"`` (any case) -> None, else the string unchanged."""
    return None if str(value).lower() in _NONE else value
