"""Glue shared by ``s5tse.bin.decode`` and ``s5tse.bin.tune_thresholds``: build the decoder
from the experiment dirs and the resolved config, describe the streaming set-up, peak memory.
"""
from __future__ import annotations

import os
import resource
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from s5tse.bridge import QUERY_HOP, Bridge
from s5tse.decode.config import parse_streaming
from s5tse.decode.models import LoadedExperiment, experiment_classes, load_experiment
from s5tse.decode.runner import Decoder
from s5tse.decode.separation_cache import SeparationCache, separator_key

__all__ = ["build_decoder", "streaming_info", "peak_rss_mb", "peak_gpu_mb", "check_device"]


def check_device(device: str) -> str:
    """``device`` if usable here; one-line ValueError otherwise."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"'device' must be cpu, cuda or cuda:N, got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here "
                         f"(use --device cpu)")
    return device


def streaming_info(separator: torch.nn.Module, spec: Any) -> Dict[str, Any]:
    """``{"streaming": name, "streaming_frames": {...} | None, "latency_ms": float | None}``:
    the context sizes in the separator's STFT frames and the algorithmic latency
    ``((present + future) * hop + window / 2) / 32 kHz`` (None offline)."""
    from s5tse.streaming.chunked import model_hop

    name, cfg = parse_streaming(spec)
    if cfg is None:
        return {"streaming": name, "streaming_frames": None, "latency_ms": None}
    hop = model_hop(separator)
    f = cfg.for_hop(hop)
    c = getattr(separator, "config", None)
    window = (getattr(c, "win_length", None) or getattr(c, "n_fft", None)
              or getattr(separator, "n_fft", None) or 0)
    latency = ((f.present + f.future) * hop + int(window) // 2) / 32000.0 * 1000.0
    return {"streaming": name,
            "streaming_frames": {"past": f.past, "present": f.present, "future": f.future,
                                 "hop": int(hop)},
            "latency_ms": round(latency, 3)}


def build_decoder(config: Mapping[str, Any], separator_exp: str, tagger_exp: Optional[str],
                  oracle: bool, separation_cache: Optional[str] = None
                  ) -> Tuple[Decoder, LoadedExperiment, Optional[LoadedExperiment]]:
    """Load the experiments named by the config's checkpoints and build the :class:`Decoder`;
    ``separation_cache``: a folder of :class:`s5tse.decode.separation_cache.SeparationCache`.

    Raises ModelLoadError (missing / bad files) or ValueError (device, thresholds).
    """
    device = check_device(str(config["device"]))
    if not oracle:
        if tagger_exp is None:
            raise ValueError("--tagger_exp is required unless --use_oracle_labels true")
        # both trained on the same class inventory (checked before building the models)
        experiment_classes(separator_exp).check_same(
            experiment_classes(tagger_exp), f"separator {separator_exp}", f"tagger {tagger_exp}")
    sep = load_experiment(separator_exp, config["separator_checkpoint"], "separator")
    tag = None
    if not oracle:
        tag = load_experiment(tagger_exp, config["tagger_checkpoint"], "tagger")
    bridge = Bridge(config["report_threshold"], config["query_threshold"],
                    config["frame_threshold"], query_hop=QUERY_HOP, classes=sep.classes,
                    class_report_thresholds=config.get("class_report_thresholds"))
    _, stream = parse_streaming(config["streaming"])
    cache = None
    if separation_cache:
        cache = SeparationCache(separation_cache, separator_key(sep.checkpoint, stream, device))
    decoder = Decoder(sep, tag, bridge, streaming=stream, device=device, oracle=oracle,
                      oracle_threshold_db=config["oracle_threshold_db"],
                      resample=config["resample"], cache=cache)
    return decoder, sep, tag


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss``)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if os.uname().sysname == "Darwin":  # bytes there
        kib /= 1024.0
    return round(kib / 1024.0, 1)


def peak_gpu_mb(device: str) -> Optional[float]:
    """Peak CUDA memory allocated by torch in MiB, None on CPU."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(dev) / 2 ** 20, 1)
