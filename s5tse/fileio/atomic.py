"""Atomic file writes: write a temporary file next to the target, then rename.

A reader (or a job killed half-way) sees either the old file or the complete new
one, never a truncated file. The temporary file lives in the target's directory
so that ``os.replace`` is a same-filesystem rename.

    with atomic_write("data/train/wav.scp") as f:
        f.write("utt1 /path/utt1.wav\n")

    with atomic_path("exp/model/checkpoint.pth") as tmp:   # for tools that want a path
        torch.save(state, tmp)
"""
from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator, List, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

# Read the umask once (os.umask can only be read by setting it); mkstemp creates
# files with mode 0o600, which we widen to what open() would have produced.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _target_mode(path: Path) -> int:
    """Permission bits for the new file: keep the old file's, else 0o666 & ~umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort; not supported on every filesystem)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_path(path: PathLike, before_replace: Optional[Callable[[], None]] = None) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it onto ``path``.

    The temporary name keeps the target's suffix (``.x.wav.<random>.tmp.wav``) for
    tools that pick the format from the extension. On an exception the temporary
    file is removed and ``path`` is left untouched. Parent directories are created.
    ``before_replace`` runs once the new content is safely on disk, just before the
    rename (e.g. to keep the old file as a backup).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent
    )
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # the writer may have closed its handle already
            os.fsync(f.fileno())
        os.chmod(tmp, _target_mode(target))
        if before_replace is not None:
            before_replace()
        os.replace(tmp, target)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_dir(target.parent)


@contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str = "utf-8",
                 before_replace: Optional[Callable[[], None]] = None) -> Iterator[IO]:
    """Open a temporary file for writing; rename it onto ``path`` when the block succeeds.

    Args:
        path: target file; parent directories are created.
        mode: ``"w"`` (text, ``\\n`` line endings) or ``"wb"`` (binary).
        encoding: text encoding (ignored for ``"wb"``).
        before_replace: see :func:`atomic_path`.
    Yields:
        the open file object. On an exception inside the block the temporary file is
        removed, the exception propagates and ``path`` keeps its old content.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path, before_replace) as tmp:
        if mode == "wb":
            f = open(tmp, "wb")
        else:
            f = open(tmp, "w", encoding=encoding, newline="\n")
        with f:
            yield f
            f.flush()


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (``\\n`` line endings)."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp(?P<suffix>\.[^.]*)?$")


def stale_temporaries(directory: PathLike) -> List[Path]:
    """Temporary files that :func:`atomic_path` left in ``directory`` because the process was
    killed before the rename (``.<name>.<8 random>.tmp<suffix of name>``), sorted."""
    d = Path(directory)
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = _TEMP_RE.match(p.name)
        if m and p.is_file() and (m.group("suffix") or "") == Path(m.group("name")).suffix:
            out.append(p)
    return sorted(out)
