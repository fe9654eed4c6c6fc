"""Split a table into contiguous parts for ``nj`` parallel jobs (Kaldi ``split_scp.pl``).

Parts keep the input order and differ in size by at most one, the first parts
being the larger ones: 10 lines into 3 parts -> 4, 3, 3. Concatenating the parts
gives back the input byte for byte.
"""
from __future__ import annotations

import os
from typing import List, Sequence, TypeVar, Union

from s5tse.fileio.atomic import atomic_write
from s5tse.fileio.table import TableError, read_entries

PathLike = Union[str, "os.PathLike[str]"]
T = TypeVar("T")


def split_sizes(num_items: int, num_parts: int) -> List[int]:
    """Sizes of ``num_parts`` contiguous parts of ``num_items`` (first parts larger).

    Raises ValueError if ``num_parts < 1`` or ``num_parts > num_items``.
    """
    if num_parts < 1:
        raise ValueError(f"number of parts must be >= 1, got {num_parts}")
    if num_parts > num_items:
        raise ValueError(f"cannot split {num_items} item(s) into {num_parts} non-empty parts")
    base, extra = divmod(num_items, num_parts)
    return [base + 1 if i < extra else base for i in range(num_parts)]


def split_keys(keys: Sequence[T], n: int, index: int) -> List[T]:
    """Part ``index`` (1-based, like Kaldi's ``JOB``) of ``keys`` split into ``n`` parts."""
    if not 1 <= index <= n:
        raise ValueError(f"part index must be in 1..{n}, got {index}")
    sizes = split_sizes(len(keys), n)
    start = sum(sizes[: index - 1])
    return list(keys[start : start + sizes[index - 1]])


def split_table(
    in_path: PathLike,
    out_paths: Sequence[PathLike],
    *,
    check_sorted: bool = True,
) -> List[int]:
    """Split the table ``in_path`` into ``len(out_paths)`` files, written atomically.

    Lines are copied unchanged (key-only lines allowed); the input is validated like
    :func:`~s5tse.fileio.table.read_table` (byte order only with ``check_sorted``).
    Returns the number of lines written to each output.
    Raises TableError with more outputs than lines (or none at all).
    """
    name = os.fspath(in_path)
    if not out_paths:
        raise TableError(f"{name}: no output files given")
    seen = {os.path.abspath(name)}
    for out_path in out_paths:
        if os.path.abspath(out_path) in seen:
            raise TableError(f"{name}: output {os.fspath(out_path)!r} is the input or given twice")
        seen.add(os.path.abspath(out_path))
    entries = read_entries(in_path, allow_empty_value=True, check_sorted=check_sorted)
    try:
        sizes = split_sizes(len(entries), len(out_paths))
    except ValueError:
        raise TableError(
            f"{name}: has {len(entries)} line(s), cannot split into {len(out_paths)} "
            f"non-empty parts (use fewer jobs)"
        ) from None
    start = 0
    for out_path, size in zip(out_paths, sizes):
        with atomic_write(out_path) as f:
            f.writelines(e.line + "\n" for e in entries[start : start + size])
        start += size
    return sizes
