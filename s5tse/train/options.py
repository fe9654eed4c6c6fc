"""The training-loop config keys, their defaults and their checks.

Every task's config is these keys, plus ``<name>``/``<name>_conf`` pairs for its
registries (:mod:`s5tse.tasks.abs_task`), plus the task's own keys. Counts are in
iterations (= batches, forward + backward); an optimizer update happens every
``accum_grad`` iterations, and the scheduler counts updates. ``0`` switches the
``*_interval``, ``patience``, ``valid_batch_size`` and ``grad_clip`` options off / to
their fallback.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

from s5tse.utils.config import ConfigError

__all__ = ["PRECISIONS", "TRAIN_DEFAULTS", "check_train_config"]

PRECISIONS = ("fp32", "bf16", "fp16")

TRAIN_DEFAULTS: Dict[str, Any] = {
    "task": "",                     # toy | tagger | separator (also --task)
    "seed": 0,                      # model init, data, dropout: all derived from it
    "max_epochs": 100,
    "iters_per_epoch": 1000,        # batches per epoch (on-the-fly data has no natural epoch)
    "batch_size": 8,                # global batch (all ranks together)
    "valid_batch_size": 0,          # 0 = batch_size
    "num_workers": 2,               # DataLoader workers (results do not depend on it)
    "accum_grad": 1,                # iterations per optimizer update
    "grad_clip": 5.0,               # max gradient norm; <= 0: no clipping (norm still logged)
    "grad_clip_type": 2.0,          # norm type of grad_clip
    "precision": "fp32",            # fp32 | bf16 | fp16 autocast (CUDA only; fp16 uses GradScaler)
    "activation_checkpointing": False,  # true: model.set_activation_checkpointing(True); false: the model's own setting
    "sync_batchnorm": False,        # convert BatchNorm to SyncBatchNorm under DDP
    "cudnn_deterministic": True,
    "cudnn_benchmark": False,
    "freeze_param": [],             # parameter-name patterns kept frozen
    "param_groups": [],             # [{pattern: ..., lr: ...}, ...] per-group optimizer options
    "log_interval": 100,            # progress line + TensorBoard scalars every N iterations
    "valid_interval": 0,            # extra validation every N iterations (0: epoch end only)
    "save_interval": 0,             # checkpoint.pth every N iterations (0: epoch end only)
    "keep_nbest": 10,               # {N}epoch.pth kept per criterion; also the averaging size
    "best_model_criterion": [["valid", "loss", "min"]],  # [phase, stats key, min|max] ...
    "patience": 0,                  # early stopping after N epochs without improvement (0: off)
    "early_stopping_criterion": ["valid", "loss", "min"],
    "max_nonfinite_steps": 10,      # abort after N consecutive skipped (NaN/Inf) updates
    "use_tensorboard": True,
}

_POSITIVE = ("max_epochs", "iters_per_epoch", "batch_size", "accum_grad", "log_interval",
             "max_nonfinite_steps")
_NON_NEGATIVE = ("valid_batch_size", "num_workers", "valid_interval", "save_interval",
                 "keep_nbest", "patience")


def _check_criterion(value: Any, where: str) -> None:
    ok = (
        isinstance(value, (list, tuple)) and len(value) == 3
        and all(isinstance(v, str) for v in value)
        and value[0] in ("train", "valid") and value[2] in ("min", "max")
    )
    if not ok:
        raise ConfigError(
            f"{where}: expected [train|valid, <stats key>, min|max], got {value!r}"
        )


def check_train_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError (one line) for values the types alone do not rule out."""
    for key in _POSITIVE:
        if config[key] < 1:
            raise ConfigError(f"'{key}' must be >= 1, got {config[key]}")
    for key in _NON_NEGATIVE:
        if config[key] < 0:
            raise ConfigError(f"'{key}' must be >= 0, got {config[key]}")
    accum = config["accum_grad"]
    for key in ("iters_per_epoch", "save_interval"):
        if config[key] % accum:
            raise ConfigError(
                f"'{key}' ({config[key]}) must be a multiple of accum_grad ({accum}): "
                "checkpoints are taken between optimizer updates"
            )
    if config["precision"] not in PRECISIONS:
        raise ConfigError(
            f"'precision' must be one of {', '.join(PRECISIONS)}, got {config['precision']!r}"
        )
    crits = config["best_model_criterion"]
    for n, crit in enumerate(crits):
        _check_criterion(crit, f"best_model_criterion[{n}]")
    _check_criterion(config["early_stopping_criterion"], "early_stopping_criterion")
    if not all(isinstance(p, str) and p for p in config["freeze_param"]):
        raise ConfigError(f"'freeze_param' must be a list of patterns, got {config['freeze_param']!r}")
    if not all(isinstance(g, Mapping) for g in config["param_groups"]):
        raise ConfigError(
            f"'param_groups' must be a list of {{pattern: ..., lr: ...}} mappings, "
            f"got {config['param_groups']!r}"
        )
