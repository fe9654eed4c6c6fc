"""Spatio-spectro-temporal neighbourhood and PHAT-beta correlation feature (SR-CorrNet input).

Written from the description in ``separator_sr_corrnet.md`` (§1.4, §7.2 rows 2-3); no code copied.

Neighbourhood (:func:`unfold_neighbourhood`)
    For a complex STFT ``X [B, M, F, N]`` and taps ``taps_time = (P, Q)`` (P past, Q future
    frames) and ``taps_freq = (D, U)`` (D lower, U upper bins), the neighbourhood is::

        X_nb[b, m, j, f, t] = X[b, m, f + i, t + l]      (zero outside the spectrogram)
        l in [-P, ..., Q],  i in [-D, ..., U],  j = (i + D) * L_t + (l + P)

    with ``L_t = P + Q + 1``, ``L_f = D + U + 1`` and ``L = L_t * L_f`` taps (frequency-major,
    time-minor flattening).

Correlation (:func:`correlation_feature`), reference channel ``r`` (W for FOA)
    1. per-frequency RMS of the reference over the whole input (per utterance, non-causal):
       ``sigma_f = sqrt(mean_t |X_r(f, t)|^2 + eps)``; every channel is divided by it:
       ``X~ = X / sigma_f``;
    2. ``z[m, j] = X~_r * conj(X~_nb[m, j]) / (|X~_r| * |X~_nb[m, j]| + eps) ** beta`` at every (f, t)
       with ``beta = 1/2`` (PHAT-beta): magnitude ``sqrt(|X~_r| |X~_m|)`` (geometric mean),
       phase = phase difference. The (m = r, zero lag) entry is the real ``|X~_r|``;
    3. real/imag stacked on the last axis, ordered ``(m, j, re/im)`` -> ``[B, N, F, 2 * M * L]``.

The neighbour at bin ``f + i`` is normalised by ``sigma_{f+i}`` (normalise, then unfold). The
feature is computed under ``torch.no_grad`` in float32 (no gradient flows into the input).

Layout: the neighbourhood is a strided ``unfold`` view of the padded spectrum
(:func:`neighbourhood_taps`), copied once into the layout its user needs (the correlation's
``[B, N, F, M, L]``, the filter's ``[2, B, N, F, M * L]`` real/imaginary planes); no Python loop
over taps, no ``stack``.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "num_taps",
    "neighbourhood_taps",
    "unfold_neighbourhood",
    "neighbourhood_ri",
    "reference_rms",
    "correlation_feature",
]


def _pair(taps: Sequence[int], name: str) -> Tuple[int, int]:
    taps = tuple(int(t) for t in taps)
    if len(taps) != 2 or min(taps) < 0:
        raise ValueError(f"{name} must be two non-negative ints (before, after), got {taps}")
    return taps  # type: ignore[return-value]


def num_taps(taps_time: Sequence[int], taps_freq: Sequence[int]) -> int:
    """``L = (P + Q + 1) * (D + U + 1)``."""
    p, q = _pair(taps_time, "taps_time")
    d, u = _pair(taps_freq, "taps_freq")
    return (p + q + 1) * (d + u + 1)


def neighbourhood_taps(x: Tensor, taps_time: Sequence[int], taps_freq: Sequence[int]) -> Tensor:
    """``x [B, M, F, N]`` -> strided view ``[B, M, F, N, L_f, L_t]`` of the zero-padded neighbourhood:
    ``out[..., f, t, i, l] = x[..., f + i - D, t + l - P]`` (no copy but the padding)."""
    p, q = _pair(taps_time, "taps_time")
    d, u = _pair(taps_freq, "taps_freq")
    xp = F.pad(x, (p, q, d, u))  # pads the last dim by (p, q), the frequency dim by (d, u)
    return xp.unfold(-2, d + u + 1, 1).unfold(-2, p + q + 1, 1)


def unfold_neighbourhood(x: Tensor, taps_time: Sequence[int], taps_freq: Sequence[int]) -> Tensor:
    """``x [B, M, F, N]`` (complex or real) -> ``[B, M, L, F, N]`` zero-padded neighbourhood."""
    v = neighbourhood_taps(x, taps_time, taps_freq)  # [B, M, F, N, Lf, Lt]
    b, m, n_f, n_t, lf, lt = v.shape
    return v.permute(0, 1, 4, 5, 2, 3).reshape(b, m, lf * lt, n_f, n_t)


def neighbourhood_ri(x: Tensor, taps_time: Sequence[int], taps_freq: Sequence[int]) -> Tensor:
    """Complex ``x [B, M, F, N]`` -> float ``[2, B, N, F, M * L]`` (real, imaginary) neighbourhood,
    the layout of the fused filter heads (:meth:`.filter.FilterEstimator.filter_spectrum`)."""
    v = torch.view_as_real(neighbourhood_taps(x.to(torch.complex64), taps_time, taps_freq))
    b, m, n_f, n_t, lf, lt, _ = v.shape
    return v.permute(6, 0, 3, 2, 1, 4, 5).reshape(2, b, n_t, n_f, m * lf * lt)


def reference_rms(x_ref: Tensor, eps: float = 1e-12) -> Tensor:
    """``x_ref [B, F, N]`` complex -> ``sigma [B, F, 1]`` = sqrt(mean_t |x|^2 + eps) (float32)."""
    return (x_ref.abs().float().pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()


@torch.no_grad()
def correlation_feature(
    x: Tensor,
    taps_time: Sequence[int],
    taps_freq: Sequence[int],
    ref_channel: int = 0,
    beta: float = 0.5,
    eps: float = 1e-12,
    sigma: Optional[Tensor] = None,
) -> Tensor:
    """PHAT-beta correlation of every channel's neighbourhood with the reference bin.

    Args:
        x: complex STFT ``[B, M, F, N]`` (un-normalised).
        taps_time, taps_freq: ``(before, after)`` taps, see the module docstring.
        ref_channel: index of the reference channel (0 = W for FOA in ACN order).
        beta: PHAT-beta exponent (1/2 in SR-CorrNet; 1 = pure phase, 0 = raw cross-product).
        eps: added to the mean square (normalisation) and inside the power (correlation).
        sigma: optional precomputed per-bin RMS ``[B, F, 1]`` of the reference (streaming:
            running statistics); default ``reference_rms`` of ``x`` over its frames.

    Returns:
        float32 ``[B, N, F, 2 * M * L]``, last axis ordered ``(m, j, re/im)``.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = x.to(torch.complex64)
        if sigma is None:
            sigma = reference_rms(x[:, ref_channel], eps)  # [B, F, 1]
        xn = x / sigma.unsqueeze(1)  # [B, M, F, N]
        v = neighbourhood_taps(xn, taps_time, taps_freq)  # view [B, M, F, N, Lf, Lt]
        b, m, n_f, n_t, lf, lt = v.shape
        nb = v.permute(0, 3, 2, 1, 4, 5).reshape(b, n_t, n_f, m, lf * lt)  # one copy, output layout
        ref = xn[:, ref_channel].transpose(1, 2)[..., None, None]  # [B, N, F, 1, 1]
        num = ref * nb.conj()
        den = (ref.abs() * nb.abs() + eps).pow(beta)
        z = num / den  # [B, N, F, M, L]
        return torch.view_as_real(z).reshape(b, n_t, n_f, m * lf * lt * 2)
