"""Tests for s5tse.simulate.sources and s5tse.simulate.generator (reference §3.1 rules)."""

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s5tse.corpus.dcase import DCASE2026
from s5tse.labels import ClassInventory
from s5tse.fileio.sofa import clear_sofa_cache, write_sofa
from s5tse.simulate.foa import angle_between
from s5tse.simulate.generator import GeneratorConfig, generate_scene, scene_rng, scene_seed_words
from s5tse.corpus.dev_set import resolve_dataset_root, scan_dev_set
from s5tse.simulate.sources import DatasetError, group_of

SR = 32000
DEV = "data/dev_set"
AZ = np.radians(np.arange(8) * 45.0)
CIRCLE = np.stack([np.cos(AZ), np.sin(AZ), np.zeros(8)], 1) * 2.0
# all within 20 degrees of each other: no two are more than 60 degrees apart
NARROW = np.stack(
    [np.cos(np.radians([0, 10, 20])), np.sin(np.radians([0, 10, 20])), np.zeros(3)], 1
)

# class -> {relative path below the class folder: seconds}
EVENTS = {
    "Speech": {"a/s1.wav": 0.5, "a/s2.wav": 0.7, "b/s3.wav": 2.6, "c/deep/s4.wav": 0.4},
    "Dishes": {"d1.wav": 0.3, "d2.wav": 1.2},
    "Cough": {"x/c1.wav": 0.25},
}
INTERFERENCE = {"Bird": {"b1.wav": 0.4}, "Car passing by": {"c1.wav": 3.1}}
NOISES = {"long.wav": (4, 5.5), "short.wav": (4, 1.0)}


@pytest.fixture(autouse=True)
def _fresh_sofa_cache():
    clear_sofa_cache()
    yield
    clear_sofa_cache()


def _wav(path: Path, seconds: float, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * SR))
    data = np.full((n, channels), 0.1, dtype=np.float32)
    sf.write(str(path), data, SR, subtype="PCM_16")


def make_root(
    tmp: Path,
    events=EVENTS,
    interference=INTERFERENCE,
    noises=NOISES,
    rooms=(("room1.sofa", CIRCLE),),
    nchan=4,
    split="train",
) -> Path:
    dev = tmp / DEV
    for cls, files in events.items():
        for rel, sec in files.items():
            _wav(dev / "sound_event" / split / cls / rel, sec)
    for cls, files in (interference or {}).items():
        for rel, sec in files.items():
            _wav(dev / "interference" / split / cls / rel, sec)
    for name, (ch, sec) in noises.items():
        _wav(dev / "noise" / split / name, sec, ch)
    for name, pos in rooms:
        ir = np.zeros((len(pos), nchan, 64))
        ir[:, :, 3] = 1.0
        write_sofa(dev / "room_ir" / split / name, ir, pos, SR)
    return tmp


SMALL = dict(duration=2.0, max_event_dur=2.0)


@pytest.fixture
def root(tmp_path):
    return make_root(tmp_path)


# ---------------------------------------------------------------------- sources
def test_source_index_lists(root):
    index = scan_dev_set(root, classes=DCASE2026)
    assert index.fg_labels == ["Cough", "Dishes", "Speech"]  # inventory order
    assert "AlarmClock" in index.missing_classes and len(index.missing_classes) == 15
    other = scan_dev_set(root, classes=ClassInventory(["Speech", "Dishes", "Cough", "Dog"]))
    assert other.fg_labels == ["Speech", "Dishes", "Cough"] and other.missing_classes == ["Dog"]
    assert scan_dev_set(root).fg_labels == ["Cough", "Dishes", "Speech"]  # no inventory: sorted
    assert [f.rel for f in index.fg_files["Speech"]] == [
        "Speech/a/s1.wav",
        "Speech/a/s2.wav",
        "Speech/b/s3.wav",
        "Speech/c/deep/s4.wav",
    ]
    assert [f.group for f in index.fg_files["Speech"]] == ["a", "a", "b", "c"]
    assert [f.group for f in index.fg_files["Dishes"]] == ["d1.wav", "d2.wav"]
    assert index.int_labels == ["Bird", "Car passing by"]
    assert index.noise_files == ["long.wav", "short.wav"]
    assert index.rooms == [f"{DEV}/room_ir/train/room1.sofa"]
    assert index.duration("foreground", "Speech/b/s3.wav") == pytest.approx(2.6)
    assert index.info("background", "long.wav").channels == 4
    room = index.room(index.rooms[0])
    assert (room.nchan, room.nrir, room.rir_len) == (4, 8, 64)
    np.testing.assert_allclose(room.positions, CIRCLE)
    assert group_of("Speech/c/deep/s4.wav", 2) == "c/deep"
    assert group_of("Dishes/d1.wav", 1) == "d1.wav"


def test_resolve_dataset_root(root):
    assert resolve_dataset_root(root) == root
    assert resolve_dataset_root(root / "data") == root
    assert resolve_dataset_root(root / "data" / "dev_set") == root
    with pytest.raises(DatasetError, match="not a dataset root"):
        resolve_dataset_root(root / "data" / "dev_set" / "noise")


@pytest.mark.parametrize(
    "breakage, pattern",
    [
        (
            lambda r: (r / DEV / "sound_event/train/Kitten").mkdir(),
            r"Kitten: unknown target class folder",
        ),
        (
            lambda r: (r / DEV / "sound_event/train/Buzzer").mkdir(),
            r"Buzzer: class folder has no \.wav files",
        ),
        (
            lambda r: (r / DEV / "interference/train/Empty").mkdir(),
            r"Empty: class folder has no \.wav files",
        ),
        (
            lambda r: [p.unlink() for p in (r / DEV / "noise/train").iterdir()],
            r"noise/train: no noise \.wav",
        ),
        (
            lambda r: [p.unlink() for p in (r / DEV / "room_ir/train").iterdir()],
            r"room_ir/train: no \.sofa",
        ),
    ],
)
def test_source_index_errors(root, breakage, pattern):
    breakage(root)
    with pytest.raises(DatasetError, match=pattern):
        scan_dev_set(root, classes=DCASE2026)


def test_bad_wavs_are_named(root):
    index = scan_dev_set(root)
    sf.write(str(index.abspath("foreground", "Speech/a/s1.wav")), np.zeros((0, 1)), SR)
    (root / DEV / "sound_event/train/Speech/a/s2.wav").write_bytes(b"not a wav file")
    index = scan_dev_set(root)
    with pytest.raises(DatasetError, match=r"Speech/a/s1\.wav: audio has no samples"):
        index.duration("foreground", "Speech/a/s1.wav")
    with pytest.raises(DatasetError, match=r"Speech/a/s2\.wav: cannot read audio header"):
        index.duration("foreground", "Speech/a/s2.wav")


def test_missing_split(root):
    with pytest.raises(DatasetError, match=r"sound_event/valid: no such folder"):
        scan_dev_set(root, split="valid")


# ----------------------------------------------------------------------- config
def test_config_defaults_are_official():
    cfg = GeneratorConfig()
    assert (cfg.duration, cfg.sr, cfg.max_event_overlap, cfg.max_event_dur, cfg.ref_db) == (
        10.0,
        32000,
        3,
        10.0,
        -55,
    )
    assert cfg.nevent_range == (0, 3) and cfg.snr_range == (5, 20)
    assert cfg.ninterference_range == (0, 2) and cfg.interference_snr_range == (0, 15)
    assert (
        cfg.dupse_rate,
        cfg.dupse_min_angle,
        cfg.max_n_dupse,
        cfg.dupse_exclusion_folder_depth,
    ) == (0.5, 60.0, 2, 1)
    assert cfg.direct_range_ms == (6, 50) and cfg.shuffle_label is True
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown key"):
        GeneratorConfig.from_dict({"nevents": 3})
    with pytest.raises(ValueError, match="snr_range"):
        GeneratorConfig(snr_range=(20, 5))
    with pytest.raises(ValueError, match="max_event_overlap"):
        GeneratorConfig(nevent_range=(0, 4))


def test_seed_words_are_a_stable_hash():
    digest = hashlib.sha256(b"7/mix_0001").digest()
    expected = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    assert scene_seed_words(7, "mix_0001") == expected
    a = scene_rng(7, "mix_0001").random(4)
    assert np.array_equal(a, scene_rng(7, "mix_0001").random(4))
    assert not np.array_equal(a, scene_rng(7, "mix_0002").random(4))


# ------------------------------------------------------------------- generation
def test_deterministic(root):
    cfg = GeneratorConfig(**SMALL)
    a = generate_scene(scan_dev_set(root), cfg, 3, "mix_0005").to_json()
    b = generate_scene(scan_dev_set(root), cfg, 3, "mix_0005").to_json()
    assert a == b
    index = scan_dev_set(root)
    others = {generate_scene(index, cfg, 3, f"mix_{i:04d}").to_json() for i in range(10)}
    assert len(others) == 10
    assert generate_scene(index, cfg, 4, "mix_0005").to_json() != a


def test_generator_rules(root):
    index = scan_dev_set(root)
    cfg = GeneratorConfig(**SMALL)
    room = index.room(index.rooms[0])
    n_fg, n_int, dups = [], [], 0
    for i in range(300):
        s = generate_scene(index, cfg, 0, f"mix_{i:04d}")
        n_fg.append(len(s.fg_events))
        n_int.append(len(s.int_events))
        assert s.config["foreground_dir"] == f"{DEV}/sound_event/train"
        assert s.room_metadata == {
            "sofa_path": f"{DEV}/room_ir/train/room1.sofa",
            "sr": SR,
            "nchan": 4,
            "nrir": 8,
            "rir_len": 64,
            "direct_range_ms": [6, 50],
        }
        for ev in s.fg_events + s.int_events:
            role = ev.role
            dur = index.duration(role, ev.source_file)
            assert ev.event_duration == min(dur, 2.0)
            assert 0 <= ev.event_time <= 2.0 - ev.event_duration
            if dur > 2.0:
                assert 0 <= ev.source_time <= dur - 2.0
            else:
                assert ev.source_time == 0
            assert any(np.array_equal(ev.event_position[0], p) for p in room.positions)
            lo, hi = (5, 20) if role == "foreground" else (0, 15)
            assert lo <= ev.snr <= hi
        (bg,) = s.bg_events
        assert bg.label is None and bg.event_position is None and bg.snr == 0
        assert bg.event_time == 0 and bg.event_duration == 2.0
        if bg.source_file == "long.wav":
            assert bg.source_time == int(bg.source_time) and 0 <= bg.source_time <= 3.5
        else:
            assert bg.source_time == 0
        labels = s.labels()
        for label in set(labels):
            same = [e for e in s.fg_events if e.label == label]
            if len(same) > 1:
                dups += 1
                for e1, e2 in itertools.combinations(same, 2):
                    assert angle_between(e1.event_position[0], e2.event_position[0]) > 60
                    assert group_of(e1.source_file) != group_of(e2.source_file)
    assert set(n_fg) == {0, 1, 2, 3} and set(n_int) == {0, 1, 2}
    assert dups > 20


def test_separator_range_and_no_duplicates(root):
    index = scan_dev_set(root)
    cfg = GeneratorConfig(nevent_range=(1, 3), dupse_rate=0.0, **SMALL)
    for i in range(60):
        labels = generate_scene(index, cfg, 1, f"m{i}").labels()
        assert 1 <= len(labels) <= 3 and len(set(labels)) == len(labels)


def test_duplicates_possible(tmp_path):
    # Speech has three speakers and eight positions 45 degrees apart: three events > 60
    # degrees apart exist; Cough (one folder) can never be duplicated
    root = make_root(tmp_path, events={"Speech": EVENTS["Speech"], "Cough": EVENTS["Cough"]})
    index = scan_dev_set(root)
    cfg = GeneratorConfig(nevent_range=(3, 3), dupse_rate=1.0, **SMALL)
    triples = 0
    for i in range(40):
        s = generate_scene(index, cfg, 0, f"dup{i}")
        labels = s.labels()
        assert labels.count("Cough") <= 1 and labels.count("Speech") >= 1
        speech = [e for e in s.fg_events if e.label == "Speech"]
        triples += len(speech) == 3
        assert len({group_of(e.source_file) for e in speech}) == len(speech)
        for e1, e2 in itertools.combinations(speech, 2):
            assert angle_between(e1.event_position[0], e2.event_position[0]) > 60
    assert triples > 0


@pytest.mark.parametrize("why", ["files", "positions"])
def test_impossible_duplicate_becomes_distinct_label(tmp_path, why):
    if why == "files":  # every file of a class in the same first-level folder
        events = {
            "Speech": {"a/s1.wav": 0.5, "a/s2.wav": 0.6},
            "Dishes": {"x/d1.wav": 0.3, "x/d2.wav": 0.4},
        }
        rooms = (("room1.sofa", CIRCLE),)
    else:  # no two positions more than 60 degrees apart
        events = EVENTS
        rooms = (("room1.sofa", NARROW),)
    index = scan_dev_set(make_root(tmp_path, events=events, rooms=rooms))
    cfg = GeneratorConfig(nevent_range=(2, 2), dupse_rate=1.0, **SMALL)
    for i in range(30):
        labels = generate_scene(index, cfg, 0, f"s{i}").labels()
        assert len(labels) == 2 and len(set(labels)) == 2


def test_impossible_duplicate_without_spare_class_is_dropped(tmp_path):
    index = scan_dev_set(make_root(tmp_path, events={"Speech": {"a/s1.wav": 0.5, "a/s2.wav": 0.6}}))
    cfg = GeneratorConfig(nevent_range=(2, 2), dupse_rate=1.0, **SMALL)
    assert generate_scene(index, cfg, 0, "s").labels() == ["Speech"]


def test_too_few_classes(tmp_path):
    index = scan_dev_set(make_root(tmp_path, events={"Speech": {"a/s1.wav": 0.5}}))
    cfg = GeneratorConfig(nevent_range=(2, 2), dupse_rate=0.0, **SMALL)
    with pytest.raises(DatasetError, match="2 distinct target classes needed, only 1 present"):
        generate_scene(index, cfg, 0, "s")


def test_interference_needed(tmp_path):
    index = scan_dev_set(make_root(tmp_path, interference=None))
    with pytest.raises(DatasetError, match="interference/train: no interference classes"):
        generate_scene(index, GeneratorConfig(**SMALL), 0, "s")
    s = generate_scene(index, GeneratorConfig(ninterference_range=(0, 0), **SMALL), 0, "s")
    assert s.int_events == []


def test_noise_channel_mismatch(tmp_path):
    index = scan_dev_set(make_root(tmp_path, noises={"two.wav": (2, 3.0)}))
    with pytest.raises(
        DatasetError, match=r"two\.wav has 2 channels but the RIRs of .*room1\.sofa have 4"
    ):
        generate_scene(index, GeneratorConfig(**SMALL), 0, "s")


def test_room_choice_uses_all_rooms(tmp_path):
    root = make_root(tmp_path, rooms=(("r1.sofa", CIRCLE), ("r2.sofa", CIRCLE * 0.5)))
    index = scan_dev_set(root)
    used = {
        generate_scene(index, GeneratorConfig(**SMALL), 0, f"s{i}").room_metadata["sofa_path"]
        for i in range(20)
    }
    assert used == {f"{DEV}/room_ir/train/r1.sofa", f"{DEV}/room_ir/train/r2.sofa"}
