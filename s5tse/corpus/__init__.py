"""Corpus acquisition for DCASE 2026 Task 4: download, join, extract, check.

* :mod:`s5tse.corpus.download` -- resumable, checksum-verified Zenodo downloads.
* :mod:`s5tse.corpus.zipjoin` -- join split Info-ZIP archives, safe extraction.
* :mod:`s5tse.corpus.layout` -- the official dev-set layout and its checker.

Command-line front ends: ``python -m s5tse.bin.download_corpus`` and
``python -m s5tse.bin.check_corpus``.
"""
from s5tse.corpus.download import (
    DCASE2026_TASK4_DEV_RECORD,
    DEFAULT_API_URL,
    ChecksumMismatchError,
    DownloadError,
    RemoteFile,
    download_file,
    download_record,
    fetch_record_files,
)
from s5tse.corpus.layout import (
    DATASET_NAME,
    REQUIRED,
    check_layout,
    find_dataset_root,
    write_dummy_dataset,
)
from s5tse.corpus.zipjoin import (
    UnsafeZipMemberError,
    ZipJoinError,
    extract_zip,
    is_split_archive,
    join_split_zip,
    split_part_paths,
)

__all__ = [
    "DCASE2026_TASK4_DEV_RECORD",
    "DEFAULT_API_URL",
    "ChecksumMismatchError",
    "DownloadError",
    "RemoteFile",
    "download_file",
    "download_record",
    "fetch_record_files",
    "DATASET_NAME",
    "REQUIRED",
    "check_layout",
    "find_dataset_root",
    "write_dummy_dataset",
    "UnsafeZipMemberError",
    "ZipJoinError",
    "extract_zip",
    "is_split_archive",
    "join_split_zip",
    "split_part_paths",
]
