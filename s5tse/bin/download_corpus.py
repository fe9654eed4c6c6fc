#!/usr/bin/env python3
"""Download, join, extract and check the DCASE 2026 Task 4 development set.

Usage:

    # the official dev set (Zenodo record 19328046): ~all parts + LISENCE.pdf
    python -m s5tse.bin.download_corpus \
        --out_dir downloads/ \
        --extract_dir corpus/

    # another record / a mirror of the Zenodo records API / only some files
    python -m s5tse.bin.download_corpus \
        --out_dir downloads/ --extract_dir corpus/ \
        --record 19328046 \
        --api_url https://zenodo.org/api/records/ \
        --include 'DCASE2026Task4Dataset.z*'

    # in a recipe: capture the dataset root from the last line of stdout
    root=$(python -m s5tse.bin.download_corpus --out_dir downloads --extract_dir corpus \
           | tail -n 1 | sed 's/^dataset root: //')

Steps:

1. list the record's files (``GET {api_url}{record}``) and download each into
   ``--out_dir`` (resumable via ``.part`` files and HTTP Range requests,
   verified against Zenodo's size and md5; a complete file is not fetched
   again; a local file that does not match is an error -- remove it);
2. join the split archive ``X.z01 ... X.zNN`` + ``X.zip`` into
   ``--out_dir/X_full.zip`` (``zip -s 0`` when Info-ZIP ``zip`` is installed,
   else a built-in joiner; ``--no_zip_tool`` forces the built-in one);
3. extract it into ``--extract_dir`` (safe member names, resumable, leaves
   ``--extract_dir/.extracted``);
4. check the layout (see ``python -m s5tse.bin.check_corpus``) and print
   ``dataset root: <path>`` as the last line of stdout; on problems they are
   listed and the exit status is 1.

A successful run leaves ``--extract_dir/.download_corpus.<record>.done``;
rerunning then only re-checks the layout (no network, no unzipping).
Progress goes to stderr.  Errors: ``download_corpus: error: ...``, exit status 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from s5tse.corpus.download import (
    DCASE2026_TASK4_DEV_RECORD,
    DEFAULT_API_URL,
    DownloadError,
    download_record,
)
from s5tse.corpus.layout import check_layout, find_dataset_root
from s5tse.corpus.zipjoin import (
    UnsafeZipMemberError,
    ZipJoinError,
    extract_zip,
    is_split_archive,
    join_split_zip,
)
from s5tse.utils.progress import add_progress_argument, set_progress

PROG = "download_corpus"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Download, join, extract and check the DCASE 2026 Task 4 development set.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out_dir", required=True, help="folder for the downloaded files")
    parser.add_argument("--extract_dir", required=True, help="folder to unpack the dataset into")
    parser.add_argument("--record", default=str(DCASE2026_TASK4_DEV_RECORD), help="Zenodo record id")
    parser.add_argument("--api_url", default=DEFAULT_API_URL,
                        help="records API prefix; {api_url}{record} is requested")
    parser.add_argument("--include", nargs="+", default=None, metavar="GLOB",
                        help="download only files whose names match one of these globs")
    parser.add_argument("--no_zip_tool", action="store_true",
                        help="join split archives with the built-in joiner even if `zip` is installed")
    parser.add_argument("--remove_joined", action="store_true",
                        help="delete the joined X_full.zip after a successful extraction")
    parser.add_argument("--retries", type=int, default=5, help="retries per file on connection errors")
    parser.add_argument("--backoff", type=float, default=2.0,
                        help="seconds before the first retry (doubled each time, at most 60)")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_progress_argument(parser)
    return parser


def _done_marker(extract_dir: Path, record: str) -> Path:
    return extract_dir / f".download_corpus.{record}.done"


def _report(root: Path) -> int:
    problems = check_layout(root)
    for line in problems:
        print(line)
    if problems:
        print(f"{PROG}: error: {len(problems)} problem(s) with the dataset layout under {root}",
              file=sys.stderr)
        return 1
    print(f"dataset root: {root}")
    return 0


def run(args: argparse.Namespace) -> int:
    out_dir, extract_dir = Path(args.out_dir), Path(args.extract_dir)
    set_progress(args.progress)
    progress = not args.quiet
    marker = _done_marker(extract_dir, args.record)
    if marker.is_file():
        try:
            root = find_dataset_root(extract_dir)
        except FileNotFoundError:
            root = None
        if root is not None and not check_layout(root):
            if progress:
                print(f"{PROG}: {marker} exists; nothing to do", file=sys.stderr)
            return _report(root.resolve())

    paths = download_record(args.record, out_dir, api_url=args.api_url, include=args.include,
                            retries=args.retries, backoff=args.backoff, timeout=args.timeout,
                            progress=progress)
    archives = [p for p in paths if p.name.lower().endswith(".zip")]
    if not archives:
        raise DownloadError(f"record {args.record}: no .zip archive among the downloaded files "
                            f"({', '.join(p.name for p in paths)})")
    for archive in archives:
        if is_split_archive(archive):
            joined = out_dir / f"{archive.name[:-4]}_full.zip"
            if not joined.is_file():  # written atomically after verification
                if progress:
                    print(f"{PROG}: joining {archive.name} and its parts into {joined}",
                          file=sys.stderr, flush=True)
                join_split_zip(archive, joined, use_zip_tool=not args.no_zip_tool)
        else:
            joined = archive
        if progress:
            print(f"{PROG}: extracting {joined} into {extract_dir}", file=sys.stderr, flush=True)
        extract_zip(joined, extract_dir, progress=progress)
        if args.remove_joined and joined != archive:
            joined.unlink()

    root = find_dataset_root(extract_dir).resolve()
    status = _report(root)
    if status == 0:
        marker.write_text(json.dumps({"record": args.record, "dataset_root": str(root)}) + "\n")
    return status


def main(cmd: Optional[List[str]] = None) -> int:
    """Run the tool; returns the exit status (0 = dataset in place and complete)."""
    args = get_parser().parse_args(cmd)
    try:
        return run(args)
    except (DownloadError, ZipJoinError, UnsafeZipMemberError, FileNotFoundError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    sys.exit(run_main(main))
