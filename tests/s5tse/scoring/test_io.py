"""Tests for s5tse.scoring.io: finding and validating the scorer's inputs."""
import logging

import numpy as np
import pytest
import soundfile as sf

from s5tse.corpus.dcase import DCASE2026
from s5tse.corpus.prepare import write_soundscape_tables
from s5tse.corpus.testset import scan_test_set
from s5tse.fileio.table import write_table
from s5tse.scoring.io import (
    ScoringError,
    items_from_folders,
    items_from_tables,
    load_item,
    parse_estimate_name,
    scan_estimates,
    warn_missing_estimates,
)

from .helpers import SR, T, make_set, simple_spec, tone, write_wav


@pytest.fixture
def folders(tmp_path):
    return make_set(tmp_path, simple_spec())


def test_items_from_folders(folders):
    sdir, odir, edir = folders
    items = items_from_folders(sdir, odir, edir, DCASE2026)
    assert [it.name for it in items] == ["s_0", "s_1", "s_2", "s_3"]
    assert items[0].refs == [] and items[0].ests == []
    assert [label for label, _ in items[2].refs] == ["Cough", "Cough"]
    assert items[2].ests == [("Cough", str(edir / "s_2_0_Cough.wav")),
                             ("Cough", str(edir / "s_2_1_Cough.wav"))]
    assert items[3].mixture == str(sdir / "s_3.wav")
    loaded = load_item(items[2])
    assert loaded.mixture_ch0.shape == (T,) and loaded.mixture_ch0.dtype == np.float32
    assert [x.shape for _, x in loaded.refs + loaded.ests] == [(T,)] * 4


def test_warning_for_soundscapes_without_estimates(folders, caplog):
    sdir, odir, edir = folders
    (edir / "s_1_0_Speech.wav").unlink()
    items = items_from_folders(sdir, odir, edir, DCASE2026)
    with caplog.at_level(logging.WARNING):
        assert warn_missing_estimates(items) == 2
    assert "2 soundscape(s) have no estimate files (scored as predicting nothing)" in caplog.text


def test_parse_estimate_name():
    stems = {"t_1", "t_10", "t_1_0"}
    assert parse_estimate_name("t_1_2_Speech.wav", stems) == ("t_1", 2, "Speech")
    assert parse_estimate_name("t_10_0_Pour.wav", stems) == ("t_10", 0, "Pour")
    assert parse_estimate_name("t_1_Speech.wav", stems) == ("t_1", None, "Speech")  # 2025 form
    assert parse_estimate_name("t_1_0_Speech.wav", stems) == ("t_1_0", None, "Speech")  # longest
    assert parse_estimate_name("t_2_0_Speech.wav", stems) is None
    assert parse_estimate_name("t_1_0_Speech.flac", stems) is None


def test_scan_estimates_ignores_other_files(tmp_path):
    (tmp_path / "a_0_Speech.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".a_1_Pour.wav").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    got = scan_estimates(tmp_path, ["a", "b"], DCASE2026)
    assert got == {"a": [("Speech", str(tmp_path / "a_0_Speech.wav"))], "b": []}


@pytest.mark.parametrize("bad_name, match", [
    ("s_1_0_Music.wav", "'Music' .* not one of the 18 classes of the inventory"),
    ("s_1_0_silence.wav", "'silence' .* not one of the 18 classes of the inventory"),
    ("s_1_0_speech.wav", "'speech'"),
    ("s_9_0_Speech.wav", "matches no soundscape"),
    ("other_0_Speech.wav", "matches no soundscape"),
])
def test_bad_estimate_names(folders, bad_name, match):
    sdir, odir, edir = folders
    write_wav(edir / bad_name, tone(300))
    with pytest.raises(ScoringError, match=match) as e:
        items_from_folders(sdir, odir, edir, DCASE2026)
    assert bad_name in str(e.value)


def test_missing_estimate_dir(folders, tmp_path):
    sdir, odir, _ = folders
    with pytest.raises(ScoringError, match="no such estimate folder"):
        items_from_folders(sdir, odir, tmp_path / "nope", DCASE2026)


def test_oracle_file_without_soundscape(folders):
    sdir, odir, edir = folders
    write_wav(odir / "zz_0_Speech.wav", tone(300))
    with pytest.raises(ValueError, match="zz_0_Speech.wav"):
        items_from_folders(sdir, odir, edir, DCASE2026)


def _load_all(sdir, odir, edir):
    for item in items_from_folders(sdir, odir, edir, DCASE2026):
        load_item(item)


@pytest.mark.parametrize("case", [
    "est_length", "est_rate", "est_stereo", "est_nan", "est_garbage", "est_empty",
    "ref_length", "ref_inf", "ref_stereo", "mix_channels", "mix_rate", "mix_nan",
])
def test_bad_audio_raises_naming_the_file(folders, case):
    sdir, odir, edir = folders
    est, ref, mix = edir / "s_1_0_Speech.wav", odir / "s_1_0_Speech.wav", sdir / "s_1.wav"
    x = tone(440)
    if case == "est_length":
        target, match = write_wav(est, x[:-1]), "has 3199 samples, its mixture .* has 3200"
    elif case == "est_rate":
        target, match = write_wav(est, x, sr=16000), "has 16000 Hz, expected 32000"
    elif case == "est_stereo":
        target, match = write_wav(est, np.stack([x, x])), "has 2 channels, expected mono"
    elif case == "est_nan":
        y = x.copy()
        y[5] = np.nan
        target, match = write_wav(est, y), "NaN or Inf"
    elif case == "est_garbage":
        est.write_bytes(b"RIFF0000WAVEjunk")
        target, match = est, "cannot read audio"
    elif case == "est_empty":
        est.write_bytes(b"")
        target, match = est, "cannot read audio|no samples"
    elif case == "ref_length":
        target, match = write_wav(ref, np.concatenate([x, x])), "has 6400 samples"
    elif case == "ref_inf":
        y = x.copy()
        y[0] = np.inf
        target, match = write_wav(ref, y), "NaN or Inf"
    elif case == "ref_stereo":
        target, match = write_wav(ref, np.stack([x, x])), "has 2 channels, expected mono"
    elif case == "mix_channels":
        target, match = write_wav(mix, np.stack([x, x])), "has 2 channel\\(s\\), expected 4"
    elif case == "mix_rate":
        target, match = write_wav(mix, np.stack([x] * 4), sr=48000), "has 48000 Hz"
    else:
        y = np.stack([x] * 4)
        y[1, 3] = np.nan
        target, match = write_wav(mix, y), "NaN or Inf"
    with pytest.raises(ScoringError, match=match) as e:
        _load_all(sdir, odir, edir)
    assert str(target) in str(e.value)
    assert "\n" not in str(e.value)


def test_pcm16_estimates_are_read_like_the_official_loader(tmp_path):
    sdir, odir, edir = make_set(tmp_path, {"a": ([("Speech", tone(440))], [])})
    write_wav(edir / "a_0_Speech.wav", tone(440), subtype="PCM_16")
    loaded = load_item(items_from_folders(sdir, odir, edir, DCASE2026)[0])
    ints, _ = sf.read(str(edir / "a_0_Speech.wav"), dtype="int16")  # what the file stores
    assert np.array_equal(loaded.ests[0][1], ints.astype(np.float32) / 32768)


def make_tables(sdir, odir, data_dir):
    write_soundscape_tables(scan_test_set(sdir, odir), data_dir, sample_rate=SR)
    return data_dir


def test_tables_equal_folders(folders, tmp_path):
    sdir, odir, edir = folders
    data = make_tables(sdir, odir, tmp_path / "data" / "test")
    assert items_from_tables(data, edir, DCASE2026) == items_from_folders(sdir, odir, edir, DCASE2026)


def test_table_errors(folders, tmp_path):
    sdir, odir, edir = folders
    data = make_tables(sdir, odir, tmp_path / "data" / "test")
    spk2 = (data / "spk2.scp").read_text()
    # slot 2 of s_2 is Cough but spk2.scp lacks it
    write_table(data / "spk2.scp", {})
    with pytest.raises(ScoringError, match=r"spk2.scp: no reference for 's_2'"):
        items_from_tables(data, edir, DCASE2026)
    # a reference for a silence slot
    (data / "spk2.scp").write_text(spk2 + "s_3 " + str(odir / "s_3_0_Pour.wav") + "\n")
    with pytest.raises(ScoringError, match=r"spk2.scp: 's_3' has a reference but slot 2 is silence"):
        items_from_tables(data, edir, DCASE2026)
    (data / "spk2.scp").write_text(spk2 + "zz " + str(odir / "s_3_0_Pour.wav") + "\n")
    with pytest.raises(ScoringError, match=r"spk2.scp: 'zz' is not a mixture"):
        items_from_tables(data, edir, DCASE2026)
    (data / "spk2.scp").write_text(spk2)
    write_table(data / "text", {"s_0": "silence silence silence", "s_1": "Speech silence silence",
                                "s_2": "Cough Cough silence", "s_3": "Poor silence silence"})
    with pytest.raises(ScoringError, match="unknown sound class 'Poor'"):
        items_from_tables(data, edir, DCASE2026)
    write_table(data / "text", {"s_0": "silence silence silence"})
    with pytest.raises(ScoringError, match="text: no labels for mixture 's_1'"):
        items_from_tables(data, edir, DCASE2026)
