"""Built-in mini corpus: a small DCASE2026Task4Dataset in the exact official layout.

Everything is made here from a seed, so the recipe, the tests and CI run the same code
paths as on the real corpus without downloading it::

    <root>/data/dev_set/
      config/{EARS,FSD50K}_config.json                       where each event "came from"
      sound_event/{train,valid}/<18 classes>/<group>/*.wav   procedural mono events
      interference/{train,valid}/<class>/*.wav               procedural non-target events
      noise/{train,valid}/*.wav                              4-ch diffuse background noise
      room_ir/{train,valid}/*.sofa                           FOA RIRs of shoebox rooms
      metadata/valid.json + metadata/valid/*.json            validation scenes (valid split)
      synthesized/test/soundscape/*.wav                      pre-rendered test mixtures (16 bit)
      synthesized/test/oracle_target/<name>_<n>_<label>.wav  their dry references

``<group>`` is the first-level sub-folder of a class (speaker/object id in the real data;
same-class duplicates never share one). ``config/*.json`` are the official pick-up lists
(rows ``file_name``, ``t4_label``, ``convert_path``; ``convert_path`` relative to
``sound_event/``): ``Speech`` in ``EARS_config.json``, the other classes in
``FSD50K_config.json``, with ``file_name`` the event's procedural source id
``<group>/<file>.wav``. The metadata files carry the official ``module`` strings and
``config.verbose``, with events sorted by onset (:mod:`s5tse.simulate.scene`). Test scene 0 has no target, test scene 1 has a
same-class duplicate, the rest follow the official generator with 1-3 targets.

Each file's randomness derives from (seed, its path), so the corpus is identical whatever
the build order. The build writes into ``<root>.tmp`` and renames it to ``<root>`` at the
end; ``<root>/.mini_corpus.json`` records the settings, and a rebuild with the same
settings is a no-op.

    build_mini_corpus("corpus/mini/DCASE2026Task4Dataset", MiniCorpusConfig(seed=0))
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

from s5tse.corpus.dcase import DCASE2026
from s5tse.corpus.dev_set import scan_dev_set
from s5tse.corpus.layout import DEV_SET
from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES
from s5tse.fileio.sofa import write_sofa
from s5tse.fileio.sound_scp import write_audio
from s5tse.simulate.generator import GeneratorConfig, generate_scene, scene_rng
from s5tse.corpus.procedural import (
    INTERFERENCE_CLASSES,
    generate_diffuse_noise,
    generate_event,
    generate_interference,
)
from s5tse.simulate.scene import write_metadata_list
from s5tse.simulate.shoebox import make_room

PathLike = Union[str, "os.PathLike[str]"]
MARKER = ".mini_corpus.json"
#: Bumped when the files change for the same settings (2: config/, official module
#: strings, onset-sorted events), so an older build is refused instead of reused.
FORMAT_VERSION = 2
SPLITS = ("train", "valid")
#: The external dataset each target class comes from in the official pick-up lists.
PICKUP_LISTS = {"EARS_config.json": ("Speech",)}
OTHER_PICKUP_LIST = "FSD50K_config.json"


@dataclass
class MiniCorpusConfig:
    """Sizes of the mini corpus; the defaults train the full recipe in minutes on 2 cores."""

    seed: int = 0
    sample_rate: int = 32000
    groups_per_class: Dict[str, int] = field(default_factory=lambda: {"train": 6, "valid": 2})
    files_per_group: Dict[str, int] = field(default_factory=lambda: {"train": 3, "valid": 2})
    num_interference_classes: int = 4
    interference_files: Dict[str, int] = field(default_factory=lambda: {"train": 3, "valid": 2})
    noise_files: Dict[str, int] = field(default_factory=lambda: {"train": 2, "valid": 1})
    noise_duration_s: float = 12.0  # > 10 s: exercises the random noise offset
    rooms: Dict[str, int] = field(default_factory=lambda: {"train": 3, "valid": 1})
    positions_per_room: int = 8
    rir_length_s: float = 0.5
    max_order: int = 10
    num_valid_scenes: int = 12
    num_test_scenes: int = 30

    def to_dict(self) -> dict:
        return asdict(self)


def _rng(cfg: MiniCorpusConfig, key: str) -> np.random.Generator:
    return scene_rng(cfg.seed, f"mini_corpus/{key}")


def pickup_list_of(label: str) -> str:
    """The ``config/`` file that lists the events of ``label``."""
    return next((name for name, labels in PICKUP_LISTS.items() if label in labels),
                OTHER_PICKUP_LIST)


def _write_events(dev: Path, cfg: MiniCorpusConfig) -> int:
    count = 0
    pickup: Dict[str, List[Dict[str, str]]] = {OTHER_PICKUP_LIST: [], **{n: [] for n in PICKUP_LISTS}}
    for split in SPLITS:
        for label in TARGET_CLASSES:
            for g in range(cfg.groups_per_class[split]):
                group = f"{label.lower()}{split[0]}{g:02d}"
                for i in range(cfg.files_per_group[split]):
                    name = f"{group}/{group}_{i:03d}.wav"
                    rel = f"sound_event/{split}/{label}/{name}"
                    x = generate_event(label, _rng(cfg, rel), cfg.sample_rate)
                    write_audio(dev / rel, x, cfg.sample_rate, subtype="PCM_16")
                    pickup[pickup_list_of(label)].append(
                        {"file_name": name, "t4_label": label,
                         "convert_path": f"{split}/{label}/{name}"})
                    count += 1
        for label in INTERFERENCE_CLASSES[: cfg.num_interference_classes]:
            for i in range(cfg.interference_files[split]):
                rel = f"interference/{split}/{label}/int_{split}_{i:03d}.wav"
                x = generate_interference(label, _rng(cfg, rel), cfg.sample_rate)
                write_audio(dev / rel, x, cfg.sample_rate, subtype="PCM_16")
                count += 1
    (dev / "config").mkdir(parents=True, exist_ok=True)
    for name, rows in sorted(pickup.items()):
        (dev / "config" / name).write_text(json.dumps(rows, indent=4) + "\n")
    return count


def _write_noise(dev: Path, cfg: MiniCorpusConfig) -> None:
    for split in SPLITS:
        for i in range(cfg.noise_files[split]):
            rel = f"noise/{split}/noise_{split}_{i:02d}.wav"
            x = generate_diffuse_noise(_rng(cfg, rel), cfg.noise_duration_s, cfg.sample_rate, 4)
            write_audio(dev / rel, x, cfg.sample_rate, subtype="PCM_16")


def _room_geometry(rng: np.random.Generator) -> Tuple[np.ndarray, float, np.ndarray]:
    """Random shoebox: dimensions [3] (m), RT60 (s) and a mic position [3] near the centre."""
    dims = np.array([rng.uniform(5.0, 8.0), rng.uniform(4.0, 6.0), rng.uniform(2.7, 3.5)])
    rt60 = float(rng.uniform(0.2, 0.5))
    mic = dims * np.array([rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6), 0.0])
    mic[2] = 1.5
    return dims, rt60, mic


def _write_rooms(dev: Path, cfg: MiniCorpusConfig) -> None:
    length = int(cfg.rir_length_s * cfg.sample_rate)
    for split in SPLITS:
        for i in range(cfg.rooms[split]):
            rel = f"room_ir/{split}/room_{split}_{i:02d}.sofa"
            rng = _rng(cfg, rel)
            dims, rt60, mic = _room_geometry(rng)
            ir, positions = make_room(
                rel, dims, rt60, mic, cfg.positions_per_room, seed=int(rng.integers(2**31)),
                sample_rate=cfg.sample_rate, length=length, max_order=cfg.max_order,
            )
            write_sofa(dev / rel, ir, positions, cfg.sample_rate, room_dims=dims,
                       room_origin=-mic, comment=f"s5tse mini corpus, RT60 {rt60:.2f} s")


def _valid_scenes(root: Path, dev: Path, cfg: MiniCorpusConfig) -> None:
    index = scan_dev_set(root, split="valid", classes=DCASE2026)
    gen = GeneratorConfig(nevent_range=(1, 3))
    paths = []
    for i in range(cfg.num_valid_scenes):
        name = f"valid_{i:04d}"
        scene = generate_scene(index, gen, cfg.seed, f"mini_corpus/valid/{name}")
        path = dev / "metadata" / "valid" / f"{name}.json"
        scene.to_json(path)
        paths.append(path)
    write_metadata_list(dev / "metadata" / "valid.json", paths)


def scene_configs_for_test_set(num: int) -> List[GeneratorConfig]:
    """Generator settings per test scene: no target, a forced same-class duplicate, then the
    official rules with 1-3 targets (a tiny test set needs few empty scenes)."""
    special = [
        GeneratorConfig(nevent_range=(0, 0)),
        GeneratorConfig(nevent_range=(2, 3), dupse_rate=1.0),
    ]
    return (special + [GeneratorConfig(nevent_range=(1, 3))] * num)[:num]


def _test_set(root: Path, dev: Path, cfg: MiniCorpusConfig) -> None:
    from s5tse.simulate.writer import write_rendered_scene  # noqa: WPS433 (keeps imports light)
    from s5tse.simulate.renderer import render_scene

    index = scan_dev_set(root, split="valid", classes=DCASE2026)
    out = dev / "synthesized" / "test"
    for i, gen in enumerate(scene_configs_for_test_set(cfg.num_test_scenes)):
        name = f"test_{i:04d}"
        scene = generate_scene(index, gen, cfg.seed, f"mini_corpus/test/{name}")
        write_rendered_scene(out, name, render_scene(scene, root), cfg.sample_rate, subtype="PCM_16")


def build_mini_corpus(root: PathLike, cfg: MiniCorpusConfig = MiniCorpusConfig()) -> Path:
    """Build the mini corpus at ``root`` (the dataset root, holding ``data/dev_set``).

    Returns ``root``. A complete corpus with the same settings is left as it is; one with
    other settings, or a folder without the marker, is an error (nothing is overwritten).
    """
    root = Path(root)
    settings = {**cfg.to_dict(), "format_version": FORMAT_VERSION}
    marker = root / MARKER
    if marker.is_file():
        if json.loads(marker.read_text()) == settings:
            logging.info("mini corpus already built: %s", root)
            return root
        raise FileExistsError(
            f"{root}: a mini corpus with other settings exists ({marker}); remove it to rebuild"
        )
    if root.exists():
        raise FileExistsError(f"{root}: exists but is not a complete mini corpus; remove it to rebuild")

    tmp = root.with_name(root.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)  # leftovers of an interrupted build: ours, safe to redo
    dev = tmp / DEV_SET
    n_events = _write_events(dev, cfg)
    _write_noise(dev, cfg)
    _write_rooms(dev, cfg)
    _valid_scenes(tmp, dev, cfg)
    _test_set(tmp, dev, cfg)
    (tmp / MARKER).write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, root)
    logging.info("mini corpus built: %s (%d event files)", root, n_events)
    return root
