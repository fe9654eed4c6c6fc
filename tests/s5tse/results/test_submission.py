"""Tests for s5tse.results.submission on 0.1-s, 32 kHz mixtures."""
import json
import zipfile

import numpy as np
import pytest

from s5tse.results.submission import (
    SubmissionError,
    check_identity,
    pack_submission,
    parse_estimate_name,
    plan_submission,
    submission_name,
)
from tests.s5tse.results.helpers import (
    GOOD_ESTIMATES,
    MIX_LEN,
    build_decode_dir,
    official_dev_results,
    write_json,
    write_wav,
)

NAME = "Doe_ACME-Lab_task4_2"
EXPECTED_WAVS = ["mix_000_1_Speech.wav", "mix_000_2_Dishes.wav", "mix_001_1_Speech.wav",
                 "mix_001_2_Speech.wav", "mix_001_3_AlarmClock.wav"]


@pytest.fixture
def setup(tmp_path):
    return build_decode_dir(tmp_path, GOOD_ESTIMATES)


def pack(tmp_path, ddir, sdir, **kw):
    args = dict(author="Doe", affiliation="ACME-Lab", number=2)
    args.update(kw)
    return pack_submission(ddir, sdir, args.pop("author"), args.pop("affiliation"),
                           args.pop("number"), tmp_path / "out", **args)


def problems_of(tmp_path, ddir, sdir, **kw):
    with pytest.raises(SubmissionError) as e:
        pack(tmp_path, ddir, sdir, **kw)
    assert not (tmp_path / "out" / f"{NAME}.zip").exists()
    assert not (tmp_path / "out" / NAME).exists()
    return e.value.problems


def test_parse_estimate_name():
    assert parse_estimate_name("eval_0000_1_Speech.wav") == ("eval_0000", 1, "Speech")
    assert parse_estimate_name("a_b_12_Dishes.wav") == ("a_b", 12, "Dishes")
    # a 2025-style name parses with soundscape "eval": caught by the soundscape check
    assert parse_estimate_name("eval_0000_Speech.wav") == ("eval", 0, "Speech")
    assert parse_estimate_name("eval-0000-Speech.wav") is None
    assert parse_estimate_name("eval_0000_1_Speech.flac") is None
    assert parse_estimate_name("eval_0000_1_Speech2.wav") is None


def test_identity():
    assert submission_name("Doe", "ACME-Lab", 2) == NAME
    assert submission_name("Doe", "ACME", "3") == "Doe_ACME_task4_3"
    assert check_identity("Doe", "ACME", 1) == []
    problems = check_identity("Do_e", "", "0")
    assert len(problems) == 3
    assert "author 'Do_e'" in problems[0] and "affiliation ''" in problems[1]
    assert "number '0'" in problems[2]
    for bad in (-1, 0, "x", "1.5", True):
        assert check_identity("a", "b", bad), bad
    with pytest.raises(SubmissionError):
        submission_name("Doe Jr", "ACME", 1)


def test_pack_ok(tmp_path, setup):
    ddir, sdir, probabilities, decode_info = setup
    dev = write_json(tmp_path / "official_results.json",
                     official_dev_results(["test_0000", "test_0001"]))
    dev_sdir = tmp_path / "dev_soundscape"
    for name in ("test_0000", "test_0001"):
        write_wav(dev_sdir / f"{name}.wav", np.zeros((MIX_LEN, 4)), subtype="PCM_16")
    zip_path = pack(tmp_path, ddir, sdir, dev_results=dev, dev_soundscape_dir=dev_sdir)
    assert zip_path == tmp_path / "out" / f"{NAME}.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted([f"{NAME}/eval_out/{w}" for w in EXPECTED_WAVS]
                                       + [f"{NAME}/eval_results.json", f"{NAME}/dev_set_test_results.json"])
        eval_results = json.loads(zf.read(f"{NAME}/eval_results.json"))
        assert eval_results == {"nparams": 123456, "probabilities": probabilities, "config": decode_info}
        assert zf.read(f"{NAME}/dev_set_test_results.json") == dev.read_bytes()
        for w in EXPECTED_WAVS:
            assert zf.read(f"{NAME}/eval_out/{w}") == (ddir / w).read_bytes()
    folder = tmp_path / "out" / NAME
    assert sorted(p.name for p in (folder / "eval_out").iterdir()) == EXPECTED_WAVS
    assert json.loads((folder / "eval_results.json").read_text()) == eval_results
    # no temporary leftovers next to the outputs
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [NAME, f"{NAME}.zip"]


def test_pack_without_dev_results_and_silence_entries(tmp_path, setup):
    ddir, sdir, probabilities, decode_info = setup
    with_silence = json.loads(json.dumps(probabilities))
    with_silence[2]["estimate"].append({"filename": None, "label": "silence", "probability": 0.9})
    write_json(ddir / "probabilities.json", with_silence)
    plan = plan_submission(ddir, sdir, "Doe", "ACME-Lab", "2", tmp_path / "out")
    assert plan.warnings and "dev_set_test_results.json" in plan.warnings[0]
    zip_path = pack(tmp_path, ddir, sdir)
    with zipfile.ZipFile(zip_path) as zf:
        assert f"{NAME}/dev_set_test_results.json" not in zf.namelist()
        assert len(zf.namelist()) == len(EXPECTED_WAVS) + 1
        # the silence entry is not a file: dropped, the rest equals what was given
        assert json.loads(zf.read(f"{NAME}/eval_results.json"))["probabilities"] == probabilities


def test_refuses_to_overwrite(tmp_path, setup):
    ddir, sdir, _, _ = setup
    zip_path = pack(tmp_path, ddir, sdir)
    before = zip_path.read_bytes()
    with pytest.raises(SubmissionError) as e:
        pack(tmp_path, ddir, sdir)
    assert len(e.value.problems) == 1
    assert str(zip_path) in e.value.problems[0] and "already exists" in e.value.problems[0]
    assert zip_path.read_bytes() == before
    (ddir / "mix_000_2_Dishes.wav").unlink()
    probabilities = json.loads((ddir / "probabilities.json").read_text())
    probabilities[0]["estimate"] = probabilities[0]["estimate"][:1]
    write_json(ddir / "probabilities.json", probabilities)
    pack(tmp_path, ddir, sdir, overwrite=True)
    with zipfile.ZipFile(zip_path) as zf:
        assert f"{NAME}/eval_out/mix_000_2_Dishes.wav" not in zf.namelist()
        assert len(zf.namelist()) == len(EXPECTED_WAVS)  # 4 wavs + eval_results.json
    assert not (tmp_path / "out" / NAME / "eval_out" / "mix_000_2_Dishes.wav").exists()


def _find(problems, *fragments):
    hits = [p for p in problems if all(f in p for f in fragments)]
    assert len(hits) == 1, (fragments, problems)
    return hits[0]


def test_many_problems_at_once(tmp_path, setup):
    ddir, sdir, probabilities, _ = setup
    rng = np.random.default_rng(1)
    mono = 0.05 * rng.standard_normal(MIX_LEN)
    # wrong label, 16 kHz, stereo, wrong length, NaN, bad name, unknown soundscape
    write_wav(ddir / "mix_002_1_Speeech.wav", mono)
    write_wav(ddir / "mix_002_2_Cough.wav", mono[: MIX_LEN // 2], sr=16000)
    write_wav(ddir / "mix_002_3_Pour.wav", np.stack([mono, mono], axis=1))
    write_wav(ddir / "mix_002_4_Typing.wav", mono[:-1])
    nan = mono.copy()
    nan[10] = np.nan
    nan[11] = np.inf
    write_wav(ddir / "mix_002_5_Blender.wav", nan)
    write_wav(ddir / "mix002-Speech.wav", mono)
    write_wav(ddir / "mix_999_1_Speech.wav", mono)
    entries = probabilities[2]["estimate"]
    for fname, label in (("mix_002_1_Speeech.wav", "Speeech"), ("mix_002_2_Cough.wav", "Cough"),
                         ("mix_002_3_Pour.wav", "Pour"), ("mix_002_4_Typing.wav", "Typing"),
                         ("mix_002_5_Blender.wav", "Blender")):
        entries.append({"filename": fname, "label": label, "probability": 0.7})
    # missing probability entry (mix_000_2_Dishes) and a stray one (mix_001_4_Cough)
    probabilities[0]["estimate"] = probabilities[0]["estimate"][:1]
    probabilities[1]["estimate"].append({"filename": "mix_001_4_Cough.wav", "label": "Cough",
                                         "probability": 0.1})
    write_json(ddir / "probabilities.json", probabilities)

    problems = problems_of(tmp_path, ddir, sdir, author="Jane_Doe", number="0")
    _find(problems, "mix_002_1_Speeech.wav", "'Speeech' is not one of the 18 target classes",
          "did you mean 'Speech'")
    _find(problems, "mix_002_2_Cough.wav", "16000 Hz", "expected 32000")
    _find(problems, "mix_002_2_Cough.wav", "1600 samples", "mix_002.wav has 3200")
    _find(problems, "mix_002_3_Pour.wav", "2 channels")
    _find(problems, "mix_002_4_Typing.wav", "3199 samples")
    _find(problems, "mix_002_5_Blender.wav", "2 NaN/Inf")
    _find(problems, "mix002-Speech.wav", "name does not match")
    _find(problems, "mix_999_1_Speech.wav", "soundscape 'mix_999' not found")
    _find(problems, "mix_999_1_Speech.wav", "no entry in")
    _find(problems, "mix_000_2_Dishes.wav", "no entry in", "probabilities.json")
    _find(problems, "probabilities.json", "stray", "mix_001_4_Cough.wav")
    _find(problems, "mix_002", "5 estimates", "at most 3")
    _find(problems, "author 'Jane_Doe'")
    _find(problems, "number '0'")
    assert len(problems) == 14
    assert all("\n" not in p for p in problems)


def test_structure_problems(tmp_path, setup):
    ddir, sdir, probabilities, decode_info = setup
    write_wav(ddir / "mix_000_1_Cough.wav", np.zeros(MIX_LEN))  # slot 1 twice
    probabilities[0]["estimate"].append({"filename": "mix_000_1_Cough.wav", "label": "Speech",
                                         "probability": 1.5})
    probabilities[1]["soundscape"] = "mix_002"  # mix_001 files listed under mix_002, mix_002 twice
    write_json(ddir / "probabilities.json", probabilities)
    write_json(ddir / "decode_info.json", {"rtf": 0.1})
    problems = problems_of(tmp_path, ddir, sdir)
    _find(problems, "mix_000_1_Speech.wav", "slot 1", "already used by mix_000_1_Cough.wav")
    _find(problems, "'mix_000_1_Cough.wav' has label 'Speech', its name says 'Cough'")
    _find(problems, "'mix_000_1_Cough.wav' has probability 1.5")
    _find(problems, "soundscape 'mix_002': listed twice")
    for w in ("mix_001_1_Speech.wav", "mix_001_2_Speech.wav", "mix_001_3_AlarmClock.wav"):
        _find(problems, w, "listed under soundscape 'mix_002'")
    _find(problems, "no entry for 1 of the 3 soundscape(s)", "mix_001")
    _find(problems, "decode_info.json", "'nparams' must be a positive integer")


def test_an_oracle_label_decoding_is_refused(tmp_path, setup):
    ddir, sdir, _, decode_info = setup
    write_json(ddir / "decode_info.json", dict(decode_info, use_oracle_labels=True))
    _find(problems_of(tmp_path, ddir, sdir), "decode_info.json",
          "decoded with the reference (oracle) labels")


def test_missing_files(tmp_path, setup):
    ddir, sdir, _, _ = setup
    (ddir / "probabilities.json").unlink()
    (ddir / "decode_info.json").unlink()
    problems = problems_of(tmp_path, ddir, sdir, dev_results=tmp_path / "nope.json")
    _find(problems, str(ddir / "probabilities.json"), "missing")
    _find(problems, str(ddir / "decode_info.json"), "missing")
    _find(problems, "nope.json", "missing")
    problems = problems_of(tmp_path, tmp_path / "no_decode", tmp_path / "no_soundscapes")
    _find(problems, "no_decode", "decoding directory not found")
    _find(problems, "no_soundscapes", "soundscape directory not found")


def test_dev_results_must_be_the_official_structure(tmp_path, setup):
    ddir, sdir, _, _ = setup
    ours = write_json(tmp_path / "scores.json", {"capi_sdri": 8.0, "acc_mix": 60.0, "acc_src": 70.0,
                                                 "per_mixture": {}})
    problems = problems_of(tmp_path, ddir, sdir, dev_results=ours)
    _find(problems, "scores.json", "'CAPI-SDRi' must be {'mean': number}")
    _find(problems, "scores.json", "no 'details' list", "official_results.json")
    # the official check: details == the dev test soundscapes, no duplicates
    official = official_dev_results(["test_0000", "test_0001", "test_0001"])
    official["details"][0]["metrics"] = None
    dev = write_json(tmp_path / "official.json", official)
    dev_sdir = tmp_path / "dev_soundscape"
    for name in ("test_0000", "test_0002"):
        write_wav(dev_sdir / f"{name}.wav", np.zeros((MIX_LEN, 4)), subtype="PCM_16")
    problems = problems_of(tmp_path, ddir, sdir, dev_results=dev, dev_soundscape_dir=dev_sdir)
    _find(problems, "official.json", "'test_0001' listed twice")
    _find(problems, "official.json", "details[0] (test_0000) has no 'metrics' list")
    _find(problems, "official.json", "has no entry for 1 soundscape(s)", "test_0002")
    _find(problems, "official.json", "lists unknown 1 soundscape(s)", "test_0001")
    assert len(problems) == 4, problems
