"""What ``--train_data`` / ``--valid_data`` mean for the tagger and separator tasks.

Both take the dataset root that run.sh calls ``corpus_root`` (the folder holding
``data/dev_set``; its ``data`` or ``data/dev_set`` folder works too), or a folder holding a
one-line file ``corpus_root`` that names the root::

    python -m s5tse.bin.train --config conf/tuning/train_tagger_fusion_mini.yaml \\
        --train_data corpus/mini/DCASE2026Task4Dataset --valid_data corpus/mini/DCASE2026Task4Dataset \\
        --classes data/lang/classes.txt --output_dir exp/tagger_train_tagger_fusion_mini
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Mapping, Optional, Union

from s5tse.simulate.sources import DatasetError, resolve_dataset_root
from s5tse.utils.config import ConfigError

PathLike = Union[str, "os.PathLike[str]"]

#: One-line file in a data dir naming the dataset root.
CORPUS_ROOT_FILE = "corpus_root"


def resolve_data_root(data_dir: Optional[PathLike], what: str = "data") -> Path:
    """The dataset root for a data dir (see the module docstring).

    Args:
        data_dir: the dataset root, its ``data``/``data/dev_set`` folder, or a folder with a
            ``corpus_root`` file.
        what: how the error messages name the argument (``"train data"``, ...).
    Raises:
        ConfigError: one line naming ``what`` and the path.
    """
    if data_dir is None or str(data_dir) == "":
        raise ConfigError(f"{what}: no data dir given (pass the dataset root, the folder "
                          f"holding data/dev_set, as --train_data / --valid_data)")
    try:
        return resolve_dataset_root(data_dir)
    except DatasetError as exc:
        pointer = Path(data_dir) / CORPUS_ROOT_FILE
        if not pointer.is_file():
            raise ConfigError(f"{what}: {exc}") from None
    lines = [ln.strip() for ln in pointer.read_text().splitlines() if ln.strip()]
    if len(lines) != 1:
        raise ConfigError(f"{what}: {pointer}: expected one line (the dataset root), got {len(lines)}")
    try:
        return resolve_dataset_root(lines[0])
    except DatasetError as exc:
        raise ConfigError(f"{what}: {pointer}: {exc}") from None


def resolve_classes(value: Any, key: str = "classes") -> List[str]:
    """The ``classes`` config value as a validated list of class names.

    ``value`` is the class inventory file (``data/lang/classes.txt``, what run.sh passes as
    ``--classes``) or the list itself (what a resolved ``config.yaml`` records, so a trained
    experiment carries its classes). Raises a one-line ConfigError.
    """
    from s5tse.labels import ClassInventory, InventoryError

    if value is None or value == "":
        raise ConfigError(f"{key}: not set; pass the class inventory, e.g. --{key} "
                          f"data/lang/classes.txt (written by stage 1)")
    try:
        if isinstance(value, (str, os.PathLike)):
            return ClassInventory.read(value).to_list()
        return ClassInventory(list(value), where=f"config key '{key}'").to_list()
    except InventoryError as exc:
        raise ConfigError(str(exc)) from None
    except TypeError:
        raise ConfigError(f"{key}: expected a file or a list of class names, got {value!r}") from None


def inventory_of(config: Mapping[str, Any]) -> "ClassInventory":
    """The :class:`~s5tse.labels.ClassInventory` of a resolved config."""
    from s5tse.labels import ClassInventory

    return ClassInventory(resolve_classes(config.get("classes")))
