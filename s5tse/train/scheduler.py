"""Learning-rate schedules with a linear warm-up, stepped once per optimizer update.

``lr_g(s) = base_lr_g * warmup(s) * decay(s)`` for parameter group ``g``, where ``s`` is
the number of optimizer updates already taken (the update being computed is number
``s``, 0-based) and ``base_lr_g`` is the group's configured learning rate::

    warmup(s) = min(1, (s + 1) / warmup_steps)            (1 if warmup_steps == 0)
    constant: decay(s) = 1
    step:     decay(s) = gamma ** floor(max(0, s - warmup_steps) / step_size)
    cosine:   p = clip((s - warmup_steps) / max(1, total_steps - warmup_steps), 0, 1)
              decay(s) = min_lr_ratio + (1 - min_lr_ratio) * (1 + cos(pi * p)) / 2

``total_steps: null`` (cosine) means the whole run: ``max_epochs * iters_per_epoch //
accum_grad`` (``num_training_steps``, supplied by the engine).

    sched = SCHEDULERS.build("cosine", {"warmup_steps": 100}, optimizer=opt,
                             num_training_steps=10000)
    ...; opt.step(); sched.step()

The state is the step counter only: the base learning rates always come from the config
(so an lr changed with ``--allow_config_change true`` takes effect on resume).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import torch

from s5tse.tasks.registry import Registry

__all__ = ["SCHEDULERS", "WarmupScheduler", "ConstantScheduler", "StepScheduler", "CosineScheduler"]

SCHEDULERS = Registry("scheduler")


class WarmupScheduler:
    """Base class: linear warm-up times :meth:`decay`; sets every group's ``lr`` in place.

    Args:
        optimizer: its groups' current ``lr`` values are the base learning rates.
        warmup_steps: updates of linear warm-up (0 = none).
        num_training_steps: total updates of the run (engine-supplied).
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, warmup_steps: int = 0,
        num_training_steps: Optional[int] = None,
    ) -> None:
        if int(warmup_steps) != warmup_steps or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative integer, got {warmup_steps!r}")
        self.optimizer = optimizer
        self.warmup_steps = int(warmup_steps)
        self.num_training_steps = num_training_steps
        self.base_lrs: List[float] = [float(g["lr"]) for g in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def decay(self, step: int) -> float:
        return 1.0

    def factor(self, step: int) -> float:
        """The multiplier of the base learning rates for update ``step`` (0-based)."""
        warm = 1.0 if self.warmup_steps == 0 else min(1.0, (step + 1) / self.warmup_steps)
        return warm * self.decay(step)

    def _apply(self) -> None:
        f = self.factor(self.last_step)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def step(self) -> None:
        """Call after each ``optimizer.step()``."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> List[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> Dict[str, Any]:
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.last_step = int(state["last_step"])
        self._apply()


@SCHEDULERS.register("constant")
class ConstantScheduler(WarmupScheduler):
    """Warm-up, then the base learning rate."""


@SCHEDULERS.register("step")
class StepScheduler(WarmupScheduler):
    """Warm-up, then multiply by ``gamma`` every ``step_size`` updates."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, warmup_steps: int = 0, step_size: int = 10000,
        gamma: float = 0.5, num_training_steps: Optional[int] = None,
    ) -> None:
        if int(step_size) != step_size or step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, warmup_steps, num_training_steps)

    def decay(self, step: int) -> float:
        return self.gamma ** (max(0, step - self.warmup_steps) // self.step_size)


@SCHEDULERS.register("cosine")
class CosineScheduler(WarmupScheduler):
    """Warm-up, then half a cosine from the base lr down to ``min_lr_ratio * base``."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, warmup_steps: int = 0,
        total_steps: Optional[int] = None, min_lr_ratio: float = 0.0,
        num_training_steps: Optional[int] = None,
    ) -> None:
        total = total_steps if total_steps is not None else num_training_steps
        if total is None or int(total) != total or total <= 0:
            raise ValueError(f"cosine: total_steps must be a positive integer, got {total!r}")
        self.total_steps = int(total)
        self.min_lr_ratio = float(min_lr_ratio)
        super().__init__(optimizer, warmup_steps, num_training_steps)

    def decay(self, step: int) -> float:
        span = max(1, self.total_steps - self.warmup_steps)
        p = min(1.0, max(0.0, (step - self.warmup_steps) / span))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))
