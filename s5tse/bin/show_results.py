#!/usr/bin/env python3
"""Summarise every scored decoding directory into ESPnet-style RESULTS.md files.

Usage:

    python -m s5tse.bin.show_results --expdir exp --out exp/RESULTS.md
    # add the rows that others reported for the test set (stage 1 writes the file for the
    # real DCASE dev test set), marked (reported)
    python -m s5tse.bin.show_results --expdir exp --out exp/RESULTS.md \
        --reported data/test/reported_results.tsv
    # list extra configs (e.g. the decoding config) under every system
    python -m s5tse.bin.show_results --expdir exp --configs conf/decode.yaml

Reads ``<expdir>/<system>/decode_*/scoring/scores.json`` (and ``decode_info.json``
when present) and writes ``--out`` with an "Environments" block and one table per
system, plus ``<expdir>/<system>/RESULTS.md`` holding that system's table only. Rows are
named by system (separator model + tagger model, from the experiments' config.yaml), labels
(``estimated (tagger <name>)`` / ``oracle``) and test set, plus one ``unprocessed mixture
(SDR x dB)`` row per test set; the notes under a table say what ``params`` counts and which
decoding dir each row comes from (layout: :mod:`s5tse.results.show`).
On error ``show_results: error: ...`` goes to stderr and the exit status is 1.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from s5tse.results.show import Reported, ResultsError, write_results

PROG = "show_results"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Collect exp/<system>/decode_*/scoring/scores.json into RESULTS.md files.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--expdir", default="exp", help="experiment root")
    parser.add_argument("--out", default=None,
                        help="combined RESULTS.md (default: <expdir>/RESULTS.md)")
    parser.add_argument("--reported", default=None,
                        help="reported_results.tsv of the test set: rows reported by others "
                             "(copied, not measured), added to every table")
    parser.add_argument("--configs", nargs="*", default=[],
                        help="extra config files to list under every system")
    return parser


def main(cmd: Optional[List[str]] = None) -> None:
    from s5tse.utils.logging import setup_logging

    args = get_parser().parse_args(cmd)
    setup_logging("INFO")
    try:
        reported = Reported.read(args.reported) if args.reported else None
        written = write_results(args.expdir, args.out, reported=reported,
                                configs=args.configs)
    except (ResultsError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(1)
    for path in written:
        logging.info("wrote %s", path)


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
