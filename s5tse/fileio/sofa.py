"""SOFA (AES69) room-impulse-response files: cached reading and atomic writing.

The DCASE 2026 Task 4 rooms are ``room_ir/{train,valid}/*.sofa`` files holding
FOA RIRs ``Data.IR`` [M measurements, R = 4 receivers (W, Y, Z, X), N samples]
for M source positions (``SourcePosition``; the mixture metadata quotes them in
Cartesian metres).

    rirs = load_sofa("data/dev_set/room_ir/train/place203.sofa", num_receivers=4)
    h = rirs.ir[rirs.index_of(event["event_position"][0])]     # [4, N] float32, read-only

:func:`load_sofa` returns a :class:`SofaRirs` with float32 IRs at the requested
rate (resampled with :func:`torchaudio.functional.resample` if the file has
another rate) and source positions converted to Cartesian metres. Results are
cached per process, keyed by absolute path, inode, mtime, size and target rate,
so a file is read once per process (per data-loader worker) and re-read if it
changes on disk. The cache holds at most ``SOFA_CACHE_SIZE`` files (environment
variable ``S5TSE_SOFA_CACHE_SIZE``, default 4); a real DCASE room (108 positions
x 4 x 174,763 samples) is about 300 MB as float32, so lower it when memory is
short. Returned arrays are read-only because they are shared through the cache:
copy before modifying.

``Data.Delay`` is ignored (assumed zero, as in the DCASE files).

:func:`write_sofa` writes the ``GeneralFIR`` convention (which sofar verifies;
``SingleRoomSRIR`` needs per-receiver string variables that the installed
netCDF4 cannot write), source positions Cartesian in metres, atomically.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import sofar

from s5tse.fileio.atomic import atomic_path

PathLike = Union[str, "os.PathLike[str]"]

SOFA_CONVENTION = "GeneralFIR"
SOFA_CACHE_SIZE = int(os.environ.get("S5TSE_SOFA_CACHE_SIZE", "4"))


class SofaError(ValueError):
    """A SOFA file is missing, unreadable or not what the caller expects."""


@dataclass(frozen=True, eq=False)
class SofaRirs:
    """RIRs of one SOFA file.

    Attributes:
        path: absolute path of the file.
        ir: [M, R, N] float32 impulse responses at ``sample_rate`` (read-only).
        positions: [M, 3] float64 source positions, Cartesian metres, in the
            file's coordinate system (``SourcePosition``; read-only).
        sample_rate: rate of ``ir`` in Hz.
        file_sample_rate: ``Data.SamplingRate`` as stored in the file.
    """

    path: str
    ir: np.ndarray
    positions: np.ndarray
    sample_rate: int
    file_sample_rate: float = 0.0

    @property
    def num_positions(self) -> int:
        return int(self.ir.shape[0])

    @property
    def num_receivers(self) -> int:
        return int(self.ir.shape[1])

    @property
    def length(self) -> int:
        """RIR length N in samples (at ``sample_rate``)."""
        return int(self.ir.shape[2])

    def index_of(self, position: Sequence[float], atol: float = 1e-6) -> int:
        """Index of the measurement whose position equals ``position`` [x, y, z] within ``atol``.

        Each coordinate must be within ``atol`` metres; if several measurements match,
        the nearest is returned. No match raises :class:`SofaError` naming the file,
        the position and the nearest stored position.
        """
        p = np.asarray(position, dtype=np.float64).reshape(-1)
        if p.shape != (3,):
            raise SofaError(f"{self.path}: position must be [x, y, z], got {list(p)}")
        diff = np.abs(self.positions - p[None, :])
        match = np.flatnonzero(np.all(diff <= atol, axis=1))
        dist = np.linalg.norm(self.positions - p[None, :], axis=1)
        if match.size == 0:
            near = int(np.argmin(dist))
            raise SofaError(
                f"{self.path}: no source position equals {p.tolist()} (atol {atol} m); "
                f"nearest is #{near} {self.positions[near].tolist()} at {dist[near]:.6g} m"
            )
        return int(match[np.argmin(dist[match])])


def _spherical_to_cartesian(sph: np.ndarray, angles_in_radians: bool) -> np.ndarray:
    """(azimuth, elevation, radius) -> (x, y, z); angles in degrees unless told otherwise."""
    az, el, r = sph[:, 0], sph[:, 1], sph[:, 2]
    if not angles_in_radians:
        az, el = np.radians(az), np.radians(el)
    return np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)], 1)


def _source_positions(sofa, path: str) -> np.ndarray:
    """``SourcePosition`` as [M, 3] Cartesian metres."""
    pos = np.atleast_2d(np.ma.getdata(np.asarray(sofa.SourcePosition, dtype=np.float64)))
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise SofaError(f"{path}: SourcePosition must be [M, 3], got shape {pos.shape}")
    kind = str(getattr(sofa, "SourcePosition_Type", "cartesian")).strip().lower()
    units = str(getattr(sofa, "SourcePosition_Units", "")).strip().lower()
    if kind == "cartesian":
        if units and units not in ("metre", "meter", "metres", "meters", "m"):
            raise SofaError(f"{path}: SourcePosition_Units {units!r} not supported (expected metre)")
        return pos
    if kind == "spherical":
        angular = [u.strip() for u in units.split(",")][:2] if units else ["degree"]
        radians = all(u.startswith("rad") for u in angular)
        if not radians and not all(u.startswith("deg") for u in angular):
            raise SofaError(f"{path}: SourcePosition_Units {units!r} not supported")
        return _spherical_to_cartesian(pos, radians)
    raise SofaError(
        f"{path}: SourcePosition_Type {kind!r} not supported (expected cartesian or spherical)"
    )


def _sampling_rate(sofa, path: str) -> float:
    rates = np.unique(np.ma.getdata(np.asarray(sofa.Data_SamplingRate, dtype=np.float64)))
    if rates.size != 1 or not np.isfinite(rates[0]) or rates[0] <= 0:
        raise SofaError(f"{path}: Data.SamplingRate must be one positive value, got {rates.tolist()}")
    return float(rates[0])


def _resample(ir: np.ndarray, orig: float, new: int, path: str) -> np.ndarray:
    import torch
    import torchaudio.functional as taf

    if orig != round(orig):
        raise SofaError(f"{path}: cannot resample from non-integer rate {orig} Hz to {new} Hz")
    with torch.no_grad():
        out = taf.resample(torch.from_numpy(np.ascontiguousarray(ir)), int(orig), int(new))
    return out.numpy()


@functools.lru_cache(maxsize=SOFA_CACHE_SIZE)
def _load_cached(path: str, inode: int, mtime_ns: int, size: int,
                 sample_rate: int, resample: bool) -> SofaRirs:
    """Read and convert one file; the stat fields only key the cache."""
    del inode, mtime_ns, size
    try:
        sofa = sofar.read_sofa(path, verify=False, verbose=False)
    except Exception as exc:  # netCDF4/HDF5/sofar raise many types for a bad file
        detail = " ".join(str(exc).split())
        raise SofaError(f"{path}: cannot read SOFA file ({type(exc).__name__}: {detail})") from exc
    try:
        ir = np.ma.getdata(np.asarray(sofa.Data_IR))
    except AttributeError:
        raise SofaError(f"{path}: no Data.IR variable (not an FIR SOFA file)") from None
    if ir.ndim != 3:
        raise SofaError(f"{path}: Data.IR must be 3-D [M, R, N], got shape {ir.shape}")
    positions = _source_positions(sofa, path)
    if positions.shape[0] == 0 or ir.shape[0] == 0:
        raise SofaError(f"{path}: no measurements (SourcePosition has 0 rows)")
    if positions.shape[0] != ir.shape[0]:
        raise SofaError(
            f"{path}: Data.IR has {ir.shape[0]} measurements but SourcePosition has "
            f"{positions.shape[0]} positions"
        )
    file_rate = _sampling_rate(sofa, path)
    ir = ir.astype(np.float32)
    if file_rate != sample_rate:
        if not resample:
            raise SofaError(
                f"{path}: sample rate is {file_rate:g} Hz, expected {sample_rate} Hz "
                f"(pass resample=True to resample)"
            )
        ir = _resample(ir, file_rate, sample_rate, path)
    ir = np.ascontiguousarray(ir, dtype=np.float32)
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    ir.flags.writeable = False
    positions.flags.writeable = False
    return SofaRirs(path=path, ir=ir, positions=positions, sample_rate=int(sample_rate),
                    file_sample_rate=file_rate)


def load_sofa(
    path: PathLike,
    *,
    sample_rate: int = 32000,
    resample: bool = True,
    num_receivers: Optional[int] = None,
) -> SofaRirs:
    """Read the RIRs of a SOFA file (cached per process; see the module docstring).

    Args:
        path: the ``.sofa`` file.
        sample_rate: rate of the returned IRs.
        resample: resample a file stored at another rate; if False, such a file is an error.
        num_receivers: if given, the number of receivers R the file must have (4 for FOA).
    Returns:
        :class:`SofaRirs` with read-only arrays (the same object for repeated calls
        while the file is unchanged).
    Raises:
        SofaError: missing or unreadable file, ``Data.IR`` not 3-D, no positions,
            IR/position count mismatch, wrong receiver count, or another rate with
            ``resample=False``.
    """
    abs_path = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(abs_path)
    except FileNotFoundError:
        raise SofaError(f"{abs_path}: SOFA file not found") from None
    except OSError as exc:
        raise SofaError(f"{abs_path}: cannot stat SOFA file ({exc})") from exc
    if not os.path.isfile(abs_path):
        raise SofaError(f"{abs_path}: not a regular file")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"load_sofa: sample_rate must be a positive integer, got {sample_rate}")
    rirs = _load_cached(abs_path, st.st_ino, st.st_mtime_ns, st.st_size,
                        int(sample_rate), bool(resample))
    if num_receivers is not None and rirs.num_receivers != num_receivers:
        raise SofaError(
            f"{abs_path}: expected {num_receivers} receivers, Data.IR has {rirs.num_receivers}"
        )
    return rirs


def clear_sofa_cache() -> None:
    """Forget every cached file (tests; or to free memory)."""
    _load_cached.cache_clear()


def write_sofa(
    path: PathLike,
    ir,
    positions,
    sample_rate: float,
    *,
    listener_position: Sequence[float] = (0.0, 0.0, 0.0),
    room_dims: Optional[Sequence[float]] = None,
    room_origin: Sequence[float] = (0.0, 0.0, 0.0),
    comment: str = "",
) -> None:
    """Write RIRs as a ``GeneralFIR`` SOFA file, atomically.

    Args:
        path: target file (parent directories are created; written to a temporary
            ``.sofa`` name in the same directory, then renamed).
        ir: [M, R, N] impulse responses (stored as float64, as SOFA requires).
        positions: [M, 3] source positions, Cartesian metres (``SourcePosition``).
        sample_rate: ``Data.SamplingRate`` in Hz.
        listener_position: ``ListenerPosition`` (the microphone), same coordinate
            system as ``positions``. The receivers (FOA channels) are coincident at
            the listener (``ReceiverPosition`` all zero).
        room_dims: shoebox dimensions [Lx, Ly, Lz] in metres; if given, the file
            is marked ``RoomType = shoebox`` with ``RoomCornerA = room_origin`` and
            ``RoomCornerB = room_origin + room_dims``; else ``RoomType = reverberant``.
        room_origin: position of the room corner (0, 0, 0) in the file's
            coordinate system (``-mic_position`` when positions are relative to
            the microphone).
        comment: ``GLOBAL_Comment``.
    """
    target = Path(path)
    if target.suffix != ".sofa":
        raise ValueError(f"write_sofa {path}: file name must end in .sofa")
    h = np.asarray(ir, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    if h.ndim != 3 or 0 in h.shape:
        raise ValueError(f"write_sofa {path}: ir must be a non-empty [M, R, N] array, got {h.shape}")
    if pos.shape != (h.shape[0], 3):
        raise ValueError(
            f"write_sofa {path}: positions must be [M={h.shape[0]}, 3], got {pos.shape}"
        )
    if not (np.all(np.isfinite(h)) and np.all(np.isfinite(pos))):
        raise ValueError(f"write_sofa {path}: ir and positions must be finite")
    num_receivers = h.shape[1]

    sofa = sofar.Sofa(SOFA_CONVENTION)
    sofa.Data_IR = h
    sofa.Data_SamplingRate = float(sample_rate)
    sofa.Data_Delay = np.zeros((1, num_receivers))
    sofa.SourcePosition = pos
    sofa.SourcePosition_Type = "cartesian"
    sofa.SourcePosition_Units = "metre"
    sofa.ListenerPosition = np.asarray(listener_position, dtype=np.float64).reshape(1, 3)
    sofa.ListenerPosition_Type = "cartesian"
    sofa.ListenerPosition_Units = "metre"
    sofa.ReceiverPosition = np.zeros((num_receivers, 3))
    sofa.ReceiverPosition_Type = "cartesian"
    sofa.ReceiverPosition_Units = "metre"
    sofa.GLOBAL_Comment = str(comment)
    if room_dims is not None:
        dims = np.asarray(room_dims, dtype=np.float64).reshape(3)
        origin = np.asarray(room_origin, dtype=np.float64).reshape(3)
        sofa.GLOBAL_RoomType = "shoebox"
        sofa.add_variable("RoomCornerA", origin.reshape(1, 3), "double", "IC")
        sofa.add_variable("RoomCornerB", (origin + dims).reshape(1, 3), "double", "IC")
        sofa.add_variable("RoomCorners", 0, "double", "I")
        sofa.add_attribute("RoomCorners_Type", "cartesian")
        sofa.add_attribute("RoomCorners_Units", "metre")
    else:
        sofa.GLOBAL_RoomType = "reverberant"
        sofa.add_attribute("GLOBAL_RoomDescription", "reverberant room, geometry not stored")
    sofa.verify()

    with atomic_path(target) as tmp:
        sofar.write_sofa(tmp, sofa)
