"""Tests for s5tse.simulate.foa: ACN/SN3D gains, azimuth/elevation, angles."""
import numpy as np
import pytest

from s5tse.simulate.foa import (
    CHANNELS,
    angle_between,
    azel_to_direction,
    direction_to_azel,
    foa_encode_gains,
)


def test_channel_order_is_acn():
    assert CHANNELS == ("W", "Y", "Z", "X")


@pytest.mark.parametrize(
    "direction, expected",
    [
        ([1, 0, 0], [1, 0, 0, 1]),     # front: X
        ([0, 1, 0], [1, 1, 0, 0]),     # left: Y
        ([0, 0, 1], [1, 0, 1, 0]),     # up: Z
        ([-1, 0, 0], [1, 0, 0, -1]),
        ([0, -3, 0], [1, -1, 0, 0]),   # not unit length: normalised
    ],
)
def test_foa_encode_gains_axes(direction, expected):
    np.testing.assert_allclose(foa_encode_gains(direction), expected, atol=1e-15)


def test_foa_encode_gains_sn3d_norm_and_batch():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(5, 7, 3))
    g = foa_encode_gains(d)
    assert g.shape == (5, 7, 4)
    # SN3D: W = 1 and the three dipoles have unit total power for a plane wave
    np.testing.assert_allclose(g[..., 0], 1.0)
    np.testing.assert_allclose(np.sum(g[..., 1:] ** 2, axis=-1), 1.0, atol=1e-12)
    # dipoles are the Cartesian components of the unit vector in Y, Z, X order
    u = d / np.linalg.norm(d, axis=-1, keepdims=True)
    np.testing.assert_allclose(g[..., 1:], u[..., [1, 2, 0]], atol=1e-12)


def test_foa_encode_gains_errors():
    with pytest.raises(ValueError, match="zero-length"):
        foa_encode_gains([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"\[\.\.\., 3\]"):
        foa_encode_gains([1.0, 0.0])


@pytest.mark.parametrize(
    "direction, az, el",
    [
        ([1, 0, 0], 0.0, 0.0),
        ([0, 1, 0], 90.0, 0.0),
        ([0, -2, 0], -90.0, 0.0),
        ([-1, 0, 0], 180.0, 0.0),
        ([0, 0, 5], 0.0, 90.0),
        ([1, 1, 0], 45.0, 0.0),
        ([1, 0, -1], 0.0, -45.0),
    ],
)
def test_direction_to_azel_known_values(direction, az, el):
    got_az, got_el = direction_to_azel(direction)
    assert float(got_az) == pytest.approx(az, abs=1e-12)
    assert float(got_el) == pytest.approx(el, abs=1e-12)


def test_azel_to_direction_known_values_and_round_trip():
    np.testing.assert_allclose(azel_to_direction(90.0, 0.0), [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(azel_to_direction(0.0, 90.0), [0, 0, 1], atol=1e-15)
    np.testing.assert_allclose(azel_to_direction(180.0, 0.0), [-1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(azel_to_direction(45.0, 0.0), [np.sqrt(0.5), np.sqrt(0.5), 0])
    rng = np.random.default_rng(1)
    az = rng.uniform(-179, 179, size=50)
    el = rng.uniform(-89, 89, size=50)
    d = azel_to_direction(az, el)
    assert d.shape == (50, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0)
    az2, el2 = direction_to_azel(d)
    np.testing.assert_allclose(az2, az, atol=1e-9)
    np.testing.assert_allclose(el2, el, atol=1e-9)
    # broadcasting a scalar elevation
    assert azel_to_direction([0.0, 90.0, 180.0], 0.0).shape == (3, 3)


def test_angle_between():
    assert float(angle_between([1, 0, 0], [0, 1, 0])) == pytest.approx(90.0)
    assert float(angle_between([1, 0, 0], [2, 0, 0])) == pytest.approx(0.0, abs=1e-12)
    assert float(angle_between([1, 0, 0], [-1, 0, 0])) == pytest.approx(180.0)
    assert float(angle_between([1, 1, 0], [1, 0, 0])) == pytest.approx(45.0)
    # tiny angles stay accurate (arccos of the dot product would give 0)
    eps = 1e-9
    assert float(angle_between([1, 0, 0], [1, eps, 0])) == pytest.approx(np.degrees(eps), rel=1e-6)
    # broadcasting
    got = angle_between(np.eye(3), [1, 0, 0])
    np.testing.assert_allclose(got, [0, 90, 90], atol=1e-12)
    with pytest.raises(ValueError, match="zero-length"):
        angle_between([0, 0, 0], [1, 0, 0])
