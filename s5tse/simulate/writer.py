"""Write rendered scenes in the official test-set layout.

    OUT/soundscape/<name>.wav                   [C, T] mixture
    OUT/oracle_target/<name>_<n>_<label>.wav    mono dry reference of target n (0-based,
                                                JSON order), one per target event

The references are written first and the soundscape last, so a soundscape on disk marks a
complete scene (a rerun can skip it). Writes are atomic and byte-reproducible.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np

from s5tse.fileio.sound_scp import write_audio

PathLike = Union[str, "os.PathLike[str]"]


def scene_output_paths(out_dir: PathLike, name: str, labels: Sequence[str]) -> Tuple[Path, List[Path]]:
    """``(soundscape path, [oracle target path per label])`` for a scene's target ``labels``."""
    out_dir = Path(out_dir)
    refs = [out_dir / "oracle_target" / f"{name}_{n}_{label}.wav" for n, label in enumerate(labels)]
    return out_dir / "soundscape" / f"{name}.wav", refs


def write_rendered_scene(out_dir: PathLike, name: str, rendered, sample_rate: int = 32000,
                         subtype: str = "FLOAT") -> int:
    """Write a :class:`~s5tse.simulate.renderer.RenderedScene`; returns the clipped sample count.

    ``subtype`` is a soundfile subtype (``FLOAT``, ``PCM_16``, ...); with an integer
    subtype, samples with ``|x| >= 1`` clip and are counted.
    """
    labels = rendered.labels[: rendered.dry.shape[0]]
    mix_path, ref_paths = scene_output_paths(out_dir, name, labels)
    clipped = 0
    if subtype != "FLOAT":
        clipped = int(np.count_nonzero(np.abs(rendered.mixture) >= 1.0))
        clipped += int(np.count_nonzero(np.abs(rendered.dry) >= 1.0))
    for ref, path in zip(rendered.dry, ref_paths):
        write_audio(path, ref, sample_rate, subtype=subtype)
    write_audio(mix_path, rendered.mixture, sample_rate, subtype=subtype)
    return clipped
