"""Builders shared by the results tests: a fake exp/ tree and a tiny decoding directory."""
import json
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf

from s5tse.corpus.dcase import DCASE2026_CLASSES

SR = 32000
MIX_LEN = 3200  # 0.1 s


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def make_decode_dir(expdir: Path, system: str, name: str, scores: dict, decode_info=None) -> Path:
    ddir = expdir / system / name
    write_json(ddir / "scoring" / "scores.json", scores)
    if decode_info is not None:
        write_json(ddir / "decode_info.json", decode_info)
    return ddir


MIXTURE_SDR = 1.23456  # mean SDR of the test set's mixtures (scores.json mixture_sdr)


def build_fake_exp(expdir: Path) -> Path:
    """A tagger exp and two systems. sepA (config.yaml: resunetk) has an estimated-label and an
    oracle decoding of ``test`` (current files: decode_info with the labels, mixture_sdr) and a
    ``valid`` decoding without decode_info; sepB (no config) one older decoding (decode_info
    without the labels keys, the unprocessed row only as an extra row, rtf null)."""
    (expdir / "tagger_tg").mkdir(parents=True)
    (expdir / "tagger_tg" / "config.yaml").write_text("model: fusion\n")
    (expdir / "sepA").mkdir(parents=True)
    (expdir / "sepA" / "config.yaml").write_text("model: resunetk\n")
    unprocessed = {"unprocessed mixture (oracle labels)":
                   {"capi_sdri": 0.0, "acc_mix": 100.0, "acc_src": 100.0, "mean_sdr": MIXTURE_SDR}}
    make_decode_dir(
        expdir, "sepA", "decode_tg_test",
        {"capi_sdri": 8.12345, "acc_mix": 58.92857, "acc_src": 68.0, "n_mixtures": 84,
         "per_mixture": [], "ca_sdri_2025": 9.5, "mixture_sdr": MIXTURE_SDR,
         "extra_rows": dict(unprocessed, **{"untuned thresholds": {"capi_sdri": 7.4567}})},
        # tagger_exp as the recipe records it: relative to the recipe dir, not to the cwd here
        {"nparams": 29912345, "nparams_tagger": 912345, "nparams_separator": 29000000,
         "rtf": 0.01234, "set": "test", "tag": "tg", "use_oracle_labels": False,
         "tagger_exp": "exp/tagger_tg"},
    )
    (expdir / "sepA" / "decode_tg_test" / "scoring" / "scores.md").write_text("# breakdown\n")
    make_decode_dir(
        expdir, "sepA", "decode_oracle_long_test",
        {"capi_sdri": 11.0, "acc_mix": 100.0, "acc_src": 100.0, "n_mixtures": 84,
         "mixture_sdr": MIXTURE_SDR, "extra_rows": unprocessed},
        {"nparams": 29000000, "nparams_tagger": None, "nparams_separator": 29000000,
         "rtf": 0.01, "set": "test", "tag": "oracle_long", "use_oracle_labels": True,
         "tagger_exp": None},
    )
    make_decode_dir(
        expdir, "sepA", "decode_fast_valid",
        {"capi_sdri": -1.5, "acc_mix": 12.5, "acc_src": 33.33333, "n_mixtures": 8, "per_mixture": []},
    )
    make_decode_dir(
        expdir, "sepB", "decode_default_test",
        {"capi_sdri": 7.0004, "acc_mix": 50.0, "acc_src": 66.6666, "n_mixtures": 84, "per_mixture": [],
         "extra_rows": unprocessed},
        {"nparams": 164000000, "rtf": None, "set": "test", "tag": "default"},
    )
    # not collected: a decode dir without scores, a non-decode dir with scores
    (expdir / "sepB" / "decode_other_test").mkdir()
    make_decode_dir(expdir, "sepB", "train_logs",
                    {"capi_sdri": 1.0, "acc_mix": 1.0, "acc_src": 1.0})
    return expdir


def parse_markdown(text: str) -> Dict[str, dict]:
    """{section title: {"lines": [...], "table": [header, rows...] or None}} for ``## `` sections."""
    sections: Dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = {"lines": [], "table": None}
            sections[line[3:]] = current
            continue
        if current is None:
            continue
        current["lines"].append(line)
        if line.startswith("|"):
            cells = line.strip("|").split("|")
            if current["table"] is None:
                current["table"] = []
            if set("".join(cells)) <= {"-"}:
                continue  # the separator line
            current["table"].append(cells)
    return sections


def write_wav(path: Path, data: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sr, subtype=subtype)
    return path


def build_decode_dir(tmp: Path, estimates: Dict[str, List[Tuple[int, str]]], n_mix: int = 3):
    """Mixtures mix_000..mix_{n-1} (4 ch, 0.1 s) and mono estimates, probabilities.json,
    decode_info.json. Returns (decode_dir, soundscape_dir, probabilities, decode_info)."""
    rng = np.random.default_rng(0)
    sdir = tmp / "soundscape"
    for i in range(n_mix):
        write_wav(sdir / f"mix_{i:03d}.wav", 0.1 * rng.standard_normal((MIX_LEN, 4)), subtype="PCM_16")
    ddir = tmp / "exp" / "sep" / "decode_default_eval"
    probabilities = []
    for i in range(n_mix):
        soundscape = f"mix_{i:03d}"
        entry = {"soundscape": soundscape, "estimate": []}
        for slot, label in estimates.get(soundscape, []):
            fname = f"{soundscape}_{slot}_{label}.wav"
            write_wav(ddir / fname, 0.05 * rng.standard_normal(MIX_LEN).astype(np.float32))
            entry["estimate"].append({"filename": fname, "label": label,
                                      "probability": round(0.5 + 0.1 * slot, 3)})
        probabilities.append(entry)
    write_json(ddir / "probabilities.json", probabilities)
    decode_info = {"nparams": 123456, "rtf": 0.25, "set": "eval", "tag": "default",
                   "classes": list(DCASE2026_CLASSES)}
    write_json(ddir / "decode_info.json", decode_info)
    return ddir, sdir, probabilities, decode_info


GOOD_ESTIMATES = {
    "mix_000": [(1, "Speech"), (2, "Dishes")],
    "mix_001": [(1, "Speech"), (2, "Speech"), (3, "AlarmClock")],
    # mix_002: no target found
}


def official_dev_results(names: List[str]) -> dict:
    """A hand-written copy of the official evaluator's results file (keys and value types of
    ``<config>_results.json``, reference §5.4), one ``details`` entry per soundscape."""
    return {
        "CAPI-SDRi": {"mean": 8.489},
        "label_metrics": {"accuracy_mix": 60.714, "accuracy_src": 70.394},
        "nparams": 29912345,
        "details": [
            {"soundscape": name, "ref_labels": ["Speech", "silence", "silence"],
             "est_labels": ["Speech", "silence", "silence"],
             "probabilities": [0.98, 0.91, 0.97],
             "metrics": [{"metric": "CAPI-SDRi", "value": 12.5},
                         {"metric": "label_metrics",
                          "value": {"acc": True, "tp": 1, "fp": 0, "fn": 0}}]}
            for name in names
        ],
        "config": {"dataset": {"module": "src.datamodules.dataset", "main": "DatasetS3"}},
    }
