"""Tests for s5tse.datasets.testset (pre-rendered official test set / Kaldi data dir)."""
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from s5tse.corpus.dcase import DCASE2026
from s5tse.datasets import TestSetDataset, activity_from_reference
from s5tse.fileio.table import TableError
from s5tse.labels import SILENCE

from .helpers import assert_items_equal


@pytest.fixture
def test_dirs(mini_corpus):
    test = mini_corpus / "data/dev_set/synthesized/test"
    return test / "soundscape", test / "oracle_target"


@pytest.fixture
def copy_dirs(test_dirs, tmp_path):
    """A writable copy of the mini corpus test set."""
    s, o = tmp_path / "soundscape", tmp_path / "oracle_target"
    shutil.copytree(test_dirs[0], s)
    shutil.copytree(test_dirs[1], o)
    return s, o


def test_items(test_dirs):
    sdir, odir = test_dirs
    ds = TestSetDataset(sdir, odir)
    assert ds.ids == ["test_0000", "test_0001", "test_0002", "test_0003"]
    for i, name in enumerate(ds.ids):
        item = ds[i]
        assert item["id"] == name
        mix, sr = sf.read(str(sdir / f"{name}.wav"), dtype="float32", always_2d=True)
        assert sr == 32000
        assert torch.equal(item["mixture"], torch.from_numpy(mix.T.copy()))
        refs = sorted(odir.glob(f"{name}_*.wav"), key=lambda p: p.name.encode())
        assert item["dry"].shape == (3, mix.shape[0])
        for k, path in enumerate(refs):
            ref, _ = sf.read(str(path), dtype="float32")
            assert torch.equal(item["dry"][k], torch.from_numpy(ref))
            assert item["labels"][k] == path.stem.rsplit("_", 1)[1]
        assert item["labels"][len(refs):] == [SILENCE] * (3 - len(refs))
        assert item["dry"][len(refs):].abs().sum() == 0
        assert torch.equal(item["strong"], activity_from_reference(item["dry"], 1280))
        assert item["strong"].shape == (3, 250)

    empty = ds[0]
    assert empty["labels"] == [SILENCE] * 3 and empty["label_index"].tolist() == [18] * 3
    assert empty["dry"].abs().sum() == 0 and empty["strong"].sum() == 0 and empty["weak"].sum() == 0
    dup = ds[1]
    real = [x for x in dup["labels"] if x != SILENCE]
    assert len(set(real)) < len(real)
    k1, k2 = [k for k, x in enumerate(dup["labels"]) if dup["labels"].count(x) > 1][:2]
    assert torch.equal(dup["weak"][k1], dup["weak"][k2]) and dup["weak"][k1].sum() == 1
    for k, x in enumerate(dup["labels"]):
        assert (dup["strong"][k].sum() > 0) == (x != SILENCE)


def _first_ref(odir, name="test_0001"):
    return sorted(odir.glob(f"{name}_*.wav"))[0]


def _both_ways(sdir, odir, match):
    """The error comes when the dataset is built, or (without header checks) when read."""
    with pytest.raises(ValueError, match=match):
        TestSetDataset(sdir, odir)
    ds = TestSetDataset(sdir, odir, check_audio=False)
    with pytest.raises(ValueError, match=match):
        ds[1]


def test_reference_at_16k(copy_dirs):
    sdir, odir = copy_dirs
    ref = _first_ref(odir)
    data, _ = sf.read(str(ref), dtype="float32")
    sf.write(str(ref), data, 16000, subtype="PCM_16")
    _both_ways(sdir, odir, rf"{ref.name}: reference has 16000 Hz, expected 32000")


def test_reference_of_wrong_length(copy_dirs):
    sdir, odir = copy_dirs
    ref = _first_ref(odir)
    data, _ = sf.read(str(ref), dtype="float32")
    sf.write(str(ref), data[:-1], 32000, subtype="PCM_16")
    _both_ways(sdir, odir,
               rf"{ref.name}: reference has 319999 samples, the mixture .*test_0001\.wav")


def test_stereo_reference(copy_dirs):
    sdir, odir = copy_dirs
    ref = _first_ref(odir)
    data, _ = sf.read(str(ref), dtype="float32")
    sf.write(str(ref), np.stack([data, data], axis=1), 32000)
    _both_ways(sdir, odir, rf"{ref.name}: reference has 2 channels")


def test_mixture_format(copy_dirs):
    sdir, odir = copy_dirs
    mix = sdir / "test_0001.wav"
    data, _ = sf.read(str(mix), dtype="float32")
    sf.write(str(mix), data[:, :2], 32000)
    _both_ways(sdir, odir, r"test_0001\.wav: mixture has 2 channels, expected 4")
    sf.write(str(mix), data, 16000)
    _both_ways(sdir, odir, r"test_0001\.wav: mixture has 16000 Hz")


def test_unknown_label_and_stray_file(copy_dirs):
    sdir, odir = copy_dirs
    ref = _first_ref(odir)
    bad = odir / "test_0001_0_Guitar.wav"
    ref.rename(bad)
    with pytest.raises(ValueError, match=r"test_0001_0_Guitar\.wav.*not one of the 18"):
        TestSetDataset(sdir, odir)
    bad.rename(ref)
    stray = odir / "test_0009_0_Speech.wav"
    shutil.copy(ref, stray)
    with pytest.raises(ValueError, match=r"test_0009_0_Speech\.wav.*matches no soundscape"):
        TestSetDataset(sdir, odir)


def _write_data_dir(d, sdir, odir, ds):
    d.mkdir()
    wav, text, spk = [], [], {1: [], 2: [], 3: []}
    for i, name in enumerate(ds.ids):
        wav.append(f"{name} {sdir / (name + '.wav')}")
        labels = ds.entries[i].labels
        text.append(f"{name} {' '.join(labels)}")
        for n, (label, path) in enumerate(ds.entries[i].slots, start=1):
            if label != SILENCE:
                spk[n].append(f"{name} {path}")
    (d / "wav.scp").write_text("\n".join(wav) + "\n")
    (d / "text").write_text("\n".join(text) + "\n")
    for n, lines in spk.items():
        (d / f"spk{n}.scp").write_text("".join(x + "\n" for x in lines))


def test_from_data_dir(test_dirs, tmp_path):
    sdir, odir = test_dirs
    ds = TestSetDataset(sdir, odir)
    d = tmp_path / "test"
    _write_data_dir(d, sdir, odir, ds)
    dd = TestSetDataset.from_data_dir(d, classes=DCASE2026)
    assert dd.ids == ds.ids
    for i in range(len(ds)):
        assert_items_equal(dd[i], ds[i])

    # middle slot silent: slot positions follow text
    (d / "text").write_text("\n".join(
        f"{name} " + (" ".join(ds.entries[i].labels) if name != "test_0003"
                      else f"silence {ds.entries[i].labels[0]}")
        for i, name in enumerate(ds.ids)) + "\n")
    lines = (d / "spk1.scp").read_text().splitlines()
    moved = [x for x in lines if x.startswith("test_0003 ")]
    (d / "spk1.scp").write_text("".join(x + "\n" for x in lines if x not in moved))
    spk2 = sorted((d / "spk2.scp").read_text().splitlines() + moved)
    (d / "spk2.scp").write_text("".join(x + "\n" for x in spk2))
    item = TestSetDataset.from_data_dir(d, classes=DCASE2026)[3]
    ref = ds[3]
    assert item["labels"] == [SILENCE, ref["labels"][0], SILENCE]
    assert torch.equal(item["dry"][1], ref["dry"][0]) and item["dry"][0].abs().sum() == 0


def test_from_data_dir_errors(test_dirs, tmp_path):
    sdir, odir = test_dirs
    ds = TestSetDataset(sdir, odir)
    d = tmp_path / "test"
    _write_data_dir(d, sdir, odir, ds)
    text = (d / "text").read_text()

    assert text.startswith("test_0000 silence silence silence\n")
    (d / "text").write_text(text.replace("test_0000 silence", "test_0000 Guitar", 1))
    with pytest.raises(TableError, match=r"text: key .*Guitar"):
        TestSetDataset.from_data_dir(d, classes=DCASE2026)
    (d / "text").write_text(text)

    spk2 = (d / "spk2.scp").read_text()
    (d / "spk2.scp").write_text(f"test_0000 {_first_ref(odir)}\n" + spk2)
    with pytest.raises(TableError, match=r"spk2\.scp: key 'test_0000' has slot 2 = silence"):
        TestSetDataset.from_data_dir(d, classes=DCASE2026)
    (d / "spk2.scp").unlink()
    with pytest.raises(TableError, match=r"spk2\.scp: no reference for .*file missing"):
        TestSetDataset.from_data_dir(d, classes=DCASE2026)
