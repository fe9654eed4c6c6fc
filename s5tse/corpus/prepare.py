"""Stage 1 data preparation: the official dev-set folders -> Kaldi-style tables.

For a dataset root (the folder holding ``data/dev_set``) it writes, under ``out_dir``::

    sound_event_{train,valid}/  wav.scp text utt2group utt2num_samples   target events
    interference_{train,valid}/ wav.scp utt2class utt2num_samples        non-target events
    noise_{train,valid}/        wav.scp utt2num_samples                  4-ch background
    rirs_{train,valid}/         rirs.scp utt2num_channels utt2positions  SOFA files
    lang/                       classes.txt                              class inventory
    valid/                      metadata.scp text scene_root             validation scenes
    test/                       wav.scp spk{1,2,3}.scp text utt2num_samples
                                (+ reported_results.tsv, the official baseline's scores,
                                for the real corpus)

(the data contract, :mod:`s5tse.fileio.contract`). Keys are the file paths relative to the role folder without ``.wav``, whitespace replaced
by ``_`` (``Speech/p001/p001_003``); ``text`` holds the class, ``utt2group`` the
first-level sub-folder (the unit that same-class duplicates never share), ``utt2class``
the interference class (it may contain spaces). Scene tables (``valid``, ``test``) hold
the labels of the 3 slots padded with ``silence``; ``spk{n}.scp`` lists the mixtures
whose slot n holds a source. Paths are absolute.

Every audio header is read: an unreadable, empty or non-32-kHz file is an error naming
it, nothing is skipped. The whole data contract is checked after writing.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence, Union

from s5tse.corpus.dcase import DCASE2026, reported_results_tsv
from s5tse.corpus.dev_set import scan_dev_set
from s5tse.corpus.layout import DEV_SET
from s5tse.corpus.testset import TestItem, scan_test_set
from s5tse.corpus.mini_corpus import MARKER as MINI_MARKER
from s5tse.fileio.atomic import atomic_write_text
from s5tse.fileio.contract import check_recipe_data, write_scene_root
from s5tse.fileio.table import TableError, write_table
from s5tse.labels import CLASSES_FILE, NUM_SLOTS
from s5tse.results.show import REPORTED_FILE
from s5tse.simulate.pools import PoolItem, pool_key, write_event_pool, write_room_pool
from s5tse.simulate.scene import Scene, load_metadata_list
from s5tse.simulate.sources import DatasetError, SourceFile, SourceIndex

PathLike = Union[str, "os.PathLike[str]"]
SPLITS = ("train", "valid")


class DataPrepError(ValueError):
    """A problem with the corpus; one line naming the file."""


def file_key(rel: str) -> str:
    """Table key of a file path relative to its role folder: no ``.wav``, no whitespace."""
    return pool_key(rel)


def _pool_items(index: SourceIndex, role: str, files: Sequence[SourceFile]) -> List[PoolItem]:
    return [PoolItem(key=file_key(f.rel), path=str(index.abspath(role, f.rel)), label=f.label,
                     group=f.group) for f in files]


def _write_pools(index: SourceIndex, data: Path, split: str, sample_rate: int) -> Dict[str, object]:
    """The four pool tables of one split; returns counts for the log."""
    if index.missing_classes:
        folder = index.root / index.foreground_dir / index.missing_classes[0]
        raise DataPrepError(f"{folder}: missing class folder (every class of the inventory "
                            f"needs files)")
    fg = [f for label in index.fg_labels for f in index.fg_files[label]]
    write_event_pool(data / f"sound_event_{split}", _pool_items(index, "foreground", fg),
                     sample_rate=sample_rate)
    ints = [f for label in index.int_labels for f in index.int_files[label]]
    write_event_pool(data / f"interference_{split}", _pool_items(index, "interference", ints),
                     sample_rate=sample_rate, label_table="utt2class")
    rooms = {file_key(Path(rel).stem): index.root / rel for rel in index.rooms}
    channels = write_room_pool(data / f"rirs_{split}", rooms, sample_rate=sample_rate)
    noise = [PoolItem(key=file_key(Path(rel).stem), path=str(index.abspath("background", rel)))
             for rel in index.noise_files]
    write_event_pool(data / f"noise_{split}", noise, sample_rate=sample_rate, channels=channels,
                     label_table=None)
    return {f"sound_event_{split}": Counter(f.label for f in fg),
            f"interference_{split}": len(ints), f"noise_{split}": len(noise),
            f"rirs_{split}": len(rooms)}


def _padded(labels: Sequence[str]) -> str:
    if len(labels) > NUM_SLOTS:
        raise DataPrepError(f"{len(labels)} labels do not fit {NUM_SLOTS} slots: {labels}")
    return " ".join(list(labels) + ["silence"] * (NUM_SLOTS - len(labels)))


def write_valid_tables(root: Path, out: Path) -> int:
    """``metadata.scp``, ``text`` and ``scene_root`` of the scenes in ``metadata/valid.json``."""
    meta, text = {}, {}
    for path in load_metadata_list(root / DEV_SET / "metadata" / "valid.json"):
        scene = Scene.from_json(path)  # checks the structure, naming the file
        for label in scene.labels():
            try:
                DCASE2026.check_label(label, where=str(path))
            except ValueError as e:
                raise DataPrepError(str(e)) from None
        for ev in scene.fg_events + scene.int_events + scene.bg_events:
            src = scene.source_path(ev, root)
            if not src.is_file():
                raise DataPrepError(f"{path}: names a missing file {src}")
        if not scene.sofa_path(root).is_file():
            raise DataPrepError(f"{path}: names a missing file {scene.sofa_path(root)}")
        meta[path.stem] = str(path)
        text[path.stem] = _padded(scene.labels())
    write_table(out / "metadata.scp", meta)
    write_table(out / "text", text)
    write_scene_root(out, root)
    return len(meta)


def write_soundscape_tables(items: Sequence[TestItem], out: PathLike, sample_rate: int = 32000) -> int:
    """Kaldi tables of pre-rendered soundscapes (official test layout or our render output)."""
    import soundfile as sf

    out = Path(out)
    wav, text, frames = {}, {}, {}
    refs: List[Dict[str, str]] = [{} for _ in range(NUM_SLOTS)]
    for item in items:
        info = sf.info(str(item.mixture))
        if info.samplerate != sample_rate:
            raise DataPrepError(f"{item.mixture}: {info.samplerate} Hz, expected {sample_rate}")
        wav[item.name] = str(item.mixture)
        frames[item.name] = str(info.frames)
        text[item.name] = _padded([label for label, _ in item.refs])
        for n, (_, path) in enumerate(item.refs):
            refs[n][item.name] = str(path)
    write_table(out / "wav.scp", wav)
    write_table(out / "text", text)
    write_table(out / "utt2num_samples", frames)
    for n, table in enumerate(refs, start=1):
        write_table(out / f"spk{n}.scp", table)
    return len(wav)


def prepare_data(corpus_root: PathLike, out_dir: PathLike, sample_rate: int = 32000) -> Dict[str, object]:
    """Write every table of the module docstring; returns counts for the log."""
    root = Path(corpus_root)
    out = Path(out_dir)
    summary: Dict[str, object] = {}
    try:
        for split in SPLITS:
            index = scan_dev_set(root, split=split, classes=DCASE2026)
            summary.update(_write_pools(index, out, split, sample_rate))
        summary["valid"] = write_valid_tables(root, out / "valid")
        test = root / DEV_SET / "synthesized" / "test"
        summary["test"] = write_soundscape_tables(
            scan_test_set(test / "soundscape", test / "oracle_target"), out / "test", sample_rate)
        if not (root / MINI_MARKER).is_file():  # the official numbers belong to the real set
            atomic_write_text(out / "test" / REPORTED_FILE, reported_results_tsv())
    except (DatasetError, TableError) as e:
        raise DataPrepError(str(e)) from None

    DCASE2026.write(out / CLASSES_FILE)
    check_recipe_data(out, check_audio=True, sample_rate=sample_rate)
    return summary


def format_summary(summary: Dict[str, object]) -> List[str]:
    """Log lines: per-class counts of the event tables, then the other counts."""
    lines = []
    for name, value in summary.items():
        if isinstance(value, Counter):
            per_class = ", ".join(f"{c} {value.get(c, 0)}" for c in DCASE2026)
            lines.append(f"{name}: {sum(value.values())} files ({per_class})")
            missing = [c for c in DCASE2026 if not value.get(c)]
            if missing:
                lines.append(f"{name}: WARNING no files for {', '.join(missing)}")
        else:
            lines.append(f"{name}: {value}")
    return lines
