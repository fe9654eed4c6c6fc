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

Each is scored with CAPI-SDRi, Acc_mix and Acc_src (:func:`s5tse.decode.tune
.score_decision_steps`: the tagger once per mixture, the separator once per distinct query
set); ``decoupled`` / ``per-class`` decide as ``s5tse.bin.decode`` with the tuned file does.
The rows go, atomically, to ``--output`` (JSON; ``python -m s5tse.bin.show_results`` puts the
table of ``<decode dir>/decision_steps.json`` into RESULTS.md) and are printed as a table.
The other decoding keys come from ``--config`` and ``--<key> value`` as in
``s5tse.bin.decode``. Errors: one ``decision_steps: error:`` line, exit status 1 (2 for usage
errors).
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn, Optional, Sequence

PROG = "decision_steps"
log = logging.getLogger(PROG)


def _fail(message: str, status: int = 1) -> NoReturn:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(status)


def get_parser():
    from s5tse.bin.decode import decode_argument_parser

    parser = decode_argument_parser(
        PROG, "Score the decision steps on a test set (see python -m pydoc "
              "s5tse.bin.decision_steps).")
    parser.add_argument("--thresholds", default=None,
                        help="tuned thresholds (default <tagger_exp>/decode_thresholds.yaml)")
    parser.add_argument("--output", required=True, help="result file (JSON)")
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    from s5tse.decode.config import TUNED_THRESHOLDS, check_decode_config
    from s5tse.decode.inputs import DecodeInputError, list_items
    from s5tse.decode.models import ModelLoadError, experiment_classes
    from s5tse.decode.pipeline import build_decoder
    from s5tse.decode.tune import decision_steps, score_decision_steps
    from s5tse.fileio.atomic import atomic_write_text
    from s5tse.results.show import format_decision_steps
    from s5tse.utils.config import ConfigError, load_config, read_config_file
    from s5tse.utils.logging import get_commandline_args, setup_logging

    argv = list(sys.argv[1:] if cmd is None else cmd)
    parser = get_parser()
    tool_argv, overrides = parser.split_argv(argv)
    args = parser.parse_args(tool_argv)
    try:
        config = load_config(parser.config_defaults, args.config, overrides)
        check_decode_config(config)
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
    setup_logging(args.log_level)
    log.info("%s", get_commandline_args())
    try:
        items = list_items(args.data, args.soundscape_dir, args.oracle_dir, need_references=True,
                           classes=experiment_classes(args.separator_exp))
        decoder, _, _ = build_decoder(config, args.separator_exp, args.tagger_exp, False)
        rows = score_decision_steps(decoder, items, steps, config["resample"])
    except (DecodeInputError, ModelLoadError, ValueError) as exc:
        _fail(str(exc))
    result = {"thresholds": os.fspath(path), "num_items": len(items),
              "data": args.data if args.data else os.fspath(args.soundscape_dir),
              "steps": rows}
    atomic_write_text(Path(args.output), json.dumps(result, indent=2, allow_nan=False) + "\n")
    print("\n".join(format_decision_steps(rows)))
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
