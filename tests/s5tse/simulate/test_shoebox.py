"""Tests for s5tse.simulate.shoebox: image-source FOA RIRs checked against free-field geometry."""
import numpy as np
import pytest

from s5tse.fileio.sofa import clear_sofa_cache, load_sofa, write_sofa
from s5tse.simulate.foa import angle_between
from s5tse.simulate.rir import direct_path_window
from s5tse.simulate.shoebox import make_room, sample_source_positions, shoebox_foa_rirs

SR = 32000
C = 343.0  # speed of sound used by pyroomacoustics by default

# a 60 m cube: with the mic and source near the centre, every reflection arrives
# > 150 ms after the direct path, far outside the 6 ms / 50 ms direct-path window
BIG_ROOM = [60.0, 60.0, 60.0]
BIG_MIC = np.array([30.0, 30.0, 30.0])


def _energy(x):
    return float(np.sum(np.asarray(x, dtype=np.float64) ** 2))


@pytest.mark.parametrize(
    "axis, channel",
    [((1, 0, 0), 3), ((0, 1, 0), 1), ((0, 0, 1), 2)],
    ids=["+x->X", "+y->Y", "+z->Z"],
)
def test_direct_path_foa_direction(axis, channel):
    d = 1.5
    src = BIG_MIC + d * np.asarray(axis, dtype=float)
    ir = shoebox_foa_rirs(BIG_ROOM, BIG_MIC, [src], absorption=0.5, max_order=1, sample_rate=SR)
    assert ir.shape[:2] == (1, 4) and ir.dtype == np.float32
    h = ir[0].astype(np.float64)
    start, stop = direct_path_window(h[0], SR)
    w = _energy(h[0, start:stop])
    assert w > 0
    assert _energy(h[channel, start:stop]) / w == pytest.approx(1.0, abs=0.01)
    # same sign as W (the dipole points at the source)
    assert np.sum(h[channel, start:stop] * h[0, start:stop]) > 0
    for other in {1, 2, 3} - {channel}:
        assert _energy(h[other, start:stop]) < 1e-4 * w
    # the reflections exist, outside the window
    assert _energy(h[0, stop:]) > 0


def test_direct_path_negative_x_flips_x():
    src = BIG_MIC + np.array([-2.0, 0.0, 0.0])
    h = shoebox_foa_rirs(BIG_ROOM, BIG_MIC, [src], absorption=0.5, max_order=0)[0].astype(float)
    start, stop = direct_path_window(h[0], SR)
    np.testing.assert_allclose(h[3, start:stop], -h[0, start:stop], atol=1e-7)


def test_direct_path_arrival_and_amplitude_integer_delay():
    d = C * 96 / SR  # exactly 96 samples
    src = BIG_MIC + np.array([d, 0.0, 0.0])
    ir = shoebox_foa_rirs(BIG_ROOM, BIG_MIC, [src], absorption=0.5, max_order=0, sample_rate=SR)
    w = ir[0, 0].astype(np.float64)
    assert int(np.argmax(np.abs(w))) == 96
    assert w[96] == pytest.approx(1.0 / (4 * np.pi * d), rel=0.01)
    # natural length: last tap of the 81-tap fractional-delay filter
    assert ir.shape[-1] == 96 + 40 + 1


@pytest.mark.parametrize("d", [1.234, 2.345, 4.71])
def test_direct_path_arrival_and_energy_fractional_delay(d):
    src = BIG_MIC + np.array([0.0, 0.0, -d])
    w = shoebox_foa_rirs(BIG_ROOM, BIG_MIC, [src], absorption=0.5, max_order=0)[0, 0]
    expected = d / C * SR
    assert abs(int(np.argmax(np.abs(w))) - expected) <= 2
    # a band-limited unit impulse has unit energy and unit sum
    assert _energy(w) == pytest.approx((1.0 / (4 * np.pi * d)) ** 2, rel=0.03)
    assert float(np.sum(w.astype(np.float64))) == pytest.approx(1.0 / (4 * np.pi * d), rel=0.01)


def test_first_order_floor_reflection():
    room = [20.0, 20.0, 6.0]
    mic = np.array([10.0, 10.0, 1.5])
    src = np.array([12.0, 10.0, 1.5])
    alpha = 0.36  # amplitude reflection coefficient sqrt(1 - 0.36) = 0.8
    h = shoebox_foa_rirs(room, mic, [src], absorption=alpha, max_order=1)[0].astype(float)
    image = np.array([12.0, 10.0, -1.5])  # mirror of the source in the floor z = 0
    vec = image - mic
    dist = np.linalg.norm(vec)
    t = dist / C * SR
    lo, hi = int(t) - 45, int(t) + 46  # the direct path (2 m, 187 samples) and the ceiling
    w = h[0, lo:hi]                    # image (9.2 m) are far from this window
    assert abs(lo + int(np.argmax(np.abs(w))) - t) <= 2
    assert _energy(w) == pytest.approx((0.8 / (4 * np.pi * dist)) ** 2, rel=0.03)
    # projections onto W give the direction cosines in Y, Z, X
    ww = _energy(w)
    unit = vec / dist
    for ch, comp in ((1, unit[1]), (2, unit[2]), (3, unit[0])):
        assert np.sum(h[ch, lo:hi] * w) / ww == pytest.approx(comp, abs=1e-6)


def test_length_truncates_and_pads():
    src = BIG_MIC + np.array([0.0, 2.0, 0.0])
    full = shoebox_foa_rirs(BIG_ROOM, BIG_MIC, [src], absorption=0.5, max_order=0)
    n = full.shape[-1]
    short = shoebox_foa_rirs(BIG_ROOM, BIG_MIC, [src], absorption=0.5, max_order=0, length=n - 20)
    np.testing.assert_array_equal(short, full[..., : n - 20])
    long = shoebox_foa_rirs(BIG_ROOM, BIG_MIC, [src], absorption=0.5, max_order=0, length=n + 300)
    np.testing.assert_array_equal(long[..., :n], full)
    assert not np.any(long[..., n:])


def test_several_sources_share_length():
    srcs = BIG_MIC + np.array([[1.0, 0, 0], [0, 3.0, 0], [0, 0, -2.0]])
    ir = shoebox_foa_rirs(BIG_ROOM, BIG_MIC, srcs, absorption=0.5, max_order=0)
    assert ir.shape == (3, 4, int(3.0 / C * SR) + 41)
    for m, d in enumerate([1.0, 3.0, 2.0]):
        assert abs(int(np.argmax(np.abs(ir[m, 0]))) - d / C * SR) <= 2


def test_rand_displacement_keeps_direct_path_and_is_seeded():
    room, mic, src = [5.0, 4.0, 3.0], [2.5, 2.0, 1.5], [[1.0, 1.0, 1.0]]
    plain = shoebox_foa_rirs(room, mic, src, rt60=0.3, max_order=6, length=4000)
    a = shoebox_foa_rirs(room, mic, src, rt60=0.3, max_order=6, length=4000,
                         rand_displacement=0.05, seed=1)
    b = shoebox_foa_rirs(room, mic, src, rt60=0.3, max_order=6, length=4000,
                         rand_displacement=0.05, seed=1)
    c = shoebox_foa_rirs(room, mic, src, rt60=0.3, max_order=6, length=4000,
                         rand_displacement=0.05, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, plain)
    # the direct path is untouched: compare up to where the earliest reflection's filter
    # can start (floor image at 3.08 m, moved by at most 0.05 * sqrt(3) m)
    nearest_image = np.linalg.norm(np.subtract([1.0, 1.0, -1.0], mic))
    first = int((nearest_image - 0.09) / C * SR) - 41
    assert first > int(np.linalg.norm(np.subtract(src[0], mic)) / C * SR) + 41
    np.testing.assert_array_equal(a[..., :first], plain[..., :first])


def test_higher_rt60_has_more_late_energy():
    room, mic, src = [6.0, 5.0, 3.0], [3.0, 2.5, 1.5], [[1.2, 1.3, 1.1]]

    def late_fraction(rt60):
        h = shoebox_foa_rirs(room, mic, src, rt60=rt60, max_order=12, length=16000)[0, 0]
        start, stop = direct_path_window(h, SR)
        return _energy(h[stop:]) / _energy(h)

    assert late_fraction(0.8) > late_fraction(0.3) > 0


def test_shoebox_errors():
    room, mic = [5.0, 4.0, 3.0], [2.5, 2.0, 1.5]
    with pytest.raises(ValueError, match="exactly one"):
        shoebox_foa_rirs(room, mic, [[1, 1, 1]])
    with pytest.raises(ValueError, match="exactly one"):
        shoebox_foa_rirs(room, mic, [[1, 1, 1]], rt60=0.3, absorption=0.2)
    with pytest.raises(ValueError, match="source position"):
        shoebox_foa_rirs(room, mic, [[6.0, 1, 1]], rt60=0.3)
    with pytest.raises(ValueError, match="mic position"):
        shoebox_foa_rirs(room, [2.5, 2.0, -1.0], [[1, 1, 1]], rt60=0.3)
    with pytest.raises(ValueError, match="coincides"):
        shoebox_foa_rirs(room, mic, [mic], rt60=0.3)
    with pytest.raises(ValueError, match=r"\[M, 3\]"):
        shoebox_foa_rirs(room, mic, [[1, 1]], rt60=0.3)


def test_sample_source_positions():
    room, mic = np.array([5.0, 4.0, 3.0]), np.array([2.5, 2.0, 1.5])
    pos = sample_source_positions(room, mic, 50, 1.0, np.random.default_rng(0), wall_margin=0.4)
    assert pos.shape == (50, 3)
    assert np.all(pos >= 0.4) and np.all(pos <= room - 0.4)
    assert np.all(np.linalg.norm(pos - mic, axis=1) >= 1.0)
    again = sample_source_positions(room, mic, 50, 1.0, np.random.default_rng(0), wall_margin=0.4)
    np.testing.assert_array_equal(pos, again)
    with pytest.raises(ValueError, match="could not place"):
        sample_source_positions(room, mic, 3, 10.0, np.random.default_rng(0), max_tries=100)


def test_make_room_positions_directions_and_determinism():
    room, mic = [5.0, 4.0, 3.0], np.array([2.5, 2.0, 1.5])
    ir, rel = make_room("small", room, 0.4, mic, 4, seed=3, length=8000, max_order=8)
    assert ir.shape == (4, 4, 8000) and ir.dtype == np.float32
    assert rel.shape == (4, 3)
    absolute = rel + mic
    assert np.all(absolute >= 0.5) and np.all(absolute <= np.array(room) - 0.5)
    dist = np.linalg.norm(rel, axis=1)
    assert np.all(dist >= 1.0)
    for m in range(4):
        h = ir[m].astype(np.float64)
        t = int(round(dist[m] / C * SR))
        sl = slice(t - 2, t + 3)
        # pseudo-intensity vector of the direct path points at the source
        intensity = np.array([np.sum(h[3, sl] * h[0, sl]), np.sum(h[1, sl] * h[0, sl]),
                              np.sum(h[2, sl] * h[0, sl])])
        assert float(angle_between(intensity, rel[m])) < 5.0
    ir2, rel2 = make_room("small", room, 0.4, mic, 4, seed=3, length=8000, max_order=8)
    np.testing.assert_array_equal(ir, ir2)
    np.testing.assert_array_equal(rel, rel2)
    _, rel3 = make_room("small", room, 0.4, mic, 4, seed=4, length=8000, max_order=8)
    assert not np.array_equal(rel, rel3)
    with pytest.raises(ValueError, match="'tiny'"):
        make_room("tiny", [1.0, 1.0, 1.0], 0.3, [0.5, 0.5, 0.5], 2, seed=0)


def test_make_room_to_sofa_round_trip(tmp_path):
    clear_sofa_cache()
    room, mic = [4.0, 3.5, 2.7], np.array([2.1, 1.6, 1.3])
    ir, rel = make_room("r1", room, 0.3, mic, 3, seed=0, length=4000, max_order=6)
    path = tmp_path / "r1.sofa"
    write_sofa(path, ir, rel, SR, room_dims=room, room_origin=-mic, comment="shoebox r1")
    rirs = load_sofa(path, num_receivers=4)
    np.testing.assert_array_equal(rirs.ir, ir)
    for m in range(3):
        assert rirs.index_of(rel[m]) == m
    clear_sofa_cache()
