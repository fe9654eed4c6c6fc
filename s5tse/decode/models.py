"""Load a trained tagger or separator from its experiment directory (stage 3 / 4 outputs).

An experiment directory written by :mod:`s5tse.train.trainer` holds ``config.yaml`` (the
resolved training config) and weight files (``valid.<key>.best.pth``,
``valid.<key>.ave_<k>best.pth``, ``valid.<key>.ave.pth``, ``latest.pth``, ``{N}epoch.pth``:
each a ``state_dict`` of the task's ESPnet-contract wrapper, keys ``tagger.*`` /
``separator.*`` plus the loss; ``checkpoint.pth`` holds it under ``"model"``). The model is
rebuilt from ``config.yaml`` with the task's own builder and loaded strictly::

    exp = load_experiment("exp/separator_x", "valid.sdri.best.pth", "separator")
    exp.network          # the separator (eval mode), exp.nparams, exp.checkpoint

Pretrained-backbone paths of a tagger config (``m2d_weights``, ``fpasst_weights``,
``init_weights``) are not read: the checkpoint already holds every weight. Every error is a
one-line :class:`ModelLoadError` naming the file and, for a missing one, the ``run.sh`` stage
that makes it.
"""
from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Union

import torch

from s5tse.labels import ClassInventory, InventoryError
from s5tse.tasks.abs_task import INIT_FILE_KEYS

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["ModelLoadError", "LoadedExperiment", "load_experiment", "STAGE_OF"]

#: Which run.sh stage writes an experiment of each role.
STAGE_OF = {"pretrain": "stage 3 (encoder pre-training)", "tagger": "stage 3 (tagger)",
            "separator": "stage 4 (separator)"}
#: The attribute of the task's wrapper holding the network of each role (the pre-training
#: models are their own network: encoder + heads).
_NETWORK_ATTR = {"pretrain": None, "tagger": "tagger", "separator": "separator"}


class ModelLoadError(ValueError):
    """A missing or unusable experiment dir / checkpoint; the message is one line."""


@dataclass
class LoadedExperiment:
    """A trained network ready for inference.

    Attributes:
        role: ``tagger`` or ``separator``.
        exp_dir, checkpoint: where it came from (checkpoint = the ``.pth`` path).
        config: the experiment's ``config.yaml``.
        model_name: ``config["model"]`` (``fusion``, ``m2dat``, ``lq_sr_corrnet``, ``resunetk``).
        network: the tagger (``predict``) or separator (``forward(mixture, strong, weak)``),
            eval mode, on CPU.
        nparams: parameter elements of ``network`` (losses excluded).
        classes: the class inventory it was trained with (``config["classes"]``).
    """

    role: str
    exp_dir: Path
    checkpoint: Path
    config: Dict[str, Any]
    model_name: str
    network: torch.nn.Module
    nparams: int
    classes: ClassInventory

    @property
    def has_strong(self) -> bool:
        """Whether a tagger has frame-level output (False for the M2DAT baseline, whose
        ``strong_prob`` is its clip probability repeated)."""
        return self.role == "tagger" and self.model_name != "m2dat"


def _missing(path: Path, what: str, role: str) -> ModelLoadError:
    return ModelLoadError(f"{path}: {what} not found (made by {STAGE_OF[role]} of run.sh)")


def experiment_classes(exp_dir: PathLike) -> ClassInventory:
    """The class inventory recorded in ``exp_dir/config.yaml`` (without building the model)."""
    from s5tse.utils.config import ConfigError, read_config_file

    cfg_path = Path(exp_dir) / "config.yaml"
    if not cfg_path.is_file():
        raise ModelLoadError(f"{cfg_path}: experiment config not found")
    try:
        return ClassInventory.from_config(dict(read_config_file(cfg_path)), where=str(cfg_path))
    except (ConfigError, InventoryError) as exc:
        raise ModelLoadError(str(exc)) from None


def load_experiment(exp_dir: PathLike, checkpoint: PathLike, role: str) -> LoadedExperiment:
    """Rebuild the network of ``exp_dir`` from ``config.yaml`` and load ``checkpoint``.

    Args:
        exp_dir: experiment directory.
        checkpoint: weight file name inside ``exp_dir`` (or a path; relative paths that exist
            as given are used as they are).
        role: ``tagger``, ``separator`` or ``pretrain`` (the config's ``task`` must match).
    Raises:
        ModelLoadError: missing dir / config / checkpoint, wrong task, unreadable or
            non-matching weights.
    """
    from s5tse.models.tagger.checkpoint import CheckpointError, check_state_dict, read_state_dict
    from s5tse.tasks import get_task
    from s5tse.train.optim import count_parameters
    from s5tse.utils.config import ConfigError, read_config_file

    if role not in STAGE_OF:
        raise ValueError(f"role must be one of {sorted(STAGE_OF)}, got {role!r}")
    exp = Path(exp_dir)
    if not exp.is_dir():
        raise _missing(exp, f"{role} experiment directory", role)
    cfg_path = exp / "config.yaml"
    if not cfg_path.is_file():
        raise _missing(cfg_path, f"{role} config", role)
    ckpt = Path(checkpoint)
    if not (ckpt.is_absolute() or (ckpt.parent != Path(".") and ckpt.is_file())):
        ckpt = exp / ckpt
    if not ckpt.is_file():
        raise _missing(ckpt, f"{role} checkpoint", role)
    try:
        config = dict(read_config_file(cfg_path))
    except ConfigError as exc:
        raise ModelLoadError(str(exc)) from None
    task_name = config.get("task")
    if task_name != role:
        raise ModelLoadError(f"{cfg_path}: task is {task_name!r}, expected {role!r} "
                             f"(is this the {role} experiment?)")
    try:
        classes = ClassInventory.from_config(config, where=str(cfg_path))
    except InventoryError as exc:
        raise ModelLoadError(str(exc)) from None
    build_cfg = copy.deepcopy(config)
    conf = dict(build_cfg.get("model_conf") or {})
    for key in INIT_FILE_KEYS:
        if conf.get(key):
            conf[key] = None
    build_cfg["model_conf"] = conf
    task = get_task(role)
    quiet = logging.getLogger("s5tse.tasks.tagger")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "preset 'real' without weights" does not apply here
    try:
        model = task.build_model(build_cfg)
    except (ConfigError, TypeError, ValueError, KeyError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise ModelLoadError(f"{cfg_path}: cannot build the {role} model: {msg}") from None
    finally:
        quiet.setLevel(level)
    try:
        state = read_state_dict(ckpt)
        check_state_dict(state, model.state_dict(), path=ckpt, what=f"{role} of {cfg_path}")
    except (CheckpointError, FileNotFoundError) as exc:
        raise ModelLoadError(str(exc)) from None
    model.load_state_dict(state, strict=True)
    attr = _NETWORK_ATTR[role]
    network = model if attr is None else getattr(model, attr, None)
    if not isinstance(network, torch.nn.Module):
        raise ModelLoadError(f"{cfg_path}: the {role} wrapper has no '{role}' network")
    network.eval()
    return LoadedExperiment(role=role, exp_dir=exp, checkpoint=ckpt, config=config,
                            model_name=str(config.get("model", "")).lower(), network=network,
                            nparams=count_parameters(network)[0], classes=classes)
