"""Audio tables (``wav.scp``, ``spk{N}.scp``): multi-channel read/write with soundfile.

An entry (the value of a ``wav.scp`` line) is a path, relative to the current
directory like in Kaldi, or a shell command ending in ``|`` whose stdout is an
audio file (e.g. ``sox in.flac -t wav - |``). Plain paths are read with soundfile,
which handles 16/24-bit PCM, float WAV and FLAC; kaldiio is used only to run pipes
(its own WAV reader handles 8/16-bit PCM only). Pipes run in a shell: only use
data directories you trust.

Arrays are channel-first: ``[C, T]`` (mono is ``[1, T]``), float32 in [-1, 1).

    data, sr = read_audio("dump/test/data/mix_0001.flac")       # [4, 320000], 32000
    reader = SoundScpReader("data/test/wav.scp", sample_rate=32000, num_channels=4)
    mix = reader["mix_0001"]                                    # [4, T] float32
    write_audio("out/mix_0001_s1.wav", mix[:1], 32000, subtype="PCM_24")
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional, Tuple, Union

import numpy as np
import soundfile as sf

from s5tse.fileio.atomic import atomic_write
from s5tse.fileio.table import TableError, read_table, write_table

PathLike = Union[str, "os.PathLike[str]"]


class AudioFormatError(TableError):
    """An audio entry is missing, unreadable, empty, or has the wrong rate/channel count."""


def is_pipe(entry: str) -> bool:
    """True for a Kaldi pipe entry (a command ending in ``|``)."""
    return entry.rstrip().endswith("|")


def _run_pipe(entry: str) -> bytes:
    """Run ``cmd |`` and return its stdout; a non-zero exit or no output is an error."""
    import kaldiio  # imported lazily: only pipes need it

    f = kaldiio.open_like_kaldi(entry, "rb")
    try:
        data = f.read()
    finally:
        status = f.close()  # None on success, else (exit status << 8)
    if status:
        raise AudioFormatError(f"pipe {entry!r} failed with exit status {status >> 8}")
    if not data:
        raise AudioFormatError(f"pipe {entry!r} produced no output")
    return data


def _open_source(entry: str) -> Union[str, io.BytesIO]:
    """What soundfile should open for ``entry``: the path, or the pipe's output."""
    if is_pipe(entry):
        return io.BytesIO(_run_pipe(entry))
    if not os.path.exists(entry):
        raise AudioFormatError(f"{entry}: no such file")
    if os.path.isdir(entry):
        raise AudioFormatError(f"{entry}: is a directory, expected an audio file")
    return entry


def _soundfile_message(e: Exception) -> str:
    """libsndfile's reason without soundfile's "Error opening <object>: " prefix."""
    msg = str(e)
    return msg.split(": ", 1)[1] if msg.startswith("Error opening") and ": " in msg else msg


def _wav_shortfall(source: Union[str, io.BytesIO]) -> Optional[Tuple[int, int]]:
    """For a RIFF/WAVE file whose ``data`` chunk promises more bytes than the file holds:
    ``(frames promised, frames present)``; None for complete WAVs and other formats.
    (libsndfile silently reads such a cut file as a shorter one.)"""
    import struct

    if isinstance(source, io.BytesIO):
        f, size = io.BytesIO(source.getbuffer()), len(source.getbuffer())
    else:
        f, size = open(source, "rb"), os.path.getsize(source)
    with f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = 0
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = f.read(csize)
                block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else 0
                f.seek(csize % 2, 1)
            elif cid == b"data":
                present = size - f.tell()
                if csize in (0, 0xFFFFFFFF) or csize <= present or block_align <= 0:
                    return None   # complete, or a streamed header without a size
                return csize // block_align, present // block_align
            else:
                f.seek(csize + csize % 2, 1)


def _check_complete(entry: str, source: Union[str, io.BytesIO]) -> None:
    short = _wav_shortfall(source)
    if short is not None:
        raise AudioFormatError(f"{entry}: truncated: its header promises {short[0]} frames, the "
                               f"file holds {short[1]}")


def read_audio(entry: str, *, dtype: str = "float32") -> Tuple[np.ndarray, int]:
    """Read a path or a ``cmd |`` entry.

    Args:
        entry: file path or pipe command ending in ``|``.
        dtype: sample type: ``float32`` (default, in [-1, 1)), ``float64``, ``int16``, ``int32``.
    Returns:
        ``(data [C, T], sample_rate)``; mono gives ``[1, T]``.
    Raises:
        AudioFormatError: missing file, unreadable/corrupt data, a WAV cut shorter than its
            header says, zero samples, failing pipe.
    """
    source = _open_source(entry)
    try:
        _check_complete(entry, source)
        data, sample_rate = sf.read(source, dtype=dtype, always_2d=True)  # [T, C]
    except (sf.SoundFileError, RuntimeError) as e:
        raise AudioFormatError(f"{entry}: cannot read audio: {_soundfile_message(e)}") from None
    if data.shape[0] == 0:
        raise AudioFormatError(f"{entry}: audio has no samples")
    return np.ascontiguousarray(data.T), int(sample_rate)


def audio_info(entry: str) -> Tuple[int, int, int]:
    """``(sample_rate, num_channels, num_frames)`` from the header, without decoding samples.

    A pipe entry is run (its whole output is read) to get the header.
    Raises AudioFormatError like :func:`read_audio`.
    """
    source = _open_source(entry)
    try:
        _check_complete(entry, source)
        info = sf.info(source)
    except (sf.SoundFileError, RuntimeError) as e:
        raise AudioFormatError(f"{entry}: cannot read audio: {_soundfile_message(e)}") from None
    if info.frames <= 0:
        raise AudioFormatError(f"{entry}: audio has no samples")
    return int(info.samplerate), int(info.channels), int(info.frames)


def check_audio_format(
    entry: str,
    sample_rate: int,
    num_channels: int,
    *,
    expected_sample_rate: Optional[int] = None,
    expected_num_channels: Optional[int] = None,
) -> None:
    """Raise AudioFormatError if the rate/channel count differs from the expected one."""
    if expected_sample_rate is not None and sample_rate != expected_sample_rate:
        raise AudioFormatError(
            f"{entry} has {sample_rate} Hz, expected {expected_sample_rate}"
        )
    if expected_num_channels is not None and num_channels != expected_num_channels:
        raise AudioFormatError(
            f"{entry} has {num_channels} channels, expected {expected_num_channels}"
        )


def _format_from_suffix(path: PathLike) -> str:
    """soundfile major format from the extension (``.wav`` -> ``WAV``, ``.flac`` -> ``FLAC``)."""
    suffix = Path(path).suffix.lstrip(".").upper()
    if suffix not in sf.available_formats():
        raise AudioFormatError(
            f"{os.fspath(path)}: cannot tell the audio format from the extension "
            f"(use .wav or .flac)"
        )
    return suffix


def _as_frames_by_channels(path: PathLike, data: np.ndarray) -> np.ndarray:
    """``[C, T]`` or ``[T]`` -> the ``[T, C]`` layout soundfile writes."""
    name = os.fspath(path)
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise AudioFormatError(f"{name}: expected audio of shape [C, T] or [T], got {data.shape}")
    num_channels, num_frames = data.shape
    if num_frames == 0:
        raise AudioFormatError(f"{name}: refusing to write audio with no samples")
    if num_channels > num_frames:
        raise AudioFormatError(
            f"{name}: expected [C, T], got shape {data.shape} (more channels than "
            f"samples; pass data.T?)"
        )
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise AudioFormatError(f"{name}: audio contains NaN or Inf")
    return data.T


def write_audio(
    path: PathLike, data: np.ndarray, sample_rate: int, subtype: str = "FLOAT"
) -> None:
    """Write ``data`` ``[C, T]`` (or ``[T]``) to ``path`` atomically.

    The format follows the extension (``.wav``, ``.flac``, ...); ``subtype`` is a
    soundfile subtype: ``FLOAT`` (default), ``PCM_24``, ``PCM_16`` (float input is
    clipped to [-1, 1) for PCM). Parent directories are created.
    """
    fmt = _format_from_suffix(path)
    if not sf.check_format(fmt, subtype):
        raise AudioFormatError(
            f"{os.fspath(path)}: subtype {subtype!r} is not supported by format {fmt}"
        )
    frames = _as_frames_by_channels(path, data)
    buf = io.BytesIO()
    # A file object has no name to guess the format from: pass it explicitly.
    sf.write(buf, frames, int(sample_rate), subtype=subtype, format=fmt)
    raw = buf.getvalue()
    if fmt == "WAV":
        raw = _zero_peak_timestamp(raw)
    with atomic_write(path, "wb") as f:
        f.write(raw)


def _zero_peak_timestamp(raw: bytes) -> bytes:
    """libsndfile stamps float WAVs' ``PEAK`` chunk with the write time; zero it so that
    writing the same audio twice gives identical bytes (reproducible outputs)."""
    data_at = raw.find(b"data", 12)
    peak_at = raw.find(b"PEAK", 12, data_at if data_at > 0 else len(raw))
    if peak_at < 0:
        return raw
    out = bytearray(raw)
    out[peak_at + 12:peak_at + 16] = b"\0\0\0\0"  # 'PEAK', size, version, timestamp
    return bytes(out)


class SoundScpReader(Mapping[str, np.ndarray]):
    """Lazy random access to a ``wav.scp``-style table: ``reader[key] -> [C, T]`` float32.

    Args:
        path: the table (``<key> <path or cmd |>`` per line, see read_table rules).
        sample_rate: when given, every entry read must have this rate.
        num_channels: when given, every entry read must have this many channels.
    Errors name the table and key, e.g. ``data/test/wav.scp: key 'mix_0001':
    /x/y.wav has 48000 Hz, expected 32000``.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        sample_rate: Optional[int] = None,
        num_channels: Optional[int] = None,
    ) -> None:
        self.path = os.fspath(path)
        self.sample_rate = sample_rate
        self.num_channels = num_channels
        self._table: Dict[str, str] = read_table(path)

    def path_of(self, key: str) -> str:
        """The entry (path or pipe command) of ``key``; KeyError if absent."""
        return self._table[key]

    def read(self, key: str) -> Tuple[np.ndarray, int]:
        """``(data [C, T] float32, sample_rate)`` of ``key``, checked against the expected format."""
        entry = self._table[key]
        try:
            data, sample_rate = read_audio(entry)
            check_audio_format(
                entry,
                sample_rate,
                data.shape[0],
                expected_sample_rate=self.sample_rate,
                expected_num_channels=self.num_channels,
            )
        except AudioFormatError as e:
            raise AudioFormatError(f"{self.path}: key {key!r}: {e}") from None
        return data, sample_rate

    def __getitem__(self, key: str) -> np.ndarray:
        return self.read(key)[0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, key: object) -> bool:
        return key in self._table  # no audio read

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, {len(self)} entries)"


class SoundScpWriter:
    """Write one audio file per key into ``audio_dir`` and the table at ``scp_path``.

    The table is written (sorted, atomically) on :meth:`close` / leaving the ``with``
    block without an exception; files are named ``<audio_dir>/<key><suffix>``.

        with SoundScpWriter("exp/x/enhanced/data", "exp/x/enhanced/spk1.scp") as w:
            w["mix_0001"] = est[0]          # [C, T] or [T]
    """

    def __init__(
        self,
        audio_dir: PathLike,
        scp_path: PathLike,
        *,
        sample_rate: int,
        suffix: str = ".wav",
        subtype: str = "FLOAT",
    ) -> None:
        self.audio_dir = Path(audio_dir)
        self.scp_path = os.fspath(scp_path)
        self.sample_rate = sample_rate
        self.suffix = suffix
        self.subtype = subtype
        self._entries: Dict[str, str] = {}

    def __setitem__(self, key: str, data: np.ndarray) -> None:
        if key in self._entries:
            raise TableError(f"{self.scp_path}: key {key!r} written twice")
        if not key or any(c.isspace() or c == "/" for c in key):
            raise TableError(f"{self.scp_path}: key {key!r} is not usable as a file name")
        path = self.audio_dir / f"{key}{self.suffix}"
        write_audio(path, data, self.sample_rate, subtype=self.subtype)
        self._entries[key] = str(path)

    def close(self) -> None:
        """Write the table (keys in byte order)."""
        write_table(self.scp_path, self._entries)

    def __enter__(self) -> "SoundScpWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
