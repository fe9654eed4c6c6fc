"""Tests for s5tse.datasets.metadata (official validation set, re-rendered)."""
import os
from pathlib import Path

import numpy as np
import pytest

from s5tse.corpus.dcase import DCASE2026
from s5tse.datasets import MetadataDataset
from s5tse.simulate.renderer import render_scene
from s5tse.simulate.scene import Scene, SceneError, load_metadata_list

from .helpers import assert_items_equal, expected_activity


def test_items_equal_the_renderer_output(mini_corpus, mini_data):
    valid_json = mini_corpus / "data/dev_set/metadata/valid.json"
    ds = MetadataDataset(mini_data / "valid", classes=DCASE2026)
    paths = load_metadata_list(valid_json)
    assert len(ds) == len(paths) == 3
    assert ds.root == mini_corpus
    for i, path in enumerate(paths):  # valid.json lists the scenes in name order
        out = render_scene(Scene.from_json(path), mini_corpus)
        item = ds[i]
        assert item["id"] == path.stem
        np.testing.assert_array_equal(item["mixture"].numpy(), out.mixture)
        np.testing.assert_array_equal(item["dry"].numpy(), out.padded_dry())
        assert item["labels"] == out.labels
        expected = np.zeros((3, 250), dtype=np.float32)
        expected[: len(out.spans)] = expected_activity(out.spans, 320000, 1280)
        np.testing.assert_array_equal(item["strong"].numpy(), expected)
        assert ds.scene(i) == Scene.from_json(path)


def test_frame_hop_and_determinism(mini_data):
    a = MetadataDataset(mini_data / "valid", classes=DCASE2026)
    b = MetadataDataset(mini_data / "valid", classes=DCASE2026, frame_hop=640)
    assert a.ids == b.ids
    ia, ib = a[1], b[1]
    assert ib["strong"].shape == (3, 500)
    ib["strong"] = ia["strong"]
    assert_items_equal(ia, ib)
    with pytest.raises(IndexError):
        a[3]


def test_bad_scene_tables(mini_data, tmp_path):
    with pytest.raises(SceneError, match=r"metadata\.scp: missing"):
        MetadataDataset(tmp_path, classes=DCASE2026)
    d = tmp_path / "valid"
    d.mkdir()
    (d / "metadata.scp").write_text((mini_data / "valid" / "metadata.scp").read_text())
    with pytest.raises(SceneError, match=r"scene_root: missing"):
        MetadataDataset(d, classes=DCASE2026)
    (d / "scene_root").write_text(f"{tmp_path / 'nowhere'}\n")
    with pytest.raises(SceneError, match=r"scene_root:1: no such folder"):
        MetadataDataset(d, classes=DCASE2026)


def test_bad_scenes_fail_at_start_up(mini_data, tmp_path):
    """An unknown label or an empty source file is one line naming the scene, when the
    dataset is made (not when a validation reaches the scene)."""
    import json
    import shutil

    d = tmp_path / "valid"
    shutil.copytree(mini_data / "valid", d)
    table = dict(line.split(maxsplit=1) for line in (d / "metadata.scp").read_text().splitlines())
    key, path = next(iter(table.items()))
    scene = json.loads(open(path).read())
    scene["fg_events"][0]["label"] = "Coughs"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(scene))
    (d / "metadata.scp").write_text("".join(f"{k} {bad if k == key else v}\n" for k, v in table.items()))
    with pytest.raises(SceneError, match=r"bad\.json: fg_events: label 'Coughs' is not in the class "
                                         r"inventory \(did you mean 'Cough'\?\)"):
        MetadataDataset(d, classes=DCASE2026)
    # the first source file empty: the scene's foreground dir moved to a folder holding it
    scene["fg_events"][0]["label"] = json.loads(open(path).read())["fg_events"][0]["label"]
    root = Path((d / "scene_root").read_text().split()[0])
    empty_dir = tmp_path / "events"
    src = empty_dir / scene["fg_events"][0]["source_file"]
    src.parent.mkdir(parents=True)
    src.write_bytes(b"")
    scene["config"]["foreground_dir"] = os.path.relpath(empty_dir, root)
    bad.write_text(json.dumps(scene))
    with pytest.raises(SceneError, match=rf"bad\.json: .*{src.name}: empty file"):
        MetadataDataset(d, classes=DCASE2026)
