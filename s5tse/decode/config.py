"""Decoding configuration: the keys of ``conf/decode.yaml``, tuned thresholds, streaming specs.

Keys (defaults below, ``conf/decode.yaml`` documents each)::

    report_threshold: 0.5      tau_r: slots with confidence 1 - p(silence) >= tau_r are output
    query_threshold: 0.3       tau_q <= tau_r: slots with confidence >= tau_q are separated
    class_report_thresholds: null   {class: tau_r} replacing report_threshold per class (>= tau_q)
    frame_threshold: null      null: soft strong query; a number: binary query p >= it
    oracle_threshold_db: -60.0 oracle strong query: reference frames above this (dB re. peak)
    use_tuned_thresholds: true read <tagger_exp>/decode_thresholds.yaml when it exists
    streaming: long_context    offline | low_latency | long_context | "past,present,future"
    device: cpu                cpu | cuda | cuda:N
    batch_size: 1              mixtures per tagger forward (equal lengths only)
    num_threads: 0             torch CPU threads per job (0: torch's default; run.sh gives 1 to parallel jobs)
    tagger_checkpoint: valid.acc_mix.ave.pth
    separator_checkpoint: valid.sdri.ave.pth
    resample: false            resample mixtures that are not 32 kHz (torchaudio)

Threshold precedence (lowest first): these defaults < ``--config`` files <
``<tagger_exp>/decode_thresholds.yaml`` (written by ``s5tse.bin.tune_thresholds``; only
``report_threshold`` / ``query_threshold`` and, when it holds them, ``class_report_thresholds``;
when ``use_tuned_thresholds``) < explicit ``--report_threshold`` / ``--query_threshold`` on the
command line.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from s5tse.utils.config import ConfigError, parse_overrides, read_config_file

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["DECODE_DEFAULTS", "TUNED_THRESHOLDS", "TUNED_KEYS", "TUNED_OPTIONAL_KEYS", "parse_streaming",
           "apply_tuned_thresholds", "explicit_keys", "check_decode_config"]

DECODE_DEFAULTS: Dict[str, Any] = {
    "report_threshold": 0.5,
    "query_threshold": 0.3,
    "class_report_thresholds": None,
    "frame_threshold": None,
    "oracle_threshold_db": -60.0,
    "use_tuned_thresholds": True,
    "streaming": "offline",
    "device": "cpu",
    "batch_size": 1,
    "num_threads": 0,
    "tagger_checkpoint": "valid.acc_mix.ave.pth",
    "separator_checkpoint": "valid.sdri.ave.pth",
    "resample": False,
}

#: File in the tagger's experiment dir written by threshold tuning.
TUNED_THRESHOLDS = "decode_thresholds.yaml"
#: Keys a tuned-thresholds file sets (and the one it may set).
TUNED_KEYS = ("report_threshold", "query_threshold")
TUNED_OPTIONAL_KEYS = ("class_report_thresholds",)


def explicit_keys(overrides: Sequence[str]) -> set:
    """Top-level config keys set on the command line (``--key value`` override tokens)."""
    return {key.split(".")[0] for key, _ in parse_overrides(list(overrides))}


def _prob(config: Mapping[str, Any], key: str, allow_none: bool = False) -> None:
    v = config.get(key)
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
        what = "null or a number" if allow_none else "a number"
        raise ConfigError(f"'{key}' must be {what} in [0, 1], got {v!r}")


def check_decode_config(config: Mapping[str, Any]) -> None:
    """Value checks beyond the types (one-line :class:`ConfigError`)."""
    _prob(config, "report_threshold")
    _prob(config, "query_threshold")
    _prob(config, "frame_threshold", allow_none=True)
    if config["query_threshold"] > config["report_threshold"]:
        raise ConfigError(
            f"query_threshold ({config['query_threshold']:g}) must not exceed report_threshold "
            f"({config['report_threshold']:g}): every reported slot must be separated")
    per_class = config.get("class_report_thresholds")
    if per_class is not None:
        if not isinstance(per_class, Mapping):
            raise ConfigError(f"'class_report_thresholds' must be null or a mapping class: "
                              f"threshold, got {per_class!r}")
        for label, value in per_class.items():
            _prob({f"class_report_thresholds.{label}": value}, f"class_report_thresholds.{label}")
            if value < config["query_threshold"]:
                raise ConfigError(
                    f"class_report_thresholds[{label}] ({value:g}) must not be below "
                    f"query_threshold ({config['query_threshold']:g}): every reported slot "
                    "must be separated")
    if int(config["batch_size"]) < 1:
        raise ConfigError(f"'batch_size' must be >= 1, got {config['batch_size']!r}")
    if int(config["num_threads"]) < 0:
        raise ConfigError(f"'num_threads' must be >= 0 (0: torch's default), got {config['num_threads']!r}")
    parse_streaming(config["streaming"])


def parse_streaming(spec: Any) -> Tuple[str, Optional[Any]]:
    """``streaming`` value -> ``(name, StreamingConfig or None)``.

    ``offline`` / null -> ``("offline", None)``; a preset name of
    :data:`s5tse.streaming.STREAMING_PRESETS`; ``"past,present,future"`` (separator STFT frames)
    or a 3-list. Raises ConfigError (one line) otherwise.
    """
    from s5tse.streaming import STREAMING_PRESETS, resolve_streaming_config

    try:
        cfg = resolve_streaming_config(spec)
    except (TypeError, ValueError):
        raise ConfigError(
            f"'streaming' must be offline, one of {', '.join(sorted(STREAMING_PRESETS))} or "
            f"'past,present,future' (separator STFT frames), got {spec!r}") from None
    if cfg is None:
        return "offline", None
    if isinstance(spec, str) and spec in STREAMING_PRESETS:
        return spec, cfg
    return f"{cfg.past},{cfg.present},{cfg.future}", cfg


def apply_tuned_thresholds(config: Dict[str, Any], tagger_exp: Optional[PathLike],
                           explicit: set) -> Tuple[Dict[str, Any], str]:
    """Replace the thresholds by ``<tagger_exp>/decode_thresholds.yaml`` (module docstring).

    Returns ``(config, source)`` with ``source`` the file used, or ``"config"``.
    Raises ConfigError naming the file if it is malformed.
    """
    if tagger_exp is None or not config.get("use_tuned_thresholds", True):
        return config, "config"
    path = Path(tagger_exp) / TUNED_THRESHOLDS
    if not path.is_file():
        return config, "config"
    tuned = read_config_file(path)
    if any(k not in tuned for k in TUNED_KEYS):
        raise ConfigError(f"{path}: expected a mapping with {' and '.join(TUNED_KEYS)}")
    tuned_ckpt = Path(str(tuned.get("tagger_checkpoint") or "")).name
    if tuned_ckpt and tuned_ckpt != Path(str(config.get("tagger_checkpoint"))).name:
        logging.getLogger(__name__).warning(
            "%s was tuned for tagger checkpoint %s, decoding uses %s", path, tuned_ckpt,
            config.get("tagger_checkpoint"))
    out = dict(config)
    used = []
    for key in TUNED_KEYS + tuple(k for k in TUNED_OPTIONAL_KEYS if k in tuned):
        if key not in explicit:
            out[key] = tuned[key]
            used.append(key)
    try:
        check_decode_config(out)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return out, (os.fspath(path) if used else "config")
