#!/usr/bin/env python3
"""Split a Kaldi table into contiguous parts for parallel jobs (like Kaldi's split_scp.pl).

Usage:

    # Kaldi split_scp.pl interface: one output per part
    python -m s5tse.bin.split_scp data/test/wav.scp \
        exp/x/logdir/keys.1.scp exp/x/logdir/keys.2.scp exp/x/logdir/keys.3.scp

    # the same with a JOB pattern (JOB -> 1..N)
    python -m s5tse.bin.split_scp data/test/wav.scp \
        --num_splits 3 --out_pattern 'exp/x/logdir/keys.JOB.scp'

    # an input that is not sorted (keys are still unique)
    python -m s5tse.bin.split_scp shuffled.scp a.scp b.scp --no_check_sorted

Parts keep the input order and differ in size by at most one, the first parts
larger (10 lines into 3: 4, 3, 3); their concatenation equals the input. More
parts than lines is an error: cap nj by the number of lines, e.g.
``nj=$(( nj < $(wc -l < wav.scp) ? nj : $(wc -l < wav.scp) ))``.
On error ``split_scp: error: ...`` goes to stderr and the exit status is 1.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from s5tse.fileio.split import split_table
from s5tse.fileio.table import TableError

PROG = "split_scp"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Split a Kaldi table into contiguous parts.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("in_scp", help="input table")
    parser.add_argument("out_scps", nargs="*", help="output tables, one per part")
    parser.add_argument(
        "--num_splits", type=int, default=None,
        help="number of parts (with --out_pattern, instead of listing outputs)",
    )
    parser.add_argument(
        "--out_pattern", default=None,
        help="output path containing JOB, replaced by 1..num_splits",
    )
    parser.add_argument(
        "--no_check_sorted", action="store_true",
        help="accept an input whose keys are not in LC_ALL=C order",
    )
    return parser


def output_paths(args: argparse.Namespace) -> List[str]:
    """The output list from positional outputs or ``--num_splits``/``--out_pattern``."""
    if args.num_splits is None and args.out_pattern is None:
        if not args.out_scps:
            raise TableError("no output files given (list them or use --num_splits/--out_pattern)")
        return list(args.out_scps)
    if args.out_scps:
        raise TableError("give either output files or --num_splits/--out_pattern, not both")
    if args.num_splits is None or args.out_pattern is None:
        raise TableError("--num_splits and --out_pattern go together")
    if "JOB" not in args.out_pattern:
        raise TableError(f"--out_pattern {args.out_pattern!r} does not contain JOB")
    if args.num_splits < 1:
        raise TableError(f"--num_splits must be >= 1, got {args.num_splits}")
    return [args.out_pattern.replace("JOB", str(j)) for j in range(1, args.num_splits + 1)]


def main(cmd: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    try:
        split_table(args.in_scp, output_paths(args), check_sorted=not args.no_check_sorted)
    except (TableError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
