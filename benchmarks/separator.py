#!/usr/bin/env python3
"""Size, compute and CPU speed of every separator preset (SR-CorrNet and ResUNetK).

For each preset of :data:`~s5tse.models.separator.sr_corrnet.SR_CORRNET_PRESETS` (``unit``,
``cpu_small``, ``base``, ``large``) and :data:`~s5tse.models.separator.resunetk.RESUNETK_PRESETS`
(``unit``, ``cpu_small``, ``official``) it prints:

* trainable parameters;
* GMAC per second of audio: ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2) on one
  eval-mode forward of a 4-channel 32-kHz input of ``--flop_duration`` seconds with K = 3
  active slots (three different classes, strong queries on everywhere), divided by the
  duration. FlopCounterMode counts matrix products, convolutions and attention only, at one
  "MAC" per element product regardless of dtype: complex products (the MISO filtering, 4 real
  MACs each) are undercounted four times, FFTs (STFT/iSTFT), norms, activations and softmax
  are not counted at all;
* CPU forward time per second of audio (real-time factor): ``eval()``, ``no_grad``,
  ``--threads`` intra-op threads (default 1), median of ``--runs`` timed forwards after
  ``--warmup`` untimed ones on a ``--duration``-second input (default 2 s); presets listed in
  ``--skip_timing`` (e.g. the slow ``sr_corrnet:base sr_corrnet:large``) are not timed.

Prints figures; asserts nothing. Full run (``base`` / ``large`` SR-CorrNet forwards take
minutes on one thread)::

    OMP_NUM_THREADS=1 tools/venv/bin/python benchmarks/separator.py \\
        [--duration 2.0] [--flop_duration 1.0] [--runs 3] [--warmup 1] [--threads 1] \\
        [--models sr_corrnet:unit sr_corrnet:cpu_small ... resunetk:official] \\
        [--skip_timing sr_corrnet:base sr_corrnet:large] [--breakdown]

``--breakdown`` adds the GMAC/s of every top-level submodule (SR-CorrNet: embed, encoder,
split, decoder, filter, aux_filters; the auxiliary heads only run in training mode).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Optional, Tuple  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

SR = 32000
NUM_CHANNELS = 4
NUM_SLOTS = 3
CLASSES = (2, 9, 15)  # three different classes: K = 3 active slots


def all_models() -> List[str]:
    from s5tse.models.separator.resunetk import RESUNETK_PRESETS
    from s5tse.models.separator.sr_corrnet import SR_CORRNET_PRESETS

    return ([f"sr_corrnet:{p}" for p in SR_CORRNET_PRESETS]
            + [f"resunetk:{p}" for p in RESUNETK_PRESETS])


def build(name: str) -> torch.nn.Module:
    from s5tse.models.separator.resunetk import ResUNetK
    from s5tse.models.separator.sr_corrnet import LabelQueriedSRCorrNet

    family, preset = name.split(":", 1)
    torch.manual_seed(0)
    if family == "sr_corrnet":
        return LabelQueriedSRCorrNet.from_preset(preset, num_classes=18).eval()
    if family == "resunetk":
        return ResUNetK.from_preset(preset, num_classes=18).eval()
    raise ValueError(f"unknown model family {family!r} (sr_corrnet | resunetk)")


def inputs(duration: float, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = int(round(duration * SR))
    g = torch.Generator().manual_seed(seed)
    mixture = 0.1 * torch.randn(1, NUM_CHANNELS, n, generator=g)
    weak = torch.zeros(1, NUM_SLOTS, 18)
    for k, c in enumerate(CLASSES):
        weak[0, k, c] = 1.0
    strong = torch.ones(1, NUM_SLOTS, max(1, n // 1280))  # 40-ms query grid
    return mixture, strong, weak


def count_gmac(model: torch.nn.Module, duration: float, breakdown: bool) -> Tuple[float, Dict[str, float]]:
    """GMAC per audio second (FlopCounterMode FLOPs / 2), total and per top-level submodule."""
    mixture, strong, weak = inputs(duration)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(mixture, strong, weak)
    total = counter.get_total_flops() / 2 / 1e9 / duration
    parts: Dict[str, float] = {}
    if breakdown:
        # keys: "Global", the model's class name and dotted submodule paths of the modules that
        # ran (a ModuleList has no forward: its children appear instead). Per top-level name,
        # sum the shallowest entries (deeper ones are already included in them).
        top = type(model).__name__ + "."
        flops = {str(k)[len(top):]: sum(v.values()) for k, v in counter.get_flop_counts().items()
                 if str(k).startswith(top)}
        for head in dict.fromkeys(k.split(".", 1)[0] for k in flops):
            group = {k: v for k, v in flops.items() if k == head or k.startswith(head + ".")}
            depth = min(k.count(".") for k in group)
            parts[head] = sum(v for k, v in group.items() if k.count(".") == depth) / 2 / 1e9 / duration
    return total, parts


def time_forward(model: torch.nn.Module, duration: float, runs: int, warmup: int) -> List[float]:
    mixture, strong, weak = inputs(duration, seed=1)
    times = []
    with torch.no_grad():
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            model(mixture, strong, weak)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return times


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help="family:preset names (default: every preset)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of audio per timed forward")
    parser.add_argument("--flop_duration", type=float, default=1.0, help="seconds of audio for the FLOP count")
    parser.add_argument("--runs", type=int, default=3, help="timed forwards (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forwards before timing")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--skip_timing", nargs="*", default=[], help="family:preset names not timed")
    parser.add_argument("--skip_flops", nargs="*", default=[], help="family:preset names not FLOP-counted")
    parser.add_argument("--breakdown", action="store_true", help="GMAC/s per top-level submodule")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models or all_models()
    known = set(all_models())
    for n in names + list(args.skip_timing) + list(args.skip_flops):
        if n not in known:
            parser.error(f"unknown model {n!r}; choose from {' '.join(sorted(known))}")

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} thread(s); input {NUM_CHANNELS} ch @ {SR} Hz, K = {NUM_SLOTS} active slots")
    print(f"GMAC/s: FlopCounterMode on a {args.flop_duration:g}-s input, FLOPs/2, per audio second "
          "(undercounts complex ops 4x; FFT, norms, activations, softmax not counted)")
    print(f"CPU RTF: eval forward time / audio duration, median of {args.runs} runs "
          f"({args.warmup} warm-up) on a {args.duration:g}-s input\n")
    header = f"{'model':<22} {'params':>12} {'GMAC/s':>9} {'RTF (CPU)':>10} {'fwd s':>8}"
    print(header)
    print("-" * len(header))
    for name in names:
        model = build(name)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        gmac, parts = (float("nan"), {})
        if name not in args.skip_flops:
            gmac, parts = count_gmac(model, args.flop_duration, args.breakdown)
        if name in args.skip_timing:
            rtf_s, fwd_s = "skipped", "-"
        else:
            med = statistics.median(time_forward(model, args.duration, args.runs, args.warmup))
            rtf_s, fwd_s = f"{med / args.duration:.3f}", f"{med:.2f}"
        gmac_s = "skipped" if name in args.skip_flops else f"{gmac:.2f}"
        print(f"{name:<22} {params:>12,} {gmac_s:>9} {rtf_s:>10} {fwd_s:>8}", flush=True)
        for part, value in parts.items():
            print(f"    {part:<18} {'':>12} {value:>9.2f}")
        del model


if __name__ == "__main__":
    main()
