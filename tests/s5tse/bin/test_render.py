"""Tests for python -m s5tse.bin.render (generation, rendering, resume, shards, nj)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s5tse.bin.render import main, parse_shard, shard_items
from s5tse.fileio.sofa import write_sofa
from s5tse.simulate.generator import GeneratorConfig, generate_scene
from s5tse.simulate.scene import Scene
from s5tse.corpus.dev_set import scan_dev_set
from s5tse.simulate.pools import PoolItem, write_event_pool, write_room_pool
from s5tse.simulate.sources import SourceIndex

SR = 32000
DEV = "data/dev_set"


def _wav(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(data, dtype=np.float32), SR, subtype="FLOAT")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dataset")
    rng = np.random.default_rng(0)
    dev = tmp / DEV
    for cls in ("Speech", "Dishes", "Cough"):
        for group in ("a", "b"):
            for j in range(2):
                n = int(rng.uniform(0.2, 0.8) * SR)
                _wav(dev / f"sound_event/train/{cls}/{group}/{j}.wav", rng.normal(size=n))
    for cls in ("Bird", "Engine"):
        _wav(dev / f"interference/train/{cls}/x.wav", rng.normal(size=int(0.3 * SR)))
    _wav(dev / "noise/train/n.wav", rng.normal(size=(int(3.2 * SR), 4)) * 0.1)
    az = np.radians(np.arange(8) * 45.0)
    pos = np.stack([np.cos(az), np.sin(az), np.zeros(8)], 1)
    ir = rng.normal(size=(8, 4, 1000)) * np.exp(-np.arange(1000) / 200.0)
    write_sofa(dev / "room_ir/train/room.sofa", ir, pos, SR)
    write_pools(scan_dev_set(tmp), tmp / "tables")
    return tmp


def write_pools(index, data):
    """The train pool tables of a scanned dev-set tree (what stage 1 writes)."""
    def items(role, files):
        return [PoolItem(f.rel[:-4], str(index.abspath(role, f.rel)), f.label, f.group)
                for f in files]

    write_event_pool(data / "sound_event_train",
                     items("foreground", [f for v in index.fg_files.values() for f in v]))
    write_event_pool(data / "interference_train",
                     items("interference", [f for v in index.int_files.values() for f in v]),
                     label_table="utt2class")
    write_event_pool(data / "noise_train", [PoolItem("n", str(index.abspath("background", "n.wav")))],
                     channels=4, label_table=None)
    write_room_pool(data / "rirs_train", {"room": index.root / index.rooms[0]})


def _files(out: Path):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.wav"))}


def _generate(root, out, n=5, extra=()):
    main(
        [
            "--pools",
            str(root / "tables"),
            "--out_dir",
            str(out),
            "--generate",
            str(n),
            "--seed",
            "3",
            "--duration",
            "2",
            "--nevent_range",
            "1,3",
            *extra,
        ]
    )


def test_generate_and_render(root, tmp_path, capsys):
    out = tmp_path / "out"
    _generate(root, out)
    listing = json.loads((out / "metadata.json").read_text())
    assert listing == [{"metadata_path": f"metadata/mix_{i:04d}.json"} for i in range(5)]
    index = SourceIndex.from_data_dir(root / "tables")
    assert (out / "scene_root").read_text() == f"{root / DEV}\n"  # a scene table dir
    assert (out / "metadata.scp").read_text().splitlines()[0] == (
        f"mix_0000 {out.resolve() / 'metadata' / 'mix_0000.json'}")
    cfg = GeneratorConfig(nevent_range=(1, 3), duration=2.0, max_event_dur=2.0)
    for i in range(5):
        name = f"mix_{i:04d}"
        scene = Scene.from_json(out / "metadata" / f"{name}.json")
        assert scene == generate_scene(index, cfg, 3, name)
        assert (out / "text").read_text().splitlines()[i].split()[1:] == scene.padded_labels()
        mix, sr = sf.read(str(out / "soundscape" / f"{name}.wav"), dtype="float32", always_2d=True)
        assert sr == SR and mix.shape == (2 * SR, 4)
        assert sf.info(str(out / "soundscape" / f"{name}.wav")).subtype == "FLOAT"
        for n, label in enumerate(scene.labels()):
            ref, _ = sf.read(str(out / "oracle_target" / f"{name}_{n}_{label}.wav"), always_2d=True)
            assert ref.shape == (2 * SR, 1)
    n_targets = sum(len(Scene.from_json(p).fg_events) for p in (out / "metadata").glob("*.json"))
    assert len(list((out / "oracle_target").glob("*.wav"))) == n_targets
    capsys.readouterr()

    # a rerun skips everything and says so
    before = _files(out)
    main(["--data_dir", str(out), "--out_dir", str(out)])
    err = capsys.readouterr().err
    assert "0 to render, 5 skipped (outputs exist)" in err
    assert _files(out) == before

    # a removed reference is re-rendered, identically
    victim = sorted((out / "oracle_target").glob("*.wav"))[0]
    victim.unlink()
    main(
        [
            "--scene_root",
            str(root / DEV),
            "--metadata",
            str(out / "metadata"),
            "--out_dir",
            str(out),
        ]
    )
    assert "1 to render, 4 skipped" in capsys.readouterr().err
    assert _files(out) == before


def test_metadata_forms_and_shards(root, tmp_path):
    gen = tmp_path / "gen"
    _generate(root, gen, n=3)
    reference = _files(gen)
    # a folder of JSONs, rendered in two shards
    out = tmp_path / "shards"
    for k in ("1/2", "2/2"):
        main(
            [
                "--scene_root",
                str(root / DEV),
                "--metadata",
                str(gen / "metadata"),
                "--out_dir",
                str(out),
                "--shard",
                k,
            ]
        )
    assert _files(out) == reference
    # a single JSON
    single = tmp_path / "single"
    main(
        [
            "--scene_root",
            str(root / DEV),
            "--metadata",
            str(gen / "metadata" / "mix_0001.json"),
            "--out_dir",
            str(single),
        ]
    )
    assert set(_files(single)) == {k for k in reference if "mix_0001" in k}
    assert all(reference[k] == v for k, v in _files(single).items())


def test_generate_in_shards_is_identical(root, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    _generate(root, whole, n=4)
    for k in ("1/3", "2/3", "3/3"):
        _generate(root, parts, n=4, extra=("--shard", k))
    assert _files(parts) == _files(whole)
    for p in (whole / "metadata").iterdir():
        assert (parts / "metadata" / p.name).read_bytes() == p.read_bytes()
    assert (parts / "metadata.json").read_bytes() == (whole / "metadata.json").read_bytes()


def test_pcm16(root, tmp_path):
    out = tmp_path / "pcm"
    _generate(root, out, n=1, extra=("--subtype", "PCM_16"))
    for p in out.rglob("*.wav"):
        assert sf.info(str(p)).subtype == "PCM_16"


@pytest.mark.slow
def test_nj2_is_byte_identical(root, tmp_path, subprocess_env):
    gen = tmp_path / "gen"
    _generate(root, gen, n=4)
    out2 = tmp_path / "nj2"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "s5tse.bin.render",
            "--scene_root",
            str(root / DEV),
            "--metadata",
            str(gen / "metadata.json"),
            "--out_dir",
            str(out2),
            "--nj",
            "2",
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.returncode == 0, proc.stderr
    assert _files(out2) == _files(gen)


def _error(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("render: error: ")
    return err


def test_missing_source_file_is_named(root, tmp_path, capsys):
    gen = tmp_path / "gen"
    _generate(root, gen, n=1)
    path = gen / "metadata" / "mix_0000.json"
    d = json.loads(path.read_text())
    d["fg_events"][0]["source_file"] = "Speech/a/missing.wav"
    path.write_text(json.dumps(d))
    err = _error(
        ["--scene_root", str(root / DEV), "--metadata", str(path), "--out_dir",
         str(tmp_path / "o")],
        capsys,
    )
    assert "mix_0000.json" in err and "Speech/a/missing.wav: no such file" in err


def test_usage_errors(root, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert "exactly one of --metadata, --data_dir and --generate" in _error(
        ["--scene_root", str(root), "--out_dir", out], capsys
    )
    assert "sound_event_train/wav.scp: missing (stage 1" in _error(
        ["--pools", str(tmp_path), "--out_dir", out, "--generate", "1"], capsys
    )
    assert "--generate needs --pools" in _error(["--out_dir", out, "--generate", "1"], capsys)
    assert "--shard K/N" in _error(
        ["--pools", str(root / "tables"), "--out_dir", out, "--generate", "1", "--shard", "3/2"],
        capsys)
    assert "nope.json: no such file" in _error(
        ["--scene_root", str(root), "--out_dir", out, "--metadata", str(tmp_path / "nope.json")],
        capsys,
    )
    assert "--metadata needs --scene_root" in _error(
        ["--out_dir", out, "--metadata", str(tmp_path / "nope.json")], capsys)
    assert "metadata.scp: missing" in _error(["--data_dir", str(tmp_path), "--out_dir", out],
                                             capsys)


def test_shard_helpers():
    assert parse_shard(None) == (1, 1) and parse_shard("2/8") == (2, 8)
    items = list(range(10))
    parts = [shard_items(items, k, 3) for k in (1, 2, 3)]
    assert parts == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [shard_items([1], k, 3) for k in (1, 2, 3)] == [[1], [], []]


def test_a_scene_whose_metadata_changed_is_refused_or_rendered_again(root, tmp_path, capsys):
    gen = tmp_path / "gen"
    _generate(root, gen, n=2)
    out = tmp_path / "out"
    args = ["--scene_root", str(root / DEV), "--metadata", str(gen / "metadata"), "--out_dir", str(out)]
    main(args)
    first = _files(out)
    assert sorted(p.name for p in (out / ".fingerprints").iterdir()) == ["mix_0000.sha256", "mix_0001.sha256"]
    capsys.readouterr()
    main(args)                                                   # same inputs: nothing to render
    assert "0 to render, 2 skipped" in capsys.readouterr().err
    meta = gen / "metadata" / "mix_0001.json"
    scene = json.loads(meta.read_text())
    scene["fg_events"][0]["snr"] = float(scene["fg_events"][0]["snr"]) + 6.0  # a louder event
    meta.write_text(json.dumps(scene))
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "mix_0001.wav: rendered from other inputs than" in err and "--overwrite true" in err
    main(args + ["--overwrite", "true"])
    assert "1 to render, 1 skipped" in capsys.readouterr().err
    again = _files(out)
    assert again["soundscape/mix_0000.wav"] == first["soundscape/mix_0000.wav"]
    assert again["soundscape/mix_0001.wav"] != first["soundscape/mix_0001.wav"]
