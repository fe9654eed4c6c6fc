#!/usr/bin/env python3
"""Build the built-in mini corpus: a small DCASE2026Task4Dataset in the official layout.

Usage:
    python -m s5tse.bin.make_mini_corpus --out_dir corpus/mini/DCASE2026Task4Dataset
    python -m s5tse.bin.make_mini_corpus --out_dir /tmp/mini --seed 3 --num_test_scenes 20 \\
        --files_per_group.train 4

``--out_dir`` is the dataset root (it will hold ``data/dev_set``). Every size in
:class:`s5tse.corpus.mini_corpus.MiniCorpusConfig` can be overridden with
``--<key> value`` (``--print_config`` lists them). A rerun with the same settings does
nothing; other settings on an existing corpus are an error (remove it first).
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Optional, Sequence

from s5tse.utils.config import ConfigArgumentParser, ConfigError
from s5tse.utils.logging import setup_logging


def get_parser() -> ConfigArgumentParser:
    from s5tse.corpus.mini_corpus import MiniCorpusConfig

    parser = ConfigArgumentParser(
        MiniCorpusConfig().to_dict(), prog="make_mini_corpus", description=__doc__,
    )
    parser.add_argument("--out_dir", required=True, help="dataset root to create")
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    from s5tse.corpus.mini_corpus import MiniCorpusConfig, build_mini_corpus

    setup_logging()
    args, config = get_parser().parse(cmd)
    t0 = time.perf_counter()
    try:
        root = build_mini_corpus(args.out_dir, MiniCorpusConfig(**config))
    except (FileExistsError, ValueError, ConfigError) as e:
        print(f"make_mini_corpus: error: {e}", file=sys.stderr)
        sys.exit(1)
    logging.info("mini corpus at %s [%.1f s]", root, time.perf_counter() - t0)
    print(f"dataset root: {root}")


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
