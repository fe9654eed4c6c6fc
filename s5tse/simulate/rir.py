"""Room-impulse-response arithmetic shared by the mixture synthesiser and the tests.

* :func:`normalize_rir`: the DCASE 2026 Task 4 RIR normalisation
  ``h <- h / sqrt(mean_over_channels(sum_t h^2))`` (reference §3.2), so the RIR's
  energy averaged over the FOA channels is 1.
* :func:`direct_path_window`: the sample range of the "dry" target RIR
  (reference §3.3): from ``before_ms`` before to ``after_ms`` after the peak of
  ``|h_W|``, both ends included.

    >>> h = np.zeros((4, 4000)); h[:, 1000] = 2.0
    >>> float((normalize_rir(h) ** 2).sum(-1).mean())
    1.0
    >>> direct_path_window(h[0], 32000)
    (808, 2601)
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def normalize_rir(h) -> np.ndarray:
    """``h / sqrt(mean over channels of sum_t h^2)`` for ``h`` [R, N] (or [..., R, N]).

    The energy is computed in float64; the result is float32 with the input's shape.
    Leading dimensions (e.g. measurements [M, R, N]) are normalised independently.
    An all-zero RIR is an error.
    """
    x = np.asarray(h, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"normalize_rir: expected [R, N] (or [..., R, N]), got shape {x.shape}")
    energy = np.mean(np.sum(x * x, axis=-1), axis=-1, keepdims=True)[..., None]
    if np.any(energy <= 0.0) or not np.all(np.isfinite(energy)):
        raise ValueError("normalize_rir: RIR has zero (or non-finite) energy")
    return (x / np.sqrt(energy)).astype(np.float32)


def direct_path_window(
    h_w, sample_rate: int, before_ms: float = 6.0, after_ms: float = 50.0
) -> Tuple[int, int]:
    """Slice bounds ``(start, stop)`` of the direct-path window of the W-channel RIR ``h_w`` [N].

    ``t0 = argmax |h_w|`` (first maximum). The window is ``[t0 - b, t0 + a]`` with
    both ends included, ``b = int(before_ms * sample_rate / 1000)`` and
    ``a = int(after_ms * sample_rate / 1000)`` (truncation towards zero: 6 ms and
    50 ms at 32 kHz are exactly 192 and 1600 samples), clipped to ``[0, N - 1]``.
    Returned as a Python slice: ``stop`` is exclusive (``min(t0 + a, N - 1) + 1``),
    so ``h_w[start:stop]`` is the window.
    """
    x = np.asarray(h_w)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"direct_path_window: expected a non-empty 1-D RIR, got shape {x.shape}")
    if before_ms < 0 or after_ms < 0:
        raise ValueError(
            f"direct_path_window: before_ms and after_ms must be >= 0, got {before_ms}, {after_ms}"
        )
    n = x.shape[0]
    t0 = int(np.argmax(np.abs(x)))
    before = int(before_ms * sample_rate / 1000)
    after = int(after_ms * sample_rate / 1000)
    start = max(t0 - before, 0)
    stop = min(t0 + after, n - 1) + 1
    return start, stop
