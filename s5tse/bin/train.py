#!/usr/bin/env python3
"""Train a model of a task (tagger, separator, toy) from a YAML config.

Usage:

    # train (run.sh stage 3/4 runs this); re-running the same command resumes
    python -m s5tse.bin.train --task separator \
        --config conf/tuning/train_separator_resunet.yaml \
        --train_data data/train --valid_data data/valid --classes data/lang/classes.txt \
        --output_dir exp/separator_train_separator_resunet --ngpu 1

    # override any config key with --dotted.key VALUE (the exp dir stays explicit)
    python -m s5tse.bin.train --task separator --config conf/train.yaml \
        --optim_conf.lr 5.0e-4 --model_conf.num_blocks 4 --max_epochs 50 \
        --train_data data/train --valid_data data/valid --output_dir exp/sep_lr5e-4

    # 4 GPUs on one node (global batch = batch_size, shared out over the ranks)
    torchrun --standalone --nproc-per-node 4 --no-python \
        python -m s5tse.bin.train --ngpu 4 --task tagger --config conf/train_tagger.yaml \
        --train_data data/train --valid_data data/valid --output_dir exp/tagger

    # the full resolved config (defaults of the chosen classes included), then exit
    python -m s5tse.bin.train --task tagger --config conf/train_tagger.yaml --print_config

    # build model, optimizer, scheduler (and datasets) and print parameter counts
    python -m s5tse.bin.train --config conf/tuning/train_tagger_m2d_head.yaml --dry_run

    # the engine's self-test: a tiny model on synthetic data, CPU, a few seconds
    python -m s5tse.bin.train --task toy --output_dir /tmp/toy --max_epochs 3 \
        --iters_per_epoch 50 --batch_size 8 --optim_conf.lr 1.0e-2 --num_workers 0

The task is ``--task NAME`` or the ``task:`` key of the (last) config file. Config keys:
``--print_config``; precedence: defaults < ``--config`` files (in order) < ``--key value``.
Outputs in ``--output_dir`` (ESPnet names): ``config.yaml``, ``train.log``,
``checkpoint.pth`` (+ ``checkpoint.prev.pth``), ``{N}epoch.pth``, ``latest.pth``,
``valid.<key>.best.pth``, ``valid.<key>.ave_<k>best.pth``, ``valid.<key>.ave.pth``,
``tensorboard/{train,valid}``.

Resume: with ``--resume true`` (default) a re-run continues from ``checkpoint.pth``
(exactly: same final weights as an uninterrupted run on CPU). A resolved config that
differs from the saved ``config.yaml`` is refused (the error names the keys) unless
``--allow_config_change true``; ``num_workers`` and ``log_interval`` may always change.
``--resume false`` on a folder that holds a run (``checkpoint.pth``) is refused unless
``--overwrite true``, which first removes that run's weight files and TensorBoard logs (so old
and new checkpoints never mix). ``config.yaml`` is written once the model and the data have
been built, so a run that fails on bad inputs leaves none behind. Temporary files of a write
that was killed half-way (``.<name>.<random>.tmp<suffix>``) are removed at start.

Exit status: 0 done, 1 training error (one ``train: error:`` line, details in train.log),
2 usage/config error.
"""
from __future__ import annotations

import argparse
import os
import logging
import shutil
import sys
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

PROG = "train"
log = logging.getLogger(PROG)


def _peek_task(argv: Sequence[str]) -> Optional[str]:
    """The task named by ``--task X`` or, failing that, by the last config file's ``task:``."""
    from s5tse.utils.config import ConfigError, read_config_file

    task, configs = None, []
    i = 0
    while i < len(argv):
        token = argv[i]
        for name in ("--task", "--config"):
            if token == name and i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
            elif token.startswith(name + "="):
                value = token.split("=", 1)[1]
            else:
                continue
            if name == "--task":
                task = value
            else:
                configs.append(value)
            break
        i += 1
    if task is not None:
        return task
    for path in configs:
        data = read_config_file(path)
        if data.get("task") is not None:
            if not isinstance(data["task"], str):
                raise ConfigError(f"{path}: 'task' must be a name, got {data['task']!r}")
            task = data["task"]
    return task


def get_parser(defaults: Optional[dict] = None) -> argparse.ArgumentParser:
    """The CLI parser; ``defaults`` is the task's config schema (generic loop keys if None)."""
    from s5tse.tasks import TASK_NAMES
    from s5tse.train.options import TRAIN_DEFAULTS
    from s5tse.utils.config import ConfigArgumentParser
    from s5tse.utils.types import str2bool

    parser = ConfigArgumentParser(
        dict(TRAIN_DEFAULTS) if defaults is None else defaults,
        prog=PROG,
        description=f"Train a model. Task: --task {{{','.join(TASK_NAMES)}}} or 'task:' in the "
        "config. See the module docstring (python -m pydoc s5tse.bin.train) for examples.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--train_data", default=None, help="training data dir (task-specific)")
    parser.add_argument("--valid_data", default=None, help="validation data dir (task-specific)")
    parser.add_argument("--output_dir", default=None, help="experiment dir (required to train)")
    parser.add_argument("--ngpu", type=int, default=0, help="GPUs per node (0: CPU)")
    parser.add_argument("--resume", type=str2bool, default=True,
                        help="continue from output_dir/checkpoint.pth if present")
    parser.add_argument("--overwrite", type=str2bool, default=False,
                        help="with --resume false: remove the run already in output_dir first")
    parser.add_argument("--allow_config_change", type=str2bool, default=False,
                        help="resume even if the config differs from output_dir/config.yaml")
    parser.add_argument("--dry_run", type=str2bool, nargs="?", const=True, default=False,
                        help="build everything, print parameter counts and exit")
    parser.add_argument("--log_level", default="INFO", help="DEBUG, INFO, WARNING, ...")
    return parser


def parse(argv: Sequence[str]) -> Tuple[argparse.Namespace, dict, Any]:
    """argv -> ``(args, resolved config, task)``; usage errors exit with status 2."""
    from s5tse.tasks import TASK_NAMES, get_task
    from s5tse.utils.config import ConfigError, load_config

    bootstrap = get_parser()
    try:
        name = _peek_task(argv)
    except ConfigError as exc:
        bootstrap.error(str(exc))
    if name is None:
        if "-h" in argv or "--help" in argv:
            bootstrap.parse_args(["--help"])
        bootstrap.error(f"no task: pass --task {{{','.join(TASK_NAMES)}}} or set 'task:' in the config")
    try:
        task = get_task(name)
    except ConfigError as exc:
        bootstrap.error(str(exc))
    parser = get_parser(task.defaults())
    tool_argv, overrides = parser.split_argv(list(argv))
    args = parser.parse_args(tool_argv)
    try:
        config = load_config(parser.config_defaults, args.config, overrides)
        config = task.resolve_config(config)
    except ConfigError as exc:
        parser.error(str(exc))
    return args, config, task


def check_saved_config(output_dir: Path, config: dict, allow_change: bool, is_main: bool = True) -> None:
    """Refuse (ConfigError) a config differing from ``output_dir/config.yaml`` unless allowed.

    Allowed changes are logged and the old file is kept as ``config.prev.yaml`` (main rank).
    """
    from s5tse.train.checkpoint import CONFIG, diff_configs
    from s5tse.utils.config import ConfigError
    from s5tse.utils.yaml_io import load_yaml

    path = output_dir / CONFIG
    if not path.exists():
        return
    saved = load_yaml(path) or {}
    keys = diff_configs(saved, config)
    if not keys:
        return
    named = ", ".join(keys[:10]) + (f" (+{len(keys) - 10} more)" if len(keys) > 10 else "")
    if not allow_change:
        raise ConfigError(
            f"{path} differs from the resolved config in: {named}; pass "
            "--allow_config_change true to resume with the new config, or use another --output_dir"
        )
    if is_main:
        shutil.copyfile(path, output_dir / "config.prev.yaml")
    log.warning("config changed (%s); the old one is kept as config.prev.yaml", named)


def without_missing_weights(config: dict) -> dict:
    """For ``--dry_run``: ``model_conf`` weight files that are not here (published weights not
    downloaded yet, a previous step not run) are dropped with a warning naming each, so the
    model is built with random weights and the config can be checked before any download."""
    from s5tse.tasks.abs_task import INIT_FILE_KEYS

    conf = dict(config.get("model_conf") or {})
    missing = {k: v for k, v in conf.items()
               if k in INIT_FILE_KEYS and v and not os.path.isfile(str(v))}
    for key, path in missing.items():
        log.warning("dry run: model_conf.%s: %s is not here; building with random weights",
                    key, path)
        conf[key] = None
    return dict(config, model_conf=conf) if missing else config


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point (see the module docstring). Raises SystemExit on errors."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, config, task = parse(argv)

    from s5tse.utils.config import ConfigError, dump_config, save_config

    if args.print_config:
        sys.stdout.write(dump_config(config))
        return
    if not args.dry_run and not args.output_dir:
        get_parser().error("--output_dir is required (except with --print_config / --dry_run)")
    if not args.dry_run and task.requires_data and not (args.train_data and args.valid_data):
        get_parser().error(f"task '{task.name}' needs --train_data and --valid_data")

    import torch

    from s5tse.fileio.atomic import stale_temporaries
    from s5tse.train.checkpoint import CONFIG, CheckpointError, remove_run
    from s5tse.train.distributed import DistContext, DistributedSetupError, cleanup, init_distributed
    from s5tse.train.trainer import Trainer, TrainingError, build_components, describe_components
    from s5tse.utils.env_info import collect_env_info, format_env_info
    from s5tse.utils.logging import get_commandline_args, setup_logging

    if args.dry_run:
        setup_logging(args.log_level)
        config = without_missing_weights(config)
        build_data = bool(args.train_data) or not task.requires_data
        try:
            comp = build_components(task, config, "cpu", args.train_data, args.valid_data, build_data,
                                    wrap_data=False)
        except ConfigError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        print(describe_components(task, config, comp))
        if not build_data:
            print("datasets: not built (no --train_data/--valid_data)")
        print("dry run: nothing trained")
        return

    output_dir = Path(args.output_dir)
    if not args.resume and (output_dir / "checkpoint.pth").exists() and not args.overwrite:
        print(f"{PROG}: error: {output_dir} holds a training run (checkpoint.pth); --resume false "
              "would mix its checkpoints with the new run's: pass --overwrite true to remove "
              "them first, or choose another --output_dir", file=sys.stderr)
        raise SystemExit(2)
    ctx = DistContext()
    log_file = output_dir / "train.log"
    try:
        ctx = init_distributed(args.ngpu)
        setup_logging(args.log_level, log_file=log_file, rank=ctx.rank)
        log.info(get_commandline_args())
        if ctx.is_main:
            for line in format_env_info(collect_env_info()).splitlines():
                log.info("%s", line)
        torch.backends.cudnn.deterministic = config["cudnn_deterministic"]
        torch.backends.cudnn.benchmark = config["cudnn_benchmark"]
        if ctx.is_main:
            for tmp in stale_temporaries(output_dir):
                log.warning("removing %s: the temporary file of a write that was killed", tmp)
                tmp.unlink()
        if args.resume:
            check_saved_config(output_dir, config, args.allow_config_change, ctx.is_main)
        elif (output_dir / "checkpoint.pth").exists() and ctx.is_main:  # --overwrite true
            removed = remove_run(output_dir)
            log.warning("--resume false --overwrite true: removed the earlier run's %d file(s) "
                        "from %s", removed, output_dir)
        log.info("experiment dir: %s (world size %d, device %s)", output_dir, ctx.world_size, ctx.device)
        comp = build_components(task, config, ctx.device, args.train_data, args.valid_data)
        if ctx.is_main:  # only now that the model and the data are built
            save_config(config, output_dir / CONFIG)
        for line in describe_components(task, config, comp).splitlines():
            log.info("%s", line)
        log.debug("model:\n%s", comp.model)
        trainer = Trainer(task, config, comp, output_dir, ctx)
        if args.resume:
            trainer.resume(allow_config_change=args.allow_config_change)
        trainer.run()
    except ConfigError as exc:
        log.error("%s", exc)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except (TrainingError, CheckpointError, DistributedSetupError) as exc:
        log.error("%s", exc)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        cleanup(ctx)
        setup_logging(args.log_level, rank=ctx.rank)  # closes train.log


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
