"""Training mixtures generated and rendered on the fly (official 2026 generator, §3.1).

Item ``i`` of epoch ``e`` is the scene ``generate_scene(index, cfg, seed, scene_id)`` with
``scene_id = f"{split}/e{e:04d}/{i:09d}"``, rendered with
:func:`s5tse.simulate.renderer.render_scene`. Everything (scene, crop) is a pure function
of ``(seed, epoch, i)`` and the dataset listing: the same item comes out in any process,
with any number of DataLoader workers, in any order.

Slot order: the scene lists its targets by onset; with the generator's ``shuffle_label``
(default, as in the official training configs) the rendered slots are permuted by
:func:`s5tse.simulate.generator.slot_permutation`.

Random crop (``crop_sec``): the start is ``frame_hop * j`` with ``j`` uniform over the
frame-aligned starts that keep the crop inside the clip, drawn from
``scene_rng(seed, f"crop/{scene_id}")``. A slot whose reference support (the renderer's
span) does not overlap the crop becomes ``silence`` (zero reference, zero activity); slot
positions are kept (:func:`crop_targets`).

    ds = OnTheFlyDataset("data", generator={"nevent_range": [1, 3]}, num_items=10000,
                         crop_sec=4.0, classes=ClassInventory.read("data/lang/classes.txt"))
    ds.set_epoch(3)
    item = ds[0]      # dict, see s5tse.datasets.targets
    ds.scene(0)       # the Scene of item 0 in epoch 3
    ds.slot_order(0)  # its slot permutation (shuffle_label)

DataLoader notes: ``set_epoch`` changes the dataset object in the main process; workers
get a copy when they start, i.e. at every epoch unless ``persistent_workers=True``. With
persistent workers use explicit keys instead: ``ds[(epoch, i)]`` (e.g. from a sampler
yielding ``(epoch, i)`` pairs). The :class:`~s5tse.simulate.sources.SourceIndex` is read
from the pool tables when the dataset is made (a missing or bad table fails at start-up)
and is not pickled: a spawned worker reads it again on first use.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch.utils.data

from s5tse.datasets.targets import frame_activity, make_item, num_frames_for
from s5tse.labels import NUM_SLOTS, SILENCE, ClassInventory
from s5tse.simulate.generator import GeneratorConfig, generate_scene, scene_rng, slot_permutation
from s5tse.simulate.renderer import render_scene
from s5tse.simulate.scene import Scene
from s5tse.simulate.sources import SourceIndex

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["OnTheFlyDataset", "crop_targets", "DEFAULT_FRAME_HOP"]

DEFAULT_FRAME_HOP = 1280  # 40 ms at 32 kHz


def crop_targets(
    labels: Sequence[str], spans: Any, start: int, length: int
) -> Tuple[List[str], np.ndarray]:
    """Apply the crop ``[start, start + length)`` to slot labels and reference supports.

    Args:
        labels: slot labels (padded with ``silence``); slot ``k < K`` owns ``spans[k]``.
        spans: ``[K, 2]`` (start, stop) sample supports in the uncropped clip.
        start, length: the crop.
    Returns:
        ``(labels, spans)``: the labels with ``silence`` for every slot whose span does not
        overlap the crop (other slots keep their position), and the spans relative to the
        crop, clipped to ``[0, length]`` (``(0, 0)`` for silenced slots).
    """
    arr = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    labels = list(labels)
    if arr.shape[0] > len(labels):
        raise ValueError(f"{arr.shape[0]} spans but only {len(labels)} slots")
    stop = start + length
    out_labels = list(labels)
    rel = np.zeros_like(arr)
    for k, (s0, s1) in enumerate(arr.tolist()):
        lo, hi = max(s0, start), min(s1, stop)
        if hi <= lo:  # no overlap (or empty support)
            out_labels[k] = SILENCE
            continue
        rel[k] = (lo - start, hi - start)
    return out_labels, rel


class OnTheFlyDataset(torch.utils.data.Dataset):
    """Map-style dataset of generated scenes (see the module docstring).

    Args:
        data_dir: the recipe's ``data/``: the pools ``<data_dir>/*_<split>`` (the data
            contract, :mod:`s5tse.fileio.contract`).
        split: source split (``train`` / ``valid``); also the first part of the scene ids.
        generator: :class:`GeneratorConfig` or a dict of its fields (None = official
            defaults, ``nevent_range=(0, 3)``; the separator uses ``(1, 3)``).
        seed: global seed.
        num_items: items per epoch.
        crop_sec: crop length in seconds (None = full clip).
        frame_hop: samples per frame of ``strong`` (1280 = 40 ms at 32 kHz).
        want_dry: render the dry references (``dry`` is left out of the item otherwise).
        classes: the class inventory (pool classes outside it are an error).
    """

    def __init__(
        self,
        data_dir: PathLike,
        *,
        split: str = "train",
        generator: Union[GeneratorConfig, Mapping[str, Any], None] = None,
        seed: int = 0,
        num_items: int = 1000,
        crop_sec: Optional[float] = None,
        frame_hop: int = DEFAULT_FRAME_HOP,
        want_dry: bool = True,
        classes: ClassInventory,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.split = split
        self.classes = classes
        if generator is None:
            cfg = GeneratorConfig()
        elif isinstance(generator, GeneratorConfig):
            cfg = generator
        elif isinstance(generator, Mapping):
            cfg = GeneratorConfig.from_dict(dict(generator))
        else:
            raise TypeError(
                f"generator must be a GeneratorConfig or a dict, got {type(generator).__name__}"
            )
        self.cfg = cfg
        self.seed = int(seed)
        if isinstance(num_items, bool) or int(num_items) != num_items or num_items < 0:
            raise ValueError(f"num_items must be a non-negative integer, got {num_items!r}")
        self.num_items = int(num_items)
        if isinstance(frame_hop, bool) or int(frame_hop) != frame_hop or frame_hop <= 0:
            raise ValueError(f"frame_hop must be a positive integer, got {frame_hop!r}")
        self.frame_hop = int(frame_hop)
        self.want_dry = bool(want_dry)
        self.num_samples = int(cfg.duration * cfg.sr)  # the renderer's T
        if crop_sec is None:
            self.crop_samples: Optional[int] = None
        else:
            n = int(round(float(crop_sec) * cfg.sr))
            if not 0 < n <= self.num_samples:
                raise ValueError(
                    f"crop_sec must be in (0, {cfg.duration}] (the clip length), got {crop_sec!r}"
                )
            self.crop_samples = n
        self.crop_sec = crop_sec
        self.epoch = 0
        self._index: Optional[SourceIndex] = None
        self.index.check_files()  # read the pools and every header now: bad input fails at start-up

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_index"] = None  # rebuilt lazily in the receiving process
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def index(self) -> SourceIndex:
        """The split's :class:`SourceIndex` (built on first use in this process)."""
        if self._index is None:
            self._index = SourceIndex.from_data_dir(self.data_dir, split=self.split,
                                                    classes=self.classes)
        return self._index

    # -------------------------------------------------------------------- epochs
    def set_epoch(self, epoch: int) -> None:
        """Select the scenes of ``epoch`` (a new set of mixtures per epoch)."""
        if isinstance(epoch, bool) or int(epoch) != epoch or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_items

    def _key(self, key: Union[int, Tuple[int, int]]) -> Tuple[int, int]:
        if isinstance(key, tuple):
            if len(key) != 2:
                raise TypeError(f"key must be an index or (epoch, index), got {key!r}")
            epoch, i = int(key[0]), int(key[1])
            if epoch < 0:
                raise ValueError(f"epoch must be >= 0, got {epoch}")
        else:
            epoch, i = self.epoch, key
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"dataset index must be an integer, got {type(i).__name__}")
        i = int(i)
        if i < 0:
            i += self.num_items
        if not 0 <= i < self.num_items:
            raise IndexError(f"index {key!r} out of range for {self.num_items} items")
        return epoch, i

    def scene_id(self, i: Union[int, Tuple[int, int]]) -> str:
        """``f"{split}/e{epoch:04d}/{i:09d}"`` of item ``i`` (or of key ``(epoch, i)``)."""
        epoch, i = self._key(i)
        return f"{self.split}/e{epoch:04d}/{i:09d}"

    def scene(self, i: Union[int, Tuple[int, int]]) -> Scene:
        """The generated :class:`Scene` of item ``i`` (uncropped)."""
        return generate_scene(self.index, self.cfg, self.seed, self.scene_id(i))

    def slot_order(self, i: Union[int, Tuple[int, int]], num_events: Optional[int] = None) -> List[int]:
        """Slot ``k`` of item ``i`` holds the scene's foreground event ``perm[k]`` (onset order)."""
        if num_events is None:
            num_events = len(self.scene(i).fg_events)
        return slot_permutation(self.cfg, self.seed, self.scene_id(i), num_events)

    def crop_start(self, i: Union[int, Tuple[int, int]]) -> int:
        """First sample of item ``i``'s crop (0 without cropping)."""
        if self.crop_samples is None:
            return 0
        n_starts = (self.num_samples - self.crop_samples) // self.frame_hop + 1
        rng = scene_rng(self.seed, f"crop/{self.scene_id(i)}")
        return self.frame_hop * int(rng.integers(n_starts))

    # --------------------------------------------------------------------- items
    def __getitem__(self, key: Union[int, Tuple[int, int]]) -> Dict[str, Any]:
        scene_id = self.scene_id(key)
        scene = self.scene(key)
        out = render_scene(scene, self.index.root, want_dry=self.want_dry)
        t_len = out.mixture.shape[-1]
        labels = list(out.labels)
        spans = np.asarray(out.spans, dtype=np.int64).reshape(-1, 2)
        mixture, dry = out.mixture, out.dry
        perm = self.slot_order(key, spans.shape[0])
        if perm != sorted(perm):  # shuffle_label: random slot order, as the official loader
            labels[: len(perm)] = [labels[j] for j in perm]
            spans = spans[perm]
            dry = dry[perm] if dry is not None else None
        if self.crop_samples is not None:
            start = self.crop_start(key)
            length = self.crop_samples
            labels, spans = crop_targets(labels, spans, start, length)
            mixture = mixture[:, start:start + length]
            if dry is not None:
                dry = dry[:, start:start + length]
            t_len = length
        strong = frame_activity(spans, t_len, self.frame_hop, num_frames_for(t_len, self.frame_hop))
        return make_item(scene_id, mixture, labels, strong, dry=dry, num_slots=NUM_SLOTS,
                         classes=self.classes)

    def __repr__(self) -> str:
        crop = "full" if self.crop_samples is None else f"{self.crop_samples} samples"
        return (
            f"{type(self).__name__}(data_dir={str(self.data_dir)!r}, split={self.split!r}, "
            f"seed={self.seed}, num_items={self.num_items}, epoch={self.epoch}, crop={crop}, "
            f"frame_hop={self.frame_hop}, nevent_range={tuple(self.cfg.nevent_range)})"
        )
