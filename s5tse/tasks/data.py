"""What ``--train_data`` / ``--valid_data`` mean for the tagger and separator tasks.

Both take the dataset root that run.sh calls ``corpus_root`` (the folder holding
``data/dev_set``; its ``data`` or ``data/dev_set`` folder works too), or a folder holding a
one-line file ``corpus_root`` that names the root::

    python -m s5tse.bin.train --config conf/tuning/train_tagger_fusion_mini.yaml \\
        --train_data corpus/mini/DCASE2026Task4Dataset --valid_data corpus/mini/DCASE2026Task4Dataset \\
        --output_dir exp/tagger_train_tagger_fusion_mini
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

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
