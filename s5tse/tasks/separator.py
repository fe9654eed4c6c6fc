"""The ``separator`` task: label-queried separators trained with class-aware PIT.

Trains a separator of :mod:`s5tse.models.separator` on on-the-fly mixtures with ORACLE
queries from the synthesizer (reference ``separator_sr_corrnet.md`` §7.1,
``dcase2026_task4.md`` §4.4-4.5): for every slot, ``strong`` = the frame activity of its
event (40-ms grid of the dataset) and ``weak`` = its one-hot (all zeros for ``silence``).
Validation runs on the full 10-s clips of the validation scenes (``data/valid``)::

    python -m s5tse.bin.train \\
        --config conf/tuning/train_separator_lq_sr_corrnet_cpu_small.yaml \\
        --train_data data --valid_data data --classes data/lang/classes.txt \\
        --synthesis conf/synthesis.yaml --output_dir exp/separator_cpu_small

**Data directories.** ``--train_data`` and ``--valid_data`` are the recipe's ``data/``
(:mod:`s5tse.tasks.data`, the data contract of :mod:`s5tse.fileio.contract`): the
on-the-fly generator draws from the ``*_train`` pools (events, interference, noise,
rooms) under the synthesis rules (``synthesis``, recorded in ``config.yaml``), validation
renders the scenes of ``data/valid``.

**Classes.** ``classes``: the class inventory file of stage 1 (``data/lang/classes.txt``,
``--classes``), recorded as a list in ``config.yaml``. It sets the query size (``num_classes``
of the model) and the loss's silence index; neither can be configured otherwise.

**Registries.**

* ``model``: ``lq_sr_corrnet`` (:class:`LabelQueriedSRCorrNet`) | ``resunetk``
  (:class:`ResUNetK`); ``model_conf`` = ``preset`` plus any constructor / config field
  as an override (checked by :meth:`SeparatorTask.resolve_config`).
* ``loss``: ``ca_pit`` (:class:`ClassAwarePITLoss`, ``objective: snr | si_sdr | sum``).
* ``train_dataset`` / ``valid_dataset``: ``onthefly`` (:class:`SeparatorOnTheFlyDataset`;
  the separator's generator defaults, ``nevent_range [1, 3]``, random crops of 4 s by
  default, placed to overlap a target event) | ``metadata`` (:class:`MetadataDataset`,
  full clips).

The network is wrapped in :class:`SeparatorModel`, the ESPnet contract
``forward(**batch) -> (loss, stats, weight)``.

**Task keys.** ``aux_loss_weight`` (SR-CorrNet's SepRe auxiliary outputs): ``null`` = the
schedule ``loss_conf.aux_schedule`` at the current epoch (0.5 up to epoch 100, then decayed);
a number = that fixed total weight, shared evenly by the auxiliary outputs (0 switches the
term off; it stays in the graph so DDP sees every parameter used). The trainer has no
per-epoch model hook; :class:`SeparatorModel` reads the epoch from the training item ids
(``train/e0003/...``, :meth:`OnTheFlyDataset.scene_id`), which is exact after a resume too.

**Statistics** (train and valid; means over the active slots of a batch, slots aligned by
the class-aware permutation): ``loss`` (plus ``loss_main``/``loss_aux`` with auxiliary
outputs), ``snr``, ``si_sdr`` (dB) and ``sdri`` = ``SNR(est, ref) - SNR(mixture ch 0, ref)``,
the per-source term of CAPI-SDRi with oracle labels (no FP/FN; §5.2). Criteria such as
``best_model_criterion: [[valid, sdri, max], [valid, loss, min]]`` refer to these keys.

Items must have one length per batch (the on-the-fly crops and the 10-s validation clips
do); zero padding would be scored as signal.
"""
from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import re
import types
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from s5tse.datasets.metadata import MetadataDataset
from s5tse.datasets.onthefly import DEFAULT_FRAME_HOP, OnTheFlyDataset
from s5tse.labels import ClassInventory
from s5tse.losses.ca_pit import ClassAwarePITLoss
from s5tse.losses.ca_pit import aux_weights as aux_weight_schedule
from s5tse.losses.pit_tagger import reorder_slots
from s5tse.losses.sdr import si_sdr, snr
from s5tse.models.separator.resunetk import RESUNETK_PRESETS, ResUNetK
from s5tse.models.separator.sr_corrnet.checkpoint import load_sr_corrnet_ss
from s5tse.models.separator.sr_corrnet.model import (
    SR_CORRNET_PRESETS,
    LabelQueriedSRCorrNet,
    SRCorrNetConfig,
)
from s5tse.simulate.generator import GeneratorConfig, scene_rng
from s5tse.tasks.abs_task import (
    TRAIN_DATASET_INJECTED,
    VALID_DATASET_INJECTED,
    AbsTask,
    Choice,
)
from s5tse.tasks.data import inventory_of, resolve_data_dir, scene_dir_of
from s5tse.tasks.registry import Registry
from s5tse.utils.config import ConfigError

__all__ = ["DATASETS", "LOSSES", "MODELS", "SAMPLE_RATE", "SEPARATOR_GENERATOR", "SeparatorModel",
           "SeparatorOnTheFlyDataset", "SeparatorTask", "TASK", "epoch_from_ids", "spectrogram_image"]

MODELS = Registry("model")
LOSSES = Registry("loss")
DATASETS = Registry("dataset")

SAMPLE_RATE = 32000

def _generator_defaults() -> Dict[str, Any]:
    defaults = GeneratorConfig(nevent_range=(1, 3))
    out = {}
    for f in dataclasses.fields(GeneratorConfig):
        value = getattr(defaults, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


#: The generator of the separator's training data: the official 2026 settings with
#: ``nevent_range [1, 3]`` ("the separation model does not train with 0 SEs", §3.1).
SEPARATOR_GENERATOR: Mapping[str, Any] = types.MappingProxyType(_generator_defaults())

_EPOCH_IN_ID = re.compile(r"(?:^|/)e(\d+)/")

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------- models
#: ``model_conf`` key of ``lq_sr_corrnet`` naming a SR_CorrNet_SS checkpoint to start from.
INIT_SR_CORRNET_SS = "init_sr_corrnet_ss"


@MODELS.register("lq_sr_corrnet")
def lq_sr_corrnet(preset: Optional[str] = "cpu_small", **overrides: Any) -> LabelQueriedSRCorrNet:
    """:meth:`LabelQueriedSRCorrNet.from_preset` (``unit | cpu_small | base | large``;
    None = the :class:`SRCorrNetConfig` defaults) with :class:`SRCorrNetConfig` field overrides.

    ``init_sr_corrnet_ss: <path>`` (optional, default null; taken from the overrides so that
    configs without it resolve unchanged): after construction, copy the label-agnostic weights
    of a public SR_CorrNet_SS checkpoint into the model
    (:func:`~s5tse.models.separator.sr_corrnet.checkpoint.load_sr_corrnet_ss`, strict: the
    preset / overrides must match the checkpoint's sizes); the import report is logged. A
    resumed run then loads its own checkpoint over it.
    """
    init = overrides.pop(INIT_SR_CORRNET_SS, None)
    if preset is None:
        model = LabelQueriedSRCorrNet(**overrides)
    else:
        model = LabelQueriedSRCorrNet.from_preset(preset, **overrides)
    if init is not None:
        report = load_sr_corrnet_ss(model, str(init), strict_backbone=True)
        log.info("%s", report.summary())
    return model


@MODELS.register("resunetk")
def resunetk(preset: Optional[str] = "cpu_small", **overrides: Any) -> ResUNetK:
    """:meth:`ResUNetK.from_preset` (``official | cpu_small | unit``; None = the constructor
    defaults) with constructor-argument overrides."""
    if preset is None:
        return ResUNetK(**overrides)
    return ResUNetK.from_preset(preset, **overrides)


def _sr_corrnet_fields() -> List[str]:
    return [f.name for f in dataclasses.fields(SRCorrNetConfig)] + [INIT_SR_CORRNET_SS]


def _resunetk_fields() -> List[str]:
    params = inspect.signature(ResUNetK.__init__).parameters
    return [k for k in params if k != "self"]


def _check_sr_corrnet(preset: Optional[str], overrides: Mapping[str, Any]) -> None:
    overrides = dict(overrides)
    init = overrides.pop(INIT_SR_CORRNET_SS, None)
    if init is not None and (not isinstance(init, str) or not init):
        raise ValueError(f"{INIT_SR_CORRNET_SS} must be null or a checkpoint path, got {init!r}")
    base = SR_CORRNET_PRESETS[preset] if preset is not None else SRCorrNetConfig()
    dataclasses.replace(base, **overrides)  # __post_init__ validates the values


def _check_resunetk(preset: Optional[str], overrides: Mapping[str, Any]) -> None:
    del preset, overrides  # ResUNetK validates in its constructor (cheap enough at build)


# model name -> (presets, valid override keys, check(preset, overrides) raising on bad values)
_MODEL_CHECKS = {
    "lq_sr_corrnet": (SR_CORRNET_PRESETS, _sr_corrnet_fields, _check_sr_corrnet),
    "resunetk": (RESUNETK_PRESETS, _resunetk_fields, _check_resunetk),
}


# -------------------------------------------------------------------------- losses
LOSSES.register("ca_pit", ClassAwarePITLoss)


# ------------------------------------------------------------------------ datasets
CROP_POLICIES = ("active", "uniform")


class SeparatorOnTheFlyDataset(OnTheFlyDataset):
    """:class:`OnTheFlyDataset` whose random crop overlaps a target event (``crop_policy``).

    ``uniform`` is the base class's crop (a frame-aligned start, uniform over the clip): with
    short crops many items have no target left (on the mini corpus 42 % of the 1-s crops and
    17 % of the 4-s crops of ``nevent_range [1, 3]`` scenes), which adds nothing to the loss
    but costs a full step. ``active`` (default) draws the start uniformly among the
    frame-aligned starts whose window overlaps at least one target event
    (``[event_time, event_time + event_duration)`` of the scene), from the same random
    stream; scenes without targets fall back to ``uniform``. A slot whose reference support
    misses the crop still becomes ``silence`` (:func:`~s5tse.datasets.onthefly.crop_targets`).
    """

    def __init__(self, *args: Any, crop_policy: str = "active", **kwargs: Any) -> None:
        if crop_policy not in CROP_POLICIES:
            raise ValueError(f"crop_policy must be one of {', '.join(CROP_POLICIES)}, got {crop_policy!r}")
        super().__init__(*args, **kwargs)
        self.crop_policy = crop_policy

    def crop_start(self, i: Any) -> int:
        if self.crop_samples is None or self.crop_policy == "uniform":
            return super().crop_start(i)
        hop, length = self.frame_hop, self.crop_samples
        starts = hop * np.arange((self.num_samples - length) // hop + 1)
        ok = np.zeros(starts.shape, dtype=bool)
        sr = self.cfg.sr
        for ev in self.scene(i).fg_events:
            on = int(round(ev.event_time * sr))
            off = min(self.num_samples, on + int(round(ev.event_duration * sr)))
            ok |= (starts < off) & (starts + length > on)
        rng = scene_rng(self.seed, f"crop/{self.scene_id(i)}")
        if not ok.any():
            return int(starts[rng.integers(len(starts))])
        return int(starts[ok][rng.integers(int(ok.sum()))])


@DATASETS.register("onthefly")
def onthefly(
    data_dir: Optional[str] = None,
    split: str = "train",
    seed: int = 0,
    num_items: int = 1000,
    generator: Mapping[str, Any] = SEPARATOR_GENERATOR,
    crop_sec: Optional[float] = 4.0,
    crop_policy: str = "active",
    frame_hop: int = DEFAULT_FRAME_HOP,
    classes: Optional[ClassInventory] = None,
    synthesis: Optional[Mapping[str, Any]] = None,
) -> OnTheFlyDataset:
    """:class:`SeparatorOnTheFlyDataset` of the ``<data_dir>/*_<split>`` pools: the
    recipe's synthesis rules (``synthesis``, engine-supplied) with the separator defaults
    (:data:`SEPARATOR_GENERATOR`) and then ``generator`` on top; ``crop_sec`` null = full
    clips; ``crop_policy``: ``active`` (the crop overlaps a target event) | ``uniform``.

    As a validation set (``num_items`` configurable there) it stays at epoch 0: fixed items.
    """
    gen = {**dict(synthesis or {}), **SEPARATOR_GENERATOR, **dict(generator or {})}
    return SeparatorOnTheFlyDataset(resolve_data_dir(data_dir, f"{split} data"), split=split,
                                    generator=gen, seed=seed,
                                    num_items=num_items, crop_sec=crop_sec, frame_hop=frame_hop,
                                    want_dry=True, crop_policy=crop_policy, classes=classes)


@DATASETS.register("metadata")
def metadata(
    data_dir: Optional[str] = None,
    split: str = "valid",
    seed: int = 0,
    scenes: Optional[str] = None,
    frame_hop: int = DEFAULT_FRAME_HOP,
    max_items: int = 0,
    classes: Optional[ClassInventory] = None,
) -> torch.utils.data.Dataset:
    """:class:`MetadataDataset`: the validation scenes at full length.

    ``data_dir`` is the recipe's ``data/`` (the scenes of ``<data_dir>/<scenes>``, null =
    ``valid``) or a scene table dir; ``max_items > 0`` keeps the first ``max_items``
    mixtures (quick validation on a CPU).
    """
    del seed  # deterministic metadata
    ds = MetadataDataset(scene_dir_of(data_dir, scenes or split), frame_hop=frame_hop,
                         want_dry=True, classes=classes)
    if max_items and max_items < len(ds):
        return torch.utils.data.Subset(ds, range(int(max_items)))
    return ds


# --------------------------------------------------------------------------- model
def epoch_from_ids(ids: Any) -> Optional[int]:
    """The epoch encoded in on-the-fly item ids (``"train/e0003/000000005"`` -> 3), else None."""
    if not ids:
        return None
    m = _EPOCH_IN_ID.search(str(ids[0]) if isinstance(ids, (list, tuple)) else str(ids))
    return int(m.group(1)) if m else None


def _active_mean(values: Tensor, active: Tensor) -> Optional[Tensor]:
    if not bool(active.any()):
        return None
    return values[active].mean()


class SeparatorModel(torch.nn.Module):
    """ESPnet-contract wrapper of a separator and the class-aware PIT loss.

    Args:
        separator: an :class:`~s5tse.models.separator.abs_separator.AbsSeparator`.
        loss: a :class:`ClassAwarePITLoss`.
        aux_loss_weight: None = the loss's schedule at the current epoch; a number = fixed
            total weight of the auxiliary outputs (``extras["aux"]``), split evenly.

    ``forward(mixture, dry, label_index, strong, weak, id, **batch)`` with the batch of
    :func:`s5tse.datasets.collate_scenes`: queries ``strong [B, K, F]`` (resampled by the
    separator) and ``weak [B, K, C]``; references ``dry [B, K, T]``; labels
    ``label_index [B, K]`` (``C`` = silence). Returns ``(loss, stats, weight = B)``.
    """

    def __init__(self, separator: torch.nn.Module, loss: ClassAwarePITLoss,
                 aux_loss_weight: Optional[float] = None) -> None:
        super().__init__()
        self.separator = separator
        self.loss = loss
        self.aux_loss_weight = None if aux_loss_weight is None else float(aux_loss_weight)

    def set_activation_checkpointing(self, enabled: bool) -> None:
        self.separator.set_activation_checkpointing(bool(enabled))

    def set_epoch(self, epoch: int) -> None:
        """Epoch (1-based) of the auxiliary-weight schedule."""
        self.loss.set_epoch(epoch)

    def aux_weights(self, num_aux: int) -> List[float]:
        """Weights of ``num_aux`` auxiliary outputs now (see ``aux_loss_weight``)."""
        if self.aux_loss_weight is None:
            return aux_weight_schedule(self.loss.epoch, num_aux, **self.loss.aux_schedule)
        return [self.aux_loss_weight / num_aux] * num_aux if num_aux else []

    def compute(
        self, mixture: Tensor, dry: Tensor, label_index: Tensor, strong: Tensor, weak: Tensor,
        id: Any = None, **kwargs: Any,
    ) -> Tuple[Tensor, Dict[str, Optional[Tensor]], Tensor, Tensor]:
        """:meth:`forward` plus the estimates in reference order ``[B, K, T]`` (detached)."""
        if self.training:
            epoch = epoch_from_ids(id)
            if epoch is not None:
                self.loss.set_epoch(epoch)
        est, extras = self.separator(mixture, strong, weak)
        aux = [a for a in (extras.get("aux") or [])] if isinstance(extras, Mapping) else []
        loss, stats, perm = self.loss(est, dry, label_index, aux=aux or None,
                                      aux_weights=self.aux_weights(len(aux)) if aux else None)
        stats = dict(stats)
        with torch.no_grad():
            aligned = reorder_slots(est.detach(), perm).float()
            ref = dry.detach().float()
            active = (label_index != self.loss.silence_index) & (label_index >= 0)
            est_snr = snr(aligned, ref, eps=self.loss.eps)
            mix_snr = snr(mixture[:, :1].detach().float(), ref, eps=self.loss.eps)
            stats["snr"] = _active_mean(est_snr, active)
            stats["si_sdr"] = _active_mean(
                si_sdr(aligned, ref, zero_mean=self.loss.si_sdr_zero_mean, eps=self.loss.eps), active)
            stats["sdri"] = _active_mean(est_snr - mix_snr, active)
        weight = torch.tensor(mixture.shape[0], device=mixture.device)
        return loss, stats, weight, aligned

    def forward(self, **batch: Any) -> Tuple[Tensor, Dict[str, Optional[Tensor]], Tensor]:
        loss, stats, weight, _ = self.compute(**batch)
        return loss, stats, weight


# -------------------------------------------------------------------- examples
def spectrogram_image(signals: Tensor, n_fft: int = 512, hop: int = 320,
                      floor_db: float = -80.0) -> Tensor:
    """``[N, T]`` waveforms -> ``[1, N * (n_fft/2 + 1 + 2), frames]`` image in [0, 1].

    Log-magnitude STFTs (one shared dB scale, ``floor_db`` below the loudest bin), low
    frequencies at the bottom of each panel, panels stacked top to bottom with a white
    2-pixel separator. No plotting library needed.
    """
    x = signals.detach().float().cpu()
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True).abs()
    db = 20.0 * torch.log10(spec + 1e-10)
    db = db.clamp(min=db.max() + floor_db)
    img = (db - db.min()) / (db.max() - db.min()).clamp(min=1e-6)       # [N, F, frames]
    img = img.flip(1)
    sep = torch.ones(img.shape[0], 2, img.shape[2])
    return torch.cat([img, sep], dim=1).reshape(1, -1, img.shape[2])[:, :-2]


# ---------------------------------------------------------------------------- task
class SeparatorTask(AbsTask):
    """Label-queried separator training (module docstring)."""

    name = "separator"
    uses_classes = True

    def choices(self) -> List[Choice]:
        return [
            Choice("model", MODELS, "lq_sr_corrnet", ("num_classes",)),
            Choice("loss", LOSSES, "ca_pit", ("silence_index",)),
            Choice("train_dataset", DATASETS, "onthefly",
                   TRAIN_DATASET_INJECTED + ("classes", "synthesis")),
            Choice("valid_dataset", DATASETS, "metadata",
                   VALID_DATASET_INJECTED + ("classes", "synthesis")),
        ] + super().choices()

    def task_defaults(self) -> Dict[str, Any]:
        return {"aux_loss_weight": None}

    def resolve_config(self, config: Mapping[str, Any]) -> Dict[str, Any]:
        """The base checks, plus: model presets and override keys, the full generator."""
        out = super().resolve_config(config)
        w = out.get("aux_loss_weight")
        if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float))
                              or not math.isfinite(w) or w < 0):
            raise ConfigError(f"'aux_loss_weight' must be null or a number >= 0, got {w!r}")
        name = str(out["model"]).lower()
        if name in _MODEL_CHECKS:
            presets, fields, check = _MODEL_CHECKS[name]
            conf = dict(out["model_conf"])
            preset = conf.pop("preset", "cpu_small")
            if preset is not None and preset not in presets:
                raise ConfigError(f"model_conf.preset: unknown {name} preset {preset!r} "
                                  f"(choices: {', '.join(sorted(presets))})")
            valid = [k for k in fields() if k != "num_classes"]  # the inventory sets it
            for key in conf:
                if key not in valid:
                    raise ConfigError(f"model_conf: unknown key '{key}' for model '{name}' "
                                      f"(valid: preset, {', '.join(valid)})")
            try:
                check(preset, conf)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"model_conf: {exc}") from None
        for key in ("train_dataset", "valid_dataset"):
            conf = out[f"{key}_conf"]
            if out[key] == "onthefly":
                if conf.get("crop_policy") not in CROP_POLICIES:
                    raise ConfigError(f"{key}_conf.crop_policy must be one of "
                                      f"{', '.join(CROP_POLICIES)}, got {conf.get('crop_policy')!r}")
                gen = {**SEPARATOR_GENERATOR, **dict(conf.get("generator") or {})}
                try:
                    GeneratorConfig.from_dict(dict(gen))
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{key}_conf.generator: {exc}") from None
                out[f"{key}_conf"] = {**conf, "generator": gen}
        return out

    def build_model(self, config: Mapping[str, Any]) -> torch.nn.Module:
        self.classes = inventory_of(config)
        n = self.classes.num_classes
        return SeparatorModel(self.build_choice("model", config, num_classes=n),
                              self.build_choice("loss", config, silence_index=n),
                              aux_loss_weight=config.get("aux_loss_weight"))

    def forward_valid(self, model: torch.nn.Module, batch: Mapping[str, Any]) -> Any:
        """Loss and stats of the batch; ``output`` = the aligned estimates of item 0 ``[K, T]``."""
        loss, stats, weight, aligned = model.compute(**batch)
        return loss, stats, weight, aligned[0].detach()

    def log_examples(self, writer: Any, batch: Mapping[str, Any], output: Any, step: int) -> None:
        """Audio (32 kHz) of item 0: mixture channel 0, then estimate and reference of each
        active slot (one common gain, peak 0.9); plus their spectrograms as one image."""
        if writer is None or output is None:
            return
        mix = batch["mixture"][0, 0].detach().float().cpu()
        est = output.detach().float().cpu()
        ref = batch["dry"][0].detach().float().cpu()
        labels = batch["label_index"][0].tolist()
        clips = [("mixture_ch0", mix)]
        inventory = getattr(self, "classes", None)
        for k, c in enumerate(labels):
            if c < 0 or (inventory is not None and c >= inventory.num_classes):
                continue
            name = inventory.index_to_label(c) if inventory is not None else str(c)
            clips.append((f"slot{k}_{name}_estimate", est[k]))
            clips.append((f"slot{k}_{name}_reference", ref[k]))
        peak = max(float(x.abs().max()) for _, x in clips)
        gain = 0.9 / peak if peak > 0 else 1.0
        for tag, x in clips:
            writer.add_audio(f"examples/{tag}", (x * gain).clamp(-1.0, 1.0).unsqueeze(0), step,
                             sample_rate=SAMPLE_RATE)
        writer.add_image("examples/spectrograms",
                         spectrogram_image(torch.stack([x for _, x in clips])), step)


TASK = SeparatorTask
