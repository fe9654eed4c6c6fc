"""Manifest and verified download of the published tagger weights (M2D, fPaSST, 2026 baseline).

The files (reference ``tagger_m2d_passt.md`` §1.3, §3.3, §4.2):

=====================  ========================================================================
name                   what / destination (relative to the downloads folder)
=====================  ========================================================================
``m2d_as_32k``         M2D-AS ViT-B, AudioSet fine-tuned, 32 kHz (nttcslab/m2d v0.3.0; NTT
                       evaluation-only licence), a zip; its member is extracted to
                       ``m2d/m2d_as_vit_base-80x1001p16x16p32k-240413_AS-FT_enconly/
                       weights_ep69it3124-0.47998.pth``  (default)
``fpasst_strong``      frame-level PaSST, AudioSet-strong (fschmid56/PretrainedSED v0.0.1, MIT):
                       ``fpasst/fpasst_strong_1.pt``  (default)
``dcase2026_baseline`` the official DCASE 2026 Task 4 baseline checkpoints (NTT licence), a zip;
                       ``dcase2026_baseline/{m2dat_1c,m2dat_4c,resunetk}.ckpt``  (optional)
=====================  ========================================================================

Integrity:

* Downloads go through :func:`s5tse.corpus.download.download_file` (``<file>.part`` resumed with
  HTTP ``Range``, retries with backoff, atomic rename).
* A file's sha256 is checked against the manifest when the manifest knows it.  The published
  sha256 values are not known here, so for the others the sha256 is recorded on the first
  successful download in a sidecar ``<file>.sha256`` (``sha256sum`` format) and every later run
  verifies the file against it (trust on first use).  The sidecar is written only after the
  file passed its content check, so a file with a sidecar is known to be good.
* Zips are CRC-tested as a whole (``ZipFile.testzip``); each wanted member is streamed into a
  temporary file next to its destination (the CRC is checked again while reading), checked and
  then renamed into place (``os.replace``).  Nothing of the archive's own member paths is used to
  build local paths.
* Every weight file must load with ``torch.load(path, map_location="cpu", weights_only=True)``
  and hold a state dict (``check="torch"``); the baseline's Lightning ``.ckpt`` files are only
  checked as intact PyTorch zip containers (``check="torch_zip"``: every record's CRC), because
  their pickled training state may need more than ``weights_only=True`` allows.
* A file that fails a check right after it was downloaded is moved aside to ``<file>.bad`` and
  the error names it; a file that was already there is never moved or deleted (the error asks
  the user to remove it).

Nothing touches the network at import time; ``torch`` is imported only to check a file.
"""
from __future__ import annotations

import hashlib
import os
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from s5tse.corpus.download import (
    ChecksumMismatchError,
    DownloadError,
    download_file,
    file_checksum,
)
from s5tse.fileio.atomic import atomic_path, atomic_write_text

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "PretrainedError",
    "Output",
    "PretrainedItem",
    "MANIFEST",
    "DEFAULT_NAMES",
    "select",
    "resolve_url",
    "sidecar_path",
    "read_sidecar",
    "output_path",
    "ensure_item",
    "check_item",
    "check_content",
]

_HASH_BLOCK = 1 << 20
_CHECKS = ("torch", "torch_zip", None)


class PretrainedError(DownloadError):
    """A pretrained file cannot be downloaded, extracted or verified (one line, names the file)."""


def _safe_relative(rel: str) -> None:
    parts = rel.split("/")
    if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe relative path {rel!r}")


@dataclass(frozen=True)
class Output:
    """One file that ends up in the downloads folder.

    Attributes:
      key: unique name of the file (printed with its path).
      dest: destination, relative to the downloads folder (``/``-separated).
      member: path inside the zip, for files extracted from an archive (``None`` for a plain
        download).  When no member has exactly this path, a single member whose path ends in
        ``/<member>`` is accepted (archives that wrap their files in a folder).
      sha256: expected sha256 (hex) of the file, if known.
      size: expected size in bytes, if known.
      check: ``"torch"`` (``torch.load(weights_only=True)`` gives a dict of tensors),
        ``"torch_zip"`` (intact PyTorch zip container, no unpickling) or ``None``.
    """

    key: str
    dest: str
    member: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None
    check: Optional[str] = "torch"


@dataclass(frozen=True)
class PretrainedItem:
    """One published asset: a plain weight file, or a zip with the wanted members.

    Attributes:
      name: the name used on the command line (``--names``).
      url: where it is published.
      outputs: the files it gives (one plain file, or the zip's members).
      archive: for zips, where the downloaded archive is stored (relative to the downloads folder).
      sha256 / size: expected sha256 (hex) / bytes of the *archive*, if known (zips only; a
        plain file's values live in its :class:`Output`).
      default: downloaded when no ``--names`` are given.
      licence: a short note, printed in ``--help``.
    """

    name: str
    url: str
    outputs: Tuple[Output, ...]
    archive: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None
    default: bool = True
    description: str = ""
    licence: str = ""

    def __post_init__(self):
        if not self.outputs:
            raise ValueError(f"{self.name}: no outputs")
        if self.archive is None and (len(self.outputs) != 1 or self.outputs[0].member is not None):
            raise ValueError(f"{self.name}: a plain download has exactly one output without member")
        if self.archive is not None and any(o.member is None for o in self.outputs):
            raise ValueError(f"{self.name}: every output of an archive needs a member")
        for o in self.outputs:
            if o.check not in _CHECKS:
                raise ValueError(f"{self.name}: unknown check {o.check!r}")
            _safe_relative(o.dest)
        if self.archive is not None:
            _safe_relative(self.archive)


_M2D_AS_32K = "m2d_as_vit_base-80x1001p16x16p32k-240413_AS-FT_enconly"
_M2D_WEIGHTS = "weights_ep69it3124-0.47998.pth"

MANIFEST: Dict[str, PretrainedItem] = {
    item.name: item for item in (
        PretrainedItem(
            name="m2d_as_32k",
            url=f"https://github.com/nttcslab/m2d/releases/download/v0.3.0/{_M2D_AS_32K}.zip",
            archive=f"m2d/{_M2D_AS_32K}.zip",
            outputs=(Output(key="m2d_as_32k", member=f"{_M2D_AS_32K}/{_M2D_WEIGHTS}",
                            dest=f"m2d/{_M2D_AS_32K}/{_M2D_WEIGHTS}"),),
            description="M2D-AS ViT-B fine-tuned on AudioSet-2M, 32 kHz (both DCASE baselines)",
            licence="NTT evaluation-only licence: do not redistribute",
        ),
        PretrainedItem(
            name="fpasst_strong",
            url="https://github.com/fschmid56/PretrainedSED/releases/download/v0.0.1/fpasst_strong_1.pt",
            outputs=(Output(key="fpasst_strong", dest="fpasst/fpasst_strong_1.pt"),),
            description="frame-level PaSST trained on AudioSet-strong (PretrainedSED)",
            licence="MIT",
        ),
        PretrainedItem(
            name="dcase2026_baseline",
            url="https://github.com/nttcslab/dcase2026_task4_baseline/releases/download/v1.0.0/"
                "baseline_checkpoint.zip",
            archive="dcase2026_baseline/baseline_checkpoint.zip",
            outputs=tuple(Output(key=f"baseline_{n}", member=f"{n}.ckpt",
                                 dest=f"dcase2026_baseline/{n}.ckpt", check="torch_zip")
                          for n in ("m2dat_1c", "m2dat_4c", "resunetk")),
            default=False,
            description="official DCASE 2026 Task 4 baseline (M2DAT 1c/4c taggers, ResUNetK)",
            licence="NTT evaluation-only licence: do not redistribute",
        ),
    )
}

DEFAULT_NAMES: Tuple[str, ...] = tuple(n for n, it in MANIFEST.items() if it.default)


# --------------------------------------------------------------------------- #
# small helpers
# --------------------------------------------------------------------------- #
def select(names: Optional[Sequence[str]] = None,
           manifest: Optional[Dict[str, PretrainedItem]] = None) -> List[PretrainedItem]:
    """The manifest items for ``names`` (``None``/empty: the defaults; ``"all"``: every item)."""
    manifest = MANIFEST if manifest is None else manifest
    if not names:
        return [it for it in manifest.values() if it.default]
    if "all" in names:
        return list(manifest.values())
    unknown = [n for n in names if n not in manifest]
    if unknown:
        raise PretrainedError(f"unknown pretrained name(s) {', '.join(unknown)}; "
                              f"known: {', '.join(manifest)} (or all)")
    seen: List[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return [manifest[n] for n in seen]


def resolve_url(url: str, base_url_override: Optional[str] = None) -> str:
    """``url`` with its scheme and host replaced by ``base_url_override`` (a mirror).

    ``resolve_url("https://github.com/o/r/releases/download/v1/f.pt", "http://127.0.0.1:8000/m")``
    is ``"http://127.0.0.1:8000/m/o/r/releases/download/v1/f.pt"``; the path is kept.
    """
    if not base_url_override:
        return url
    path = urllib.parse.urlsplit(url).path
    return base_url_override.rstrip("/") + path


def output_path(download_dir: PathLike, rel: str) -> Path:
    """``download_dir / rel`` (``rel`` uses ``/``)."""
    return Path(download_dir).joinpath(*rel.split("/"))


def sidecar_path(path: PathLike) -> Path:
    """``<path>.sha256``."""
    p = Path(path)
    return p.with_name(p.name + ".sha256")


def read_sidecar(path: PathLike) -> Optional[str]:
    """The sha256 recorded next to ``path`` (``None`` without a sidecar); bad sidecars raise."""
    side = sidecar_path(path)
    if not side.is_file():
        return None
    text = side.read_text(encoding="utf-8", errors="replace").split()
    value = text[0].lower() if text else ""
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise PretrainedError(f"{side}: not a sha256 sidecar (expected '<64 hex digits>  <name>'); "
                              f"remove it and rerun")
    return value


def _write_sidecar(path: Path, digest: str) -> None:
    atomic_write_text(sidecar_path(path), f"{digest}  {path.name}\n")


def _sha256(path: Path) -> str:
    return file_checksum(path, "sha256").split(":", 1)[1]


def _expected(path: Path, known: Optional[str]) -> Tuple[Optional[str], str]:
    """(expected sha256, where it comes from) for ``path``."""
    if known:
        return known.lower(), "the manifest"
    recorded = read_sidecar(path)
    if recorded:
        return recorded, f"{sidecar_path(path)} (recorded at the first download)"
    return None, ""


def _move_aside(path: Path) -> Path:
    bad = path.with_name(path.name + ".bad")
    os.replace(path, bad)
    return bad


def _strip_label(msg: str, path: Path) -> str:
    for prefix in (f"{os.fspath(path)}: ", f"{path}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


# --------------------------------------------------------------------------- #
# content checks
# --------------------------------------------------------------------------- #
def _check_torch(path: Path) -> None:
    from s5tse.models.tagger.checkpoint import load_checkpoint_file, unwrap_state_dict

    obj = load_checkpoint_file(path, map_location="cpu")
    unwrap_state_dict(obj, path)


def _check_torch_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
                raise PretrainedError("not a PyTorch checkpoint (no data.pkl record)")
            bad = zf.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise PretrainedError(f"not an intact PyTorch zip checkpoint (truncated or corrupted): {e}") from e
    if bad is not None:
        raise PretrainedError(f"PyTorch zip record {bad!r} fails its CRC check (corrupted)")


def check_content(path: PathLike, check: Optional[str], label: Optional[str] = None) -> None:
    """Raise :class:`PretrainedError` naming ``label`` (default: ``path``) if the file is unusable."""
    path = Path(path)
    label = label or os.fspath(path)
    if check is None:
        return
    try:
        if check == "torch":
            _check_torch(path)
        elif check == "torch_zip":
            _check_torch_zip(path)
        else:
            raise ValueError(f"unknown check {check!r}")
    except PretrainedError as e:
        raise PretrainedError(f"{label}: {_strip_label(str(e), path)}") from e
    except Exception as e:  # CheckpointError, FileNotFoundError, OSError
        raise PretrainedError(f"{label}: {_strip_label(' '.join(str(e).split()), path)}") from e


# --------------------------------------------------------------------------- #
# verification of files already on disk
# --------------------------------------------------------------------------- #
def _state(path: Path, known: Optional[str], size: Optional[int]) -> str:
    """``"missing"``, ``"ok"`` (matches the known/recorded sha256) or ``"unverified"``.

    A file that does not match raises :class:`~s5tse.corpus.download.ChecksumMismatchError`.
    """
    if not path.is_file():
        return "missing"
    if size is not None and path.stat().st_size != size:
        raise ChecksumMismatchError(
            f"{path}: size {path.stat().st_size} bytes, expected {size}; it is truncated, "
            f"corrupt or another version: remove it and rerun")
    expected, source = _expected(path, known)
    if expected is None:
        return "unverified"
    actual = _sha256(path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{path}: sha256 {actual}, expected {expected} from {source}; it is corrupt or another "
            f"version: remove it (and {sidecar_path(path).name}) and rerun")
    return "ok"


# --------------------------------------------------------------------------- #
# download / extract
# --------------------------------------------------------------------------- #
def _download(url: str, dest: Path, known: Optional[str], size: Optional[int],
              item: PretrainedItem, download_kwargs: dict) -> None:
    expected, source = _expected(dest, known)
    try:
        download_file(url, dest, size=size, checksum=f"sha256:{expected}" if expected else None,
                      **download_kwargs)
    except ChecksumMismatchError as e:
        hint = (f"; if the published file changed, remove {sidecar_path(dest)} and rerun"
                if source != "the manifest" else "")
        raise PretrainedError(f"{item.name}: {url}: {e} (the expected sha256 comes from "
                              f"{source}){hint}") from e
    except DownloadError as e:
        raise PretrainedError(f"{item.name}: {url}: {e}") from e


def _find_member(zf: zipfile.ZipFile, member: str, archive: Path) -> zipfile.ZipInfo:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    exact = [i for i in infos if i.filename == member]
    if exact:
        return exact[0]
    tail = [i for i in infos if i.filename.endswith("/" + member)]
    if len(tail) == 1:
        return tail[0]
    names = [i.filename for i in infos]
    listing = ", ".join(names[:8]) + (f", ... ({len(names)} files)" if len(names) > 8 else "")
    if len(tail) > 1:
        raise PretrainedError(f"{archive}: member {member!r} is ambiguous "
                              f"({', '.join(i.filename for i in tail)})")
    raise PretrainedError(f"{archive}: has no member {member!r} (members: {listing or 'none'})")


def _test_archive(archive: Path, fresh: bool, url: str) -> None:
    """CRC-test the whole zip; a fresh download that fails is moved to ``.bad``."""
    problem = None
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                problem = f"member {bad!r} fails its CRC check"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError) as e:
        problem = f"not a valid zip archive ({e})"
    if problem is None:
        return
    if fresh:
        bad_path = _move_aside(archive)
        raise PretrainedError(f"{archive}: downloaded from {url}: {problem}; moved to {bad_path}, "
                              f"rerun to download it again")
    raise PretrainedError(f"{archive}: {problem}; remove it and rerun to download it again")


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: Output, dest: Path,
                    archive: Path) -> str:
    """Stream ``info`` into a temporary file, check it, rename it to ``dest``; returns its sha256."""
    label = f"{dest} (member {info.filename} of {archive})"
    h = hashlib.sha256()
    with atomic_path(dest) as tmp:  # renamed onto dest only if every check passes
        try:
            with zf.open(info) as src, open(tmp, "wb") as dst:
                for block in iter(lambda: src.read(_HASH_BLOCK), b""):
                    h.update(block)
                    dst.write(block)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
            raise PretrainedError(f"{label}: extraction failed: {e}") from e
        digest = h.hexdigest()
        if out.size is not None and info.file_size != out.size:
            raise PretrainedError(f"{label}: size {info.file_size} bytes, expected {out.size}")
        if out.sha256 and digest != out.sha256.lower():
            raise PretrainedError(f"{label}: sha256 {digest}, expected {out.sha256.lower()} "
                                  f"from the manifest")
        check_content(tmp, out.check, label)
    return digest


def ensure_item(item: PretrainedItem, download_dir: PathLike, *,
                base_url_override: Optional[str] = None, keep_archive: bool = True,
                log: Optional[Callable[[str], None]] = None, **download_kwargs) -> List[Path]:
    """Make every output of ``item`` present and verified under ``download_dir``.

    Already-complete outputs (matching the manifest's or the recorded sha256) are skipped without
    any request.  Missing ones are downloaded (resuming ``.part`` files) and, for zips,
    extracted; each new file is checked (see the module docstring) and its sha256 recorded.

    Args:
      item: a manifest item.
      download_dir: the downloads folder.
      base_url_override: mirror prefix replacing ``https://github.com`` (see :func:`resolve_url`).
      keep_archive: keep the downloaded zip (else it and its sidecar are removed after all its
        members were extracted).
      log: called with progress messages.
      **download_kwargs: passed on to :func:`s5tse.corpus.download.download_file`
        (``retries``, ``backoff``, ``timeout``, ``progress``, ...).

    Returns:
      the output paths, in manifest order.

    Raises:
      PretrainedError / ChecksumMismatchError (both :class:`DownloadError`): one line naming the
      file and, for downloads, the URL.
    """
    log = log or (lambda msg: None)
    download_dir = Path(download_dir)
    url = resolve_url(item.url, base_url_override)
    paths = [output_path(download_dir, o.dest) for o in item.outputs]
    states = [_state(p, o.sha256, o.size) for p, o in zip(paths, item.outputs)]

    # Files that are there but were never recorded (e.g. copied in by hand, or a run stopped
    # between rename and sidecar): check their content, then record them.
    for i, (p, o) in enumerate(zip(paths, item.outputs)):
        if states[i] == "unverified":
            check_content(p, o.check, f"{p} (already present, no {sidecar_path(p).name})")
            _write_sidecar(p, _sha256(p))
            log(f"{p}: present, sha256 recorded in {sidecar_path(p).name}")
            states[i] = "ok"
    if all(s == "ok" for s in states):
        log(f"{item.name}: complete, nothing to download")
        return paths

    if item.archive is None:
        out, dest = item.outputs[0], paths[0]
        log(f"{item.name}: downloading {url}")
        _download(url, dest, out.sha256, out.size, item, download_kwargs)
        try:
            check_content(dest, out.check, f"{dest} (downloaded from {url})")
        except PretrainedError as e:
            bad = _move_aside(dest)
            raise PretrainedError(f"{e}; moved to {bad}, rerun to download it again") from e
        _write_sidecar(dest, _sha256(dest))
        return paths

    archive = output_path(download_dir, item.archive)
    fresh = False
    if _state(archive, item.sha256, item.size) == "missing":
        log(f"{item.name}: downloading {url}")
        _download(url, archive, item.sha256, item.size, item, download_kwargs)
        fresh = True
    _test_archive(archive, fresh, url)
    if read_sidecar(archive) is None:
        _write_sidecar(archive, _sha256(archive))
    try:
        with zipfile.ZipFile(archive) as zf:
            wanted = [(o, p, _find_member(zf, o.member, archive))
                      for o, p, s in zip(item.outputs, paths, states) if s != "ok"]
            for out, dest, info in wanted:
                log(f"{item.name}: extracting {info.filename} to {dest}")
                digest = _extract_member(zf, info, out, dest, archive)
                _write_sidecar(dest, digest)
    except PretrainedError as e:
        raise PretrainedError(f"{e}; the archive itself is intact (CRC ok); if it is another "
                              f"version, remove {archive} and {sidecar_path(archive).name} and "
                              f"rerun") from e
    if not keep_archive:
        archive.unlink()
        side = sidecar_path(archive)
        if side.exists():
            side.unlink()
    return paths


def check_item(item: PretrainedItem, download_dir: PathLike) -> List[str]:
    """Problems with ``item``'s outputs under ``download_dir`` (no network, nothing written).

    Each problem is one line naming the file: missing, sha256 mismatch (against the manifest
    or the sidecar), or -- for a file without any recorded sha256 -- failing its content check.
    """
    problems = []
    for out in item.outputs:
        path = output_path(download_dir, out.dest)
        try:
            state = _state(path, out.sha256, out.size)
            if state == "unverified":
                check_content(path, out.check, f"{path} (no {sidecar_path(path).name})")
        except DownloadError as e:
            problems.append(str(e))
            continue
        if state == "missing":
            problems.append(f"{path}: missing ({item.name}, from {item.url})")
    return problems
