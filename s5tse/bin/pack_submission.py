#!/usr/bin/env python3
"""Check a decoding directory and pack it as a DCASE 2026 Task 4 submission zip.

Usage:

    python -m s5tse.bin.pack_submission \
        --decode_dir exp/separator_resunetk/decode_default_eval \
        --soundscape_dir /data/DCASE2026Task4EvaluationDataset/data/eval_set/synthesized/eval/soundscape \
        --author Doe --affiliation ACME --number 1 --out_dir submission \
        --dev_results exp/separator_resunetk/decode_default_test/scoring/official_results.json \
        --dev_soundscape_dir corpus/DCASE2026Task4Dataset/data/dev_set/synthesized/test/soundscape

writes ``submission/Doe_ACME_task4_1/{eval_out/*.wav, eval_results.json,
dev_set_test_results.json}`` and ``submission/Doe_ACME_task4_1.zip``. Upload the zip
and put its URL into ``Doe_ACME_task4.audio_url.txt`` as the task asks.

Everything is checked before anything is written (names, labels, 32 kHz mono,
mixture length, NaN/Inf, at most 3 estimates per soundscape, probabilities.json
against the files, nparams, author/affiliation/number, the dev results in the official
evaluator's structure covering every dev test soundscape); every problem is printed
as one ``pack_submission: error: ...`` line naming its file, and the exit status
is 1. An existing zip is kept unless ``--overwrite true``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from s5tse.labels import ClassInventory, InventoryError
from s5tse.results.submission import SubmissionError, plan_submission, write_submission
from s5tse.utils.types import str2bool

PROG = "pack_submission"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Validate a decoding directory and pack a DCASE 2026 Task 4 submission.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--decode_dir", required=True,
                        help="decoding dir with <soundscape>_<slot>_<Label>.wav, probabilities.json, "
                             "decode_info.json")
    parser.add_argument("--soundscape_dir", required=True,
                        help="directory of the input mixtures <soundscape>.wav")
    parser.add_argument("--author", required=True, help="[A-Za-z0-9-]+, e.g. Doe")
    parser.add_argument("--affiliation", required=True, help="[A-Za-z0-9-]+, e.g. ACME")
    parser.add_argument("--number", required=True, help="submission number (1, 2, ...)")
    parser.add_argument("--out_dir", required=True, help="where the folder and the zip go")
    parser.add_argument("--dev_results", default=None,
                        help="official_results.json of the scored development test set (written by "
                             "s5tse.bin.score) -> dev_set_test_results.json")
    parser.add_argument("--dev_soundscape_dir", default=None,
                        help="the development test soundscapes; --dev_results must list exactly "
                             "these (the official check)")
    parser.add_argument("--classes", default=None,
                        help="class inventory (classes.txt); default: the classes decode_info.json "
                             "records")
    parser.add_argument("--overwrite", type=str2bool, default=False,
                        help="replace an existing zip of the same name")
    return parser


def main(cmd: Optional[List[str]] = None) -> None:
    from s5tse.utils.logging import setup_logging

    args = get_parser().parse_args(cmd)
    setup_logging("INFO")
    try:
        plan = plan_submission(
            args.decode_dir, args.soundscape_dir, args.author, args.affiliation, args.number,
            args.out_dir, dev_results=args.dev_results,
            dev_soundscape_dir=args.dev_soundscape_dir, overwrite=args.overwrite,
            classes=ClassInventory.read(args.classes) if args.classes else None,
        )
        for warning in plan.warnings:
            logging.warning("%s", warning)
        zip_path = write_submission(plan)
    except SubmissionError as e:
        for problem in e.problems:
            print(f"{PROG}: error: {problem}", file=sys.stderr)
        print(f"{PROG}: error: {len(e.problems)} problem(s); nothing was packed", file=sys.stderr)
        sys.exit(1)
    except (OSError, InventoryError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(1)
    n_soundscapes = len({est.soundscape for est in plan.estimates})
    logging.info("packed %d estimate(s) for %d soundscape(s) into %s (folder %s)",
                 len(plan.estimates), n_soundscapes, zip_path, plan.folder)


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
