"""The recipe data contract: every table stage 1 (``local/data.sh``) writes under ``data/``.

Stages 2-7 read only these tables, the class inventory and ``conf/``; a fork of the recipe
for another dataset writes them from its own corpus and reuses everything else. Paths in
tables are absolute or relative to the recipe directory (Kaldi's rule)::

    lang/classes.txt          the class inventory: one class a line, line order = model
                              output index; "silence" is never listed (s5tse.labels)
    sound_event_<split>/      target events (one pool per split: train, valid)
        wav.scp               <key> <mono wav>
        text                  <key> <class>            a class of lang/classes.txt
        utt2group             <key> <group>            exclusion group: same-class duplicates
                                                       of a scene never share its first
                                                       dupse_exclusion_folder_depth "/" parts
        utt2num_samples       <key> <samples>
    interference_<split>/     non-target events (optional: no interference without it)
        wav.scp, utt2class (<key> <class>, spaces allowed), utt2num_samples
    noise_<split>/            multichannel background noise
        wav.scp, utt2num_samples                       channels = the rooms' receivers
    rirs_<split>/             rooms
        rirs.scp              <room> <SOFA file>       (s5tse.fileio.sofa)
        utt2num_channels      <room> <receivers>       what the SOFA file holds,
        utt2positions         <room> x y z x y z ...   its source positions (metres)
    valid/                    validation scenes (rendered by stage 2 into dump/valid)
        metadata.scp          <scene> <scene JSON>     (s5tse.simulate.scene)
        text                  <scene> <label> <label> <label>   slots padded with silence
        scene_root            one line: the folder the JSONs' relative paths start from
    <test set>/               pre-rendered test mixtures (stages 5-6), e.g. test/
        wav.scp               <mixture> <multichannel wav>
        text                  <mixture> <label> x 3    slots padded with silence
        spk{1,2,3}.scp        <mixture> <mono reference of slot n>  (sparse)
        utt2num_samples       <mixture> <samples>

Writers for the pools: :mod:`s5tse.simulate.pools`; for pre-rendered scenes:
``python -m s5tse.bin.make_soundscape_tables``. Who reads what: stage 2 renders
``valid/``; stages 3-4 draw training mixtures from the ``*_train`` pools and validate on
``valid/``; stages 5-6 decode and score the test sets; every stage takes the classes from
``lang/``. :func:`check_recipe_data` checks all of it (``python -m
s5tse.bin.validate_data_dir --contract true data``; run.sh calls it after stage 1).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from s5tse.fileio.table import TableError, read_table

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["CONTRACT_DOC", "SCENE_ROOT_FILE", "check_recipe_data", "read_scene_root",
           "write_scene_root"]

CONTRACT_DOC = "s5tse/fileio/contract.py"
SCENE_ROOT_FILE = "scene_root"
SPLITS = ("train", "valid")

# table dir (pattern) -> (tables it must hold, the stages that read it)
POOLS: Dict[str, tuple] = {
    "sound_event_{split}": (("wav.scp", "text", "utt2group", "utt2num_samples"),
                            "stages 3-4 (training mixtures)"),
    "noise_{split}": (("wav.scp", "utt2num_samples"), "stages 3-4 (training mixtures)"),
    "rirs_{split}": (("rirs.scp", "utt2num_channels", "utt2positions"),
                     "stages 3-4 (training mixtures)"),
}
OPTIONAL_POOLS: Dict[str, tuple] = {
    "interference_{split}": (("wav.scp", "utt2class", "utt2num_samples"),
                             "stages 3-4 (training mixtures)"),
}
VALID = ("valid", ("metadata.scp", "text", SCENE_ROOT_FILE), "stages 2-4 (validation)")
TEST_TABLES = ("wav.scp", "text", "utt2num_samples")


def write_scene_root(data_dir: PathLike, root: PathLike) -> None:
    """Write ``<data_dir>/scene_root`` (one line, absolute), atomically."""
    from s5tse.fileio.atomic import atomic_write_text

    atomic_write_text(Path(data_dir) / SCENE_ROOT_FILE, os.path.abspath(root) + "\n")


def read_scene_root(data_dir: PathLike) -> Path:
    """The folder named by ``<data_dir>/scene_root``; TableError naming the file."""
    path = Path(data_dir) / SCENE_ROOT_FILE
    if not path.is_file():
        raise TableError(f"{path}: missing (one line: the folder the scene JSONs' relative "
                         f"paths start from; stage 1, local/data.sh, writes it)")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(lines) != 1:
        raise TableError(f"{path}: expected one line (a folder), got {len(lines)}")
    root = Path(lines[0])
    if not root.is_dir():
        raise TableError(f"{path}:1: no such folder {lines[0]!r}")
    return root


def _missing(d: Path, name: str, stages: str) -> TableError:
    return TableError(f"{d / name}: missing; {stages} need it: write it in local/data.sh "
                      f"(the data contract: {CONTRACT_DOC})")


def _require(d: Path, names: Sequence[str], stages: str) -> None:
    if not d.is_dir():
        raise _missing(d.parent, d.name + "/", stages)
    for name in names:
        if not (d / name).is_file():
            raise _missing(d, name, stages)


def _check_positions(d: Path) -> None:
    for key, value in read_table(d / "utt2positions").items():
        fields = value.split()
        try:
            [float(v) for v in fields]
        except ValueError:
            raise TableError(f"{d / 'utt2positions'}: key {key!r}: expected numbers") from None
        if not fields or len(fields) % 3:
            raise TableError(f"{d / 'utt2positions'}: key {key!r}: expected x y z per position, "
                             f"got {len(fields)} numbers")


def _num_channels(d: Path) -> int:
    values = set(read_table(d / "utt2num_channels").values())
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise TableError(f"{d / 'utt2num_channels'}: expected one positive receiver count for "
                         f"every room, got {sorted(values)}")
    return int(values.pop())


def check_recipe_data(data_dir: PathLike, *, test_sets: Sequence[str] = ("test",),
                      check_audio: bool = False, sample_rate: Optional[int] = None) -> List[str]:
    """Check the whole contract of the module docstring; returns one summary line per dir.

    Args:
        data_dir: the recipe's ``data/``.
        test_sets: the test-set dirs that must exist.
        check_audio: also read every audio header (rates, channels, lengths).
        sample_rate: the rate every wav must have (with ``check_audio``).
    Raises:
        TableError / InventoryError: one line naming the file (and the stage that needs it).
    """
    from s5tse.fileio.datadir import validate_data_dir
    from s5tse.labels import CLASSES_FILE, ClassInventory

    data = Path(data_dir)
    if not (data / CLASSES_FILE).is_file():
        raise _missing(data, CLASSES_FILE, "stages 2-7 (every model output, score and table)")
    labels = set(ClassInventory.read(data / CLASSES_FILE).classes)
    lines = [f"{data / CLASSES_FILE}: {len(labels)} classes"]
    for split in SPLITS:
        channels = None
        for pattern, (names, stages) in {**POOLS, **OPTIONAL_POOLS}.items():
            d = data / pattern.format(split=split)
            if pattern in OPTIONAL_POOLS and not d.exists():
                continue
            _require(d, names, stages)
            if pattern.startswith("rirs"):
                summary = validate_data_dir(d, required=names, check_audio=check_audio)
                _check_positions(d)
                channels = _num_channels(d)
                lines.append(f"{d}: {len(read_table(d / 'rirs.scp'))} rooms, {channels} receivers")
                continue
            mono = 1 if not pattern.startswith("noise") else None
            summary = validate_data_dir(
                d, required=names, check_audio=check_audio, labels=labels if "text" in names
                else None, sample_rate=sample_rate if check_audio else None,
                num_channels=mono if check_audio else None)
            lines.append(f"{d}: {summary['num_utts']} files")
        if check_audio and channels is not None:
            d = data / f"noise_{split}"
            validate_data_dir(d, required=POOLS["noise_{split}"][0], num_channels=channels)
    d = data / VALID[0]
    _require(d, VALID[1], VALID[2])
    read_scene_root(d)
    summary = validate_data_dir(d, required=VALID[1][:2], check_audio=check_audio, labels=labels)
    lines.append(f"{d}: {len(read_table(d / 'metadata.scp'))} scenes")
    for name in test_sets:
        d = data / name
        _require(d, TEST_TABLES, "stages 5-6 (decoding, scoring)")
        summary = validate_data_dir(d, required=TEST_TABLES, check_audio=check_audio,
                                    labels=labels, sample_rate=sample_rate if check_audio else None)
        lines.append(f"{d}: {summary['num_utts']} mixtures")
    return lines
