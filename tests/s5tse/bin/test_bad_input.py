"""One table of bad inputs x command-line tools: every cell is one tool run on one corruption.

Rows of :data:`CASES` are ``Case(tool, corruption, status, message, names, target)``:

* ``tool``: ``python -m s5tse.bin.<tool>``, run in-process (``run_cli``) with the arguments its
  ``SETUPS`` entry builds from good inputs copied into the test's tmp dir (the cwd of the run);
* ``corruption``: what :data:`CORRUPTIONS` does to the ``target`` input of that setup (a WAV,
  a Kaldi table, a checkpoint, a config) or to the command line (an option value);
* ``status``: the exit status the tool documents (s5tse.utils.cli: 1 for bad inputs, 2 for
  usage, option and config errors; tools whose docstring says "exit status 1" for every error
  keep 1 there);
* ``message``: a distinctive part of what the error line says was expected;
* ``names``: what the error line must name, a template over the setup's paths (the offending
  file) or an option name (``--nj``).

Every cell asserts: that status; exactly one ``<tool>: error:`` line on stderr, holding the
message and the named path/option (pack_submission adds its documented "N problem(s); nothing
was packed" summary line); no traceback; and nothing left behind: every path under the tmp
dir (files with size and mtime) is unchanged, except for the ``train.log`` that ``train``
writes by design into its output dir once its command line is valid (``LOGS``).

The good inputs are tiny (0.1 s WAVs, the tiny tagger / ``unit`` separator experiments of
test_decode, a pack of them, one generated 1 s scene) and built once per module.
"""
import shutil
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import DCASE_CLASSES_FILE
from tests.s5tse.bin.helpers import run_cli
from tests.s5tse.bin.test_decode import (
    DECODE_YAML,
    SEPARATOR_YAML,
    TAGGER_YAML,
    constant_fusion_tagger,
    make_experiment,
    slot_probs,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[3]
TOY_YAML = REPO / "tests" / "s5tse" / "tasks" / "conf" / "train_toy_debug.yaml"
SR = 32000
N = 3200  # 0.1 s


# ---------------------------------------------------------------------------- the world
def _wav(path: Path, data, sr: int = SR, subtype: str = "FLOAT") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(data, dtype=np.float32), sr, subtype=subtype)
    return path


def _render_dataset(root: Path) -> None:
    """A dataset tree (3 classes, interference, noise, a SOFA room), its pool tables and the
    metadata of one generated 1 s scene (``root/gen``: metadata.scp, scene_root, metadata/)."""
    from s5tse.bin.render import main as render_main
    from s5tse.corpus.dev_set import scan_dev_set
    from s5tse.fileio.sofa import write_sofa
    from tests.s5tse.bin.test_render import write_pools

    rng = np.random.default_rng(0)
    dev = root / "data" / "dev_set"
    for cls in ("Speech", "Dishes", "Cough"):
        for group in ("a", "b"):
            _wav(dev / f"sound_event/train/{cls}/{group}/0.wav", 0.1 * rng.normal(size=SR // 4))
    for cls in ("Bird", "Engine"):
        _wav(dev / f"interference/train/{cls}/x.wav", 0.1 * rng.normal(size=SR // 4))
    _wav(dev / "noise/train/n.wav", 0.01 * rng.normal(size=(int(1.2 * SR), 4)))
    az = np.radians(np.arange(8) * 45.0)
    pos = np.stack([np.cos(az), np.sin(az), np.zeros(8)], 1)
    write_sofa(dev / "room_ir/train/room.sofa",
               rng.normal(size=(8, 4, 200)) * np.exp(-np.arange(200) / 50.0), pos, SR)
    write_pools(scan_dev_set(root), root / "tables")
    render_main(["--pools", str(root / "tables"), "--out_dir", str(root / "gen"), "--generate",
                 "1", "--duration", "1", "--nevent_range", "1,1", "--metadata_only"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The good inputs of every tool (copied into each test's tmp dir before it is corrupted)."""
    import torch

    from s5tse.corpus.dcase import DCASE2026
    from s5tse.decode.config import DECODE_DEFAULTS
    from s5tse.packed import pack_model
    from s5tse.train.checkpoint import save_weights
    from s5tse.utils.config import load_config
    from tests.s5tse.results.helpers import GOOD_ESTIMATES, build_decode_dir, build_fake_exp

    root = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(0)
    for name in ("m1", "m2"):   # mixtures, references, estimates
        _wav(root / "audio" / f"{name}.wav", 0.1 * rng.standard_normal((N, 4)))
        _wav(root / "audio" / f"{name}_ref.wav", 0.05 * rng.standard_normal(N))
        _wav(root / "est" / f"{name}_0_Cough.wav", 0.05 * rng.standard_normal(N))
    DCASE2026.write(root / "lang" / "classes.txt")
    make_experiment("tagger", TAGGER_YAML, root / "exp" / "tagger", "valid.loss.ave.pth",
                    edit=constant_fusion_tagger(slot_probs()))
    make_experiment("separator", SEPARATOR_YAML, root / "exp" / "separator", "valid.sdri.ave.pth",
                    ["--model_conf.preset", "unit"])
    pack_model(root / "packed", tagger_exp=root / "exp" / "tagger",
               separator_exp=root / "exp" / "separator",
               decode_config=load_config(DECODE_DEFAULTS, [str(DECODE_YAML)], []))
    for name, value in (("a", 1.0), ("b", 3.0)):
        save_weights({"w": torch.full((3,), value)}, root / "ckpt" / f"{name}.pth")
    build_decode_dir(root / "submission", GOOD_ESTIMATES)
    build_fake_exp(root / "results" / "exp")
    _render_dataset(root / "render")
    return root


# ------------------------------------------------------------------ per-tool good inputs
def _copy(world: Path, tmp: Path, *names: str) -> None:
    for name in names:
        src = world / name
        if src.is_dir():
            shutil.copytree(src, tmp / name)
        else:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / name)


def _data_dir(world: Path, tmp: Path) -> Path:
    """``data/test`` (wav.scp, text, spk1.scp of m1 and m2) and ``data/lang/classes.txt``."""
    _copy(world, tmp, "audio")
    d = tmp / "data" / "test"
    d.mkdir(parents=True)
    (tmp / "data" / "lang").mkdir()
    shutil.copy2(world / "lang" / "classes.txt", tmp / "data" / "lang" / "classes.txt")
    names = ("m1", "m2")
    (d / "wav.scp").write_text("".join(f"{n} {tmp / 'audio' / n}.wav\n" for n in names))
    (d / "text").write_text("".join(f"{n} Cough silence silence\n" for n in names))
    (d / "spk1.scp").write_text("".join(f"{n} {tmp / 'audio' / n}_ref.wav\n" for n in names))
    return d


Setup = Tuple[List[str], Dict[str, Path]]


def setup_decode(world: Path, tmp: Path) -> Setup:
    data = _data_dir(world, tmp)
    _copy(world, tmp, "exp")
    conf = tmp / "conf" / "decode.yaml"
    conf.parent.mkdir()
    shutil.copy2(DECODE_YAML, conf)
    args = ["--config", conf, "--separator_exp", tmp / "exp" / "separator",
            "--tagger_exp", tmp / "exp" / "tagger", "--data", data,
            "--output_dir", tmp / "exp" / "separator" / "decode_x_test"]
    return args, {"wav": tmp / "audio" / "m2.wav", "scp": data / "wav.scp", "config": conf,
                  "ckpt": tmp / "exp" / "separator" / "valid.sdri.ave.pth"}


def setup_tune_thresholds(world: Path, tmp: Path) -> Setup:
    args, paths = setup_decode(world, tmp)
    args = args[:-2] + ["--query_grid", "0.3", "--report_grid", "0.5"]   # no --output_dir
    return args, dict(paths, text=tmp / "data" / "test" / "text")


def setup_score(world: Path, tmp: Path) -> Setup:
    data = _data_dir(world, tmp)
    _copy(world, tmp, "est")
    args = ["--data_dir", data, "--estimate_dir", tmp / "est", "--out_dir", tmp / "scoring"]
    return args, {"wav": tmp / "est" / "m1_0_Cough.wav", "mixture": tmp / "audio" / "m2.wav",
                  "text": data / "text", "spk": data / "spk1.scp"}


def setup_validate_data_dir(world: Path, tmp: Path) -> Setup:
    data = _data_dir(world, tmp)
    args = [data, "--sample_rate", "32000", "--num_channels", "4", "--check_audio", "true"]
    return args, {"wav": tmp / "audio" / "m2.wav", "scp": data / "wav.scp"}


def setup_split_scp(world: Path, tmp: Path) -> Setup:
    data = _data_dir(world, tmp)
    args = [data / "wav.scp", "--num_splits", "2", "--out_pattern", tmp / "split" / "keys.JOB.scp"]
    return args, {"scp": data / "wav.scp"}


def setup_average_checkpoints(world: Path, tmp: Path) -> Setup:
    _copy(world, tmp, "ckpt")
    args = ["--output", tmp / "avg" / "avg.pth", tmp / "ckpt" / "a.pth", tmp / "ckpt" / "b.pth"]
    return args, {"ckpt": tmp / "ckpt" / "b.pth"}


def setup_train(world: Path, tmp: Path) -> Setup:
    conf = tmp / "conf" / "train.yaml"
    conf.parent.mkdir()
    shutil.copy2(TOY_YAML, conf)
    args = ["--config", conf, "--output_dir", tmp / "exp" / "toy", "--max_epochs", "1"]
    return args, {"config": conf}


def _render_copy(world: Path, tmp: Path) -> Tuple[Path, Path, List[Path]]:
    """The render world copied: ``(scene table dir, scene root, scene JSONs)``."""
    _copy(world, tmp, "render")
    gen = tmp / "render" / "gen"
    old = (gen / "scene_root").read_text().strip()
    scene_root = tmp / "render" / Path(old).relative_to(world / "render")
    (gen / "scene_root").write_text(f"{scene_root}\n")
    jsons = sorted((gen / "metadata").glob("*.json"))
    (gen / "metadata.scp").write_text("".join(f"{p.stem} {p}\n" for p in jsons))
    return gen, scene_root, jsons


def setup_train_tagger(world: Path, tmp: Path) -> Setup:
    """The tiny tagger on the render world's pools (train) and its scene (valid)."""
    gen, _, _ = _render_copy(world, tmp)
    args = ["--config", TAGGER_YAML, "--classes", DCASE_CLASSES_FILE,
            "--train_data", tmp / "render" / "tables", "--valid_data", gen,
            "--output_dir", tmp / "exp" / "tagger"]
    return args, {"scp": tmp / "render" / "tables" / "sound_event_train" / "wav.scp"}


def setup_render(world: Path, tmp: Path) -> Setup:
    from s5tse.simulate.scene import Scene

    gen, scene_root, jsons = _render_copy(world, tmp)
    scene = Scene.from_json(jsons[0])
    source = scene_root / scene.config["foreground_dir"] / scene.fg_events[0].source_file
    args = ["--data_dir", gen, "--out_dir", tmp / "rendered"]
    return args, {"wav": source, "scp": gen / "metadata.scp", "json": jsons[0]}


def setup_pack_submission(world: Path, tmp: Path) -> Setup:
    _copy(world, tmp, "submission")
    sub = tmp / "submission"
    ddir = sub / "exp" / "sep" / "decode_default_eval"
    args = ["--decode_dir", ddir, "--soundscape_dir", sub / "soundscape", "--author", "Doe",
            "--affiliation", "ACME", "--number", "1", "--out_dir", tmp / "out"]
    return args, {"wav": ddir / "mix_000_1_Speech.wav", "probs": ddir / "probabilities.json"}


def setup_show_results(world: Path, tmp: Path) -> Setup:
    from s5tse.corpus.dcase import reported_results_tsv

    _copy(world, tmp, "results")
    exp = tmp / "results" / "exp"
    reported = tmp / "reported_results.tsv"
    reported.write_text(reported_results_tsv())
    args = ["--expdir", exp, "--out", tmp / "RESULTS.md", "--reported", reported]
    return args, {"scores": exp / "sepB" / "decode_default_test" / "scoring" / "scores.json",
                  "reported": reported}


def setup_separate(world: Path, tmp: Path) -> Setup:
    _copy(world, tmp, "packed", "audio")
    table = tmp / "inputs.scp"
    table.write_text(f"m1 {tmp / 'audio' / 'm1.wav'}\n")
    args = ["--model", tmp / "packed", "--out_dir", tmp / "separated", table]
    return args, {"wav": tmp / "audio" / "m1.wav", "scp": table,
                  "ckpt": tmp / "packed" / "separator" / "model.pth"}


SETUPS: Dict[str, Callable[[Path, Path], Setup]] = {
    "decode": setup_decode, "score": setup_score, "validate_data_dir": setup_validate_data_dir,
    "split_scp": setup_split_scp, "average_checkpoints": setup_average_checkpoints,
    "train": setup_train, "train_tagger": setup_train_tagger, "render": setup_render,
    "tune_thresholds": setup_tune_thresholds, "pack_submission": setup_pack_submission,
    "show_results": setup_show_results, "separate": setup_separate,
}


# --------------------------------------------------------------------------- corruptions
def _rewrite(path: Path, edit) -> None:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x, sr = edit(x, sr)
    sf.write(str(path), x, sr, subtype="FLOAT")


def nan_wav(path: Path) -> None:
    def edit(x, sr):
        x[N // 2, x.shape[1] - 1] = np.nan
        return x, sr
    _rewrite(path, edit)


def wrong_channels(path: Path) -> None:
    """4 -> 3 channels; mono -> 2."""
    _rewrite(path, lambda x, sr: (x[:, :-1] if x.shape[1] > 1 else np.repeat(x, 2, 1), sr))


def wrong_rate(path: Path) -> None:
    _rewrite(path, lambda x, sr: (x, 16000))


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def one_field(path: Path) -> None:
    """The last line keeps only its key."""
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1].split()[0]
    path.write_text("\n".join(lines) + "\n")


def dup_key(path: Path) -> None:
    """The first line twice."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + lines) + "\n")


def bad_json(path: Path) -> None:
    path.write_text('{"capi_sdri": 1.0,\n')


CORRUPTIONS: Dict[str, Callable[[Path], None]] = {
    "nan_wav": nan_wav,
    "wrong_channels": wrong_channels,
    "wrong_rate": wrong_rate,
    "truncated_wav": truncated,
    "empty_wav": lambda p: p.write_bytes(b""),
    "text_wav": lambda p: p.write_text("this is not audio\n"),
    "missing_wav": lambda p: p.unlink(),
    "one_field": one_field,
    "dup_key": dup_key,
    "missing_table": lambda p: p.unlink(),
    "truncated_ckpt": truncated,
    "text_ckpt": lambda p: p.write_text("not a checkpoint\n"),
    "missing_ckpt": lambda p: p.unlink(),
    "unknown_key": lambda p: p.write_text(p.read_text() + "no_such_key: 1\n"),
    "bad_yaml": lambda p: p.write_text("report_threshold: 0.5\nquery_threshold: [0.3\n"),
    "bad_json": bad_json,
}
#: the input each corruption acts on, unless a case names another (``target``)
DEFAULT_TARGET = {
    **{k: "wav" for k in ("nan_wav", "wrong_channels", "wrong_rate", "truncated_wav",
                          "empty_wav", "text_wav", "missing_wav")},
    **{k: "scp" for k in ("one_field", "dup_key", "missing_table")},
    **{k: "ckpt" for k in ("truncated_ckpt", "text_ckpt", "missing_ckpt")},
    **{k: "config" for k in ("unknown_key", "bad_yaml")},
}


def set_option(args: List, option: str, value: str) -> List:
    """``args`` with ``option``'s value replaced (or ``option value`` appended)."""
    args = list(args)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    return args


# -------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    tool: str               # a key of SETUPS (the program is s5tse.bin.<tool before "_tagger">)
    corruption: str         # a key of CORRUPTIONS, or "opt:--name=value" (a bad option value)
    status: int             # the documented exit status
    message: str            # a distinctive part of the error line
    names: str              # the path (template over the setup's paths) or option it must name
    target: Optional[str] = None   # the setup's input the corruption acts on (DEFAULT_TARGET)

    @property
    def prog(self) -> str:
        return "train" if self.tool == "train_tagger" else self.tool

    @property
    def id(self) -> str:
        if self.corruption.startswith("opt:"):
            option, value = self.corruption[4:].split("=")
            return f"{self.tool}-{option.lstrip('-')}_{value}"
        return f"{self.tool}-{self.corruption}"


NOT_AUDIO = "cannot read audio: "   # then libsndfile's reason (its wording varies by version)

CASES = [
    # decode: every mixture is read and checked before the models run
    Case("decode", "nan_wav", 1, "mixture has 1 NaN/Inf sample(s)", "{wav}"),
    Case("decode", "wrong_channels", 1, "mixture has 3 channel(s), expected 4", "{wav}"),
    Case("decode", "wrong_rate", 1, "mixture has 16000 Hz, expected 32000 (pass --resample true",
         "{wav}"),
    Case("decode", "truncated_wav", 1, "truncated: its header promises 3200 frames, the file holds",
         "{wav}"),
    Case("decode", "empty_wav", 1, NOT_AUDIO, "{wav}"),
    Case("decode", "text_wav", 1, NOT_AUDIO, "{wav}"),
    Case("decode", "missing_wav", 1, "no such file", "{wav}"),
    Case("decode", "one_field", 1, "key 'm2' has no value (expected '<key> <value>')", "{scp}:2"),
    Case("decode", "dup_key", 1, "duplicate key 'm1' (first on line 1)", "{scp}:2"),
    Case("decode", "missing_table", 1, "no such file", "{scp}"),
    Case("decode", "truncated_ckpt", 1, "cannot read as a PyTorch checkpoint (truncated, corrupted",
         "{ckpt}"),
    Case("decode", "missing_ckpt", 1, "separator checkpoint not found (made by stage 4 (separator)",
         "{ckpt}"),
    Case("decode", "unknown_key", 2, "unknown key 'no_such_key' (valid: report_threshold",
         "{config}"),
    Case("decode", "bad_yaml", 2, "invalid YAML at line 3", "{config}"),
    Case("decode", "opt:--num_jobs=0", 2, "--job must be in 1..--num_jobs (>= 1)", "--num_jobs 0"),
    Case("decode", "opt:--num_jobs=two", 2, "invalid int value: 'two'", "--num_jobs"),
    # score: its docstring promises exit status 1 for every error, usage ones included
    Case("score", "nan_wav", 1, "estimate of soundscape 'm1' contains NaN or Inf samples", "{wav}"),
    Case("score", "wrong_rate", 1, "estimate of soundscape 'm1' has 16000 Hz, expected 32000",
         "{wav}"),
    Case("score", "missing_wav", 1, "no such file", "{mixture}", target="mixture"),
    Case("score", "dup_key", 1, "duplicate key 'm1' (first on line 1)", "{text}:2", target="text"),
    Case("score", "missing_table", 1, "no such file, but slot 1 of 'm1' is 'Cough'", "{spk}",
         target="spk"),
    Case("score", "opt:--nj=0", 1, "--nj must be >= 1, got 0", "--nj"),
    # validate_data_dir: audio headers (and with --check_audio true the samples) of every table
    Case("validate_data_dir", "nan_wav", 1, "1 NaN/Inf sample(s)", "{scp}: key 'm2': {wav}"),
    Case("validate_data_dir", "wrong_channels", 1, "has 3 channels, expected 4", "{wav}"),
    Case("validate_data_dir", "truncated_wav", 1, "truncated: its header promises 3200 frames",
         "{wav}"),
    Case("validate_data_dir", "empty_wav", 1, NOT_AUDIO, "{wav}"),
    Case("validate_data_dir", "one_field", 1, "key 'm2' has no value", "{scp}:2"),
    Case("validate_data_dir", "opt:--sample_rate=32k", 2, "invalid int value: '32k'",
         "--sample_rate"),
    # split_scp: its docstring promises exit status 1 (argparse's own errors: 2)
    Case("split_scp", "dup_key", 1, "duplicate key 'm1' (first on line 1)", "{scp}:2"),
    Case("split_scp", "missing_table", 1, "no such file", "{scp}"),
    Case("split_scp", "opt:--num_splits=0", 1, "must be >= 1, got 0", "--num_splits"),
    # average_checkpoints
    Case("average_checkpoints", "truncated_ckpt", 1,
         "cannot read as a PyTorch checkpoint (truncated, corrupted or another format)", "{ckpt}"),
    Case("average_checkpoints", "text_ckpt", 1,
         "not a PyTorch checkpoint (neither a zip nor a pickle", "{ckpt}"),
    Case("average_checkpoints", "missing_ckpt", 1, "checkpoint file not found", "{ckpt}"),
    # train: config errors exit 2 before the output dir exists; data errors are config errors
    # (exit 2) raised once train.log is open (LOGS)
    Case("train", "unknown_key", 2, "unknown key 'no_such_key' (valid: task, model", "{config}"),
    Case("train", "bad_yaml", 2, "invalid YAML at line 3", "{config}"),
    Case("train", "opt:--ngpu=one", 2, "invalid int value: 'one'", "--ngpu"),
    Case("train_tagger", "missing_table", 2, "missing (stage 1, local/data.sh, writes it", "{scp}"),
    Case("train_tagger", "dup_key", 2, "duplicate key 'Cough/a/0' (first on line 1)", "{scp}:2"),
    # tune_thresholds: nothing is written before the whole grid is done
    Case("tune_thresholds", "nan_wav", 1, "mixture has 1 NaN/Inf sample(s)", "{wav}"),
    Case("tune_thresholds", "missing_table", 1, "no such file (the reference labels are needed",
         "{text}", target="text"),
    Case("tune_thresholds", "opt:--max_items=all", 2, "invalid int value: 'all'", "--max_items"),
    # render: its docstring promises exit status 1 for every error
    Case("render", "nan_wav", 1, "is silent or not finite",
         "{json}: fg_events[0]: source file {wav}"),
    Case("render", "missing_table", 1, "missing (a scene table dir holds metadata.scp and",
         "{scp}"),
    Case("render", "bad_json", 1, "invalid JSON", "{json}", target="json"),
    Case("render", "opt:--nj=0", 1, "--nj must be >= 1, got 0", "--nj"),
    # pack_submission: every problem, then the count
    Case("pack_submission", "nan_wav", 1, "1 NaN/Inf sample(s)", "{wav}"),
    Case("pack_submission", "missing_table", 1, "no such file", "{probs}", target="probs"),
    # show_results
    Case("show_results", "bad_json", 1, "invalid JSON", "{scores}", target="scores"),
    Case("show_results", "missing_table", 1, "cannot read: No such file or directory",
         "{reported}", target="reported"),
    # separate
    Case("separate", "nan_wav", 1, "mixture has 1 NaN/Inf sample(s)", "{wav}"),
    Case("separate", "text_wav", 1, NOT_AUDIO, "{wav}"),
    Case("separate", "missing_wav", 1, "no such file", "{wav}"),
    Case("separate", "truncated_ckpt", 1, "sha256 does not match MANIFEST.sha256", "{ckpt}"),
]

#: what a tool writes by design on bad input: tool -> the paths it adds to the tmp dir
LOGS = {"train_tagger": {"exp", "exp/tagger", "exp/tagger/train.log"}}


# ------------------------------------------------------------------------------- the check
def snapshot(root: Path) -> Dict[str, Tuple]:
    """Every path under ``root`` (hidden ones too): directories by name, files with size and
    mtime."""
    out = {}
    for p in root.rglob("*"):
        st = p.lstat()
        out[p.relative_to(root).as_posix()] = ("dir",) if p.is_dir() else \
            (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def world_snapshot(world):
    return snapshot(world)


def test_the_table_is_consistent():
    """Unique ids; every cell's tool, corruption and target exist."""
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    for c in CASES:
        assert c.tool in SETUPS, c
        assert c.corruption.startswith("opt:") or c.corruption in CORRUPTIONS, c
        assert c.corruption.startswith("opt:") or c.target or c.corruption in DEFAULT_TARGET, c


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case, world, world_snapshot, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)               # a tool writing to the cwd is caught too
    args, paths = SETUPS[case.tool](world, tmp_path)
    if case.corruption.startswith("opt:"):
        option, value = case.corruption[4:].split("=")
        args = set_option(args, option, value)
    else:
        CORRUPTIONS[case.corruption](paths[case.target or DEFAULT_TARGET[case.corruption]])
    before = snapshot(tmp_path)
    main = import_module(f"s5tse.bin.{case.prog}").main
    status, _, err = run_cli(main, args, capsys)
    after = snapshot(tmp_path)

    assert "Traceback" not in err, err
    assert status == case.status, err
    lines = [ln for ln in err.splitlines() if ln.startswith(f"{case.prog}: error:")]
    if case.prog == "pack_submission":       # every problem, then their count (documented)
        assert lines[-1:] == ["pack_submission: error: 1 problem(s); nothing was packed"], err
        lines = lines[:-1]
    assert len(lines) == 1, err
    assert case.message in lines[0], err
    assert case.names.format(**{k: str(v) for k, v in paths.items()}) in lines[0], err

    allowed = LOGS.get(case.tool, set())
    assert set(after) - set(before) == allowed, "left behind"
    assert {k: v for k, v in after.items() if k not in allowed} == before, "changed or removed"
    for log in sorted(k for k in allowed if after[k] != ("dir",)):   # the log holds the error
        assert lines[0][len(f"{case.prog}: error: "):] in (tmp_path / log).read_text()
    assert snapshot(world) == world_snapshot
