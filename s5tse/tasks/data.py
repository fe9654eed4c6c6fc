"""What ``--train_data`` / ``--valid_data``, ``classes`` and ``synthesis`` mean for the
tagger and separator tasks.

Both data options take the recipe's ``data/`` (the tables stage 1 writes, the data
contract of :mod:`s5tse.fileio.contract`): training mixtures are drawn from the
``<data>/*_train`` pools, validation renders the scenes of ``<data>/valid`` (a scene table
dir given directly works too)::

    python -m s5tse.bin.train --config conf/tuning/train_tagger_fusion_mini.yaml \\
        --train_data data --valid_data data --classes data/lang/classes.txt \\
        --synthesis conf/synthesis.yaml --output_dir exp/tagger_fusion_mini

``classes`` (the inventory file) and ``synthesis`` (the synthesis rules YAML) are recorded
in the experiment's ``config.yaml`` as their contents, so a trained model carries them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from s5tse.utils.config import ConfigError

PathLike = Union[str, "os.PathLike[str]"]


def resolve_data_dir(data_dir: Optional[PathLike], what: str = "data") -> Path:
    """The recipe's ``data/`` dir given as ``--train_data`` / ``--valid_data``.

    Raises:
        ConfigError: one line naming ``what`` and the path.
    """
    if data_dir is None or str(data_dir) == "":
        raise ConfigError(f"{what}: no data dir given (pass the recipe's data/ dir, written by "
                          f"stage 1, as --train_data / --valid_data)")
    path = Path(data_dir)
    if not path.is_dir():
        raise ConfigError(f"{what}: {path}: no such directory (the recipe's data/ dir, written "
                          f"by stage 1: local/data.sh)")
    return path


def scene_dir_of(data_dir: Optional[PathLike], name: str, what: str = "valid data") -> Path:
    """``data_dir`` itself when it holds ``metadata.scp``, else ``<data_dir>/<name>``."""
    path = resolve_data_dir(data_dir, what)
    return path if (path / "metadata.scp").is_file() else path / name


def resolve_synthesis(value: Any, key: str = "synthesis") -> Dict[str, Any]:
    """The ``synthesis`` config value as a checked dict of generator fields.

    ``value`` is the synthesis rules YAML (``conf/synthesis.yaml``), the mapping itself
    (what a resolved ``config.yaml`` records) or null (the built-in defaults, the official
    2026 rules). Fields left out keep their defaults; the result lists every field.
    Raises a one-line ConfigError.
    """
    from s5tse.simulate.generator import GeneratorConfig

    if value is None or value == "":
        return GeneratorConfig().to_dict()
    if isinstance(value, (str, os.PathLike)):
        from s5tse.utils.yaml_io import load_yaml

        try:
            loaded = load_yaml(value)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{key}: {value}: {e}") from None
        where, value = str(value), loaded if loaded is not None else {}
    else:
        where = f"config key '{key}'"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping of synthesis rules, got "
                          f"{type(value).__name__}")
    try:
        cfg = GeneratorConfig.from_dict(dict(value))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None
    return cfg.to_dict()


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
