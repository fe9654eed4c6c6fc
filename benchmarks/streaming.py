#!/usr/bin/env python3
"""Real-time factor and peak memory of block-streaming vs offline SR-CorrNet separation.

For every (preset, duration, mode) a fresh child process builds the model (random weights,
``eval``, ``torch.no_grad``, 1 torch thread), separates a deterministic 4-channel 32-kHz input
and reports its processing time and its own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``),
so the peak memory is per case. The input is generated in 1-s pieces from a per-piece seed:
the streaming case feeds the pieces one by one to :class:`s5tse.streaming.sr_corrnet.StreamingSeparator`
and discards each output piece after summing its energy (nothing length-dependent is kept); the
offline case concatenates the same pieces and runs the plain forward. RTF = processing time /
audio duration (model construction and input generation excluded; lower is faster).

Offline cases whose predicted peak RSS exceeds ``--memory_cap_gb`` are not run ("skipped
(memory)"): the prediction is a linear extrapolation of the offline peak RSS measured on two
short inputs (``--calibration_seconds``), times 1.1. Prints a table; asserts nothing.

Usage::

    tools/venv/bin/python benchmarks/streaming.py \\
        --presets cpu_small base --durations 10 60 300 --streaming low_latency \\
        [--modes streaming offline] [--memory_cap_gb 16] [--calibration_seconds 1 2] [--case_timeout 3600]

Quick check (about a minute)::

    tools/venv/bin/python benchmarks/streaming.py --presets cpu_small --durations 2 6 --calibration_seconds 1 2
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Optional  # noqa: E402

SR = 32000
PIECE = SR  # generation piece (1 s)


def input_piece(index: int, length: int, channels: int = 4):
    """Deterministic piece ``index`` of the input: noise plus a tone, ``[channels, length]``."""
    import torch

    g = torch.Generator().manual_seed(1000 + index)
    t = (torch.arange(length, dtype=torch.float64) + index * PIECE) / SR
    tone = (0.3 * torch.sin(2 * torch.pi * 440.0 * t)).float()
    gains = torch.tensor([1.0, 0.6, 0.3, 0.8])[:channels, None]
    return 0.1 * torch.randn(channels, length, generator=g) + gains * tone


def pieces(num_samples: int):
    for i, start in enumerate(range(0, num_samples, PIECE)):
        yield input_piece(i, min(PIECE, num_samples - start))


def child(preset: str, mode: str, seconds: float, streaming: str) -> Dict[str, float]:
    """Run one case in this process; returns its figures."""
    import torch

    torch.set_num_threads(1)
    from s5tse.models.separator.sr_corrnet import LabelQueriedSRCorrNet
    from s5tse.streaming import STREAMING_PRESETS
    from s5tse.streaming.sr_corrnet import StreamingSeparator

    torch.manual_seed(0)
    model = LabelQueriedSRCorrNet.from_preset(preset, num_classes=18).eval()
    n = int(round(seconds * SR))
    t_q = max(1, n // 1280)
    strong = torch.ones(3, t_q)
    weak = torch.zeros(3, 18)
    weak[0, 1] = weak[1, 4] = weak[2, 4] = 1
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    energy = 0.0
    with torch.no_grad():
        if mode == "streaming":
            runner = StreamingSeparator(model, STREAMING_PRESETS[streaming], strong, weak, n)
            elapsed = 0.0
            for x in pieces(n):
                t0 = time.perf_counter()
                y = runner.process(x)
                elapsed += time.perf_counter() - t0
                energy += float(y.pow(2).sum())
            t0 = time.perf_counter()
            energy += float(runner.flush().pow(2).sum())
            elapsed += time.perf_counter() - t0
        else:
            x = torch.cat(list(pieces(n)), dim=-1)
            t0 = time.perf_counter()
            y, _ = model(x[None], strong[None], weak[None])
            elapsed = time.perf_counter() - t0
            energy = float(y.pow(2).sum())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    return {"seconds_processed": elapsed, "rtf": elapsed / seconds, "peak_rss_mb": peak,
            "rss_after_model_mb": rss_model, "energy": energy}


def run_case(preset: str, mode: str, seconds: float, streaming: str,
             timeout: Optional[float]) -> Optional[Dict[str, float]]:
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", preset, mode, str(seconds), streaming]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return {"error": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--_child":
        preset, mode, seconds, streaming = sys.argv[2:6]
        print(json.dumps(child(preset, mode, float(seconds), streaming)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["cpu_small", "base"])
    parser.add_argument("--durations", nargs="+", type=float, default=[10.0, 60.0, 300.0])
    parser.add_argument("--streaming", default="low_latency", help="streaming preset name")
    parser.add_argument("--modes", nargs="+", default=["streaming", "offline"], choices=["streaming", "offline"])
    parser.add_argument("--memory_cap_gb", type=float, default=16.0)
    parser.add_argument("--calibration_seconds", nargs=2, type=float, default=[2.0, 4.0])
    parser.add_argument("--case_timeout", type=float, default=None, help="seconds per case (default none)")
    args = parser.parse_args()

    from s5tse.models.separator.sr_corrnet import SR_CORRNET_PRESETS
    from s5tse.streaming import STREAMING_PRESETS

    cfg = STREAMING_PRESETS[args.streaming]
    print(f"streaming preset {args.streaming}: {cfg}; 1 torch thread; RTF = compute time / audio time")
    rows: List[List[str]] = []
    for preset in args.presets:
        hop = SR_CORRNET_PRESETS[preset].hop_length
        sec = cfg.seconds(hop)
        predict = None
        if "offline" in args.modes:
            a, b = args.calibration_seconds
            ra = run_case(preset, "offline", a, args.streaming, args.case_timeout)
            rb = run_case(preset, "offline", b, args.streaming, args.case_timeout)
            if ra and rb and "error" not in ra and "error" not in rb:
                slope = (rb["peak_rss_mb"] - ra["peak_rss_mb"]) / (b - a)
                predict = lambda s, ra=ra, slope=slope, a=a: 1.1 * (ra["peak_rss_mb"] + slope * (s - a))  # noqa: E731
                print(f"{preset}: offline peak RSS {ra['peak_rss_mb']:.0f} MB at {a:g} s, {rb['peak_rss_mb']:.0f} MB "
                      f"at {b:g} s -> {slope:.1f} MB per s")
        for seconds in args.durations:
            for mode in args.modes:
                label = f"{mode} ({sec['past']:g}/{sec['present']:g}/{sec['future']:g} s)" if mode == "streaming" \
                    else "offline"
                pred = predict(seconds) if (mode == "offline" and predict) else None
                if pred is not None and pred > args.memory_cap_gb * 1024:
                    rows.append([preset, f"{seconds:g}", label, "skipped (memory)", f"~{pred:.0f} predicted", ""])
                    continue
                res = run_case(preset, mode, seconds, args.streaming, args.case_timeout)
                if res is None:
                    rows.append([preset, f"{seconds:g}", label, "timeout", "", ""])
                elif "error" in res:
                    rows.append([preset, f"{seconds:g}", label, f"error {res['error']}", "", ""])
                else:
                    rows.append([preset, f"{seconds:g}", label, f"{res['rtf']:.3f}", f"{res['peak_rss_mb']:.0f}",
                                 f"{res['rss_after_model_mb']:.0f}"])
                print("  " + " | ".join(rows[-1]), flush=True)
    head = ["preset", "dur (s)", "mode (past/present/future)", "RTF", "peak RSS (MB)", "RSS before (MB)"]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    print()
    for r in [head] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
