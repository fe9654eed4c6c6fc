#!/usr/bin/env python3
"""Separate your own recordings with a packed system: labels, confidences, spans, waveforms.

Usage:

    python -m s5tse.bin.separate --model exp/packed/lq_sr_corrnet_fusion_mini \\
        --out_dir separated/ recording1.wav recording2.wav
    python -m s5tse.bin.separate --model packed.zip --out_dir separated/ recordings/   # a folder
    python -m s5tse.bin.separate --model packed.zip --out_dir separated/ data/test/wav.scp
    # options: --resample true (other sampling rates), --device cuda,
    # --report_threshold 0.6 --query_threshold 0.3 --streaming low_latency (else the packed ones)

Inputs: 4-channel FOA (W, Y, Z, X) audio files of any length, folders (their ``*.wav``,
sorted) or Kaldi ``wav.scp`` tables (``<name> <path>``). Per input ``<name>`` (file stem or
table key) it writes ``<name>_<slot>_<Label>.wav`` (32 kHz mono float32, one per reported
event, as ``s5tse.bin.decode`` names them) and then ``<name>.json``::

    {"input": path, "num_samples": n, "sources": [{"slot", "label", "confidence",
     "probability", "spans": [[start_s, end_s], ...], "filename"}], "rtf": compute / audio}

Every file is written atomically and ``<name>.json`` last, so a rerun skips the inputs whose
JSON exists and continues a partly done folder. A silent (all-zero) input is not an error:
it has no labels and writes no files. Separation is block-streamed as the pack's
``decode.yaml`` says, so memory stays bounded for long inputs.

Errors (not 4-channel, another rate without ``--resample true``, NaN/Inf samples, unreadable
file, a packed model whose files do not match its manifest): ``separate: error: <one line
naming the file>``, exit 1; the outputs of the inputs before it stay (``--out_dir`` is made with
the first output, so a bad first input leaves none).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from functools import partial
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from s5tse.utils.cli import fail

PROG = "separate"
log = logging.getLogger(PROG)


_fail = partial(fail, PROG)   # _fail(message, status=1): one line on stderr, exit


def get_parser() -> argparse.ArgumentParser:
    from s5tse.utils.progress import add_progress_argument
    from s5tse.utils.types import str2bool

    parser = argparse.ArgumentParser(
        prog=PROG, description="Separate recordings with a packed s5tse system.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="audio files, folders of *.wav, or wav.scp tables")
    parser.add_argument("--model", required=True,
                        help="packed model: directory, .zip (s5tse.bin.pack_model) or Hub id")
    parser.add_argument("--out_dir", required=True, help="where the estimates and JSON files go")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--resample", type=str2bool, default=False,
                        help="resample inputs that are not 32 kHz")
    parser.add_argument("--report_threshold", type=float, default=None, help="default: the pack's")
    parser.add_argument("--query_threshold", type=float, default=None, help="default: the pack's")
    parser.add_argument("--streaming", default=None,
                        help="offline | low_latency | long_context | past,present,future "
                             "(default: the pack's)")
    parser.add_argument("--log_level", default="INFO")
    add_progress_argument(parser)
    return parser


def list_inputs(inputs: Sequence[str]) -> List[Tuple[str, str]]:
    """``[(name, path)]`` from files, folders (``*.wav``) and ``wav.scp`` tables; names unique."""
    from s5tse.fileio.table import read_table

    out: List[Tuple[str, str]] = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            found = sorted(path.glob("*.wav"))
            if not found:
                raise ValueError(f"{path}: folder without *.wav files")
            out += [(p.stem, os.fspath(p)) for p in found]
        elif path.name.endswith(".scp"):
            out += list(read_table(path).items())
        elif path.is_file():
            out.append((path.stem, os.fspath(path)))
        else:
            raise ValueError(f"{path}: no such file or folder")
    seen = {}
    for name, p in out:
        if name in seen:
            raise ValueError(f"{p}: its name {name!r} is also the name of {seen[name]}; outputs "
                             "would collide (rename one, or list them in a wav.scp)")
        seen[name] = p
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s (%(module)s) %(levelname)s %(message)s")

    from s5tse.decode.config import ConfigError
    from s5tse.decode.inputs import DecodeInputError, read_mixture
    from s5tse.decode.models import ModelLoadError
    from s5tse.decode.outputs import estimate_name
    from s5tse.fileio.atomic import atomic_write_text
    from s5tse.fileio.sound_scp import write_audio
    from s5tse.inference import SceneSeparator
    from s5tse.packed import PackedModelError
    from s5tse.utils.progress import progress_bar, set_progress

    set_progress(args.progress)
    out_dir = Path(args.out_dir)
    try:
        items = list_inputs(args.inputs)
        model = SceneSeparator.from_pretrained(
            args.model, device=args.device, resample=args.resample,
            report_threshold=args.report_threshold, query_threshold=args.query_threshold,
            streaming=args.streaming)
        done = skipped = 0   # out_dir appears with the first output (a bad first input: none)
        for name, path in progress_bar(items, desc="separate", unit="file"):
            record = out_dir / f"{name}.json"
            if record.exists():
                skipped += 1
                continue
            x = read_mixture(path, resample=args.resample)
            if not bool(x.abs().max() > 0):
                log.info("%s: silent input, nothing to separate", path)
                continue
            result = model.decode(x, name)
            sources = model.sources(result)
            entries = []
            for s in sources:
                fname = estimate_name(name, s.slot, s.label)
                write_audio(out_dir / fname, s.waveform, 32000, subtype="FLOAT")
                entries.append({"slot": s.slot, "label": s.label,
                                "confidence": round(s.confidence, 6),
                                "probability": round(s.probability, 6),
                                "spans": [list(sp) for sp in s.spans], "filename": fname})
            audio = result.num_samples / 32000.0
            atomic_write_text(record, json.dumps(
                {"input": path, "num_samples": result.num_samples, "sources": entries,
                 "rtf": round(result.compute_seconds / audio, 6)}, indent=2) + "\n")
            log.info("%s: %s (RTF %.3f)", path, " ".join(e["label"] for e in entries) or "-",
                     result.compute_seconds / audio)
            done += 1
        out_dir.mkdir(parents=True, exist_ok=True)
    except (DecodeInputError, PackedModelError, ModelLoadError, ConfigError, ValueError, OSError) as exc:
        _fail(str(exc))
    print(f"{PROG}: {done} input(s) separated into {out_dir}"
          + (f", {skipped} already done" if skipped else ""))


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
