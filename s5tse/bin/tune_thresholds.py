#!/usr/bin/env python3
"""Tune the report / query thresholds of decoding on a validation set (grid search).

Usage:

    # stage 5 of run.sh, before decoding: the rendered validation set of stage 2
    python -m s5tse.bin.tune_thresholds --config conf/decode.yaml \\
        --separator_exp exp/separator_x --tagger_exp exp/tagger_y --data dump/valid

    # a coarser grid on the first 20 mixtures, streamed separation as in decoding
    python -m s5tse.bin.tune_thresholds --config conf/decode.yaml \\
        --separator_exp exp/separator_x --tagger_exp exp/tagger_y --data dump/valid \\
        --query_grid 0.2,0.4,0.6 --report_grid 0.4,0.6,0.8 --max_items 20 --streaming low_latency

    # then one report threshold per class at the selected tau_q (class_report_thresholds)
    python -m s5tse.bin.tune_thresholds --config conf/decode.yaml \\
        --separator_exp exp/separator_x --tagger_exp exp/tagger_y --data dump/valid --per_class true

For every ``tau_q`` of ``--query_grid`` and ``tau_r`` of ``--report_grid`` with
``tau_q <= tau_r`` the set is decoded (the separator runs once per distinct query set, each
``tau_r`` is re-scored from the same estimates) and scored with CAPI-SDRi, Acc_mix and
Acc_src (:mod:`s5tse.decode.tune`). The point with the best CAPI-SDRi (ties: Acc_mix, then
Acc_src, then grid order) is written with the whole grid table and the best point with
``tau_q = tau_r`` (``single_threshold``, for ``s5tse.bin.decision_steps``), atomically, to
``<tagger_exp>/decode_thresholds.yaml`` (``--output`` to change), which
``python -m s5tse.bin.decode`` then uses by default (explicit ``--report_threshold`` /
``--query_threshold`` win; ``use_tuned_thresholds: false`` ignores it). With ``--per_class
true`` the selected ``tau_r`` is then refined per class over ``--report_grid``
(:func:`s5tse.decode.tune.tune_class_thresholds`, from the separations of the grid) and the file
also holds ``class_report_thresholds`` and the scores before and after.

The other decoding keys (checkpoints, ``frame_threshold``, ``streaming``, ``device``,
``resample``) come from ``--config`` and ``--<key> value`` as in ``s5tse.bin.decode``; the
config's own thresholds and an existing ``decode_thresholds.yaml`` are not used. The data
must have references: a Kaldi dir with ``wav.scp``, ``text``, ``spk{1,2,3}.scp`` (``--data``)
or ``--soundscape_dir`` + ``--oracle_dir``. Errors: one ``tune_thresholds: error:`` line,
exit status 1 (2 for usage errors).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

from s5tse.utils.cli import fail

PROG = "tune_thresholds"
log = logging.getLogger(PROG)


_fail = partial(fail, PROG)   # _fail(message, status=1): one line on stderr, exit


def get_parser() -> argparse.ArgumentParser:
    from s5tse.bin.decode import decode_argument_parser
    from s5tse.decode.tune import DEFAULT_GRID

    grid = ",".join(f"{v:g}" for v in DEFAULT_GRID)
    parser = decode_argument_parser(
        PROG, "Grid-search the report/query thresholds (see python -m pydoc "
              "s5tse.bin.tune_thresholds).")
    parser.add_argument("--query_grid", default=grid, help="comma-separated tau_q values")
    parser.add_argument("--report_grid", default=grid, help="comma-separated tau_r values")
    from s5tse.utils.types import str2bool

    parser.add_argument("--per_class", type=str2bool, default=False,
                        help="also tune one report threshold per class at the selected tau_q")
    parser.add_argument("--max_items", type=int, default=0,
                        help="tune on the first N mixtures (0 = all)")
    parser.add_argument("--output", default=None,
                        help="result file (default <tagger_exp>/decode_thresholds.yaml)")
    return parser


def format_table(rows, best) -> str:
    lines = ["|tau_q|tau_r|CAPI-SDRi (dB)|Acc_mix (%)|Acc_src (%)|reported|",
             "|---|---|---|---|---|---|"]
    for r in rows:
        capi = "nan" if r.capi_sdri is None else f"{r.capi_sdri:.3f}"
        mark = " *" if r is best else ""
        lines.append(f"|{r.query_threshold:g}|{r.report_threshold:g}{mark}|{capi}|"
                     f"{r.acc_mix:.2f}|{r.acc_src:.2f}|{r.num_reported}|")
    return "\n".join(lines)


def main(cmd: Optional[Sequence[str]] = None) -> None:
    from s5tse.decode.config import TUNED_THRESHOLDS
    from s5tse.decode.inputs import DecodeInputError, list_items
    from s5tse.decode.models import ModelLoadError, experiment_classes
    from s5tse.decode.pipeline import build_decoder, streaming_info
    from s5tse.decode.tune import (parse_grid, select_single_threshold, tune_class_thresholds,
                                   tune_thresholds)
    from s5tse.utils.config import ConfigError, dump_config, save_config
    from s5tse.utils.logging import get_commandline_args, setup_logging
    from s5tse.utils.progress import set_progress

    from s5tse.bin.decode import parse_decode_config

    try:
        args, config = parse_decode_config(get_parser(), sys.argv[1:] if cmd is None else cmd)
    except ConfigError as exc:
        _fail(str(exc), 2)
    if args.print_config:
        sys.stdout.write(dump_config(config))
        return
    setup_logging(args.log_level)
    set_progress(args.progress)
    log.info("%s", get_commandline_args())
    if args.use_oracle_labels:
        _fail("--use_oracle_labels true has no thresholds to tune", 2)
    if args.tagger_exp is None:
        _fail("--tagger_exp is required", 2)
    try:
        qgrid = parse_grid(args.query_grid, "query_grid")
        rgrid = parse_grid(args.report_grid, "report_grid")
        items = list_items(args.data, args.soundscape_dir, args.oracle_dir, need_references=True,
                           classes=experiment_classes(args.separator_exp))
        if args.max_items > 0:
            items = items[: args.max_items]
        decoder, sep, tag = build_decoder(config, args.separator_exp, args.tagger_exp, False,
                                          args.separation_cache)
        tables = {} if args.per_class else None
        rows, best = tune_thresholds(decoder, items, qgrid, rgrid, config["frame_threshold"],
                                     config["resample"], subset_tables=tables)
        per_class = None
        if args.per_class:
            per_class = tune_class_thresholds(
                decoder, items, best.query_threshold, best.report_threshold, rgrid,
                config["frame_threshold"], config["resample"],
                tables=tables[best.query_threshold])
    except (DecodeInputError, ModelLoadError, ValueError) as exc:
        _fail(str(exc))
    out = Path(args.output) if args.output else Path(args.tagger_exp) / TUNED_THRESHOLDS
    result = {
        "report_threshold": best.report_threshold,
        "query_threshold": best.query_threshold,
        "criterion": "max CAPI-SDRi (dB); ties: Acc_mix, Acc_src, then grid order",
        "capi_sdri": best.capi_sdri,
        "acc_mix": best.acc_mix,
        "acc_src": best.acc_src,
        "frame_threshold": config["frame_threshold"],
        "num_items": len(items),
        "data": args.data if args.data else os.fspath(args.soundscape_dir),
        "tagger_checkpoint": os.fspath(tag.checkpoint),
        "separator_exp": os.fspath(args.separator_exp),
        "separator_checkpoint": os.fspath(sep.checkpoint),
        "streaming": streaming_info(sep.network, config["streaming"])["streaming"],
        "grid": [r.as_dict() for r in rows],
    }
    single = select_single_threshold(rows)
    if single is not None:  # tau_q = tau_r: the "one threshold" decision step
        result["single_threshold"] = dict(threshold=single.query_threshold,
                                          capi_sdri=single.capi_sdri, acc_mix=single.acc_mix,
                                          acc_src=single.acc_src)
    if per_class is not None:
        result["class_report_thresholds"] = per_class[0]
        result["per_class"] = {"before": per_class[1].as_dict(), "after": per_class[2].as_dict()}
    save_config(result, out)
    print(format_table(rows, best))
    print(f"selected query_threshold {best.query_threshold:g}, report_threshold "
          f"{best.report_threshold:g} -> {out}")
    if per_class is not None:
        capi = [("nan" if r.capi_sdri is None else f"{r.capi_sdri:.3f}") for r in per_class[1:]]
        print(f"per-class report thresholds {per_class[0] or '{}'}: CAPI-SDRi {capi[0]} -> "
              f"{capi[1]} dB, Acc_mix {per_class[1].acc_mix:.2f} -> {per_class[2].acc_mix:.2f} %")


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
