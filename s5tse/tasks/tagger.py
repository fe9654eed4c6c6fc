"""The ``tagger`` task: slot taggers (fusion M2D + fPaSST, or the M2DAT baseline) with PIT.

    python -m s5tse.bin.train --config conf/tuning/train_tagger_fusion_tiny.yaml \\
        --train_data data --valid_data data --classes data/lang/classes.txt \\
        --synthesis conf/synthesis.yaml --output_dir exp/tagger_tiny

Data (``--train_data`` / ``--valid_data``): the recipe's ``data/`` (:mod:`s5tse.tasks.data`,
the data contract of :mod:`s5tse.fileio.contract`). Training mixtures are generated on the
fly from the ``*_train`` pools under the synthesis rules (``synthesis``, recorded in
``config.yaml``); validation renders the scenes of ``data/valid``. With
``valid_dataset: kaldi`` the validation data is a Kaldi data dir of pre-rendered mixtures
instead (``wav.scp``, ``text``, ``spk{1,2,3}.scp``; e.g. ``--valid_data dump/valid`` of
stage 2, which avoids re-rendering at every validation); its audio is checked for 32 kHz
and 4 channels, errors name the file.

Classes (``classes``): the class inventory, ``data/lang/classes.txt`` of stage 1 (run.sh passes
``--classes``); ``config.yaml`` records the list itself, so the experiment carries its classes
into decoding. The heads get ``C + 1`` outputs (silence last), the datasets and the loss the
same indices.

Registries:

* model ``fusion`` (:class:`FusionTaggerModel`): :class:`~s5tse.models.tagger.fusion.FusionTagger`
  trained with :class:`~s5tse.losses.pit_tagger.TaggerPITLoss` (weak CE + ``strong_weight``
  x frame CE under one slot permutation);
* model ``m2dat`` (:class:`M2DATTaggerModel`): the DCASE 2026 baseline
  :class:`~s5tse.models.tagger.m2dat.M2DATTagger` trained with
  :func:`~s5tse.losses.pit_tagger.baseline_pit_ce` (weak PIT CE only);
* train_dataset ``onthefly`` (:func:`onthefly_dataset`): official generator, ``nevent_range``
  ``[0, 3]`` by default, optional frame-aligned random crop ``crop_sec``;
* valid_dataset ``metadata`` (:func:`metadata_dataset`, the ``data/valid`` scenes at full
  length) or ``kaldi`` (:func:`kaldi_dataset`, pre-rendered).

Model config keys (``model_conf``), both models::

    preset: tiny            # tiny | small | real (encoder and head sizes)
    m2d_weights: null       # published M2D checkpoint, loaded by M2DEncoder.load_pretrained
    init_weights: null      # weights-only init from a previous run (``{N}epoch.pth``,
                            # ``valid.*.best.pth`` or ``checkpoint.pth``); pretrained
                            # backbone files are then not read
    label_smoothing: 0.0
  fusion only: fpasst_weights (FPaSSTEncoder.load_pretrained), d_fused / head_hidden (null =
  preset), head_dropout, proj_dropout, pooling, strong_weight (lambda), weak_weight.
  m2dat only: num_channels (4 | 1), hidden / slot_hidden (null = preset), dropout, ref_channel.

Paths are relative to the current directory (the recipe directory under ``run.sh``). Nothing
is downloaded. A ``real`` preset without backbone weights (and without ``init_weights``) is
built with random weights and a warning: fine for ``--dry_run``, useless for training.
Freezing and per-group learning rates use the engine's ``freeze_param`` / ``param_groups``
on the parameter names ``tagger.m2d.*``, ``tagger.fpasst.*``, ``tagger.proj_*``,
``tagger.head.*``.

Frozen-feature cache (top-level ``feature_cache_epochs: N``, 0 = off; step 1 only, i.e. with
every backbone parameter frozen by ``freeze_param``): the training mixtures of epochs 1 .. N
and the validation clips are rendered and run through the backbones once, before the first
update (:class:`~s5tse.datasets.encoded.EncodedDataset`); epoch ``e`` then trains the
projections and head on the kept outputs of epoch ``(e - 1) % N + 1``'s mixtures (reshuffled).
An update then costs the head alone: about 0.03 s instead of 2.5 s for the ``tiny`` fusion
tagger on 8 whole clips on one CPU thread. With ``N >= max_epochs`` the run sees the same
mixtures as without the cache.

Statistics (train and valid): ``loss``; ``weak_ce`` and ``strong_ce`` (fusion); ``acc_mix``
and ``acc_src`` in percent, from argmax decoding of each slot's weak logits ((C + 1)-way, silence
included, no threshold -- the baseline's decoding) compared with the reference slots as
multisets (:mod:`s5tse.metrics.labels`). ``acc_mix`` over the validation set is exact (a
mean over mixtures); ``acc_src`` is pooled per batch and the engine averages the batches
(weighted by their sizes), so it equals the set-pooled value only up to the batching.
``best_model_criterion: [[valid, acc_mix, max], [valid, loss, min]]`` works.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn

from s5tse.labels import ClassInventory
from s5tse.metrics.labels import acc_mix, acc_src, label_counts
from s5tse.tasks.abs_task import (
    TRAIN_DATASET_INJECTED,
    VALID_DATASET_INJECTED,
    AbsTask,
    Choice,
)
from s5tse.tasks.data import inventory_of, resolve_data_dir, scene_dir_of
from s5tse.tasks.registry import Registry
from s5tse.utils.config import ConfigError

__all__ = [
    "DATASETS",
    "MODELS",
    "TASK",
    "FusionTaggerModel",
    "M2DATTaggerModel",
    "TaggerTask",
    "kaldi_dataset",
    "label_accuracy",
    "metadata_dataset",
    "onthefly_dataset",
]

log = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

MODELS = Registry("model")
DATASETS = Registry("dataset")

_MAX_IDS = 8


@DATASETS.register("onthefly")
def onthefly_dataset(
    data_dir: Optional[PathLike] = None,
    *,
    split: str = "train",
    seed: int = 0,
    num_items: int = 1000,
    generator: Optional[Mapping[str, Any]] = None,
    crop_sec: Optional[float] = None,
    classes: Optional[ClassInventory] = None,
    synthesis: Optional[Mapping[str, Any]] = None,
) -> torch.utils.data.Dataset:
    """:class:`~s5tse.datasets.OnTheFlyDataset` on the ``<data_dir>/*_<split>`` pools.

    Args:
        data_dir: the recipe's ``data/`` (engine: ``--train_data``).
        split, seed, num_items, classes, synthesis: engine-supplied (``synthesis``: the
            recipe's synthesis rules, top-level config key).
        generator: :class:`~s5tse.simulate.generator.GeneratorConfig` fields that override
            the synthesis rules (null = the rules as they are, ``nevent_range: [0, 3]``).
        crop_sec: frame-aligned random crop in seconds (null = the full 10-s clip).
    """
    from s5tse.datasets import OnTheFlyDataset

    return OnTheFlyDataset(
        resolve_data_dir(data_dir, f"{split} data"), split=split,
        generator={**dict(synthesis or {}), **dict(generator or {})}, seed=seed,
        num_items=num_items, crop_sec=crop_sec, want_dry=False, classes=classes,
    )


@DATASETS.register("metadata")
def metadata_dataset(
    data_dir: Optional[PathLike] = None,
    *,
    split: str = "valid",
    seed: int = 0,
    scenes: Optional[str] = None,
    classes: Optional[ClassInventory] = None,
) -> torch.utils.data.Dataset:
    """:class:`~s5tse.datasets.MetadataDataset`: the validation scenes, full length.

    Args:
        data_dir: the recipe's ``data/`` or a scene table dir (engine: ``--valid_data``).
        split, seed, classes: engine-supplied (seed unused: the scenes are fixed).
        scenes: the scene table dir below ``data_dir`` (null = ``split``, i.e. ``valid``).
    """
    from s5tse.datasets import MetadataDataset

    return MetadataDataset(scene_dir_of(data_dir, scenes or split), want_dry=False,
                           classes=classes)


@DATASETS.register("kaldi")
def kaldi_dataset(
    data_dir: Optional[PathLike] = None,
    *,
    split: str = "valid",
    seed: int = 0,
    threshold_db: float = -60.0,
    check_audio: bool = True,
    classes: Optional[ClassInventory] = None,
) -> torch.utils.data.Dataset:
    """:meth:`TestSetDataset.from_data_dir <s5tse.datasets.TestSetDataset.from_data_dir>`:
    pre-rendered 32 kHz 4-ch mixtures of a Kaldi data dir (``wav.scp``, ``text``,
    ``spk{1,2,3}.scp``); frame targets from the references above ``threshold_db``."""
    from s5tse.datasets import TestSetDataset

    if data_dir is None or str(data_dir) == "":
        raise ValueError("valid_dataset 'kaldi' needs --valid_data (a Kaldi data dir)")
    return TestSetDataset.from_data_dir(data_dir, threshold_db=threshold_db,
                                        check_audio=check_audio, classes=classes)


# ---------------------------------------------------------------------------- metrics
def label_accuracy(est_index: torch.Tensor, ref_index: torch.Tensor,
                   silence_index: int) -> Tuple[float, float]:
    """``(acc_mix, acc_src)`` in percent of a batch: ``est_index``, ``ref_index`` ``[B, S]``
    class indices (``silence_index`` = silence), compared per mixture as multisets (silence
    ignored). ``acc_src`` is pooled over the batch (100 when there is nothing to find or
    predict)."""
    est = est_index.detach().cpu().tolist()
    ref = ref_index.detach().cpu().tolist()

    def names(row):  # the metric compares names; the index is one
        return [str(i) if i != silence_index else "silence" for i in row]

    counts = [label_counts(names(e), names(r)) for e, r in zip(est, ref)]
    return acc_mix(counts), acc_src(counts)


# ----------------------------------------------------------------------------- models
def _ids(ids: Any) -> str:
    if not ids:
        return "?"
    ids = [str(i) for i in ids]
    more = f" (+{len(ids) - _MAX_IDS} more)" if len(ids) > _MAX_IDS else ""
    return ", ".join(ids[:_MAX_IDS]) + more


def _frame_mask(lengths: Optional[torch.Tensor], num_samples: int, num_frames: int,
                hop: int, device: torch.device) -> Optional[torch.Tensor]:
    """``[B, T]`` True on frames of real audio when the batch is padded, else None."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, device=device)
    if bool((lengths >= num_samples).all()):
        return None
    valid = (lengths + hop - 1) // hop                                   # ceil(len / hop)
    return torch.arange(num_frames, device=device)[None, :] < valid[:, None]


def _encoded(batch: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
    """The ``encoded_<name>`` batch keys (:class:`~s5tse.datasets.encoded.EncodedDataset`)
    as ``{name: tensor}``."""
    from s5tse.datasets.encoded import ENCODED_PREFIX

    return {k[len(ENCODED_PREFIX):]: v for k, v in batch.items() if k.startswith(ENCODED_PREFIX)}


def _num_samples(mixture: Optional[torch.Tensor], lengths: Optional[torch.Tensor]) -> int:
    """Samples per (padded) item: the mixture's, else the longest of ``lengths``."""
    if mixture is not None:
        return int(mixture.shape[-1])
    if lengths is None:
        raise ValueError("a batch of encoded features needs 'lengths'")
    return int(torch.as_tensor(lengths).max())


def _load_init_weights(module: nn.Module, path: PathLike) -> None:
    """Weights-only init from a training output (``{N}epoch.pth``, ``*.best.pth``,
    ``checkpoint.pth``); keys and shapes must match exactly (errors name the file)."""
    from s5tse.models.tagger.checkpoint import check_state_dict, read_state_dict

    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"model_conf.init_weights: {path} not found; it is written by the previous training "
            "step (./run.sh stage 3 trains --tagger_configs in order: put that step first)")
    state = read_state_dict(path)
    check_state_dict(state, module.state_dict(), path=path, what=type(module).__name__)
    module.load_state_dict(state, strict=True)
    log.info("model initialised from %s (weights only)", path)


def _check_weights_file(path: Optional[str], key: str) -> None:
    """A configured backbone file must exist; say which stage writes it: the encoder
    pre-training's export (stage 3) for its file names, else the published download (stage 0)."""
    from s5tse.tasks.pretrain import PUBLISHED_NAME

    if not path or os.path.isfile(path):
        return
    if os.path.basename(path) in PUBLISHED_NAME.values():
        raise FileNotFoundError(
            f"model_conf.{key}: {path} not found; it is written by run.sh stage 3 with "
            "--pretrain_configs (the encoder pre-training, then python -m s5tse.bin.export_encoder)")
    raise FileNotFoundError(
        f"model_conf.{key}: {path} not found; fetch the published weights with "
        "./run.sh --stage 0 --stop-stage 0 --download_pretrained true (or give the path)")


def _warn_random(preset: str, what: str) -> None:
    if preset == "real":
        log.warning("model_conf: preset 'real' without %s (or init_weights): the backbone is "
                    "randomly initialised (fine for --dry_run, not for training)", what)


class _TaggerModel(nn.Module):
    """Shared part of the ESPnet-contract wrappers (``self.tagger`` is the network)."""

    tagger: nn.Module
    _encoder_names: Tuple[str, ...] = ()   # the backbones: attributes of ``self.tagger``

    def set_activation_checkpointing(self, enabled: bool) -> None:
        """Recompute the backbones' transformer blocks in the backward pass."""
        for enc in self._encoders():
            enc.blocks.grad_checkpointing = bool(enabled)

    def _encoders(self) -> List[nn.Module]:
        return [getattr(self.tagger, name) for name in self._encoder_names]

    def check_frozen_backbones(self) -> None:
        """ValueError if a backbone parameter trains: its outputs would change at every
        update, so they cannot be computed once."""
        trainable = [f"{name}.{n}" for name, enc in zip(self._encoder_names, self._encoders())
                     for n, p in enc.named_parameters() if p.requires_grad]
        if trainable:
            raise ValueError(
                f"feature_cache_epochs needs frozen backbones (step 1), but {len(trainable)} "
                f"backbone parameters train (e.g. tagger.{trainable[0]}); freeze them with "
                "freeze_param or set feature_cache_epochs: 0")

    def encode_frozen(self, mixture: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The frozen backbones' outputs ``{name: [B, ...]}`` for ``mixture [B, 4, n]``, in
        eval mode (what ``feature_cache_epochs`` computes once per mixture)."""
        self.check_frozen_backbones()
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.tagger.encode(mixture)
        finally:
            self.train(was_training)

    def _run(self, mixture: Optional[torch.Tensor], ids: Any,
             encoded: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The tagger's forward (from ``encoded_*`` batch keys when the batch has them);
        bad input raises ValueError naming the batch ids."""
        try:
            if encoded:
                return self.tagger.forward_encoded(dict(encoded))
            if mixture is None:
                raise ValueError("the batch has neither 'mixture' nor encoded_* features")
            return self.tagger(mixture)
        except ValueError as exc:
            raise ValueError(f"{exc} (batch ids: {_ids(ids)})") from exc

    def _accuracy_stats(self, weak: torch.Tensor, label_index: torch.Tensor
                        ) -> Dict[str, torch.Tensor]:
        mix, src = label_accuracy(weak.detach().argmax(-1), label_index, weak.shape[-1] - 1)
        return {"acc_mix": torch.tensor(mix), "acc_src": torch.tensor(src)}

    def forward(self, **batch: Any) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """``forward(mixture, label_index, strong, ...) -> (loss, stats, weight)``."""
        loss, stats, weight, _ = self.forward_with_output(**batch)
        return loss, stats, weight

    def forward_with_output(self, **batch: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


@MODELS.register("fusion")
class FusionTaggerModel(_TaggerModel):
    """FusionTagger (M2D + fPaSST) + TaggerPITLoss; ``forward(**batch) -> (loss, stats, weight)``.

    Args:
        preset: ``tiny`` | ``small`` | ``real``.
        m2d_weights, fpasst_weights: published backbone checkpoints (null = random init).
        init_weights: weights-only init from a previous run of this model (see module doc).
        d_fused, head_hidden: null = the preset's.
        head_dropout, proj_dropout, pooling: :class:`~s5tse.models.tagger.fusion.FusionTagger`.
        strong_weight, weak_weight, label_smoothing:
            :class:`~s5tse.losses.pit_tagger.TaggerPITLoss`.
    Batch keys used: ``mixture [B, 4, n]``, ``label_index [B, 3]``, ``strong [B, 3, F]``
    (``F = ceil(n / 1280)``), ``lengths [B]`` (padded frames are left out), ``id``.
    """

    def __init__(
        self,
        preset: str = "tiny",
        m2d_weights: Optional[str] = None,
        fpasst_weights: Optional[str] = None,
        init_weights: Optional[str] = None,
        d_fused: Optional[int] = None,
        head_hidden: Optional[int] = None,
        head_dropout: float = 0.1,
        proj_dropout: float = 0.0,
        pooling: str = "attention",
        strong_weight: float = 1.0,
        weak_weight: float = 1.0,
        label_smoothing: float = 0.0,
        *,
        num_classes: int,
    ) -> None:
        super().__init__()
        from s5tse.losses.pit_tagger import TaggerPITLoss
        from s5tse.models.tagger.fusion import FusionTagger

        overrides: Dict[str, Any] = dict(head_dropout=head_dropout, proj_dropout=proj_dropout,
                                         pooling=pooling, num_classes=int(num_classes) + 1)
        if d_fused is not None:
            overrides["d_fused"] = d_fused
        if head_hidden is not None:
            overrides["head_hidden"] = head_hidden
        self.tagger = FusionTagger.from_preset(preset, **overrides)
        self.loss = TaggerPITLoss(strong_weight=strong_weight, weak_weight=weak_weight,
                                  label_smoothing=label_smoothing)
        self.frame_hop = 1280
        if init_weights:
            if m2d_weights or fpasst_weights:
                log.info("model_conf.init_weights is set: m2d_weights / fpasst_weights not read")
            _load_init_weights(self, init_weights)
            return
        _check_weights_file(m2d_weights, "m2d_weights")
        _check_weights_file(fpasst_weights, "fpasst_weights")
        self.tagger.load_pretrained(m2d_weights or None, fpasst_weights or None)
        if not m2d_weights:
            _warn_random(preset, "m2d_weights")
        if not fpasst_weights:
            _warn_random(preset, "fpasst_weights")

    _encoder_names = ("m2d", "fpasst")

    def forward_with_output(
        self, label_index: torch.Tensor, strong: torch.Tensor,
        mixture: Optional[torch.Tensor] = None, lengths: Optional[torch.Tensor] = None,
        id: Any = None, **kwargs: Any,
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor, Dict[str, torch.Tensor]]:
        """As ``forward``, plus the outputs: ``{"strong": [B, S, T, C + 1], "weak": [B, S, C + 1]}``
        logits and ``perm [B, S]`` (prediction slot of each target slot)."""
        out = self._run(mixture, id, _encoded(kwargs))
        num_samples = _num_samples(mixture, lengths)
        num_frames = out["strong"].shape[2]
        if strong.shape[-1] != num_frames:
            raise ValueError(
                f"strong targets have {strong.shape[-1]} frames, the tagger {num_frames} for "
                f"{num_samples} samples (frame hop must be {self.frame_hop}; batch ids: "
                f"{_ids(id)})")
        mask = _frame_mask(lengths, num_samples, num_frames, self.frame_hop, strong.device)
        loss, pit_stats, perm = self.loss(out["weak"], label_index, out["strong"], strong, mask)
        stats = {"loss": pit_stats["loss"], "weak_ce": pit_stats["weak_ce"],
                 "strong_ce": pit_stats["strong_ce"]}
        stats.update(self._accuracy_stats(out["weak"], label_index))
        weight = torch.tensor(label_index.shape[0], device=label_index.device)
        return loss, stats, weight, dict(out, perm=perm)


@MODELS.register("m2dat")
class M2DATTaggerModel(_TaggerModel):
    """M2DATTagger (DCASE 2026 baseline) + PIT CE on the weak logits.

    Args:
        preset: ``tiny`` | ``small`` | ``real`` (``real`` = the baseline's sizes).
        m2d_weights: published M2D checkpoint (null = random init).
        init_weights: weights-only init from a previous run of this model.
        num_channels: 4 (``M2DAT_4c``) or 1 (``M2DAT_1c``, channel ``ref_channel``).
        hidden, slot_hidden: null = the preset's; dropout, ref_channel: the tagger's.
        label_smoothing: of the CE (0 = the baseline).
    Batch keys used: ``mixture [B, 4, n]``, ``label_index [B, 3]``, ``id``.
    """

    def __init__(
        self,
        preset: str = "tiny",
        m2d_weights: Optional[str] = None,
        init_weights: Optional[str] = None,
        num_channels: int = 4,
        hidden: Optional[int] = None,
        slot_hidden: Optional[int] = None,
        dropout: float = 0.0,
        ref_channel: int = 0,
        label_smoothing: float = 0.0,
        *,
        num_classes: int,
    ) -> None:
        super().__init__()
        from s5tse.models.tagger.m2dat import M2DATTagger

        overrides: Dict[str, Any] = dict(dropout=dropout, ref_channel=ref_channel,
                                         num_classes=int(num_classes) + 1)
        if hidden is not None:
            overrides["hidden"] = hidden
        if slot_hidden is not None:
            overrides["slot_hidden"] = slot_hidden
        self.tagger = M2DATTagger.from_preset(preset, num_channels=num_channels, **overrides)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        if init_weights:
            if m2d_weights:
                log.info("model_conf.init_weights is set: m2d_weights not read")
            _load_init_weights(self, init_weights)
            return
        if m2d_weights:
            _check_weights_file(m2d_weights, "m2d_weights")
            self.tagger.load_pretrained(m2d_weights)
        else:
            _warn_random(preset, "m2d_weights")

    _encoder_names = ("m2d",)

    def forward_with_output(
        self, label_index: torch.Tensor, mixture: Optional[torch.Tensor] = None,
        id: Any = None, **kwargs: Any,
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor, Dict[str, torch.Tensor]]:
        """As ``forward``, plus the outputs ``{"weak": [B, S, C+1], "perm": [B, S]}``."""
        from s5tse.losses.pit_tagger import baseline_pit_ce

        out = self._run(mixture, id, _encoded(kwargs))
        loss, perm = baseline_pit_ce(out["weak"], label_index, self.label_smoothing)
        stats = {"loss": loss.detach()}
        stats.update(self._accuracy_stats(out["weak"], label_index))
        weight = torch.tensor(label_index.shape[0], device=label_index.device)
        return loss, stats, weight, dict(out, perm=perm)


# ----------------------------------------------------------------------------- images
def _example_image(pred: torch.Tensor, target: torch.Tensor, scale: int = 4) -> torch.Tensor:
    """``pred``, ``target`` ``[S, T, C]`` in [0, 1] -> ``[1, H, W]`` grey image: per slot a
    block of ``C`` rows (class 0 on top, silence last), prediction left, target right."""
    S, T, C = pred.shape
    gap = 1
    img = torch.full((S * (C + gap) - gap, 2 * T + 2 * gap), 0.5)
    for s in range(S):
        r0 = s * (C + gap)
        img[r0:r0 + C, :T] = pred[s].T
        img[r0:r0 + C, T + 2 * gap:] = target[s].T
    img = img.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
    return img.clamp(0, 1).unsqueeze(0)


# ------------------------------------------------------------------------------- task
class TaggerTask(AbsTask):
    """Slot taggers with PIT (module docstring)."""

    name = "tagger"
    requires_data = True
    uses_classes = True

    def choices(self) -> List[Choice]:
        return [
            Choice("model", MODELS, "fusion", ("num_classes",)),
            Choice("train_dataset", DATASETS, "onthefly",
                   TRAIN_DATASET_INJECTED + ("classes", "synthesis")),
            Choice("valid_dataset", DATASETS, "metadata",
                   VALID_DATASET_INJECTED + ("classes", "synthesis")),
        ] + super().choices()

    def task_defaults(self) -> Dict[str, Any]:
        return {"feature_cache_epochs": 0}

    def resolve_config(self, config: Mapping[str, Any]) -> Dict[str, Any]:
        """The base checks, plus ``feature_cache_epochs`` (an integer >= 0)."""
        out = super().resolve_config(config)
        n = out.get("feature_cache_epochs")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"'feature_cache_epochs' must be an integer >= 0 (0 = off), got {n!r}")
        return out

    def build_model(self, config: Mapping[str, Any]) -> torch.nn.Module:
        self.classes = inventory_of(config)
        return self.build_choice("model", config, num_classes=self.classes.num_classes)

    def wrap_datasets(self, config: Mapping[str, Any], model: torch.nn.Module,
                      train_dataset: Any, valid_dataset: Any, device: torch.device) -> Any:
        """``feature_cache_epochs: N > 0`` (step 1, frozen backbones): the training mixtures
        of the first N epochs and the validation clips go through the backbones once
        (:class:`~s5tse.datasets.encoded.EncodedDataset`); epoch ``e`` trains on the mixtures
        of epoch ``(e - 1) % N + 1``, the projections and head on the kept outputs."""
        epochs = int(config.get("feature_cache_epochs") or 0)
        if not epochs:
            return train_dataset, valid_dataset
        from s5tse.datasets.encoded import EncodedDataset

        try:
            model.check_frozen_backbones()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        # one item per call on a CPU: no faster per item in batches (measured, tiny fusion,
        # 1 thread: 0.15 s per 10-s item alone, 0.30 s in batches of 8)
        bs = 1 if device.type == "cpu" else int(config["valid_batch_size"] or config["batch_size"])
        train = EncodedDataset(train_dataset, model.encode_frozen, pool_epochs=epochs,
                               batch_size=bs, device=device,
                               desc=f"training mixtures of epochs 1-{epochs}")
        valid = None if valid_dataset is None else EncodedDataset(
            valid_dataset, model.encode_frozen, batch_size=bs, device=device,
            desc="validation set")
        return train, valid


    def forward_valid(self, model: torch.nn.Module, batch: Mapping[str, Any]) -> Any:
        """Loss and stats, plus for :meth:`log_examples` the first item's probabilities."""
        net = model.module if hasattr(model, "module") else model
        loss, stats, weight, out = net.forward_with_output(**batch)
        perm = out["perm"][0]
        example = {"weak": out["weak"][0, perm].float().softmax(-1).cpu()}       # target order
        if "strong" in out:
            example["strong"] = out["strong"][0, perm].float().softmax(-1).cpu()
        return loss, stats, weight, example

    def log_examples(self, writer: Any, batch: Mapping[str, Any], output: Any, step: int) -> None:
        """Text (reference vs decoded labels of the first item) and an image of its strong
        (fusion) or weak (m2dat) probabilities next to the targets, slots in target order."""
        if writer is None or not output:
            return
        ref = batch["label_index"][0].cpu()
        weak = output["weak"]                                           # [S, C]
        est = weak.argmax(-1)
        name = getattr(self, "classes", None)
        label = (lambda i: name.index_to_label(i)) if name is not None else str
        rows = [f"| {label(int(r))} | {label(int(e))} | {float(weak[j, e]):.2f} |"
                for j, (r, e) in enumerate(zip(ref.tolist(), est.tolist()))]
        item = batch["id"][0] if batch.get("id") else "?"
        header = "| reference | estimate | p |\n|---|---|---|\n"
        writer.add_text("examples/labels", f"{item}\n\n{header}" + "\n".join(rows), step)
        C = weak.shape[-1]
        if "strong" in output:
            pred = output["strong"]                                     # [S, T, C]
            from s5tse.losses.pit_tagger import strong_class_targets

            cls = strong_class_targets(ref[None], batch["strong"][:1].cpu(), C - 1)[0]
            target = torch.nn.functional.one_hot(cls[:, : pred.shape[1]], C).float()
        else:
            pred = weak[:, None, :]
            target = torch.nn.functional.one_hot(ref, C).float()[:, None, :]
        writer.add_image("examples/prob_vs_target", _example_image(pred, target), step)


TASK = TaggerTask
