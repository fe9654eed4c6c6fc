#!/usr/bin/env python3
"""The launcher prefix that run.sh puts in front of ``python -m s5tse.bin.train ...``.

Usage (run.sh, training stage)::

    eval "train_launcher=( $(${python} -m s5tse.train.launch --ngpu "${ngpu}" \\
        --num_nodes "${num_nodes}" --cmd_backend "${cmd_backend}" --python "${python}") )"
    ${cuda_cmd} --gpu "${ngpu}" --num_nodes "${num_nodes}" "${exp}/train.log" \\
        "${train_launcher[@]}" ${python} -m s5tse.bin.train --ngpu "${ngpu}" ...

The printed prefix is shell-quoted words (one line; empty for a single process). Its words
are plain (no spaces, quotes or ``$``) unless ``--python`` or a path has such characters,
so ``${train_launcher}`` unquoted also works; the ``eval``/array form is exact in all cases.

=================  ===========================  ============================================
ngpu, num_nodes    cmd_backend                  prefix
=================  ===========================  ============================================
<=1, 1             any                          (none: one process, ``cuda:0`` or CPU)
N>1, 1             any                          ``torchrun --standalone --nproc-per-node N
                                                --no-python``
N, M>1             slurm (utils/slurm.pl)       ``python -m s5tse.train.launch slurm-torchrun
                                                --nnodes M --nproc_per_node max(N,1)
                                                --rdzv_port 29400 --``
N, M>1             local (utils/run.pl)         error: run.pl cannot start jobs on other
                                                nodes; use --cmd_backend slurm
=================  ===========================  ============================================

``--no-python``: torchrun's positional argument is a script, not a command; with
``--no-python`` it executes the given command (``python -m s5tse.bin.train ...``) as is.

Multi-node design. ``slurm.pl --gpu N --num_nodes M`` submits one batch script on an
allocation of M nodes (``--nodes M --gres=gpu:N -c N``, conf/slurm.conf). run.pl and
slurm.pl single-quote every argument with shell-special characters, so a prefix with
``$(scontrol show hostnames ...)`` or ``$SLURM_JOB_ID`` would reach srun literally. Instead
the prefix is this module's ``slurm-torchrun`` mode, run by the batch script on the first
node; it reads the allocation from the environment and replaces itself (exec) with::

    srun --export=ALL --nodes M --ntasks M --ntasks-per-node=1 [--cpus-per-task C] \\
        --kill-on-bad-exit=1 <this python> -m torch.distributed.run --nnodes M \\
        --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint <first host>:29400 \\
        --rdzv-id <SLURM_JOB_ID> --no-python python -m s5tse.bin.train ...

- first host: ``scontrol show hostnames $SLURM_JOB_NODELIST`` (or a built-in parser of the
  hostlist syntax when scontrol is missing); job id: ``SLURM_JOB_ID``;
- ``--export=ALL``: conf/slurm.conf submits with ``sbatch --export=PATH``, which srun would
  otherwise inherit (``SLURM_EXPORT_ENV``) and drop the environment set up by path.sh;
- ``--cpus-per-task C`` (``SLURM_CPUS_PER_TASK``): srun no longer inherits it from sbatch
  (Slurm >= 22.05), which would confine the N ranks of a node to one CPU;
- one torchrun agent per node starts N workers (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
  ``MASTER_ADDR/PORT``), which :func:`s5tse.train.distributed.init_distributed` reads.
Nothing depends on shell expansion, so the same words work through run.pl, slurm.pl and
a plain shell; ``slurm-torchrun --dry_run`` prints the resolved command instead.
Two multi-node jobs whose first node is the same need different ``--rdzv_port`` values.

Errors: ``launch: error: <message>`` on stderr, exit status 1.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import List, Mapping, NoReturn, Optional, Sequence

PROG = "launch"
MODULE = "s5tse.train.launch"
SLURM_MODE = "slurm-torchrun"
DEFAULT_RDZV_PORT = 29400
BACKENDS = ("local", "slurm")

__all__ = ["LaunchError", "launcher_command", "slurm_torchrun_command", "main"]


class LaunchError(ValueError):
    """A launch configuration that cannot work (one-line message for the user)."""


def launcher_command(ngpu: int, num_nodes: int, cmd_backend: str, *, rdzv_port: int = DEFAULT_RDZV_PORT,
                     python: str = "python") -> List[str]:
    """The words run.sh puts before ``python -m s5tse.bin.train ...`` (see the module doc).

    ``python`` is the interpreter command of the multi-node wrapper (run.sh's ``${python}``;
    split into words with shell syntax). Raises :class:`LaunchError` for impossible
    combinations (several nodes with run.pl) and bad values.
    """
    if ngpu < 0:
        raise LaunchError(f"--ngpu must be >= 0, got {ngpu}")
    if num_nodes < 1:
        raise LaunchError(f"--num_nodes must be >= 1, got {num_nodes}")
    if cmd_backend not in BACKENDS:
        raise LaunchError(f"unknown --cmd_backend {cmd_backend!r} (expected {' or '.join(BACKENDS)})")
    if not 0 < rdzv_port < 65536:
        raise LaunchError(f"--rdzv_port must be in 1..65535, got {rdzv_port}")
    if num_nodes == 1:
        if ngpu <= 1:
            return []
        return ["torchrun", "--standalone", "--nproc-per-node", str(ngpu), "--no-python"]
    if cmd_backend != "slurm":
        raise LaunchError("run.pl cannot start jobs on other nodes; use --cmd_backend slurm")
    py = shlex.split(python)
    if not py:
        raise LaunchError("--python is empty")
    return [*py, "-m", MODULE, SLURM_MODE, "--nnodes", str(num_nodes), "--nproc_per_node", str(max(ngpu, 1)),
            "--rdzv_port", str(rdzv_port), "--"]


def slurm_torchrun_command(command: Sequence[str], *, nnodes: int, nproc_per_node: int,
                           rdzv_port: int = DEFAULT_RDZV_PORT, env: Optional[Mapping[str, str]] = None,
                           python: Optional[str] = None) -> List[str]:
    """The ``srun ... torch.distributed.run ... <command>`` of the multi-node mode, resolved
    from the Slurm allocation in ``env`` (``SLURM_JOB_ID``, ``SLURM_JOB_NODELIST``,
    ``SLURM_JOB_NUM_NODES``, ``SLURM_CPUS_PER_TASK``). ``python`` runs torch's launcher
    (default: this interpreter)."""
    from s5tse.train.distributed import DistributedSetupError, first_host

    env = os.environ if env is None else env
    if not command:
        raise LaunchError(f"{SLURM_MODE}: no command given after '--'")
    if nnodes < 1 or nproc_per_node < 1:
        raise LaunchError(f"{SLURM_MODE}: --nnodes and --nproc_per_node must be >= 1")
    job = env.get("SLURM_JOB_ID", "")
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""
    if not job or not nodelist:
        raise LaunchError(f"{SLURM_MODE} must run inside a Slurm job (SLURM_JOB_ID and SLURM_JOB_NODELIST "
                          "are not set); use --cmd_backend slurm")
    have = env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or ""
    if have.isdigit() and int(have) < nnodes:
        raise LaunchError(f"the Slurm job has {have} node(s) but {nnodes} are needed "
                          f"(submit with slurm.pl --num_nodes {nnodes})")
    try:
        host = first_host(nodelist)
    except DistributedSetupError as exc:
        raise LaunchError(str(exc)) from None
    srun = ["srun", "--export=ALL", "--nodes", str(nnodes), "--ntasks", str(nnodes), "--ntasks-per-node=1"]
    cpus = env.get("SLURM_CPUS_PER_TASK", "")
    if cpus.isdigit():
        srun.append(f"--cpus-per-task={cpus}")
    srun.append("--kill-on-bad-exit=1")
    torchrun = [python or sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nnodes),
                "--nproc-per-node", str(nproc_per_node), "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"{host}:{rdzv_port}", "--rdzv-id", job, "--no-python"]
    return [*srun, *torchrun, *command]


# ----------------------------------------------------------------------------- CLI
def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(1)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit status 1
        _fail(message)


def _prefix_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"python -m {MODULE}", description=(
        "Print the launcher prefix for python -m s5tse.bin.train (shell-quoted words, one line, empty for "
        f"one process). The multi-node mode '{SLURM_MODE}' is described with: {SLURM_MODE} --help."),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ngpu", type=int, required=True, help="GPUs per node (0: CPU)")
    p.add_argument("--num_nodes", type=int, default=1, help="number of nodes")
    p.add_argument("--cmd_backend", default="local", help="local (utils/run.pl) or slurm (utils/slurm.pl)")
    p.add_argument("--rdzv_port", type=int, default=DEFAULT_RDZV_PORT, help="multi-node rendezvous port")
    p.add_argument("--python", default="python", help="interpreter command of the multi-node wrapper")
    return p


def _slurm_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"python -m {MODULE} {SLURM_MODE}", description=(
        "Inside a Slurm batch job on M nodes: exec srun (one task per node) running torchrun with a c10d "
        "rendezvous on the job's first node, which starts the command on every node. "
        "Usage: ... -- <command> [<arg> ...]"), formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--nnodes", type=int, required=True, help="number of nodes")
    p.add_argument("--nproc_per_node", type=int, required=True, help="processes (GPUs) per node")
    p.add_argument("--rdzv_port", type=int, default=DEFAULT_RDZV_PORT,
                   help="rendezvous port on the first node")
    p.add_argument("--dry_run", action="store_true", help="print the command instead of running it")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == [SLURM_MODE]:
        rest = args_in[1:]
        if "--" in rest:
            i = rest.index("--")
            opts, command = rest[:i], rest[i + 1:]
        else:
            opts, command = rest, []
        args = _slurm_parser().parse_args(opts)
        try:
            cmd = slurm_torchrun_command(command, nnodes=args.nnodes, nproc_per_node=args.nproc_per_node,
                                         rdzv_port=args.rdzv_port)
        except LaunchError as exc:
            _fail(str(exc))
        if args.dry_run:
            print(shlex.join(cmd))
            return 0
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvp(cmd[0], cmd)
        except OSError as exc:
            _fail(f"cannot run {cmd[0]}: {exc}")
    args = _prefix_parser().parse_args(args_in)
    try:
        prefix = launcher_command(args.ngpu, args.num_nodes, args.cmd_backend, rdzv_port=args.rdzv_port,
                                  python=args.python)
    except LaunchError as exc:
        _fail(str(exc))
    print(shlex.join(prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
