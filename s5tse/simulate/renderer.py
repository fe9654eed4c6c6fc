"""Render a :class:`~s5tse.simulate.scene.Scene` into a 4-ch FOA mixture and dry references.

Definitions (reference §3.2-3.3; ``sr`` and ``T = int(duration * sr)`` from the scene):

* source segment: ``int(event_duration * sr)`` samples from sample
  ``int(source_time * sr)`` (float32; mean over channels if not mono; cut short at
  the end of the file), peak-normalised ``x / max|x|``;
* RIR: the SOFA measurement at ``event_position`` (within 1e-6), normalised
  ``h / sqrt(mean_c sum_t h_c^2)`` (``s5tse.simulate.rir.normalize_rir``);
* wet image: full linear convolution ``x * h_c`` (``Lx + Lh - 1`` samples per channel);
  ``E = 10 log10(mean(wet^2))`` over all channels and samples of it; gain
  ``g = 10^((ref_db + snr - E) / 20)``, so the image has mean power ``ref_db + snr`` dB;
* the image is added at sample ``int(event_time * sr)`` and cut at ``T``;
* background: ``T`` samples of the noise file from ``int(source_time * sr)``, wrapping
  around to the start of the file when it ends (a short file is tiled); scaled so its
  mean power over the ``[C, T]`` segment is ``ref_db + snr`` dB;
* dry reference of a foreground event: ``g * (x * h_W^win)`` where ``h_W^win`` is the
  normalised W-channel RIR set to zero outside its direct-path window
  ``[t0 - 6 ms, t0 + 50 ms]`` (``t0 = argmax |h_W|``; ``direct_range_ms`` of the room),
  at the same onset, cut at ``T``;
* the mixture is accumulated in float64 (background, then foreground, then
  interference events, in JSON order) and returned as float32.

Implementation: single-precision real FFTs (``scipy.fft``, ``workers=1``) of length
``next_fast_len(Lx + Lh - 1)``; the spectra of the normalised RIRs are cached per
(SOFA file, position, FFT length) in a process-wide LRU bounded in bytes (default
512 MiB; environment variable ``S5TSE_RIR_CACHE_MB`` or :func:`set_rir_cache_limit`);
``E`` comes from the spectrum by Parseval (``sum y^2 = sum_k w_k |Y_k|^2 / nfft``,
``w = 1`` at DC and Nyquist, 2 elsewhere) with the per-RIR factor ``sum_c |H_c|^2``
cached, so the level costs no extra transform; only the output samples that land in
the clip are kept; the dry reference is an overlap-add convolution of the (clipped)
source with the <= 56-ms window. Everything runs in one thread and is deterministic:
the same scene gives bit-identical output in any process, cache state or job count.

    out = render_scene(Scene.from_json(path), dataset_root)
    out.mixture   # [4, T] float32
    out.dry       # [K, T] float32, one row per fg event in JSON order
    out.labels    # ['Speech', 'Dishes', 'silence']
    out.spans     # [K, 2] int64 (start, stop) of each dry reference's support in the clip
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.fft
import scipy.signal
import soundfile as sf

from s5tse.labels import NUM_SLOTS
from s5tse.simulate.rir import direct_path_window, normalize_rir
from s5tse.simulate.scene import Event, Scene, SceneError, padded_labels

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "RenderedScene",
    "SofaRoom",
    "render_scene",
    "padded_labels",
    "set_rir_cache_limit",
    "rir_cache_info",
    "clear_caches",
]


# --------------------------------------------------------------------------- caches
class _ByteLRU:
    """A least-recently-used mapping bounded by the total size of its values (bytes)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._data: "OrderedDict[Hashable, Tuple[Any, int]]" = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        with self._lock:
            if key in self._data:
                self.bytes -= self._data.pop(key)[1]
            if nbytes > self.max_bytes:
                return  # would not fit even alone
            self._data[key] = (value, nbytes)
            self.bytes += nbytes
            while self.bytes > self.max_bytes:
                _, (_, n) = self._data.popitem(last=False)
                self.bytes -= n

    def set_limit(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = int(max_bytes)
            while self.bytes > self.max_bytes and self._data:
                _, (_, n) = self._data.popitem(last=False)
                self.bytes -= n

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


def _default_cache_bytes() -> int:
    value = os.environ.get("S5TSE_RIR_CACHE_MB", "512")
    try:
        mb = float(value)
    except ValueError:
        raise ValueError(f"S5TSE_RIR_CACHE_MB must be a number of MiB, got {value!r}") from None
    return int(mb * 2**20)


# spectra of normalised RIRs: (sofa, pos, nfft) -> (H [R, bins] complex64, Pw [bins] float64)
_SPECTRA = _ByteLRU(_default_cache_bytes())
# direct-path windows: (sofa, pos, sr, before_ms, after_ms) -> (start, window float32); 64 MiB
_WINDOWS = _ByteLRU(64 * 2**20)


def set_rir_cache_limit(max_bytes: int) -> None:
    """Bound the RIR-spectrum cache of this process to ``max_bytes`` (0 disables it).

    One entry holds ``R x (nfft/2 + 1)`` complex64 values plus ``nfft/2 + 1`` float64:
    about 10 MiB for a 4-ch 174,763-sample RIR and a 10-s source (nfft ~ 500k).
    """
    _SPECTRA.set_limit(max_bytes)


def rir_cache_info() -> Dict[str, int]:
    """``{"entries", "bytes", "max_bytes", "hits", "misses"}`` of the RIR-spectrum cache."""
    return {
        "entries": len(_SPECTRA),
        "bytes": _SPECTRA.bytes,
        "max_bytes": _SPECTRA.max_bytes,
        "hits": _SPECTRA.hits,
        "misses": _SPECTRA.misses,
    }


def clear_caches() -> None:
    """Empty the RIR-spectrum and window caches (the SOFA reader keeps its own cache)."""
    _SPECTRA.clear()
    _WINDOWS.clear()


# ----------------------------------------------------------------------------- room
_WARNED_LENGTH: set = set()  # room files whose RIR length differs from their metadata (warned once)


@dataclass(frozen=True)
class SofaRoom:
    """The ``room`` of a scene: a SOFA file and its expected layout.

    ``sofa_path`` is relative to the dataset root. :meth:`load` reads the file (via
    ``s5tse.fileio.sofa.load_sofa``, cached per process) and checks that it matches.
    """

    sofa_path: str
    sr: int
    nchan: int
    nrir: int
    rir_len: int
    direct_range_ms: Tuple[float, float] = (6, 50)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> "SofaRoom":
        rng = metadata["direct_range_ms"]
        return cls(
            sofa_path=str(metadata["sofa_path"]),
            sr=int(metadata["sr"]),
            nchan=int(metadata["nchan"]),
            nrir=int(metadata["nrir"]),
            rir_len=int(metadata["rir_len"]),
            direct_range_ms=(rng[0], rng[1]),
        )

    def metadata(self) -> Dict[str, Any]:
        return {
            "sofa_path": self.sofa_path,
            "sr": self.sr,
            "nchan": self.nchan,
            "nrir": self.nrir,
            "rir_len": self.rir_len,
            "direct_range_ms": list(self.direct_range_ms),
        }

    def load(self, dataset_root: PathLike, *, where: str = "") -> Any:
        """The SofaRirs of this room; SceneError if missing or not matching the metadata."""
        from s5tse.fileio.sofa import load_sofa

        path = Path(dataset_root) / self.sofa_path
        prefix = f"{where}: " if where else ""
        if not path.is_file():
            raise SceneError(f"{prefix}room file {path}: no such file")
        try:
            rirs = load_sofa(str(path), sample_rate=self.sr)
        except SceneError:
            raise
        except Exception as e:  # reader errors vary
            raise SceneError(f"{prefix}cannot read room file {path}: {e}") from None
        m, r, n = rirs.ir.shape
        if (m, r) != (self.nrir, self.nchan) or int(rirs.sample_rate) != self.sr:
            raise SceneError(
                f"{prefix}room file {path} has {m} RIRs x {r} channels x {n} samples at "
                f"{rirs.sample_rate} Hz, the scene expects {self.nrir} x {self.nchan} x "
                f"{self.rir_len} at {self.sr} Hz"
            )
        if n != self.rir_len and str(path) not in _WARNED_LENGTH:
            # Informational in the official metadata; a resampler may differ by a sample.
            _WARNED_LENGTH.add(str(path))
            logging.warning("%sroom file %s: RIRs have %d samples at %d Hz, the metadata says %d; "
                            "rendering with the file's RIRs", prefix, path, n, self.sr, self.rir_len)
        return rirs


# --------------------------------------------------------------------------- output
@dataclass
class RenderedScene:
    """Output of :func:`render_scene`.

    Attributes:
        mixture: ``[C, T]`` float32 (C = RIR receivers, 4 for FOA).
        dry: ``[K, T]`` float32, the dry reference of each foreground event in JSON
            order (``None`` with ``want_dry=False``).
        labels: foreground labels in JSON order padded with ``silence`` to 3.
        spans: ``[K, 2]`` int64, ``(start, stop)`` sample range of each dry reference's
            support (onset + window start ... + its full length) clipped to ``[0, T]``.
    """

    mixture: np.ndarray
    dry: Optional[np.ndarray]
    labels: List[str]
    spans: np.ndarray

    def padded_dry(self, num_slots: int = NUM_SLOTS) -> np.ndarray:
        """``[num_slots, T]`` float32: the dry references followed by zero rows (silence)."""
        if self.dry is None:
            raise ValueError("scene was rendered with want_dry=False")
        k, t = self.dry.shape
        if k > num_slots:
            raise ValueError(f"{k} references do not fit into {num_slots} slots")
        out = np.zeros((num_slots, t), dtype=np.float32)
        out[:k] = self.dry
        return out


# -------------------------------------------------------------------------- helpers
def _parseval_weights(nfft: int) -> np.ndarray:
    """``w_k / nfft`` for the rfft bins of a length-``nfft`` real signal (float64)."""
    nbins = nfft // 2 + 1
    w = np.full(nbins, 2.0)
    w[0] = 1.0
    if nfft % 2 == 0:
        w[-1] = 1.0
    return w / nfft


class _NormalizedRir:
    """The normalised RIR of one position, computed at most once per event (cache misses only)."""

    def __init__(self, rirs: Any, pos: int) -> None:
        self.rirs = rirs
        self.pos = pos
        self._h: Optional[np.ndarray] = None

    def get(self) -> np.ndarray:
        if self._h is None:
            self._h = normalize_rir(self.rirs.ir[self.pos])  # [R, N] float32
        return self._h


def _rir_spectrum(rir: _NormalizedRir, sofa_key: str, nfft: int) -> Tuple[np.ndarray, np.ndarray]:
    """Cached ``(H [R, bins] complex64, Pw [bins] float64)``; ``Pw = w/nfft * sum_c |H_c|^2``."""
    key = (sofa_key, rir.pos, nfft)
    hit = _SPECTRA.get(key)
    if hit is not None:
        return hit
    h = rir.get()
    spec = scipy.fft.rfft(h, n=nfft, axis=-1, workers=1)
    if spec.dtype != np.complex64:  # pragma: no cover - scipy keeps single precision
        spec = spec.astype(np.complex64)
    power = np.square(spec.real, dtype=np.float64) + np.square(spec.imag, dtype=np.float64)
    pw = power.sum(axis=0) * _parseval_weights(nfft)
    spec.flags.writeable = False
    pw.flags.writeable = False
    _SPECTRA.put(key, (spec, pw), spec.nbytes + pw.nbytes)
    return spec, pw


def _dry_window(
    rir: _NormalizedRir, sofa_key: str, sr: int, range_ms: Sequence[float]
) -> Tuple[int, np.ndarray]:
    """Cached ``(start, h_W[start:stop])`` of the normalised W channel."""
    key = (sofa_key, rir.pos, sr, float(range_ms[0]), float(range_ms[1]))
    hit = _WINDOWS.get(key)
    if hit is not None:
        return hit
    h = rir.get()
    start, stop = direct_path_window(h[0], sr, before_ms=range_ms[0], after_ms=range_ms[1])
    win = np.ascontiguousarray(h[0, start:stop], dtype=np.float32)
    win.flags.writeable = False
    _WINDOWS.put(key, (int(start), win), win.nbytes + 64)
    return int(start), win


def _read_segment(path: Path, start: int, frames: int, sr: int, where: str) -> np.ndarray:
    """``frames`` samples from ``start``, ``[frames', C]`` float32 (cut at the end of the file)."""
    if not path.is_file():
        raise SceneError(f"{where}: source file {path}: no such file")
    try:
        with sf.SoundFile(str(path)) as f:
            if f.samplerate != sr:
                raise SceneError(
                    f"{where}: source file {path} has {f.samplerate} Hz, the scene uses {sr}"
                )
            total = f.frames
            if start >= total:
                raise SceneError(
                    f"{where}: source file {path}: segment starts at sample {start}, "
                    f"the file has {total}"
                )
            f.seek(start)
            data = f.read(frames=min(frames, total - start), dtype="float32", always_2d=True)
    except SceneError:
        raise
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        raise SceneError(f"{where}: cannot read source file {path}: {e}") from None
    if data.shape[0] == 0:
        raise SceneError(f"{where}: source file {path}: empty segment")
    return data


def _read_source(path: Path, event: Event, sr: int, where: str) -> np.ndarray:
    """Peak-normalised mono float32 segment of an event."""
    start = int(event.source_time * sr)
    frames = int(event.event_duration * sr)
    if frames <= 0:
        raise SceneError(
            f"{where}: event_duration {event.event_duration} is shorter than one sample"
        )
    data = _read_segment(path, start, frames, sr, where)
    x = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    peak = float(np.max(np.abs(x)))
    if not peak > 0.0 or not np.isfinite(peak):
        raise SceneError(
            f"{where}: source file {path}: segment from sample {start} is silent or not finite"
        )
    return np.ascontiguousarray(x / np.float32(peak), dtype=np.float32)


def _read_noise(
    path: Path, start: int, num: int, channels: int, sofa: Path, sr: int, where: str
) -> np.ndarray:
    """``[C, num]`` float32 noise from ``start``, wrapping around at the end of the file."""
    if not path.is_file():
        raise SceneError(f"{where}: background file {path}: no such file")
    try:
        with sf.SoundFile(str(path)) as f:
            if f.channels != channels:
                raise SceneError(
                    f"{where}: background file {path} has {f.channels} channels but the RIRs of "
                    f"{sofa} have {channels}"
                )
            if f.samplerate != sr:
                raise SceneError(
                    f"{where}: background file {path} has {f.samplerate} Hz, the scene uses {sr}"
                )
            total = f.frames
            if total <= 0:
                raise SceneError(f"{where}: background file {path} has no samples")
            start %= total
            if start + num <= total:
                f.seek(start)
                data = f.read(frames=num, dtype="float32", always_2d=True)
            else:
                whole = f.read(dtype="float32", always_2d=True)
                data = whole[(start + np.arange(num)) % total]
    except SceneError:
        raise
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        raise SceneError(f"{where}: cannot read background file {path}: {e}") from None
    return np.ascontiguousarray(data.T)


# --------------------------------------------------------------------------- render
def _add_event(
    mix: np.ndarray,
    dry_row: Optional[np.ndarray],
    x: np.ndarray,
    rir: _NormalizedRir,
    sofa_key: str,
    onset: int,
    gain_db: float,
    window: Optional[Tuple[int, np.ndarray]],
) -> Tuple[int, int]:
    """Add one event's scaled image to ``mix`` (float64, in place), fill ``dry_row``.

    Returns the (start, stop) support of the dry reference inside the clip.
    """
    num_ch, t_len = mix.shape
    lx = x.shape[0]
    lh = rir.rirs.ir.shape[-1]
    full = lx + lh - 1
    nfft = scipy.fft.next_fast_len(full, real=True)
    spec, pw = _rir_spectrum(rir, sofa_key, nfft)
    xs = scipy.fft.rfft(x, n=nfft, workers=1)
    energy = float(
        np.sum((np.square(xs.real, dtype=np.float64) + np.square(xs.imag, dtype=np.float64)) * pw)
    )
    mean_power = energy / (num_ch * full)
    if not mean_power > 0.0:
        raise SceneError("event image has zero energy")
    e_db = 10.0 * np.log10(mean_power)
    g = 10.0 ** ((gain_db - e_db) / 20.0)

    keep = min(full, t_len - onset)
    if keep > 0:
        xs *= np.float32(g)
        prod = spec * xs[None, :]
        wet = scipy.fft.irfft(prod, n=nfft, axis=-1, workers=1, overwrite_x=True)
        mix[:, onset : onset + keep] += wet[:, :keep]

    if window is None:
        return (0, 0)
    start, win = window
    d0 = onset + start
    d_full = lx + win.shape[0] - 1
    d_keep = min(d_full, t_len - d0)
    span = (min(t_len, d0), min(t_len, d0 + d_full))
    if dry_row is not None and d_keep > 0:
        xin = x[:d_keep]
        conv = (
            scipy.signal.oaconvolve(xin, win)
            if min(xin.shape[0], win.shape[0]) > 1
            else np.convolve(xin, win)
        )
        dry_row[d0 : d0 + d_keep] = (conv[:d_keep] * g).astype(np.float32)
    return span


def render_scene(scene: Scene, dataset_root: PathLike, *, want_dry: bool = True) -> RenderedScene:
    """Render ``scene`` with its files under ``dataset_root`` (the folder holding ``data/``).

    Args:
        scene: the scene (e.g. ``Scene.from_json(path)``).
        dataset_root: root the scene's relative paths are resolved against.
        want_dry: also compute the dry references (skip for mixture-only use).
    Returns:
        :class:`RenderedScene`.
    Raises:
        SceneError: a missing/unreadable file (named), a position not in the SOFA file,
            a noise/RIR channel mismatch (both files named), a room file not matching
            the metadata. Messages start with the scene's JSON path.
    """
    root = Path(dataset_root)
    where = scene.name
    sr = scene.sr
    t_len = scene.num_samples
    try:
        room = SofaRoom.from_metadata(scene.room_metadata)
    except (KeyError, TypeError, ValueError) as e:
        raise SceneError(f"{where}: invalid room metadata: {e}") from None
    if room.sr != sr:
        raise SceneError(f"{where}: room sr {room.sr} differs from config sr {sr}")
    rirs = room.load(root, where=where)
    sofa_path = root / room.sofa_path
    st = os.stat(sofa_path)  # a file changed on disk gets new cache entries
    sofa_key = f"{os.path.abspath(sofa_path)}@{sr}:{st.st_mtime_ns}:{st.st_size}"
    num_ch = room.nchan
    ref_db = scene.ref_db

    mix = np.zeros((num_ch, t_len), dtype=np.float64)
    k = len(scene.fg_events)
    dry = np.zeros((k, t_len), dtype=np.float32) if want_dry else None
    spans = np.zeros((k, 2), dtype=np.int64)

    for i, ev in enumerate(scene.bg_events):
        path = scene.source_path(ev, root)
        noise = _read_noise(
            path, int(ev.source_time * sr), t_len, num_ch, sofa_path, sr, f"{where}: bg_events[{i}]"
        )
        p = float(np.mean(np.square(noise, dtype=np.float64)))
        if not p > 0.0:
            raise SceneError(f"{where}: background file {path} is silent in the used segment")
        e_db = 10.0 * np.log10(p)
        g = 10.0 ** ((ref_db + ev.snr - e_db) / 20.0)
        mix += noise * g

    def position_index(ev: Event, label: str) -> int:
        try:
            return int(rirs.index_of(ev.event_position[0], atol=1e-6))
        except Exception as e:  # SofaError names the nearest stored position
            detail = str(e).rsplit("; ", 1)[-1] if "; nearest" in str(e) else ""
            raise SceneError(
                f"{where}: {label}: event_position {ev.event_position} is not a measured "
                f"position of {sofa_path}" + (f" ({detail})" if detail else "")
            ) from None

    for key, events in (("fg_events", scene.fg_events), ("int_events", scene.int_events)):
        for i, ev in enumerate(events):
            label = f"{key}[{i}]"
            pos = position_index(ev, label)
            x = _read_source(scene.source_path(ev, root), ev, sr, f"{where}: {label}")
            onset = int(ev.event_time * sr)
            is_fg = key == "fg_events"
            rir = _NormalizedRir(rirs, pos)
            window = _dry_window(rir, sofa_key, sr, room.direct_range_ms) if is_fg else None
            span = _add_event(
                mix,
                dry[i] if (is_fg and dry is not None) else None,
                x,
                rir,
                sofa_key,
                onset,
                ref_db + ev.snr,
                window,
            )
            if is_fg:
                spans[i] = span

    return RenderedScene(
        mixture=mix.astype(np.float32),
        dry=dry,
        labels=padded_labels(scene.labels()),
        spans=spans,
    )
