#!/usr/bin/env python3
"""Validate a Kaldi/ESPnet-style data directory (tables, key sets, audio files).

Usage:

    # tables only: parse rules, key sets, utt2spk/spk2utt, existence of audio files
    python -m s5tse.bin.validate_data_dir data/train

    # official test set: 4-channel 32 kHz mixtures, mono 32 kHz references in spk{N}.scp
    python -m s5tse.bin.validate_data_dir data/test --sample_rate 32000 --num_channels 4
    # also decode every file: unreadable data, NaN/Inf samples (a cut WAV is caught either way)
    python -m s5tse.bin.validate_data_dir data/test --check_audio true

    # dumped training mixtures, labels restricted to a list (one label per line)
    python -m s5tse.bin.validate_data_dir dump/train \
        --sample_rate 32000 --num_channels 4 --labels_file data/token_list

    # do not touch audio files (e.g. on a machine without the corpus)
    python -m s5tse.bin.validate_data_dir data/test --no_audio

    # labels of 'text' against the class inventory (default: data/lang/classes.txt)
    python -m s5tse.bin.validate_data_dir data/test --classes data/lang/classes.txt

    # require more tables than wav.scp
    python -m s5tse.bin.validate_data_dir data/test --required wav.scp,text,spk1.scp
    # the recipe's whole data contract (s5tse/fileio/contract.py): pools, rooms, valid, test
    python -m s5tse.bin.validate_data_dir --contract data --test_sets test

Run it from the recipe directory: relative paths in tables are relative to the
current directory. Pipe entries (``cmd |``) are never executed.

On success one summary line goes to stdout and the exit status is 0; on the first
problem ``validate_data_dir: error: <file>:<line>: ...`` goes to stderr, exit status 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Set

from s5tse.fileio.datadir import validate_data_dir
from s5tse.fileio.table import TableError
from s5tse.labels import CLASSES_FILE, InventoryError, find_inventory

PROG = "validate_data_dir"


def get_parser() -> argparse.ArgumentParser:
    from s5tse.utils.types import str2bool

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Validate a Kaldi/ESPnet-style data directory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("data_dir", help="data directory, e.g. data/test")
    parser.add_argument(
        "--sample_rate", type=int, default=None,
        help="expected sample rate of wav.scp and spk{N}.scp audio (header check)",
    )
    parser.add_argument(
        "--num_channels", type=int, default=None,
        help="expected channel count of wav.scp audio (spk{N}.scp must be mono)",
    )
    parser.add_argument(
        "--no_audio", action="store_true",
        help="do not check audio files (existence, headers)",
    )
    parser.add_argument(
        "--check_audio", type=str2bool, default=False,
        help="also read every audio file's samples: unreadable data and NaN/Inf are errors",
    )
    parser.add_argument(
        "--labels_file", default=None,
        help="allowed labels of 'text', one per line (first field of each line)",
    )
    parser.add_argument(
        "--classes", default=None,
        help="class inventory (classes.txt) that the 'text' labels must belong to; default: "
             "<data_dir>/../lang/classes.txt when it exists (checked for blank lines and "
             "duplicates too)",
    )
    parser.add_argument(
        "--required", default="wav.scp",
        help="comma-separated tables that must exist",
    )
    parser.add_argument(
        "--contract", action="store_true",
        help="data_dir is a recipe's data/: check every table of the data contract "
             "(s5tse/fileio/contract.py) instead of one dir",
    )
    parser.add_argument(
        "--test_sets", default="test",
        help="with --contract: space-separated test-set dirs that must exist",
    )
    return parser


def read_labels(path: str) -> Set[str]:
    """Allowed labels: the first field of every non-blank line of ``path``."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise TableError(f"{path}: cannot read labels file: {e.strerror}") from None
    labels = {line.split()[0] for line in lines if line.strip()}
    if not labels:
        raise TableError(f"{path}: labels file has no labels")
    return labels


def _has_inventory(data_dir: str) -> bool:
    """Whether ``data_dir`` or its parent holds ``lang/classes.txt`` (a recipe's data dir)."""
    here = os.path.abspath(data_dir)
    return any(os.path.isfile(os.path.join(d, CLASSES_FILE)) for d in (here, os.path.dirname(here)))


def main(cmd: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    if args.contract:
        contract(args)
        return
    try:
        labels = read_labels(args.labels_file) if args.labels_file else None
        if labels is None and (args.classes or _has_inventory(args.data_dir)):
            labels = set(find_inventory(args.data_dir, args.classes).classes)
        summary = validate_data_dir(
            args.data_dir,
            sample_rate=args.sample_rate,
            num_channels=args.num_channels,
            check_audio=not args.no_audio,
            required=[r for r in args.required.split(",") if r],
            labels=labels,
            read_samples=args.check_audio and not args.no_audio,
        )
    except (TableError, InventoryError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(1)
    audio = (
        "audio not checked"
        if args.no_audio
        else f"{summary['num_audio_checked']} audio files found, "
        f"{summary['num_pipes_skipped']} pipes not run"
    )
    print(
        f"{PROG}: {summary['data_dir']}: OK: {summary['num_utts']} utterances; "
        f"tables: {' '.join(summary['tables'])}; {audio}"
    )


def contract(args: argparse.Namespace) -> None:
    from s5tse.fileio.contract import check_recipe_data

    try:
        lines = check_recipe_data(args.data_dir, test_sets=args.test_sets.split(),
                                  check_audio=not args.no_audio, sample_rate=args.sample_rate)
    except (TableError, InventoryError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(1)
    for line in lines:
        print(f"{PROG}: {line}")
    print(f"{PROG}: {args.data_dir}: OK: the data contract holds")


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
