"""SourceIndex from the pool tables: the same draws as the DCASE folder scan, and one-line
errors naming the table."""
import shutil

import numpy as np
import pytest

from s5tse.corpus.dcase import DCASE2026
from s5tse.corpus.dev_set import scan_dev_set
from s5tse.labels import ClassInventory
from s5tse.simulate.generator import GeneratorConfig, generate_scene
from s5tse.simulate.renderer import render_scene
from s5tse.simulate.sources import DatasetError, SourceIndex


@pytest.mark.parametrize("split", ["train", "valid"])
def test_tables_draw_the_scenes_of_the_folder_scan(mini_corpus, mini_data, split):
    """Stage 1's tables hold the corpus exactly: every event of every scene is the same, so
    training on tables reproduces training on the folders (the mini recipe's scores)."""
    folders = scan_dev_set(mini_corpus, split, DCASE2026)
    tables = SourceIndex.from_data_dir(mini_data, split, DCASE2026)
    assert tables.root == mini_corpus / "data" / "dev_set"
    assert tables.fg_labels == folders.fg_labels and tables.int_labels == folders.int_labels
    assert {k: [f.rel for f in v] for k, v in tables.fg_files.items()} == {
        k: [f.rel for f in v] for k, v in folders.fg_files.items()}
    assert tables.noise_files == folders.noise_files
    assert [r.rsplit("/", 1)[1] for r in tables.rooms] == [r.rsplit("/", 1)[1] for r in folders.rooms]
    cfg = GeneratorConfig(dupse_rate=1.0)
    for i in range(60):
        a = generate_scene(folders, cfg, 7, f"{split}/{i}").to_dict()
        b = generate_scene(tables, cfg, 7, f"{split}/{i}").to_dict()
        for role in ("fg_events", "int_events", "bg_events"):
            assert a[role] == b[role]
    scene_a = generate_scene(folders, cfg, 7, "x")
    scene_b = generate_scene(tables, cfg, 7, "x")
    np.testing.assert_array_equal(render_scene(scene_a, folders.root).mixture,
                                  render_scene(scene_b, tables.root).mixture)


def test_exclusion_groups_come_from_utt2group(mini_data, tmp_path):
    data = shutil.copytree(mini_data, tmp_path / "data")
    index = SourceIndex.from_data_dir(data, "train", DCASE2026)
    f = index.fg_files["Speech"][0]
    assert index.exclusion_group(f.rel) == f.rel.split("/")[1]
    table = data / "sound_event_train" / "utt2group"
    table.write_text("".join(f"{line.split()[0]} same/x\n" for line in table.read_text().splitlines()))
    index = SourceIndex.from_data_dir(data, "train", DCASE2026)
    assert index.exclusion_group(f.rel, 1) == "same" and index.exclusion_group(f.rel, 2) == "same/x"
    # one group per class: a duplicate is never possible, so it becomes a new class
    scene = generate_scene(index, GeneratorConfig(nevent_range=(3, 3), dupse_rate=1.0), 0, "s")
    assert len(set(scene.labels())) == 3


def test_a_flat_folder_pool(tmp_path):
    """Pools need no class folders: the class comes from ``text``."""
    import soundfile as sf

    from s5tse.fileio.sofa import write_sofa
    from s5tse.simulate.pools import PoolItem, write_event_pool, write_room_pool

    rng = np.random.default_rng(0)
    items = []
    for i, label in enumerate(["dog", "cat", "dog", "cat"]):
        path = tmp_path / "flat" / f"x{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, rng.normal(size=8000) * 0.1, 32000)
        items.append(PoolItem(f"x{i}", str(path), label, f"take{i}"))
    write_event_pool(tmp_path / "data" / "sound_event_train", items)
    sf.write(tmp_path / "noise.wav", rng.normal(size=(40000, 4)) * 0.01, 32000)
    write_event_pool(tmp_path / "data" / "noise_train",
                     [PoolItem("n", str(tmp_path / "noise.wav"))], channels=4, label_table=None)
    pos = np.array([[1.0, 0, 0], [0, 1.0, 0], [-1.0, 0, 0]])
    write_sofa(tmp_path / "r.sofa", rng.normal(size=(3, 4, 200)) * 0.1, pos, 32000)
    write_room_pool(tmp_path / "data" / "rirs_train", {"r": tmp_path / "r.sofa"})
    index = SourceIndex.from_data_dir(tmp_path / "data", classes=ClassInventory(["cat", "dog"]))
    assert index.fg_labels == ["cat", "dog"] and index.int_labels == []
    assert [f.rel for f in index.fg_files["dog"]] == ["x0.wav", "x2.wav"]
    cfg = GeneratorConfig(nevent_range=(2, 2), ninterference_range=(0, 0), dupse_rate=1.0,
                          duration=1.0, max_event_dur=1.0)
    scene = generate_scene(index, cfg, 1, "flat")
    assert sorted(scene.labels()) in (["cat", "cat"], ["dog", "dog"])  # takes differ: duplicates
    assert render_scene(scene, index.root).mixture.shape == (4, 32000)


def test_errors_name_the_table(mini_data, tmp_path):
    data = shutil.copytree(mini_data, tmp_path / "data")
    with pytest.raises(DatasetError, match=r"sound_event_nope/wav\.scp: missing \(stage 1"):
        SourceIndex.from_data_dir(data, "nope")
    text = data / "sound_event_train" / "text"
    lines = text.read_text().splitlines()
    text.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match=r"sound_event_train/text: 1 key\(s\) of .*wav\.scp missing"):
        SourceIndex.from_data_dir(data, "train")
    key = lines[-1].split()[0]
    text.write_text("\n".join(lines[:-1] + [f"{key} Dog"]) + "\n")
    with pytest.raises(DatasetError, match=rf"sound_event_train/text: key '{key}': class 'Dog' is "
                                           rf"not in the class inventory"):
        SourceIndex.from_data_dir(data, "train", DCASE2026)
    wav = data / "noise_train" / "wav.scp"
    wav.write_text("".join(f"{line.split()[0]} cat {line.split()[1]} |\n"
                           for line in wav.read_text().splitlines()))
    with pytest.raises(DatasetError, match=r"noise_train/wav\.scp: key .*: pipes are not supported"):
        SourceIndex.from_data_dir(data, "train")
