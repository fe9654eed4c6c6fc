"""Validation scenes (``data/valid``: ``metadata.scp``), rendered on the fly.

Each entry of ``metadata.scp`` names a scene JSON (the official per-mixture format,
reference §2.4) whose relative paths start at the folder named by ``scene_root`` (the data
contract, :mod:`s5tse.fileio.contract`); item ``i`` is that scene rendered at full length
(no crop) with :func:`s5tse.simulate.renderer.render_scene`, so it is deterministic. Items
are in table (key) order. Item dict as in :mod:`s5tse.datasets.targets`, ``id`` = the
table key, ``strong`` from the renderer's reference supports.

    ds = MetadataDataset("data/valid", classes=ClassInventory.read("data/lang/classes.txt"))
    ds = MetadataDataset("data/valid", frame_hop=640, classes=...)
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
from s5tse.simulate.scene import Scene, SceneError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["MetadataDataset"]


class MetadataDataset(torch.utils.data.Dataset):
    """Validation mixtures re-rendered from their metadata.

    Args:
        scene_dir: a scene table dir (``metadata.scp``, ``scene_root``), e.g. ``data/valid``.
        frame_hop: samples per frame of ``strong``.
        want_dry: render the dry references (``dry`` is left out of the item otherwise).
        classes: the class inventory of the labels.
    Raises:
        SceneError: a missing or malformed table (one line naming it).
    """

    def __init__(
        self,
        scene_dir: PathLike,
        *,
        frame_hop: int = DEFAULT_FRAME_HOP,
        want_dry: bool = True,
        classes: ClassInventory,
    ) -> None:
        from s5tse.fileio.contract import read_scene_root
        from s5tse.fileio.table import TableError, read_table

        super().__init__()
        self.classes = classes
        self.scene_dir = Path(scene_dir)
        table = self.scene_dir / "metadata.scp"
        try:
            if not table.is_file():
                raise TableError(f"{table}: missing (the validation scenes; stage 1, "
                                 f"local/data.sh, writes it)")
            entries = read_table(table)
            self.root: Path = read_scene_root(self.scene_dir)
        except TableError as e:
            raise SceneError(str(e)) from None
        if not entries:
            raise SceneError(f"{table}: no scenes")
        self.ids: List[str] = list(entries)
        self.paths: List[Path] = [Path(v) for v in entries.values()]
        if isinstance(frame_hop, bool) or int(frame_hop) != frame_hop or frame_hop <= 0:
            raise ValueError(f"frame_hop must be a positive integer, got {frame_hop!r}")
        self.frame_hop = int(frame_hop)
        self.want_dry = bool(want_dry)
        self.check_scenes()

    def check_scenes(self) -> None:
        """Every scene parses, its labels are in the inventory and its source, noise and room
        files exist and are not empty: a bad scene fails at start-up with one line naming
        its file, not when the first validation reaches it (SceneError)."""
        for path in self.paths:
            scene = Scene.from_json(path)
            for label in scene.labels():
                if label not in self.classes:
                    raise SceneError(f"{path}: fg_events: label {label!r} is not in the class "
                                     f"inventory{self.classes.suggestion(label)}")
            files = [scene.source_path(e, self.root)
                     for e in scene.fg_events + scene.bg_events + scene.int_events]
            for f in files + [scene.sofa_path(self.root)]:
                if not f.is_file():
                    raise SceneError(f"{path}: {f}: no such file")
                if f.stat().st_size == 0:
                    raise SceneError(f"{path}: {f}: empty file")

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
            f"{type(self).__name__}(scene_dir={str(self.scene_dir)!r}, "
            f"items={len(self)}, frame_hop={self.frame_hop})"
        )
