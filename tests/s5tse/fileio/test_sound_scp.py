"""Tests for s5tse.fileio.sound_scp: multi-channel float/24/16-bit audio, pipes, errors."""
import os

import numpy as np
import pytest
import soundfile as sf

from s5tse.fileio.sound_scp import (
    AudioFormatError,
    SoundScpReader,
    SoundScpWriter,
    audio_info,
    is_pipe,
    read_audio,
    write_audio,
)
from s5tse.fileio.table import TableError

SR = 32000


def _signal(num_channels=4, num_frames=1600, seed=0):
    """[C, T] float32 test signal in [-0.9, 0.9]."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.9, 0.9, size=(num_channels, num_frames)).astype(np.float32)


def _sf_write(path, data_ct, sr=SR, subtype="FLOAT"):
    """Write [C, T] with soundfile directly (independent of write_audio)."""
    sf.write(str(path), data_ct.T, sr, subtype=subtype)
    return str(path)


def test_audio_format_error_is_table_error():
    assert issubclass(AudioFormatError, TableError)
    assert issubclass(AudioFormatError, ValueError)


@pytest.mark.parametrize(
    "subtype, atol",
    [("FLOAT", 0.0), ("PCM_24", 2.0**-23), ("PCM_16", 2.0**-15)],  # one quantisation step
)
def test_read_4ch(tmp_path, subtype, atol):
    data = _signal()
    path = _sf_write(tmp_path / "foa.wav", data, subtype=subtype)
    got, sr = read_audio(path)
    assert sr == SR
    assert got.shape == (4, 1600) and got.dtype == np.float32
    assert got.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(got, data, rtol=0, atol=atol)
    if atol:
        assert not np.array_equal(got, data)  # really quantised: the file is not float


def test_read_mono_is_1_by_T(tmp_path):
    data = _signal(1, 800)
    got, sr = read_audio(_sf_write(tmp_path / "m.wav", data))
    assert got.shape == (1, 800)
    np.testing.assert_array_equal(got, data)


def test_read_dtype(tmp_path):
    data = np.array([[0.5, -0.5, 0.25]], dtype=np.float32)
    path = _sf_write(tmp_path / "x.wav", data, subtype="PCM_16")
    got, _ = read_audio(path, dtype="int16")
    np.testing.assert_array_equal(got, [[16384, -16384, 8192]])


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_24", "PCM_16"])
def test_pipe_entry(tmp_path, subtype):
    data = _signal()
    path = _sf_write(tmp_path / "foa.wav", data, subtype=subtype)
    entry = f"cat {path} |"
    assert is_pipe(entry) and is_pipe("cat x |  ") and not is_pipe(path)
    got, sr = read_audio(entry)
    ref, ref_sr = read_audio(path)
    assert sr == ref_sr == SR
    np.testing.assert_array_equal(got, ref)


def test_failing_pipe(tmp_path):
    missing = tmp_path / "missing.wav"
    msg = r"pipe 'cat .*missing\.wav 2>/dev/null \|' failed with exit status 1"
    with pytest.raises(AudioFormatError, match=msg):
        read_audio(f"cat {missing} 2>/dev/null |")
    with pytest.raises(AudioFormatError, match="no output"):
        read_audio("true |")
    with pytest.raises(AudioFormatError, match="cannot read audio"):
        read_audio("echo not-audio |")


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.wav")
    with pytest.raises(AudioFormatError) as e:
        read_audio(path)
    assert str(e.value) == f"{path}: no such file"
    with pytest.raises(AudioFormatError, match="no such file"):
        audio_info(path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(AudioFormatError) as e:
        read_audio(str(path))
    assert str(e.value).startswith(f"{path}: cannot read audio: ")
    assert "\n" not in str(e.value)


def test_zero_length(tmp_path):
    path = str(tmp_path / "empty.wav")
    sf.write(path, np.zeros((0, 4), dtype=np.float32), SR, subtype="FLOAT")
    with pytest.raises(AudioFormatError, match="empty.wav: audio has no samples"):
        read_audio(path)
    with pytest.raises(AudioFormatError, match="no samples"):
        audio_info(path)


def test_audio_info(tmp_path):
    path = _sf_write(tmp_path / "foa.wav", _signal(4, 1234), sr=48000, subtype="PCM_24")
    assert audio_info(path) == (48000, 4, 1234)
    assert audio_info(f"cat {path} |") == (48000, 4, 1234)


@pytest.mark.parametrize(
    "suffix, subtype, atol",
    [
        (".wav", "FLOAT", 0.0),
        (".wav", "PCM_24", 2.0**-23),
        (".wav", "PCM_16", 2.0**-15),
        (".flac", "PCM_24", 2.0**-23),
        (".flac", "PCM_16", 2.0**-15),
    ],
)
def test_write_audio_round_trip(tmp_path, suffix, subtype, atol):
    data = _signal()
    path = tmp_path / "sub" / f"x{suffix}"
    write_audio(path, data, SR, subtype=subtype)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 4, 1600, subtype)
    assert info.format == suffix[1:].upper()
    got, sr = sf.read(str(path), dtype="float32", always_2d=True)  # [T, C]
    np.testing.assert_allclose(got.T, data, rtol=0, atol=atol)
    assert os.listdir(path.parent) == [path.name]  # no temp file left


def test_write_audio_mono_1d(tmp_path):
    data = _signal(1, 500)[0]
    path = tmp_path / "m.wav"
    write_audio(path, data, 16000)
    got, sr = sf.read(str(path), dtype="float32")
    assert sr == 16000 and got.ndim == 1
    np.testing.assert_array_equal(got, data)


def test_write_audio_pcm_clips(tmp_path):
    path = tmp_path / "c.wav"
    write_audio(path, np.array([[2.0, -2.0, 0.5]]), SR, subtype="PCM_16")
    got, _ = sf.read(str(path), dtype="int16")
    np.testing.assert_array_equal(got, [32767, -32768, 16384])


def test_write_audio_replaces_existing(tmp_path):
    path = tmp_path / "x.wav"
    write_audio(path, _signal(4, 100, seed=1), SR)
    new = _signal(2, 300, seed=2)
    write_audio(path, new, SR)
    got, _ = read_audio(str(path))
    np.testing.assert_array_equal(got, new)


@pytest.mark.parametrize(
    "name, data, subtype, fragment",
    [
        ("x.flac", np.zeros((1, 10)), "FLOAT", "not supported by format FLAC"),
        ("x.xyz", np.zeros((1, 10)), "FLOAT", "extension"),
        ("x.wav", np.zeros((100, 4)), "FLOAT", "expected [C, T]"),
        ("x.wav", np.zeros((1, 0)), "FLOAT", "no samples"),
        ("x.wav", np.zeros((1, 2, 3)), "FLOAT", "shape"),
        ("x.wav", np.array([[0.0, np.nan]]), "FLOAT", "NaN"),
    ],
)
def test_write_audio_rejects(tmp_path, name, data, subtype, fragment):
    with pytest.raises(AudioFormatError) as e:
        write_audio(tmp_path / name, data, SR, subtype=subtype)
    assert fragment in str(e.value)
    assert str(tmp_path / name) in str(e.value)
    assert os.listdir(tmp_path) == []


@pytest.fixture
def scp(tmp_path):
    """wav.scp with a 4-ch 32 kHz file, a pipe to it, a 2-ch file and a 48 kHz file."""
    foa = _sf_write(tmp_path / "foa.wav", _signal(), subtype="PCM_24")
    stereo = _sf_write(tmp_path / "st.wav", _signal(2))
    hi = _sf_write(tmp_path / "hi.wav", _signal(), sr=48000)
    path = tmp_path / "wav.scp"
    path.write_text(
        f"a_foa {foa}\nb_pipe cat {foa} |\nc_stereo {stereo}\nd_48k {hi}\ne_missing {tmp_path}/no.wav\n"
    )
    return path


def test_reader_mapping(scp, tmp_path):
    reader = SoundScpReader(scp)
    assert len(reader) == 5
    assert list(reader.keys()) == ["a_foa", "b_pipe", "c_stereo", "d_48k", "e_missing"]
    assert "e_missing" in reader and "zzz" not in reader  # no audio read
    assert reader.path_of("a_foa") == str(tmp_path / "foa.wav")
    np.testing.assert_array_equal(reader["a_foa"], reader["b_pipe"])
    assert reader["a_foa"].shape == (4, 1600) and reader["a_foa"].dtype == np.float32
    data, sr = reader.read("d_48k")
    assert sr == 48000
    with pytest.raises(KeyError):
        reader["zzz"]
    with pytest.raises(KeyError):
        reader.path_of("zzz")


def test_reader_checks_format(scp, tmp_path):
    reader = SoundScpReader(scp, sample_rate=SR, num_channels=4)
    assert reader["a_foa"].shape == (4, 1600)
    with pytest.raises(AudioFormatError) as e:
        reader["d_48k"]
    assert str(e.value) == f"{scp}: key 'd_48k': {tmp_path}/hi.wav has 48000 Hz, expected 32000"
    with pytest.raises(AudioFormatError) as e:
        reader["c_stereo"]
    assert str(e.value) == f"{scp}: key 'c_stereo': {tmp_path}/st.wav has 2 channels, expected 4"
    with pytest.raises(AudioFormatError) as e:
        reader["e_missing"]
    assert str(e.value) == f"{scp}: key 'e_missing': {tmp_path}/no.wav: no such file"


def test_reader_rejects_bad_table(tmp_path):
    path = tmp_path / "wav.scp"
    path.write_text("b x.wav\na y.wav\n")
    with pytest.raises(TableError, match=r"wav\.scp:2: key 'a' is not in byte order"):
        SoundScpReader(path)


def test_writer(tmp_path):
    out = tmp_path / "enh" / "data"
    scp = tmp_path / "enh" / "spk1.scp"
    est = {"m2": _signal(1, 100, seed=2), "m1": _signal(1, 120, seed=1)}
    with SoundScpWriter(out, scp, sample_rate=SR, subtype="FLOAT") as writer:
        for key, value in est.items():
            writer[key] = value
        with pytest.raises(TableError, match="written twice"):
            writer["m1"] = est["m1"]
    assert scp.read_text() == f"m1 {out}/m1.wav\nm2 {out}/m2.wav\n"
    reader = SoundScpReader(scp, sample_rate=SR, num_channels=1)
    for key, value in est.items():
        np.testing.assert_array_equal(reader[key], value)


def test_write_audio_is_byte_reproducible(tmp_path):
    """Float WAVs carry a PEAK chunk time stamp; two writes of the same data are identical."""
    import time

    data = np.random.default_rng(0).uniform(-0.5, 0.5, (4, 1000)).astype(np.float32)
    write_audio(tmp_path / "a.wav", data, 32000)
    time.sleep(1.1)
    write_audio(tmp_path / "b.wav", data, 32000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    back, sr = read_audio(str(tmp_path / "b.wav"))
    np.testing.assert_array_equal(back, data)


@pytest.mark.parametrize("subtype, block", [("FLOAT", 16), ("PCM_16", 8), ("PCM_24", 12)])
def test_a_wav_cut_shorter_than_its_header_is_an_error(tmp_path, subtype, block):
    """libsndfile reads a cut WAV as a shorter one; the header's data size says otherwise."""
    path = tmp_path / "mix.wav"
    sf.write(path, np.zeros((3000, 4), np.float32), 32000, subtype=subtype)
    data = path.read_bytes()
    assert read_audio(str(path))[0].shape == (4, 3000) and audio_info(str(path))[2] == 3000
    path.write_bytes(data[:len(data) // 3])
    present = (len(data) // 3 - (len(data) - 3000 * block)) // block
    for reader in (read_audio, audio_info):
        with pytest.raises(AudioFormatError,
                           match=rf"mix\.wav: truncated: its header promises 3000 frames, the file "
                                 rf"holds {present}$"):
            reader(str(path))
    with pytest.raises(AudioFormatError, match="truncated"):       # through a pipe too
        read_audio(f"cat {path} |")
    flac = tmp_path / "mix.flac"                                    # other formats: libsndfile's checks
    sf.write(flac, np.zeros((3000, 1), np.float32), 32000)
    assert read_audio(str(flac))[0].shape == (1, 3000)
