"""Training tasks: what a task is (:class:`~s5tse.tasks.abs_task.AbsTask`) and which exist.

A task bundles the registries a config picks from by name (model, loss, datasets; the
optimizer and scheduler registries are shared, :mod:`s5tse.train.optim`,
:mod:`s5tse.train.scheduler`), its task-specific config keys and its validation hooks.
``python -m s5tse.bin.train --task NAME`` looks the task up here::

    task = get_task("toy")          # an AbsTask instance
    TASK_NAMES                      # ('pretrain', 'separator', 'tagger', 'toy')

Task modules are imported on first use, so importing :mod:`s5tse.tasks` stays cheap and a
task whose module is not written yet fails with a one-line error, not at import time.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from s5tse.tasks.registry import Registry, RegistryError

if TYPE_CHECKING:  # pragma: no cover
    from s5tse.tasks.abs_task import AbsTask

__all__ = ["TASK_MODULES", "TASK_NAMES", "Registry", "RegistryError", "get_task"]

# name -> module defining the AbsTask subclass ``TASK``.
TASK_MODULES = {
    "pretrain": "s5tse.tasks.pretrain",
    "separator": "s5tse.tasks.separator",
    "tagger": "s5tse.tasks.tagger",
    "toy": "s5tse.tasks.toy",
}
TASK_NAMES = tuple(sorted(TASK_MODULES))


def get_task(name: str) -> "AbsTask":
    """A fresh instance of task ``name``; RegistryError (one line) if unknown."""
    key = str(name).lower()
    if key not in TASK_MODULES:
        raise RegistryError(f"unknown task '{name}' (choices: {', '.join(TASK_NAMES)})")
    return importlib.import_module(TASK_MODULES[key]).TASK()
