"""The official validation set: per-mixture JSONs of ``metadata/valid.json``, rendered.

Each entry of ``valid.json`` names a scene JSON (reference §2.4); item ``i`` is that scene
rendered at full length (no crop) with :func:`s5tse.simulate.renderer.render_scene`, so
it is deterministic. Item dict as in :mod:`s5tse.datasets.targets`, ``id`` = JSON stem,
``strong`` from the renderer's reference supports.

    ds = MetadataDataset(root)                      # root/data/dev_set/metadata/valid.json
    ds = MetadataDataset(root, "my/valid.json", frame_hop=640)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch.utils.data

from s5tse.datasets.onthefly import DEFAULT_FRAME_HOP
from s5tse.datasets.targets import frame_activity, make_item, num_frames_for
from s5tse.labels import ClassInventory
from s5tse.simulate.renderer import render_scene
from s5tse.simulate.scene import Scene, SceneError, load_metadata_list
from s5tse.simulate.sources import DEV_SET, resolve_dataset_root

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["MetadataDataset"]


class MetadataDataset(torch.utils.data.Dataset):
    """Validation mixtures re-rendered from their metadata.

    Args:
        dataset_root: folder holding ``data/dev_set`` (the scenes' paths are relative to it).
        valid_json: the list file; None = ``<root>/data/dev_set/metadata/valid.json``.
        frame_hop: samples per frame of ``strong``.
        want_dry: render the dry references (``dry`` is left out of the item otherwise).
        classes: the class inventory of the labels.
    Raises:
        SceneError: unreadable list, two entries with the same JSON stem (the item id).
    """

    def __init__(
        self,
        dataset_root: PathLike,
        valid_json: Optional[PathLike] = None,
        *,
        frame_hop: int = DEFAULT_FRAME_HOP,
        want_dry: bool = True,
        classes: ClassInventory,
    ) -> None:
        super().__init__()
        self.classes = classes
        self.root: Path = resolve_dataset_root(dataset_root)
        if valid_json is None:
            valid_json = self.root / DEV_SET / "metadata" / "valid.json"
        self.valid_json = Path(valid_json)
        self.paths: List[Path] = load_metadata_list(self.valid_json)
        self.ids: List[str] = [p.stem for p in self.paths]
        seen: Dict[str, Path] = {}
        for p in self.paths:
            if p.stem in seen:
                raise SceneError(
                    f"{self.valid_json}: {p} and {seen[p.stem]} have the same name {p.stem!r} "
                    f"(item ids must be unique)"
                )
            seen[p.stem] = p
        if isinstance(frame_hop, bool) or int(frame_hop) != frame_hop or frame_hop <= 0:
            raise ValueError(f"frame_hop must be a positive integer, got {frame_hop!r}")
        self.frame_hop = int(frame_hop)
        self.want_dry = bool(want_dry)

    def __len__(self) -> int:
        return len(self.paths)

    def _check(self, i: int) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"dataset index must be an integer, got {type(i).__name__}")
        i = int(i)
        if i < 0:
            i += len(self.paths)
        if not 0 <= i < len(self.paths):
            raise IndexError(f"index {i} out of range for {len(self.paths)} items")
        return i

    def scene(self, i: int) -> Scene:
        """The :class:`Scene` of item ``i``."""
        return Scene.from_json(self.paths[self._check(i)])

    def __getitem__(self, i: int) -> Dict[str, Any]:
        i = self._check(i)
        out = render_scene(self.scene(i), self.root, want_dry=self.want_dry)
        t_len = out.mixture.shape[-1]
        num_frames = num_frames_for(t_len, self.frame_hop)
        strong = frame_activity(out.spans, t_len, self.frame_hop, num_frames)
        return make_item(self.ids[i], out.mixture, out.labels, strong, dry=out.dry,
                         classes=self.classes)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, valid_json={str(self.valid_json)!r}, "
            f"items={len(self)}, frame_hop={self.frame_hop})"
        )
