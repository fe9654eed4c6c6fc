"""PyTorch datasets for DCASE 2026 Task 4 (S5) training and evaluation.

* :class:`OnTheFlyDataset` -- scenes generated and rendered on the fly (official generator),
  a new set per epoch, optional frame-aligned random crop.
* :class:`MetadataDataset` -- the official validation set, re-rendered from ``metadata/valid.json``.
* :class:`TestSetDataset` -- pre-rendered test mixtures (official test folders or a Kaldi data dir).
* :func:`collate_scenes` -- batch collation with zero padding and ``lengths``.
* :mod:`s5tse.datasets.targets` -- label/activity tensors and the item dict.

Every item is a dict: ``mixture [4, T]``, ``dry [3, T]``, ``labels`` (3 str, padded with
``silence``), ``label_index [3]`` (silence = num_classes), ``weak [3, num_classes]``, ``strong [3, F]``, ``id``.
"""
from s5tse.datasets.collate import collate_scenes, pad_stack
from s5tse.datasets.metadata import MetadataDataset
from s5tse.datasets.onthefly import DEFAULT_FRAME_HOP, OnTheFlyDataset, crop_targets
from s5tse.datasets.targets import (
    activity_from_reference,
    frame_activity,
    label_indices,
    make_item,
    num_frames_for,
    weak_targets,
)
from s5tse.datasets.testset import TestEntry, TestSetDataset

__all__ = [
    "DEFAULT_FRAME_HOP",
    "MetadataDataset",
    "OnTheFlyDataset",
    "TestEntry",
    "TestSetDataset",
    "activity_from_reference",
    "collate_scenes",
    "crop_targets",
    "frame_activity",
    "label_indices",
    "make_item",
    "num_frames_for",
    "pad_stack",
    "weak_targets",
]
