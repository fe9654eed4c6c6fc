"""Tests for s5tse.simulate.renderer against an independent slow float64 reference."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import sofar

from s5tse.fileio.sofa import clear_sofa_cache, write_sofa
from s5tse.simulate import renderer as R
from s5tse.simulate.renderer import (
    RenderedScene,
    SofaRoom,
    clear_caches,
    render_scene,
    rir_cache_info,
    set_rir_cache_limit,
)
from s5tse.simulate.scene import Event, Scene, SceneError, room_config, room_dict

SR = 32000
RIR_LEN = 3000
DEV = "data/dev_set"
FG_DIR = f"{DEV}/sound_event/train"
BG_DIR = f"{DEV}/noise/train"
INT_DIR = f"{DEV}/interference/train"
SOFA_REL = f"{DEV}/room_ir/train/room.sofa"
AZ = np.radians(np.arange(8) * 45.0)
POSITIONS = np.stack([np.cos(AZ), np.sin(AZ), np.full(8, 0.1)], 1) * 1.5


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    clear_sofa_cache()
    yield
    clear_caches()
    clear_sofa_cache()
    set_rir_cache_limit(512 * 2**20)


def _wav(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(data, dtype=np.float32), SR, subtype="FLOAT")


def _rirs(m: int, n: int, nchan: int = 4, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ir = rng.normal(size=(m, nchan, n)) * np.exp(-np.arange(n) / 1000.0) * 0.1
    ir[:, :, :250] = 0.0
    for i in range(m):  # direct path at a different delay per position
        ir[i, :, 300 + 17 * i] += 1.0
    return ir


@pytest.fixture
def root(tmp_path):
    """A tiny dataset root with events, interferers, noises and one 8-position room."""
    rng = np.random.default_rng(0)
    dev = tmp_path / DEV
    _wav(dev / "sound_event/train/Speech/a/s1.wav", rng.normal(size=int(0.45 * SR)))
    _wav(dev / "sound_event/train/Speech/b/s2.wav", rng.normal(size=int(1.0 * SR)))
    _wav(dev / "sound_event/train/Dishes/d1.wav", rng.normal(size=(int(0.3 * SR), 2)))  # stereo
    _wav(dev / "sound_event/train/Cough/c1.wav", rng.normal(size=int(0.2 * SR)))
    _wav(dev / "interference/train/Bird/b1.wav", rng.normal(size=int(0.35 * SR)))
    _wav(dev / "noise/train/long.wav", rng.normal(size=(int(1.5 * SR), 4)) * 0.1)
    _wav(dev / "noise/train/short.wav", rng.normal(size=(int(0.4 * SR), 4)) * 0.1)
    _wav(dev / "noise/train/two.wav", rng.normal(size=(int(1.5 * SR), 2)) * 0.1)
    write_sofa(dev / "room_ir/train/room.sofa", _rirs(8, RIR_LEN), POSITIONS, SR)
    return tmp_path


def _pos(i):
    return [[float(v) for v in POSITIONS[i]]]


def _fg(file, pos, event_time, dur, snr, label="Speech", source_time=0.0):
    return Event(label, file, source_time, event_time, dur, _pos(pos), snr, "foreground")


def _scene(fg=(), ints=(), bg=("long.wav", 0.3), duration=1.0, ref_db=-55):
    config = {
        "duration": duration,
        "sr": SR,
        "max_event_overlap": 3,
        "max_event_dur": duration,
        "ref_db": ref_db,
        "foreground_dir": FG_DIR,
        "background_dir": BG_DIR,
        "interference_dir": INT_DIR,
        "room_config": room_config("train"),
    }
    bg_events = []
    if bg is not None:
        bg_events = [Event(None, bg[0], bg[1], 0.0, duration, None, 0.0, "background")]
    return Scene(
        config=config,
        fg_events=list(fg),
        bg_events=bg_events,
        int_events=list(ints),
        room=room_dict(SOFA_REL, sr=SR, nchan=4, nrir=8, rir_len=RIR_LEN),
    )


def _default_scene():
    return _scene(
        fg=[
            _fg("Speech/a/s1.wav", 0, 0.1, 0.45, 12.0),
            _fg("Speech/b/s2.wav", 3, 0.2, 0.5, 7.5, source_time=0.3),  # same class, offset
            _fg("Dishes/d1.wav", 5, 0.55, 0.3, 18.0, label="Dishes"),
        ],
        ints=[Event("Bird", "Bird/b1.wav", 0.0, 0.4, 0.35, _pos(6), 4.0, "interference")],
    )


# ----------------------------------------------------------------- slow reference
def reference_render(scene_dict, root):
    """Independent float64 implementation of the official definitions (np.convolve)."""
    cfg = scene_dict["config"]
    sr = cfg["sr"]
    t_len = int(cfg["duration"] * sr)
    meta = scene_dict["room"]["args"]["metadata"]
    sofa = sofar.read_sofa(str(root / meta["sofa_path"]), verify=False, verbose=False)
    irs = np.asarray(sofa.Data_IR, dtype=np.float64)
    positions = np.asarray(sofa.SourcePosition, dtype=np.float64)
    before, after = meta["direct_range_ms"]
    mix = np.zeros((irs.shape[1], t_len))
    for ev in scene_dict["bg_events"]:
        data, _ = sf.read(
            str(root / cfg["background_dir"] / ev["source_file"]), dtype="float64", always_2d=True
        )
        idx = (int(ev["source_time"] * sr) + np.arange(t_len)) % data.shape[0]
        noise = data[idx].T
        g = 10 ** ((cfg["ref_db"] + ev["snr"] - 10 * np.log10(np.mean(noise**2))) / 20)
        mix += g * noise
    drys = []
    for key, dkey in (("fg_events", "foreground_dir"), ("int_events", "interference_dir")):
        for ev in scene_dict[key]:
            data, _ = sf.read(
                str(root / cfg[dkey] / ev["source_file"]), dtype="float64", always_2d=True
            )
            s0 = int(ev["source_time"] * sr)
            x = data[s0 : s0 + int(ev["event_duration"] * sr)].mean(axis=1)
            x = x / np.max(np.abs(x))
            m = int(
                np.flatnonzero(np.all(np.abs(positions - ev["event_position"][0]) < 1e-6, 1))[0]
            )
            h = irs[m] / np.sqrt(np.mean(np.sum(irs[m] ** 2, axis=1)))
            wet = np.stack([np.convolve(x, hc) for hc in h])
            g = 10 ** ((cfg["ref_db"] + ev["snr"] - 10 * np.log10(np.mean(wet**2))) / 20)
            on = int(ev["event_time"] * sr)
            n = min(wet.shape[1], t_len - on)
            mix[:, on : on + n] += g * wet[:, :n]
            if key == "fg_events":
                t0 = int(np.argmax(np.abs(h[0])))
                a = max(0, t0 - int(before * sr / 1000))
                b = min(h.shape[1] - 1, t0 + int(after * sr / 1000))
                hw = np.zeros_like(h[0])
                hw[a : b + 1] = h[0, a : b + 1]
                d = g * np.convolve(x, hw)
                row = np.zeros(t_len)
                row[on : on + n] = d[:n]
                drys.append(row)
    return mix, np.array(drys).reshape(len(drys), t_len)


def _assert_close(a, b, rel=1e-5):
    scale = max(np.max(np.abs(b)), 1e-30)
    assert np.max(np.abs(a.astype(np.float64) - b)) <= rel * scale


# ------------------------------------------------------------------------- tests
def test_matches_slow_reference(root):
    scene = _default_scene()
    out = render_scene(scene, root)
    assert isinstance(out, RenderedScene)
    assert out.mixture.dtype == np.float32 and out.mixture.shape == (4, SR)
    assert out.dry.dtype == np.float32 and out.dry.shape == (3, SR)
    assert out.labels == ["Speech", "Speech", "Dishes"]
    ref_mix, ref_dry = reference_render(scene.to_dict(), root)
    _assert_close(out.mixture, ref_mix)
    for k in range(3):
        _assert_close(out.dry[k], ref_dry[k])


def test_json_round_trip_renders_bit_identically(root, tmp_path):
    scene = _default_scene()
    direct = render_scene(scene, root)
    path = tmp_path / "scene.json"
    scene.to_json(path)
    again = render_scene(Scene.from_json(path), root)
    assert np.array_equal(direct.mixture, again.mixture)
    assert np.array_equal(direct.dry, again.dry)
    assert np.array_equal(direct.spans, again.spans)


def test_cache_state_does_not_change_bits(root):
    scene = _default_scene()
    cold = render_scene(scene, root)
    assert rir_cache_info()["entries"] > 0
    warm = render_scene(scene, root)
    assert rir_cache_info()["hits"] > 0
    set_rir_cache_limit(0)
    clear_caches()
    uncached = render_scene(scene, root)
    assert rir_cache_info()["entries"] == 0
    for other in (warm, uncached):
        assert np.array_equal(cold.mixture, other.mixture)
        assert np.array_equal(cold.dry, other.dry)


def test_event_level_is_ref_db_plus_snr(root):
    # alone in a silent clip long enough to hold the whole tail
    ev = _fg("Speech/a/s1.wav", 2, 0.05, 0.45, 11.3)
    scene = _scene(fg=[ev], bg=None, duration=1.0, ref_db=-40)
    out = render_scene(scene, root)
    on = int(0.05 * SR)
    full = int(0.45 * SR) + RIR_LEN - 1
    assert on + full < SR
    image = out.mixture[:, on : on + full].astype(np.float64)
    assert np.all(out.mixture[:, :on] == 0) and np.all(out.mixture[:, on + full :] == 0)
    level = 10 * np.log10(np.mean(image**2))
    assert abs(level - (-40 + 11.3)) < 0.01


def test_background_level_is_ref_db(root):
    out = render_scene(_scene(bg=("long.wav", 0.2)), root)
    assert abs(10 * np.log10(np.mean(out.mixture.astype(np.float64) ** 2)) - (-55)) < 0.01


def test_dry_reference_is_windowed_w_convolution(root):
    from s5tse.fileio.sofa import load_sofa
    from s5tse.simulate.rir import direct_path_window, normalize_rir

    ev = _fg("Cough/c1.wav", 4, 0.3, 0.2, 9.0, label="Cough")
    scene = _scene(fg=[ev], bg=None)
    out = render_scene(scene, root)
    rirs = load_sofa(root / SOFA_REL)
    h = normalize_rir(rirs.ir[4]).astype(np.float64)
    start, stop = direct_path_window(h[0], SR, 6, 50)
    assert stop - start == int(0.006 * SR) + int(0.05 * SR) + 1  # inside the RIR
    assert start > 0 and stop < RIR_LEN
    x, _ = sf.read(str(root / FG_DIR / "Cough/c1.wav"), dtype="float64")
    x = x / np.max(np.abs(x))
    wet = np.stack([np.convolve(x, hc) for hc in h])
    g = 10 ** ((-55 + 9.0 - 10 * np.log10(np.mean(wet**2))) / 20)
    hw = np.zeros_like(h[0])
    hw[start:stop] = h[0, start:stop]
    expected = np.zeros(SR)
    d = g * np.convolve(x, hw)
    on = int(0.3 * SR)
    expected[on : on + len(d)] = d[: SR - on]
    _assert_close(out.dry[0], expected)
    assert np.all(out.dry[0, : on + start] == 0)
    assert out.dry[0, on + start] != 0
    assert out.spans.tolist() == [[on + start, min(SR, on + start + len(x) + stop - start - 1)]]
    # the mixture of this scene is the full wet image, not the dry one
    assert not np.allclose(out.mixture[0], out.dry[0])


def test_zero_target_scene(root):
    scene = _scene(
        ints=[Event("Bird", "Bird/b1.wav", 0.0, 0.1, 0.35, _pos(1), 3.0, "interference")]
    )
    out = render_scene(scene, root)
    assert out.dry.shape == (0, SR)
    assert out.spans.shape == (0, 2)
    assert out.labels == ["silence"] * 3
    ref_mix, _ = reference_render(scene.to_dict(), root)
    _assert_close(out.mixture, ref_mix)
    assert out.padded_dry().shape == (3, SR) and not out.padded_dry().any()


def test_short_noise_is_tiled(root):
    scene = _scene(bg=("short.wav", 0.0))
    out = render_scene(scene, root)
    ref_mix, _ = reference_render(scene.to_dict(), root)
    _assert_close(out.mixture, ref_mix)
    period = int(0.4 * SR)
    assert np.allclose(out.mixture[:, :1000], out.mixture[:, period : period + 1000])


def test_truncation_at_clip_end(root):
    # the event fits, its reverb tail does not
    ev = _fg("Speech/a/s1.wav", 7, 0.55, 0.45, 15.0)
    scene = _scene(fg=[ev], bg=None)
    out = render_scene(scene, root)
    ref_mix, ref_dry = reference_render(scene.to_dict(), root)
    assert out.mixture.shape == (4, SR)
    _assert_close(out.mixture, ref_mix)
    _assert_close(out.dry[0], ref_dry[0])
    assert out.spans[0, 1] == SR
    # the gain comes from the full convolution (as in the reference): the part inside the
    # clip holds less energy than the whole image, ref_db + snr over its full support
    on, full = int(0.55 * SR), int(0.45 * SR) + RIR_LEN - 1
    assert on + full > SR
    energy_in_clip = np.sum(out.mixture.astype(np.float64) ** 2)
    assert 0 < energy_in_clip < 10 ** ((-55 + 15.0) / 10) * 4 * full


def test_onset_after_clip_end_adds_nothing(root):
    ev = _fg("Cough/c1.wav", 0, 1.2, 0.2, 10.0, label="Cough")
    out = render_scene(_scene(fg=[ev], bg=None), root)
    assert not out.mixture.any() and not out.dry.any()
    assert out.spans.tolist() == [[SR, SR]]


def test_want_dry_false(root):
    scene = _default_scene()
    full = render_scene(scene, root)
    mix_only = render_scene(scene, root, want_dry=False)
    assert mix_only.dry is None
    assert np.array_equal(full.mixture, mix_only.mixture)
    assert np.array_equal(full.spans, mix_only.spans)


def test_position_not_in_sofa(root, tmp_path):
    scene = _default_scene()
    scene.fg_events[1].event_position = [[POSITIONS[3][0] + 1e-3, POSITIONS[3][1], POSITIONS[3][2]]]
    path = tmp_path / "bad_pos.json"
    scene.to_json(path)
    with pytest.raises(
        SceneError, match=r"bad_pos\.json.*fg_events\[1\].*not a measured position.*room\.sofa"
    ):
        render_scene(Scene.from_json(path), root)


def test_position_within_tolerance_is_accepted(root):
    scene = _scene(fg=[_fg("Cough/c1.wav", 2, 0.1, 0.2, 10.0, label="Cough")])
    exact = render_scene(scene, root)
    scene.fg_events[0].event_position = [[POSITIONS[2][0] + 4e-7, POSITIONS[2][1], POSITIONS[2][2]]]
    assert np.array_equal(exact.mixture, render_scene(scene, root).mixture)


def test_noise_rir_channel_mismatch(root, tmp_path):
    scene = _scene(bg=("two.wav", 0.0))
    path = tmp_path / "mismatch.json"
    scene.to_json(path)
    with pytest.raises(
        SceneError, match=r"mismatch\.json.*two\.wav has 2 channels.*room\.sofa have 4"
    ):
        render_scene(Scene.from_json(path), root)


def test_missing_source_file(root, tmp_path):
    scene = _default_scene()
    scene.fg_events[0].source_file = "Speech/a/nope.wav"
    path = tmp_path / "missing.json"
    scene.to_json(path)
    with pytest.raises(SceneError, match=r"missing\.json.*Speech/a/nope\.wav: no such file"):
        render_scene(Scene.from_json(path), root)


def test_missing_sofa_and_layout_mismatch(root):
    scene = _default_scene()
    scene.room["args"]["metadata"]["sofa_path"] = f"{DEV}/room_ir/train/none.sofa"
    with pytest.raises(SceneError, match="none.sofa: no such file"):
        render_scene(scene, root)
    scene = _default_scene()
    scene.room["args"]["metadata"]["nrir"] = 108
    with pytest.raises(SceneError, match="room.sofa has 8 RIRs x 4 channels x 3000 samples"):
        render_scene(scene, root)


def test_rir_length_differing_from_metadata_warns_and_renders(root, caplog):
    """The metadata's rir_len is informational (a resampler may differ by one sample)."""
    reference = render_scene(_default_scene(), root)
    scene = _default_scene()
    scene.room["args"]["metadata"]["rir_len"] = 3001
    with caplog.at_level("WARNING"):
        out = render_scene(scene, root)
    assert "metadata says 3001" in caplog.text
    np.testing.assert_array_equal(out.mixture, reference.mixture)


def test_sofa_room_metadata_round_trip():
    meta = room_dict("data/dev_set/room_ir/train/x.sofa", sr=SR, nchan=4, nrir=108, rir_len=174763)[
        "args"
    ]["metadata"]
    room = SofaRoom.from_metadata(meta)
    assert room.metadata() == meta
    assert json.loads(json.dumps(room.metadata())) == meta


def test_parseval_weights():
    rng = np.random.default_rng(0)
    for n in (10, 11):
        y = rng.normal(size=n)
        spec = np.fft.rfft(y)
        assert np.isclose(np.sum(np.abs(spec) ** 2 * R._parseval_weights(n)), np.sum(y**2))
