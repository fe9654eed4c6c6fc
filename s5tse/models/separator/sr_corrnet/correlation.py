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
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["num_taps", "unfold_neighbourhood", "reference_rms", "correlation_feature"]


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


def unfold_neighbourhood(x: Tensor, taps_time: Sequence[int], taps_freq: Sequence[int]) -> Tensor:
    """``x [B, M, F, N]`` (complex or real) -> ``[B, M, L, F, N]`` zero-padded neighbourhood."""
    p, q = _pair(taps_time, "taps_time")
    d, u = _pair(taps_freq, "taps_freq")
    n_f, n_t = x.shape[-2], x.shape[-1]
    xp = F.pad(x, (p, q, d, u))  # pads the last dim by (p, q), the frequency dim by (d, u)
    taps = [
        xp[..., i : i + n_f, l : l + n_t]
        for i in range(d + u + 1)  # i - d = frequency offset
        for l in range(p + q + 1)  # l - p = frame offset
    ]
    return torch.stack(taps, dim=-3)


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
        nb = unfold_neighbourhood(xn, taps_time, taps_freq)  # [B, M, L, F, N]
        ref = xn[:, ref_channel][:, None, None]  # [B, 1, 1, F, N]
        num = ref * nb.conj()
        den = (ref.abs() * nb.abs() + eps).pow(beta)
        z = num / den  # [B, M, L, F, N]
        b, m, l, n_f, n_t = z.shape
        feat = torch.view_as_real(z.permute(0, 4, 3, 1, 2).contiguous())  # [B, N, F, M, L, 2]
        return feat.reshape(b, n_t, n_f, m * l * 2)
