"""Join split ("multi-part") Info-ZIP archives and extract zip files safely.

The DCASE 2026 Task 4 development set is published on Zenodo as a split
archive: ``DCASE2026Task4Dataset.z01 ... .z10`` plus ``DCASE2026Task4Dataset.zip``
(the last part, holding the central directory).  The official instructions
join it with ``zip -s 0 DCASE2026Task4Dataset.zip --out Full.zip`` and then
unzip ``Full.zip``.

:func:`join_split_zip` does the same.  By default (``use_zip_tool=True``) it
runs the Info-ZIP ``zip`` program when it is on ``PATH``; otherwise (or with
``use_zip_tool=False``) it uses a pure-Python joiner that streams the parts
into one file and rewrites the central directory and end-of-central-directory
records so that every offset is absolute and every disk number is 0 (zip64
records are kept, and created when an offset no longer fits in 32 bits).
Either way the result is checked with :meth:`zipfile.ZipFile.testzip` and
written atomically; if the ``zip`` program fails or its output does not pass
the check, the pure-Python joiner is used instead (Info-ZIP 3.0's ``zip -s 0``
loses data of an entry whose compressed data span more than two parts).

:func:`extract_zip` extracts an archive into a folder, refusing absolute and
``..`` member names, skipping members that are already extracted, and leaves
a ``.extracted`` marker when it is done.

Split-archive layout (PKWARE APPNOTE 8.5): part ``.z01`` is disk 0, ``.zNN``
is disk NN-1 and the ``.zip`` file is the last disk.  The first part starts
with the 4-byte spanning signature ``PK\\x07\\x08``.  Central-directory
headers store the disk on which each entry starts and the offset of its local
header *relative to that disk*; the end-of-central-directory record stores the
disk on which the central directory starts and its offset in that disk.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path
from typing import List, Optional, Sequence, Union

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "ZipJoinError",
    "UnsafeZipMemberError",
    "split_part_paths",
    "join_split_zip",
    "extract_zip",
    "is_split_archive",
    "EXTRACTED_MARKER",
]

EXTRACTED_MARKER = ".extracted"

_SPAN_SIG = b"PK\x07\x08"
_EOCD_SIG = b"PK\x05\x06"
_Z64_EOCD_SIG = b"PK\x06\x06"
_Z64_LOC_SIG = b"PK\x06\x07"
_CDH_SIG = b"PK\x01\x02"

_EOCD = struct.Struct("<4sHHHHIIH")  # 22 bytes
_Z64_LOC = struct.Struct("<4sIQI")  # 20 bytes
_Z64_EOCD = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes
_CDH = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
_ZIP64_ID = 0x0001
_COPY_CHUNK = 1 << 20


class ZipJoinError(RuntimeError):
    """A split archive is incomplete, malformed, or could not be joined."""


class UnsafeZipMemberError(ValueError):
    """A zip member name would be written outside the destination folder."""


# --------------------------------------------------------------------------- #
# Reading split archives
# --------------------------------------------------------------------------- #
def _read_eocd(path: Path):
    """Return (eocd_tuple, eocd_pos, file_size, comment) of the last record in ``path``."""
    size = path.stat().st_size
    tail_len = min(size, _EOCD.size + 0xFFFF)
    with open(path, "rb") as f:
        f.seek(size - tail_len)
        tail = f.read(tail_len)
    pos = len(tail)
    while True:
        pos = tail.rfind(_EOCD_SIG, 0, pos)
        if pos < 0:
            raise ZipJoinError(f"{path}: no end-of-central-directory record; not a zip file")
        if pos + _EOCD.size <= len(tail):
            rec = _EOCD.unpack_from(tail, pos)
            if pos + _EOCD.size + rec[7] <= len(tail):
                comment = tail[pos + _EOCD.size: pos + _EOCD.size + rec[7]]
                return rec, size - tail_len + pos, size, comment, tail, pos


def _last_disk_number(last_part: Path) -> int:
    """Disk number of ``last_part`` (0 for an ordinary, non-split zip)."""
    rec, _, _, _, tail, pos = _read_eocd(last_part)
    disk = rec[1]
    if pos >= _Z64_LOC.size and tail[pos - _Z64_LOC.size: pos - _Z64_LOC.size + 4] == _Z64_LOC_SIG:
        loc = _Z64_LOC.unpack_from(tail, pos - _Z64_LOC.size)
        disk = max(disk if disk != _U16 else 0, loc[3] - 1)
    return disk


def is_split_archive(zip_path: PathLike) -> bool:
    """True if ``zip_path`` is the last part (``.zip``) of a split archive."""
    return _last_disk_number(Path(zip_path)) > 0


def _part_name(stem: str, number: int) -> str:
    return f"{stem}.z{number:02d}"


def split_part_paths(last_part: PathLike) -> List[Path]:
    """Return all parts of the split archive ending in ``last_part``, in disk order.

    The number of parts is read from the end-of-central-directory record of
    ``last_part`` (``X.zip``); the other parts must be ``X.z01 ... X.zNN`` in
    the same folder.  Raises :class:`ZipJoinError` listing the missing part
    numbers, if any.
    """
    last_part = Path(last_part)
    if not last_part.is_file():
        raise ZipJoinError(f"{last_part}: no such file")
    n_disks = _last_disk_number(last_part) + 1
    stem = last_part.name[:-4] if last_part.name.lower().endswith(".zip") else last_part.name
    parts = [last_part.with_name(_part_name(stem, i)) for i in range(1, n_disks)]
    missing = [i for i, p in enumerate(parts, start=1) if not p.is_file()]
    if missing:
        names = ", ".join(_part_name(stem, i) for i in missing)
        raise ZipJoinError(
            f"{last_part}: split archive of {n_disks} parts is incomplete; missing part(s) "
            f"{', '.join(f'{i:02d}' for i in missing)} ({names}) in {last_part.parent}"
        )
    return parts + [last_part]


class _Disks:
    """Random access to a sequence of part files as numbered disks."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)
        self.sizes = [p.stat().st_size for p in self.paths]
        self.starts = [0]
        for s in self.sizes[:-1]:
            self.starts.append(self.starts[-1] + s)

    def read(self, disk: int, offset: int, n: int) -> bytes:
        """Read ``n`` bytes starting at ``offset`` in ``disk``, continuing on later disks."""
        out = bytearray()
        while n > 0:
            if disk >= len(self.paths):
                raise ZipJoinError("archive structure points past the last part")
            if offset >= self.sizes[disk]:
                offset -= self.sizes[disk]
                disk += 1
                continue
            with open(self.paths[disk], "rb") as f:
                f.seek(offset)
                chunk = f.read(min(n, self.sizes[disk] - offset))
            out += chunk
            n -= len(chunk)
            disk, offset = disk + 1, 0
        return bytes(out)


def _parse_extra(extra: bytes):
    """Split an extra field into [(header_id, data)] plus any malformed remainder."""
    fields, i = [], 0
    while i + 4 <= len(extra):
        hid, ln = struct.unpack_from("<HH", extra, i)
        if i + 4 + ln > len(extra):
            break
        fields.append((hid, extra[i + 4: i + 4 + ln]))
        i += 4 + ln
    return fields, extra[i:]


def _rewrite_central_directory(cd: bytes, n_entries: int, disks: _Disks, drop: int,
                               force_zip64: bool) -> bytes:
    """Return the central directory with absolute offsets and all disk numbers 0."""
    out = bytearray()
    pos = 0
    for k in range(n_entries):
        if cd[pos: pos + 4] != _CDH_SIG or pos + _CDH.size > len(cd):
            raise ZipJoinError(f"central directory entry {k} is malformed")
        h = list(_CDH.unpack_from(cd, pos))
        name_len, extra_len, comment_len = h[10], h[11], h[12]
        p = pos + _CDH.size
        name = cd[p: p + name_len]
        extra = cd[p + name_len: p + name_len + extra_len]
        comment = cd[p + name_len + extra_len: p + name_len + extra_len + comment_len]
        pos = p + name_len + extra_len + comment_len

        csize, usize, disk, offset = h[8], h[9], h[13], h[16]
        csize_val, usize_val = csize, usize
        fields, rest = _parse_extra(extra)
        z64_index = next((i for i, (hid, _) in enumerate(fields) if hid == _ZIP64_ID), None)
        if z64_index is not None:
            data, q = fields[z64_index][1], 0

            def take(fmt, size):
                nonlocal q
                if q + size > len(data):
                    raise ZipJoinError(f"{name!r}: truncated zip64 extra field")
                value = struct.unpack_from(fmt, data, q)[0]
                q += size
                return value

            if usize == _U32:
                usize_val = take("<Q", 8)
            if csize == _U32:
                csize_val = take("<Q", 8)
            if offset == _U32:
                offset = take("<Q", 8)
            if disk == _U16:
                disk = take("<I", 4)
        if disk >= len(disks.paths):
            raise ZipJoinError(f"{name!r}: starts on disk {disk}, but there are {len(disks.paths)} parts")
        abs_offset = disks.starts[disk] + offset - drop
        if abs_offset < 0:
            raise ZipJoinError(f"{name!r}: negative local-header offset")

        # Sizes stay where they were (the local header mirrors that choice);
        # the offset moves into zip64 when it no longer fits, disk is always 0.
        z64 = b""
        if h[9] == _U32:
            z64 += struct.pack("<Q", usize_val)
        if h[8] == _U32:
            z64 += struct.pack("<Q", csize_val)
        offset_in_z64 = abs_offset >= _U32 or h[16] == _U32 or force_zip64
        if offset_in_z64:
            z64 += struct.pack("<Q", abs_offset)
        new_fields = [f for f in fields if f[0] != _ZIP64_ID]
        if z64:
            new_fields.insert(z64_index if z64_index is not None else len(new_fields), (_ZIP64_ID, z64))
        new_extra = b"".join(struct.pack("<HH", hid, len(d)) + d for hid, d in new_fields) + rest
        if len(new_extra) > _U16:
            raise ZipJoinError(f"{name!r}: extra field too long after rewriting")
        h[11] = len(new_extra)
        h[13] = 0
        h[16] = _U32 if offset_in_z64 else abs_offset
        out += _CDH.pack(*h) + name + new_extra + comment
    return bytes(out)


def _join_python(parts: Sequence[Path], out_tmp: Path, force_zip64: bool = False) -> None:
    disks = _Disks(parts)
    last = len(parts) - 1
    rec, _, _, comment, tail, pos = _read_eocd(parts[-1])
    _, disk_no, cd_disk, _, n_entries, cd_size, cd_offset, _ = rec
    z64_versions = None
    if pos >= _Z64_LOC.size and tail[pos - _Z64_LOC.size: pos - _Z64_LOC.size + 4] == _Z64_LOC_SIG:
        _, z_disk, z_offset, _ = _Z64_LOC.unpack_from(tail, pos - _Z64_LOC.size)
        z = _Z64_EOCD.unpack(disks.read(z_disk, z_offset, _Z64_EOCD.size))
        if z[0] != _Z64_EOCD_SIG:
            raise ZipJoinError(f"{parts[-1]}: zip64 end-of-central-directory record not found")
        z64_versions = (z[2], z[3])
        disk_no, cd_disk, n_entries, cd_size, cd_offset = z[4], z[5], z[7], z[8], z[9]
    if disk_no != last:
        raise ZipJoinError(f"{parts[-1]}: is disk {disk_no}, expected {last}")

    with open(parts[0], "rb") as f:
        drop = len(_SPAN_SIG) if f.read(4) == _SPAN_SIG else 0
    cd = disks.read(cd_disk, cd_offset, cd_size)
    if len(cd) != cd_size:
        raise ZipJoinError("central directory is truncated")
    new_cd = _rewrite_central_directory(cd, n_entries, disks, drop, force_zip64)
    data_len = disks.starts[cd_disk] + cd_offset - drop

    with open(out_tmp, "wb") as out:
        for d in range(cd_disk + 1):
            begin = drop if d == 0 else 0
            end = cd_offset if d == cd_disk else disks.sizes[d]
            with open(parts[d], "rb") as f:
                f.seek(begin)
                left = end - begin
                while left > 0:
                    chunk = f.read(min(_COPY_CHUNK, left))
                    if not chunk:
                        raise ZipJoinError(f"{parts[d]}: shorter than expected")
                    out.write(chunk)
                    left -= len(chunk)
        if out.tell() != data_len:
            raise ZipJoinError("joined data region has the wrong length")
        new_cd_offset, new_cd_size = data_len, len(new_cd)
        out.write(new_cd)
        need_z64 = (z64_versions is not None or force_zip64 or n_entries >= _U16
                    or new_cd_size >= _U32 or new_cd_offset >= _U32)
        if need_z64:
            z64_pos = out.tell()
            made, needed = z64_versions or (45, 45)
            out.write(_Z64_EOCD.pack(_Z64_EOCD_SIG, _Z64_EOCD.size - 12, made, needed, 0, 0,
                                     n_entries, n_entries, new_cd_size, new_cd_offset))
            out.write(_Z64_LOC.pack(_Z64_LOC_SIG, 0, z64_pos, 1))
        out.write(_EOCD.pack(_EOCD_SIG, 0, 0, min(n_entries, _U16), min(n_entries, _U16),
                             min(new_cd_size, _U32), min(new_cd_offset, _U32), len(comment)))
        out.write(comment)
        out.flush()
        os.fsync(out.fileno())


def _join_zip_tool(zip_exe: str, last_part: Path, out_tmp: Path) -> None:
    # Info-ZIP insists that the --out name ends in ".zip".
    proc = subprocess.run([zip_exe, "-q", "-s", "0", str(last_part), "--out", str(out_tmp)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise ZipJoinError(f"'zip -s 0 {last_part} --out {out_tmp}' failed "
                           f"(exit {proc.returncode}): {proc.stdout.strip()}")


def _verify(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise ZipJoinError(f"joined archive {path} is not readable ({type(e).__name__}: {e})") from e
    if bad is not None:
        raise ZipJoinError(f"joined archive {path}: member {bad!r} fails its CRC check")


def join_split_zip(last_part: PathLike, out: PathLike, *, use_zip_tool: bool = True,
                   verify: bool = True, force_zip64: bool = False) -> Path:
    """Join the split archive ``X.z01 ... X.zNN`` + ``X.zip`` into one zip file ``out``.

    Args:
      last_part: the ``.zip`` part of the split archive; the ``.zNN`` parts must
        sit beside it (a :class:`ZipJoinError` lists missing part numbers).
      out: the joined zip to write (e.g. ``Full.zip``).  It is first written
        to ``<out>.tmp.zip`` and renamed when complete and verified.
      use_zip_tool: run ``zip -s 0 X.zip --out OUT`` (Info-ZIP, as in the
        official instructions) when ``zip`` is found on ``PATH``; if False or
        ``zip`` is absent, use the built-in pure-Python joiner.  If ``zip``
        fails, or its output fails verification, the built-in joiner is used
        instead (Info-ZIP 3.0's ``zip -s 0`` loses data of an entry that
        spans more than two parts).
      verify: check the joined file with ``zipfile.ZipFile.testzip()`` (reads
        and CRC-checks every member).
      force_zip64: (pure-Python joiner only) always write zip64 offsets and
        end-of-central-directory records; used in tests.

    Returns:
      ``Path(out)``.
    """
    last_part, out = Path(last_part), Path(out)
    parts = split_part_paths(last_part)
    if len(parts) == 1:
        raise ZipJoinError(f"{last_part}: not a split archive (nothing to join); extract it directly")
    tmp = out.with_name(out.name + ".tmp.zip")
    tmp.unlink(missing_ok=True)
    zip_exe = shutil.which("zip") if use_zip_tool else None
    try:
        if zip_exe:
            try:
                _join_zip_tool(zip_exe, last_part, tmp)
                if verify:
                    _verify(tmp)
            except ZipJoinError as e:
                # Info-ZIP 3.0's `zip -s 0` drops data of an entry that spans more than two
                # parts; the built-in joiner handles that, so fall back to it.
                print(f"join_split_zip: {e}; retrying with the built-in joiner", file=sys.stderr, flush=True)
                tmp.unlink(missing_ok=True)
                zip_exe = None
        if not zip_exe:
            _join_python(parts, tmp, force_zip64=force_zip64)
            if verify:
                _verify(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


# --------------------------------------------------------------------------- #
# Extraction
# --------------------------------------------------------------------------- #
def _safe_relpath(name: str) -> Optional[Path]:
    """Relative path for member ``name``, or None if it is unsafe."""
    if not name or "\x00" in name:
        return None
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) >= 2 and norm[1] == ":"):
        return None
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return Path(*parts) if parts else Path(".")


def _read_marker(marker: Path) -> Optional[dict]:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def extract_zip(zip_path: PathLike, dest_dir: PathLike, *, progress: bool = True,
                progress_interval: float = 5.0) -> Path:
    """Extract ``zip_path`` into ``dest_dir`` safely and resumably.

    * Every member name is checked before anything is written: absolute paths,
      drive letters and ``..`` components raise :class:`UnsafeZipMemberError`.
    * Each file is written to ``<file>.part`` and renamed when complete, so a
      file with the member's size is a finished file: members already
      extracted with the right size are skipped on a rerun.
    * When every member is in place, ``dest_dir/.extracted`` is written (JSON
      with the zip's name, size and member count).  If that marker already
      matches this zip, nothing is read at all.

    Returns:
      ``Path(dest_dir)``.
    """
    zip_path, dest_dir = Path(zip_path), Path(dest_dir)
    marker = dest_dir / EXTRACTED_MARKER
    zip_size = zip_path.stat().st_size
    old = _read_marker(marker)
    if old and old.get("zip") == zip_path.name and old.get("zip_size") == zip_size:
        return dest_dir
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        targets = []
        bad = []
        for info in infos:
            rel = _safe_relpath(info.filename)
            if rel is None:
                bad.append(info.filename)
            targets.append(rel)
        if bad:
            raise UnsafeZipMemberError(
                f"{zip_path}: refusing to extract unsafe member name(s) (absolute or with '..'): "
                + ", ".join(repr(b) for b in bad[:10]) + (" ..." if len(bad) > 10 else ""))
        dest_dir.mkdir(parents=True, exist_ok=True)
        root = dest_dir.resolve()
        last_report = time.monotonic()
        n_written = 0
        for k, (info, rel) in enumerate(zip(infos, targets), start=1):
            target = dest_dir / rel
            resolved = target.resolve()
            if resolved != root and root not in resolved.parents:
                raise UnsafeZipMemberError(
                    f"{zip_path}: member {info.filename!r} resolves outside {dest_dir}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if target.is_file() and target.stat().st_size == info.file_size:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            with zf.open(info) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK)
            os.replace(part, target)
            n_written += 1
            now = time.monotonic()
            if progress and now - last_report >= progress_interval:
                print(f"extract {zip_path.name}: {k}/{len(infos)} members", file=sys.stderr, flush=True)
                last_report = now
    if progress:
        print(f"extract {zip_path.name}: {len(infos)} members in {dest_dir} "
              f"({n_written} files written, the rest already there or folders)", file=sys.stderr, flush=True)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps({"zip": zip_path.name, "zip_size": zip_size, "members": len(infos)},
                              indent=1) + "\n")
    os.replace(tmp, marker)
    return dest_dir
