"""Resumable, checksum-verified downloads of Zenodo records (standard library only).

The DCASE 2026 Task 4 development set is Zenodo record 19328046
(``DCASE2026Task4Dataset.z01 ... .z10``, ``DCASE2026Task4Dataset.zip``,
``LISENCE.pdf``).  The record's file list, sizes and md5 checksums come from
the Zenodo REST API (``GET https://zenodo.org/api/records/<id>``).

* :func:`fetch_record_files` lists the files of a record.
* :func:`download_file` downloads one URL to ``dest`` through ``dest.part``,
  resuming with an HTTP ``Range`` request after an interruption, retrying with
  exponential backoff on connection errors, and verifying size and checksum
  before renaming ``dest.part`` to ``dest``.  An existing ``dest`` is checked
  and skipped (no request is made) if it matches; if it does not match, an
  error names it and asks the user to remove it (user files are never deleted).
* :func:`download_record` downloads all (or selected) files of a record.

Nothing in this module touches the network at import time.
"""
from __future__ import annotations

import fnmatch
import hashlib
import http.client
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "DEFAULT_API_URL",
    "DCASE2026_TASK4_DEV_RECORD",
    "RemoteFile",
    "DownloadError",
    "ChecksumMismatchError",
    "fetch_record_files",
    "download_file",
    "download_record",
    "file_checksum",
]

DEFAULT_API_URL = "https://zenodo.org/api/records/"
DCASE2026_TASK4_DEV_RECORD = 19328046
_USER_AGENT = "s5tse-download/1.0 (+python-urllib)"
_HASH_BLOCK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed, or a local file does not match what the server lists."""


class ChecksumMismatchError(DownloadError):
    """A file's size or checksum differs from the expected one."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a Zenodo record."""

    name: str
    url: str
    size: Optional[int] = None
    checksum: Optional[str] = None  # "md5:<hex>" / "sha256:<hex>"


# --------------------------------------------------------------------------- #
# Record listing
# --------------------------------------------------------------------------- #
def _record_url(record_id: Union[int, str], api_url: str) -> str:
    if not api_url.endswith("/"):
        api_url += "/"
    return f"{api_url}{record_id}"


def _iter_file_entries(files) -> Iterable[dict]:
    # Zenodo's legacy serializer: a list; InvenioRDM: {"entries": {key: {...}}} or a list.
    if isinstance(files, dict):
        files = files.get("entries", [])
        if isinstance(files, dict):
            files = list(files.values())
    return files or []


def fetch_record_files(record_id: Union[int, str], api_url: str = DEFAULT_API_URL, *,
                       timeout: float = 60) -> List[RemoteFile]:
    """List the files of a Zenodo record.

    Sends ``GET {api_url}{record_id}`` and reads the ``files`` list of the
    JSON answer (``key``/``filename``, ``size``/``filesize``, ``checksum``
    and ``links.self``/``links.content``/``links.download``).
    """
    url = _record_url(record_id, api_url)
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            record = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        raise DownloadError(f"GET {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise DownloadError(f"GET {url}: {e}") from e
    except ValueError as e:
        raise DownloadError(f"GET {url}: answer is not JSON ({e})") from e
    out = []
    for entry in _iter_file_entries(record.get("files")):
        name = entry.get("key") or entry.get("filename")
        links = entry.get("links") or {}
        link = links.get("self") or links.get("content") or links.get("download")
        if not name or not link:
            continue
        size = entry.get("size", entry.get("filesize"))
        checksum = entry.get("checksum")
        if checksum and ":" not in checksum:
            checksum = "md5:" + checksum  # Zenodo's legacy format is bare md5
        out.append(RemoteFile(name=name, url=link, size=int(size) if size is not None else None,
                              checksum=checksum))
    if not out:
        raise DownloadError(f"GET {url}: the record lists no files")
    return out


# --------------------------------------------------------------------------- #
# Checksums
# --------------------------------------------------------------------------- #
def _new_hasher(checksum: Optional[str]):
    if not checksum:
        return None, None
    if ":" in checksum:
        algo, hexdigest = checksum.split(":", 1)
    else:
        hexdigest = checksum
        algo = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}.get(len(checksum), "")
    algo = algo.lower()
    if algo not in hashlib.algorithms_guaranteed:
        raise DownloadError(f"unsupported checksum {checksum!r} (expected md5:/sha256:<hex>)")
    return hashlib.new(algo), hexdigest.lower()


def file_checksum(path: PathLike, algo: str = "md5") -> str:
    """Return ``"<algo>:<hex>"`` of a local file."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_HASH_BLOCK), b""):
            h.update(block)
    return f"{algo}:{h.hexdigest()}"


def _check_complete(path: Path, size: Optional[int], checksum: Optional[str]) -> Optional[str]:
    """None if ``path`` matches size/checksum, else a description of the mismatch."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        return f"size {actual_size} bytes, expected {size}"
    hasher, expected = _new_hasher(checksum)
    if hasher is not None:
        algo = hasher.name
        actual = file_checksum(path, algo).split(":", 1)[1]
        if actual != expected:
            return f"{algo} {actual}, expected {expected}"
    return None


# --------------------------------------------------------------------------- #
# Download
# --------------------------------------------------------------------------- #
def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"


class _Progress:
    """Progress of one download: a tqdm bar when stderr is a terminal
    (:mod:`s5tse.utils.progress`), else a line every ``interval`` seconds."""

    def __init__(self, name: str, total: Optional[int], enabled: bool, interval: float):
        from s5tse.utils.progress import progress_bar, progress_enabled

        self.name, self.total, self.enabled, self.interval = name, total, enabled, interval
        self.t0 = self.last = time.monotonic()
        self.start_bytes: Optional[int] = None
        self.bar = (progress_bar(total=total, desc=name, unit="B", unit_scale=True,
                                 unit_divisor=1024) if enabled and progress_enabled() else None)

    def begin(self, done: int) -> None:
        """Called when the first attempt starts receiving data at byte ``done``."""
        if self.start_bytes is None:
            self.start_bytes, self.t0 = done, time.monotonic()

    def update(self, done: int, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if final:
                self.bar.close()
            return
        now = time.monotonic()
        self.begin(done)
        if not final and now - self.last < self.interval:
            return
        self.last = now
        rate = (done - self.start_bytes) / max(now - self.t0, 1e-6) / 1e6
        total = f" of {_human(self.total)}" if self.total else ""
        pct = f" ({100.0 * done / self.total:.0f}%)" if self.total else ""
        print(f"{self.name}: {_human(done)}{total}{pct}, {rate:.2f} MB/s"
              + (", done" if final else ""), file=sys.stderr, flush=True)


class _Retryable(Exception):
    pass


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": _USER_AGENT}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _transfer(url: str, part: Path, size: Optional[int], hasher_factory, state: dict,
              chunk_size: int, timeout: float, progress: _Progress) -> None:
    """One attempt: append to ``part`` from its current length. Raises _Retryable."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is not None and have == size and have > 0:
        return  # the .part is complete; the caller verifies it
    try:
        resp = _open(url, have, timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have > 0:  # range not satisfiable: the .part is already complete (or bogus)
            e.close()
            if size is None or have == size:
                return
            part.unlink()
            raise _Retryable(f"HTTP 416 for a {have}-byte partial file; restarting from zero")
        if e.code >= 500 or e.code in (408, 429):
            raise _Retryable(f"HTTP {e.code} {e.reason}") from e
        raise DownloadError(f"GET {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
        raise _Retryable(str(e)) from e

    with resp:
        status = getattr(resp, "status", 200)
        mode = "ab"
        if have > 0 and status == 206:
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                part.unlink()
                raise _Retryable(f"server answered Content-Range {resp.headers.get('Content-Range')!r} "
                                 f"to 'Range: bytes={have}-'; restarting from zero")
        elif have > 0:  # 200: the server ignored the Range request
            mode, have = "wb", 0
        if mode == "wb" or state.get("hasher_for") != have:
            # (Re)build the running hash of what is already on disk.
            state["hasher"] = hasher_factory()
            if state["hasher"] is not None and have > 0:
                with open(part, "rb") as f:
                    for block in iter(lambda: f.read(_HASH_BLOCK), b""):
                        state["hasher"].update(block)
        length = resp.headers.get("Content-Length")
        expected_end = have + int(length) if length is not None else size
        done = have
        state["hasher_for"] = done
        progress.begin(done)
        try:
            with open(part, mode) as out:
                while True:
                    chunk = resp.read(chunk_size)
                    if not chunk:
                        break
                    out.write(chunk)
                    if state["hasher"] is not None:
                        state["hasher"].update(chunk)
                    done += len(chunk)
                    state["hasher_for"] = done
                    state["progressed"] = True
                    progress.update(done)
                    if size is not None and done > size:
                        break
        except (http.client.HTTPException, ConnectionError, TimeoutError, urllib.error.URLError) as e:
            raise _Retryable(f"connection lost after {done} bytes: {e}") from e
    if expected_end is not None and done < expected_end:
        raise _Retryable(f"connection closed after {done} of {expected_end} bytes")


def download_file(url: str, dest: PathLike, *, size: Optional[int] = None,
                  checksum: Optional[str] = None, chunk_size: int = 1 << 20, retries: int = 3,
                  timeout: float = 60, progress: bool = True, backoff: float = 2.0,
                  progress_interval: float = 5.0) -> Path:
    """Download ``url`` to ``dest``, resumably, and verify it.

    Args:
      url: http(s) URL.
      dest: final path; data go to ``dest + ".part"`` first and the rename
        to ``dest`` (atomic) happens only after size and checksum match.
      size: expected size in bytes (optional).
      checksum: expected ``"md5:<hex>"`` / ``"sha256:<hex>"`` (optional).
      chunk_size: bytes per read.
      retries: how many times a failed attempt (connection error, timeout,
        truncated body, HTTP 5xx/408/429) is retried, with exponential
        backoff ``backoff * 2**k`` seconds.  An attempt that received data
        does not use up a retry.  A ``.part`` left by an earlier attempt or
        run is resumed with ``Range: bytes=<len>-``: the data are appended if
        the server answers 206, and the download restarts from zero if it
        answers 200.
      timeout: socket timeout in seconds.
      progress: print a progress line (bytes, MB/s) to stderr at most every
        ``progress_interval`` seconds.

    Returns:
      ``Path(dest)``.

    Raises:
      ChecksumMismatchError: an existing ``dest`` does not match (remove it
        and rerun), or the downloaded data do not match.
      DownloadError: the download failed after all retries, or a 4xx answer.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.exists():
        problem = _check_complete(dest, size, checksum)
        if problem is None:
            return dest
        raise ChecksumMismatchError(
            f"{dest}: existing file does not match the download listing ({problem}). "
            f"It may be truncated, corrupt or another version; remove it and rerun to download it again.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    hasher0, expected_hex = _new_hasher(checksum)
    hasher_factory = (lambda: hashlib.new(hasher0.name)) if hasher0 is not None else (lambda: None)
    state: dict = {"hasher": None, "hasher_for": None}
    meter = _Progress(dest.name, size, progress, progress_interval)
    failures = 0
    while True:
        state["progressed"] = False
        try:
            _transfer(url, part, size, hasher_factory, state, chunk_size, timeout, meter)
            break
        except _Retryable as e:
            if state["progressed"]:
                failures = 0
            failures += 1
            if failures > retries:
                raise DownloadError(f"{dest.name}: download from {url} failed after {retries} "
                                    f"retries: {e} (rerun to resume from {part})") from None
            wait = min(backoff * 2 ** (failures - 1), 60.0)
            if progress:
                print(f"{dest.name}: {e}; retrying in {wait:.1f} s", file=sys.stderr, flush=True)
            time.sleep(wait)

    have = part.stat().st_size if part.exists() else 0
    if not part.exists():
        part.touch()
    if size is not None and have != size:
        part.unlink()
        raise ChecksumMismatchError(f"{dest.name}: downloaded {have} bytes, expected {size}; "
                                    f"the partial file was removed, rerun to try again")
    if expected_hex is not None:
        if state.get("hasher") is None or state.get("hasher_for") != have:
            actual = file_checksum(part, hasher0.name).split(":", 1)[1]
        else:
            actual = state["hasher"].hexdigest()
        if actual != expected_hex:
            part.unlink()
            raise ChecksumMismatchError(
                f"{dest.name}: downloaded data fail the checksum check ({hasher0.name} {actual}, "
                f"expected {expected_hex}); the partial file was removed, rerun to try again")
    meter.update(have, final=True)
    os.replace(part, dest)
    return dest


def download_record(record_id: Union[int, str], out_dir: PathLike, *,
                    api_url: str = DEFAULT_API_URL, include: Optional[Sequence[str]] = None,
                    **download_kwargs) -> List[Path]:
    """Download the files of a Zenodo record into ``out_dir``, one after the other.

    Args:
      record_id: Zenodo record id (19328046 = DCASE 2026 Task 4 dev set).
      out_dir: destination folder (created).
      api_url: records API prefix; ``{api_url}{record_id}`` is requested.
      include: optional glob patterns (``fnmatch``) on file names; only
        matching files are downloaded.
      **download_kwargs: passed on to :func:`download_file`.

    Returns:
      the local paths, in the record's order.
    """
    out_dir = Path(out_dir)
    files = fetch_record_files(record_id, api_url, timeout=download_kwargs.get("timeout", 60))
    if include:
        selected = [f for f in files if any(fnmatch.fnmatchcase(f.name, g) for g in include)]
        if not selected:
            raise DownloadError(f"record {record_id}: no file matches {list(include)}; "
                                f"files are: {', '.join(f.name for f in files)}")
        files = selected
    paths = []
    for f in files:
        if "/" in f.name or "\\" in f.name or f.name in (".", ".."):
            raise DownloadError(f"record {record_id}: refusing unsafe file name {f.name!r}")
        paths.append(download_file(f.url, out_dir / f.name, size=f.size, checksum=f.checksum,
                                   **download_kwargs))
    return paths
