"""Learning-rate schedules with a linear warm-up, stepped once per optimizer update.

``lr_g(s) = base_lr_g * warmup(s) * decay(s)`` for parameter group ``g``, where ``s`` is
the number of optimizer updates already taken (the update being computed is number
``s``, 0-based) and ``base_lr_g`` is the group's configured learning rate::

    warmup(s) = min(1, (s + 1) / warmup_steps)            (1 if warmup_steps == 0)
    constant: decay(s) = 1
    step:     decay(s) = gamma ** floor(max(0, s - warmup_steps) / step_size)
    cosine:   p = clip((s - warmup_steps) / max(1, total_steps - warmup_steps), 0, 1)
              decay(s) = min_lr_ratio + (1 - min_lr_ratio) * (1 + cos(pi * p)) / 2

so the first update already uses ``lr / warmup_steps``, the update ``warmup_steps - 1``
the full ``lr``, and cosine ends at ``min_lr_ratio * lr`` (of each group) at update
``total_steps`` and stays there. ``total_steps: null`` (cosine) means the whole run:
``max_epochs * iters_per_epoch // accum_grad`` (``num_training_steps``, supplied by the
engine).

    sched = SCHEDULERS.build("cosine", {"warmup_steps": 100}, optimizer=opt,
                             num_training_steps=10000)
    ...; opt.step(); sched.step()

The schedulers are :class:`torch.optim.lr_scheduler.LambdaLR` objects whose factor is
the closed form above (``lr = base_lr * factor(last_epoch)``, ``last_epoch`` counting
updates). The chainable library schedules (``LinearLR``, ``StepLR``,
``CosineAnnealingLR`` in a ``SequentialLR``) are not used: each of their steps multiplies
the optimizer's current ``lr``, so on resume the learning rate restored with the optimizer
state, not the config, would drive the rest of the run (recomputing it from the config
breaks bit-identical resume); ``CosineAnnealingLR`` takes one absolute ``eta_min`` for
all groups (``min_lr_ratio`` is relative to each group's lr) and rises again after
``T_max``; and their recursion drifts from the closed form (warm-up + cosine: about
1e-12 relative after 2*10^5 updates).

State (``state_dict``): ``{"last_step": updates taken, "base_lrs": [...]}``, the format of
every checkpoint so far. ``base_lrs`` is informative only: the base learning rates always
come from the config, i.e. from the optimizer's groups when the scheduler is built (so an
lr changed with ``--allow_config_change true`` takes effect on resume), and
``load_state_dict`` sets each group's ``lr`` (and ``initial_lr``, which
``optimizer.load_state_dict`` restores from the checkpoint) from them. Resuming gives the
same learning rates, bit for bit, as an uninterrupted run.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import torch
from torch.optim.lr_scheduler import LambdaLR

from s5tse.tasks.registry import Registry

__all__ = ["SCHEDULERS", "WarmupScheduler", "ConstantScheduler", "StepScheduler", "CosineScheduler"]

SCHEDULERS = Registry("scheduler")


class WarmupScheduler(LambdaLR):
    """Base class: a :class:`~torch.optim.lr_scheduler.LambdaLR` with factor
    ``warmup(s) * decay(s)``.

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
        self.warmup_steps = int(warmup_steps)
        self.num_training_steps = num_training_steps
        # the current lr is the base lr (LambdaLR would prefer a leftover ``initial_lr``)
        for group in optimizer.param_groups:
            group["initial_lr"] = group["lr"]
        super().__init__(optimizer, self.factor)

    @property
    def last_step(self) -> int:
        """Optimizer updates taken (``last_epoch`` of the library scheduler)."""
        return self.last_epoch

    def decay(self, step: int) -> float:
        return 1.0

    def factor(self, step: int) -> float:
        """The multiplier of the base learning rates for update ``step`` (0-based)."""
        warm = 1.0 if self.warmup_steps == 0 else min(1.0, (step + 1) / self.warmup_steps)
        return warm * self.decay(step)

    def state_dict(self) -> Dict[str, Any]:
        return {"last_step": int(self.last_epoch), "base_lrs": [float(b) for b in self.base_lrs]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continue from ``state["last_step"]`` with the base lrs of the config (see module doc)."""
        if not isinstance(state, dict) or "last_step" not in state:
            found = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"{type(self).__name__}: scheduler state without 'last_step' ({found}); "
                "not written by s5tse.train.scheduler"
            )
        self.last_epoch = int(state["last_step"])
        # the same expression as LambdaLR.get_lr, so the lrs equal an uninterrupted run's
        lrs = [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]
        for group, base, lr in zip(self.optimizer.param_groups, self.base_lrs, lrs):
            group["initial_lr"] = base
            group["lr"] = lr
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]


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
