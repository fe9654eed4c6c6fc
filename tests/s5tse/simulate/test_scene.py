"""Tests for s5tse.simulate.scene: the official per-mixture JSON format."""

import json
import os

import pytest

from s5tse.simulate.scene import (
    CONFIG_KEYS,
    EVENT_KEYS,
    Event,
    Scene,
    SceneError,
    load_metadata_list,
    padded_labels,
    room_config,
    room_dict,
    write_metadata_list,
)

OFFICIAL_LIKE = {
    "config": {
        "duration": 10,
        "sr": 32000,
        "max_event_overlap": 3,
        "max_event_dur": 10,
        "ref_db": -55,
        "foreground_dir": "data/dev_set/sound_event/train",
        "background_dir": "data/dev_set/noise/train",
        "interference_dir": "data/dev_set/interference/train",
        "room_config": {
            "module": "some.module",
            "main": "SofaRoom",
            "args": {"path": "data/dev_set/room_ir/train", "direct_range_ms": [6, 50]},
        },
        "verbose": False,
    },
    "fg_events": [
        {
            "label": "Dishes",
            "source_file": "Dishes/50117.wav",
            "source_time": 0,
            "event_time": 0.1765,
            "event_duration": 1.1953,
            "event_position": [[1.0, -0.5, 0.25]],
            "snr": 14.04,
            "role": "foreground",
        },
        {
            "label": "Speech",
            "source_file": "Speech/p001/a.wav",
            "source_time": 2.5,
            "event_time": 3.0,
            "event_duration": 7.0,
            "event_position": [[0.0, 1.5, 0.0]],
            "snr": 6.0,
            "role": "foreground",
        },
    ],
    "bg_events": [
        {
            "label": None,
            "source_file": "foa-meir_reverb-s_pid0031_BG.wav",
            "source_time": 61,
            "event_time": 0,
            "event_duration": 10,
            "event_position": None,
            "snr": 0,
            "role": "background",
        },
    ],
    "int_events": [
        {
            "label": "Crumpling, crinkling",
            "source_file": "Crumpling, crinkling/fsd50k_323764.wav",
            "source_time": 0,
            "event_time": 4.2,
            "event_duration": 0.8,
            "event_position": [[-1.0, 0.0, 0.3]],
            "snr": 3.5,
            "role": "interference",
        },
    ],
    "room": {
        "module": "some.module",
        "main": "SofaRoom.from_metadata",
        "args": {
            "metadata": {
                "sofa_path": "data/dev_set/room_ir/train/place203.sofa",
                "sr": 32000,
                "nchan": 4,
                "nrir": 108,
                "rir_len": 174763,
                "direct_range_ms": [6, 50],
            }
        },
    },
}


def _write(path, d):
    path.write_text(json.dumps(d))
    return path


def _scene():
    config = {
        "duration": 10.0,
        "sr": 32000,
        "max_event_overlap": 3,
        "max_event_dur": 10.0,
        "ref_db": -55,
        "foreground_dir": "data/dev_set/sound_event/train",
        "background_dir": "data/dev_set/noise/train",
        "interference_dir": "data/dev_set/interference/train",
        "room_config": room_config("train"),
    }
    fg = [
        Event(
            "Cough",
            "Cough/a/1.wav",
            0.0,
            1.0 / 3.0,
            2.5,
            [[0.1, 0.2, 0.3]],
            7.123456789012345,
            "foreground",
        )
    ]
    bg = [Event(None, "n.wav", 12.0, 0.0, 10.0, None, 0.0, "background")]
    return Scene(
        config,
        fg,
        bg,
        [],
        room_dict("data/dev_set/room_ir/train/r.sofa", sr=32000, nchan=4, nrir=8, rir_len=2000),
    )


def test_official_example_round_trip(tmp_path):
    path = _write(tmp_path / "mix.json", OFFICIAL_LIKE)
    scene = Scene.from_json(path)
    assert scene.source == str(path)
    assert scene.labels() == ["Dishes", "Speech"]
    assert scene.padded_labels() == ["Dishes", "Speech", "silence"]
    assert scene.num_samples == 320000
    assert scene.room_metadata["rir_len"] == 174763
    # everything (extra keys, ints, module strings) is written back unchanged
    assert scene.to_dict() == OFFICIAL_LIKE
    assert Scene.from_json(OFFICIAL_LIKE) == scene


def test_written_format_keys_and_order(tmp_path):
    scene = _scene()
    path = tmp_path / "out" / "s.json"
    text = scene.to_json(path)
    assert path.read_text() == text
    assert [p for p in os.listdir(path.parent)] == ["s.json"]  # no temporary left over
    d = json.loads(text)
    assert list(d) == ["config", "fg_events", "bg_events", "int_events", "room"]
    assert tuple(d["config"]) == CONFIG_KEYS
    assert d["config"]["room_config"] == {
        "module": "src.modules.spatial_audio_synthesizer.room",
        "main": "SofaRoom",
        "args": {"path": "data/dev_set/room_ir/train", "direct_range_ms": [6, 50]},
    }
    assert tuple(d["fg_events"][0]) == EVENT_KEYS
    assert d["bg_events"][0]["label"] is None and d["bg_events"][0]["event_position"] is None
    assert d["room"] == {
        "module": "src.modules.spatial_audio_synthesizer.room",
        "main": "SofaRoom.from_metadata",
        "args": {
            "metadata": {
                "sofa_path": "data/dev_set/room_ir/train/r.sofa",
                "sr": 32000,
                "nchan": 4,
                "nrir": 8,
                "rir_len": 2000,
                "direct_range_ms": [6, 50],
            }
        },
    }
    again = Scene.from_json(path)
    assert again == scene
    # floats survive exactly
    assert again.fg_events[0].event_time == 1.0 / 3.0
    assert again.fg_events[0].snr == 7.123456789012345


def test_foreground_labels_are_class_names_of_any_inventory(tmp_path):
    d = json.loads(json.dumps(OFFICIAL_LIKE))
    d["fg_events"][1]["label"] = "Cat"  # checked against the inventory by the data preparation
    assert Scene.from_dict(d).labels() == ["Dishes", "Cat"]
    for bad in ("silence", "Hair Dryer", "", None):
        d["fg_events"][1]["label"] = bad
        path = _write(tmp_path / "bad_label.json", d)
        with pytest.raises(SceneError, match=r"bad_label\.json.*fg_events\[1\].*class label"):
            Scene.from_json(path)


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda d: d.pop("room"), "missing key"),
        (lambda d: d["fg_events"][0].pop("snr"), r"fg_events\[0\]: event lacks key\(s\) snr"),
        (
            lambda d: d["fg_events"][0].update(role="interference"),
            "has role .interference., expected .foreground.",
        ),
        (lambda d: d["fg_events"][0].update(role="noise"), "unknown role"),
        (
            lambda d: d["fg_events"][0].update(event_position=[[1, 2]]),
            r"event_position must be \[\[x, y, z\]\]",
        ),
        (lambda d: d["fg_events"][0].update(event_position=None), "needs an event_position"),
        (lambda d: d["int_events"][0].update(event_time=-1), "event_time must be >= 0"),
        (
            lambda d: d["bg_events"][0].update(event_position=[[0, 0, 0]]),
            "background event has no event_position",
        ),
        (lambda d: d["room"]["args"]["metadata"].pop("nchan"), "lacks key"),
        (lambda d: d["config"].pop("sr"), r"config lacks key\(s\) sr"),
    ],
)
def test_invalid_scenes(tmp_path, mutate, pattern):
    d = json.loads(json.dumps(OFFICIAL_LIKE))
    mutate(d)
    path = _write(tmp_path / "broken.json", d)
    with pytest.raises(SceneError, match=pattern) as e:
        Scene.from_json(path)
    assert "broken.json" in str(e.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(SceneError, match="nope.json: no such file"):
        Scene.from_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SceneError, match="bad.json: invalid JSON"):
        Scene.from_json(tmp_path / "bad.json")


def test_metadata_list(tmp_path):
    meta = tmp_path / "data" / "dev_set" / "metadata"
    (meta / "valid").mkdir(parents=True)
    (meta / "valid.json").write_text(
        json.dumps(
            [
                {"metadata_path": "valid/mix_0001.json"},
                {"metadata_path": "valid/mix_0000.json", "ref_event": ["Speech"]},
            ]
        )
    )
    assert load_metadata_list(meta / "valid.json") == [
        meta / "valid" / "mix_0001.json",
        meta / "valid" / "mix_0000.json",
    ]
    (meta / "bad.json").write_text(json.dumps([{"path": "x"}]))
    with pytest.raises(SceneError, match="bad.json: entry 0 has no string 'metadata_path'"):
        load_metadata_list(meta / "bad.json")
    out = tmp_path / "gen" / "metadata.json"
    write_metadata_list(out, [tmp_path / "gen" / "metadata" / "a.json"])
    assert json.loads(out.read_text()) == [{"metadata_path": "metadata/a.json"}]
    assert load_metadata_list(out) == [tmp_path / "gen" / "metadata" / "a.json"]


def test_padded_labels():
    assert padded_labels([]) == ["silence"] * 3
    assert padded_labels(["Speech", "Speech"]) == ["Speech", "Speech", "silence"]
    with pytest.raises(SceneError):
        padded_labels(["Speech"] * 4)
