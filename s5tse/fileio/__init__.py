"""File I/O: Kaldi tables, audio tables (wav.scp), data-directory checks, splitting, atomic writes.

    from s5tse.fileio import read_table, write_table, SoundScpReader, validate_data_dir

Names are re-exported lazily (PEP 562), so ``import s5tse.fileio.atomic`` or
``s5tse.fileio.table`` needs only the standard library (no numpy/soundfile import).
"""
from __future__ import annotations

import importlib
from typing import Any, List

_EXPORTS = {
    "atomic": ("atomic_path", "atomic_write", "atomic_write_bytes", "atomic_write_text"),
    "table": (
        "TableEntry",
        "TableError",
        "byte_order",
        "read_entries",
        "read_table",
        "read_table_lines",
        "sort_keys",
        "write_table",
    ),
    "sound_scp": (
        "AudioFormatError",
        "SoundScpReader",
        "SoundScpWriter",
        "audio_info",
        "check_audio_format",
        "is_pipe",
        "read_audio",
        "write_audio",
    ),
    "datadir": ("check_same_keys", "list_tables", "validate_data_dir"),
    "split": ("split_keys", "split_sizes", "split_table"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # cache: __getattr__ is not called again
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))

