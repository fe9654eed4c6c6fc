"""The built-in mini corpus: official layout, content, determinism, rebuild rules."""
import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from s5tse.corpus.layout import check_layout
from s5tse.fileio.sofa import load_sofa
from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES
from s5tse.corpus.mini_corpus import FORMAT_VERSION, MARKER, MiniCorpusConfig, build_mini_corpus
from s5tse.simulate.scene import Scene, load_metadata_list
from tests.conftest import SMALL_MINI_CORPUS


def digest_tree(root):
    """sha256 per file; SOFA files by content (netCDF stores its write time)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.suffix == ".sofa":
            rirs = load_sofa(p)
            out[p.relative_to(root).as_posix()] = hashlib.sha256(
                rirs.ir.tobytes() + rirs.positions.tobytes()).hexdigest()
        elif p.is_file():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_official_layout(mini_corpus):
    assert check_layout(mini_corpus) == []
    dev = mini_corpus / "data" / "dev_set"
    for split in ("train", "valid"):
        classes = sorted(p.name for p in (dev / "sound_event" / split).iterdir())
        assert classes == sorted(TARGET_CLASSES)
        # events sit one sub-folder (group) below their class folder
        groups = {p.parent.name for p in (dev / "sound_event" / split / "Speech").rglob("*.wav")}
        assert len(groups) == SMALL_MINI_CORPUS["groups_per_class"][split]
    info = sf.info(str(next((dev / "noise" / "train").glob("*.wav"))))
    assert (info.channels, info.samplerate) == (4, 32000)


def test_valid_metadata_and_test_set(mini_corpus):
    dev = mini_corpus / "data" / "dev_set"
    paths = load_metadata_list(dev / "metadata" / "valid.json")
    assert len(paths) == SMALL_MINI_CORPUS["num_valid_scenes"]
    for p in paths:
        scene = Scene.from_json(p)
        assert scene.config["foreground_dir"] == "data/dev_set/sound_event/valid"
        assert 1 <= len(scene.fg_events) <= 3
    soundscapes = sorted((dev / "synthesized" / "test" / "soundscape").glob("*.wav"))
    assert [p.stem for p in soundscapes] == [f"test_{i:04d}" for i in range(4)]
    info = sf.info(str(soundscapes[0]))
    assert (info.channels, info.samplerate, info.subtype) == (4, 32000, "PCM_16")
    oracle = dev / "synthesized" / "test" / "oracle_target"
    assert list(oracle.glob("test_0000_*.wav")) == []  # zero-target scene
    dup_labels = [p.stem.split("_", 3)[3] for p in sorted(oracle.glob("test_0001_*.wav"))]
    assert len(dup_labels) >= 2 and len(set(dup_labels)) < len(dup_labels)
    for p in oracle.glob("*.wav"):
        data, sr = sf.read(str(p))
        assert data.ndim == 1 and sr == 32000 and np.abs(data).max() > 0


def test_deterministic_and_rebuild_rules(mini_corpus, tmp_path):
    cfg = MiniCorpusConfig(**SMALL_MINI_CORPUS)
    other = build_mini_corpus(tmp_path / "DCASE2026Task4Dataset", cfg)
    assert digest_tree(other) == digest_tree(mini_corpus)
    assert json.loads((other / MARKER).read_text()) == {**cfg.to_dict(),
                                                         "format_version": FORMAT_VERSION}
    # same settings: a no-op (nothing rewritten)
    before = (other / MARKER).stat().st_mtime_ns
    build_mini_corpus(other, cfg)
    assert (other / MARKER).stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="other settings"):
        build_mini_corpus(other, MiniCorpusConfig(**{**SMALL_MINI_CORPUS, "seed": 8}))
    (tmp_path / "junk").mkdir()
    with pytest.raises(FileExistsError, match="not a complete mini corpus"):
        build_mini_corpus(tmp_path / "junk", cfg)
