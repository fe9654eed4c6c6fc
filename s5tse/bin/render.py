#!/usr/bin/env python3
"""Render scene metadata (official per-mixture JSONs) into 4-ch FOA mixtures and oracle targets.

Usage:

    # the validation scenes of the recipe (data/valid: metadata.scp + scene_root)
    python -m s5tse.bin.render --data_dir data/valid --out_dir dump/valid --nj 8

    # official JSONs whose paths start at the dataset root: a list, one JSON or a folder
    python -m s5tse.bin.render --scene_root /corpora/DCASE2026Task4Dataset \
        --metadata /corpora/DCASE2026Task4Dataset/data/dev_set/metadata/valid.json --out_dir OUT
    python -m s5tse.bin.render --scene_root ROOT --metadata scenes/ --out_dir OUT --subtype PCM_16

    # generate 500 scenes from the valid pools of data/ (seeded, the synthesis rules of
    # conf/synthesis.yaml), then render them; --metadata_only writes just the scene table
    python -m s5tse.bin.render --pools data --split valid --generate 500 --seed 0 \
        --synthesis conf/synthesis.yaml --id_prefix mix_ --out_dir dump/synth_valid

    # the K-th of N contiguous shards (for run.pl JOB=1:N)
    ${decode_cmd} JOB=1:8 OUT/log/render.JOB.log \
        python -m s5tse.bin.render --data_dir data/valid --out_dir OUT --shard JOB/8

Outputs (``<name>`` = the JSON file's stem, ``<n>`` = 0-based index of the event in
``fg_events``)::

    OUT/soundscape/<name>.wav                  [4, T] mixture, 32 kHz
    OUT/oracle_target/<name>_<n>_<label>.wav   mono dry reference of each target
    OUT/metadata/<id>.json, OUT/metadata.json  (--generate only; valid.json-style list)
    OUT/metadata.scp, OUT/text, OUT/scene_root (--generate only: a scene table dir, the
                                                data contract's valid/)

``--scene_root`` (also ``--dev_set_root``) is the folder the JSONs' relative paths start
from (the dataset root for official JSONs). Files are written atomically; a rerun skips
scenes whose outputs all exist and were rendered from the same inputs, and says how many.
Each rendered scene leaves ``OUT/.fingerprints/<name>.sha256`` (sha256 of its metadata JSON,
the scene root and the sample format); a scene whose outputs exist but whose fingerprint
differs or is missing (its metadata changed) is refused, naming it, unless
``--overwrite true``, which renders it again. (Changed source audio files are not seen.) ``--nj N`` renders in N processes; the
files are byte-identical to ``--nj 1``. In ``--generate`` mode every shard writes the same
lists and the JSONs of its own scenes (a scene depends only on the pools, the rules,
``--seed`` and its id). On error ``render: error: ...`` goes to stderr and the exit
status is 1.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from s5tse.fileio.json_file import read_json
from s5tse.simulate.generator import GeneratorConfig
from s5tse.utils.progress import progress_bar
from s5tse.utils.types import str2bool

PROG = "render"
SUBTYPES = ("FLOAT", "PCM_16", "PCM_24", "PCM_32")


class RenderCliError(ValueError):
    """A usage or input problem; the message is one line."""


def get_parser() -> argparse.ArgumentParser:
    from s5tse.utils.progress import add_progress_argument

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Render scene metadata (official per-mixture JSON) into FOA mixtures "
        "and oracle targets.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--scene_root", "--dev_set_root",
        default=None,
        help="the folder the JSONs' relative paths start from (the dataset root for "
             "official JSONs); with --metadata",
    )
    parser.add_argument(
        "--data_dir",
        default=None,
        help="a scene table dir (metadata.scp + scene_root, e.g. data/valid) instead of "
             "--scene_root/--metadata",
    )
    parser.add_argument(
        "--metadata",
        default=None,
        help="valid.json-style list, a single per-mixture JSON, or a folder of JSONs",
    )
    parser.add_argument("--out_dir", required=True, help="output folder")
    parser.add_argument("--nj", type=int, default=1, help="number of worker processes")
    parser.add_argument(
        "--subtype",
        default="FLOAT",
        choices=SUBTYPES,
        help="WAV sample format (official test files are PCM_16)",
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="render only the K-th (1-based) of N contiguous shards",
    )
    gen = parser.add_argument_group("generation (instead of --metadata)")
    gen.add_argument(
        "--generate",
        type=int,
        default=None,
        metavar="N",
        help="generate N scenes with the official generator, then render them",
    )
    gen.add_argument("--pools", default=None,
                     help="the recipe's data/ dir whose <pool>_<split> tables to draw from")
    gen.add_argument("--split", default="train", help="pool split: train, valid, ...")
    gen.add_argument("--seed", type=int, default=0, help="global seed of the generated scenes")
    gen.add_argument(
        "--id_prefix", default="mix_", help="scene ids are <id_prefix><zero-padded index>"
    )
    gen.add_argument("--synthesis", default=None,
                     help="synthesis rules YAML (conf/synthesis.yaml; default: the official "
                          "2026 rules)")
    gen.add_argument(
        "--nevent_range",
        default=None,
        metavar="LO,HI",
        help="number of targets per scene, over the rules (0,3 tagger / 1,3 separator)",
    )
    gen.add_argument(
        "--duration",
        type=float,
        default=None,
        help="scene length in seconds, over the rules (max_event_dur = min(10, duration))",
    )
    gen.add_argument("--metadata_only", action="store_true",
                     help="write the scenes and their tables, render nothing")
    parser.add_argument("--overwrite", type=str2bool, default=False,
                        help="re-render scenes whose outputs came from other inputs")
    add_progress_argument(parser)
    return parser


# ----------------------------------------------------------------------- helpers
def parse_shard(text: Optional[str]) -> Tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``1 <= K <= N``; None -> ``(1, 1)``."""
    if text is None:
        return 1, 1
    try:
        k_s, n_s = text.split("/")
        k, n = int(k_s), int(n_s)
    except ValueError:
        raise RenderCliError(f"--shard must be K/N (e.g. 3/8), got {text!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise RenderCliError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def shard_items(items: Sequence, k: int, n: int) -> List:
    """The K-th (1-based) of N contiguous parts (sizes differ by at most one, first larger).

    Same split as ``s5tse.fileio.split.split_sizes``; with more parts than items the
    last parts are empty.
    """
    base, extra = divmod(len(items), n)
    start = (k - 1) * base + min(k - 1, extra)
    size = base + (1 if k - 1 < extra else 0)
    return list(items[start : start + size])


def _parse_range(text: str) -> Tuple[int, int]:
    parts = text.replace(",", " ").split()
    try:
        lo, hi = (int(p) for p in parts)
    except ValueError:
        raise RenderCliError(f"--nevent_range must be LO,HI (e.g. 1,3), got {text!r}") from None
    return lo, hi


def collect_metadata(path: str) -> List[Path]:
    """JSON paths from a list file, a single scene JSON or a folder of ``*.json``."""
    from s5tse.simulate.scene import SceneError, load_metadata_list

    p = Path(path)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.suffix == ".json" and q.is_file())
        if not files:
            raise RenderCliError(f"{p}: no .json files in folder")
        return files
    if not p.is_file():
        raise RenderCliError(f"{p}: no such file or folder")
    content = read_json(p, error=RenderCliError)
    if isinstance(content, list):
        try:
            return load_metadata_list(p)
        except SceneError as e:
            raise RenderCliError(str(e)) from None
    return [p]


def output_paths(out_dir: Path, name: str, labels: Sequence[str]) -> List[Path]:
    """The files a scene produces: the soundscape, then one oracle target per label."""
    from s5tse.simulate.writer import scene_output_paths

    soundscape, refs = scene_output_paths(out_dir, name, labels)
    return [soundscape, *refs]


def fingerprint_path(out_dir: Path, name: str) -> Path:
    return Path(out_dir) / ".fingerprints" / f"{name}.sha256"


def scene_fingerprint(json_path: Union[str, Path], root: Union[str, Path], subtype: str) -> str:
    """sha256 of what a scene's outputs are made from: its metadata JSON, the scene root and
    the sample format (the source audio files themselves are not read)."""
    import hashlib

    h = hashlib.sha256(Path(json_path).read_bytes())
    h.update(f"\0{os.path.abspath(root)}\0{subtype}".encode())
    return h.hexdigest()


def _init_worker() -> None:
    # one thread per worker (torch, used only to resample SOFA files, reads this on import)
    os.environ["OMP_NUM_THREADS"] = "1"


def render_one(json_path: str, root: str, out_dir: str, subtype: str) -> Tuple[str, int]:
    """Render one JSON and write its files. Returns ``(name, clipped samples)``."""
    from s5tse.simulate.renderer import render_scene
    from s5tse.simulate.scene import Scene
    from s5tse.simulate.writer import write_rendered_scene

    from s5tse.fileio.atomic import atomic_write_text

    scene = Scene.from_json(json_path)
    name = Path(json_path).stem
    stamp = fingerprint_path(Path(out_dir), name)
    stamp.unlink(missing_ok=True)   # a re-render: the old stamp goes first
    rendered = render_scene(scene, root, want_dry=True)
    # references first, the soundscape last: its presence marks a complete scene
    clipped = write_rendered_scene(out_dir, name, rendered, scene.sr, subtype=subtype)
    atomic_write_text(stamp, scene_fingerprint(json_path, root, subtype) + "\n")
    return name, clipped


def generate_metadata(
    args: argparse.Namespace, out_dir: Path, k: int, n: int
) -> Tuple[Path, List[Path]]:
    """Write the full lists and this shard's JSONs; returns ``(scene root, this shard's JSONs)``."""
    from s5tse.fileio.contract import write_scene_root
    from s5tse.fileio.table import write_table
    from s5tse.labels import CLASSES_FILE, ClassInventory, InventoryError
    from s5tse.simulate.generator import generate_scene
    from s5tse.simulate.scene import padded_labels, write_metadata_list
    from s5tse.simulate.sources import SourceIndex
    from s5tse.tasks.data import resolve_synthesis
    from s5tse.utils.config import ConfigError

    count = args.generate
    if count < 1:
        raise RenderCliError(f"--generate must be >= 1, got {count}")
    if not args.pools:
        raise RenderCliError("--generate needs --pools (the recipe's data/ dir)")
    try:
        rules = resolve_synthesis(args.synthesis, "--synthesis")
    except ConfigError as e:
        raise RenderCliError(str(e)) from None
    if args.nevent_range is not None:
        rules["nevent_range"] = list(_parse_range(args.nevent_range))
    if args.duration is not None:
        rules["duration"] = args.duration
        rules["max_event_dur"] = min(10.0, args.duration)
    try:
        cfg = GeneratorConfig.from_dict(rules)
    except ValueError as e:
        raise RenderCliError(str(e)) from None
    inventory_file = Path(args.pools) / CLASSES_FILE
    try:
        classes = ClassInventory.read(inventory_file) if inventory_file.is_file() else None
    except InventoryError as e:
        raise RenderCliError(str(e)) from None
    index = SourceIndex.from_data_dir(args.pools, split=args.split, classes=classes)
    width = max(4, len(str(count - 1)))
    ids = [f"{args.id_prefix}{i:0{width}d}" for i in range(count)]
    meta_dir = out_dir / "metadata"
    all_paths = [meta_dir / f"{i}.json" for i in ids]
    write_metadata_list(out_dir / "metadata.json", all_paths)
    mine = shard_items(list(zip(ids, all_paths)), k, n)  # noqa: B905 (python 3.9)
    if n == 1 or k == 1:  # the tables need every scene's labels: one writer
        scenes = {i: generate_scene(index, cfg, args.seed, i) for i in ids}
        write_table(out_dir / "metadata.scp", {i: str(p.resolve()) for i, p in zip(ids, all_paths)})
        write_table(out_dir / "text", {i: " ".join(padded_labels(s.labels()))
                                       for i, s in scenes.items()})
        write_scene_root(out_dir, index.root)
    logging.info(index.summary())
    if index.missing_classes:
        logging.warning(
            "target classes without files (never drawn): %s", " ".join(index.missing_classes)
        )
    for scene_id, path in mine:
        generate_scene(index, cfg, args.seed, scene_id).to_json(path)
    logging.info("generated %d scene(s) (seed %d) -> %s", len(mine), args.seed, meta_dir)
    return index.root, [p for _, p in mine]


def scene_table(data_dir: str) -> Tuple[Path, List[Path]]:
    """``(scene root, JSONs)`` of a scene table dir, in key order."""
    from s5tse.fileio.contract import read_scene_root
    from s5tse.fileio.table import TableError, read_table

    table = Path(data_dir) / "metadata.scp"
    try:
        if not table.is_file():
            raise TableError(f"{table}: missing (a scene table dir holds metadata.scp and "
                             f"scene_root)")
        return read_scene_root(data_dir), [Path(v) for v in read_table(table).values()]
    except TableError as e:
        raise RenderCliError(str(e)) from None


def run(args: argparse.Namespace) -> None:
    from s5tse.simulate.scene import Scene

    if args.nj < 1:
        raise RenderCliError(f"--nj must be >= 1, got {args.nj}")
    k, n = parse_shard(args.shard)
    modes = [args.metadata is not None, args.generate is not None, args.data_dir is not None]
    if sum(modes) != 1:
        raise RenderCliError("give exactly one of --metadata, --data_dir and --generate")
    out_dir = Path(args.out_dir)

    if args.generate is not None:
        root, jsons = generate_metadata(args, out_dir, k, n)
        if args.metadata_only:
            return
    elif args.data_dir is not None:
        root, jsons = scene_table(args.data_dir)
        jsons = shard_items(jsons, k, n)
    else:
        if not args.scene_root:
            raise RenderCliError("--metadata needs --scene_root (the folder the JSONs' "
                                 "relative paths start from)")
        root = Path(args.scene_root)
        jsons = shard_items(collect_metadata(args.metadata), k, n)

    names = {}
    todo = []
    for p in jsons:
        name = p.stem
        if name in names:
            raise RenderCliError(f"{p}: scene name {name!r} also used by {names[name]}")
        names[name] = p
        scene = Scene.from_json(p)  # validates early, in this process
        outputs = output_paths(out_dir, name, scene.labels())
        if not all(q.is_file() for q in outputs):
            todo.append(str(p))
            continue
        stamp = fingerprint_path(out_dir, name)
        same = stamp.is_file() and stamp.read_text().strip() == scene_fingerprint(p, root, args.subtype)
        if not same:
            if not args.overwrite:
                raise RenderCliError(
                    f"{outputs[0]}: rendered from other inputs than {p} (its metadata, the "
                    "scene root or --subtype changed, or it predates fingerprints); pass "
                    "--overwrite true to render it again")
            todo.append(str(p))
    skipped = len(jsons) - len(todo)
    shard_note = f" (shard {k}/{n})" if n > 1 else ""
    logging.info(
        "%d scene(s)%s: %d to render, %d skipped (outputs exist) -> %s",
        len(jsons),
        shard_note,
        len(todo),
        skipped,
        out_dir,
    )

    start = time.perf_counter()
    clipped_scenes = 0
    done = 0

    bar = progress_bar(total=len(todo), desc="render", unit="scene")

    def report(result: Tuple[str, int]) -> None:
        nonlocal clipped_scenes, done
        name, clipped = result
        done += 1
        bar.update(1)
        if clipped:
            clipped_scenes += 1
            logging.warning(
                "%s: %d sample(s) at or beyond full scale (clipped by %s)",
                name,
                clipped,
                args.subtype,
            )
        if done % 100 == 0 or done == len(todo):
            logging.info(
                "rendered %d/%d (%.1f scenes/s)",
                done,
                len(todo),
                done / max(time.perf_counter() - start, 1e-9),
            )

    nj = min(args.nj, len(todo))
    if nj <= 1:
        for p in todo:
            report(render_one(p, str(root), str(out_dir), args.subtype))
    else:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(
            max_workers=nj, mp_context=ctx, initializer=_init_worker
        ) as pool:
            futures = [
                pool.submit(render_one, p, str(root), str(out_dir), args.subtype) for p in todo
            ]
            try:
                for fut in futures:
                    report(fut.result())
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    bar.close()
    logging.info(
        "done: %d rendered, %d skipped%s",
        len(todo),
        skipped,
        f", {clipped_scenes} with clipping" if clipped_scenes else "",
    )


def main(cmd: Optional[List[str]] = None) -> None:
    from s5tse.fileio.sound_scp import AudioFormatError
    from s5tse.utils.logging import setup_logging
    from s5tse.utils.progress import set_progress

    args = get_parser().parse_args(cmd)
    setup_logging("INFO")
    set_progress(args.progress)
    try:
        run(args)
    except (ValueError, OSError, AudioFormatError) as e:  # SceneError, DatasetError, SofaError, ...
        msg = " ".join(str(e).split())
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    from s5tse.utils.cli import run_main

    run_main(main)
