"""Training statistics: running means, per-epoch history and best-epoch rankings,
console progress lines and TensorBoard scalars.

* :class:`WeightedMean` -- ``sum(w * x) / sum(w)`` per stats key (the ``weight`` returned
  by the model, usually the batch size); its state goes into ``checkpoint.pth`` so a run
  resumed mid-epoch reports the same epoch means as an uninterrupted one.
* :class:`Reporter` -- ``history[epoch][phase][key]`` (phase ``train`` / ``valid``) and
  rankings for ``best_model_criterion`` / ``keep_nbest`` / early stopping.
* :class:`TensorBoardLogger` -- ``EXP/tensorboard/{train,valid}`` writers, created on
  first use (main rank only), ``purge_step`` so a resumed run overwrites what the killed
  run logged after its last checkpoint.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["Reporter", "TensorBoardLogger", "WeightedMean", "format_duration", "to_float"]

MODES = ("min", "max")


def to_float(value: Any) -> Optional[float]:
    """A stats value (0-dim tensor, number, None) as a Python float (None stays None)."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            value = value.detach().float().mean()
        return float(value.detach().item())
    return float(value)


def format_duration(seconds: float) -> str:
    """``3725.0 -> '1:02:05'`` (``'-'`` for an unknown duration)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(max(0.0, seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class WeightedMean:
    """Weighted running means of named scalars.

        >>> m = WeightedMean(); m.add({"loss": 1.0}, 1); m.add({"loss": 4.0}, 2); m.means()
        {'loss': 3.0}
    """

    def __init__(self) -> None:
        self.sums: Dict[str, float] = {}
        self.weights: Dict[str, float] = {}
        self.count = 0

    def add(self, stats: Mapping[str, Any], weight: float = 1.0) -> None:
        """Add one batch's stats (None values are skipped)."""
        weight = float(weight)
        for key, value in stats.items():
            value = to_float(value)
            if value is None:
                continue
            self.sums[key] = self.sums.get(key, 0.0) + weight * value
            self.weights[key] = self.weights.get(key, 0.0) + weight
        self.count += 1

    def means(self) -> Dict[str, float]:
        return {k: self.sums[k] / self.weights[k] for k in self.sums if self.weights[k] > 0}

    def reset(self) -> None:
        self.__init__()

    def state_dict(self) -> Dict[str, Any]:
        return {"sums": dict(self.sums), "weights": dict(self.weights), "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sums = dict(state["sums"])
        self.weights = dict(state["weights"])
        self.count = int(state["count"])


class Reporter:
    """Per-epoch history of ``train``/``valid`` means and rankings over it.

        >>> r = Reporter(); r.record(1, "valid", {"loss": 2.0}); r.record(2, "valid", {"loss": 1.0})
        >>> r.ranked("valid", "loss", "min")
        [(2, 1.0), (1, 2.0)]
    """

    def __init__(self) -> None:
        self.history: Dict[int, Dict[str, Dict[str, float]]] = {}

    def record(self, epoch: int, phase: str, stats: Mapping[str, float]) -> None:
        self.history.setdefault(int(epoch), {})[phase] = {k: float(v) for k, v in stats.items()}

    def get(self, epoch: int, phase: str) -> Dict[str, float]:
        return dict(self.history.get(int(epoch), {}).get(phase, {}))

    def ranked(self, phase: str, key: str, mode: str) -> List[Tuple[int, float]]:
        """``(epoch, value)`` best first (ties: the earlier epoch); non-finite values left out."""
        if mode not in MODES:
            raise ValueError(f"mode must be min or max, got {mode!r}")
        rows = [
            (e, v[phase][key]) for e, v in self.history.items()
            if key in v.get(phase, {}) and math.isfinite(v[phase][key])
        ]
        sign = 1.0 if mode == "min" else -1.0
        return sorted(rows, key=lambda ev: (sign * ev[1], ev[0]))

    def best(self, phase: str, key: str, mode: str) -> Optional[Tuple[int, float]]:
        ranked = self.ranked(phase, key, mode)
        return ranked[0] if ranked else None

    def epochs_since_best(self, phase: str, key: str, mode: str, epoch: int) -> Optional[int]:
        """``epoch - best epoch`` (None if nothing is recorded for the criterion yet)."""
        best = self.best(phase, key, mode)
        return None if best is None else int(epoch) - best[0]

    def state_dict(self) -> Dict[str, Any]:
        return {"history": {e: {p: dict(s) for p, s in ph.items()} for e, ph in self.history.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = {
            int(e): {p: dict(s) for p, s in ph.items()} for e, ph in state["history"].items()
        }


class TensorBoardLogger:
    """``EXP/tensorboard/{train,valid}`` SummaryWriters, created lazily.

    Args:
        log_dir: ``EXP/tensorboard``.
        enabled: False (non-main ranks, ``use_tensorboard: false``) makes every call a no-op.
        purge_step: events at or after this step left by an earlier (killed) run are dropped.
    """

    def __init__(self, log_dir: PathLike, enabled: bool = True, purge_step: Optional[int] = None):
        self.log_dir = Path(log_dir)
        self.enabled = enabled
        self.purge_step = purge_step
        self._writers: Dict[str, Any] = {}

    def writer(self, phase: str) -> Any:
        """The SummaryWriter of ``phase`` (None when disabled)."""
        if not self.enabled:
            return None
        if phase not in self._writers:
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

            self._writers[phase] = SummaryWriter(
                str(self.log_dir / phase), purge_step=self.purge_step
            )
        return self._writers[phase]

    def scalars(self, phase: str, values: Mapping[str, Any], step: int) -> None:
        writer = self.writer(phase)
        if writer is None:
            return
        for key, value in values.items():
            value = to_float(value)
            if value is not None:
                writer.add_scalar(key, value, step)

    def flush(self) -> None:
        for w in self._writers.values():
            w.flush()

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()
