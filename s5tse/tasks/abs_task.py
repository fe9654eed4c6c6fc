"""Base class of the training tasks: config keys, registries and builders.

A task declares its registry choices; each becomes two config keys, ``<key>`` (a
registered name) and ``<key>_conf`` (keyword arguments, free-form in the YAML, checked
against the class signature and completed with its defaults by :meth:`AbsTask.resolve_config`,
which is what ``--print_config`` prints and ``config.yaml`` stores)::

    class MyTask(AbsTask):
        name = "mytask"

        def choices(self):
            return super().choices() + [
                Choice("model", MODELS, default="my_net"),
                Choice("loss", LOSSES, default="snr"),
                Choice("train_dataset", DATASETS, "onthefly", TRAIN_DATASET_INJECTED),
                Choice("valid_dataset", DATASETS, "metadata", VALID_DATASET_INJECTED),
            ]

        def build_model(self, config):        # forward(**batch) -> (loss, stats, weight)
            return MyModel(self.build_choice("model", config),
                           self.build_choice("loss", config))

Every task has ``optim``/``optim_conf`` (:mod:`s5tse.train.optim`) and
``scheduler``/``scheduler_conf`` (:mod:`s5tse.train.scheduler`) and the loop keys of
:data:`s5tse.train.options.TRAIN_DEFAULTS`.

Model contract (ESPnet): ``model(**batch) -> (loss, stats, weight)`` with ``loss`` a 0-dim
tensor (mean over the batch), ``stats`` a dict of 0-dim tensors (``loss`` is added if
missing; ``valid.<key>`` criteria refer to these keys) and ``weight`` the number of items
(weights the running means). The batch dict is passed whole (ids included), so models
take ``**kwargs``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from s5tse.tasks.registry import Registry
from s5tse.train.optim import OPTIMIZERS
from s5tse.train.options import TRAIN_DEFAULTS, check_train_config
from s5tse.train.scheduler import SCHEDULERS
from s5tse.utils.config import ConfigError, OpenDict

__all__ = [
    "AbsTask",
    "Choice",
    "INIT_FILE_KEYS",
    "TRAIN_DATASET_INJECTED",
    "VALID_DATASET_INJECTED",
]

#: ``model_conf`` keys naming files that only initialise training (published tagger backbones,
#: step-1 weights, SR_CorrNet_SS weights): a trained checkpoint replaces them, and a dry run
#: without them builds random weights.
INIT_FILE_KEYS = ("m2d_weights", "fpasst_weights", "init_weights", "init_sr_corrnet_ss")

# Keyword arguments the engine passes to dataset classes (never from the config).
TRAIN_DATASET_INJECTED = ("data_dir", "split", "seed", "num_items")
VALID_DATASET_INJECTED = ("data_dir", "split", "seed")


@dataclass(frozen=True)
class Choice:
    """One ``<key>: name`` + ``<key>_conf: {...}`` pair of config keys.

    Attributes:
        key: config key (``"model"``); the kwargs live under ``key + "_conf"``.
        registry: where the name is looked up.
        default: default name ("" = must be set in the config).
        injected: constructor arguments supplied by the engine, not by the config.
    """

    key: str
    registry: Registry
    default: str = ""
    injected: Tuple[str, ...] = ()

    @property
    def conf_key(self) -> str:
        return f"{self.key}_conf"


class AbsTask:
    """Base task. Subclasses set :attr:`name`, extend :meth:`choices`, implement :meth:`build_model`."""

    name: str = ""
    #: False if the task makes its own data (toy): --train_data/--valid_data are optional.
    requires_data: bool = True
    #: True for tasks on labelled sound classes: a top-level ``classes`` key (the class
    #: inventory file, recorded as the list; :func:`s5tse.tasks.data.resolve_classes`) and
    #: ``classes`` (a :class:`~s5tse.labels.ClassInventory`) passed to the datasets; a
    #: top-level ``synthesis`` key (the synthesis rules YAML, recorded as the mapping;
    #: :func:`s5tse.tasks.data.resolve_synthesis`) passed to datasets that synthesise.
    uses_classes: bool = False

    # --------------------------------------------------------------- config
    def choices(self) -> List[Choice]:
        """Registry choices of this task (subclasses append theirs)."""
        return [
            Choice("optim", OPTIMIZERS, "adamw", ("params",)),
            Choice("scheduler", SCHEDULERS, "constant", ("optimizer", "num_training_steps")),
        ]

    def task_defaults(self) -> Dict[str, Any]:
        """Extra top-level config keys of the task (with their defaults)."""
        return {}

    def choice(self, key: str) -> Choice:
        for c in self.choices():
            if c.key == key:
                return c
        raise KeyError(f"task '{self.name}' has no '{key}' choice")

    def defaults(self) -> Dict[str, Any]:
        """The full schema/defaults: task name, choices, loop keys, task keys."""
        out: Dict[str, Any] = {"task": self.name}
        loop = {k: v for k, v in TRAIN_DEFAULTS.items() if k != "task"}
        for c in self.choices():
            if c.key in ("optim", "scheduler"):
                continue
            out[c.key] = c.default
            out[c.conf_key] = OpenDict()
        out.update(loop)
        for c in self.choices():
            if c.key in ("optim", "scheduler"):
                out[c.key] = c.default
                out[c.conf_key] = OpenDict()
        extra = dict(self.task_defaults())
        if self.uses_classes:
            extra["classes"] = None
            extra["synthesis"] = None
        clash = sorted(set(extra) & set(out))
        if clash:
            raise ValueError(f"task '{self.name}': task_defaults redefine {clash}")
        out.update(extra)
        return out

    def resolve_config(self, config: Mapping[str, Any]) -> Dict[str, Any]:
        """Check the config and complete every ``<key>_conf`` with the class defaults.

        Raises:
            ConfigError: bad loop values, unknown registry name (the message lists the
                choices), unknown ``_conf`` key.
        """
        out = dict(config)
        if out.get("task", self.name) != self.name:
            raise ConfigError(f"config is for task '{out['task']}', not '{self.name}'")
        out["task"] = self.name
        check_train_config(out)
        for c in self.choices():
            name = out[c.key]
            if not name:
                raise ConfigError(
                    f"'{c.key}' is not set (choices: {', '.join(c.registry.names()) or 'none'})"
                )
            c.registry.get(name)  # unknown name -> one-line error with the choices
            out[c.conf_key] = c.registry.resolve_conf(name, out.get(c.conf_key) or {}, c.injected)
        if self.uses_classes:
            from s5tse.tasks.data import resolve_classes, resolve_synthesis

            out["classes"] = resolve_classes(out.get("classes"))
            out["synthesis"] = resolve_synthesis(out.get("synthesis"))
        return out

    def dataset_kwargs(self, config: Mapping[str, Any], key: str = "train_dataset") -> Dict[str, Any]:
        """Engine-supplied dataset arguments besides data dir, split, seed and size: the
        ``classes`` and, for datasets that synthesise (a ``synthesis`` parameter), the
        synthesis rules."""
        if not self.uses_classes:
            return {}
        import inspect

        from s5tse.tasks.data import inventory_of

        out: Dict[str, Any] = {"classes": inventory_of(config)}
        c = self.choice(key)
        if "synthesis" in inspect.signature(c.registry.get(config[c.key])).parameters:
            out["synthesis"] = dict(config.get("synthesis") or {})
        return out

    # -------------------------------------------------------------- builders
    def build_choice(self, key: str, config: Mapping[str, Any], **injected: Any) -> Any:
        """Instantiate the class named by ``config[key]`` with ``config[key + '_conf']``."""
        c = self.choice(key)
        return c.registry.build(config[c.key], config.get(c.conf_key) or {}, **injected)

    def build_model(self, config: Mapping[str, Any]) -> torch.nn.Module:
        """The trainable model, following the ESPnet contract (module docstring)."""
        raise NotImplementedError

    def build_train_dataset(
        self, config: Mapping[str, Any], data_dir: Optional[str], num_items: int
    ) -> torch.utils.data.Dataset:
        """Training data: ``num_items = iters_per_epoch * batch_size`` items per epoch.

        Items must be a pure function of ``(seed, epoch, index)``; the dataset gets
        ``set_epoch(epoch)`` before each epoch if it has that method.
        """
        return self.build_choice(
            "train_dataset", config, data_dir=data_dir, split="train",
            seed=config["seed"], num_items=num_items, **self.dataset_kwargs(config, "train_dataset"),
        )

    def build_valid_dataset(
        self, config: Mapping[str, Any], data_dir: Optional[str]
    ) -> torch.utils.data.Dataset:
        """Validation data (fixed: the same items every time)."""
        return self.build_choice(
            "valid_dataset", config, data_dir=data_dir, split="valid", seed=config["seed"],
            **self.dataset_kwargs(config, "valid_dataset"),
        )

    def wrap_datasets(
        self, config: Mapping[str, Any], model: torch.nn.Module, train_dataset: Any,
        valid_dataset: Any, device: torch.device,
    ) -> Tuple[Any, Any]:
        """Called once the model is built, on ``device`` and frozen (``freeze_param``): the
        datasets the trainer uses (default: unchanged; the tagger task may replace them by
        a cache of its frozen encoders' outputs)."""
        return train_dataset, valid_dataset

    def collate_fn(self, config: Mapping[str, Any]) -> Callable[[Sequence[Any]], Any]:
        """Batch collation (default: :func:`s5tse.datasets.collate_scenes`)."""
        from s5tse.datasets.collate import collate_scenes

        return collate_scenes

    # ---------------------------------------------------------- validation
    def forward_valid(
        self, model: torch.nn.Module, batch: Mapping[str, Any]
    ) -> Tuple[torch.Tensor, Dict[str, Any], Any, Any]:
        """One validation batch -> ``(loss, stats, weight, output)``.

        ``output`` is whatever :meth:`log_examples` wants to show (None by default).
        Called under ``torch.no_grad()`` with the model in eval mode.
        """
        loss, stats, weight = model(**batch)
        return loss, stats, weight, None

    def log_examples(self, writer: Any, batch: Mapping[str, Any], output: Any, step: int) -> None:
        """Write examples of the first validation batch to TensorBoard (default: nothing).

        Args:
            writer: the ``valid`` :class:`torch.utils.tensorboard.SummaryWriter`.
            batch: the batch (on the training device).
            output: :meth:`forward_valid`'s ``output``.
            step: global iteration.
        """
        return None
