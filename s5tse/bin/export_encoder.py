#!/usr/bin/env python3
"""Write a pre-trained encoder (task ``pretrain``) in its published checkpoint layout.

Usage:

    python -m s5tse.bin.export_encoder --exp_dir exp/pretrain_m2d_mini
    # -> exp/pretrain_m2d_mini/m2d_weights.pth: the M2D AS-FT layout
    #    (module.ar.runtime.backbone.* + norm_stats, module.head.*)
    python -m s5tse.bin.export_encoder --exp_dir exp/pretrain_fpasst_mini \\
        --checkpoint valid.acc.best.pth --out /tmp/fpasst.pt
    # -> the PretrainedSED fpasst_strong_1.pt layout (model.*, strong_head.*, weak_head.*)

The file is what a tagger config's ``model_conf.m2d_weights`` / ``fpasst_weights`` reads; it
is checked by loading it back with those same readers (``M2DEncoder.load_pretrained``,
``FPaSSTEncoder.load_pretrained``) from its temporary file, which replaces the output only then. Errors:
``export_encoder: error: ...`` (one line naming the file), exit 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

PROG = "export_encoder"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Export a pre-trained encoder in its published layout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="a 'pretrain' experiment directory")
    parser.add_argument("--checkpoint", default="valid.acc.best.pth",
                        help="weights inside --exp_dir (or a path)")
    parser.add_argument("--out", default=None,
                        help="output file (default: <exp_dir>/m2d_weights.pth or fpasst_weights.pt)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(argv)

    import torch

    from s5tse.decode.models import ModelLoadError, load_experiment
    from s5tse.fileio.atomic import atomic_path
    from s5tse.models.tagger.checkpoint import CheckpointError
    from s5tse.tasks.pretrain import PUBLISHED_NAME

    def fail(message: str) -> None:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(1)

    try:
        exp = load_experiment(args.exp_dir, args.checkpoint, "pretrain")
    except ModelLoadError as exc:
        fail(str(exc))
    out = Path(args.out) if args.out else Path(args.exp_dir) / PUBLISHED_NAME[exp.model_name]
    state = exp.network.published_state_dict()
    encoder = type(exp.network.encoder).from_preset(exp.config["model_conf"]["preset"])
    with atomic_path(out) as tmp:  # renamed onto `out` only once it reads back as a config would
        torch.save(state, tmp)
        try:
            encoder.load_pretrained(tmp)
        except CheckpointError as exc:
            fail(f"{out}: the exported file does not load back: {exc}")
    print(f"{PROG}: {out} ({exp.model_name}, {len(state)} tensors, from {exp.checkpoint})")


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
