"""Block-streaming context sizes: :class:`StreamingConfig`, named presets, resolution helper.

A stream is cut into *present* blocks of ``present`` STFT frames of the separator; each block
also sees ``future`` lookahead frames (recomputed with the next block, their outputs discarded)
and at most ``past`` previous frames, which enter only through caches (see
:mod:`s5tse.streaming.sr_corrnet`). Algorithmic latency: ``(present + future)`` frames plus half
an analysis window.

Frames are counted in the hop of the separator, unless ``reference_hop`` is set: then they are
frames of that hop (in samples) and :meth:`StreamingConfig.for_hop` converts them to the
separator's hop (same durations, rounded; ``present`` at least 1). The named presets are given
at ``reference_hop = 256`` (125 frames/s at 32 kHz), so they keep their durations for any model:

============= ============ ============ ============ ===========================
preset        past         present      future       at hop 256 / 32 kHz
============= ============ ============ ============ ===========================
low_latency   1 s          0.25 s       0.125 s      125 / 32 / 16 frames
long_context  4 s          1 s          0.5 s        500 / 125 / 62 frames
============= ============ ============ ============ ===========================

(0.25 s and 0.125 s are 31.25 and 15.6 frames at hop 256; they are rounded up to 32 and 16.)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Union

__all__ = ["StreamingConfig", "STREAMING_PRESETS", "resolve_streaming_config"]


@dataclass(frozen=True)
class StreamingConfig:
    """``past`` / ``present`` / ``future`` context in STFT frames (of ``reference_hop`` if set).

    ``present >= 1``, ``past >= 0``, ``future >= 0``; ``ValueError`` otherwise.
    """

    past: int
    present: int
    future: int
    reference_hop: Optional[int] = None

    def __post_init__(self) -> None:
        for name in ("past", "present", "future"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value:
                raise ValueError(f"StreamingConfig: {name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.present < 1 or self.past < 0 or self.future < 0:
            raise ValueError(
                f"StreamingConfig: need present >= 1, past >= 0, future >= 0; "
                f"got past={self.past}, present={self.present}, future={self.future}"
            )
        if self.reference_hop is not None and int(self.reference_hop) < 1:
            raise ValueError(f"StreamingConfig: reference_hop must be >= 1, got {self.reference_hop}")

    def for_hop(self, hop_length: int) -> "StreamingConfig":
        """The same durations in frames of ``hop_length`` samples (``reference_hop`` cleared)."""
        if self.reference_hop is None or int(self.reference_hop) == int(hop_length):
            return dataclasses.replace(self, reference_hop=None)
        ratio = float(self.reference_hop) / float(hop_length)
        return StreamingConfig(
            past=int(round(self.past * ratio)),
            present=max(1, int(round(self.present * ratio))),
            future=int(round(self.future * ratio)),
        )

    def seconds(self, hop_length: int, sample_rate: int = 32000) -> Dict[str, float]:
        """Durations in seconds (frames of ``reference_hop`` or of ``hop_length``)."""
        hop = self.reference_hop or hop_length
        return {k: getattr(self, k) * hop / sample_rate for k in ("past", "present", "future")}


STREAMING_PRESETS: Dict[str, StreamingConfig] = {
    "low_latency": StreamingConfig(past=125, present=32, future=16, reference_hop=256),
    "long_context": StreamingConfig(past=500, present=125, future=62, reference_hop=256),
}


def resolve_streaming_config(
    spec: Union[None, str, StreamingConfig, Sequence[int]],
    hop_length: Optional[int] = None,
) -> Optional[StreamingConfig]:
    """A preset name, ``"past,present,future"``, a :class:`StreamingConfig`,
    ``(past, present, future)`` or None -> config.

    With ``hop_length`` the result is converted to frames of that hop (:meth:`StreamingConfig.for_hop`).
    ``None``, ``"offline"``, ``"none"`` and ``""`` (any case) give None (offline).
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("offline", "none", "")):
        return None
    if isinstance(spec, str) and "," in spec:
        values = [v.strip() for v in spec.split(",")]
        if len(values) != 3:
            raise ValueError(f"streaming context must be 'past,present,future', got {spec!r}")
        cfg = StreamingConfig(*[int(v) for v in values])
    elif isinstance(spec, str):
        if spec not in STREAMING_PRESETS:
            raise ValueError(f"unknown streaming preset {spec!r}; choose from {sorted(STREAMING_PRESETS)}")
        cfg = STREAMING_PRESETS[spec]
    elif isinstance(spec, StreamingConfig):
        cfg = spec
    else:
        values = tuple(spec)
        if len(values) != 3:
            raise ValueError(f"streaming context must be (past, present, future), got {values}")
        cfg = StreamingConfig(*values)
    return cfg.for_hop(hop_length) if hop_length is not None else cfg
