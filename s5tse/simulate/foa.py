"""First-order ambisonics (FOA) conventions used throughout s5tse.

Channel order is ACN (Ambisonic Channel Number): ``W, Y, Z, X`` (ACN 0, 1, 2, 3),
the order of the DCASE 2026 Task 4 mixtures ("B-format (WYZX)").

Normalisation. For a plane wave from the unit direction ``(x, y, z)`` the
real first-order spherical harmonics are, up to a common factor,

====  ======  ====================
ACN   name    SN3D gain   (N3D = sqrt(3) x SN3D for ACN 1-3)
====  ======  ====================
0     W       1
1     Y       y = cos(el) sin(az)
2     Z       z = sin(el)
3     X       x = cos(el) cos(az)
====  ======  ====================

SN3D (Schmidt semi-normalised, the AmbiX convention) gives W and a dipole
pointing at the source the same amplitude; N3D scales the first-order channels
by sqrt(3); FuMa/B-format would scale W by 1/sqrt(2) and order the channels
W, X, Y, Z. The DCASE data is documented as ACN ``W, Y, Z, X`` but its
normalisation is **not documented**: SN3D is an assumption (the usual one for
ACN-ordered files). Everything that depends on it goes through
:func:`foa_encode_gains`.

Coordinates: right-handed, x to the front, y to the left, z up (the SOFA/AmbiX
convention). Azimuth is measured counter-clockwise from +x towards +y, elevation
upwards from the horizontal plane; both in degrees.

    >>> foa_encode_gains([0.0, 1.0, 0.0])          # source on the left
    array([1., 1., 0., 0.])
    >>> az, el = direction_to_azel([0.0, 1.0, 1.0])
    >>> float(az), float(el)
    (90.0, 45.0)
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

CHANNELS: Tuple[str, ...] = ("W", "Y", "Z", "X")
"""FOA channel names in ACN order (index = channel in the 4-channel audio)."""

NUM_CHANNELS = len(CHANNELS)

_EPS = 1e-12


def _unit(direction, what: str = "direction") -> np.ndarray:
    """``direction`` [..., 3] as float64 unit vectors; a zero vector is an error."""
    d = np.asarray(direction, dtype=np.float64)
    if d.ndim == 0 or d.shape[-1] != 3:
        raise ValueError(f"{what}: expected shape [..., 3], got {d.shape}")
    norm = np.linalg.norm(d, axis=-1, keepdims=True)
    if np.any(norm < _EPS):
        raise ValueError(f"{what}: zero-length vector has no direction")
    return d / norm


def foa_encode_gains(direction) -> np.ndarray:
    """ACN/SN3D encoding gains ``[W, Y, Z, X] = [1, y, z, x]`` for ``direction`` [..., 3].

    ``direction`` need not be unit length (it is normalised; a zero vector is an
    error). Returns float64 [..., 4]. See the module docstring for SN3D vs N3D.
    """
    u = _unit(direction)
    ones = np.ones(u.shape[:-1] + (1,), dtype=np.float64)
    return np.concatenate([ones, u[..., 1:2], u[..., 2:3], u[..., 0:1]], axis=-1)


def direction_to_azel(direction) -> Tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation (degrees) of ``direction`` [..., 3] (need not be unit length).

    Azimuth in (-180, 180], counter-clockwise from +x towards +y; elevation in
    [-90, 90], up from the x-y plane. Returns two float64 arrays of shape [...]
    (0-d arrays for a single vector).
    """
    u = _unit(direction)
    az = np.degrees(np.arctan2(u[..., 1], u[..., 0]))
    el = np.degrees(np.arctan2(u[..., 2], np.hypot(u[..., 0], u[..., 1])))
    return az, el


def azel_to_direction(azimuth_deg, elevation_deg) -> np.ndarray:
    """Unit vector(s) [..., 3] for azimuth/elevation in degrees (broadcast together).

    ``x = cos(el) cos(az)``, ``y = cos(el) sin(az)``, ``z = sin(el)``.
    """
    az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    el = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    az, el = np.broadcast_arrays(az, el)
    return np.stack(
        [np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1
    )


def angle_between(u, v) -> np.ndarray:
    """Angle in degrees, in [0, 180], between vectors ``u`` and ``v`` [..., 3] (broadcast).

    Computed as ``atan2(|u x v|, u . v)``, accurate for nearly (anti-)parallel vectors.
    """
    a = _unit(u, "angle_between: u")
    b = _unit(v, "angle_between: v")
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.sum(a * b, axis=-1)
    return np.degrees(np.arctan2(cross, dot))
