"""Import SR_CorrNet_SS checkpoints into :class:`LabelQueriedSRCorrNet` (and export our weights in their layout).

The public SR-CorrNet code (``dmlguq456/SR_CorrNet_SS``, MIT, commit 7340365; reference
``separator_sr_corrnet.md`` §1.2-1.9) trains a label-agnostic speech separator with the same
backbone as ours. :func:`load_sr_corrnet_ss` copies its label-agnostic weights into our model
so that training can start from them; the label conditioning (weak embedding, FiLM at the split
and in every decoder stage, slot embeddings) keeps its own initialisation (zero-initialised FiLM
output layers: the conditioning starts as the identity). Written from the key layout of their
code (facts only; nothing copied).

**Their checkpoint files.** Training writes ``{"epoch", "model_state_dict",
"optimizer_state_dict"}`` (``epoch.NNNN.pth``, ``best_model.pth``); the exported / Hugging Face
``model.pt`` is the bare state dict. Both are accepted (also ``state_dict`` / ``model``
wrappers), with ``module.`` (DDP) and ``_orig_mod.`` (``torch.compile``) prefixes stripped and
their legacy names renamed (``input_layer.`` -> ``encoder.``, ``mask_estim[_aux].`` ->
``filter_estim[_aux].``, ``frame_wise_block`` / ``freq_wise_block`` -> ``freq_block`` /
``time_block``, ``.block.ega.`` -> ``.block.sa.``, ``vald_estim.`` -> ``vad_doa_estim.``).

**Key mapping** (theirs -> ours; ``i`` = block index, ``P`` = ``freq``/``time`` path)::

    encoder.embed.{0,2}.{weight,bias}           -> embed.{0,2}.{weight,bias}       (*1 on embed.0.weight)
    encoder.layer_norm.weight                   -> embed_norm.weight
    enc_block.i.<P>_block.block.X               -> encoder.i.<P>.X'
    dec_block.i.<P>_block.block.X               -> decoder.stages.i.tf_block.<P>.X'
        ffn_{1,2}.layernorm.weight                  -> ffn{1,2}.norm.weight
        ffn_{1,2}.net.0.{weight,bias}               -> ffn{1,2}.conv_in.{weight,bias}     (*2)
        ffn_{1,2}.net.2.{weight,bias}               -> ffn{1,2}.conv_out.{weight,bias}
        sa.layernorm.weight                         -> attn_norm.weight
        sa.block.qkv.weight                         -> attn.qkv.weight                    (*3)
        sa.block.aggregate_heads.0.weight           -> attn.out.weight
        sa.block.rope.freqs                         -> (checked against our RoPE, not stored)
    dec_cs.i.block.block.sa.layernorm.weight    -> decoder.stages.i.cross.attn_norm.weight
    dec_cs.i.block.block.sa.block.qkv.weight    -> decoder.stages.i.cross.qkv.weight  (no RoPE: as is)
    dec_cs.i.block.block.sa.block.aggregate_heads.0.weight -> decoder.stages.i.cross.out.weight
    dec_cs.i.block.block.ffn.layernorm.weight   -> decoder.stages.i.cross.ffn_norm.weight
    dec_cs.i.block.block.ffn.net.0.{w,b}        -> decoder.stages.i.cross.ffn.0.{w,b}  (*2)
    dec_cs.i.block.block.ffn.net.2.{w,b}        -> decoder.stages.i.cross.ffn.2.{w,b}
    layernorm.{weight,bias}                     -> split.norm_out.{weight,bias}       (*4)
    filter_estim.mask.net.{weight,bias}         -> filter.proj.{weight,bias}          (*5)
    filter_estim_aux.i.mask.net.{weight,bias}   -> aux_filters.i.proj.{weight,bias}   (*5)
    spk_split.*  (FixedSplit / AttractorSplit)  -> skipped (no counterpart), reported
    vad_doa_estim.* (unreleased CSS variant)    -> skipped, reported

Reshaping (all are permutations; shapes are identical on both sides):

1. Correlation channels: theirs are ordered ``(tap j, channel m, re/im)``, ours ``(m, j, re/im)``
   (tap index ``j`` frequency-major, time-minor on both sides) -> input channels of the first
   embedding conv permuted.
2. SwiGLU: theirs is ``x1 * SiLU(x2)`` (gate = second half), ours ``SiLU(a) * g`` (gate = first
   half) -> the two output halves of the expanding conv / Linear are swapped.
3. RoPE: theirs (``rotary_embedding_torch``) rotates adjacent pairs ``(2k, 2k+1)``, ours the
   half-split pairs ``(k, k + dh/2)``, with the same frequencies ``10000^(-2k/dh)`` and positions
   ``0 ... L-1``. Within every head the query and key rows are permuted ``(0, 2, 4, ..., 1, 3,
   ...)`` -> identical attention scores; value rows untouched. Their ``rope.freqs`` (one per
   MHSA, shape ``[dh/2]``) must equal ours (this also checks the head count of the TF blocks).
4. Their post-split ``LayerNorm`` (the normalisation of the decoder input) is the last operation
   of our split as well (``split.norm_out``); it is loaded, but the split itself is not.
5. Filter head: their Linear output is ordered ``(m, j, (a, b, c))`` (MISO, ``M_o = 1``), ours
   ``((a, b, c), m, j)`` -> rows permuted. ``W = softplus(a)(tanh b + j tanh c)`` and the
   filtering ``sum_m sum_j W X_nb`` (no conjugate) are the same.

**What does not correspond exactly** (listed in the report, kept in mind when fine-tuning):

* The split: their ``FixedSplit`` (per-bin MLP ``d -> 4Nd -> Nd``, interleaved speaker
  channels) or ``AttractorSplit`` (learned speaker queries, attractor decoder, presence head)
  has no counterpart in our label-queried split (``norm_in``, FiLM, slot embedding, residual
  MLP ``d -> split_hidden -> d``); those parameters keep their initialisation.
* Filter heads: ours apply an ``RMSNorm`` before the Linear, theirs do not. The Linear weights
  are loaded and our head's RMSNorm gain is reset to 1 (reported under ``reset``), so the
  imported head sees RMS-normalised decoder features: an approximation to their head, close to
  a per-bin rescaling of the filter logits. (:func:`export_sr_corrnet_ss_layout` folds our gain
  into the exported Linear, so export -> import into a fresh model is exact.)
* Cross-slot blocks: ours add a per-slot ``slot_embedding`` to the normalised attention input
  and mask silent slots; both are ours only (left at their initialisation). Their
  cross-speaker MHSA has no RoPE, so its head count cannot be read from the checkpoint: it is
  assumed equal to ``num_heads`` (true for every released config).
* Numerics without weights: their ``nn.RMSNorm`` uses ``eps = finfo(float32).eps`` (1.2e-7),
  ours 1e-6; their correlation divides a neighbour at bin ``f + i`` by ``sigma_f`` of the
  centre bin, ours by its own ``sigma_{f+i}`` (identical for ``taps_freq = (0, 0)``, a
  ``sqrt(sigma_f / sigma_{f+i})`` factor otherwise); their STFT is an uncentred conv1d STFT
  with its own scaling and their mixture is normalised per channel, ours once over all channels.
  These would need model options (RMSNorm eps, neighbour normalisation) to match bit for bit.
* Their iSTFT (conv-transpose overlap-add) weights the DC and Nyquist bins x2 and has no
  window-envelope normalisation: the first and last ``n_fft - hop`` output samples are attenuated
  and an STFT -> iSTFT round trip is off by about 8e-2; ours (``torch.istft``) divides by the
  window envelope and reconstructs exactly. Compare outputs away from the edges, or in the STFT
  domain.
* Their inference (``process_waveform``) divides the mixture by its std and leaves the output in
  those std-normalised units; ours multiplies the output back by the input std.
* Window at 75 % overlap: theirs is ``Hann * sqrt(2/3)`` (sqrt-Hann only at 50 %); the constant
  is a scale our envelope-normalised iSTFT removes, so importing a 75 %-overlap checkpoint (e.g.
  WHAMR!, 256/64) needs ``window: hann`` here, not the default ``sqrt_hann``.
* Their frequency and time modules may have separate settings (widths, heads, kernels) and
  their embedding two kernel sizes (one per conv); ours share one ``ffn_hidden`` /
  ``num_heads`` / ``kernel_size`` between the paths and one ``embed_kernel`` for both convs, so
  a checkpoint with differing settings cannot be imported (shape mismatch, reported).
* Their multi-channel-output (``MIMO: true``, ``M_o > 1``) mode has no counterpart: our filter
  heads are MISO (one output channel per slot).

With the differences above removed (same STFT, normalisation and eps), the label-agnostic
stages (correlation feature, embedding, encoder blocks, decoder TF and cross-slot blocks, filter
heads and filtering) were found equal to theirs within 5e-7 in an independent stage-by-stage
comparison; the speed-ups of issue 14 keep every stage's function (tests pin the outputs of
e1ed361 to rtol 1e-5), so that equivalence holds.

``strict_backbone=True`` (default): a missing mapped key, an unexpected key outside the skipped
modules, or a shape mismatch raises one :class:`SRCorrNetCheckpointError` naming the file and
the first offending keys (expected vs found shapes); nothing is loaded then. ``False``: the
shape-compatible keys are loaded and the rest is reported (e.g. a 2-channel WHAMR! checkpoint
into our 4-channel model: everything but the first embedding conv and the filter heads).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from s5tse.models.separator.sr_corrnet.model import LabelQueriedSRCorrNet

__all__ = [
    "SRCorrNetCheckpointError",
    "SRCorrNetImportReport",
    "load_sr_corrnet_ss",
    "export_sr_corrnet_ss_layout",
    "sr_corrnet_ss_key_map",
]

#: Their modules without a counterpart in our model (skipped and reported).
SKIPPED_PREFIXES = ("spk_split.", "vad_doa_estim.")
#: Legacy key names of their older checkpoints (prefix renames, then substring renames).
_LEGACY_PREFIX = (("input_layer.", "encoder."), ("mask_estim_aux.", "filter_estim_aux."),
                  ("mask_estim.", "filter_estim."), ("vald_estim.", "vad_doa_estim."))
_LEGACY_SUBSTR = ((".frame_wise_block.", ".freq_block."), (".freq_wise_block.", ".time_block."),
                  (".block.ega.", ".block.sa."))
_WRAPPER_KEYS = ("model_state_dict", "state_dict", "model")
_STRIP_PREFIXES = ("module.", "_orig_mod.")
_MAX_LISTED = 5


class SRCorrNetCheckpointError(ValueError):
    """A SR_CorrNet_SS checkpoint does not fit the model (missing / unexpected keys, shapes)."""


@dataclass
class SRCorrNetImportReport:
    """What :func:`load_sr_corrnet_ss` did.

    * ``loaded``: ``(their key, our key)`` pairs copied (after reshaping);
    * ``checked``: their RoPE frequency tables verified against ours (not stored);
    * ``skipped``: their keys without a counterpart (split module, CSS heads);
    * ``reset``: our parameters set to a fixed value by the import (filter-head RMSNorm gains = 1);
    * ``kept``: our parameters left untouched (conditioning, split, slot embeddings);
    * ``missing`` / ``unexpected`` / ``mismatched``: only non-empty with ``strict_backbone=False``;
      ``mismatched`` holds ``(their key, expected shape, found shape)``;
    * ``renamed``: legacy keys renamed; ``stripped_prefixes``: wrapper prefixes removed.
    """

    source: str
    loaded: List[Tuple[str, str]] = field(default_factory=list)
    checked: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    reset: List[str] = field(default_factory=list)
    kept: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    renamed: int = 0
    stripped_prefixes: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def skipped_modules(self) -> List[str]:
        """Top-level names of the skipped modules (e.g. ``['spk_split']``)."""
        return sorted({k.split(".", 1)[0] for k in self.skipped})

    def summary(self) -> str:
        lines = [f"SR_CorrNet_SS import from {self.source}: {len(self.loaded)} tensors loaded, "
                 f"{len(self.checked)} RoPE tables checked, {len(self.skipped)} skipped "
                 f"({', '.join(self.skipped_modules) or 'none'}), {len(self.reset)} reset, "
                 f"{len(self.kept)} of ours kept at their initialisation"]
        if self.missing or self.unexpected or self.mismatched:
            lines.append(f"  not loaded: {len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                         f"{len(self.mismatched)} shape mismatches")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    __str__ = summary


# ------------------------------------------------------------------ permutations
@dataclass(frozen=True)
class _Perm:
    """``ours = theirs.index_select(dim, index)``; ``theirs = ours.index_select(dim, argsort(index))``."""

    dim: int
    index: Tensor

    def to_ours(self, t: Tensor) -> Tensor:
        return t.index_select(self.dim, self.index.to(t.device))

    def to_theirs(self, t: Tensor) -> Tensor:
        return t.index_select(self.dim, torch.argsort(self.index).to(t.device))


def _swap_halves(n: int) -> _Perm:
    h = n // 2
    return _Perm(0, torch.cat([torch.arange(h, n), torch.arange(0, h)]))


def _rope_qk(d_model: int, num_heads: int) -> _Perm:
    """qkv rows ``(s, head, e)``; for q and k: our ``e < dh/2`` <- their ``2e``,
    our ``e >= dh/2`` <- their ``2(e - dh/2) + 1``; v rows unchanged."""
    dh = d_model // num_heads
    within = torch.cat([torch.arange(0, dh, 2), torch.arange(1, dh, 2)])
    idx = torch.arange(3 * d_model).view(3, num_heads, dh).clone()
    idx[:2] = idx[:2, :, within]
    return _Perm(0, idx.reshape(-1))


def _corr_channels(num_channels: int, num_taps: int) -> _Perm:
    """Our input channel ``(m, j, ri)`` <- their ``(j, m, ri)`` (dim 1 of the conv weight)."""
    m, j, ri = torch.meshgrid(torch.arange(num_channels), torch.arange(num_taps), torch.arange(2),
                              indexing="ij")
    return _Perm(1, ((j * num_channels + m) * 2 + ri).reshape(-1))


def _filter_rows(num_channels: int, num_taps: int) -> _Perm:
    """Our row ``(abc, m, j)`` <- their ``((m * L + j) * 3 + abc)``."""
    abc, m, j = torch.meshgrid(torch.arange(3), torch.arange(num_channels), torch.arange(num_taps),
                               indexing="ij")
    return _Perm(0, ((m * num_taps + j) * 3 + abc).reshape(-1))


# ------------------------------------------------------------------ key map
@dataclass(frozen=True)
class _Entry:
    ours: str
    perm: Optional[_Perm] = None


def _tf_block_map(theirs: str, ours: str, d: int, heads: int, ffn_hidden: int,
                  out: Dict[str, _Entry], rope: Dict[str, int]) -> None:
    for path in ("freq", "time"):
        t, o = f"{theirs}.{path}_block.block", f"{ours}.{path}"
        for ffn_t, ffn_o in (("ffn_1", "ffn1"), ("ffn_2", "ffn2")):
            out[f"{t}.{ffn_t}.layernorm.weight"] = _Entry(f"{o}.{ffn_o}.norm.weight")
            out[f"{t}.{ffn_t}.net.0.weight"] = _Entry(f"{o}.{ffn_o}.conv_in.weight", _swap_halves(2 * ffn_hidden))
            out[f"{t}.{ffn_t}.net.0.bias"] = _Entry(f"{o}.{ffn_o}.conv_in.bias", _swap_halves(2 * ffn_hidden))
            out[f"{t}.{ffn_t}.net.2.weight"] = _Entry(f"{o}.{ffn_o}.conv_out.weight")
            out[f"{t}.{ffn_t}.net.2.bias"] = _Entry(f"{o}.{ffn_o}.conv_out.bias")
        out[f"{t}.sa.layernorm.weight"] = _Entry(f"{o}.attn_norm.weight")
        out[f"{t}.sa.block.qkv.weight"] = _Entry(f"{o}.attn.qkv.weight", _rope_qk(d, heads))
        out[f"{t}.sa.block.aggregate_heads.0.weight"] = _Entry(f"{o}.attn.out.weight")
        rope[f"{t}.sa.block.rope.freqs"] = d // heads


def sr_corrnet_ss_key_map(model: LabelQueriedSRCorrNet) -> Tuple[Dict[str, _Entry], Dict[str, int]]:
    """``({their key: entry}, {their RoPE key: head dim})`` for ``model``'s configuration."""
    cfg = model.config
    d, heads = cfg.d_model, cfg.num_heads
    m, n_taps = cfg.num_channels, cfg.num_taps
    cross_hidden = cfg.cross_ffn_hidden or 4 * d
    out: Dict[str, _Entry] = OrderedDict()
    rope: Dict[str, int] = OrderedDict()
    out["encoder.embed.0.weight"] = _Entry("embed.0.weight", _corr_channels(m, n_taps))
    out["encoder.embed.0.bias"] = _Entry("embed.0.bias")
    out["encoder.embed.2.weight"] = _Entry("embed.2.weight")
    out["encoder.embed.2.bias"] = _Entry("embed.2.bias")
    out["encoder.layer_norm.weight"] = _Entry("embed_norm.weight")
    for i in range(cfg.num_encoder_blocks):
        _tf_block_map(f"enc_block.{i}", f"encoder.{i}", d, heads, cfg.ffn_hidden, out, rope)
    for i in range(cfg.num_decoder_blocks):
        _tf_block_map(f"dec_block.{i}", f"decoder.stages.{i}.tf_block", d, heads, cfg.ffn_hidden, out, rope)
        t, o = f"dec_cs.{i}.block.block", f"decoder.stages.{i}.cross"
        out[f"{t}.sa.layernorm.weight"] = _Entry(f"{o}.attn_norm.weight")
        out[f"{t}.sa.block.qkv.weight"] = _Entry(f"{o}.qkv.weight")
        out[f"{t}.sa.block.aggregate_heads.0.weight"] = _Entry(f"{o}.out.weight")
        out[f"{t}.ffn.layernorm.weight"] = _Entry(f"{o}.ffn_norm.weight")
        out[f"{t}.ffn.net.0.weight"] = _Entry(f"{o}.ffn.0.weight", _swap_halves(2 * cross_hidden))
        out[f"{t}.ffn.net.0.bias"] = _Entry(f"{o}.ffn.0.bias", _swap_halves(2 * cross_hidden))
        out[f"{t}.ffn.net.2.weight"] = _Entry(f"{o}.ffn.2.weight")
        out[f"{t}.ffn.net.2.bias"] = _Entry(f"{o}.ffn.2.bias")
    if cfg.num_decoder_blocks > 0:  # their post-split LayerNorm is an Identity without decoder
        out["layernorm.weight"] = _Entry("split.norm_out.weight")
        out["layernorm.bias"] = _Entry("split.norm_out.bias")
    heads_out = [("filter_estim.mask.net", "filter")]
    heads_out += [(f"filter_estim_aux.{i}.mask.net", f"aux_filters.{i}") for i in range(cfg.num_decoder_blocks)]
    for t, o in heads_out:
        out[f"{t}.weight"] = _Entry(f"{o}.proj.weight", _filter_rows(m, n_taps))
        out[f"{t}.bias"] = _Entry(f"{o}.proj.bias", _filter_rows(m, n_taps))
    return out, rope


def _filter_heads(model: LabelQueriedSRCorrNet):
    return [("filter", model.filter)] + [(f"aux_filters.{i}", h) for i, h in enumerate(model.aux_filters)]


def _rope_table(head_dim: int) -> Tensor:
    return 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)


# ------------------------------------------------------------------ reading
def _read(path_or_state: Union[str, os.PathLike, Mapping[str, Any]]) -> Tuple[Mapping[str, Any], str]:
    if isinstance(path_or_state, (str, os.PathLike)):
        source = os.fspath(path_or_state)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"SR_CorrNet_SS checkpoint not found: {source}")
        return torch.load(source, map_location="cpu", weights_only=True), source
    if isinstance(path_or_state, Mapping):
        return path_or_state, "<state dict>"
    raise TypeError(f"load_sr_corrnet_ss: expected a path or a state dict, got {type(path_or_state).__name__}")


def _unwrap(obj: Mapping[str, Any], source: str, report: SRCorrNetImportReport) -> Dict[str, Any]:
    for key in _WRAPPER_KEYS:
        inner = obj.get(key) if isinstance(obj, Mapping) else None
        if isinstance(inner, Mapping) and not isinstance(inner, Tensor):
            obj = inner
            break
    state: Dict[str, Any] = OrderedDict(obj.items())
    changed = True
    while changed:  # DDP around a compiled model etc.: strip repeatedly
        changed = False
        for p in _STRIP_PREFIXES:
            if state and all(k.startswith(p) for k in state):
                state = OrderedDict((k[len(p):], v) for k, v in state.items())
                report.stripped_prefixes.append(p)
                changed = True
    renamed: Dict[str, Any] = OrderedDict()
    for k, v in state.items():
        new = k
        for old, rep in _LEGACY_PREFIX:
            if new.startswith(old):
                new = rep + new[len(old):]
                break
        for old, rep in _LEGACY_SUBSTR:
            new = new.replace(old, rep, 1)
        report.renamed += new != k
        renamed[new] = v
    if not any(k.startswith(("encoder.", "enc_block.", "dec_block.", "filter_estim")) for k in renamed):
        raise SRCorrNetCheckpointError(
            f"SR_CorrNet_SS checkpoint {source}: no SR_CorrNet_SS keys found "
            f"(first keys: {list(renamed)[:3]})")
    return renamed


def _shape(t: Any) -> Tuple[int, ...]:
    return tuple(t.shape) if isinstance(t, Tensor) else ()


# ------------------------------------------------------------------ import
def load_sr_corrnet_ss(
    model: LabelQueriedSRCorrNet,
    path_or_state: Union[str, os.PathLike, Mapping[str, Any]],
    strict_backbone: bool = True,
) -> SRCorrNetImportReport:
    """Copy the label-agnostic weights of a SR_CorrNet_SS checkpoint into ``model`` (in place).

    Args:
        model: the target model (any preset whose sizes match the checkpoint's config).
        path_or_state: a checkpoint file (``torch.load``-able, loaded on the CPU with
            ``weights_only=True``) or an already loaded (possibly wrapped) state dict.
        strict_backbone: raise on missing / unexpected / mis-shaped keys (module docstring).

    Returns:
        :class:`SRCorrNetImportReport`. Raises :class:`SRCorrNetCheckpointError` (strict) or
        ``FileNotFoundError``.
    """
    raw, source = _read(path_or_state)
    report = SRCorrNetImportReport(source=source)
    state = _unwrap(raw, source, report)
    key_map, rope_keys = sr_corrnet_ss_key_map(model)
    params = dict(model.named_parameters())

    def lookup(key: str) -> Optional[str]:
        if key in state:
            return key
        alt = key.replace(".net.2.", ".net.3.")  # dropout_rate > 0: Dropout at index 2
        return alt if alt != key and alt in state else None

    consumed = set()
    plan: List[Tuple[str, _Entry, Tensor]] = []
    problems: List[str] = []
    for theirs, entry in key_map.items():
        key = lookup(theirs)
        expected = tuple(params[entry.ours].shape)
        if key is None:
            report.missing.append(theirs)
            problems.append(f"missing {theirs!r} (expected shape {expected})")
            continue
        consumed.add(key)
        value = state[key]
        if _shape(value) != expected or not isinstance(value, Tensor):
            report.mismatched.append((key, expected, _shape(value)))
            problems.append(f"{key!r}: expected shape {expected}, found {_shape(value)}")
            continue
        plan.append((key, entry, value))
    rope_ok: List[str] = []
    for theirs, head_dim in rope_keys.items():
        if theirs not in state:
            report.missing.append(theirs)
            problems.append(f"missing {theirs!r} (expected shape {(head_dim // 2,)})")
            continue
        consumed.add(theirs)
        value, ref = state[theirs], _rope_table(head_dim)
        if _shape(value) != tuple(ref.shape):
            report.mismatched.append((theirs, tuple(ref.shape), _shape(value)))
            problems.append(f"{theirs!r}: expected shape {tuple(ref.shape)} (head dim {head_dim}), "
                            f"found {_shape(value)}")
        elif not torch.allclose(value.float().cpu(), ref, rtol=1e-5, atol=1e-7):
            report.mismatched.append((theirs, tuple(ref.shape), _shape(value)))
            problems.append(f"{theirs!r}: RoPE frequencies differ from 10000^(-2k/{head_dim})")
        else:
            rope_ok.append(theirs)
    for key in state:
        if key in consumed:
            continue
        if key.startswith(SKIPPED_PREFIXES):
            report.skipped.append(key)
        else:
            report.unexpected.append(key)
            problems.append(f"unexpected {key!r} (shape {_shape(state[key])})")
    if problems and strict_backbone:
        more = f" (+{len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
        raise SRCorrNetCheckpointError(
            f"SR_CorrNet_SS checkpoint {source} does not fit LabelQueriedSRCorrNet: "
            + "; ".join(problems[:_MAX_LISTED]) + more)

    report.checked = rope_ok
    loaded_ours = set()
    with torch.no_grad():
        for key, entry, value in plan:
            p = params[entry.ours]
            v = value.detach().to(device=p.device, dtype=p.dtype)
            p.copy_(entry.perm.to_ours(v) if entry.perm is not None else v)
            report.loaded.append((key, entry.ours))
            loaded_ours.add(entry.ours)
        for name, head in _filter_heads(model):
            if f"{name}.proj.weight" in loaded_ours:
                head.norm.weight.fill_(1.0)
                report.reset.append(f"{name}.norm.weight")
    report.kept = [n for n in params if n not in loaded_ours and n not in report.reset]
    if report.skipped:
        report.notes.append(f"their split / extra heads have no counterpart: {', '.join(report.skipped_modules)}")
    if report.reset:
        report.notes.append("filter heads: their Linear has no pre-norm; our RMSNorm gain set to 1 "
                            "(approximation, see the module docstring)")
    return report


# ------------------------------------------------------------------ export
def export_sr_corrnet_ss_layout(model: LabelQueriedSRCorrNet) -> "OrderedDict[str, Tensor]":
    """Our label-agnostic weights as a bare state dict in the SR_CorrNet_SS layout.

    A test / interoperability aid (round trips through :func:`load_sr_corrnet_ss`; feeding
    their code): the split (``spk_split.*``) is absent (no counterpart), the conditioning is
    dropped, and the filter-head RMSNorm gains are folded into the exported Linear weights
    (their head has no norm: re-importing into a model gives the same function as ``model``,
    whose heads still normalise their input). Tensors are detached CPU copies.
    """
    key_map, rope_keys = sr_corrnet_ss_key_map(model)
    params = dict(model.named_parameters())
    gains = {f"{name}.proj.weight": head.norm.weight for name, head in _filter_heads(model)}
    out: "OrderedDict[str, Tensor]" = OrderedDict()
    with torch.no_grad():
        for theirs, entry in key_map.items():
            v = params[entry.ours].detach().cpu().clone()
            if entry.ours in gains:
                v = v * gains[entry.ours].detach().cpu()[None, :]
            out[theirs] = entry.perm.to_theirs(v) if entry.perm is not None else v
        for theirs, head_dim in rope_keys.items():
            out[theirs] = _rope_table(head_dim)
    return out
