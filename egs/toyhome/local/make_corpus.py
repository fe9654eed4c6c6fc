#!/usr/bin/env python3
"""Build the ToyHome corpus: 6 procedural household classes in flat folders with CSV labels,
its own shoebox rooms and a pre-rendered test set (the layout of local/prepare_data.py).

    python local/make_corpus.py --out_dir corpus/toyhome [--num_test_scenes 16] [--seed 0]

Deterministic for a seed; a complete corpus with the same settings is kept, one with other
settings is refused (remove it to rebuild). The test set is drawn from the test split with
the recipe's synthesis rules (conf/synthesis.yaml) and rendered by s5tse.
"""
import argparse
import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from s5tse.corpus.procedural import generate_diffuse_noise, generate_event, generate_interference
from s5tse.fileio.sofa import write_sofa
from s5tse.fileio.sound_scp import write_audio
from s5tse.simulate.generator import GeneratorConfig, generate_scene, scene_rng
from s5tse.simulate.renderer import render_scene
from s5tse.simulate.shoebox import make_room
from s5tse.simulate.sources import SourceIndex
from s5tse.simulate.writer import write_rendered_scene
from s5tse.tasks.data import resolve_synthesis

from prepare_data import write_pools

SR = 32000
# ToyHome class -> the procedural sound it is made of
SOUNDS = {"beep": "AlarmClock", "chime": "Doorbell", "hum": "MechanicalFans",
          "clatter": "Dishes", "steps": "FootSteps", "voice": "Speech"}
DISTRACTORS = ("Rain", "Engine")
TAKES = {"train": 3, "valid": 2, "test": 2}      # recording sessions per class
FILES_PER_TAKE = {"train": 3, "valid": 2, "test": 2}
ROOMS = {"train": 2, "valid": 1, "test": 1}
MARKER = ".toyhome.json"


def build(out: Path, args) -> None:
    def rng(key):
        return scene_rng(args.seed, f"toyhome/{key}")

    events, distractors = [], []
    for split in TAKES:
        for label, sound in SOUNDS.items():
            for t in range(TAKES[split]):
                for i in range(FILES_PER_TAKE[split]):
                    name = f"{label}_{split}_{t}_{i}.wav"
                    write_audio(out / "events" / name, generate_event(sound, rng(name), SR), SR,
                                subtype="PCM_16")
                    events.append({"file": name, "label": label, "split": split,
                                   "take": f"{label}_{split}_{t}"})
        for label in DISTRACTORS:
            for i in range(2):
                name = f"{label.lower()}_{split}_{i}.wav"
                write_audio(out / "distractors" / name, generate_interference(label, rng(name), SR),
                            SR, subtype="PCM_16")
                distractors.append({"file": name, "label": label.lower(), "split": split})
        write_audio(out / "ambience" / f"{split}_0.wav",
                    generate_diffuse_noise(rng(f"ambience/{split}"), 12.0, SR, 4), SR,
                    subtype="PCM_16")
        for r in range(ROOMS[split]):
            name = f"{split}_{r}.sofa"
            g = rng(name)
            dims = np.array([g.uniform(4.0, 7.0), g.uniform(3.5, 5.5), g.uniform(2.5, 3.2)])
            mic = np.array([dims[0] * g.uniform(0.4, 0.6), dims[1] * g.uniform(0.4, 0.6), 1.4])
            rt60 = float(g.uniform(0.25, 0.6))
            ir, pos = make_room(name, dims, rt60, mic, args.positions, seed=int(g.integers(2**31)),
                                sample_rate=SR, length=int(args.rir_length_s * SR),
                                max_order=args.max_order)
            write_sofa(out / "rooms" / name, ir, pos, SR, room_dims=dims, room_origin=-mic,
                       comment=f"ToyHome, RT60 {rt60:.2f} s")
    for name, rows in (("events.csv", events), ("distractors.csv", distractors)):
        with open(out / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    # the pre-rendered test set, from the test split, with the recipe's rules
    rules = GeneratorConfig.from_dict(resolve_synthesis(args.synthesis))
    with tempfile.TemporaryDirectory() as tmp:
        write_pools(out, Path(tmp), ["test"])
        index = SourceIndex.from_data_dir(tmp, split="test")
        for i in range(args.num_test_scenes):
            name = f"toyhome_test_{i:03d}"
            scene = generate_scene(index, rules, args.seed, f"toyhome/test/{name}")
            write_rendered_scene(out / "test", name, render_scene(scene, index.root), SR,
                                 subtype="PCM_16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_test_scenes", type=int, default=16)
    parser.add_argument("--positions", type=int, default=12, help="source positions per room")
    parser.add_argument("--rir_length_s", type=float, default=0.4)
    parser.add_argument("--max_order", type=int, default=8)
    parser.add_argument("--synthesis", default="conf/synthesis.yaml")
    args = parser.parse_args()
    out = Path(args.out_dir)
    settings = {k: v for k, v in vars(args).items() if k != "out_dir"}
    settings["synthesis"] = resolve_synthesis(args.synthesis)
    marker = out / MARKER
    if marker.is_file():
        if json.loads(marker.read_text()) == settings:
            print(f"make_corpus.py: {out}: complete, kept")
            return
        sys.exit(f"make_corpus.py: error: {out} was built with other settings; remove it to "
                 f"rebuild")
    if out.exists():
        sys.exit(f"make_corpus.py: error: {out} exists but is not a complete ToyHome corpus; "
                 f"remove it to rebuild")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp, args)
    (tmp / MARKER).write_text(json.dumps(settings, indent=1))
    tmp.rename(out)
    print(f"make_corpus.py: {out}: built")


if __name__ == "__main__":
    main()
