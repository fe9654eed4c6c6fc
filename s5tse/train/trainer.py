"""The training loop: iterations, updates, validation, checkpoints, resume.

    components = build_components(task, config, ctx.device)
    trainer = Trainer(task, config, components, output_dir="exp/toy", ctx=ctx)
    trainer.resume()                 # from EXP/checkpoint.pth if there is one
    trainer.run()

Loop (counts in iterations = batches; ``accum_grad`` iterations per optimizer update)::

    for epoch in start..max_epochs:          # stops early after `patience` epochs w/o gain
        for it in start+1..iters_per_epoch:
            reseed(seed, epoch, it, rank); forward; backward (loss / accum_grad)
            every accum_grad: unscale, clip, step, scheduler.step()   # skipped if non-finite
            every log_interval: progress line + TensorBoard scalars
            every valid_interval: validation (monitoring only)
            every save_interval: checkpoint.pth
        validation -> history; {N}epoch.pth, latest.pth, <phase>.<key>.best.pth; purge; checkpoint.pth
    <phase>.<key>.ave_<k>best.pth averages

Exact resume. Every random draw of an iteration comes from generators re-seeded from
``(seed, epoch, iteration, rank)`` before it, the data of an epoch is a pure function of
``(seed, epoch, index)`` (sampler order included), and ``checkpoint.pth`` holds model,
optimizer, scheduler, GradScaler, RNG states, the position ``(epoch, iteration)``, the
partial epoch statistics and the history. A run killed anywhere resumes from the last
checkpoint, skips the batches of that epoch already done (``ShardedSampler.set_start``)
and reaches the same weights as an uninterrupted run (bitwise on CPU). DataLoader
workers hold no state worth saving: they are re-created every epoch and their own RNGs
are seeded from ``(seed, epoch, rank, worker id)``.

Checkpoint selection uses the epoch-end validation only; ``valid_interval`` adds
validations for monitoring (log + TensorBoard). Set ``iters_per_epoch`` to the
granularity at which models should be selected and averaged.
"""
from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
import torch.utils.data

from s5tse.train.average import write_nbest_averages
from s5tse.train.checkpoint import (
    CHECKPOINT,
    CheckpointError,
    best_name,
    config_hash,
    diff_configs,
    epoch_name,
    get_rng_state,
    link_or_copy,
    load_checkpoint,
    purge_epochs,
    save_checkpoint,
    save_weights,
    set_rng_state,
)
from s5tse.train.distributed import (
    DistContext,
    ShardedSampler,
    all_reduce_mean,
    barrier,
    broadcast_object,
    per_rank_batch_size,
    unwrap_model,
    wrap_model,
)
from s5tse.train.optim import build_optimizer, count_parameters, freeze_parameters
from s5tse.train.reporter import Reporter, TensorBoardLogger, WeightedMean, format_duration, to_float

__all__ = ["Components", "Trainer", "TrainingError", "build_components", "iteration_seed",
           "seed_everything"]

log = logging.getLogger(__name__)

_ITER_STREAM = 0x5335_1001
_WORKER_STREAM = 0x5335_1002
_VALID_STREAM = 0x5335_1003
_MAX_IDS = 8  # batch ids shown in a non-finite warning


class TrainingError(RuntimeError):
    """A fatal training problem (too many non-finite updates, data too short); one line."""


# ------------------------------------------------------------------------- seeding
def iteration_seed(seed: int, epoch: int, iteration: int, rank: int = 0, stream: int = _ITER_STREAM) -> int:
    """A 32-bit seed derived from ``(seed, epoch, iteration, rank)`` (numpy SeedSequence)."""
    seq = np.random.SeedSequence([int(seed), int(epoch), int(iteration), int(rank)],
                                 spawn_key=(stream,))
    return int(seq.generate_state(1, np.uint32)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and all CUDA devices) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _WorkerInit:
    """DataLoader ``worker_init_fn``: seed a worker from ``(seed, epoch, rank, worker id)``."""

    def __init__(self, seed: int, epoch: int, rank: int) -> None:
        self.seed, self.epoch, self.rank = seed, epoch, rank

    def __call__(self, worker_id: int) -> None:
        seed_everything(iteration_seed(self.seed, self.epoch, worker_id, self.rank, _WORKER_STREAM))


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside ``batch`` (dicts, lists, tuples) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _ids(batch: Any) -> str:
    ids = batch.get("id") if isinstance(batch, Mapping) else None
    if not ids:
        return "?"
    ids = [str(i) for i in ids]
    more = f" (+{len(ids) - _MAX_IDS} more)" if len(ids) > _MAX_IDS else ""
    return ", ".join(ids[:_MAX_IDS]) + more


# ---------------------------------------------------------------------- components
@dataclass
class Components:
    """What a training run is made of (built by :func:`build_components`)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_dataset: Optional[torch.utils.data.Dataset]
    valid_dataset: Optional[torch.utils.data.Dataset]
    frozen: List[str]


def num_training_steps(config: Mapping[str, Any]) -> int:
    """Optimizer updates of the whole run: ``max_epochs * iters_per_epoch // accum_grad``."""
    return config["max_epochs"] * config["iters_per_epoch"] // config["accum_grad"]


def build_components(
    task: Any,
    config: Mapping[str, Any],
    device: Union[str, torch.device] = "cpu",
    train_data: Optional[str] = None,
    valid_data: Optional[str] = None,
    build_data: bool = True,
    wrap_data: bool = True,
) -> Components:
    """Seed, build the model (on ``device``), freeze, optimizer, scheduler and datasets.

    ``config`` must be resolved (:meth:`AbsTask.resolve_config`). The model is seeded with
    ``config["seed"]`` so its initial weights do not depend on anything else.
    ``wrap_data=False`` (dry runs) leaves out :meth:`AbsTask.wrap_datasets` (e.g. the
    tagger's feature cache, which encodes its whole pool).
    """
    seed_everything(config["seed"])
    model = task.build_model(config)
    # true switches it on; false leaves the model's own setting (e.g. a model_conf granularity)
    if config["activation_checkpointing"] and hasattr(model, "set_activation_checkpointing"):
        model.set_activation_checkpointing(True)
    elif config["activation_checkpointing"]:
        log.warning("activation_checkpointing: %s has no set_activation_checkpointing(); ignored",
                    type(model).__name__)
    model.to(device)
    frozen = freeze_parameters(model, config["freeze_param"])
    optimizer = build_optimizer(model, config["optim"], config["optim_conf"], config["param_groups"])
    scheduler = task.build_choice(
        "scheduler", config, optimizer=optimizer, num_training_steps=num_training_steps(config)
    )
    train_ds = valid_ds = None
    if build_data:
        from s5tse.simulate.scene import SceneError
        from s5tse.simulate.sources import DatasetError
        from s5tse.utils.config import ConfigError

        num_items = config["iters_per_epoch"] * config["batch_size"]
        try:  # a missing or malformed table: one line naming it, before any step
            train_ds = task.build_train_dataset(config, train_data, num_items)
            valid_ds = task.build_valid_dataset(config, valid_data)
        except (DatasetError, SceneError) as exc:
            raise ConfigError(str(exc)) from None
        if wrap_data:
            train_ds, valid_ds = task.wrap_datasets(config, model, train_ds, valid_ds,
                                                    torch.device(device))
    return Components(model, optimizer, scheduler, train_ds, valid_ds, frozen)


# -------------------------------------------------------------------------- trainer
class Trainer:
    """Runs the loop of the module docstring; rank 0 writes every file.

    Args:
        task: the :class:`~s5tse.tasks.abs_task.AbsTask` (collate, validation hooks).
        config: the resolved config (also stored in checkpoints).
        components: model (on ``ctx.device``), optimizer, scheduler, datasets.
        output_dir: the experiment directory.
        ctx: distributed context (default: single CPU process).
    """

    def __init__(
        self,
        task: Any,
        config: Mapping[str, Any],
        components: Components,
        output_dir: Union[str, Path],
        ctx: Optional[DistContext] = None,
    ) -> None:
        self.task = task
        self.config = dict(config)
        self.ctx = ctx or DistContext()
        self.output_dir = Path(output_dir)
        self.raw_model = components.model
        self.optimizer = components.optimizer
        self.scheduler = components.scheduler
        self.train_dataset = components.train_dataset
        self.valid_dataset = components.valid_dataset
        if self.train_dataset is None:
            raise ValueError("Trainer needs a training dataset")
        c = self.config
        self.iters = c["iters_per_epoch"]
        self.accum = c["accum_grad"]
        self.device = self.ctx.device
        self.model = wrap_model(self.raw_model, self.ctx, sync_batchnorm=c["sync_batchnorm"])
        self.params = [p for p in self.raw_model.parameters() if p.requires_grad]

        cuda = self.device.type == "cuda"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(c["precision"])
        if self.amp_dtype is not None and not cuda:
            log.warning("precision %s is CUDA-only: training in fp32 on %s", c["precision"], self.device)
            self.amp_dtype = None
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and c["precision"] == "fp16")

        try:
            bs = per_rank_batch_size(c["batch_size"], self.ctx.world_size)
            vbs = per_rank_batch_size(c["valid_batch_size"] or c["batch_size"], self.ctx.world_size)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        self.train_sampler = ShardedSampler(
            len(self.train_dataset), batch_size=bs, rank=self.ctx.rank,
            world_size=self.ctx.world_size, seed=c["seed"], shuffle=True,
        )
        if self.train_sampler.num_global_batches < self.iters:
            raise TrainingError(
                f"the training set has {len(self.train_dataset)} items: "
                f"{self.train_sampler.num_global_batches} batches of {c['batch_size']}, "
                f"fewer than iters_per_epoch={self.iters}"
            )
        self.valid_batch_size = vbs
        self.reporter = Reporter()
        self.epoch_stats = WeightedMean()
        self.epoch, self.iteration, self.global_step = 1, 0, 0
        self.nonfinite_run = 0
        self._window_bad = False
        self._window_ids: List[str] = []
        self._interval = WeightedMean()
        self._grad_norms: List[float] = []
        self.tb: Optional[TensorBoardLogger] = None

    # ----------------------------------------------------------------- state
    def state_dict(self) -> Dict[str, Any]:
        """The full training state written to ``checkpoint.pth``."""
        return {
            "format": "s5tse.train/1",
            "model": self.raw_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": get_rng_state(),
            "epoch": self.epoch,
            "iteration": self.iteration,
            "iters_per_epoch": self.iters,
            "global_step": self.global_step,
            "nonfinite_run": self.nonfinite_run,
            "reporter": self.reporter.state_dict(),
            "epoch_stats": self.epoch_stats.state_dict(),
            "best": self.best_table(),
            "config_hash": config_hash(self.config),
            "config": self.config,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.raw_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.iteration = int(state["iteration"])
        self.global_step = int(state["global_step"])
        self.nonfinite_run = int(state.get("nonfinite_run", 0))
        self.reporter.load_state_dict(state["reporter"])
        self.epoch_stats.load_state_dict(state["epoch_stats"])

    def best_table(self) -> Dict[str, List[Tuple[int, float]]]:
        """``{"valid.loss": [(epoch, value), ...]}`` best first, ``keep_nbest`` long."""
        k = max(1, self.config["keep_nbest"])
        return {
            f"{phase}.{key}": self.reporter.ranked(phase, key, mode)[:k]
            for phase, key, mode in self.config["best_model_criterion"]
        }

    def resume(self, allow_config_change: bool = False) -> bool:
        """Load ``checkpoint.pth`` (or ``checkpoint.prev.pth``) if present; True if resumed.

        Raises:
            CheckpointError: a checkpoint written with a different config (the message
                names the keys) unless ``allow_config_change``; no loadable file.
        """
        found = load_checkpoint(self.output_dir, map_location=self.device)
        if found is None:
            return False
        state, path = found
        if state.get("config_hash") != config_hash(self.config):
            keys = diff_configs(state.get("config") or {}, self.config)
            named = ", ".join(keys[:10]) + (" ..." if len(keys) > 10 else "") or "unknown keys"
            if not allow_config_change:
                raise CheckpointError(
                    f"{path} was written with a different config ({named}); pass "
                    "--allow_config_change true to resume anyway, or use another --output_dir"
                )
            log.warning("resuming %s with a changed config: %s", path, named)
        self.load_state_dict(state)
        log.info("resumed from %s: epoch %d, iteration %d/%d, %d updates", path,
                 self.epoch, self.iteration, self.iters, self.global_step)
        return True

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        """Train until ``max_epochs`` (or early stopping), then write the averages."""
        c = self.config
        epoch, start = self.epoch, self.iteration
        if start >= self.iters:
            epoch, start = epoch + 1, 0
        self.tb = TensorBoardLogger(
            self.output_dir / "tensorboard",
            enabled=self.ctx.is_main and c["use_tensorboard"],
            purge_step=(epoch - 1) * self.iters + start + 1,
        )
        try:
            while epoch <= c["max_epochs"]:
                if self._should_stop(epoch - 1):
                    break
                self._train_epoch(epoch, start)
                self._end_epoch(epoch)
                epoch, start = epoch + 1, 0
            if self.ctx.is_main:
                self._write_averages()
            barrier(self.ctx)
        finally:
            self.tb.close()
        log.info("training finished: %d epochs, %d updates; results in %s",
                 self.epoch, self.global_step, self.output_dir)

    def _should_stop(self, last_epoch: int) -> bool:
        patience = self.config["patience"]
        if not patience or last_epoch < 1:
            return False
        phase, key, mode = self.config["early_stopping_criterion"]
        since = self.reporter.epochs_since_best(phase, key, mode, last_epoch)
        if since is None or since < patience:
            return False
        best_epoch, best = self.reporter.best(phase, key, mode)
        log.info("early stopping: no improvement of %s.%s for %d epochs (best %.6g at epoch %d)",
                 phase, key, since, best, best_epoch)
        return True

    def _loader(self, dataset: Any, sampler: ShardedSampler, epoch: int) -> torch.utils.data.DataLoader:
        c = self.config
        return torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=c["num_workers"],
            collate_fn=self.task.collate_fn(c),
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_WorkerInit(c["seed"], epoch, self.ctx.rank),
            # the loader's own base seed: drawn from this generator, not the global one
            generator=torch.Generator().manual_seed(iteration_seed(c["seed"], epoch, 0, self.ctx.rank)),
        )

    def _train_epoch(self, epoch: int, start: int) -> None:
        c = self.config
        self.epoch, self.iteration = epoch, start
        if start == 0:
            self.epoch_stats.reset()
        if hasattr(self.train_dataset, "set_epoch"):
            self.train_dataset.set_epoch(epoch)
        self.train_sampler.set_epoch(epoch)
        self.train_sampler.set_start(start)
        if start:
            log.info("epoch %d: skipping the %d iterations already done", epoch, start)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        self._window_bad, self._window_ids = False, []
        self._interval.reset()
        self._grad_norms = []
        t_epoch = t_last = time.perf_counter()
        wait = 0.0
        it_last = start
        batches = iter(self._loader(self.train_dataset, self.train_sampler, epoch))
        try:
            for it in range(start + 1, self.iters + 1):
                t0 = time.perf_counter()
                try:
                    batch = next(batches)
                except StopIteration:
                    raise TrainingError(
                        f"the training data ended after {it - 1} of {self.iters} iterations"
                    ) from None
                wait += time.perf_counter() - t0
                self.iteration = it
                seed_everything(iteration_seed(c["seed"], epoch, it, self.ctx.rank))
                self._train_iteration(batch, it)
                if it % self.accum == 0:
                    self._update(epoch, it)
                if it % c["log_interval"] == 0 or it == self.iters:
                    now = time.perf_counter()
                    self._log_progress(epoch, it, it - it_last, now - t_last, wait, now - t_epoch, start)
                    t_last, it_last, wait = now, it, 0.0
                if c["valid_interval"] and it % c["valid_interval"] == 0 and it < self.iters:
                    self._validate(epoch, it)
                    self.model.train()
                if c["save_interval"] and it % c["save_interval"] == 0 and it < self.iters:
                    self._save_checkpoint()
        finally:
            del batches  # shuts the workers down
        log.info("epoch %d: %d iterations in %s", epoch, self.iters - start,
                 format_duration(time.perf_counter() - t_epoch))

    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _train_iteration(self, batch: Any, it: int) -> None:
        """Forward + backward of one batch (gradients accumulate until :meth:`_update`)."""
        ids = _ids(batch)
        self._window_ids.append(ids)
        batch = to_device(batch, self.device)
        last_of_window = it % self.accum == 0
        no_sync = (self.ctx.enabled and not last_of_window and hasattr(self.model, "no_sync"))
        with (self.model.no_sync() if no_sync else contextlib.nullcontext()):
            with self._autocast():
                loss, stats, weight = self.model(**batch)
            finite = bool(torch.isfinite(loss.detach()).all())
            if self.ctx.enabled:  # all ranks must agree, or DDP's all-reduce would hang
                finite = all_reduce_mean(float(finite), self.ctx) == 1.0
            if not finite:
                log.warning("non-finite loss (%s) at epoch %d iteration %d, batch ids: %s; "
                            "skipping this update", to_float(loss), self.epoch, it, ids)
                self._window_bad = True
                if self.ctx.enabled:  # keep DDP's gradient hooks in step; grads are dropped
                    self.scaler.scale(loss.float() * 0.0).backward()
                return
            self.scaler.scale(loss / self.accum).backward()
        stats = dict(stats)
        stats.setdefault("loss", loss.detach())
        w = to_float(weight) if weight is not None else 1.0
        self.epoch_stats.add(stats, w)
        self._interval.add(stats, w)

    def _update(self, epoch: int, it: int) -> None:
        """Optimizer update at the end of an accumulation window (or a skip)."""
        c = self.config
        ids = "; ".join(self._window_ids)
        self._window_ids = []
        if self._window_bad:
            self._window_bad = False
            self.optimizer.zero_grad(set_to_none=True)
            self._count_nonfinite(epoch, it)
            return
        self.scaler.unscale_(self.optimizer)
        max_norm = c["grad_clip"] if c["grad_clip"] > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm, norm_type=c["grad_clip_type"])
        if not torch.isfinite(grad_norm):
            if self.scaler.is_enabled():  # fp16 overflow: GradScaler skips and lowers the scale
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                log.debug("fp16 overflow at epoch %d iteration %d: loss scale now %g",
                          epoch, it, self.scaler.get_scale())
                return
            log.warning("non-finite gradient norm at epoch %d iteration %d, batch ids: %s; "
                        "skipping this update", epoch, it, ids)
            self.optimizer.zero_grad(set_to_none=True)
            self._count_nonfinite(epoch, it)
            return
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.global_step += 1
        self.nonfinite_run = 0
        self._grad_norms.append(float(grad_norm))

    def _count_nonfinite(self, epoch: int, it: int) -> None:
        self.nonfinite_run += 1
        limit = self.config["max_nonfinite_steps"]
        if self.nonfinite_run >= limit:
            raise TrainingError(
                f"{self.nonfinite_run} consecutive updates skipped because of non-finite "
                f"loss/gradients (last at epoch {epoch} iteration {it}; max_nonfinite_steps="
                f"{limit}): check the data, lower the learning rate or enable grad_clip"
            )

    # -------------------------------------------------------------- logging
    def _lrs(self) -> Dict[str, float]:
        return {
            f"lr/{g.get('name', f'group{i}')}": float(g["lr"])
            for i, g in enumerate(self.optimizer.param_groups)
        }

    def _log_progress(self, epoch: int, it: int, n_its: int, elapsed: float, wait: float,
                      epoch_elapsed: float, start: int) -> None:
        means = self._interval.means()
        self._interval.reset()
        speed = n_its / elapsed if elapsed > 0 else float("nan")
        done = it - start
        per_it = epoch_elapsed / done if done else float("nan")
        eta = (self.iters - it) * per_it
        eta_total = eta + (self.config["max_epochs"] - epoch) * self.iters * per_it
        lrs = self._lrs()
        grad_norm = float(np.mean(self._grad_norms)) if self._grad_norms else None
        self._grad_norms = []
        terms = " ".join(f"{k}={v:.4g}" for k, v in means.items())
        log.info("epoch %d/%d iter %d/%d %s lr=%.3e %.2f it/s eta %s (all epochs %s)",
                 epoch, self.config["max_epochs"], it, self.iters, terms or "(no finite loss)",
                 next(iter(lrs.values())), speed, format_duration(eta), format_duration(eta_total))
        scalars: Dict[str, Any] = dict(means)
        scalars.update(lrs)
        scalars["grad_norm"] = grad_norm
        scalars["iters_per_sec"] = speed
        scalars["data_wait_fraction"] = wait / elapsed if elapsed > 0 else None
        if self.scaler.is_enabled():
            scalars["loss_scale"] = self.scaler.get_scale()
        self.tb.scalars("train", scalars, (epoch - 1) * self.iters + it)

    # ----------------------------------------------------------- validation
    def _reduce_means(self, acc: WeightedMean) -> Dict[str, float]:
        """Weighted means over all ranks."""
        if not self.ctx.enabled:
            return acc.means()
        keys = broadcast_object(sorted(acc.sums), self.ctx)
        local = torch.tensor(
            [acc.sums.get(k, 0.0) for k in keys] + [acc.weights.get(k, 0.0) for k in keys],
            dtype=torch.float64,
        )
        total = all_reduce_mean(local, self.ctx)
        n = len(keys)
        return {k: float(total[i] / total[n + i]) for i, k in enumerate(keys) if total[n + i] > 0}

    def _validate(self, epoch: int, it: int) -> Dict[str, float]:
        """Validation over the whole valid set -> weighted means (logged and returned)."""
        if self.valid_dataset is None:
            return {}
        c = self.config
        model = unwrap_model(self.model)  # no DDP collectives: ranks may see different counts
        model.eval()
        sampler = ShardedSampler(
            len(self.valid_dataset), batch_size=self.valid_batch_size, rank=self.ctx.rank,
            world_size=self.ctx.world_size, seed=c["seed"], shuffle=False, drop_last=False,
        )
        step = (epoch - 1) * self.iters + it
        acc = WeightedMean()
        seed_everything(iteration_seed(c["seed"], epoch, it, self.ctx.rank, _VALID_STREAM))
        t0 = time.perf_counter()
        with torch.no_grad():
            for n, batch in enumerate(self._loader(self.valid_dataset, sampler, 0)):
                batch = to_device(batch, self.device)
                with self._autocast():
                    loss, stats, weight, output = self.task.forward_valid(model, batch)
                stats = dict(stats)
                stats.setdefault("loss", loss)
                acc.add(stats, to_float(weight) if weight is not None else 1.0)
                if n == 0 and self.tb.enabled:
                    self.task.log_examples(self.tb.writer("valid"), batch, output, step)
        means = self._reduce_means(acc)
        terms = " ".join(f"{k}={v:.4g}" for k, v in means.items())
        log.info("validation (epoch %d iter %d/%d): %s [%s]", epoch, it, self.iters, terms,
                 format_duration(time.perf_counter() - t0))
        self.tb.scalars("valid", means, step)
        return means

    # ------------------------------------------------------------- epoch end
    def _end_epoch(self, epoch: int) -> None:
        c = self.config
        train = self._reduce_means(self.epoch_stats)
        valid = self._validate(epoch, self.iters)
        self.reporter.record(epoch, "train", train)
        self.reporter.record(epoch, "valid", valid)
        self.epoch, self.iteration = epoch, self.iters
        if self.ctx.is_main:
            out = self.output_dir
            save_weights(self.raw_model.state_dict(), out / epoch_name(epoch))
            link_or_copy(epoch_name(epoch), out / "latest.pth")
            keep = set()
            for phase, key, mode in c["best_model_criterion"]:
                ranked = self.reporter.ranked(phase, key, mode)
                if not ranked:
                    log.warning("best_model_criterion %s.%s: no such statistic recorded", phase, key)
                    continue
                link_or_copy(epoch_name(ranked[0][0]), out / best_name(phase, key))
                keep.update(e for e, _ in ranked[: max(1, c["keep_nbest"])])
            purge_epochs(out, epoch, keep)
        self._save_checkpoint()
        summary = " | ".join(
            f"{phase} " + " ".join(f"{k}={v:.4g}" for k, v in stats.items())
            for phase, stats in (("train", train), ("valid", valid)) if stats
        )
        bests = ", ".join(
            f"{phase}.{key} {b[1]:.4g} (epoch {b[0]})"
            for phase, key, mode in c["best_model_criterion"]
            for b in [self.reporter.best(phase, key, mode)] if b
        )
        log.info("epoch %d/%d summary: %s; best: %s", epoch, c["max_epochs"], summary, bests or "-")

    def _save_checkpoint(self) -> None:
        if not self.ctx.is_main:
            return
        try:
            save_checkpoint(self.state_dict(), self.output_dir)
        except BaseException as exc:
            log.error("saving %s failed (%s: %s); the previous checkpoint is kept",
                      self.output_dir / CHECKPOINT, type(exc).__name__, exc)
            raise
        log.info("saved %s (epoch %d, iteration %d/%d)", CHECKPOINT, self.epoch,
                 self.iteration, self.iters)

    def _write_averages(self) -> None:
        c = self.config
        ranked = {
            (phase, key): [e for e, _ in self.reporter.ranked(phase, key, mode)]
            for phase, key, mode in c["best_model_criterion"]
        }
        for path in write_nbest_averages(self.output_dir, ranked, c["keep_nbest"]):
            log.info("wrote %s", path)


def describe_components(task: Any, config: Mapping[str, Any], comp: Components) -> str:
    """Multi-line summary printed by ``--dry_run`` (and logged before training)."""
    total, trainable = count_parameters(comp.model)
    lines = [
        f"task: {task.name}",
        f"model: {config.get('model', '?')} ({type(comp.model).__name__})",
        f"parameters: total {total:,}, trainable {trainable:,}"
        + (f" ({len(comp.frozen)} frozen tensors)" if comp.frozen else ""),
        f"optimizer: {config['optim']}, groups "
        + ", ".join(f"{g.get('name')}(lr={g['lr']:.3g}, {sum(p.numel() for p in g['params']):,})"
                    for g in comp.optimizer.param_groups),
        f"scheduler: {config['scheduler']} ({num_training_steps(config):,} updates)",
    ]
    for phase, ds in (("train", comp.train_dataset), ("valid", comp.valid_dataset)):
        if ds is not None:
            lines.append(f"{phase} dataset: {type(ds).__name__} ({len(ds):,} items)")
    return "\n".join(lines)
