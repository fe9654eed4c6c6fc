#!/usr/bin/env python3
"""Training-step and decoding cost of the label-queried SR-CorrNet, optionally against another git revision.

For every ``--presets`` x ``--crops`` it measures, in a fresh subprocess per measurement:

* **train**: one training step of batch ``--batch`` on ``crop``-second 4-channel 32-kHz inputs
  (K = 3 slots, three different classes, strong queries on): forward in train mode (auxiliary
  heads on), class-aware PIT loss (``-SNR``) with the auxiliary outputs (weight 0.5 shared), backward.
  Time of the step (after one untimed warm-up step on a 0.25-s crop) and the peak memory *above*
  the memory held before the step: CPU = peak RSS (``VmHWM``, reset through
  ``/proc/self/clear_refs``) minus the RSS before; CUDA = ``max_memory_allocated`` minus the
  allocated bytes before. On the CPU, times come from runs with glibc's default allocator (as
  ``s5tse.bin.train`` and ``s5tse.bin.decode`` run) and the peak from one extra run per tree
  with glibc's mmap/trim thresholds fixed at 128 KiB, so that freed blocks leave the RSS at
  once (``--time_malloc fixed`` times under those thresholds too: every block of 128 KiB or
  more is then a fresh mapping, which makes element-wise ops several times slower);
* **decode**: one eval-mode ``no_grad`` forward of a ``--decode_sec``-second input (B = 1) after
  a warm-up forward on 0.5 s; time and real-time factor.

Compute: model GMAC of one training step / one decoding forward from
``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2; matmuls, convolutions, attention only)
on the same model, counted on a crop of at most ``--count_sec`` seconds and scaled linearly
(attention over time is quadratic, a small share); printed as achieved GMAC/s, and on CUDA as
MFU against ``--peak_tflops`` (dense bf16; default from the device name: H100/H200 989).

CPU runs in float32 with ``--threads`` intra-op threads (default 1). CUDA (``--device cuda``)
runs the network under bf16 autocast (``--no_autocast`` for float32; the STFT, correlation and
filtering stay float32 / complex64 inside the model).

``--rev REV`` checks REV out into a temporary git worktree (under ``--tmp``, removed at the end)
and measures it side by side: the repetitions of the two trees are interleaved (current, REV,
current, REV, ...), every figure is the median over ``--reps``, and the table ends with the
ratios: speed-up = time(REV) / time(current) (> 1: the current tree is faster) and
peak memory = peak(current) / peak(REV) (< 1: the current tree is leaner). The worktree's ``s5tse`` is
imported through ``PYTHONPATH``.

``--set KEY=VALUE ...`` overrides config fields of every preset (e.g. the mini recipe's
``--presets cpu_small --set d_model=16 ffn_hidden=32 num_heads=2 embed_hidden=32 d_label=16
film_hidden=32 'taps_freq=[0,0]'``).

``--profile`` prints the top-``--top`` operators (``torch.profiler``, self CPU time) of one
training step of the current tree instead (first preset and crop only).

Examples::

    OMP_NUM_THREADS=1 tools/venv/bin/python benchmarks/separator_step.py --presets base \\
        --crops 0.5 --batch 2 --rev e1ed361 --reps 3
    tools/venv/bin/python benchmarks/separator_step.py --device cuda --presets base \\
        --crops 4 10 --batch 2 --checkpointing stage --rev e1ed361

Prints figures; asserts nothing.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any, Dict, List, Optional  # noqa: E402

SR = 32000
NUM_CHANNELS = 4
NUM_SLOTS = 3
NUM_CLASSES = 18
CLASSES = (2, 9, 15)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "4090": 165.0}


# ---------------------------------------------------------------------------------------- worker
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _inputs(torch, batch: int, seconds: float, device, seed: int = 0):
    n = int(round(seconds * SR))
    g = torch.Generator().manual_seed(seed)
    mixture = 0.1 * torch.randn(batch, NUM_CHANNELS, n, generator=g)
    dry = 0.05 * torch.randn(batch, NUM_SLOTS, n, generator=g)
    weak = torch.zeros(batch, NUM_SLOTS, NUM_CLASSES)
    for k, c in enumerate(CLASSES):
        weak[:, k, c] = 1.0
    t_q = max(1, n // 1280)
    strong = torch.ones(batch, NUM_SLOTS, t_q)
    labels = torch.tensor([list(CLASSES)] * batch)
    return [t.to(device) for t in (mixture, dry, strong, weak, labels)]


def _build(torch, preset: str, overrides: Dict[str, Any], device):
    from s5tse.models.separator.sr_corrnet import LabelQueriedSRCorrNet

    torch.manual_seed(0)
    overrides = {"num_classes": NUM_CLASSES, **overrides}  # no default since the class inventory (31e7f0c)
    return LabelQueriedSRCorrNet.from_preset(preset, **overrides).to(device)


def _sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_step(torch, model, loss_fn, batch, autocast: bool) -> None:
    mixture, dry, strong, weak, labels = batch
    with torch.autocast(device_type=mixture.device.type, dtype=torch.bfloat16, enabled=autocast):
        est, extras = model(mixture, strong, weak)
        aux = list(extras.get("aux") or [])
        loss, _, _ = loss_fn(est.float(), dry, labels, aux=[a.float() for a in aux] or None,
                             aux_weights=[0.5 / len(aux)] * len(aux) if aux else None)
    loss.backward()
    model.zero_grad(set_to_none=True)


def _count_gmac(torch, fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 2e9


def worker(spec: Dict[str, Any]) -> Dict[str, Any]:
    import torch

    from s5tse.losses.ca_pit import ClassAwarePITLoss

    torch.set_num_threads(int(spec["threads"]))
    device = torch.device(spec["device"])
    autocast = device.type == "cuda" and not spec["no_autocast"]
    overrides = dict(spec.get("overrides") or {})
    if spec.get("checkpointing") not in (None, "none"):
        ck = spec["checkpointing"]
        overrides["activation_checkpointing"] = True if ck == "true" else ck
    model = _build(torch, spec["preset"], overrides, device)
    out: Dict[str, Any] = {"params": sum(p.numel() for p in model.parameters())}
    if spec["kind"] == "train":
        model.train()
        loss_fn = ClassAwarePITLoss(objective="snr", silence_index=NUM_CLASSES)
        _train_step(torch, model, loss_fn, _inputs(torch, spec["batch"], 0.25, device, 1), autocast)
        batch = _inputs(torch, spec["batch"], spec["crop"], device)
        _sync(torch, device)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        else:
            out["peak_rss_reset"] = _reset_peak_rss()
            base = _rss_kib("VmRSS") * 1024
        t0 = time.perf_counter()
        _train_step(torch, model, loss_fn, batch, autocast)
        _sync(torch, device)
        out["time_s"] = time.perf_counter() - t0
        peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
                else _rss_kib("VmHWM") * 1024)
        out["peak_mb"] = (peak - base) / 2**20
        if spec.get("count"):
            c = min(spec["crop"], spec["count_sec"])
            small = _inputs(torch, spec["batch"], c, device)
            out["gmac"] = _count_gmac(torch, lambda: _train_step(torch, model, loss_fn, small, autocast)) \
                * spec["crop"] / c
    else:
        model.eval()
        mix, _, strong, weak, _ = _inputs(torch, 1, spec["crop"], device)
        w_mix, _, w_strong, w_weak, _ = _inputs(torch, 1, 0.5, device, 1)

        def run(m, s, w):
            with torch.no_grad(), torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                                                 enabled=autocast):
                model(m, s, w)

        run(w_mix, w_strong, w_weak)
        _sync(torch, device)
        t0 = time.perf_counter()
        run(mix, strong, weak)
        _sync(torch, device)
        out["time_s"] = time.perf_counter() - t0
        if spec.get("count"):
            c = min(spec["crop"], spec["count_sec"])
            m2, _, s2, w2, _ = _inputs(torch, 1, c, device)
            out["gmac"] = _count_gmac(torch, lambda: run(m2, s2, w2)) * spec["crop"] / c
    if device.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(device)
    return out


def profile(spec: Dict[str, Any], top: int) -> None:
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    from s5tse.losses.ca_pit import ClassAwarePITLoss

    torch.set_num_threads(int(spec["threads"]))
    device = torch.device(spec["device"])
    autocast = device.type == "cuda" and not spec["no_autocast"]
    overrides = dict(spec.get("overrides") or {})
    if spec.get("checkpointing") not in (None, "none"):
        overrides["activation_checkpointing"] = spec["checkpointing"]
    model = _build(torch, spec["preset"], overrides, device).train()
    loss_fn = ClassAwarePITLoss(objective="snr", silence_index=NUM_CLASSES)
    _train_step(torch, model, loss_fn, _inputs(torch, spec["batch"], 0.25, device, 1), autocast)
    batch = _inputs(torch, spec["batch"], spec["crop"], device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with tprofile(activities=acts) as prof:
        _train_step(torch, model, loss_fn, batch, autocast)
        _sync(torch, device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=top, max_name_column_width=48))


# ---------------------------------------------------------------------------------------- parent
def _run_worker(tree: str, spec: Dict[str, Any]) -> Dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = tree + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = str(spec["threads"])
    env["MKL_NUM_THREADS"] = str(spec["threads"])
    # glibc: serve large blocks by mmap and return them at once, so that RSS follows live memory
    if spec.get("fixed_malloc"):
        env["MALLOC_MMAP_THRESHOLD_"] = "131072"
        env["MALLOC_TRIM_THRESHOLD_"] = "131072"
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--_worker", json.dumps(spec)],
                          cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(rows: List[Dict[str, Any]], key: str) -> Optional[float]:
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else None


def _fmt(x: Optional[float], spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["cpu_small", "base"])
    ap.add_argument("--crops", nargs="+", type=float, default=[1.0], help="training crop lengths (s)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides of every preset (VALUE parsed as JSON, else a string), "
                         "e.g. d_model=16 taps_freq=[0,0]")
    ap.add_argument("--decode_sec", type=float, default=10.0, help="decoding input length (0: no decoding)")
    ap.add_argument("--no_train", action="store_true", help="decoding only")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--no_autocast", action="store_true", help="CUDA in float32")
    ap.add_argument("--checkpointing", default="none",
                    help="activation checkpointing of the current tree: none | block | stage | true")
    ap.add_argument("--rev", default=None, help="git revision measured side by side (worktree)")
    ap.add_argument("--count_sec", type=float, default=0.25, help="crop used for the MAC count (s)")
    ap.add_argument("--no_count", action="store_true", help="skip the MAC count")
    ap.add_argument("--peak_tflops", type=float, default=None, help="dense bf16 peak for MFU")
    ap.add_argument("--time_malloc", choices=("default", "fixed"), default="default",
                    help="glibc allocator of the timed CPU runs (the peak memory is measured with fixed "
                         "128-KiB mmap/trim thresholds in a separate run)")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the --rev worktree goes")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._worker is not None:
        print(json.dumps(worker(json.loads(args._worker))))
        return
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    common = {"threads": args.threads, "device": args.device, "no_autocast": args.no_autocast,
              "batch": args.batch, "count_sec": args.count_sec, "overrides": overrides}
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            sys.exit("separator_step: --device cuda but CUDA is not available")
    if args.profile:
        profile(dict(common, kind="train", preset=args.presets[0], crop=args.crops[0],
                     checkpointing=args.checkpointing), args.top)
        return

    trees = [("current", ROOT)]
    worktree = None
    if args.rev:
        sha = subprocess.run(["git", "rev-parse", "--short", args.rev], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
        worktree = os.path.join(args.tmp, f"s5tse_rev_{sha}_{os.getpid()}")
        subprocess.run(["git", "worktree", "add", "--detach", worktree, sha], cwd=ROOT, check=True,
                       capture_output=True)
        trees.append((sha, worktree))
    try:
        jobs = []
        for preset in args.presets:
            if not args.no_train:
                for crop in args.crops:
                    jobs.append(dict(common, kind="train", preset=preset, crop=crop))
            if args.decode_sec > 0:
                jobs.append(dict(common, kind="decode", preset=preset, crop=args.decode_sec, batch=1))
        results: Dict[int, Dict[str, List[Dict[str, Any]]]] = {i: {n: [] for n, _ in trees} for i in range(len(jobs))}
        cpu = not args.device.startswith("cuda")
        for i, job in enumerate(jobs):
            # CPU training: one extra run per tree measures the peak memory (fixed thresholds)
            runs = ["memory"] if cpu and job["kind"] == "train" else []
            runs += ["time"] * args.reps
            for rep, measure in enumerate(runs):
                for name, tree in trees:
                    spec = dict(job, count=(rep == 0 and name == "current" and not args.no_count),
                                checkpointing=args.checkpointing if name == "current" else "none",
                                fixed_malloc=cpu and (measure == "memory" or args.time_malloc == "fixed"))
                    r = _run_worker(tree, spec)
                    if cpu and job["kind"] == "train":
                        # each figure from its own runs
                        r.pop("peak_mb" if measure == "time" else "time_s", None)
                    results[i][name].append(r)
                    print(f"# {job['kind']} {job['preset']} {job['crop']:g}s {measure} {name}: "
                          + json.dumps(r), file=sys.stderr, flush=True)
        _report(args, jobs, results, trees)
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", worktree], cwd=ROOT, capture_output=True)
            shutil.rmtree(worktree, ignore_errors=True)


def overrides_of(args) -> Dict[str, str]:
    return dict(item.partition("=")[::2] for item in args.set)


def _report(args, jobs, results, trees) -> None:
    dev = args.device
    names = [n for n, _ in trees]
    peak = args.peak_tflops
    dev_name = None
    for i in results:
        for rows in results[i].values():
            for r in rows:
                dev_name = dev_name or r.get("device_name")
    if dev.startswith("cuda") and peak is None and dev_name:
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in dev_name), None)
    print(f"device {dev}{' (' + dev_name + ')' if dev_name else ''}, threads {args.threads}, "
          f"batch {args.batch}, reps {args.reps} (medians), checkpointing of current: {args.checkpointing}"
          + (f", overrides {json.dumps(overrides_of(args))}" if args.set else "")
          + (", bf16 autocast" if dev.startswith("cuda") and not args.no_autocast else ", float32"))
    head = f"{'preset':<10} {'what':<14} {'tree':<8} {'time s':>9} {'peak MB':>9} {'GMAC':>9} {'GMAC/s':>8}"
    if dev.startswith("cuda"):
        head += f" {'MFU %':>6}"
    print(head)
    for i, job in enumerate(jobs):
        what = (f"train {job['crop']:g}s" if job["kind"] == "train" else f"decode {job['crop']:g}s")
        med = {}
        for name in names:
            rows = results[i][name]
            errs = [r["error"] for r in rows if "error" in r]
            t = _median(rows, "time_s")
            m = _median(rows, "peak_mb") if job["kind"] == "train" else None
            g = _median(rows, "gmac")
            med[name] = (t, m)
            line = (f"{job['preset']:<10} {what:<14} {name:<8} {_fmt(t, '.3f'):>9} {_fmt(m, '.0f'):>9} "
                    f"{_fmt(g, '.1f'):>9} {_fmt(g / t if g and t else None, '.1f'):>8}")
            if dev.startswith("cuda"):
                mfu = 100 * 2e9 * g / t / (peak * 1e12) if g and t and peak else None
                line += f" {_fmt(mfu, '.1f'):>6}"
            if errs:
                line += f"  error: {errs[0][:80]}"
            print(line)
        if len(names) == 2:
            (t0, m0), (t1, m1) = med[names[0]], med[names[1]]
            ratio_t = t1 / t0 if t0 and t1 else None
            ratio_m = m0 / m1 if m0 and m1 else None
            print(f"{'':<10} {what:<14} {'ratio':<8} speed-up {names[1]}/current time x{_fmt(ratio_t)}"
                  + (f", peak memory current/{names[1]} x{_fmt(ratio_m)}" if ratio_m else ""))


if __name__ == "__main__":
    main()
