"""Random spatial scenes following the DCASE 2026 Task 4 generator (reference §3.1).

:func:`generate_scene` draws one :class:`~s5tse.simulate.scene.Scene` from a
:class:`~s5tse.simulate.sources.SourceIndex`. All randomness comes from one
``numpy.random.Generator`` seeded by a stable hash of ``(seed, scene_id)``
(:func:`scene_rng`), so a scene depends only on the dataset listing, the config,
the seed and its id, never on the job count, the order of generation or Python's
``hash()``.

Draws, in this order (every ``randint`` includes both ends):

1. room: uniform over the SOFA files of the split;
2. ``n = randint(*nevent_range)``;
3. duplicates: only if ``n >= 2``, a uniform ``u``; duplicates are drawn when
   ``u <= dupse_rate``, then ``n_dup = randint(1, min(n - 1, max_n_dupse))``;
4. ``n - n_dup`` distinct labels (without replacement, over the classes present);
   per event: file (uniform among the class's files), position (uniform over the
   SOFA's measured positions), SNR ~ U(snr_range), then the timing (below);
5. each duplicate: a label uniform among the distinct labels drawn in 4; the
   candidate positions are those whose direction (unit vector from the origin) is
   more than ``dupse_min_angle`` degrees from every event of that label so far, the
   candidate files those whose exclusion group (first ``dupse_exclusion_folder_depth``
   levels, :meth:`SourceIndex.exclusion_group`) no event of that label uses yet; position and
   file uniform among the candidates, then SNR and timing. **If there is no
   candidate position or no candidate file, the duplicate is replaced by an event
   of a new distinct label** (uniform among the classes not drawn yet; dropped
   if there are none), drawn like the events of step 4;
6. interference: ``randint(*ninterference_range)`` events, label uniform with
   replacement over the interference classes, then file, position, SNR ~
   U(interference_snr_range), timing;
7. background: one noise file (uniform); ``source_time = floor(U(0, dur - duration))``
   for files longer than the clip, else 0 (the renderer tiles short files);
8. the scene's ``fg_events`` and ``int_events`` are sorted by onset (as the official
   synthesiser writes them); ``shuffle_label`` permutes the *slots of the rendered
   example* instead, as the official loader does after synthesis:
   :func:`slot_permutation` draws that permutation from its own stream.

Timing of an event with file duration ``d``: ``event_duration = min(d, max_event_dur)``;
``source_time ~ U(0, d - max_event_dur)`` if ``d > max_event_dur`` else 0;
``event_time ~ U(0, duration - event_duration)`` (the event always fits; its reverb
tail is cut at the end of the clip). The overlap limit ``max_event_overlap`` never
binds for up to that many events per role, which is all this generator allows.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from s5tse.simulate.scene import Event, Scene, room_config, room_dict
from s5tse.simulate.sources import DatasetError, SourceFile, SourceIndex


@dataclass
class GeneratorConfig:
    """Generator settings; the defaults are the official 2026 ones (tagger ``nevent_range``).

    The separator's training data uses ``nevent_range=(1, 3)``.
    """

    duration: float = 10.0
    sr: int = 32000
    max_event_overlap: int = 3
    max_event_dur: float = 10.0
    ref_db: float = -55
    nevent_range: Tuple[int, int] = (0, 3)
    snr_range: Tuple[float, float] = (5.0, 20.0)
    ninterference_range: Tuple[int, int] = (0, 2)
    interference_snr_range: Tuple[float, float] = (0.0, 15.0)
    dupse_rate: float = 0.5
    dupse_min_angle: float = 60.0
    max_n_dupse: int = 2
    dupse_exclusion_folder_depth: int = 1
    direct_range_ms: Tuple[float, float] = (6, 50)
    shuffle_label: bool = True

    def __post_init__(self) -> None:
        for name in (
            "nevent_range",
            "snr_range",
            "ninterference_range",
            "interference_snr_range",
            "direct_range_ms",
        ):
            value = tuple(getattr(self, name))
            if len(value) != 2 or value[0] > value[1]:
                raise ValueError(
                    f"GeneratorConfig.{name} must be (low, high) with low <= high, got {value}"
                )
            setattr(self, name, value)
        if self.duration <= 0 or self.sr <= 0:
            raise ValueError("GeneratorConfig: duration and sr must be > 0")
        if not 0 < self.max_event_dur <= self.duration:
            raise ValueError(
                f"GeneratorConfig.max_event_dur must be in (0, duration], got {self.max_event_dur}"
            )
        if self.nevent_range[0] < 0 or self.ninterference_range[0] < 0:
            raise ValueError("GeneratorConfig: event counts must be >= 0")
        if max(self.nevent_range[1], self.ninterference_range[1]) > self.max_event_overlap:
            raise ValueError(
                "GeneratorConfig: more events per role than max_event_overlap is not supported "
                f"(nevent_range {self.nevent_range}, ninterference_range "
                f"{self.ninterference_range}, max_event_overlap {self.max_event_overlap})"
            )
        if not 0.0 <= self.dupse_rate <= 1.0:
            raise ValueError(f"GeneratorConfig.dupse_rate must be in [0, 1], got {self.dupse_rate}")
        if self.max_n_dupse < 0 or self.dupse_exclusion_folder_depth < 1:
            raise ValueError(
                "GeneratorConfig: max_n_dupse must be >= 0 and dupse_exclusion_folder_depth >= 1"
            )

    @classmethod
    def from_dict(cls, d: Dict) -> "GeneratorConfig":
        """Build from a dict (e.g. a YAML section); unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"GeneratorConfig: unknown key(s) {', '.join(unknown)}")
        return cls(**d)

    def to_dict(self) -> Dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


def scene_seed_words(seed: int, scene_id: str) -> List[int]:
    """Four uint32 words from ``sha256(f"{seed}/{scene_id}")`` (stable across runs/platforms)."""
    digest = hashlib.sha256(f"{int(seed)}/{scene_id}".encode("utf-8")).digest()
    return [int(w) for w in np.frombuffer(digest[:16], dtype="<u4")]


def scene_rng(seed: int, scene_id: str) -> np.random.Generator:
    """The generator's random state for one scene."""
    return np.random.default_rng(np.random.SeedSequence(scene_seed_words(seed, scene_id)))


def _unit(positions: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(positions, axis=-1, keepdims=True)
    return np.divide(positions, norm, out=np.zeros_like(positions), where=norm > 0)


class _Draw:
    """State of one scene draw (keeps generate_scene readable)."""

    def __init__(
        self,
        index: SourceIndex,
        cfg: GeneratorConfig,
        rng: np.random.Generator,
        positions: np.ndarray,
    ) -> None:
        self.index = index
        self.cfg = cfg
        self.rng = rng
        self.positions = positions
        self.directions = _unit(positions)

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def randint(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi] (both ends included)."""
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, n: int) -> int:
        return int(self.rng.integers(n))

    def event(self, role: str, src: SourceFile, pos_idx: int, snr_range: Sequence[float]) -> Event:
        cfg = self.cfg
        snr = self.uniform(*snr_range)
        dur = self.index.duration(role, src.rel)
        event_duration = min(dur, float(cfg.max_event_dur))
        source_time = self.uniform(0.0, dur - cfg.max_event_dur) if dur > cfg.max_event_dur else 0.0
        event_time = self.uniform(0.0, float(cfg.duration) - event_duration)
        p = self.positions[pos_idx]
        return Event(
            label=src.label,
            source_file=src.rel,
            source_time=source_time,
            event_time=event_time,
            event_duration=event_duration,
            event_position=[[float(p[0]), float(p[1]), float(p[2])]],
            snr=snr,
            role=role,
        )

    def plain_fg_event(self, label: str) -> Event:
        files = self.index.fg_files[label]
        src = files[self.pick(len(files))]
        pos_idx = self.pick(len(self.positions))
        return self.event("foreground", src, pos_idx, self.cfg.snr_range)

    def duplicate_event(self, label: str, existing: List[Event]) -> Optional[Event]:
        """A same-class event far enough from ``existing`` (same label); None if impossible."""
        cfg = self.cfg
        same = [e for e in existing if e.label == label]
        ok = np.ones(len(self.positions), dtype=bool)
        for e in same:
            d = _unit(np.asarray(e.event_position[0], dtype=np.float64)[None, :])[0]
            cos = np.clip(self.directions @ d, -1.0, 1.0)
            ok &= np.degrees(np.arccos(cos)) > cfg.dupse_min_angle
        # a zero-length position has no direction: never a candidate
        ok &= np.linalg.norm(self.positions, axis=-1) > 0
        cand_pos = np.flatnonzero(ok)
        depth = cfg.dupse_exclusion_folder_depth
        used = {self.index.exclusion_group(e.source_file, depth) for e in same}
        cand_files = [f for f in self.index.fg_files[label]
                      if self.index.exclusion_group(f.rel, depth) not in used]
        if len(cand_pos) == 0 or not cand_files:
            return None
        pos_idx = int(cand_pos[self.pick(len(cand_pos))])
        src = cand_files[self.pick(len(cand_files))]
        return self.event("foreground", src, pos_idx, cfg.snr_range)


def generate_scene(index: SourceIndex, cfg: GeneratorConfig, seed: int, scene_id: str) -> Scene:
    """Draw one scene (see the module docstring for the exact procedure).

    Args:
        index: the source material of one split.
        cfg: generator settings.
        seed: global seed.
        scene_id: the scene's id (e.g. ``mix_0001``); with ``seed`` it fixes the scene.
    Returns:
        the scene; its JSON paths are relative to ``index.root``.
    Raises:
        DatasetError: too few classes for the drawn count, no interference material
            when interference may be drawn, unreadable files, noise/RIR channel mismatch.
    """
    if cfg.ninterference_range[1] > 0 and not index.int_labels:
        raise DatasetError(
            f"{index.root / index.interference_dir}: no interference classes "
            f"(needed for ninterference_range {list(cfg.ninterference_range)})"
        )
    rng = scene_rng(seed, scene_id)

    # 1. room
    room_rel = index.rooms[int(rng.integers(len(index.rooms)))]
    room = index.room(room_rel, sample_rate=cfg.sr)
    if room.nrir == 0:
        raise DatasetError(f"{index.root / room_rel}: SOFA file has no measurements")
    draw = _Draw(index, cfg, rng, room.positions)

    # 2.-5. foreground
    labels_all = index.fg_labels
    n = draw.randint(*cfg.nevent_range)
    n_dup = 0
    if n >= 2 and cfg.max_n_dupse > 0 and draw.uniform(0.0, 1.0) <= cfg.dupse_rate:
        n_dup = draw.randint(1, min(n - 1, cfg.max_n_dupse))
    n_distinct = n - n_dup
    if n_distinct > len(labels_all):
        raise DatasetError(
            f"{index.root / index.foreground_dir}: {n_distinct} distinct target classes "
            f"needed, only {len(labels_all)} present"
        )
    chosen = [labels_all[i] for i in rng.choice(len(labels_all), size=n_distinct, replace=False)]
    fg: List[Event] = [draw.plain_fg_event(label) for label in chosen]
    base_labels = list(chosen)
    for _ in range(n_dup):
        label = base_labels[draw.pick(len(base_labels))]
        ev = draw.duplicate_event(label, fg)
        if ev is None:
            remaining = [c for c in labels_all if c not in chosen]
            if not remaining:
                continue  # no class left: the duplicate is dropped
            label = remaining[draw.pick(len(remaining))]
            chosen.append(label)
            ev = draw.plain_fg_event(label)
        fg.append(ev)

    # 6. interference
    ints: List[Event] = []
    for _ in range(draw.randint(*cfg.ninterference_range)):
        cls = index.int_labels[draw.pick(len(index.int_labels))]
        files = index.int_files[cls]
        src = files[draw.pick(len(files))]
        pos_idx = draw.pick(len(room.positions))
        ints.append(draw.event("interference", src, pos_idx, cfg.interference_snr_range))

    # 7. background
    noise_rel = index.noise_files[draw.pick(len(index.noise_files))]
    info = index.info("background", noise_rel)
    if info.channels != room.nchan:
        raise DatasetError(
            f"{index.abspath('background', noise_rel)} has {info.channels} channels but the RIRs "
            f"of {index.root / room_rel} have {room.nchan}"
        )
    noise_dur = info.duration
    bg_source_time = (
        float(math.floor(draw.uniform(0.0, noise_dur - cfg.duration)))
        if noise_dur > cfg.duration
        else 0.0
    )
    bg = [
        Event(
            label=None,
            source_file=noise_rel,
            source_time=bg_source_time,
            event_time=0.0,
            event_duration=float(cfg.duration),
            event_position=None,
            snr=0.0,
            role="background",
        )
    ]

    config = {
        "duration": cfg.duration,
        "sr": cfg.sr,
        "max_event_overlap": cfg.max_event_overlap,
        "max_event_dur": cfg.max_event_dur,
        "ref_db": cfg.ref_db,
        "foreground_dir": index.foreground_dir,
        "background_dir": index.background_dir,
        "interference_dir": index.interference_dir,
        "room_config": room_config(index.split, cfg.direct_range_ms),
        "verbose": False,
    }
    room_d = room_dict(
        room_rel,
        sr=cfg.sr,
        nchan=room.nchan,
        nrir=room.nrir,
        rir_len=room.rir_len,
        direct_range_ms=cfg.direct_range_ms,
    )
    return Scene(config=config, fg_events=fg, bg_events=bg, int_events=ints, room=room_d)


def slot_permutation(cfg: GeneratorConfig, seed: int, scene_id: str, num_events: int) -> List[int]:
    """Slot order of a rendered training example: ``out[k] = sorted_events[perm[k]]``.

    A uniform permutation of the ``num_events`` foreground events with ``shuffle_label``
    (drawn from ``scene_rng(seed, f"slots/{scene_id}")``, independent of the scene's own
    draws), else the identity (onset order, the order of the scene's JSON).

    >>> slot_permutation(GeneratorConfig(shuffle_label=False), 0, "x", 3)
    [0, 1, 2]
    """
    if not cfg.shuffle_label or num_events < 2:
        return list(range(num_events))
    rng = scene_rng(seed, f"slots/{scene_id}")
    return [int(i) for i in rng.permutation(num_events)]
