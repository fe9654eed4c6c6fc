"""Tests for s5tse.fileio.sofa: SOFA round trip, positions, resampling, errors and the cache."""
import os

import numpy as np
import pytest
import sofar

from s5tse.fileio import sofa as sofa_mod
from s5tse.fileio.sofa import SofaError, SofaRirs, clear_sofa_cache, load_sofa, write_sofa


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_sofa_cache()
    yield
    clear_sofa_cache()


@pytest.fixture
def read_counter(monkeypatch):
    """Count calls of sofar.read_sofa (the only way the module opens a file)."""
    calls = []
    real = sofar.read_sofa

    def spy(*args, **kwargs):
        calls.append(args[0] if args else kwargs.get("filename"))
        return real(*args, **kwargs)

    monkeypatch.setattr(sofar, "read_sofa", spy)
    return calls


def _random_set(m=5, r=4, n=200, seed=0):
    rng = np.random.default_rng(seed)
    ir = rng.normal(size=(m, r, n)).astype(np.float32)
    pos = rng.uniform(-3, 3, size=(m, 3))
    return ir, pos


def _write_raw(path, ir, sample_rate, source_position, position_type="cartesian",
               position_units="metre"):
    """Write a SOFA file with sofar directly (layouts write_sofa never produces)."""
    s = sofar.Sofa("GeneralFIR")
    s.Data_IR = np.asarray(ir, dtype=np.float64)
    s.Data_SamplingRate = float(sample_rate)
    s.Data_Delay = np.zeros((1, s.Data_IR.shape[1]))
    s.ReceiverPosition = np.zeros((s.Data_IR.shape[1], 3))
    s.SourcePosition = np.asarray(source_position, dtype=np.float64)
    s.SourcePosition_Type = position_type
    s.SourcePosition_Units = position_units
    sofar.write_sofa(str(path), s)


def test_round_trip(tmp_path):
    ir, pos = _random_set()
    path = tmp_path / "room.sofa"
    write_sofa(path, ir, pos, 32000, comment="test room")
    assert os.listdir(tmp_path) == ["room.sofa"]  # no temporary file left
    rirs = load_sofa(path)
    assert isinstance(rirs, SofaRirs)
    assert rirs.path == os.path.abspath(path)
    assert rirs.ir.dtype == np.float32 and rirs.ir.shape == (5, 4, 200)
    np.testing.assert_array_equal(rirs.ir, ir)
    np.testing.assert_array_equal(rirs.positions, pos)
    assert rirs.sample_rate == 32000 and rirs.file_sample_rate == 32000
    assert (rirs.num_positions, rirs.num_receivers, rirs.length) == (5, 4, 200)
    assert load_sofa(path, num_receivers=4) is rirs


def test_written_file_is_valid_sofa_with_room(tmp_path):
    ir, pos = _random_set(m=2)
    path = tmp_path / "shoebox.sofa"
    write_sofa(path, ir, pos, 32000, listener_position=(0.5, 0.25, 0.0),
               room_dims=[5.0, 4.0, 3.0], room_origin=[-2.0, -1.5, -1.0], comment="hello")
    s = sofar.read_sofa(str(path), verify=True, verbose=False)  # sofar's checker accepts it
    assert s.GLOBAL_SOFAConventions == sofa_mod.SOFA_CONVENTION == "GeneralFIR"
    assert s.GLOBAL_RoomType == "shoebox"
    assert s.GLOBAL_Comment == "hello"
    assert s.SourcePosition_Type == "cartesian" and s.SourcePosition_Units == "metre"
    np.testing.assert_allclose(np.ravel(s.RoomCornerA), [-2.0, -1.5, -1.0])
    np.testing.assert_allclose(np.ravel(s.RoomCornerB), [3.0, 2.5, 2.0])
    np.testing.assert_allclose(np.ravel(s.ListenerPosition), [0.5, 0.25, 0.0])
    assert float(s.Data_SamplingRate) == 32000.0


def test_write_sofa_overwrites_and_checks_arguments(tmp_path):
    ir, pos = _random_set()
    path = tmp_path / "a.sofa"
    write_sofa(path, ir, pos, 32000)
    write_sofa(path, 2 * ir, pos, 32000)
    np.testing.assert_array_equal(load_sofa(path).ir, 2 * ir)
    with pytest.raises(ValueError, match=r"\.sofa"):
        write_sofa(tmp_path / "a.nc", ir, pos, 32000)
    with pytest.raises(ValueError, match=r"positions must be \[M=5, 3\]"):
        write_sofa(tmp_path / "b.sofa", ir, pos[:3], 32000)
    with pytest.raises(ValueError, match=r"\[M, R, N\]"):
        write_sofa(tmp_path / "b.sofa", ir[0], pos, 32000)
    assert sorted(os.listdir(tmp_path)) == ["a.sofa"]


def test_arrays_are_read_only(tmp_path):
    ir, pos = _random_set()
    write_sofa(tmp_path / "r.sofa", ir, pos, 32000)
    rirs = load_sofa(tmp_path / "r.sofa")
    with pytest.raises(ValueError):
        rirs.ir[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        rirs.positions[0, 0] = 1.0
    with pytest.raises(AttributeError):
        rirs.sample_rate = 16000  # frozen dataclass


def test_index_of(tmp_path):
    ir, pos = _random_set()
    path = tmp_path / "r.sofa"
    write_sofa(path, ir, pos, 32000)
    rirs = load_sofa(path)
    for m in range(5):
        assert rirs.index_of(pos[m]) == m
        assert rirs.index_of(list(pos[m] + 5e-7)) == m
    with pytest.raises(SofaError, match=r"r\.sofa.*no source position equals \[9\.0, 9\.0, 9\.0\]"):
        rirs.index_of([9.0, 9.0, 9.0])
    with pytest.raises(SofaError, match="nearest"):
        rirs.index_of(pos[0] + 1e-3)
    assert rirs.index_of(pos[0] + 1e-3, atol=2e-3) == 0


def test_spherical_positions_are_converted(tmp_path):
    sph = np.array([[90.0, 0.0, 2.0], [0.0, 90.0, 1.0], [180.0, 0.0, 1.5], [45.0, 0.0, np.sqrt(2)],
                    [-90.0, -30.0, 2.0]])
    expected = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 1.0], [-1.5, 0.0, 0.0], [1.0, 1.0, 0.0],
                         [0.0, -np.sqrt(3), -1.0]])
    path = tmp_path / "sph.sofa"
    _write_raw(path, np.ones((5, 4, 16)), 32000, sph, "spherical", "degree, degree, metre")
    rirs = load_sofa(path)
    np.testing.assert_allclose(rirs.positions, expected, atol=1e-12)
    assert rirs.index_of([0.0, 2.0, 0.0], atol=1e-9) == 0


def test_resample_from_48k(tmp_path):
    n, f, amp = 4800, 200.0, 0.5
    t48 = np.arange(n) / 48000
    ir = np.zeros((2, 4, n))
    ir[:, :] = amp * np.sin(2 * np.pi * f * t48)
    path = tmp_path / "r48.sofa"
    write_sofa(path, ir, np.eye(2, 3), 48000)
    rirs = load_sofa(path, sample_rate=32000)
    assert abs(rirs.length - n * 32 / 48) <= 1
    assert rirs.sample_rate == 32000 and rirs.file_sample_rate == 48000
    t32 = np.arange(rirs.length) / 32000
    mid = slice(400, rirs.length - 400)  # away from the edges of the finite sine
    want = amp * np.sin(2 * np.pi * f * t32)
    np.testing.assert_allclose(rirs.ir[1, 3, mid], want[mid], atol=0.01 * amp)
    assert np.max(np.abs(rirs.ir[0, 0, mid])) == pytest.approx(amp, rel=0.01)
    # the native rate is available without resampling
    assert load_sofa(path, sample_rate=48000).length == n


def test_other_rate_without_resample_is_an_error(tmp_path):
    ir, pos = _random_set()
    path = tmp_path / "r48.sofa"
    write_sofa(path, ir, pos, 48000)
    with pytest.raises(SofaError, match=r"r48\.sofa.*48000 Hz, expected 32000 Hz"):
        load_sofa(path, resample=False)


def test_wrong_receiver_count(tmp_path):
    ir, pos = _random_set(r=2)
    path = tmp_path / "stereo.sofa"
    write_sofa(path, ir, pos, 32000)
    with pytest.raises(SofaError, match=r"stereo\.sofa.*expected 4 receivers.*has 2"):
        load_sofa(path, num_receivers=4)
    assert load_sofa(path).num_receivers == 2


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(SofaError, match=r"nothere\.sofa: SOFA file not found"):
        load_sofa(tmp_path / "nothere.sofa")
    bad = tmp_path / "bad.sofa"
    bad.write_bytes(b"this is not netCDF at all" * 10)
    with pytest.raises(SofaError, match=r"bad\.sofa: cannot read SOFA file") as info:
        load_sofa(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(SofaError, match="not a regular file"):
        load_sofa(tmp_path)


def test_position_count_mismatch(tmp_path):
    path = tmp_path / "one_pos.sofa"
    # SOFA allows one SourcePosition row for all measurements; the DCASE files do not
    _write_raw(path, np.ones((3, 4, 16)), 32000, [[1.0, 0.0, 0.0]])
    with pytest.raises(SofaError, match=r"one_pos\.sofa: Data\.IR has 3 measurements but "
                                        r"SourcePosition has 1 positions"):
        load_sofa(path)


def test_not_3d_and_empty(tmp_path, monkeypatch):
    class Fake:
        Data_IR = np.ones((4, 16))
        Data_SamplingRate = 32000.0
        SourcePosition = np.zeros((4, 3))
        SourcePosition_Type = "cartesian"
        SourcePosition_Units = "metre"

    class Empty(Fake):
        Data_IR = np.ones((0, 4, 16))
        SourcePosition = np.zeros((0, 3))

    path = tmp_path / "fake.sofa"
    path.write_bytes(b"x")
    monkeypatch.setattr(sofar, "read_sofa", lambda *a, **k: Fake())
    with pytest.raises(SofaError, match=r"fake\.sofa: Data\.IR must be 3-D \[M, R, N\], got shape \(4, 16\)"):
        load_sofa(path)
    monkeypatch.setattr(sofar, "read_sofa", lambda *a, **k: Empty())
    with pytest.raises(SofaError, match=r"fake\.sofa: no measurements"):
        load_sofa(path)


def test_cache_reuses_object_and_does_not_reopen(tmp_path, read_counter, monkeypatch):
    ir, pos = _random_set()
    path = tmp_path / "c.sofa"
    write_sofa(path, ir, pos, 32000)
    first = load_sofa(path)
    second = load_sofa(str(path))
    monkeypatch.chdir(tmp_path)
    third = load_sofa("c.sofa")  # relative path, same file
    assert first is second is third
    assert len(read_counter) == 1
    # another target rate is another entry
    other = load_sofa(path, sample_rate=16000)
    assert other is not first and other.length == 100
    assert len(read_counter) == 2


def test_cache_invalidated_when_file_changes(tmp_path, read_counter):
    ir, pos = _random_set()
    path = tmp_path / "c.sofa"
    write_sofa(path, ir, pos, 32000)
    first = load_sofa(path)
    # rewrite in place with new content, then give it a distinct mtime
    write_sofa(path, ir * 3, pos, 32000)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = load_sofa(path)
    assert second is not first
    np.testing.assert_array_equal(second.ir, ir * 3)
    np.testing.assert_array_equal(first.ir, ir)  # the old object is untouched
    assert len(read_counter) == 2
    # touching alone (same content, new mtime) also re-reads
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert load_sofa(path) is not second
    assert len(read_counter) == 3
