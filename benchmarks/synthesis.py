#!/usr/bin/env python3
"""Single-core throughput of the scene renderer (s5tse.simulate.renderer) on synthetic data.

Builds a tiny dataset root in a temporary folder (2 SOFA rooms x 8 positions of 4-ch
random-noise-tail RIRs with the real DCASE length of 174,763 samples; 30 mono events
of 0.5-8 s in 5 classes; 6 interference events; 2 four-channel 12-s noise files),
generates scenes with the official 2026 generator settings (10 s, 32 kHz) and renders
them twice: cold (empty RIR caches, SOFA files read on first use) and warm (same
scenes again). Prints scenes/s and peak RSS; asserts nothing.

    python benchmarks/synthesis.py [--num_scenes 40] [--seed 0] [--no_dry]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch are imported
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

RIR_LEN = 174_763
SR = 32_000
CLASSES = ("Speech", "Dishes", "Cough", "Doorbell", "Typing")


def build_dataset(root: Path, seed: int = 0) -> None:
    """Write the synthetic dataset below ``root/data/dev_set``."""
    from s5tse.fileio.sofa import write_sofa

    rng = np.random.default_rng(seed)
    dev = root / "data" / "dev_set"
    t = np.arange(RIR_LEN) / SR
    for r in range(2):
        m = 8
        az = np.radians(np.arange(m) * 360.0 / m + 10.0 * r)
        el = np.radians(rng.uniform(-20, 20, m))
        pos = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1) * 1.5
        ir = rng.normal(size=(m, 4, RIR_LEN)) * np.exp(-t / 0.4)[None, None, :] * 0.05
        delay = int(0.005 * SR)
        ir[:, :, :delay] = 0.0
        gains = np.stack([np.ones(m), pos[:, 1] / 1.5, pos[:, 2] / 1.5, pos[:, 0] / 1.5], 1)
        ir[:, :, delay] += gains
        write_sofa(dev / "room_ir" / "train" / f"room{r}.sofa", ir, pos, SR)
    for i in range(30):
        cls = CLASSES[i % len(CLASSES)]
        dur = rng.uniform(0.5, 8.0)
        x = rng.normal(size=int(dur * SR)) * np.hanning(int(dur * SR)) * 0.3
        path = dev / "sound_event" / "train" / cls / f"src{i % 3}" / f"ev{i:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")
    for i in range(6):
        cls = ("Bird", "Engine")[i % 2]
        x = rng.normal(size=int(rng.uniform(0.5, 6.0) * SR)) * 0.2
        path = dev / "interference" / "train" / cls / f"int{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")
    for i in range(2):
        x = rng.normal(size=(12 * SR, 4)) * 0.05
        path = dev / "noise" / "train" / f"noise{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")


def peak_rss_mib() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ru / 1024.0 if sys.platform != "darwin" else ru / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num_scenes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_dry", action="store_true", help="mixtures only (want_dry=False)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from s5tse.fileio.sofa import clear_sofa_cache
    from s5tse.simulate.generator import GeneratorConfig, generate_scene
    from s5tse.simulate.renderer import clear_caches, render_scene, rir_cache_info
    from s5tse.corpus.dev_set import scan_dev_set

    with tempfile.TemporaryDirectory(prefix="s5tse_bench_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build_dataset(root, args.seed)
        print(
            f"dataset built in {time.perf_counter() - t0:.1f} s "
            f"(2 rooms x 8 positions x 4 ch x {RIR_LEN} samples)"
        )

        clear_sofa_cache()
        clear_caches()
        index = scan_dev_set(root)
        cfg = GeneratorConfig()
        t0 = time.perf_counter()
        scenes = [
            generate_scene(index, cfg, args.seed, f"bench_{i:04d}") for i in range(args.num_scenes)
        ]
        t_gen = time.perf_counter() - t0
        n_fg = sum(len(s.fg_events) for s in scenes)
        n_int = sum(len(s.int_events) for s in scenes)
        print(
            f"generated {len(scenes)} scenes in {t_gen:.2f} s (includes reading both SOFA files); "
            f"{n_fg} targets, {n_int} interferers"
        )

        want_dry = not args.no_dry
        results = {}
        for label in ("cold", "warm"):
            if label == "cold":
                clear_caches()
            t0 = time.perf_counter()
            for s in scenes:
                render_scene(s, root, want_dry=want_dry)
            dt = time.perf_counter() - t0
            results[label] = len(scenes) / dt
            info = rir_cache_info()
            print(
                f"{label}: {len(scenes)} scenes in {dt:.2f} s = {results[label]:.2f} scenes/s "
                f"({1000 * dt / len(scenes):.1f} ms/scene; RIR cache {info['entries']} entries, "
                f"{info['bytes'] / 2**20:.0f} MiB, hits {info['hits']}, misses {info['misses']})"
            )
        print(f"peak RSS: {peak_rss_mib():.0f} MiB")
        print(
            f"settings: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
            f"torch threads {torch.get_num_threads()}, scipy.fft workers=1, want_dry={want_dry}"
        )


if __name__ == "__main__":
    main()
