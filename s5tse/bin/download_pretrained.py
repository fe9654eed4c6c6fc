#!/usr/bin/env python3
"""Download and verify the published tagger weights (M2D, fPaSST, optionally the 2026 baseline).

Usage:

    # the defaults (m2d_as_32k, fpasst_strong) into downloads/
    python -m s5tse.bin.download_pretrained --download_dir downloads

    # selected items; "all" adds the optional DCASE 2026 baseline checkpoints
    python -m s5tse.bin.download_pretrained --download_dir downloads \
        --names m2d_as_32k fpasst_strong dcase2026_baseline

    # only check what is there (no network, nothing written); exit status 1 names what is missing
    python -m s5tse.bin.download_pretrained --download_dir downloads --check_only true

    # from a mirror that keeps GitHub's paths (scheme + host replaced)
    python -m s5tse.bin.download_pretrained --download_dir downloads \
        --base_url_override http://mirror.example/github

Files, relative to ``--download_dir`` (see :mod:`s5tse.pretrained`):

    m2d_as_32k     m2d/m2d_as_vit_base-80x1001p16x16p32k-240413_AS-FT_enconly/weights_ep69it3124-0.47998.pth
    fpasst_strong  fpasst/fpasst_strong_1.pt
    dcase2026_baseline (optional)
                   dcase2026_baseline/m2dat_1c.ckpt, m2dat_4c.ckpt, resunetk.ckpt

Rerunning is cheap: complete files are verified against their sha256 (manifest or
``<file>.sha256`` sidecar recorded at the first download) and skipped without any request;
interrupted downloads resume from their ``.part`` file.  stdout gets one ``<key> <path>`` line per
ready file and, last, ``pretrained ready: <path> ...``.  Progress goes to stderr.  Errors are one
line each, ``download_pretrained: error: ...``, naming the file (and URL); exit status 1.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from s5tse.corpus.download import DownloadError
from s5tse.pretrained import (
    MANIFEST,
    check_item,
    ensure_item,
    output_path,
    select,
)
from s5tse.utils.types import str2bool
from s5tse.utils.progress import add_progress_argument, set_progress

PROG = "download_pretrained"


def get_parser() -> argparse.ArgumentParser:
    items = "; ".join(f"{n}{'' if it.default else ' (optional)'}: {it.description} [{it.licence}]"
                      for n, it in MANIFEST.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Download and verify the published tagger weights. Items: " + items,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--download_dir", required=True, help="the downloads folder")
    parser.add_argument("--names", nargs="+", default=None, metavar="NAME",
                        help=f"items to fetch ({', '.join(MANIFEST)}, or all); "
                             f"default: the non-optional ones")
    parser.add_argument("--base_url_override", default=None,
                        help="mirror prefix replacing the scheme and host of every URL")
    parser.add_argument("--check_only", type=str2bool, default=False,
                        help="true: only verify what is present (no network, nothing written)")
    parser.add_argument("--keep_archives", type=str2bool, default=True,
                        help="false: remove each zip after its members were extracted")
    parser.add_argument("--retries", type=int, default=5, help="retries per file on connection errors")
    parser.add_argument("--backoff", type=float, default=2.0,
                        help="seconds before the first retry (doubled each time, at most 60)")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")
    parser.add_argument("--quiet", type=str2bool, default=False, help="true: no progress on stderr")
    add_progress_argument(parser)
    return parser


def _report(args, items) -> None:
    ready = []
    for item in items:
        for out in item.outputs:
            path = output_path(args.download_dir, out.dest)
            print(f"{out.key} {path}")
            ready.append(str(path))
    print("pretrained ready: " + " ".join(ready))


def run(args: argparse.Namespace) -> int:
    items = select(args.names)
    set_progress(args.progress)
    progress = not args.quiet

    def log(msg: str) -> None:
        if progress:
            print(f"{PROG}: {msg}", file=sys.stderr, flush=True)

    if args.check_only:
        problems = [p for item in items for p in check_item(item, args.download_dir)]
        for p in problems:
            print(f"{PROG}: error: {p}", file=sys.stderr)
        if problems:
            print(f"{PROG}: error: {len(problems)} pretrained file(s) missing or invalid; "
                  f"run without --check_only true to download them", file=sys.stderr)
            return 1
        _report(args, items)
        return 0

    failed = 0
    for item in items:
        try:
            ensure_item(item, args.download_dir, base_url_override=args.base_url_override,
                        keep_archive=args.keep_archives, log=log, retries=args.retries,
                        backoff=args.backoff, timeout=args.timeout, progress=progress)
        except DownloadError as e:
            print(f"{PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
            failed += 1
    if failed:
        print(f"{PROG}: error: {failed} of {len(items)} item(s) failed", file=sys.stderr)
        return 1
    _report(args, items)
    return 0


def main(cmd: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status (0 = every selected file present and verified)."""
    args = get_parser().parse_args(cmd)
    try:
        return run(args)
    except (DownloadError, OSError) as e:
        print(f"{PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    sys.exit(run_main(main))
