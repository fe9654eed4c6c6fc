"""Spatial sound scenes: the per-mixture metadata of DCASE 2026 Task 4.

A :class:`Scene` is everything needed to render one mixture; it reads and writes
exactly the official per-mixture JSON format (``metadata/valid/*.json``)::

    {"config": {"duration": 10.0, "sr": 32000, "max_event_overlap": 3,
                "max_event_dur": 10.0, "ref_db": -55,
                "foreground_dir": "data/dev_set/sound_event/train",
                "background_dir": "data/dev_set/noise/train",
                "interference_dir": "data/dev_set/interference/train",
                "room_config": {"module": "src.modules.spatial_audio_synthesizer.room",
                                "main": "SofaRoom",
                                "args": {"path": "data/dev_set/room_ir/train",
                                         "direct_range_ms": [6, 50]}},
                "verbose": false},
     "fg_events": [{"label": "Dishes", "source_file": "Dishes/50117.wav",
                    "source_time": 0.0, "event_time": 0.1765, "event_duration": 1.1953,
                    "event_position": [[x, y, z]], "snr": 14.04, "role": "foreground"}],
     "bg_events": [{"label": null, "source_file": "bg.wav", "source_time": 61.0,
                    "event_time": 0.0, "event_duration": 10.0, "event_position": null,
                    "snr": 0.0, "role": "background"}],
     "int_events": [...same fields, "role": "interference"...],
     "room": {"module": "src.modules.spatial_audio_synthesizer.room",
              "main": "SofaRoom.from_metadata",
              "args": {"metadata": {"sofa_path": "data/dev_set/room_ir/train/x.sofa",
                                    "sr": 32000, "nchan": 4, "nrir": 108,
                                    "rir_len": 174763, "direct_range_ms": [6, 50]}}}}

Paths (``*_dir``, ``sofa_path``) are relative to the **dataset root**, the folder
that holds ``data/``; ``source_file`` is relative to its role's directory.

As in the official synthesiser, ``fg_events`` and ``int_events`` are kept sorted by
``event_time`` (a stable sort, applied on construction and so on reading): the sorted
foreground order is the slot order of the targets (``text``, ``oracle_target`` numbers).

``module`` names the official room class (:data:`ROOM_MODULE`, the string of the
baseline's configs and of the dataset's files), so the official loaders can read our
files. s5tse never imports it: :mod:`s5tse.simulate.renderer` renders every scene with its
own code, whatever ``module``/``main`` say. Extra keys (``config.verbose``, ...) are kept
in ``config``/``room`` and written back.

    scene = Scene.from_json("data/dev_set/metadata/valid/mix_0001.json")
    scene.labels()                       # ['Dishes', 'Speech']
    scene.to_json("out/mix_0001.json")   # atomic write
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from s5tse.fileio.atomic import atomic_write_text
from s5tse.fileio.json_file import read_json
from s5tse.labels import NUM_SLOTS, SILENCE

PathLike = Union[str, "os.PathLike[str]"]

#: ``module`` of ``room`` and ``config.room_config`` in the official files and configs.
ROOM_MODULE = "src.modules.spatial_audio_synthesizer.room"
ROLES = ("foreground", "background", "interference")
EVENT_KEYS = (
    "label",
    "source_file",
    "source_time",
    "event_time",
    "event_duration",
    "event_position",
    "snr",
    "role",
)
CONFIG_KEYS = (
    "duration",
    "sr",
    "max_event_overlap",
    "max_event_dur",
    "ref_db",
    "foreground_dir",
    "background_dir",
    "interference_dir",
    "room_config",
)
ROOM_METADATA_KEYS = ("sofa_path", "sr", "nchan", "nrir", "rir_len", "direct_range_ms")
_LIST_KEY = {"foreground": "fg_events", "background": "bg_events", "interference": "int_events"}
_DIR_KEY = {
    "foreground": "foreground_dir",
    "background": "background_dir",
    "interference": "interference_dir",
}


class SceneError(ValueError):
    """Invalid scene metadata or a scene that cannot be rendered; the message is one line."""


@dataclass
class Event:
    """One event of a scene (field names and meaning as in the official JSON).

    Attributes:
        label: class name (a target class for ``foreground``; an interference
            class for ``interference``; ``None`` for ``background``).
        source_file: path relative to the role's directory in ``Scene.config``.
        source_time: offset of the used segment inside the file, seconds.
        event_time: onset in the mixture, seconds.
        event_duration: length of the used segment, seconds.
        event_position: ``[[x, y, z]]`` Cartesian source position (one of the SOFA's
            measured positions), ``None`` for the background.
        snr: level in dB relative to the background (event image power is
            ``ref_db + snr`` dB).
        role: ``"foreground"``, ``"background"`` or ``"interference"``.
    """

    label: Optional[str]
    source_file: str
    source_time: float
    event_time: float
    event_duration: float
    event_position: Optional[List[List[float]]]
    snr: float
    role: str

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict with the official key order."""
        return {
            "label": self.label,
            "source_file": self.source_file,
            "source_time": self.source_time,
            "event_time": self.event_time,
            "event_duration": self.event_duration,
            "event_position": copy.deepcopy(self.event_position),
            "snr": self.snr,
            "role": self.role,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "") -> "Event":
        """Parse and validate one event dict; errors name ``where`` (file and list index)."""
        if not isinstance(d, Mapping):
            raise SceneError(f"{where}: event must be a JSON object, got {type(d).__name__}")
        missing = [k for k in EVENT_KEYS if k not in d]
        if missing:
            raise SceneError(f"{where}: event lacks key(s) {', '.join(missing)}")
        role = d["role"]
        if role not in ROLES:
            raise SceneError(f"{where}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
        label = d["label"]
        if label is not None and not isinstance(label, str):
            raise SceneError(f"{where}: label must be a string or null, got {label!r}")
        source_file = d["source_file"]
        if not isinstance(source_file, str) or not source_file:
            raise SceneError(
                f"{where}: source_file must be a non-empty string, got {source_file!r}"
            )
        numbers = {}
        for key in ("source_time", "event_time", "event_duration", "snr"):
            value = d[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SceneError(f"{where}: {key} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise SceneError(f"{where}: {key} must be finite, got {value!r}")
            numbers[key] = value
        for key in ("source_time", "event_time"):
            if numbers[key] < 0:
                raise SceneError(f"{where}: {key} must be >= 0, got {numbers[key]!r}")
        if numbers["event_duration"] <= 0:
            raise SceneError(
                f"{where}: event_duration must be > 0, got {numbers['event_duration']!r}"
            )
        position = d["event_position"]
        if position is not None:
            position = _parse_position(position, where)
        if role == "background":
            if position is not None:
                raise SceneError(f"{where}: a background event has no event_position (use null)")
        elif position is None:
            raise SceneError(f"{where}: a {role} event needs an event_position [[x, y, z]]")
        if role == "foreground":
            # a class name (checked against the inventory by whoever reads the scene's labels)
            if not isinstance(label, str) or not label or label == SILENCE or \
                    any(ch.isspace() for ch in label):
                raise SceneError(f"{where}: a foreground event needs a class label without "
                                 f"whitespace, got {label!r}")
        elif role == "interference" and not label:
            raise SceneError(f"{where}: an interference event needs a label")
        return cls(
            label=label,
            source_file=source_file,
            source_time=numbers["source_time"],
            event_time=numbers["event_time"],
            event_duration=numbers["event_duration"],
            event_position=position,
            snr=numbers["snr"],
            role=role,
        )

    @property
    def position(self) -> Optional[List[float]]:
        """The Cartesian position ``[x, y, z]`` (``None`` for the background)."""
        return None if self.event_position is None else list(self.event_position[0])


def _parse_position(position: Any, where: str) -> List[List[float]]:
    """``[[x, y, z]]`` (also accepts a bare ``[x, y, z]``) as a list of one float triple."""
    p = position
    if (
        isinstance(p, Sequence)
        and len(p) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
    ):
        p = [p]
    ok = (
        isinstance(p, Sequence)
        and len(p) == 1
        and isinstance(p[0], Sequence)
        and len(p[0]) == 3
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p[0])
        and all(math.isfinite(v) for v in p[0])
    )
    if not ok:
        raise SceneError(f"{where}: event_position must be [[x, y, z]], got {position!r}")
    return [[float(v) for v in p[0]]]


def room_config(split: str = "train", direct_range_ms: Sequence[float] = (6, 50)) -> Dict[str, Any]:
    """The ``config.room_config`` entry for rooms of ``room_ir/<split>``."""
    return {
        "module": ROOM_MODULE,
        "main": "SofaRoom",
        "args": {
            "path": f"data/dev_set/room_ir/{split}",
            "direct_range_ms": list(direct_range_ms),
        },
    }


def room_dict(
    sofa_path: str,
    *,
    sr: int,
    nchan: int,
    nrir: int,
    rir_len: int,
    direct_range_ms: Sequence[float] = (6, 50),
) -> Dict[str, Any]:
    """The ``room`` entry of a scene (``sofa_path`` relative to the dataset root)."""
    return {
        "module": ROOM_MODULE,
        "main": "SofaRoom.from_metadata",
        "args": {
            "metadata": {
                "sofa_path": sofa_path,
                "sr": int(sr),
                "nchan": int(nchan),
                "nrir": int(nrir),
                "rir_len": int(rir_len),
                "direct_range_ms": list(direct_range_ms),
            }
        },
    }


@dataclass
class Scene:
    """One mixture: config, events per role, and the room.

    ``source`` (not part of the JSON) is the file the scene was read from, used in
    error messages; ``None`` for scenes built in memory.
    """

    config: Dict[str, Any]
    fg_events: List[Event]
    bg_events: List[Event]
    int_events: List[Event]
    room: Dict[str, Any]
    source: Optional[str] = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # the official synthesiser sorts both lists by onset (stable) before rendering
        self.fg_events = sorted(self.fg_events, key=lambda e: e.event_time)
        self.int_events = sorted(self.int_events, key=lambda e: e.event_time)

    # ----------------------------------------------------------------- accessors
    @property
    def name(self) -> str:
        """Where the scene comes from, for messages: the JSON path or ``<in-memory scene>``."""
        return self.source if self.source is not None else "<in-memory scene>"

    @property
    def duration(self) -> float:
        return float(self.config["duration"])

    @property
    def sr(self) -> int:
        return int(self.config["sr"])

    @property
    def num_samples(self) -> int:
        """``T = int(duration * sr)``."""
        return int(self.duration * self.sr)

    @property
    def ref_db(self) -> float:
        return float(self.config["ref_db"])

    @property
    def room_metadata(self) -> Dict[str, Any]:
        """``room["args"]["metadata"]`` (``sofa_path``, ``sr``, ``nchan``, ...)."""
        return self.room["args"]["metadata"]

    def labels(self) -> List[str]:
        """Foreground labels in slot order (sorted by onset), without padding."""
        return [e.label for e in self.fg_events]

    def padded_labels(self, num_slots: int = NUM_SLOTS) -> List[str]:
        """Foreground labels padded with ``silence`` to ``num_slots``."""
        return padded_labels(self.labels(), num_slots)

    def role_dir(self, role: str) -> str:
        """The directory (relative to the dataset root) that ``source_file`` of ``role`` is in."""
        return self.config[_DIR_KEY[role]]

    def source_path(self, event: Event, dataset_root: PathLike) -> Path:
        """Absolute path of an event's source file."""
        return Path(dataset_root) / self.role_dir(event.role) / event.source_file

    def sofa_path(self, dataset_root: PathLike) -> Path:
        """Absolute path of the room's SOFA file."""
        return Path(dataset_root) / self.room_metadata["sofa_path"]

    # -------------------------------------------------------------- (de)serialise
    def to_dict(self) -> Dict[str, Any]:
        """The official JSON structure (deep copies; key order as in the official files)."""
        return {
            "config": copy.deepcopy(self.config),
            "fg_events": [e.to_dict() for e in self.fg_events],
            "bg_events": [e.to_dict() for e in self.bg_events],
            "int_events": [e.to_dict() for e in self.int_events],
            "room": copy.deepcopy(self.room),
        }

    def to_json(self, path: Optional[PathLike] = None, *, indent: Optional[int] = 2) -> str:
        """Serialise; when ``path`` is given also write it atomically. Returns the text.

        Floats are written with Python's shortest round-trip repr, so reading the
        file back gives the identical numbers (and a bit-identical rendering).
        """
        text = json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: Optional[str] = None) -> "Scene":
        """Parse and validate the official structure; errors name ``source``."""
        where = source if source is not None else "<scene dict>"
        if not isinstance(d, Mapping):
            raise SceneError(f"{where}: expected a JSON object, got {type(d).__name__}")
        missing = [
            k for k in ("config", "fg_events", "bg_events", "int_events", "room") if k not in d
        ]
        if missing:
            raise SceneError(f"{where}: missing key(s) {', '.join(missing)}")
        config = d["config"]
        if not isinstance(config, Mapping):
            raise SceneError(f"{where}: config must be a JSON object")
        missing = [k for k in CONFIG_KEYS if k not in config and k != "room_config"]
        if missing:
            raise SceneError(f"{where}: config lacks key(s) {', '.join(missing)}")
        for key in ("duration", "sr", "ref_db"):
            value = config[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise SceneError(f"{where}: config.{key} must be a number, got {value!r}")
        if config["duration"] <= 0 or config["sr"] <= 0 or int(config["sr"]) != config["sr"]:
            raise SceneError(
                f"{where}: config.duration must be > 0 and config.sr a positive integer, "
                f"got {config['duration']!r}, {config['sr']!r}"
            )
        for key in ("foreground_dir", "background_dir", "interference_dir"):
            if not isinstance(config[key], str):
                raise SceneError(f"{where}: config.{key} must be a string, got {config[key]!r}")

        events = {}
        for role, key in _LIST_KEY.items():
            lst = d[key]
            if not isinstance(lst, list):
                raise SceneError(f"{where}: {key} must be a list")
            parsed = []
            for i, ed in enumerate(lst):
                ev = Event.from_dict(ed, where=f"{where}: {key}[{i}]")
                if ev.role != role:
                    raise SceneError(f"{where}: {key}[{i}] has role {ev.role!r}, expected {role!r}")
                parsed.append(ev)
            events[key] = parsed
        if len(events["bg_events"]) > 1:
            raise SceneError(
                f"{where}: at most one background event is supported, "
                f"got {len(events['bg_events'])}"
            )

        room = d["room"]
        try:
            meta = room["args"]["metadata"]
        except (TypeError, KeyError):
            raise SceneError(
                f"{where}: room must be {{'module', 'main', 'args': {{'metadata': {{...}}}}}}"
            ) from None
        if not isinstance(meta, Mapping):
            raise SceneError(f"{where}: room.args.metadata must be a JSON object")
        missing = [k for k in ROOM_METADATA_KEYS if k not in meta]
        if missing:
            raise SceneError(f"{where}: room.args.metadata lacks key(s) {', '.join(missing)}")
        if not isinstance(meta["sofa_path"], str) or not meta["sofa_path"]:
            raise SceneError(f"{where}: room.args.metadata.sofa_path must be a non-empty string")
        rng = meta["direct_range_ms"]
        if not (
            isinstance(rng, Sequence)
            and len(rng) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in rng)
        ):
            raise SceneError(
                f"{where}: room.args.metadata.direct_range_ms must be [before, after], got {rng!r}"
            )
        return cls(
            config=copy.deepcopy(dict(config)),
            fg_events=events["fg_events"],
            bg_events=events["bg_events"],
            int_events=events["int_events"],
            room=copy.deepcopy(dict(room)),
            source=source,
        )

    @classmethod
    def from_json(cls, path_or_dict: Union[PathLike, Mapping[str, Any]]) -> "Scene":
        """Read a per-mixture JSON file (or take an already-parsed dict)."""
        if isinstance(path_or_dict, Mapping):
            return cls.from_dict(path_or_dict)
        name = os.fspath(path_or_dict)
        return cls.from_dict(_read_json(name, "a scene JSON file"), source=name)


def _read_json(name: str, expected: str) -> Any:
    """Parsed JSON of file ``name``; one-line :class:`SceneError` naming it otherwise."""
    return read_json(name, expected, error=SceneError)


def padded_labels(labels: Sequence[str], num_slots: int = NUM_SLOTS) -> List[str]:
    """``labels`` padded with ``silence`` to ``num_slots`` (more labels is an error)."""
    labels = list(labels)
    if len(labels) > num_slots:
        raise SceneError(f"{len(labels)} target labels do not fit into {num_slots} slots: {labels}")
    return labels + [SILENCE] * (num_slots - len(labels))


def load_metadata_list(valid_json: PathLike) -> List[Path]:
    """Per-mixture JSON paths listed in a ``metadata/valid.json``-style file.

    The file is a JSON list of objects with key ``metadata_path``, relative to the
    folder that holds the list (``metadata/`` for the official ``valid.json``).
    Other keys (e.g. 2025's ``ref_event``) are ignored. Returns paths in list order.
    """
    name = os.fspath(valid_json)
    entries = _read_json(name, "a metadata list JSON file")
    if not isinstance(entries, list):
        raise SceneError(f"{name}: expected a JSON list of {{'metadata_path': ...}} entries")
    base = Path(name).parent
    paths = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("metadata_path"), str):
            raise SceneError(f"{name}: entry {i} has no string 'metadata_path'")
        paths.append(base / entry["metadata_path"])
    return paths


def write_metadata_list(path: PathLike, json_paths: Sequence[PathLike]) -> None:
    """Write a ``valid.json``-style list of ``json_paths`` (relative to ``path``'s folder)."""
    base = Path(os.path.abspath(Path(path).parent))
    entries = []
    for p in json_paths:
        rel = os.path.relpath(os.path.abspath(p), base)
        entries.append({"metadata_path": Path(rel).as_posix()})
    atomic_write_text(path, json.dumps(entries, indent=2) + "\n")
