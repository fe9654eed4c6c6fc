#!/usr/bin/env python3
"""Decode mixtures with a trained tagger and separator (stage 5 of run.sh).

Usage:

    # one job: decode, then merge (writes the whole decode dir)
    python -m s5tse.bin.decode --config conf/decode.yaml \\
        --separator_exp exp/separator_x --tagger_exp exp/tagger_y \\
        --data data/test --output_dir exp/separator_x/decode_decode_test

    # NJ parallel jobs (run.pl substitutes JOB), then one merge
    utils/run.pl JOB=1:4 exp/separator_x/decode_decode_test/logdir/decode.JOB.log \\
        python -m s5tse.bin.decode --config conf/decode.yaml \\
            --separator_exp exp/separator_x --tagger_exp exp/tagger_y \\
            --data data/test --output_dir exp/separator_x/decode_decode_test \\
            --job JOB --num_jobs 4
    python -m s5tse.bin.decode --config conf/decode.yaml \\
        --separator_exp exp/separator_x --tagger_exp exp/tagger_y \\
        --data data/test --output_dir exp/separator_x/decode_decode_test \\
        --num_jobs 4 --merge true

    # oracle labels and activity (separator only), official folders, streamed separation
    python -m s5tse.bin.decode --config conf/decode.yaml --separator_exp exp/separator_x \\
        --use_oracle_labels true --soundscape_dir ${test}/soundscape --oracle_dir ${test}/oracle_target \\
        --output_dir exp/separator_x/decode_oracle_test --streaming low_latency

    # any key of conf/decode.yaml can be overridden: --report_threshold 0.6
    # --query_threshold 0.2 --frame_threshold 0.5 --streaming 125,32,16 --device cuda
    # --separator_checkpoint valid.sdri.best.pth --tagger_checkpoint valid.loss.best.pth
    # --resample true ; --print_config shows the resolved config and exits

Pipeline per mixture: :mod:`s5tse.decode.runner` (tagger -> :class:`s5tse.bridge.Bridge` ->
:func:`s5tse.streaming.separate`). Outputs (the decode-dir contract,
:mod:`s5tse.decode.outputs`): ``<soundscape>_<slot>_<Label>.wav`` for reported slots,
``probabilities.json`` (every soundscape), ``text``, ``decode_info.json`` (``nparams``,
``rtf``, ``set``, ``tag``, peak memory, thresholds, streaming sizes, latency),
``decode_config.yaml``; job parts in ``logdir/``. ``--set_name`` / ``--tag`` default to the
output dir name ``decode_<tag>_<set>``.

Jobs: job ``j`` of ``n`` decodes the mixtures with ``index % n == j - 1``. With
``--num_jobs 1`` the merge follows the decoding; otherwise run ``--merge true`` once all jobs
are done (it refuses a missing part, naming it). An output dir that already holds results
is refused unless ``--overwrite true``; a job that was interrupted (killed, Ctrl-C) continues
when run again with the same arguments: the mixtures it finished are kept
(``logdir/items/<soundscape>.json``), the others are decoded. Every mixture of a job is read
and checked before the models run.

Separation cache: ``--separation_cache DIR`` (also in ``decision_steps`` and
``tune_thresholds``) stores each separation under a key of the separator's weights, streaming
sizes and device, the mixture and the queries (:mod:`s5tse.decode.separation_cache`); a tool
that meets the same key reads it instead of running the separator. Stage 5 of run.sh shares
one between the estimated-label decoding and its decision steps, then removes it.

Thresholds: ``conf/decode.yaml`` < ``<tagger_exp>/decode_thresholds.yaml`` (written by
``python -m s5tse.bin.tune_thresholds``, used when present and ``use_tuned_thresholds``) <
``--report_threshold`` / ``--query_threshold`` on the command line.

Errors: ``decode: error: <one line naming the file>`` on stderr, exit status 1 (2 for
command-line usage errors).
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from s5tse.utils.cli import fail

PROG = "decode"
log = logging.getLogger(PROG)
_DIR_RE = re.compile(r"^decode_(.+)_([^_]+)$")


_fail = partial(fail, PROG)   # _fail(message, status=1): one line on stderr, exit


def get_parser() -> argparse.ArgumentParser:
    from s5tse.utils.types import str2bool

    parser = decode_argument_parser(
        PROG, "Decode mixtures (tagger -> bridge -> separator). See python -m pydoc "
              "s5tse.bin.decode for examples.")
    parser.add_argument("--output_dir", required=True, help="decode dir exp/<sep>/decode_<tag>_<set>")
    add_job_arguments(parser)
    parser.add_argument("--overwrite", type=str2bool, default=False,
                        help="replace earlier results in --output_dir (true/false)")
    parser.add_argument("--set_name", default=None, help="set name in decode_info.json")
    parser.add_argument("--tag", default=None, help="decoding tag in decode_info.json")
    return parser


def decode_argument_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser of the decoding config keys (``--config`` + ``--<key> value``) with the model
    and data options; shared with ``s5tse.bin.tune_thresholds``."""
    from s5tse.decode.config import DECODE_DEFAULTS
    from s5tse.utils.config import ConfigArgumentParser
    from s5tse.utils.progress import add_progress_argument
    from s5tse.utils.types import str2bool

    parser = ConfigArgumentParser(DECODE_DEFAULTS, prog=prog, description=description,
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--separator_exp", required=True, help="separator experiment dir (stage 4)")
    parser.add_argument("--tagger_exp", default=None, help="tagger experiment dir (stage 3)")
    parser.add_argument("--use_oracle_labels", type=str2bool, default=False,
                        help="labels and activity from the references instead of the tagger")
    parser.add_argument("--data", default=None,
                        help="Kaldi data dir (wav.scp; text and spk{1,2,3}.scp for oracle labels)")
    parser.add_argument("--soundscape_dir", default=None, help="folder of <name>.wav mixtures")
    parser.add_argument("--oracle_dir", default=None, help="folder of the oracle targets")
    parser.add_argument("--separation_cache", default=None,
                        help="folder of separations shared by decode, decision_steps and "
                             "tune_thresholds: the same mixture, queries and separator are "
                             "separated once (s5tse.decode.separation_cache)")
    parser.add_argument("--log_level", default="INFO", help="DEBUG, INFO, WARNING, ...")
    add_progress_argument(parser)
    return parser


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """``--job``, ``--num_jobs`` and ``--merge`` (job ``j`` of ``n`` takes the mixtures with
    ``index % n == j - 1``; shared with ``s5tse.bin.decision_steps``)."""
    from s5tse.utils.types import str2bool

    parser.add_argument("--job", type=int, default=1, help="this job's number, 1..num_jobs")
    parser.add_argument("--num_jobs", type=int, default=1, help="number of parallel jobs")
    parser.add_argument("--merge", type=str2bool, default=False,
                        help="combine the job parts of a finished run (true/false)")


def job_range_error(args: argparse.Namespace) -> Optional[str]:
    """The usage error of an impossible ``--job`` / ``--num_jobs`` pair, else None."""
    if args.num_jobs < 1 or not 1 <= args.job <= args.num_jobs:
        return f"--job must be in 1..--num_jobs (>= 1), got --job {args.job} --num_jobs {args.num_jobs}"
    return None


def apply_num_threads(config: Dict[str, Any]) -> None:
    """``torch.set_num_threads(config["num_threads"])`` unless it is 0 (torch's default)."""
    if int(config["num_threads"]) > 0:
        import torch

        torch.set_num_threads(int(config["num_threads"]))


def parse_decode_config(parser: Any, argv: Sequence[str]) -> Tuple[argparse.Namespace, Dict[str, Any]]:
    """argv -> ``(args, config)``: ``--config`` with the ``--<key> value`` overrides, checked,
    without the tuned thresholds (the tools that tune or compare them); ConfigError otherwise."""
    from s5tse.decode.config import check_decode_config
    from s5tse.utils.config import load_config

    tool_argv, overrides = parser.split_argv(list(argv))
    args = parser.parse_args(tool_argv)
    config = load_config(parser.config_defaults, args.config, overrides)
    check_decode_config(config)
    return args, config


def resolve_config(parser: Any, argv: Sequence[str]) -> Tuple[argparse.Namespace, Dict[str, Any], str]:
    """argv -> ``(args, config, threshold source)``; errors exit via :func:`_fail`."""
    from s5tse.decode.config import apply_tuned_thresholds, check_decode_config, explicit_keys
    from s5tse.utils.config import ConfigError, load_config

    tool_argv, overrides = parser.split_argv(list(argv))
    args = parser.parse_args(tool_argv)
    try:
        config = load_config(parser.config_defaults, args.config, overrides)
        source = "config"
        if args.use_oracle_labels:
            source = "oracle"
        else:
            config, source = apply_tuned_thresholds(config, args.tagger_exp,
                                                    explicit_keys(overrides))
        check_decode_config(config)
    except ConfigError as exc:
        _fail(str(exc), 2)
    return args, config, source


def set_and_tag(args: argparse.Namespace) -> Tuple[str, str]:
    """``(set, tag)``: explicit, else from ``decode_<tag>_<set>``, else the data / config names."""
    m = _DIR_RE.match(Path(args.output_dir).name)
    if args.set_name:
        name = args.set_name
    elif m:
        name = m.group(2)
    elif args.data:
        name = Path(args.data).name
    else:
        name = Path(args.soundscape_dir).resolve().parent.name
    if args.tag:
        tag = args.tag
    elif m:
        tag = m.group(1)
    else:
        tag = Path(args.config[-1]).stem if args.config else "default"
    return name, tag


def main(cmd: Optional[Sequence[str]] = None) -> None:
    from s5tse.decode.inputs import (
        DecodeInputError,
        check_mixtures,
        job_share,
        list_items,
        read_mixture,
    )
    from s5tse.decode.models import ModelLoadError, experiment_classes
    from s5tse.labels import InventoryError, find_inventory
    from s5tse.decode.outputs import (
        DecodeOutputError,
        decoding_key,
        finished_items,
        merge_parts,
        prepare_output_dir,
        write_item,
        write_item_record,
        write_job_part,
    )
    from s5tse.decode.pipeline import build_decoder, peak_gpu_mb, peak_rss_mb, streaming_info
    from s5tse.utils.config import dump_config
    from s5tse.utils.logging import get_commandline_args, setup_logging
    from s5tse.utils.progress import progress_bar, set_progress

    argv = list(sys.argv[1:] if cmd is None else cmd)
    parser = get_parser()
    args, config, source = resolve_config(parser, argv)
    if args.print_config:
        sys.stdout.write(dump_config(config))
        return
    setup_logging(args.log_level)
    set_progress(args.progress)
    log.info("%s", get_commandline_args())
    apply_num_threads(config)
    job_error = job_range_error(args)
    if job_error:
        _fail(job_error, 2)
    out = Path(args.output_dir)
    set_name, tag = set_and_tag(args)
    try:
        classes = None
        if not args.merge:  # the models' classes; the data's inventory must agree
            classes = experiment_classes(args.separator_exp)
            if args.data is not None:
                try:
                    data_classes = find_inventory(args.data)
                except InventoryError:
                    data_classes = None  # a data dir outside a recipe: nothing to compare
                if data_classes is not None:
                    classes.check_same(data_classes, f"separator {args.separator_exp}",
                                       f"the data's inventory ({args.data})")
        items = list_items(args.data, args.soundscape_dir, args.oracle_dir,
                           need_references=args.use_oracle_labels, classes=classes)
        names = [it.name for it in items]
        if args.merge:
            info = merge_parts(out, args.num_jobs, names, overwrite=args.overwrite)
            print(f"merged {args.num_jobs} job(s) into {out}: {info['num_items']} mixtures, "
                  f"{info['num_reported']} estimates, RTF {info['rtf']}")
            return
        mine = job_share(items, args.job, args.num_jobs)
        key = decoding_key(dict(config, separator_exp=os.fspath(args.separator_exp),
                                tagger_exp=args.tagger_exp, use_oracle_labels=args.use_oracle_labels))
        done = {} if args.overwrite else finished_items(out, [it.name for it in mine], key)
        prepare_output_dir(out, [it.name for it in mine], args.job, args.overwrite, clean=False,
                           keep=list(done))
        check_mixtures(mine, config["resample"])     # a bad file stops the job before any work
        decoder, sep, tag_exp = build_decoder(config, args.separator_exp, args.tagger_exp,
                                              args.use_oracle_labels, args.separation_cache)
        resolved = dict(config)
        resolved.update(streaming_info(sep.network, config["streaming"]))
        resolved.update({
            "set": set_name, "tag": tag, "use_oracle_labels": bool(args.use_oracle_labels),
            "threshold_source": source,
            "separator_exp": os.fspath(args.separator_exp),
            "separator_checkpoint": os.fspath(sep.checkpoint),
            "tagger_exp": None if tag_exp is None else os.fspath(args.tagger_exp),
            "tagger_checkpoint": None if tag_exp is None else os.fspath(tag_exp.checkpoint),
            "data": args.data, "soundscape_dir": args.soundscape_dir,
            "oracle_dir": args.oracle_dir,
        })
        nparams_tagger = None if tag_exp is None else tag_exp.nparams
        log.info("separator %s (%d parameters), tagger %s (%s parameters); thresholds "
                 "report %.3g / query %.3g (%s); streaming %s; job %d/%d: %d of %d mixtures",
                 sep.checkpoint, sep.nparams, None if tag_exp is None else tag_exp.checkpoint,
                 nparams_tagger, config["report_threshold"], config["query_threshold"], source,
                 resolved["streaming"], args.job, args.num_jobs, len(mine), len(items))
        prepare_output_dir(out, [it.name for it in mine], args.job, args.overwrite, keep=list(done))
        t_start = time.perf_counter()
        by_name: Dict[str, Dict[str, Any]] = {}
        audio = compute = 0.0
        for name, record in done.items():   # finished by an interrupted run of this decoding
            by_name[name] = {k: record[k] for k in ("soundscape", "estimate", "slots")}
            audio += record["num_samples"] / 32000.0
            compute += record["compute_seconds"]
        if done:
            log.info("continuing: %d of %d mixtures were decoded by an interrupted run",
                     len(done), len(mine))
        todo = [it for it in mine if it.name not in done]
        bs = int(config["batch_size"])
        with progress_bar(total=len(mine), initial=len(done), desc=f"decode job {args.job}",
                          unit="mixture") as bar:
            for start in range(0, len(todo), bs):
                group = [(it, read_mixture(it.mixture, config["resample"]))
                         for it in todo[start:start + bs]]
                for res in decoder.decode_batch(group):
                    by_name[res.name] = write_item(out, res)
                    write_item_record(out, by_name[res.name], res.num_samples,
                                      res.compute_seconds, key)
                    audio += res.num_samples / 32000.0
                    compute += res.compute_seconds
                    log.info("%s: %s (%.2f s compute)", res.name,
                             " ".join(res.bridge.text_labels()), res.compute_seconds)
                    bar.update(1)
        entries = [by_name[it.name] for it in mine]
        info = {
            "job": args.job, "num_jobs": args.num_jobs, "num_items": len(entries),
            "audio_seconds": round(audio, 3), "compute_seconds": round(compute, 3),
            "wall_seconds": round(time.perf_counter() - t_start, 3),
            "rtf": round(compute / audio, 6) if audio > 0 else None,
            "peak_rss_mb": peak_rss_mb(), "peak_gpu_mb": peak_gpu_mb(str(config["device"])),
            "nparams": sep.nparams + (nparams_tagger or 0), "classes": sep.classes.to_list(),
            "nparams_tagger": nparams_tagger, "nparams_separator": sep.nparams,
            "config": resolved,
        }
        paths = write_job_part(out, args.job, entries, info)
        log.info("job %d/%d done: %s (RTF %s, peak RSS %.0f MiB)", args.job, args.num_jobs,
                 paths["probabilities"], info["rtf"], info["peak_rss_mb"])
        if args.num_jobs == 1:
            merged = merge_parts(out, 1, names, overwrite=args.overwrite)
            print(f"decoded {merged['num_items']} mixtures into {out}: {merged['num_reported']} "
                  f"estimates, RTF {merged['rtf']}")
    except (DecodeInputError, DecodeOutputError, ModelLoadError, ValueError) as exc:
        _fail(str(exc))


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
