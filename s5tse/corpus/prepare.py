"""Stage 1 data preparation: the official dev-set folders -> Kaldi-style tables.

For a dataset root (the folder holding ``data/dev_set``) it writes, under ``out_dir``::

    sound_event_{train,valid}/  wav.scp text utt2group utt2num_samples   target events
    interference_{train,valid}/ wav.scp utt2class utt2num_samples        non-target events
    noise_{train,valid}/        wav.scp utt2num_samples                  4-ch background
    rirs_{train,valid}/         rirs.scp                                 SOFA files
    lang/                       classes.txt                              class inventory
    valid/                      metadata.scp text                        validation scenes
    test/                       wav.scp spk{1,2,3}.scp text utt2num_samples

Keys are the file paths relative to the role folder without ``.wav``, whitespace replaced
by ``_`` (``Speech/p001/p001_003``); ``text`` holds the class, ``utt2group`` the
first-level sub-folder (the unit that same-class duplicates never share), ``utt2class``
the interference class (it may contain spaces). Scene tables (``valid``, ``test``) hold
the labels of the 3 slots padded with ``silence``; ``spk{n}.scp`` lists the mixtures
whose slot n holds a source. Paths are absolute.

Every audio header is read: an unreadable, empty or non-32-kHz file is an error naming
it, nothing is skipped. Each table directory is validated after writing.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple, Union

from s5tse.corpus.testset import TestItem, scan_test_set
from s5tse.fileio.datadir import validate_data_dir
from s5tse.fileio.table import TableError, write_table
from s5tse.corpus.dcase import DCASE2026
from s5tse.labels import CLASSES_FILE, NUM_SLOTS
from s5tse.simulate.scene import Scene, load_metadata_list
from s5tse.simulate.sources import DEV_SET, DatasetError, SourceIndex

PathLike = Union[str, "os.PathLike[str]"]
SPLITS = ("train", "valid")


class DataPrepError(ValueError):
    """A problem with the corpus; one line naming the file."""


def file_key(rel: str) -> str:
    """Table key of a file path relative to its role folder: no ``.wav``, no whitespace."""
    return re.sub(r"\s+", "_", rel[:-4] if rel.endswith(".wav") else rel)


def _unique_keys(pairs: Iterable[Tuple[str, str]], where: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for key, rel in pairs:
        if key in out:
            raise DataPrepError(f"{where}: files {out[key]!r} and {rel!r} map to the same key {key!r}")
        out[key] = rel
    return out


def _checked_frames(index: SourceIndex, role: str, rel: str, sample_rate: int,
                    channels: int = 0) -> int:
    info = index.info(role, rel)  # DatasetError for unreadable / empty files
    path = index.abspath(role, rel)
    if info.sample_rate != sample_rate:
        raise DataPrepError(
            f"{path}: {info.sample_rate} Hz, expected {sample_rate} (resample the corpus to "
            f"{sample_rate} Hz; sources are not resampled on the fly)"
        )
    if channels and info.channels != channels:
        raise DataPrepError(f"{path}: {info.channels} channels, expected {channels}")
    return info.frames


def _write_events(index: SourceIndex, out: Path, sample_rate: int) -> Counter:
    """Target events of one split; returns the file count per class."""
    if index.missing_classes:
        folder = index.root / index.foreground_dir / index.missing_classes[0]
        raise DataPrepError(f"{folder}: missing class folder (every one of the 18 classes needs files)")
    files = [f for label in index.fg_labels for f in index.fg_files[label]]
    keys = _unique_keys(((file_key(f.rel), f.rel) for f in files), str(index.root / index.foreground_dir))
    by_rel = {f.rel: f for f in files}
    wav, text, group, frames = {}, {}, {}, {}
    for key, rel in keys.items():
        f = by_rel[rel]
        wav[key] = str(index.abspath("foreground", rel))
        text[key] = f.label
        group[key] = re.sub(r"\s+", "_", f.group)
        frames[key] = str(_checked_frames(index, "foreground", rel, sample_rate))
    for name, table in (("wav.scp", wav), ("text", text), ("utt2group", group),
                        ("utt2num_samples", frames)):
        write_table(out / name, table)
    return Counter(text.values())


def _write_interference(index: SourceIndex, out: Path, sample_rate: int) -> int:
    files = [f for label in index.int_labels for f in index.int_files[label]]
    keys = _unique_keys(((file_key(f.rel), f.rel) for f in files), str(index.root / index.interference_dir))
    by_rel = {f.rel: f for f in files}
    wav = {k: str(index.abspath("interference", rel)) for k, rel in keys.items()}
    cls = {k: by_rel[rel].label for k, rel in keys.items()}
    frames = {k: str(_checked_frames(index, "interference", rel, sample_rate)) for k, rel in keys.items()}
    for name, table in (("wav.scp", wav), ("utt2class", cls), ("utt2num_samples", frames)):
        write_table(out / name, table)
    return len(wav)


def _write_noise_and_rirs(index: SourceIndex, noise_out: Path, rir_out: Path, sample_rate: int) -> None:
    nchan = set()
    rirs = {}
    for rel in index.rooms:
        room = index.room(rel, sample_rate)
        nchan.add(room.nchan)
        rirs[file_key(Path(rel).stem)] = str(index.root / rel)
    if len(nchan) != 1:
        raise DataPrepError(f"{index.root / index.room_dir}: rooms differ in receiver count {sorted(nchan)}")
    channels = nchan.pop()
    noise = {file_key(Path(rel).stem): rel for rel in index.noise_files}
    wav = {k: str(index.abspath("background", rel)) for k, rel in noise.items()}
    frames = {
        k: str(_checked_frames(index, "background", rel, sample_rate, channels))
        for k, rel in noise.items()
    }
    write_table(noise_out / "wav.scp", wav)
    write_table(noise_out / "utt2num_samples", frames)
    write_table(rir_out / "rirs.scp", rirs)


def _padded(labels: Sequence[str]) -> str:
    if len(labels) > NUM_SLOTS:
        raise DataPrepError(f"{len(labels)} labels do not fit {NUM_SLOTS} slots: {labels}")
    return " ".join(list(labels) + ["silence"] * (NUM_SLOTS - len(labels)))


def write_valid_tables(root: Path, out: Path) -> int:
    """``metadata.scp`` and ``text`` of the validation scenes in ``metadata/valid.json``."""
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
            index = SourceIndex(root, split=split, classes=DCASE2026)
            per_class = _write_events(index, out / f"sound_event_{split}", sample_rate)
            summary[f"sound_event_{split}"] = per_class
            summary[f"interference_{split}"] = _write_interference(
                index, out / f"interference_{split}", sample_rate)
            _write_noise_and_rirs(index, out / f"noise_{split}", out / f"rirs_{split}", sample_rate)
            summary[f"noise_{split}"] = len(index.noise_files)
            summary[f"rirs_{split}"] = len(index.rooms)
        summary["valid"] = write_valid_tables(root, out / "valid")
        test = root / DEV_SET / "synthesized" / "test"
        summary["test"] = write_soundscape_tables(
            scan_test_set(test / "soundscape", test / "oracle_target"), out / "test", sample_rate)
    except (DatasetError, TableError) as e:
        raise DataPrepError(str(e)) from None

    DCASE2026.write(out / CLASSES_FILE)
    labels = set(DCASE2026.classes)
    for split in SPLITS:
        validate_data_dir(out / f"sound_event_{split}", sample_rate=sample_rate, num_channels=1,
                          labels=labels)
        validate_data_dir(out / f"interference_{split}", sample_rate=sample_rate, num_channels=1)
        validate_data_dir(out / f"noise_{split}", sample_rate=sample_rate)
        validate_data_dir(out / f"rirs_{split}", required=("rirs.scp",))
    validate_data_dir(out / "valid", required=("metadata.scp", "text"), labels=labels)
    validate_data_dir(out / "test", sample_rate=sample_rate, num_channels=4, labels=labels,
                      required=("wav.scp", "text"))
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
