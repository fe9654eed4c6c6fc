"""Packed models: one directory (or zip) holding a whole trained system, loadable on its own.

    python -m s5tse.bin.pack_model --tagger_exp exp/tagger_fusion_mini_pretrained \\
        --separator_exp exp/separator_lq_sr_corrnet_mini --decode_config conf/decode.yaml \\
        --decode_dir exp/separator_lq_sr_corrnet_mini/decode_fusion_mini_pretrained_test \\
        --output exp/packed/lq_sr_corrnet_fusion

Layout (``FORMAT``)::

    MANIFEST.sha256      "<sha256>  <path>" for every other file (``sha256sum -c`` reads it)
    pack_info.json       format, creation time, s5tse version, where each part came from
    README.md            model card: models, training data, scores, licences of start weights
    decode.yaml          the decoding config: tuned thresholds, streaming sizes (checked keys)
    classes.txt          the class inventory (one label per line)
    tagger/config.yaml   the tagger's resolved training config   tagger/model.pth     its weights
    separator/...        the same for the separator
    results.md           the RESULTS rows of the decoding it was scored with (when given)
    env_info.txt         the environment of the run that made it (when given)

:func:`open_packed` checks every file against the manifest (missing, changed or unlisted files
are refused with a one-line :class:`PackedModelError` naming the file) and returns a
:class:`PackedModel`; a ``.zip`` is extracted to a temporary directory first (removed when the
process exits). Loading needs
neither the experiment dirs nor the recipe.
"""
from __future__ import annotations

import atexit
import datetime
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["FORMAT", "MANIFEST", "PackedModel", "PackedModelError", "open_packed", "pack_model"]

FORMAT = "s5tse.packed/1"
MANIFEST = "MANIFEST.sha256"
PACK_INFO = "pack_info.json"
WEIGHTS = "model.pth"
ROLES = ("tagger", "separator")
_ZIP_DATE = (2026, 1, 1, 0, 0, 0)   # fixed member time stamps: the same pack gives the same zip


class PackedModelError(ValueError):
    """A packed model that cannot be written or read; the message is one line naming the file."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> List[str]:
    """Relative ``/``-paths of the regular files under ``root``, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------ reading
@dataclass
class PackedModel:
    """A verified packed model (:func:`open_packed`).

    Attributes:
        root: its directory (for a zip: the extracted copy).
        info: ``pack_info.json``.
        decode_config: ``decode.yaml`` (checkpoints are ``model.pth`` of each part).
    """

    root: Path
    info: Dict[str, Any]
    decode_config: Dict[str, Any]

    def part(self, role: str) -> Path:
        """``tagger`` or ``separator``: the experiment-style dir (``config.yaml`` + ``model.pth``)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        return self.root / role


def _read_manifest(root: Path) -> Dict[str, str]:
    path = root / MANIFEST
    if not path.is_file():
        raise PackedModelError(f"{path}: missing; {root} is not a packed model (python -m "
                               "s5tse.bin.pack_model writes them)")
    out: Dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel or rel.startswith("/") or ".." in rel.split("/"):
            raise PackedModelError(f"{path}:{n}: expected '<sha256>  <relative path>', got {line!r}")
        out[rel] = digest
    return out


def verify(root: PathLike) -> None:
    """Check every file of the packed directory ``root`` against its manifest."""
    root = Path(root)
    listed = _read_manifest(root)
    for rel, digest in listed.items():
        path = root / rel
        if not path.is_file():
            raise PackedModelError(f"{path}: listed in {MANIFEST} but missing")
        if _sha256(path) != digest:
            raise PackedModelError(f"{path}: sha256 does not match {MANIFEST} (corrupt or edited)")
    extra = [rel for rel in _files(root) if rel != MANIFEST and rel not in listed]
    if extra:
        raise PackedModelError(f"{root / extra[0]}: not listed in {MANIFEST}")


def open_packed(path: PathLike) -> PackedModel:
    """Verify and open a packed model (directory or ``.zip``)."""
    import yaml

    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        root = Path(tempfile.mkdtemp(prefix="s5tse_packed_"))
        atexit.register(shutil.rmtree, root, True)   # the extracted copy goes with the process
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.startswith("/") or ".." in name.split("/"):
                    raise PackedModelError(f"{path}: unsafe member name {name!r}")
            zf.extractall(root)
    elif path.is_dir():
        root = path
    else:
        raise PackedModelError(f"{path}: no such packed model (a directory or .zip written by "
                               "python -m s5tse.bin.pack_model)")
    verify(root)
    try:
        info = json.loads((root / PACK_INFO).read_text(encoding="utf-8"))
        decode_config = yaml.safe_load((root / "decode.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise PackedModelError(f"{root}: unreadable {PACK_INFO} or decode.yaml: "
                               f"{' '.join(str(exc).split())}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise PackedModelError(f"{root / PACK_INFO}: format {info.get('format') if isinstance(info, dict) else info!r}, "
                               f"expected {FORMAT}")
    if not isinstance(decode_config, dict):
        raise PackedModelError(f"{root / 'decode.yaml'}: expected a mapping")
    return PackedModel(root, info, decode_config)


# ------------------------------------------------------------------------------ writing
def _start_weights(config: Mapping[str, Any]) -> List[Dict[str, str]]:
    """The files a training config started from, with the licence of published ones."""
    from s5tse.pretrained import MANIFEST as PUBLISHED

    licences = {Path(o.dest).name: (item.name, item.licence)
                for item in PUBLISHED.values() for o in item.outputs}
    out = []
    for key in ("m2d_weights", "fpasst_weights", "init_weights", "init_sr_corrnet_ss"):
        value = (config.get("model_conf") or {}).get(key)
        if not value:
            continue
        name, licence = licences.get(Path(str(value)).name, (None, None))
        out.append({"key": key, "file": str(value),
                    "licence": f"{licence} (published {name})" if name
                    else "written by this recipe (no third-party licence)"})
    return out


def _model_card(info: Mapping[str, Any], results: Optional[str]) -> str:
    lines = [f"# s5tse packed model: {info['name']}", "",
             "A whole DCASE 2026 Task 4 (S5) system: tagger -> bridge -> label-queried separator.",
             "", "```python", "from s5tse import SceneSeparator",
             f"model = SceneSeparator.from_pretrained(\"{info['name']}\")",
             "for source in model(\"mixture.wav\"):   # 32 kHz, 4-channel FOA (W, Y, Z, X)",
             "    print(source.label, source.confidence, source.spans)", "```", "",
             "or `python -m s5tse.bin.separate --model <this dir> --out_dir out mixture.wav`.", "",
             "## Models", ""]
    for role in ROLES:
        part = info["parts"][role]
        lines.append(f"- {role}: `{part['model']}` ({part['nparams']:,} parameters), "
                     f"checkpoint `{part['checkpoint']}` of `{part['exp_dir']}`")
        for w in part["start_weights"]:
            lines.append(f"  - started from `{w['file']}` ({w['key']}): {w['licence']}")
    data = info.get("training_data") or {}
    lines += ["", "## Training data", "",
              f"- synthesis rules: {data.get('synthesis', 'see tagger/config.yaml')}",
              f"- classes: {info['num_classes']} (classes.txt)", "",
              "## Decoding", "", f"- thresholds: report {info['decode']['report_threshold']}, "
              f"query {info['decode']['query_threshold']}"
              + (f", per class {info['decode']['class_report_thresholds']}"
                 if info["decode"].get("class_report_thresholds") else ""),
              f"- streaming: {info['decode']['streaming']}", "", "## Scores", ""]
    lines.append(results.strip() if results else "(not given when packed)")
    return "\n".join(lines) + "\n"


def pack_model(output: PathLike, *, tagger_exp: PathLike, separator_exp: PathLike,
               decode_config: Mapping[str, Any], results: Optional[str] = None,
               env_info: Optional[str] = None, name: Optional[str] = None,
               overwrite: bool = False) -> Path:
    """Write a packed model to ``output`` (a directory, or a zip when it ends in ``.zip``).

    Args:
        tagger_exp, separator_exp: experiment dirs (stages 3 and 4).
        decode_config: the resolved decoding config (thresholds as decoded, checkpoints named
            inside the experiment dirs).
        results: RESULTS rows (markdown) of the decoding this system was scored with.
        env_info: the environment of that run.
        name: the model's name in its card (default: the output's name).
        overwrite: replace an existing ``output`` (else refused).
    Returns the output path. The output appears only once complete (temp + rename).
    """
    import yaml

    from s5tse.decode.config import check_decode_config
    from s5tse.decode.models import experiment_classes, load_experiment

    output = Path(output)
    as_zip = output.suffix == ".zip"
    if output.exists() and not overwrite:
        raise PackedModelError(f"{output}: exists; pass --overwrite true to replace it")
    config = dict(decode_config)
    check_decode_config(config)
    classes = experiment_classes(separator_exp)
    classes.check_same(experiment_classes(tagger_exp), f"separator {separator_exp}",
                       f"tagger {tagger_exp}")
    parts: Dict[str, Any] = {}
    exps = {"tagger": (tagger_exp, config["tagger_checkpoint"]),
            "separator": (separator_exp, config["separator_checkpoint"])}
    loaded = {role: load_experiment(exp, ckpt, role) for role, (exp, ckpt) in exps.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for role, exp in loaded.items():
            (stage / role).mkdir()
            shutil.copyfile(Path(exp.exp_dir) / "config.yaml", stage / role / "config.yaml")
            shutil.copyfile(exp.checkpoint, stage / role / WEIGHTS)
            parts[role] = {"model": exp.model_name, "nparams": int(exp.nparams),
                           "exp_dir": os.fspath(exp.exp_dir), "checkpoint": exp.checkpoint.name,
                           "start_weights": _start_weights(exp.config)}
        packed_decode = dict(config, tagger_checkpoint=WEIGHTS, separator_checkpoint=WEIGHTS,
                             use_tuned_thresholds=False, device="cpu", num_threads=0)
        (stage / "decode.yaml").write_text(yaml.safe_dump(packed_decode, sort_keys=False),
                                           encoding="utf-8")
        (stage / "classes.txt").write_text("\n".join(classes.to_list()) + "\n", encoding="utf-8")
        if results:
            (stage / "results.md").write_text(results.strip() + "\n", encoding="utf-8")
        if env_info:
            (stage / "env_info.txt").write_text(env_info.strip() + "\n", encoding="utf-8")
        import s5tse

        synthesis = loaded["separator"].config.get("synthesis") or {}
        info = {"format": FORMAT, "name": name or output.name.removesuffix(".zip"),
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "s5tse_version": s5tse.__version__, "num_classes": classes.num_classes,
                "parts": parts,
                "decode": {k: packed_decode[k] for k in ("report_threshold", "query_threshold",
                                                         "class_report_thresholds", "streaming")},
                "training_data": {"synthesis": {k: synthesis[k] for k in sorted(synthesis)
                                                if k in ("nevent_range", "snr_range",
                                                         "ninterference_range", "dupse_rate")}}}
        (stage / PACK_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (stage / "README.md").write_text(_model_card(info, results), encoding="utf-8")
        manifest = "".join(f"{_sha256(stage / rel)}  {rel}\n" for rel in _files(stage))
        (stage / MANIFEST).write_text(manifest, encoding="utf-8")
        if as_zip:
            tmp_zip = stage.with_suffix(".zip")
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
                for rel in _files(stage):
                    member = zipfile.ZipInfo(rel, date_time=_ZIP_DATE)
                    member.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(member, (stage / rel).read_bytes())
            os.replace(tmp_zip, output)
        else:
            if output.exists():
                shutil.rmtree(output) if output.is_dir() else output.unlink()
            os.replace(stage, output)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return output
