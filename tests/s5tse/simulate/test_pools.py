"""Pool table writers: what they write, and one-line errors naming the file."""
import numpy as np
import pytest
import soundfile as sf

from s5tse.fileio.sofa import write_sofa
from s5tse.fileio.table import read_table
from s5tse.simulate.pools import PoolItem, pool_key, write_event_pool, write_room_pool
from s5tse.simulate.sources import DatasetError


def _wav(path, frames=800, channels=1, sr=32000):
    sf.write(path, np.zeros((frames, channels), dtype=np.float32) + 0.01, sr)
    return str(path)


def test_event_pool_tables(tmp_path):
    items = [PoolItem("b", _wav(tmp_path / "b.wav", 900), "dog", "take 1"),
             PoolItem("a", _wav(tmp_path / "a.wav"), "cat")]
    write_event_pool(tmp_path / "pool", items)
    assert read_table(tmp_path / "pool" / "wav.scp") == {"a": str(tmp_path / "a.wav"),
                                                         "b": str(tmp_path / "b.wav")}
    assert read_table(tmp_path / "pool" / "text") == {"a": "cat", "b": "dog"}
    assert read_table(tmp_path / "pool" / "utt2group") == {"a": "a", "b": "take_1"}
    assert read_table(tmp_path / "pool" / "utt2num_samples") == {"a": "800", "b": "900"}
    write_event_pool(tmp_path / "int", [PoolItem("a", str(tmp_path / "a.wav"), "car horn")],
                     label_table="utt2class")
    assert read_table(tmp_path / "int" / "utt2class") == {"a": "car horn"}
    assert pool_key("Speech/p 1/x.wav") == "Speech/p_1/x"


@pytest.mark.parametrize("items, channels, message", [
    (lambda d: [PoolItem("a", _wav(d / "a.wav")), PoolItem("a", _wav(d / "b.wav"))], 1,
     "have the same key 'a'"),
    (lambda d: [PoolItem("a", _wav(d / "a.wav", sr=16000), "x")], 1, "16000 Hz, expected 32000"),
    (lambda d: [PoolItem("a", _wav(d / "a.wav", channels=2), "x")], 1, "2 channels, expected 1"),
    (lambda d: [PoolItem("a", str(d / "missing.wav"), "x")], 1, "missing.wav: cannot read"),
    (lambda d: [PoolItem("a", _wav(d / "a.wav"))], 1, "a.wav: no class given"),
    (lambda d: [PoolItem("a", _wav(d / "a.wav"), "two words")], 1, "has whitespace"),
    (lambda d: [], 1, "no files for this pool"),
])
def test_event_pool_errors(tmp_path, items, channels, message):
    with pytest.raises(DatasetError, match=message) as e:
        write_event_pool(tmp_path / "pool", items(tmp_path), channels=channels)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "pool").exists()  # nothing half-written


def test_room_pool(tmp_path):
    pos = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.5]])
    write_sofa(tmp_path / "r1.sofa", np.zeros((2, 4, 64)), pos, 32000)
    write_sofa(tmp_path / "r2.sofa", np.zeros((1, 2, 64)), pos[:1], 32000)
    assert write_room_pool(tmp_path / "rirs", {"r1": tmp_path / "r1.sofa"}) == 4
    assert read_table(tmp_path / "rirs" / "utt2num_channels") == {"r1": "4"}
    values = [float(v) for v in read_table(tmp_path / "rirs" / "utt2positions")["r1"].split()]
    np.testing.assert_allclose(np.array(values).reshape(-1, 3), pos, atol=1e-9)
    with pytest.raises(DatasetError, match=r"rirs2: rooms differ in receiver count \['2', '4'\]"):
        write_room_pool(tmp_path / "rirs2", {"r1": tmp_path / "r1.sofa", "r2": tmp_path / "r2.sofa"})
    with pytest.raises(DatasetError, match="no rooms"):
        write_room_pool(tmp_path / "rirs3", {})
