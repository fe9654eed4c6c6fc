#!/usr/bin/env python3
"""Pack a decoded system (tagger + separator + decoding config) into one loadable directory or zip.

Usage (from the recipe directory, after stage 5):

    python -m s5tse.bin.pack_model \\
        --decode_dir exp/separator_lq_sr_corrnet_mini/decode_fusion_mini_pretrained_test \\
        --output exp/packed/lq_sr_corrnet_fusion_mini
    # a zip instead of a directory:
    python -m s5tse.bin.pack_model --decode_dir ... --output exp/packed/lq_sr_corrnet_fusion_mini.zip

    # then, anywhere (no recipe, no experiment dirs):
    python -m s5tse.bin.separate --model exp/packed/lq_sr_corrnet_fusion_mini --out_dir out mix.wav

The decoding dir of an estimated-label decoding (``s5tse.bin.decode``) names everything:
its ``decode_config.yaml`` gives the tagger and separator experiments, the checkpoints it
used, the thresholds it decided with (tuned ones included) and the streaming sizes; its
``scoring/scores.md`` (stage 5) becomes the pack's scores. ``--env_info`` (default
``<dir of the separator exp>/env_info.txt`` when present) records the environment.
Layout and checks: :mod:`s5tse.packed`. An existing output is refused unless
``--overwrite true``. Errors: ``pack_model: error: <one line naming the file>``, exit 1.
"""
from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

from s5tse.utils.cli import fail

PROG = "pack_model"


_fail = partial(fail, PROG)   # _fail(message, status=1): one line on stderr, exit


def get_parser() -> argparse.ArgumentParser:
    from s5tse.utils.types import str2bool

    parser = argparse.ArgumentParser(
        prog=PROG, description="Pack a decoded system into one loadable directory or zip.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--decode_dir", required=True,
                        help="an estimated-label decoding dir (exp/<sep>/decode_<tag>_<set>)")
    parser.add_argument("--output", required=True, help="the packed model (a directory, or *.zip)")
    parser.add_argument("--name", default=None, help="name in the model card (default: output name)")
    parser.add_argument("--env_info", default=None,
                        help="environment file to include (default: <expdir>/env_info.txt if present)")
    parser.add_argument("--overwrite", type=str2bool, default=False, help="replace --output")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(argv)

    from s5tse.decode.config import DECODE_DEFAULTS
    from s5tse.decode.models import ModelLoadError
    from s5tse.packed import PackedModelError, pack_model
    from s5tse.utils.config import ConfigError, read_config_file

    decode_dir = Path(args.decode_dir)
    path = decode_dir / "decode_config.yaml"
    try:
        if not path.is_file():
            raise PackedModelError(f"{path}: no such file; --decode_dir must be a decoding dir "
                                   "written by python -m s5tse.bin.decode (run.sh stage 5)")
        resolved = dict(read_config_file(path))
        if resolved.get("use_oracle_labels") or not resolved.get("tagger_exp"):
            raise PackedModelError(f"{path}: an oracle-label decoding has no tagger; pack an "
                                   "estimated-label decoding dir")
        for key in ("separator_exp", "tagger_exp"):
            if not resolved.get(key):
                raise PackedModelError(f"{path}: no '{key}'")
        config = {k: resolved.get(k, v) for k, v in DECODE_DEFAULTS.items()}
        scores = decode_dir / "scoring" / "scores.md"
        results = scores.read_text(encoding="utf-8") if scores.is_file() else None
        env = Path(args.env_info) if args.env_info else Path(resolved["separator_exp"]).parent / "env_info.txt"
        if args.env_info and not env.is_file():
            raise PackedModelError(f"{env}: no such file (--env_info)")
        env_info = env.read_text(encoding="utf-8") if env.is_file() else None
        out = pack_model(args.output, tagger_exp=resolved["tagger_exp"],
                         separator_exp=resolved["separator_exp"], decode_config=config,
                         results=results, env_info=env_info, name=args.name,
                         overwrite=args.overwrite)
    except (PackedModelError, ModelLoadError, ConfigError, OSError) as exc:
        _fail(str(exc))
    size = (sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) if out.is_dir()
            else out.stat().st_size)
    print(f"{PROG}: {out} ({size / 1e6:.1f} MB; tagger {resolved['tagger_exp']}, separator "
          f"{resolved['separator_exp']})")


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
