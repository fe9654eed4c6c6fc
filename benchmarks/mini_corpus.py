#!/usr/bin/env python3
"""Speed of the built-in mini corpus: procedural events/s on one core and full build time.

Usage:
    tools/venv/bin/python benchmarks/mini_corpus.py [--events 300]

Prints figures; asserts nothing.
"""
import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()

    import numpy as np

    from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES
    from s5tse.corpus.mini_corpus import MiniCorpusConfig, build_mini_corpus
    from s5tse.corpus.procedural import generate_event

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    seconds = 0.0
    for i in range(args.events):
        seconds += generate_event(TARGET_CLASSES[i % len(TARGET_CLASSES)], rng).size / 32000
    dt = time.perf_counter() - t0
    print(f"procedural events: {args.events / dt:.1f} events/s ({seconds / dt:.0f}x real time)")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_mini_corpus(os.path.join(tmp, "DCASE2026Task4Dataset"), MiniCorpusConfig())
        print(f"mini corpus (default settings): built in {time.perf_counter() - t0:.1f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
