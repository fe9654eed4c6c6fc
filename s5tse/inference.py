"""Run a packed system on your own recordings: :class:`SceneSeparator`.

    >>> from s5tse import SceneSeparator
    >>> model = SceneSeparator.from_pretrained("exp/packed/lq_sr_corrnet_fusion")  # doctest: +SKIP
    >>> for source in model("mixture.wav"):                                          # doctest: +SKIP
    ...     print(source.label, round(source.confidence, 2), source.spans)
    ...     # source.waveform: [T] float32 at 32 kHz, the isolated event
    Speech 0.93 [(1.24, 3.56)]

Input: a file path (read with soundfile, checked as ``s5tse.bin.decode`` checks it) or an
array / tensor ``[4, T]`` (FOA W, Y, Z, X) with its ``sample_rate``; other rates need
``resample=True``. Any length: the separator runs block-streamed as the packed decoding config
says (``streaming``), which keeps memory bounded. Thresholds and streaming sizes can be given
per call. The result is computed by the same :class:`~s5tse.decode.runner.Decoder` as
``python -m s5tse.bin.decode`` on the same packed configuration, so the waveforms are those it
writes.

``from_pretrained`` takes a packed model (:mod:`s5tse.packed`: directory or ``.zip``) or a
Hugging Face Hub id (``owner/name``; needs the optional ``huggingface_hub`` package, imported
only then); either way every file is checked against the pack's manifest.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from s5tse.packed import PackedModel, PackedModelError, open_packed

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["SceneSeparator", "SeparatedSource"]

SAMPLE_RATE = 32000
#: Per-call decoding options (the keys of the packed ``decode.yaml`` they replace).
CALL_OPTIONS = ("report_threshold", "query_threshold", "class_report_thresholds",
                "frame_threshold", "streaming")


@dataclass
class SeparatedSource:
    """One reported sound event of a recording.

    Attributes:
        slot: output slot (0-2; the ``<slot>`` of ``s5tse.bin.decode``'s file names).
        label: class name.
        confidence: ``1 - p(silence)`` of the slot (what the report threshold compares).
        probability: the tagger's probability of ``label``.
        waveform: ``[T]`` float32 at 32 kHz, the recording's length.
        spans: active time spans in seconds ``[(start, end), ...]``: runs of 40-ms frames whose
            query activity is at least 0.5 (the whole recording for taggers without frame output).
    """

    slot: int
    label: str
    confidence: float
    probability: float
    waveform: np.ndarray = field(repr=False)
    spans: List[Tuple[float, float]]


def active_spans(activity: torch.Tensor, hop: int, num_samples: int,
                 threshold: float = 0.5) -> List[Tuple[float, float]]:
    """``activity [T_q]`` on a ``hop``-sample grid -> ``[(start_s, end_s)]`` of the runs at or
    above ``threshold`` (ends clipped to the recording)."""
    on = (activity >= threshold).tolist()
    spans, start = [], None
    for t, a in enumerate(on + [False]):
        if a and start is None:
            start = t
        elif not a and start is not None:
            end = min(t * hop, num_samples)
            spans.append((round(start * hop / SAMPLE_RATE, 3), round(end / SAMPLE_RATE, 3)))
            start = None
    return spans


def _resolve(path_or_id: PathLike, cache_dir: Optional[PathLike]) -> Path:
    """A local pack, else a Hub repository downloaded with ``huggingface_hub``."""
    path = Path(path_or_id)
    if path.exists():
        return path
    text = os.fspath(path_or_id)
    if text.count("/") != 1 or text.startswith((".", "/")) or text.endswith((".zip", "/")):
        raise PackedModelError(f"{text}: no such packed model (a directory or .zip written by "
                               "python -m s5tse.bin.pack_model, or a Hub id owner/name)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise PackedModelError(f"{text}: not a local path; loading from the Hugging Face Hub "
                               "needs the optional package huggingface_hub (pip install "
                               "huggingface_hub)") from None
    return Path(snapshot_download(repo_id=text, cache_dir=cache_dir))


class SceneSeparator:
    """A packed system (tagger -> bridge -> separator) as one callable (module docstring).

    Args:
        packed: an opened :class:`~s5tse.packed.PackedModel`.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        **overrides: decoding options replacing the packed ones for every call
            (:data:`CALL_OPTIONS`, ``resample``).
    """

    def __init__(self, packed: PackedModel, device: str = "cpu", **overrides: Any) -> None:
        self.packed = packed
        self.config = self._config(dict(packed.decode_config, device=device), overrides)
        self._decoders: Dict[Tuple[Any, ...], Any] = {}
        self._decoder(self.config)          # load now: bad files fail here, not at the first call

    @classmethod
    def from_pretrained(cls, path_or_id: PathLike, device: str = "cpu", *,
                        cache_dir: Optional[PathLike] = None, **overrides: Any) -> "SceneSeparator":
        """Load a packed model (directory, ``.zip`` or Hub id) onto ``device``."""
        return cls(open_packed(_resolve(path_or_id, cache_dir)), device=device, **overrides)

    # ------------------------------------------------------------------ config
    @staticmethod
    def _config(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> Dict[str, Any]:
        from s5tse.decode.config import check_decode_config

        unknown = sorted(set(overrides) - set(CALL_OPTIONS) - {"resample"})
        if unknown:
            raise TypeError(f"unknown decoding option(s) {unknown}; choose from "
                            f"{sorted(CALL_OPTIONS + ('resample',))}")
        config = dict(base, **{k: v for k, v in overrides.items() if v is not None})
        check_decode_config(config)
        return config

    def _decoder(self, config: Mapping[str, Any]) -> Any:
        """The :class:`~s5tse.decode.runner.Decoder` of ``config`` (models loaded once)."""
        from s5tse.decode.pipeline import build_decoder

        key = tuple(repr(config.get(k)) for k in CALL_OPTIONS + ("resample",))
        if key not in self._decoders:
            if self._decoders:  # same models, other thresholds or streaming: share the networks
                first = next(iter(self._decoders.values()))
                self._decoders[key] = _rebind(first, config)
            else:
                decoder, self.separator_exp, self.tagger_exp = build_decoder(
                    config, os.fspath(self.packed.part("separator")),
                    os.fspath(self.packed.part("tagger")), oracle=False)
                self._decoders[key] = decoder
        return self._decoders[key]

    @property
    def classes(self) -> List[str]:
        """The class labels this system can report."""
        return self.separator_exp.classes.to_list()

    # ------------------------------------------------------------------ call
    def __call__(self, audio: Union[PathLike, np.ndarray, torch.Tensor],
                 sample_rate: Optional[int] = None, **options: Any) -> List[SeparatedSource]:
        """Separate one recording; ``options`` as the constructor's ``overrides``, for this call."""
        config = self._config(self.config, options) if options else self.config
        x, name = self._read(audio, sample_rate, bool(config["resample"]))
        return self.sources(self._decode(x, name, config))

    def decode(self, x: torch.Tensor, name: str = "input", **options: Any) -> Any:
        """``x [4, T]`` (32 kHz) -> the :class:`~s5tse.decode.runner.ItemResult` that
        ``s5tse.bin.decode`` computes for it (every slot's decision, ``sources [3, T]``)."""
        return self._decode(x, name, self._config(self.config, options) if options else self.config)

    def _decode(self, x: torch.Tensor, name: str, config: Mapping[str, Any]) -> Any:
        from s5tse.decode.inputs import DecodeItem

        return self._decoder(config).decode_batch([(DecodeItem(name, name), x)])[0]

    def sources(self, result: Any) -> List[SeparatedSource]:
        """The reported slots of a :meth:`decode` result, in slot order."""
        q, hop = result.bridge, self._decoder(self.config).bridge.query_hop
        return [SeparatedSource(slot=k, label=q.labels[k], confidence=float(q.confidence[k]),
                                probability=float(q.probability[k]),
                                waveform=np.asarray(result.sources[k], dtype=np.float32),
                                spans=active_spans(q.strong[k], hop, result.num_samples))
                for k in range(q.num_slots) if bool(q.report[k])]

    def _read(self, audio: Any, sample_rate: Optional[int], resample: bool
              ) -> Tuple[torch.Tensor, str]:
        """``[4, T]`` float32 at 32 kHz and a name; errors name the file or say what was expected."""
        from s5tse.decode.inputs import check_mixture_array, read_mixture

        if isinstance(audio, (str, os.PathLike)):
            if sample_rate is not None:
                raise ValueError("sample_rate is read from the file; give it only with arrays")
            return read_mixture(os.fspath(audio), resample=resample), Path(audio).stem
        x = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
        if sample_rate is None:
            raise ValueError("an array input needs its sample_rate")
        return check_mixture_array(x, int(sample_rate), "input", resample,
                                   resample_hint="pass resample=True to resample it"), "input"


def _rebind(decoder: Any, config: Mapping[str, Any]) -> Any:
    """A copy of ``decoder`` (same networks) with the bridge and streaming of ``config``."""
    import copy

    from s5tse.bridge import Bridge
    from s5tse.decode.config import parse_streaming

    out = copy.copy(decoder)
    b = decoder.bridge
    out.bridge = Bridge(config["report_threshold"], config["query_threshold"],
                        config["frame_threshold"], query_hop=b.query_hop, classes=b.classes,
                        class_report_thresholds=config.get("class_report_thresholds"))
    out.streaming = parse_streaming(config["streaming"])[1]
    out.resample = bool(config["resample"])
    return out
