#!/usr/bin/env python3
"""Score what each decision step adds on a test set: argmax, one threshold, decoupled
report + query, per-class report thresholds (stage 5 of run.sh, after tune_thresholds).

Usage:

    # stage 5: the test set, with the thresholds tuned on the validation set
    python -m s5tse.bin.decision_steps --config conf/decode.yaml \\
        --separator_exp exp/separator_x --tagger_exp exp/tagger_y --data data/test \\
        --output exp/separator_x/decode_y_test/decision_steps.json

The steps (:func:`s5tse.decode.tune.decision_steps`) come from
``<tagger_exp>/decode_thresholds.yaml`` (``--thresholds`` to change), which
``python -m s5tse.bin.tune_thresholds`` writes on the validation set:

    argmax          the official baseline's rule: a slot is output iff its argmax is not silence
    one threshold   tau_q = tau_r = single_threshold (the best point of the grid's diagonal)
    decoupled       the selected tau_q (separated) and tau_r (output)
    per-class       decoupled + class_report_thresholds (only if tuned with --per_class true)

Each is scored with CAPI-SDRi, Acc_mix and Acc_src (:mod:`s5tse.decode.tune`: the tagger
once per mixture, the separator once per distinct query set); ``decoupled`` / ``per-class``
decide as ``s5tse.bin.decode`` with the tuned file does. The rows go, atomically, to
``--output`` (JSON; ``python -m s5tse.bin.show_results`` puts the table of
``<decode dir>/decision_steps.json`` into RESULTS.md) and are printed as a table.

Jobs, as in ``s5tse.bin.decode``: job ``j`` of ``n`` scores the mixtures with
``index % n == j - 1`` into ``<output>.parts/<j>.json``; with ``--num_jobs 1`` the merge
follows, otherwise run ``--merge true`` once all jobs are done (it names a missing part):

    utils/run.pl JOB=1:2 log/decision_steps.JOB.log python -m s5tse.bin.decision_steps \\
        ... --output D/decision_steps.json --num_jobs 2 --job JOB --num_threads 1
    python -m s5tse.bin.decision_steps ... --output D/decision_steps.json --num_jobs 2 --merge true

The other decoding keys come from ``--config`` and ``--<key> value`` as in
``s5tse.bin.decode``. Errors: one ``decision_steps: error:`` line, exit status 1 (2 for usage
errors).
"""
from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import astuple
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

from s5tse.utils.cli import fail

PROG = "decision_steps"
log = logging.getLogger(PROG)


_fail = partial(fail, PROG)   # _fail(message, status=1): one line on stderr, exit


def get_parser():
    from s5tse.bin.decode import add_job_arguments, decode_argument_parser

    parser = decode_argument_parser(
        PROG, "Score the decision steps on a test set (see python -m pydoc "
              "s5tse.bin.decision_steps).")
    parser.add_argument("--thresholds", default=None,
                        help="tuned thresholds (default <tagger_exp>/decode_thresholds.yaml)")
    parser.add_argument("--output", required=True, help="result file (JSON)")
    add_job_arguments(parser)
    return parser


def part_path(output: Path, job: int) -> Path:
    """Where job ``job`` writes its per-mixture results: ``<output>.parts/<job>.json``."""
    return Path(f"{output}.parts") / f"{job}.json"


def merge_parts(output: Path, num_jobs: int) -> dict:
    """The result of the ``num_jobs`` parts (mixtures in name order); ValueError naming a
    missing or unreadable part, or parts of different steps."""
    from s5tse.decode.tune import StepResult, aggregate_decision_steps

    parts = []
    for job in range(1, num_jobs + 1):
        path = part_path(output, job)
        try:
            parts.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read this job's part ({exc.__class__.__name__}); "
                             f"did job {job} of {num_jobs} finish?") from None
    first = parts[0]
    results = {}
    for job, part in enumerate(parts, start=1):
        if part["steps"] != first["steps"] or part["thresholds"] != first["thresholds"]:
            raise ValueError(f"{part_path(output, job)}: other decision steps than job 1's")
        results.update({name: [StepResult(*r) for r in res] for name, res in part["items"].items()})
    results = dict(sorted(results.items()))
    return {"thresholds": first["thresholds"], "num_items": len(results), "data": first["data"],
            "steps": aggregate_decision_steps(first["steps"], results)}


def main(cmd: Optional[Sequence[str]] = None) -> None:
    from s5tse.decode.config import TUNED_THRESHOLDS
    from s5tse.decode.inputs import DecodeInputError, list_items
    from s5tse.decode.models import ModelLoadError, experiment_classes
    from s5tse.decode.pipeline import build_decoder
    from s5tse.decode.tune import decision_step_results, decision_steps
    from s5tse.fileio.atomic import atomic_write_text
    from s5tse.results.show import format_decision_steps
    from s5tse.utils.config import ConfigError, read_config_file
    from s5tse.utils.logging import get_commandline_args, setup_logging
    from s5tse.utils.progress import set_progress

    from s5tse.bin.decode import apply_num_threads, job_range_error, parse_decode_config

    try:
        args, config = parse_decode_config(get_parser(), sys.argv[1:] if cmd is None else cmd)
    except ConfigError as exc:
        _fail(str(exc), 2)
    if args.use_oracle_labels or args.tagger_exp is None:
        _fail("--tagger_exp is required (the decision steps act on the tagger's output)", 2)
    path = Path(args.thresholds) if args.thresholds else Path(args.tagger_exp) / TUNED_THRESHOLDS
    if not path.is_file():
        _fail(f"{path}: missing; run python -m s5tse.bin.tune_thresholds first "
              "(run.sh --tune_thresholds true)")
    try:
        steps = decision_steps(read_config_file(path))
    except (ConfigError, ValueError) as exc:
        _fail(f"{path}: {exc}")
    job_error = job_range_error(args)
    if job_error:
        _fail(job_error, 2)
    setup_logging(args.log_level)
    set_progress(args.progress)
    log.info("%s", get_commandline_args())
    output = Path(args.output)
    if not args.merge:
        apply_num_threads(config)
        try:
            items = list_items(args.data, args.soundscape_dir, args.oracle_dir,
                               need_references=True,
                               classes=experiment_classes(args.separator_exp))
            items = items[args.job - 1::args.num_jobs]   # index % num_jobs == job - 1
            decoder, _, _ = build_decoder(config, args.separator_exp, args.tagger_exp, False,
                                          args.separation_cache)
            results = decision_step_results(decoder, items, steps, config["resample"])
        except (DecodeInputError, ModelLoadError, ValueError) as exc:
            _fail(str(exc))
        part = {"thresholds": os.fspath(path),
                "data": args.data if args.data else os.fspath(args.soundscape_dir),
                "steps": steps,
                "items": {name: [astuple(r) for r in res] for name, res in results.items()}}
        atomic_write_text(part_path(output, args.job),
                          json.dumps(part, indent=1, allow_nan=False) + "\n")
        if args.num_jobs > 1:
            return
    try:
        result = merge_parts(output, args.num_jobs)
    except ValueError as exc:
        _fail(str(exc))
    atomic_write_text(output, json.dumps(result, indent=2, allow_nan=False) + "\n")
    print("\n".join(format_decision_steps(result["steps"])))
    print(f"-> {output}")


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
