"""Data-parallel training helpers: process group set-up, a sharded batch sampler, DDP wrapping.

One process per GPU (DDP). Processes are started by ``torchrun`` (one node, or several
nodes under Slurm; see :mod:`s5tse.train.launch` for the command run.sh puts in front of
``python -m s5tse.bin.train``), or directly by ``srun`` (one task per GPU). The trainer
calls::

    ctx = init_distributed(args.ngpu)                  # DistContext(rank, local_rank, world_size, device)
    bs = per_rank_batch_size(args.batch_size, ctx.world_size)
    sampler = ShardedSampler(len(dataset), batch_size=bs, rank=ctx.rank,
                             world_size=ctx.world_size, seed=args.seed)
    torch.manual_seed(rank_seed(args.seed, ctx.rank))  # model-side randomness (dropout)
    model = wrap_model(model.to(ctx.device), ctx)
    for epoch in ...:
        sampler.set_epoch(epoch)
        sampler.set_start(resume_batch if epoch == resume_epoch else 0)
        for batch in DataLoader(dataset, batch_sampler=sampler, ...): ...
        loss = all_reduce_mean(epoch_loss, ctx)        # statistics averaged over ranks
    cleanup(ctx)

Batch semantics (documented choice). The batch size in the config is the GLOBAL batch, as
in ESPnet2: results do not change with the number of GPUs. The trainer divides it by the
world size (:func:`per_rank_batch_size`, an error if it does not divide) and gives the
per-rank size to :class:`ShardedSampler`. With a per-sample mean loss on each rank, DDP's
gradient averaging over ranks gives exactly the gradient of the mean loss over the global
batch, so N processes with per-rank batch B/N follow the same trajectory as one process
with batch B (up to floating-point summation order; BatchNorm statistics are per rank
unless ``sync_batchnorm``). To train with a larger effective batch on more GPUs, raise the
batch size in the config (and the learning rate) explicitly.

Data order. Epoch ``e``'s order is a permutation drawn from ``(seed, e)`` only, so it is the
same on every rank, on every resume and for any world size; global batch ``b`` is positions
``[b*G, (b+1)*G)`` of that order (``G = batch_size * world_size``) and rank ``r`` takes
positions ``[r*batch_size, (r+1)*batch_size)`` of it. Concatenating the ranks' slices of
batch ``b`` gives the one-process batch ``b`` of size ``G``. On-the-fly data whose items are
a pure function of ``(seed, epoch, index)`` therefore needs no per-rank seed; model-side
randomness (dropout, random masking in the model) does: seed it with :func:`rank_seed`.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistContext",
    "DistributedSetupError",
    "ShardedSampler",
    "all_reduce_mean",
    "barrier",
    "broadcast_object",
    "cleanup",
    "first_host",
    "init_distributed",
    "per_rank_batch_size",
    "rank_seed",
    "unwrap_model",
    "wrap_model",
]

logger = logging.getLogger(__name__)

# spawn_key of the sampler's SeedSequence: keeps the order stream apart from other uses of
# SeedSequence([seed, epoch, ...]) (SeedSequence([a, b]) equals SeedSequence([a, b, 0])).
_SAMPLER_STREAM = 0x5335_0001
_RANK_STREAM = 0x5335_0002
# Slurm's special step ids (batch script, extern step, ...) are >= 0xFFFFFFF0.
_SLURM_SPECIAL_STEP = 0xFFFF_FFF0
DEFAULT_SLURM_MASTER_PORT = 29500


class DistributedSetupError(RuntimeError):
    """A launch/configuration problem, with a one-line message meant for the user."""


# ----------------------------------------------------------------------------- context
@dataclass
class DistContext:
    """Where this process sits in the job. ``world_size == 1``: plain single-process run."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: Optional[str] = None  # "nccl" / "gloo" when a process group was initialised

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs, writes checkpoints and results)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when there is more than one process (DDP, collectives are real)."""
        return self.world_size > 1


def _env_int(env: Mapping[str, str], name: str) -> int:
    value = env.get(name, "")
    try:
        return int(value)
    except ValueError:
        raise DistributedSetupError(f"environment variable {name}={value!r} is not an integer") from None


def first_host(nodelist: str) -> str:
    """The first host name of a Slurm node list (``gpu[03-05,09],cpu1`` -> ``gpu03``).

    Uses ``scontrol show hostnames`` when available, else a small parser of the hostlist
    syntax (comma-separated entries; bracket groups of numbers and ranges, zero padding
    kept; several bracket groups in one entry allowed).
    """
    nodelist = nodelist.strip()
    if not nodelist:
        raise DistributedSetupError("empty Slurm node list")
    if shutil.which("scontrol"):
        try:
            out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                                 text=True, timeout=30, check=True).stdout.split()
            if out:
                return out[0]
        except (OSError, subprocess.SubprocessError):
            pass  # fall back to the parser
    # First top-level entry: up to the first comma outside brackets.
    depth = 0
    end = len(nodelist)
    for i, ch in enumerate(nodelist):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            end = i
            break
    entry = nodelist[:end]

    def first_of_group(match: "re.Match[str]") -> str:
        item = match.group(1).split(",")[0]
        return item.split("-")[0]

    host = re.sub(r"\[([^\]]*)\]", first_of_group, entry)
    if not host or "[" in host or "]" in host:
        raise DistributedSetupError(f"cannot parse Slurm node list {nodelist!r}")
    return host


def _detect_launch(env: Mapping[str, str]) -> Optional[Dict[str, Any]]:
    """How this process was started: None (single process) or a dict with launcher, rank,
    local_rank, world_size, master_addr, master_port (the last two None: use env://)."""
    if "RANK" in env and "WORLD_SIZE" in env:  # torchrun (or torch.distributed.launch)
        rank, world = _env_int(env, "RANK"), _env_int(env, "WORLD_SIZE")
        local = _env_int(env, "LOCAL_RANK") if "LOCAL_RANK" in env else rank
        if world <= 1:
            return None
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if not env.get(name):
                raise DistributedSetupError(
                    f"RANK/WORLD_SIZE are set but {name} is not (start with torchrun)")
        return dict(launcher="torchrun", rank=rank, local_rank=local, world_size=world,
                    master_addr=None, master_port=None)
    # srun with one task per process (no torchrun). Only inside a job step: the batch
    # script itself also has SLURM_PROCID=0 and SLURM_NTASKS, and is a single process.
    step = env.get("SLURM_STEP_ID", env.get("SLURM_STEPID", ""))
    if "SLURM_PROCID" in env and step.isdigit() and int(step) < _SLURM_SPECIAL_STEP:
        name = "SLURM_STEP_NUM_TASKS" if "SLURM_STEP_NUM_TASKS" in env else "SLURM_NTASKS"
        world = _env_int(env, name) if name in env else 1
        if world <= 1:
            return None
        rank = _env_int(env, "SLURM_PROCID")
        local = _env_int(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0
        nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        addr = env.get("MASTER_ADDR") or first_host(nodes or "")
        if env.get("MASTER_PORT"):
            port = _env_int(env, "MASTER_PORT")
        else:  # a port per job, so that two jobs sharing a node do not collide
            job = env.get("SLURM_JOB_ID", "")
            port = DEFAULT_SLURM_MASTER_PORT + (int(job) % 10000 if job.isdigit() else 0)
        return dict(launcher="slurm", rank=rank, local_rank=local, world_size=world,
                    master_addr=addr, master_port=port)
    return None


def init_distributed(ngpu: int, *, backend: Optional[str] = None,
                     timeout: Optional[timedelta] = None,
                     env: Optional[Mapping[str, str]] = None) -> DistContext:
    """Set up this process for (possibly) data-parallel training and return its context.

    - Started by ``torchrun`` (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR/PORT``;
      world size > 1): initialises the default process group (``env://``).
    - Else started by ``srun`` with several tasks (``SLURM_PROCID``, ``SLURM_LOCALID``,
      ``SLURM_STEP_NUM_TASKS``/``SLURM_NTASKS``, inside a job step): rendezvous at
      ``MASTER_ADDR`` (default: first host of the node list) and ``MASTER_PORT`` (default
      29500 + job id mod 10000) over ``tcp://``.
    - Else: single process, no process group.

    Backend: ``nccl`` with one GPU per rank (``cuda:<local_rank>``) when ``ngpu > 0`` and CUDA
    is available, ``gloo`` on CPU when ``ngpu == 0``; ``backend`` overrides the choice.
    Single process: device ``cuda:0`` when ``ngpu > 0``, else CPU. ``ngpu > 0`` without
    CUDA, or a local rank without its GPU, raises :class:`DistributedSetupError`.
    If a default process group already exists, its rank and size are used as they are.
    """
    if ngpu < 0:
        raise DistributedSetupError(f"ngpu must be >= 0, got {ngpu}")
    env = os.environ if env is None else env
    if ngpu > 0 and not torch.cuda.is_available():
        raise DistributedSetupError(f"--ngpu {ngpu} but CUDA is not available here (use --ngpu 0 for CPU)")

    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(env.get("LOCAL_RANK", env.get("SLURM_LOCALID", rank)))
        device = torch.device("cuda", local) if ngpu > 0 else torch.device("cpu")
        return DistContext(rank, local, world, device, dist.get_backend())

    launch = _detect_launch(env)
    if launch is None:
        if ngpu > 1:
            logger.warning("--ngpu %d but this is a single process: using one GPU "
                           "(start with torchrun, see s5tse.train.launch)", ngpu)
        device = torch.device("cuda", 0) if ngpu > 0 else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return DistContext(0, 0, 1, device, None)

    if not dist.is_available():
        raise DistributedSetupError("torch.distributed is not available in this PyTorch build")
    rank, local, world = launch["rank"], launch["local_rank"], launch["world_size"]
    if not 0 <= rank < world:
        raise DistributedSetupError(f"rank {rank} outside world size {world}")
    if ngpu > 0:
        if local >= torch.cuda.device_count():
            raise DistributedSetupError(
                f"local rank {local} needs GPU {local} but only {torch.cuda.device_count()} "
                f"CUDA device(s) are visible (start at most --ngpu processes per node)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    kwargs: Dict[str, Any] = dict(backend=backend, rank=rank, world_size=world)
    if timeout is not None:
        kwargs["timeout"] = timeout
    if launch["master_addr"] is None:
        kwargs["init_method"] = "env://"
        where = f"{env.get('MASTER_ADDR')}:{env.get('MASTER_PORT')}"
    else:
        addr = launch["master_addr"]
        where = f"{addr}:{launch['master_port']}"
        kwargs["init_method"] = f"tcp://[{addr}]:{launch['master_port']}" if ":" in addr else f"tcp://{where}"
    logger.info("rank %d/%d (local %d): %s process group via %s at %s on %s",
                rank, world, local, backend, launch["launcher"], where, device)
    dist.init_process_group(**kwargs)
    return DistContext(rank, local, world, device, backend)


def cleanup(ctx: DistContext) -> None:
    """Destroy the default process group if there is one (call once at the end).

    All ranks meet at a barrier first, so none tears gloo/NCCL down while another still has
    a collective in flight (a teardown race aborts a rank with "terminate called ...").
    """
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- batches
def per_rank_batch_size(global_batch_size: int, world_size: int) -> int:
    """The per-rank batch size for a GLOBAL batch size (an error unless it divides)."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if global_batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {global_batch_size}")
    if global_batch_size % world_size:
        raise ValueError(f"the global batch size {global_batch_size} is not divisible by the number of "
                         f"processes {world_size}; use a multiple of {world_size}")
    return global_batch_size // world_size


class ShardedSampler:
    """A batch sampler (yields lists of dataset indices) shared out over ranks.

    Args:
        num_items: dataset length.
        batch_size: the PER-RANK batch size (see :func:`per_rank_batch_size`).
        rank, world_size: this process and the number of processes.
        seed: the order of epoch ``e`` is a permutation drawn from ``(seed, e)`` only
            (numpy ``SeedSequence`` -> PCG64), identical on all ranks and for any world size.
        shuffle: False keeps the dataset order ``0..num_items-1``.
        drop_last: True (training): only full global batches, every rank yields the same
            number of batches of exactly ``batch_size`` items. False: the final partial
            global batch (``n < batch_size * world_size`` items) is split into contiguous
            slices whose sizes differ by at most one, in rank order; a rank whose slice would
            be empty yields one batch fewer. Use False only where ranks need not step in
            lockstep (evaluation without DDP collectives; sum statistics, then all-reduce).

    Global batch ``b`` is positions ``[b*G, (b+1)*G)`` of the epoch's order, with
    ``G = batch_size * world_size``; rank ``r`` yields positions ``[r*batch_size,
    (r+1)*batch_size)`` of it, so the ranks' batches concatenated in rank order equal the
    one-process sampler's batch ``b`` with ``batch_size * world_size``.

    ``set_epoch(e)`` selects the epoch and resets the start to 0; ``set_start(k)`` (after
    ``set_epoch``) skips the first ``k`` global batches of that epoch, for resuming in the
    middle of an epoch. Both must be called before the ``DataLoader`` iterator is created.
    ``len()`` is the number of batches this rank yields for the current epoch and start.
    """

    def __init__(self, num_items: int, *, batch_size: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True, drop_last: bool = True) -> None:
        if num_items < 0:
            raise ValueError(f"num_items must be >= 0, got {num_items}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {world_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self.start = 0

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    @property
    def num_global_batches(self) -> int:
        """Global batches per epoch (before ``set_start``)."""
        g = self.global_batch_size
        return self.num_items // g if self.drop_last else -(-self.num_items // g)

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)
        self.start = 0

    def set_start(self, batch_index: int) -> None:
        """Skip the first ``batch_index`` global batches of the current epoch."""
        if batch_index < 0:
            raise ValueError(f"batch_index must be >= 0, got {batch_index}")
        self.start = int(batch_index)

    def order(self, epoch: Optional[int] = None) -> np.ndarray:
        """The epoch's item order (int64 array of length ``num_items``)."""
        epoch = self.epoch if epoch is None else epoch
        if not self.shuffle:
            return np.arange(self.num_items, dtype=np.int64)
        seq = np.random.SeedSequence([self.seed, epoch], spawn_key=(_SAMPLER_STREAM,))
        return np.random.Generator(np.random.PCG64(seq)).permutation(self.num_items).astype(np.int64)

    def _slice(self, n: int) -> Tuple[int, int]:
        """This rank's [begin, end) inside a global batch of n items."""
        if n == self.global_batch_size:
            return self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        base, extra = divmod(n, self.world_size)
        begin = self.rank * base + min(self.rank, extra)
        return begin, begin + base + (1 if self.rank < extra else 0)

    def __iter__(self) -> Iterator[List[int]]:
        order = self.order()
        g = self.global_batch_size
        for b in range(self.start, self.num_global_batches):
            chunk = order[b * g:(b + 1) * g]
            begin, end = self._slice(len(chunk))
            if end > begin:
                yield chunk[begin:end].tolist()

    def __len__(self) -> int:
        full = self.num_items // self.global_batch_size
        n = max(0, full - self.start)
        rest = self.num_items - full * self.global_batch_size
        if not self.drop_last and rest and self.start <= full:
            begin, end = self._slice(rest)
            n += int(end > begin)
        return n

    def __repr__(self) -> str:
        return (f"ShardedSampler(num_items={self.num_items}, batch_size={self.batch_size}, rank={self.rank}, "
                f"world_size={self.world_size}, seed={self.seed}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, epoch={self.epoch}, start={self.start})")


def rank_seed(seed: int, rank: int) -> int:
    """The seed for rank ``rank``'s model-side random generators (dropout, masking).

    ``rank_seed(seed, 0) == seed`` (a single-process run keeps its seed); other ranks get a
    value in ``[0, 2**31)`` derived from ``(seed, rank)`` with numpy's ``SeedSequence``, so
    ranks draw different dropout masks and ``(seed, rank)`` pairs do not alias as
    ``seed + rank`` would. Data needs no per-rank seed when items are a pure function of
    ``(seed, epoch, index)`` (the sampler hands each index to exactly one rank).
    """
    if seed < 0 or rank < 0:
        raise ValueError(f"seed and rank must be >= 0, got seed={seed} rank={rank}")
    if rank == 0:
        return int(seed)
    seq = np.random.SeedSequence(int(seed), spawn_key=(_RANK_STREAM, int(rank)))
    return int(seq.generate_state(1, np.uint32)[0] & 0x7FFF_FFFF)


# ----------------------------------------------------------------------------- models
def wrap_model(model: nn.Module, ctx: DistContext, *, sync_batchnorm: bool = False,
               find_unused_parameters: bool = False) -> nn.Module:
    """DDP-wrap ``model`` when ``ctx.enabled`` (moving it to ``ctx.device`` first), else
    return it unchanged. ``sync_batchnorm`` converts BatchNorm layers to SyncBatchNorm
    (statistics over the global batch; needs CUDA/NCCL). Build the optimizer from
    ``unwrap_model(model).parameters()`` (same tensors) and save ``unwrap_model(model)``'s
    state dict so checkpoints have no ``module.`` prefix."""
    if not ctx.enabled:
        return model
    if sync_batchnorm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(ctx.device)
    if ctx.device.type == "cuda":
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index], output_device=ctx.device.index,
            find_unused_parameters=find_unused_parameters)
    return nn.parallel.DistributedDataParallel(model, find_unused_parameters=find_unused_parameters)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The underlying module of a DDP/DataParallel wrapper (``model`` itself otherwise)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


# ----------------------------------------------------------------------------- collectives
def all_reduce_mean(value: Union[torch.Tensor, float], ctx: DistContext) -> Union[torch.Tensor, float]:
    """The mean of ``value`` over ranks (a tensor is averaged elementwise), of the same type:
    a float gives a float, a tensor a new detached tensor on the input's device (integer
    tensors come back as float64). Identity when ``ctx`` is not enabled. Every rank must
    call it (a collective)."""
    if not ctx.enabled:
        return value
    if isinstance(value, torch.Tensor):
        src = value.detach()
        dtype = src.dtype if src.is_floating_point() else torch.float64
        t = src.to(device=ctx.device, dtype=dtype).clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= ctx.world_size
        return t.to(src.device)
    t = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / ctx.world_size


def broadcast_object(obj: Any, ctx: DistContext, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (any picklable object); identity when not
    enabled. Every rank must call it."""
    if not ctx.enabled:
        return obj
    box = [obj if ctx.rank == src else None]
    device = ctx.device if ctx.device.type == "cuda" else None
    dist.broadcast_object_list(box, src=src, device=device)
    return box[0]


def barrier(ctx: DistContext) -> None:
    """Wait until every rank gets here (no-op when not enabled)."""
    if not ctx.enabled:
        return
    if ctx.backend == "nccl" and ctx.device.type == "cuda":
        dist.barrier(device_ids=[ctx.device.index])
    else:
        dist.barrier()
