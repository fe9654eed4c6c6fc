#!/usr/bin/env python3
"""Kaldi tables (wav.scp, spk{1,2,3}.scp, text, utt2num_samples) of pre-rendered soundscapes.

Usage:
    python -m s5tse.bin.make_soundscape_tables --soundscape_dir dump/valid/soundscape \\
        --oracle_dir dump/valid/oracle_target --out_dir dump/valid --classes data/lang/classes.txt

Reads the official naming (<name>.wav; references <name>_<label>.wav or
<name>_<n>_<label>.wav) and validates the tables it writes.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_soundscape_tables", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soundscape_dir", required=True)
    parser.add_argument("--oracle_dir", required=True)
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--classes", required=True,
                        help="class inventory (data/lang/classes.txt): the labels the names may carry")
    parser.add_argument("--sample_rate", type=int, default=32000)
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    from s5tse.corpus.prepare import DataPrepError, write_soundscape_tables
    from s5tse.corpus.testset import scan_test_set
    from s5tse.fileio.datadir import validate_data_dir
    from s5tse.fileio.table import TableError
    from s5tse.labels import ClassInventory
    from s5tse.utils.logging import setup_logging

    setup_logging()
    args = get_parser().parse_args(cmd)
    try:
        classes = ClassInventory.read(args.classes)
        n = write_soundscape_tables(scan_test_set(args.soundscape_dir, args.oracle_dir,
                                                  classes=classes),
                                    args.out_dir, args.sample_rate)
        validate_data_dir(args.out_dir, sample_rate=args.sample_rate, num_channels=4,
                          labels=classes.classes,
                          required=("wav.scp", "text"))
    except (DataPrepError, TableError, ValueError) as e:
        print(f"make_soundscape_tables: error: {e}", file=sys.stderr)
        sys.exit(1)
    logging.info("%s: %d soundscapes", args.out_dir, n)


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
