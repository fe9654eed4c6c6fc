#!/usr/bin/env python3
"""Score separated sources with the DCASE 2026 Task 4 metrics (CAPI-SDRi, Acc_mix, Acc_src).

Usage:

    # official test-set folders
    python -m s5tse.bin.score \\
        --soundscape_dir corpus/DCASE2026Task4Dataset/data/dev_set/synthesized/test/soundscape \\
        --oracle_dir corpus/DCASE2026Task4Dataset/data/dev_set/synthesized/test/oracle_target \\
        --estimate_dir exp/s5/decode_test/estimates --out_dir exp/s5/decode_test/scores \\
        --nj 4 --unprocessed_row true

    # Kaldi tables (wav.scp, text, spk{1,2,3}.scp) instead of the folders
    python -m s5tse.bin.score --data_dir data/test \\
        --estimate_dir exp/s5/decode_test/estimates --out_dir exp/s5/decode_test/scores

Estimates are ``<soundscape>_<slot>_<Label>.wav`` files (mono, 32 kHz, mixture length),
as in the official submission; a soundscape without any estimate file predicted nothing
(a warning says how many). Writes ``OUT/scores.json`` (headline numbers, per-mixture
values, breakdowns), ``OUT/scores.md`` (tables) and ``OUT/official_results.json`` (the
official evaluator's results structure, the submission's ``dev_set_test_results.json``;
:mod:`s5tse.scoring.official`), and prints the headline numbers.
``--unprocessed_row true`` adds the row "unprocessed mixture (oracle labels)" (mixture
channel 0 as the estimate of each reference: CAPI-SDRi 0 by definition, its mean SDR
is the input SDR). Metric definitions: s5tse.metrics.capi, s5tse.metrics.labels.
On error ``score: error: <message>`` goes to stderr and the exit status is 1.
"""
from __future__ import annotations

import argparse
import logging
from functools import partial
from pathlib import Path
from typing import List, NoReturn, Optional

from s5tse.utils.cli import fail

PROG = "score"
UNPROCESSED_ROW = "unprocessed mixture (oracle labels)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit status 1
        _fail(message)


_fail = partial(fail, PROG)   # _fail(message, status=1): one line on stderr, exit


def get_parser() -> argparse.ArgumentParser:
    from s5tse.utils.progress import add_progress_argument
    from s5tse.utils.types import str2bool

    parser = _Parser(prog=PROG, description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soundscape_dir", default=None,
                        help="folder of <name>.wav 4-ch mixtures (with --oracle_dir)")
    parser.add_argument("--oracle_dir", default=None,
                        help="folder of the references <name>[_<n>]_<Label>.wav")
    parser.add_argument("--data_dir", default=None,
                        help="Kaldi data dir (wav.scp, text, spk{n}.scp) instead of the folders")
    parser.add_argument("--estimate_dir", required=True,
                        help="folder of <soundscape>_<slot>_<Label>.wav estimates")
    parser.add_argument("--out_dir", required=True, help="where scores.json and scores.md go")
    parser.add_argument("--classes", default=None,
                        help="class inventory (classes.txt); default: <data_dir>/../lang/classes.txt "
                             "with --data_dir, the DCASE 2026 classes with the official folders")
    parser.add_argument("--nj", type=int, default=1, help="worker processes")
    parser.add_argument("--unprocessed_row", type=str2bool, default=False,
                        help="also score the unprocessed mixture with oracle labels (true/false)")
    add_progress_argument(parser)
    return parser


def main(cmd: Optional[List[str]] = None) -> None:
    from s5tse.corpus.dcase import DCASE2026
    from s5tse.fileio.table import TableError, read_table
    from s5tse.labels import ClassInventory, find_inventory
    from s5tse.scoring.official import check_decoding_classes
    from s5tse.scoring.io import items_from_folders, items_from_tables, warn_missing_estimates
    from s5tse.scoring.official import write_official_results
    from s5tse.scoring.score import format_headline, headline, score_set, write_scores
    from s5tse.utils.logging import get_commandline_args, setup_logging
    from s5tse.utils.progress import set_progress

    args = get_parser().parse_args(cmd)
    setup_logging()
    set_progress(args.progress)
    logging.info("%s", get_commandline_args())
    if args.data_dir is not None:
        if args.soundscape_dir is not None or args.oracle_dir is not None:
            _fail("give --data_dir or --soundscape_dir/--oracle_dir, not both")
    elif args.soundscape_dir is None or args.oracle_dir is None:
        _fail("give --soundscape_dir and --oracle_dir (or --data_dir)")
    if args.nj < 1:
        _fail(f"--nj must be >= 1, got {args.nj}")
    try:
        if args.data_dir is not None:
            read_table(Path(args.data_dir) / "wav.scp")  # a missing data dir is named first
            classes = find_inventory(args.data_dir, args.classes)
            check_decoding_classes(args.estimate_dir, classes)
            items = items_from_tables(args.data_dir, args.estimate_dir, classes)
        else:
            classes = ClassInventory.read(args.classes) if args.classes else DCASE2026
            check_decoding_classes(args.estimate_dir, classes)
            items = items_from_folders(args.soundscape_dir, args.oracle_dir, args.estimate_dir,
                                       classes)
        warn_missing_estimates(items)
        result = score_set(items, nj=args.nj, unprocessed=args.unprocessed_row, classes=classes)
        extra = {UNPROCESSED_ROW: headline(result.unprocessed)} if result.unprocessed else None
        json_path, _ = write_scores(result, args.out_dir, extra_rows=extra)
        write_official_results(items, result, args.estimate_dir, args.out_dir)
    except (TableError, ValueError, OSError) as e:
        _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    for line in format_headline(result):
        print(line)
    if result.unprocessed is not None:
        u = result.unprocessed
        print(f"{UNPROCESSED_ROW}: CAPI-SDRi {u.capi_sdri:.3f} dB, mean SDR {u.mean_sdr:.3f} dB")
    logging.info("wrote %s, scores.md and official_results.json", json_path)


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
