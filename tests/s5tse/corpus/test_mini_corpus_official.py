"""The mini corpus against the official DCASE 2026 Task 4 layout rules, as the reference
states them (``shared/reference/dcase2026_task4.md`` §2.2-2.4, §3.1; not the official code):
the folder check of ``verify.py``, the pick-up lists in ``config/``, and what each official
loader mode reads (generate: the train split; metadata: ``metadata/valid*``; waveform: the
pre-rendered test set). Files are read with soundfile, sofar and json only."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import sofar

from s5tse.corpus.mini_corpus import MiniCorpusConfig, build_mini_corpus
from tests.conftest import REPO_ROOT, SMALL_MINI_CORPUS

REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "dcase2026_task4.md"

# §2.2, in output order
CLASSES = ["AlarmClock", "BicycleBell", "Blender", "Buzzer", "Clapping", "Cough",
           "CupboardOpenClose", "Dishes", "Doorbell", "FootSteps", "HairDryer", "MechanicalFans",
           "MusicalKeyboard", "Percussion", "Pour", "Speech", "Typing", "VacuumCleaner"]
# §2.4 (verify.py's folder check): folders, and the one file
FOLDERS = ["config", "metadata/valid", "noise/train", "noise/valid", "room_ir/train",
           "room_ir/valid", "sound_event/train", "sound_event/valid", "interference/train",
           "interference/valid", "synthesized/test/soundscape", "synthesized/test/oracle_target"]
FILES = ["metadata/valid.json", "config/EARS_config.json", "config/FSD50K_config.json"]
# §2.4 / §3.1: the per-mixture JSON
OFFICIAL_MODULE = "src.modules.spatial_audio_synthesizer.room"
CONFIG_KEYS = ["duration", "sr", "max_event_overlap", "max_event_dur", "ref_db", "foreground_dir",
               "background_dir", "interference_dir", "room_config", "verbose"]
EVENT_KEYS = {"label", "source_file", "source_time", "event_time", "event_duration",
              "event_position", "snr", "role"}
ROOM_KEYS = ["sofa_path", "sr", "nchan", "nrir", "rir_len", "direct_range_ms"]


@pytest.fixture(scope="module")
def dev(mini_corpus) -> Path:
    return mini_corpus / "data" / "dev_set"


def _wav_info(path):
    info = sf.info(str(path))
    return info.channels, info.samplerate, info.frames


def _sofa(path):
    s = sofar.read_sofa(str(path), verify=False, verbose=False)
    ir = np.asarray(s.Data_IR)
    return s, ir


def doc_layout(text: str):
    """Paths (relative to data/dev_set) named by the layout tree of §2.4."""
    block = text.split("### 2.4", 1)[1].split("```", 2)[1]
    paths, parent = [], ""
    for line in block.splitlines():
        m = re.match(r"^(\s*)[|`]-- (\S+?)/?(?:\s{2,}(.*))?$", line)
        if not m:
            continue
        indent, name, desc = len(m.group(1)), m.group(2), m.group(3) or ""
        if indent == 0:
            parent = name
            top = name
        else:
            top = f"{parent}/{name}"
        paths.append(top)
        desc = desc.split("(")[0]
        paths += [f"{top}/{t}" for t in re.findall(r"(?:^|[\s,+])([A-Za-z_]+)/", desc)]
        paths += [f"{top}/{t}" for t in re.findall(r"\b([A-Za-z0-9_]+\.json)\b", desc)]
    return paths


def test_verify_folder_check(dev):
    for rel in FOLDERS:
        assert (dev / rel).is_dir(), rel
    for rel in FILES:
        assert (dev / rel).is_file(), rel


@pytest.mark.skipif(not REFERENCE.is_file(), reason="shared/reference is not beside the clone")
def test_layout_tree_of_the_reference(dev):
    """Every folder and file of the reference's layout tree exists (and our lists cover it)."""
    paths = doc_layout(REFERENCE.read_text(encoding="utf-8"))
    assert "config/EARS_config.json" in paths and "synthesized/test/oracle_target" in paths
    for rel in paths:
        assert (dev / rel).exists(), f"{rel} (reference §2.4) missing"
    named = set(FOLDERS) | set(FILES)
    assert {p for p in paths if "/" in p} <= named | {"synthesized/test"}


def test_pickup_lists(dev):
    events = {p.relative_to(dev / "sound_event").as_posix()
              for p in (dev / "sound_event").rglob("*.wav")}
    listed = {}
    for name in ("EARS_config.json", "FSD50K_config.json"):
        rows = json.loads((dev / "config" / name).read_text())
        assert isinstance(rows, list) and rows, name
        for row in rows:
            assert set(row) == {"file_name", "t4_label", "convert_path"}, row
            assert row["t4_label"] in CLASSES
            split, label = row["convert_path"].split("/")[:2]
            assert split in ("train", "valid") and label == row["t4_label"]
            assert (name == "EARS_config.json") == (label == "Speech")
            assert row["convert_path"] not in listed
            listed[row["convert_path"]] = name
    assert set(listed) == events


def test_generate_mode_train_split(dev):
    train = dev / "sound_event" / "train"
    for label in CLASSES:
        files = sorted((train / label).rglob("*.wav"))
        assert files, label
        # duplicates exclude the first-level sub-folder of files already used: need two
        assert len({f.relative_to(train / label).parts[0] for f in files}) >= 2, label
        assert all(_wav_info(f)[:2] == (1, 32000) for f in files)
    ints = [p for p in (dev / "interference" / "train").iterdir() if p.is_dir()]
    assert ints and all(_wav_info(f)[:2] == (1, 32000) for c in ints for f in c.rglob("*.wav"))
    rooms = sorted((dev / "room_ir" / "train").glob("*.sofa"))
    assert rooms
    for room in rooms:
        s, ir = _sofa(room)
        assert ir.ndim == 3 and ir.shape[1] == 4 and float(np.squeeze(s.Data_SamplingRate)) == 32000
        assert np.asarray(s.SourcePosition).shape == (ir.shape[0], 3)
    for noise in (dev / "noise" / "train").glob("*.wav"):
        assert _wav_info(noise)[:2] == (4, 32000)  # the official loader skips other counts


def _positions(sofa):
    pos = np.atleast_2d(np.asarray(sofa.SourcePosition, dtype=np.float64))
    assert str(sofa.SourcePosition_Type).lower() == "cartesian"
    return pos


def test_metadata_mode_valid_scenes(dev, mini_corpus):
    entries = json.loads((dev / "metadata" / "valid.json").read_text())
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert set(entry) == {"metadata_path"}
        path = dev / "metadata" / entry["metadata_path"]
        assert path.parent == dev / "metadata" / "valid" and path.is_file()
        scene = json.loads(path.read_text())
        assert list(scene) == ["config", "fg_events", "bg_events", "int_events", "room"]
        config = scene["config"]
        assert list(config) == CONFIG_KEYS and config["verbose"] is False
        assert (config["duration"], config["sr"], config["ref_db"]) == (10.0, 32000, -55)
        assert config["room_config"] == {
            "module": OFFICIAL_MODULE, "main": "SofaRoom",
            "args": {"path": "data/dev_set/room_ir/valid", "direct_range_ms": [6, 50]}}
        room = scene["room"]
        assert (room["module"], room["main"]) == (OFFICIAL_MODULE, "SofaRoom.from_metadata")
        meta = room["args"]["metadata"]
        assert list(meta) == ROOM_KEYS
        sofa, ir = _sofa(mini_corpus / meta["sofa_path"])
        assert (meta["nrir"], meta["nchan"], meta["rir_len"]) == ir.shape
        assert (meta["sr"], meta["direct_range_ms"]) == (32000, [6, 50])
        positions = _positions(sofa)
        for key, role in (("fg_events", "foreground"), ("int_events", "interference"),
                          ("bg_events", "background")):
            events = scene[key]
            onsets = [e["event_time"] for e in events]
            assert onsets == sorted(onsets), f"{path.name}: {key} not sorted by event_time"
            for e in events:
                assert set(e) == EVENT_KEYS and e["role"] == role
                src = mini_corpus / config[f"{role}_dir"] / e["source_file"]
                assert src.is_file(), src
                assert e["event_time"] + e["event_duration"] <= config["duration"] + 1e-9
                if role == "background":
                    assert e["label"] is None and e["event_position"] is None
                    continue
                assert e["source_file"].split("/")[0] == e["label"]
                d = np.abs(positions - np.asarray(e["event_position"][0])).max(axis=1)
                assert d.min() < 1e-6, "event_position is not a measured SOFA position"
        assert all(e["label"] in CLASSES for e in scene["fg_events"])
        assert 1 <= len(scene["fg_events"]) <= 3 and len(scene["int_events"]) <= 2


def test_waveform_mode_test_set(dev):
    sdir = dev / "synthesized" / "test" / "soundscape"
    odir = dev / "synthesized" / "test" / "oracle_target"
    names = sorted(p.stem for p in sdir.glob("*.wav"))
    assert names
    # the loader gives a soundscape every file that *starts with* its name
    assert not [a for a in names for b in names if a != b and b.startswith(a)]
    frames = {}
    for name in names:
        ch, sr, n = _wav_info(sdir / f"{name}.wav")
        assert (ch, sr) == (4, 32000)
        frames[name] = n
    per_scene = {name: [] for name in names}
    for p in sorted(odir.glob("*.wav")):
        owner = [s for s in names if p.name.startswith(s)]
        assert len(owner) == 1, p.name
        m = re.match(rf"^{re.escape(owner[0])}(?:_(\d+))?_(.+)\.wav$", p.name)
        assert m and m.group(2) in CLASSES, p.name
        assert _wav_info(p) == (1, 32000, frames[owner[0]])
        per_scene[owner[0]].append(p.name)
    assert all(len(v) <= 3 for v in per_scene.values())
    assert [] in per_scene.values()  # a zero-target soundscape


def test_renders_whatever_the_module_string(dev, mini_corpus, tmp_path):
    """Our renderer reads the official module string, or any other, and renders the same."""
    from s5tse.simulate.renderer import render_scene
    from s5tse.simulate.scene import Scene

    path = sorted((dev / "metadata" / "valid").glob("*.json"))[0]
    official = json.loads(path.read_text())
    assert official["room"]["module"] == OFFICIAL_MODULE
    other = json.loads(path.read_text())
    other["room"]["module"] = other["config"]["room_config"]["module"] = "no.such.module"
    other["room"]["main"] = "Whatever.from_metadata"
    (tmp_path / "other.json").write_text(json.dumps(other))
    a = render_scene(Scene.from_json(path), mini_corpus)
    b = render_scene(Scene.from_json(tmp_path / "other.json"), mini_corpus)
    assert np.abs(a.mixture).max() > 0
    np.testing.assert_array_equal(a.mixture, b.mixture)
    np.testing.assert_array_equal(a.dry, b.dry)


def test_unsorted_events_are_read_in_onset_order(dev, tmp_path):
    from s5tse.simulate.scene import Scene

    path = next(p for p in sorted((dev / "metadata" / "valid").glob("*.json"))
                if len(json.loads(p.read_text())["fg_events"]) >= 2)
    d = json.loads(path.read_text())
    d["fg_events"] = d["fg_events"][::-1]
    scene = Scene.from_dict(d)
    onsets = [e.event_time for e in scene.fg_events]
    assert onsets == sorted(onsets)
    assert scene.labels() == [e["label"] for e in sorted(d["fg_events"], key=lambda e: e["event_time"])]


def test_an_older_build_is_refused(tmp_path):
    """A corpus built before the format change (same settings, older marker) is not reused."""
    cfg = MiniCorpusConfig(**SMALL_MINI_CORPUS)
    root = tmp_path / "DCASE2026Task4Dataset"
    root.mkdir()
    (root / ".mini_corpus.json").write_text(json.dumps(cfg.to_dict()))
    with pytest.raises(FileExistsError, match="other settings"):
        build_mini_corpus(root, cfg)
