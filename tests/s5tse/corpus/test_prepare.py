"""Stage 1 data preparation on the mini corpus, and every bad-input case naming the file."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from s5tse.bin import prepare_data as cli
from s5tse.corpus.prepare import DataPrepError, file_key, prepare_data
from s5tse.fileio.table import read_table, read_table_lines
from s5tse.corpus.dcase import DCASE2026_CLASSES as TARGET_CLASSES
from s5tse.simulate.scene import Scene, load_metadata_list

DEV = "data/dev_set"


@pytest.fixture
def corpus(mini_corpus, tmp_path):
    """A private copy of the mini corpus that a test may break."""
    return shutil.copytree(mini_corpus, tmp_path / "DCASE2026Task4Dataset")


def test_tables_match_the_corpus(mini_corpus, tmp_path):
    out = tmp_path / "data"
    summary = prepare_data(mini_corpus, out)
    wavs = sorted((mini_corpus / DEV / "sound_event" / "train").rglob("*.wav"))
    wav_scp = read_table(out / "sound_event_train" / "wav.scp")
    assert sorted(wav_scp.values()) == sorted(str(p) for p in wavs)
    text = read_table(out / "sound_event_train" / "text")
    group = read_table(out / "sound_event_train" / "utt2group")
    for key, path in wav_scp.items():
        rel = path.split("/sound_event/train/", 1)[1]
        assert key == rel[:-4]
        assert text[key] == rel.split("/")[0] and group[key] == rel.split("/")[1]
    frames = read_table(out / "sound_event_train" / "utt2num_samples")
    assert all(int(frames[k]) == sf.info(wav_scp[k]).frames for k in wav_scp)
    assert set(summary["sound_event_train"]) == set(TARGET_CLASSES)

    # validation scenes: metadata list + padded labels in JSON order
    meta = read_table(out / "valid" / "metadata.scp")
    paths = load_metadata_list(mini_corpus / DEV / "metadata" / "valid.json")
    assert sorted(meta) == sorted(p.stem for p in paths)
    vtext = read_table_lines(out / "valid" / "text")
    for p in paths:
        labels = Scene.from_json(p).labels()
        assert vtext[p.stem] == labels + ["silence"] * (3 - len(labels))

    # test set: zero-target scene has no reference; slots follow the oracle files
    ttext = read_table_lines(out / "test" / "text")
    assert ttext["test_0000"] == ["silence"] * 3
    spk1 = read_table(out / "test" / "spk1.scp")
    assert "test_0000" not in spk1
    assert spk1["test_0001"].endswith(f"test_0001_0_{ttext['test_0001'][0]}.wav")
    assert read_table(out / "rirs_train" / "rirs.scp")
    assert read_table(out / "noise_valid" / "wav.scp")
    # the class inventory: the DCASE list in output order
    assert (out / "lang" / "classes.txt").read_text().split() == list(TARGET_CLASSES)


def _break_and_expect(corpus, tmp_path, message):
    with pytest.raises((DataPrepError, ValueError)) as e:
        prepare_data(corpus, tmp_path / "data")
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_unknown_class_folder(corpus, tmp_path):
    shutil.copytree(corpus / DEV / "sound_event/train/Speech", corpus / DEV / "sound_event/train/Dog")
    _break_and_expect(corpus, tmp_path, "sound_event/train/Dog")


def test_missing_and_empty_class_folder(corpus, tmp_path):
    shutil.rmtree(corpus / DEV / "sound_event/valid/Pour")
    _break_and_expect(corpus, tmp_path, "sound_event/valid/Pour: missing class folder")
    (corpus / DEV / "sound_event/valid/Pour/g").mkdir(parents=True)
    _break_and_expect(corpus, tmp_path, "sound_event/valid/Pour")


def test_zero_length_and_corrupt_wav(corpus, tmp_path):
    victim = sorted((corpus / DEV / "sound_event/train/Cough").rglob("*.wav"))[0]
    sf.write(str(victim), np.zeros(0, dtype=np.float32), 32000)
    _break_and_expect(corpus, tmp_path, str(victim))
    victim.write_bytes(b"RIFF garbage")
    _break_and_expect(corpus, tmp_path, str(victim))


def test_non_32k_source(corpus, tmp_path):
    victim = sorted((corpus / DEV / "interference/train").rglob("*.wav"))[0]
    sf.write(str(victim), np.zeros(1600, dtype=np.float32) + 0.1, 16000)
    msg = _break_and_expect(corpus, tmp_path, str(victim))
    assert "16000 Hz, expected 32000" in msg


def test_noise_channels_differ_from_rir_receivers(corpus, tmp_path):
    victim = next((corpus / DEV / "noise/train").glob("*.wav"))
    sf.write(str(victim), np.full((32000, 2), 0.1, dtype=np.float32), 32000)
    _break_and_expect(corpus, tmp_path, f"{victim}: 2 channels, expected 4")


def _edit_first_event(corpus, key, value):
    """Set ``fg_events[0][key]`` of the first validation scene; returns its path."""
    path = sorted((corpus / DEV / "metadata/valid").glob("*.json"))[0]
    scene = json.loads(path.read_text())
    scene["fg_events"][0][key] = value
    path.write_text(json.dumps(scene))
    return path


def test_metadata_naming_a_missing_file(corpus, tmp_path):
    path = _edit_first_event(corpus, "source_file", "Speech/nobody/none.wav")
    _break_and_expect(corpus, tmp_path, f"{path}: names a missing file")


def test_unknown_label_in_valid_metadata(corpus, tmp_path):
    path = _edit_first_event(corpus, "label", "Dog")
    _break_and_expect(corpus, tmp_path, f"unknown sound class 'Dog' in {path}")


def test_unknown_label_in_test_oracle(corpus, tmp_path):
    oracle = corpus / DEV / "synthesized/test/oracle_target"
    src = sorted(oracle.glob("test_0002_0_*.wav"))[0]
    src.rename(oracle / "test_0002_0_Dog.wav")
    _break_and_expect(corpus, tmp_path, "test_0002_0_Dog.wav")


def test_cli_error_is_one_line(corpus, tmp_path, capsys):
    shutil.rmtree(corpus / DEV / "room_ir/valid")
    with pytest.raises(SystemExit) as e:
        cli.main(["--corpus_root", str(corpus), "--out_dir", str(tmp_path / "data")])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("prepare_data: error: ") and "room_ir/valid" in err[0]


def test_file_key():
    assert file_key("Crumpling, crinkling/fsd50k_1.wav") == "Crumpling,_crinkling/fsd50k_1"
