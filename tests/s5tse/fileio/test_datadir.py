"""Tests for s5tse.fileio.datadir.validate_data_dir."""
import os

import numpy as np
import pytest
import soundfile as sf

from s5tse.fileio.datadir import list_tables, validate_data_dir
from s5tse.fileio.sound_scp import AudioFormatError
from s5tse.fileio.table import TableError

SR = 32000
T = 640
UTTS = ("mix_0001", "mix_0002", "mix_0003")


def _wav(path, num_channels, num_frames=T, sr=SR):
    sf.write(str(path), np.zeros((num_frames, num_channels), dtype=np.float32), sr, subtype="FLOAT")
    return str(path)


def _lines(mapping):
    return "".join(f"{k} {v}\n" for k, v in mapping.items())


@pytest.fixture
def data_dir(tmp_path):
    """A valid test-set-like dir: 4-ch mixtures, 2 mono references, labels, speakers, RIRs."""
    audio = tmp_path / "audio"
    audio.mkdir()
    d = tmp_path / "data" / "test"
    d.mkdir(parents=True)
    wav = {u: _wav(audio / f"{u}.wav", 4) for u in UTTS}
    (d / "wav.scp").write_text(_lines(wav))
    for n in (1, 2):
        refs = {u: _wav(audio / f"{u}_s{n}.wav", 1) for u in UTTS}
        (d / f"spk{n}.scp").write_text(_lines(refs))
    (d / "text").write_text(
        "mix_0001 Dishes Speech silence\nmix_0002 Cough Cough silence\nmix_0003 Speech Cough silence\n"
    )
    (d / "utt2spk").write_text(_lines({u: u for u in UTTS}))
    (d / "spk2utt").write_text(_lines({u: u for u in UTTS}))
    (d / "utt2num_samples").write_text(_lines({u: T for u in UTTS}))
    (d / "utt2category").write_text(_lines({u: "synth_32k" for u in UTTS}))
    (d / "rirs.scp").write_text(f"rir_01 {_wav(audio / 'rir.wav', 4, 100)}\n")
    (d / "meta.jsonl").write_text('{"id": "mix_0001"}\n')  # not a table: ignored
    (d / "feats_type").write_text("raw\n")
    (d / "log").mkdir()
    return d


ALL_TABLES = ["rirs.scp", "spk1.scp", "spk2.scp", "spk2utt", "text", "utt2category",
              "utt2num_samples", "utt2spk", "wav.scp"]


def test_valid_dir(data_dir):
    assert list_tables(data_dir) == ALL_TABLES
    summary = validate_data_dir(data_dir, sample_rate=SR, num_channels=4,
                                labels={"Dishes", "Speech", "Cough"})
    assert summary == {
        "data_dir": str(data_dir),
        "num_utts": 3,
        "tables": ALL_TABLES,
        "num_audio_checked": 3 + 3 + 3 + 1,
        "num_pipes_skipped": 0,
    }


def test_not_a_directory(tmp_path):
    with pytest.raises(TableError, match="no such directory"):
        validate_data_dir(tmp_path / "nope")


def test_required_missing(data_dir):
    (data_dir / "wav.scp").unlink()
    with pytest.raises(TableError) as e:
        validate_data_dir(data_dir)
    assert str(e.value) == f"{data_dir}: required file 'wav.scp' is missing"
    with pytest.raises(TableError, match="'spk3.scp' is missing"):
        (data_dir / "wav.scp").write_text("")
        validate_data_dir(data_dir, required=("wav.scp", "spk3.scp"))


def test_bad_table_line(data_dir):
    (data_dir / "utt2category").write_text("mix_0002 a\nmix_0001 b\nmix_0003 c\n")
    with pytest.raises(TableError, match=r"utt2category:2: key 'mix_0001' is not in byte order"):
        validate_data_dir(data_dir)


def test_key_mismatch(data_dir):
    (data_dir / "text").write_text("mix_0001 Dishes\nmix_0003 Speech\nmix_0004 Cough\n")
    with pytest.raises(TableError) as e:
        validate_data_dir(data_dir)
    msg = str(e.value)
    assert msg.startswith(f"{data_dir / 'text'}: ")
    assert "1 key(s) of" in msg and "'mix_0002'" in msg
    assert "not in" in msg and "'mix_0004'" in msg
    assert str(data_dir / "wav.scp") in msg


def test_reference_key_mismatch(data_dir):
    lines = (data_dir / "spk2.scp").read_text().splitlines()
    (data_dir / "spk2.scp").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(TableError, match=r"spk2\.scp: 1 key\(s\) of .* missing \('mix_0003'\)"):
        validate_data_dir(data_dir)


def test_references_follow_text_slots(data_dir):
    """A zero-target mixture has no reference; a silence slot must have none."""
    (data_dir / "text").write_text(
        "mix_0001 Dishes Speech silence\nmix_0002 silence silence silence\nmix_0003 Speech Cough silence\n"
    )
    with pytest.raises(TableError, match=r"spk1\.scp: .*'mix_0002'"):
        validate_data_dir(data_dir)
    for n in (1, 2):
        lines = (data_dir / f"spk{n}.scp").read_text().splitlines()
        (data_dir / f"spk{n}.scp").write_text("".join(l + "\n" for l in lines if "mix_0002" not in l))
    assert validate_data_dir(data_dir)["num_utts"] == 3


def test_lists_few_keys(data_dir, tmp_path):
    (data_dir / "utt2category").write_text("")
    with pytest.raises(TableError) as e:
        validate_data_dir(data_dir)
    assert "3 key(s)" in str(e.value) and "'mix_0001', 'mix_0002', 'mix_0003'" in str(e.value)


def test_spk2utt_must_invert_utt2spk(data_dir):
    (data_dir / "utt2spk").write_text("mix_0001 s1\nmix_0002 s1\nmix_0003 s2\n")
    (data_dir / "spk2utt").write_text("s1 mix_0001 mix_0002\ns2 mix_0003\n")
    validate_data_dir(data_dir)
    (data_dir / "spk2utt").write_text("s1 mix_0001\ns2 mix_0002 mix_0003\n")
    with pytest.raises(TableError, match=r"spk2utt: speaker 's1': utterances differ from utt2spk"):
        validate_data_dir(data_dir)
    (data_dir / "spk2utt").write_text("s1 mix_0001 mix_0002\ns3 mix_0003\n")
    with pytest.raises(TableError, match=r"spk2utt: .*'s2'.*'s3'"):
        validate_data_dir(data_dir)
    (data_dir / "spk2utt").unlink()
    with pytest.raises(TableError, match="utt2spk exists but spk2utt is missing"):
        validate_data_dir(data_dir)


def test_utt2num_samples_values(data_dir):
    (data_dir / "utt2num_samples").write_text("mix_0001 640\nmix_0002 6.4e2\nmix_0003 640\n")
    with pytest.raises(TableError, match=r"utt2num_samples: key 'mix_0002': expected a positive integer"):
        validate_data_dir(data_dir, check_audio=False)
    (data_dir / "utt2num_samples").write_text("mix_0001 640\nmix_0002 641\nmix_0003 640\n")
    validate_data_dir(data_dir)  # lengths compared only when headers are read
    with pytest.raises(TableError, match=r"utt2num_samples: key 'mix_0002': 641 samples, but .* has 640"):
        validate_data_dir(data_dir, sample_rate=SR)


def test_labels(data_dir):
    with pytest.raises(TableError) as e:
        validate_data_dir(data_dir, labels=["Dishes", "Speech"])
    assert str(e.value) == f"{data_dir / 'text'}: key 'mix_0002': unknown label 'Cough'"


def test_missing_audio(data_dir, tmp_path):
    missing = tmp_path / "audio" / "mix_0002_s1.wav"
    missing.unlink()
    with pytest.raises(TableError) as e:
        validate_data_dir(data_dir)
    assert str(e.value) == f"{data_dir / 'spk1.scp'}: key 'mix_0002': no such file {str(missing)!r}"
    summary = validate_data_dir(data_dir, check_audio=False)
    assert summary["num_audio_checked"] == 0


def test_missing_file_in_list_table(data_dir, tmp_path):
    (tmp_path / "audio" / "rir.wav").unlink()
    with pytest.raises(TableError, match=r"rirs\.scp: key 'rir_01': no such file"):
        validate_data_dir(data_dir)


def test_pipes_are_not_run(data_dir, tmp_path):
    marker = tmp_path / "marker"
    lines = (data_dir / "wav.scp").read_text().splitlines()
    lines[0] = f"mix_0001 touch {marker}; cat {lines[0].split(' ', 1)[1]} |"
    (data_dir / "wav.scp").write_text("\n".join(lines) + "\n")
    summary = validate_data_dir(data_dir, sample_rate=SR, num_channels=4)
    assert not marker.exists()
    assert summary["num_pipes_skipped"] == 1
    assert summary["num_audio_checked"] == 9


def test_sample_rate_mismatch(data_dir, tmp_path):
    path = _wav(tmp_path / "audio" / "mix_0002.wav", 4, sr=48000)
    with pytest.raises(AudioFormatError) as e:
        validate_data_dir(data_dir, sample_rate=SR)
    assert str(e.value) == f"{data_dir / 'wav.scp'}: key 'mix_0002': {path} has 48000 Hz, expected 32000"
    validate_data_dir(data_dir, num_channels=4)  # rate not checked when not given


def test_channel_mismatch(data_dir, tmp_path):
    path = _wav(tmp_path / "audio" / "mix_0003.wav", 2)
    with pytest.raises(AudioFormatError) as e:
        validate_data_dir(data_dir, num_channels=4)
    assert str(e.value) == f"{data_dir / 'wav.scp'}: key 'mix_0003': {path} has 2 channels, expected 4"


def test_references_must_be_mono_same_rate_same_length(data_dir, tmp_path):
    ref = _wav(tmp_path / "audio" / "mix_0001_s2.wav", 4)
    with pytest.raises(AudioFormatError, match=r"spk2\.scp: key 'mix_0001': .* has 4 channels, expected 1"):
        validate_data_dir(data_dir, num_channels=4)
    _wav(ref, 1, sr=16000)
    with pytest.raises(AudioFormatError, match=r"spk2\.scp: key 'mix_0001': .* has 16000 Hz, expected 32000"):
        validate_data_dir(data_dir, sample_rate=SR)
    _wav(ref, 1, num_frames=T - 1)
    msg = r"spk2\.scp: key 'mix_0001': .* has 639 samples, but the mixture has 640"
    with pytest.raises(AudioFormatError, match=msg):
        validate_data_dir(data_dir, sample_rate=SR)


def test_corrupt_audio_header(data_dir, tmp_path):
    (tmp_path / "audio" / "mix_0001.wav").write_bytes(b"not a wav file")
    validate_data_dir(data_dir)  # existence only
    with pytest.raises(AudioFormatError, match=r"wav\.scp: key 'mix_0001': .*cannot read audio"):
        validate_data_dir(data_dir, sample_rate=SR)


def test_relative_paths_are_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("data/x")
    _wav(tmp_path / "a.wav", 1)
    (tmp_path / "data/x/wav.scp").write_text("u1 a.wav\n")
    assert validate_data_dir("data/x", sample_rate=SR, num_channels=1)["num_utts"] == 1
