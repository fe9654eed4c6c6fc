"""FOA room impulse responses of shoebox rooms (image-source model), for the built-in mini corpus.

pyroomacoustics computes the image sources of a rectangular room (positions,
wall-reflection damping, reflection order); this module turns every image into
a band-limited impulse in each FOA channel:

* delay ``tau = |image - mic| / c`` seconds, placed with a Hann-windowed sinc
  fractional-delay filter (81 taps) centred on ``tau * sample_rate`` (no extra
  latency: the direct path of a source at ``d`` metres peaks at ``d / c * sr``);
* amplitude ``damping / (4 pi |image - mic|)`` (``damping`` = product of the wall
  amplitude reflection coefficients ``sqrt(1 - absorption)``, 1 for the direct path);
* ACN/SN3D gains :func:`s5tse.simulate.foa.foa_encode_gains` of the unit vector
  from the microphone to the image.

The receiver is an ideal coincident FOA microphone at ``mic_position``; walls are
frequency-independent (one absorption coefficient), there is no air absorption
and no late diffuse tail: reflections stop at ``max_order``. That is enough for
the mini corpus and for tests of the spatial pipeline, not a model of the DCASE rooms.

    ir, rel = make_room("small", [5.0, 4.0, 3.0], 0.4, [2.5, 2.0, 1.5], 6, seed=0,
                        length=32000)                  # [6, 4, 32000], [6, 3]
    write_sofa("room_ir/small.sofa", ir, rel, 32000, room_dims=[5, 4, 3],
               room_origin=[-2.5, -2.0, -1.5])
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import pyroomacoustics as pra

from s5tse.simulate.foa import NUM_CHANNELS, foa_encode_gains

FRAC_DELAY_HALF_LENGTH = 40
"""The fractional-delay filter has ``2 * 40 + 1 = 81`` taps."""

DEFAULT_MAX_ORDER = 15

# delays within this many samples below an integer are rounded up to it, so that a
# distance of exactly k samples (up to float rounding) gives a single-tap impulse
_SNAP = 1e-9


def _check_in_room(points: np.ndarray, room_dim: np.ndarray, what: str) -> None:
    inside = np.all((points > 0.0) & (points < room_dim[None, :]), axis=1)
    if not np.all(inside):
        bad = points[np.flatnonzero(~inside)[0]].tolist()
        raise ValueError(f"{what} {bad} is not inside the room [0, {room_dim.tolist()}]")


def _absorption(room_dim: np.ndarray, rt60: Optional[float], absorption: Optional[float]) -> float:
    if (rt60 is None) == (absorption is None):
        raise ValueError("shoebox: give exactly one of rt60 and absorption")
    if absorption is None:
        if rt60 <= 0:
            raise ValueError(f"shoebox: rt60 must be > 0, got {rt60}")
        try:
            absorption, _ = pra.inverse_sabine(float(rt60), room_dim.tolist())
        except ValueError as exc:
            raise ValueError(f"shoebox: rt60 {rt60} s impossible for room {room_dim.tolist()}: {exc}") from None
    if not 0.0 < absorption <= 1.0:
        raise ValueError(f"shoebox: energy absorption must be in (0, 1], got {absorption}")
    return float(absorption)


def _exact_images(images: np.ndarray, source: np.ndarray, room_dim: np.ndarray) -> np.ndarray:
    """Snap pyroomacoustics' float32 image positions [n, 3] to the exact float64 lattice.

    In a shoebox every image coordinate is ``2 k L + s`` or ``2 k L - s`` (``s`` the
    source coordinate, ``L`` the room length on that axis, ``k`` an integer); the
    nearest such value to the float32 estimate is the exact image.
    """
    two_l = 2.0 * room_dim[None, :]
    s = source[None, :]
    even = np.round((images - s) / two_l) * two_l + s
    odd = np.round((images + s) / two_l) * two_l - s
    return np.where(np.abs(even - images) <= np.abs(odd - images), even, odd)


def _frac_delay_taps(frac: np.ndarray, half: int = FRAC_DELAY_HALF_LENGTH) -> np.ndarray:
    """Hann-windowed sinc taps [n, 2*half+1] delaying by ``frac`` (in [0, 1)) samples.

    Tap ``k`` (k = -half..half) sits at integer offset ``k`` from ``floor(tau)``;
    its value is ``sinc(k - frac) * w(k - frac)`` with ``w(t) = 0.5 (1 + cos(pi t / (half + 1)))``.
    """
    k = np.arange(-half, half + 1, dtype=np.float64)
    t = k[None, :] - frac[:, None]
    return np.sinc(t) * 0.5 * (1.0 + np.cos(np.pi * t / (half + 1)))


def shoebox_foa_rirs(
    room_dim: Sequence[float],
    mic_position: Sequence[float],
    source_positions,
    *,
    rt60: Optional[float] = None,
    absorption: Optional[float] = None,
    sample_rate: int = 32000,
    length: Optional[int] = None,
    max_order: int = DEFAULT_MAX_ORDER,
    rand_displacement: float = 0.0,
    seed: Optional[int] = None,
) -> np.ndarray:
    """FOA RIRs [M, 4, N] float32 (ACN W, Y, Z, X; SN3D) of a shoebox room.

    Args:
        room_dim: [Lx, Ly, Lz] metres; the room spans ``[0, L]`` on each axis.
        mic_position: [3] absolute position of the FOA microphone.
        source_positions: [M, 3] absolute source positions (strictly inside the room).
        rt60: target reverberation time (s); the uniform wall absorption comes from
            Sabine's formula (:func:`pyroomacoustics.inverse_sabine`). The achieved
            decay is shorter when ``max_order`` truncates the reflections.
        absorption: uniform energy absorption coefficient in (0, 1] instead of ``rt60``.
        sample_rate: Hz.
        length: N samples (truncate or zero-pad); None = just long enough for the
            last image's filter.
        max_order: highest reflection order (0 = direct path only).
        rand_displacement: if > 0, each reflected image (order >= 1) is moved by
            a uniform random offset in ``[-d, d]`` metres per axis (randomised image
            method, breaks the sweeping echoes of a perfectly regular lattice).
        seed: seed of that displacement.
    """
    room = np.asarray(room_dim, dtype=np.float64).reshape(-1)
    mic = np.asarray(mic_position, dtype=np.float64).reshape(-1)
    src = np.atleast_2d(np.asarray(source_positions, dtype=np.float64))
    if room.shape != (3,) or np.any(room <= 0):
        raise ValueError(f"shoebox: room_dim must be 3 positive lengths, got {room.tolist()}")
    if mic.shape != (3,):
        raise ValueError(f"shoebox: mic_position must be [x, y, z], got {mic.tolist()}")
    if src.ndim != 2 or src.shape[1] != 3 or src.shape[0] == 0:
        raise ValueError(f"shoebox: source_positions must be [M, 3], got shape {src.shape}")
    if max_order < 0:
        raise ValueError(f"shoebox: max_order must be >= 0, got {max_order}")
    if length is not None and length <= 0:
        raise ValueError(f"shoebox: length must be > 0, got {length}")
    _check_in_room(mic[None, :], room, "shoebox: mic position")
    _check_in_room(src, room, "shoebox: source position")
    alpha = _absorption(room, rt60, absorption)

    pra_room = pra.ShoeBox(room.tolist(), fs=sample_rate, materials=pra.Material(alpha),
                           max_order=int(max_order), air_absorption=False)
    for s in src:
        pra_room.add_source(s.tolist())
    pra_room.add_microphone(mic.tolist())
    pra_room.image_source_model()
    c = float(pra_room.c)
    rng = np.random.default_rng(seed)

    # per source: delays (samples), amplitudes and mic-to-image vectors of all images
    per_source = []
    for k, source in enumerate(pra_room.sources):
        visible = np.asarray(pra_room.visibility[k])[0].astype(bool)
        images = np.asarray(source.images, dtype=np.float64)[:, visible].T      # [n, 3]
        images = _exact_images(images, src[k], room)
        damping = np.atleast_2d(np.asarray(source.damping, dtype=np.float64))[:, visible]
        if damping.shape[0] != 1:
            raise RuntimeError("shoebox: expected frequency-independent (single-band) damping")
        orders = np.asarray(source.orders)[visible]
        if rand_displacement > 0:
            reflected = orders > 0
            images[reflected] += rng.uniform(-rand_displacement, rand_displacement,
                                             size=(int(reflected.sum()), 3))
        vec = images - mic[None, :]
        dist = np.linalg.norm(vec, axis=1)
        if np.min(dist) < 1e-3:
            raise ValueError(f"shoebox: source {src[k].tolist()} coincides with the microphone")
        per_source.append((dist / c * sample_rate, damping[0] / (4.0 * np.pi * dist), vec))

    half = FRAC_DELAY_HALF_LENGTH
    if length is None:
        length = max(int(np.floor(tau.max() + _SNAP)) for tau, _, _ in per_source) + half + 1
    out = np.zeros((src.shape[0], NUM_CHANNELS, int(length)), dtype=np.float64)
    offsets = np.arange(-half, half + 1)
    for m, (tau, amp, vec) in enumerate(per_source):
        n0 = np.floor(tau + _SNAP).astype(np.int64)   # frac in [-_SNAP, 1 - _SNAP)
        taps = _frac_delay_taps(tau - n0) * amp[:, None]                       # [n, 81]
        idx = n0[:, None] + offsets[None, :]
        valid = (idx >= 0) & (idx < length)
        gains = foa_encode_gains(vec)                                          # [n, 4]
        flat_idx = idx[valid]
        for ch in range(NUM_CHANNELS):
            weights = (taps * gains[:, ch:ch + 1])[valid]
            out[m, ch] = np.bincount(flat_idx, weights=weights, minlength=int(length))
    return out.astype(np.float32)


def sample_source_positions(
    room_dim: Sequence[float],
    mic_position: Sequence[float],
    n: int,
    min_dist: float,
    rng: np.random.Generator,
    *,
    wall_margin: float = 0.5,
    max_tries: int = 10000,
) -> np.ndarray:
    """``n`` absolute source positions [n, 3], uniform in the room shrunk by ``wall_margin``
    on every side, each at least ``min_dist`` metres from the microphone (rejection sampling).
    """
    room = np.asarray(room_dim, dtype=np.float64).reshape(3)
    mic = np.asarray(mic_position, dtype=np.float64).reshape(3)
    low, high = np.full(3, wall_margin), room - wall_margin
    if np.any(high <= low):
        raise ValueError(f"sample_source_positions: wall_margin {wall_margin} too large for room {room.tolist()}")
    found = []
    for _ in range(max_tries):
        p = rng.uniform(low, high)
        if np.linalg.norm(p - mic) >= min_dist:
            found.append(p)
            if len(found) == n:
                return np.stack(found)
    raise ValueError(
        f"sample_source_positions: could not place {n} sources at >= {min_dist} m from the mic "
        f"{mic.tolist()} in room {room.tolist()} (margin {wall_margin} m)"
    )


def make_room(
    name: str,
    room_dim: Sequence[float],
    rt60: float,
    mic_position: Sequence[float],
    n_positions: int,
    seed: int,
    sample_rate: int = 32000,
    *,
    length: Optional[int] = None,
    max_order: int = DEFAULT_MAX_ORDER,
    min_dist: float = 1.0,
    wall_margin: float = 0.5,
) -> Tuple[np.ndarray, np.ndarray]:
    """FOA RIRs of ``n_positions`` random sources in one shoebox room.

    Returns ``(ir [M, 4, N] float32, rel_positions [M, 3] float64)``; the positions
    are relative to the microphone (Cartesian metres), i.e. what goes into the SOFA
    ``SourcePosition`` with the listener at the origin. ``name`` only labels errors.
    Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    mic = np.asarray(mic_position, dtype=np.float64).reshape(3)
    try:
        sources = sample_source_positions(room_dim, mic, n_positions, min_dist, rng,
                                          wall_margin=wall_margin)
        ir = shoebox_foa_rirs(room_dim, mic, sources, rt60=rt60, sample_rate=sample_rate,
                              length=length, max_order=max_order)
    except ValueError as exc:
        raise ValueError(f"make_room {name!r}: {exc}") from None
    return ir, sources - mic[None, :]
