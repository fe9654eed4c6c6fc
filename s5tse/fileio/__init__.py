"""File I/O: Kaldi tables, audio tables (wav.scp), data-directory checks, splitting, atomic writes."""
from s5tse.fileio.atomic import atomic_path, atomic_write, atomic_write_bytes, atomic_write_text
from s5tse.fileio.datadir import check_same_keys, list_tables, validate_data_dir
from s5tse.fileio.sound_scp import (
    AudioFormatError,
    SoundScpReader,
    SoundScpWriter,
    audio_info,
    check_audio_format,
    is_pipe,
    read_audio,
    write_audio,
)
from s5tse.fileio.split import split_keys, split_sizes, split_table
from s5tse.fileio.table import (
    TableEntry,
    TableError,
    byte_order,
    read_entries,
    read_table,
    read_table_lines,
    sort_keys,
    write_table,
)

__all__ = [
    "AudioFormatError",
    "SoundScpReader",
    "SoundScpWriter",
    "TableEntry",
    "TableError",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "audio_info",
    "byte_order",
    "check_audio_format",
    "check_same_keys",
    "is_pipe",
    "list_tables",
    "read_audio",
    "read_entries",
    "read_table",
    "read_table_lines",
    "sort_keys",
    "split_keys",
    "split_sizes",
    "split_table",
    "validate_data_dir",
    "write_audio",
    "write_table",
]
