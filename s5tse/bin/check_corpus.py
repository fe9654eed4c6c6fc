#!/usr/bin/env python3
"""Check that a folder holds the official DCASE 2026 Task 4 development-set layout.

Usage:

    # the unpacked dataset root, its parent, or its data/dev_set folder
    python -m s5tse.bin.check_corpus corpus/DCASE2026Task4Dataset
    python -m s5tse.bin.check_corpus corpus
    python -m s5tse.bin.check_corpus corpus/DCASE2026Task4Dataset/data/dev_set

Checks (see ``s5tse.corpus.layout``): the required folders (metadata/valid.json,
metadata/valid, noise, room_ir, sound_event, interference, synthesized/test),
the class folders under sound_event/{train,valid}, at least one .wav/.sofa
file in each noise, room_ir and class folder, and no unknown class folders.

Output: one problem per line on stdout, paths relative to the dataset root, e.g.

    missing: data/dev_set/room_ir/valid
    empty: data/dev_set/sound_event/train/Pour (no .wav files)
    unknown class folder: data/dev_set/sound_event/train/Dog

and exit status 1; or ``OK: <dataset root>`` and exit status 0.  If no dataset
root can be found, ``check_corpus: error: ...`` goes to stderr (exit status 1).
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from s5tse.corpus.layout import check_layout, find_dataset_root

PROG = "check_corpus"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check the DCASE 2026 Task 4 development-set layout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("root", help="DCASE2026Task4Dataset folder, its parent, or its data/dev_set")
    return parser


def main(cmd: Optional[List[str]] = None) -> int:
    """Run the check; returns the exit status (0 = layout OK)."""
    args = get_parser().parse_args(cmd)
    try:
        root = find_dataset_root(args.root)
    except FileNotFoundError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    problems = check_layout(root)
    for line in problems:
        print(line)
    if problems:
        print(f"{PROG}: {len(problems)} problem(s) under {root}", file=sys.stderr)
        return 1
    print(f"OK: {root}")
    return 0


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    sys.exit(run_main(main))
