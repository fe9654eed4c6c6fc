#!/usr/bin/env python3
"""Average model weights (weights-only ``.pth`` files or ``checkpoint.pth``).

Usage:

    # explicit files -> one output (written atomically)
    python -m s5tse.bin.average_checkpoints --output exp/sep/avg_3_5.pth \
        exp/sep/3epoch.pth exp/sep/5epoch.pth

    # the k best epochs of a finished experiment by a criterion (ranking from the history
    # stored in EXP/checkpoint.pth); writes EXP/valid.loss.ave_3best.pth and points
    # EXP/valid.loss.ave.pth at it (epochs whose {N}epoch.pth was purged are skipped)
    python -m s5tse.bin.average_checkpoints --exp_dir exp/sep --criterion valid loss min --nbest 3

Floating tensors are averaged (float64 accumulation), integer buffers such as
``num_batches_tracked`` get the floor of their mean, bool tensors come from the first
file (:mod:`s5tse.train.average`). Errors: ``average_checkpoints: error: ...``, exit 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

PROG = "average_checkpoints"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Average model weights over checkpoints.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("inputs", nargs="*", help="weights-only .pth files (or checkpoint.pth)")
    parser.add_argument("--output", default=None, help="output file (with explicit inputs)")
    parser.add_argument("--exp_dir", default=None, help="experiment dir (n-best mode)")
    parser.add_argument("--criterion", nargs=3, metavar=("PHASE", "KEY", "MODE"),
                        default=["valid", "loss", "min"], help="ranking criterion (n-best mode)")
    parser.add_argument("--nbest", type=int, default=5, help="number of best epochs (n-best mode)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(argv)

    from s5tse.models.tagger.checkpoint import CheckpointError as FileError
    from s5tse.models.tagger.checkpoint import load_checkpoint_file
    from s5tse.train.average import average_state_dicts, write_nbest_averages
    from s5tse.train.checkpoint import CheckpointError, load_checkpoint, save_weights
    from s5tse.train.reporter import Reporter

    def fail(message: str) -> None:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(1)

    if bool(args.inputs) == bool(args.exp_dir):
        fail("give either input files (with --output) or --exp_dir")
    if args.inputs:
        if not args.output:
            fail("--output is required with input files")
        states = []
        for path in args.inputs:
            try:  # missing, empty, truncated, not a checkpoint: one line naming the file
                state = load_checkpoint_file(path, map_location="cpu")
            except (FileError, FileNotFoundError) as exc:
                fail(str(exc))
            states.append(state["model"] if isinstance(state, dict) and "model" in state
                          and "epoch" in state else state)
        try:
            out = save_weights(average_state_dicts(states), args.output)
        except ValueError as exc:
            fail(str(exc))
        print(f"wrote {out} (average of {len(states)})")
        return

    phase, key, mode = args.criterion
    if mode not in ("min", "max"):
        fail(f"criterion mode must be min or max, got {mode!r}")
    try:
        found = load_checkpoint(args.exp_dir)
    except CheckpointError as exc:
        fail(str(exc))
    if found is None:
        fail(f"no checkpoint.pth in {args.exp_dir}")
    reporter = Reporter()
    reporter.load_state_dict(found[0]["reporter"])
    epochs = [e for e, _ in reporter.ranked(phase, key, mode)]
    if not epochs:
        fail(f"no '{phase}.{key}' values in the history of {args.exp_dir}")
    written = write_nbest_averages(Path(args.exp_dir), {(phase, key): epochs}, args.nbest)
    if not written:
        fail(f"none of the {phase}.{key} best epochs has its {{N}}epoch.pth in {args.exp_dir}")
    print(f"wrote {written[0]}")


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
