"""Differentiable SNR and SI-SDR (torch), with the epsilon convention of the DCASE metric.

The DCASE 2026 Task 4 metric (reference ``dcase2026_task4.md`` §5.1) is a plain SNR, neither
scale-invariant nor zero-mean, with the float32 machine epsilon in numerator and
denominator::

    SNR(est, ref)    = 10 log10((sum ref^2 + eps) / (sum (ref - est)^2 + eps))
    SI-SDR(est, ref) = 10 log10((sum (a ref)^2 + eps) / (sum (a ref - est)^2 + eps)),
                       a = (sum est ref + eps) / (sum ref^2 + eps)
    eps = torch.finfo(torch.float32).eps = 1.19e-7

(the SI-SDR is torchmetrics' ``scale_invariant_signal_distortion_ratio`` formula, optionally
on zero-mean signals). Sums run over the last axis; leading axes broadcast, so a
``[B, K, T]`` pair gives ``[B, K]``. Half-precision inputs are computed in float32, float64
stays float64. :mod:`s5tse.metrics.sdr` is the numpy scoring twin of :func:`snr`.

Losses are the negated ratios (lower is better)::

    neg_snr(est, ref)            # [..., T] x [..., T] -> [...]   (= snr_loss)
    neg_si_sdr(est, ref)         # [..., T] x [..., T] -> [...]
    pairwise_neg_snr(est, ref)   # [B, K, T] x [B, K, T] -> [B, K, K], out[b, i, j] = -SNR(est_j, ref_i)
    pairwise_neg_si_sdr(est, ref)

Notes:
    * An all-zero estimate of a non-zero reference has SNR 0 dB; an all-zero estimate of an
      all-zero reference has SNR 0 dB too (both energies are eps). SNR against an all-zero
      reference is ``-10 log10(1 + sum est^2 / eps) <= 0``, a usable "be silent" penalty.
    * SI-SDR of an all-zero reference is degenerate (``a = eps / eps = 1``, so it equals the
      SNR); never train silent slots with it.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "EPS",
    "snr",
    "si_sdr",
    "neg_snr",
    "snr_loss",
    "neg_si_sdr",
    "pairwise_neg_snr",
    "pairwise_neg_si_sdr",
]

EPS: float = float(torch.finfo(torch.float32).eps)

_TEN_OVER_LN10 = 10.0 / math.log(10.0)


def _prepare(est: Tensor, ref: Tensor):
    if est.dim() < 1 or ref.dim() < 1:
        raise ValueError(f"expected tensors [..., T], got shapes {tuple(est.shape)} and {tuple(ref.shape)}")
    if est.shape[-1] != ref.shape[-1]:
        raise ValueError(
            f"est and ref differ in length: {est.shape[-1]} vs {ref.shape[-1]} samples"
        )
    if est.shape[-1] == 0:
        raise ValueError("signals have no samples")
    dtype = torch.promote_types(est.dtype, ref.dtype)
    if not dtype.is_floating_point or torch.finfo(dtype).bits < 32:
        dtype = torch.float32
    return est.to(dtype), ref.to(dtype)


def _db(num: Tensor, den: Tensor) -> Tensor:
    # 10 log10(num / den) as a difference of logs: no overflow of the ratio in float32.
    return _TEN_OVER_LN10 * (torch.log(num) - torch.log(den))


def snr(est: Tensor, ref: Tensor, *, eps: float = EPS) -> Tensor:
    """Signal-to-noise ratio in dB along the last axis (the DCASE metric's formula).

    Args:
        est (Tensor): estimate, ``[..., T]``.
        ref (Tensor): reference, ``[..., T]``; leading axes broadcast against ``est``.
        eps (float): added to both energies (float32 machine epsilon, as the metric).

    Returns:
        Tensor: ``[...]``, ``10 log10((sum ref^2 + eps) / (sum (ref - est)^2 + eps))``.

    Examples:
        >>> ref = torch.ones(2, 3, 100)
        >>> snr(0.9 * ref, ref).shape
        torch.Size([2, 3])
        >>> round(float(snr(0.9 * ref, ref)[0, 0]), 3)   # 10 log10(100 / 1)
        20.0
    """
    est, ref = _prepare(est, ref)
    signal = ref.pow(2).sum(-1)
    noise = (ref - est).pow(2).sum(-1)
    return _db(signal + eps, noise + eps)


def si_sdr(est: Tensor, ref: Tensor, *, zero_mean: bool = False, eps: float = EPS) -> Tensor:
    """Scale-invariant SDR in dB along the last axis (torchmetrics' formula).

    Args:
        est (Tensor): estimate, ``[..., T]``.
        ref (Tensor): reference, ``[..., T]``; leading axes broadcast against ``est``.
        zero_mean (bool): subtract each signal's mean first (torchmetrics default False).
        eps (float): regulariser of the projection and of both energies.

    Returns:
        Tensor: ``[...]``; with ``a = (<est, ref> + eps) / (|ref|^2 + eps)``,
        ``10 log10((|a ref|^2 + eps) / (|a ref - est|^2 + eps))``.

    Examples:
        >>> ref = torch.randn(2, 3, 1000)
        >>> est = ref + 0.1 * torch.randn_like(ref)
        >>> bool(torch.allclose(si_sdr(0.5 * est, ref), si_sdr(2.0 * est, ref), atol=1e-4))
        True
    """
    est, ref = _prepare(est, ref)
    if zero_mean:
        est = est - est.mean(-1, keepdim=True)
        ref = ref - ref.mean(-1, keepdim=True)
    scale = ((est * ref).sum(-1, keepdim=True) + eps) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = scale * ref
    signal = target.pow(2).sum(-1)
    noise = (target - est).pow(2).sum(-1)
    return _db(signal + eps, noise + eps)


def neg_snr(est: Tensor, ref: Tensor, *, eps: float = EPS) -> Tensor:
    """Negative SNR (a loss, lower is better): ``[..., T] x [..., T] -> [...]``.

    Examples:
        >>> est, ref = torch.randn(4, 3, 32000), torch.randn(4, 3, 32000)
        >>> neg_snr(est, ref).shape
        torch.Size([4, 3])
    """
    return -snr(est, ref, eps=eps)


snr_loss = neg_snr


def neg_si_sdr(est: Tensor, ref: Tensor, *, zero_mean: bool = False, eps: float = EPS) -> Tensor:
    """Negative SI-SDR (a loss): ``[..., T] x [..., T] -> [...]``.

    Examples:
        >>> est, ref = torch.randn(4, 3, 32000), torch.randn(4, 3, 32000)
        >>> neg_si_sdr(est, ref).shape
        torch.Size([4, 3])
    """
    return -si_sdr(est, ref, zero_mean=zero_mean, eps=eps)


def _check_pairwise(est: Tensor, ref: Tensor) -> None:
    if est.dim() != 3 or ref.dim() != 3 or est.shape[0] != ref.shape[0] or est.shape[2] != ref.shape[2]:
        raise ValueError(
            f"expected est [B, K_est, T] and ref [B, K_ref, T], got {tuple(est.shape)} and {tuple(ref.shape)}"
        )


def pairwise_neg_snr(est: Tensor, ref: Tensor, *, eps: float = EPS) -> Tensor:
    """Negative SNR of every estimate against every reference of the same batch item.

    Args:
        est (Tensor): ``[B, K_est, T]``.
        ref (Tensor): ``[B, K_ref, T]``.

    Returns:
        Tensor: ``[B, K_ref, K_est]`` with ``out[b, i, j] = -SNR(est[b, j], ref[b, i])``
        (references on the rows, estimates on the columns, as the class-aware PIT matrix).

    Examples:
        >>> est, ref = torch.randn(2, 3, 800), torch.randn(2, 3, 800)
        >>> pw = pairwise_neg_snr(est, ref)
        >>> pw.shape
        torch.Size([2, 3, 3])
        >>> bool(torch.allclose(pw[:, 0, 2], neg_snr(est[:, 2], ref[:, 0])))
        True
    """
    _check_pairwise(est, ref)
    return neg_snr(est.unsqueeze(1), ref.unsqueeze(2), eps=eps)


def pairwise_neg_si_sdr(est: Tensor, ref: Tensor, *, zero_mean: bool = False, eps: float = EPS) -> Tensor:
    """Negative SI-SDR, pairwise: ``[B, K_est, T] x [B, K_ref, T] -> [B, K_ref, K_est]``.

    ``out[b, i, j] = -SI-SDR(est[b, j], ref[b, i])`` (see :func:`pairwise_neg_snr`).

    Examples:
        >>> est, ref = torch.randn(2, 3, 800), torch.randn(2, 3, 800)
        >>> pairwise_neg_si_sdr(est, ref).shape
        torch.Size([2, 3, 3])
    """
    _check_pairwise(est, ref)
    return neg_si_sdr(est.unsqueeze(1), ref.unsqueeze(2), zero_mean=zero_mean, eps=eps)
