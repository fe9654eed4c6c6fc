#!/usr/bin/env python3
"""Stage 1: Kaldi-style tables of the DCASE 2026 Task 4 development set.

Usage:
    python -m s5tse.bin.prepare_data --corpus_root corpus/mini/DCASE2026Task4Dataset --out_dir data

Writes data/{sound_event,interference,noise,rirs}_{train,valid}/, data/valid/ and
data/test/ (see s5tse.corpus.prepare), validates each, and logs the file count per class.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prepare_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus_root", required=True,
                        help="dataset root: the folder holding data/dev_set")
    parser.add_argument("--out_dir", required=True, help="where the table folders go (data/)")
    parser.add_argument("--sample_rate", type=int, default=32000, help="required sample rate")
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    from s5tse.corpus.prepare import DataPrepError, format_summary, prepare_data
    from s5tse.fileio.table import TableError
    from s5tse.simulate.scene import SceneError
    from s5tse.utils.logging import setup_logging

    setup_logging()
    args = get_parser().parse_args(cmd)
    try:
        summary = prepare_data(args.corpus_root, args.out_dir, args.sample_rate)
    except (DataPrepError, TableError, SceneError, ValueError) as e:
        print(f"prepare_data: error: {e}", file=sys.stderr)
        sys.exit(1)
    for line in format_summary(summary):
        logging.info("%s", line)


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
