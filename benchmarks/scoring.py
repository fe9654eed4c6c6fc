#!/usr/bin/env python3
"""Speed of the scorer (s5tse.scoring) on a synthetic test set, reading from disk.

Synthesises in a temporary folder N 10-s 32-kHz 4-ch mixtures (PCM_16) with 0-3 reference
targets each (same-class duplicates sometimes) and noisy estimates with imperfect labels
(missed, extra and wrong classes), in the official naming, then times the CLI path —
scan the folders, read every file, score, write scores.json/scores.md — with 1 and 2
jobs. The files are freshly written, so reads mostly come from the page cache. Prints
figures; asserts nothing. Needs about 4.5 GB of temporary disk for N = 1000.

    tools/venv/bin/python benchmarks/scoring.py [--num_mixtures 1000] [--jobs 1 2] [--tmp_dir DIR]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

SR = 32000
T = 10 * SR


def synthesise(root: Path, num: int, seed: int = 0) -> dict:
    """Write soundscape/, oracle_target/, estimates/ under ``root``; returns counts."""
    from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES

    rng = np.random.default_rng(seed)
    pool = [(0.05 * rng.standard_normal(T) * np.abs(np.sin(np.linspace(0, rng.uniform(3, 30), T))))
            .astype(np.float32) for _ in range(24)]

    def source():
        x = np.roll(pool[rng.integers(len(pool))], rng.integers(T)) * rng.uniform(0.3, 1.5)
        return x.astype(np.float32)

    dirs = {k: root / k for k in ("soundscape", "oracle_target", "estimates")}
    for d in dirs.values():
        d.mkdir(parents=True)
    counts = {"refs": 0, "ests": 0, "dups": 0}
    for i in range(num):
        name = f"bench_{i:04d}"
        n_ref = int(rng.choice(4, p=[0.1, 0.3, 0.3, 0.3]))
        labels = list(rng.choice(TARGET_CLASSES, size=n_ref, replace=True))
        if n_ref >= 2 and rng.random() < 0.3:
            labels[1] = labels[0]  # same-class duplicate
        counts["dups"] += len(set(labels)) < len(labels)
        refs = [source() for _ in labels]
        ch0 = sum(refs, 0.02 * source())
        mix = np.stack([ch0, 0.7 * ch0 + 0.01 * source(), 0.5 * ch0, 0.3 * ch0])
        mix /= max(1.0, float(np.abs(mix).max()) / 0.9)
        sf.write(str(dirs["soundscape"] / f"{name}.wav"), mix.T, SR, subtype="PCM_16")
        for n, (label, ref) in enumerate(zip(labels, refs)):
            sf.write(str(dirs["oracle_target"] / f"{name}_{n}_{label}.wav"),
                     np.clip(ref, -1, 1), SR, subtype="PCM_16")
        # estimates: noisy references; sometimes a missed, an extra or a wrong label
        ests = [(label, ref + rng.uniform(0.02, 0.5) * source()) for label, ref in zip(labels, refs)]
        r = rng.random()
        if ests and r < 0.1:
            ests.pop(int(rng.integers(len(ests))))
        elif r < 0.2 and len(ests) < 3:
            ests.append((str(rng.choice(TARGET_CLASSES)), source()))
        elif ests and r < 0.3:
            k = int(rng.integers(len(ests)))
            ests[k] = (str(rng.choice(TARGET_CLASSES)), ests[k][1])
        for slot, (label, wav) in enumerate(ests):
            sf.write(str(dirs["estimates"] / f"{name}_{slot}_{label}.wav"),
                     np.clip(wav, -1, 1), SR, subtype="PCM_16")
        counts["refs"] += len(labels)
        counts["ests"] += len(ests)
    return counts


def du(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_mixtures", type=int, default=1000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tmp_dir", default=None, help="parent of the temporary folder")
    args = parser.parse_args()

    from s5tse.corpus.dcase import DCASE2026
    from s5tse.scoring.io import items_from_folders
    from s5tse.scoring.score import score_set, write_scores

    root = Path(tempfile.mkdtemp(prefix="s5tse_bench_scoring_", dir=args.tmp_dir))
    try:
        t0 = time.perf_counter()
        counts = synthesise(root, args.num_mixtures)
        print(f"synthesised {args.num_mixtures} mixtures ({counts['refs']} references, "
              f"{counts['ests']} estimates, {counts['dups']} with duplicates; "
              f"{du(root):.2f} GiB) in {time.perf_counter() - t0:.1f} s")
        for nj in args.jobs:
            t0 = time.perf_counter()
            items = items_from_folders(root / "soundscape", root / "oracle_target", root / "estimates",
                                       DCASE2026)
            result = score_set(items, nj=nj, classes=DCASE2026)
            write_scores(result, root / f"scores_nj{nj}")
            dt = time.perf_counter() - t0
            print(f"nj={nj}: {dt:.2f} s ({args.num_mixtures / dt:.1f} mixtures/s); "
                  f"CAPI-SDRi {result.capi_sdri:.3f} dB, Acc_mix {result.acc_mix:.3f} %, "
                  f"Acc_src {result.acc_src:.3f} %")
        print(f"CPU cores: {os.cpu_count()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
