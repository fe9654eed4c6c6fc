"""Tests for the encoder pre-training task (s5tse.tasks.pretrain) and its export
(s5tse.bin.export_encoder): the exported files pass the published-weight readers that the
tagger configs use (issue 15)."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from s5tse.bin.export_encoder import main as export_main
from s5tse.bin.train import main as train_main
from s5tse.labels import ClassInventory
from s5tse.models.tagger.fpasst import FPaSSTEncoder
from s5tse.models.tagger.m2d import M2DEncoder
from s5tse.tasks import get_task
from s5tse.tasks.pretrain import (
    FPaSSTClassifier,
    IsolatedEventsDataset,
    M2DClassifier,
    event_activity,
    masked_mean,
    span_mask,
)
from tests.conftest import DCASE_CLASSES_FILE

REPO = Path(__file__).resolve().parents[3]
CONF = REPO / "egs" / "dcase2026_task4" / "conf" / "tuning"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def classes():
    return ClassInventory.read(DCASE_CLASSES_FILE)


@pytest.fixture(scope="module")
def train_set(mini_data, classes):
    return IsolatedEventsDataset(mini_data, split="train", seed=3, num_items=50,
                                 classes=classes, window_sec=2.0)


def test_every_event_once_per_epoch_and_items_are_pure(train_set, mini_data, classes):
    n = len(train_set.events)
    train_set.set_epoch(0)
    first = [train_set[i] for i in range(n)]
    assert sorted(x["id"].split("_", 3)[3] for x in first) == sorted(p.stem for p, _ in train_set.events)
    again = IsolatedEventsDataset(mini_data, split="train", seed=3, num_items=50,
                                  classes=classes, window_sec=2.0)
    assert torch.equal(again[5]["mixture"], first[5]["mixture"])
    train_set.set_epoch(1)
    other = [train_set[i]["id"].split("_", 3)[3] for i in range(n)]
    assert other != [x["id"].split("_", 3)[3] for x in first]            # a new order
    train_set.set_epoch(0)


def test_item_holds_its_event_in_its_span_at_the_drawn_level(train_set, classes):
    train_set.set_epoch(0)
    for i in range(6):
        item = train_set[i]
        x = item["mixture"][0].double().numpy()
        assert item["mixture"].shape == (1, train_set.window)
        (start, stop), = item["span"].tolist()                   # one event: K = 1
        path = next(p for p, _ in train_set.events if p.stem == item["id"].split("_", 3)[3])
        label = dict((p, c) for p, c in train_set.events)[path]
        assert item["label"].tolist() == [label]
        event, _ = sf.read(str(path), dtype="float64", always_2d=True)
        if len(event) <= train_set.window:                       # placed whole: correlate
            seg = x[start:stop]
            r = np.dot(seg, event[:, 0]) / (np.linalg.norm(seg) * np.linalg.norm(event[:, 0]))
            assert r > 0.5                                       # event dominates (SNR >= 6 dB)
        rms_db = 20 * np.log10(np.sqrt(np.mean(x ** 2)))
        assert -55.5 <= rms_db <= -24.5 or np.abs(x).max() == pytest.approx(0.99, abs=1e-4)


def _best_match(segment: np.ndarray, candidates) -> float:
    """Highest normalised correlation of ``segment`` with a same-length stretch of any
    candidate, over all lags (1 when it is a scaled piece of one)."""
    from scipy.signal import fftconvolve

    best, norm = 0.0, np.linalg.norm(segment) + 1e-12
    for c in candidates:
        c = np.pad(c, (0, max(0, len(segment) - len(c))))
        dots = fftconvolve(c, segment[::-1], mode="valid")
        energy = np.convolve(c ** 2, np.ones(len(segment)), mode="valid")
        best = max(best, float(np.max(dots / (norm * np.sqrt(energy) + 1e-12))))
    return best


def _quiet(mini_data, classes, **kw):
    """Items whose noise is 80 dB down, so the window is the events themselves."""
    return IsolatedEventsDataset(mini_data, split="train", seed=5, num_items=8, classes=classes,
                                 window_sec=10.0, snr_db=(80.0, 80.0), **kw)   # no event cropped


def test_further_events_are_labelled_with_their_class_and_span(mini_data, classes):
    """extra_events: every labelled span holds a file of its class (found by correlating the
    window with the pool's files); unused rows are -1 / (0, 0)."""
    ds = _quiet(mini_data, classes, extra_events=(0, 2), extra_snr_db=(0.0, 0.0))
    files = {}
    for path, c in ds.events:
        files.setdefault(c, []).append(sf.read(str(path), dtype="float64")[0][:ds.window])
    counts = set()
    for i in range(len(ds)):
        item = ds[i]
        x = item["mixture"][0].double().numpy()
        labels, spans = item["label"].tolist(), item["span"].tolist()
        assert len(labels) == len(spans) == 3
        used = [k for k, c in enumerate(labels) if c >= 0]
        assert used == list(range(len(used))) and used                   # events first
        assert all(spans[k] == [0, 0] for k in range(len(used), 3))
        counts.add(len(used))
        for k in used:
            a, b = spans[k]
            assert 0 <= a < b <= ds.window
            if len(used) == 1 or k > 0:     # the span's own file explains it (0 dB: >= 0.4)
                assert _best_match(x[a:b], files[labels[k]]) > 0.4, (i, k)
    assert counts == {1, 2, 3}
    again = _quiet(mini_data, classes, extra_events=(0, 2), extra_snr_db=(0.0, 0.0))
    assert torch.equal(again[3]["mixture"], ds[3]["mixture"])           # pure in (seed, item)


def test_reverberation_and_interference_come_from_the_split_pools(mini_data, classes):
    """rir_prob 1: the window is the dry event convolved with one channel of one of the
    split's RIRs; interference_prob 1: what is left is a file of the interference pool."""
    from scipy.signal import fftconvolve

    from s5tse.simulate.sources import SourceIndex, read_room

    dry = _quiet(mini_data, classes)
    wet = _quiet(mini_data, classes, rir_prob=1.0)
    index = SourceIndex.from_data_dir(mini_data, "train", classes)
    rirs = [ir for rel in index.rooms for pos in read_room(index.root / rel).ir for ir in pos]
    for i in range(3):
        (a, b), = dry[i]["span"].tolist()
        x, y = dry[i]["mixture"][0].double().numpy(), wet[i]["mixture"][0].double().numpy()
        event = x[a:b]
        assert _best_match(y[a:], [fftconvolve(event, h) for h in rirs]) > 0.99
        assert _best_match(y[a:], [event]) < 0.9                        # not the dry event
    mixed = _quiet(mini_data, classes, interference_prob=1.0, interference_snr_db=(0.0, 0.0))
    interference = [sf.read(str(index.abspath("interference", f.rel)), dtype="float64")[0]
                    for files in index.int_files.values() for f in files]
    checked = 0
    for i in range(len(mixed)):
        (a, b), = mixed[i]["span"].tolist()
        y = mixed[i]["mixture"][0].double().numpy()
        for seg in (y[:a], y[b:]):                                   # outside the event
            loud = np.flatnonzero(np.abs(seg) > 1e-2 * np.abs(y).max())
            if len(loud) > 3200:                                     # 0.1 s of interference
                piece = seg[loud[0]:loud[-1] + 1]
                assert _best_match(piece, interference) > 0.99, i
                assert _best_match(piece, [y[a:b]]) < 0.9 or b - a < len(piece)
                checked += 1
    assert checked >= 2


@pytest.mark.parametrize("bad, match", [
    (dict(rir_prob=1.5), "rir_prob must be in"),
    (dict(interference_prob=-0.1), "interference_prob must be in"),
    (dict(extra_events=(2, 1)), "extra_events must be"),
])
def test_bad_augmentation_options_are_refused(mini_data, classes, bad, match):
    with pytest.raises(ValueError, match=match):
        IsolatedEventsDataset(mini_data, split="train", classes=classes, **bad)


def test_train_refuses_a_bad_augmentation_option_in_one_line(mini_data, tmp_path, capsys):
    out = tmp_path / "exp"
    with pytest.raises(SystemExit) as exc:
        train_main(["--config", str(CONF / "pretrain_m2d_mini.yaml"),
                    "--train_data", str(mini_data), "--valid_data", str(mini_data),
                    "--classes", str(DCASE_CLASSES_FILE), "--output_dir", str(out),
                    "--train_dataset_conf.rir_prob", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err                      # (in-process: the log lines too)
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("train: error:")] == [
        "train: error: events dataset: rir_prob must be in [0, 1], got 2"]
    assert not (out / "config.yaml").exists()


def test_several_events_share_the_target_equally(classes):
    """One event: plain cross-entropy on its class (M2D) and on its frames (fPaSST).
    Two events over the same span: the mean of the two classes' cross-entropies."""
    torch.manual_seed(0)
    wav = 0.01 * torch.randn(1, 1, 32000)
    m2d = M2DClassifier(num_classes=classes.num_classes, preset="tiny").eval()
    span = torch.tensor([[[0, 32000]]])
    with torch.no_grad():
        logits, present = m2d.logits(wav[:, 0], torch.tensor([[4]]), span)
        assert present[0].nonzero().flatten().tolist() == [4]
        one, _, _ = m2d(mixture=wav, label=torch.tensor([[4]]), span=span)
        two, _, _ = m2d(mixture=wav, label=torch.tensor([[4, 9]]), span=span.repeat(1, 2, 1))
        ce = [float(torch.nn.functional.cross_entropy(logits, torch.tensor([c]))) for c in (4, 9)]
    assert float(one) == pytest.approx(ce[0], rel=1e-5)
    assert float(two) == pytest.approx((ce[0] + ce[1]) / 2, rel=1e-5)
    fp = FPaSSTClassifier(num_classes=classes.num_classes, preset="tiny").eval()
    half = torch.tensor([[[0, 16000]]])                                  # frames 0..11 of 25
    with torch.no_grad():
        feats = fp.encoder(wav[:, 0])
        weak = fp.weak_head(feats[:, :12].mean(dim=1))
        strong = fp.strong_head(feats[0])                                # [25, C + 1]
        target = torch.tensor([4] * 12 + [classes.num_classes] * 13)
        loss, stats, _ = fp(mixture=wav, label=torch.tensor([[4]]), span=half)
    expect = (torch.nn.functional.cross_entropy(weak, torch.tensor([4]))
              + torch.nn.functional.cross_entropy(strong, target))
    assert float(loss) == pytest.approx(float(expect), rel=1e-5)
    assert float(stats["acc"]) in (0.0, 100.0)


def test_event_activity_marks_each_class_inside_its_span():
    centres = torch.arange(10) * 0.1 + 0.05                              # 10 frames of 0.1 s
    act = event_activity(centres, torch.tensor([[2, 0, -1]]),
                         torch.tensor([[[0, 3200], [1600, 6400], [0, 32000]]]), 3, 32000)
    assert act.shape == (1, 10, 3)
    assert act[0, :, 2].nonzero().flatten().tolist() == [0]             # 0 .. 0.1 s
    assert act[0, :, 0].nonzero().flatten().tolist() == [0, 1]          # 0.05 .. 0.2 s
    assert act[0, :, 1].sum() == 0                                      # the -1 row is unused


def test_classifiers_run_and_pool_only_the_event_frames(classes):
    torch.manual_seed(0)
    wav = 0.01 * torch.randn(2, 1, 32000)
    label = torch.tensor([3, 17])
    span = torch.tensor([[0, 6400], [16000, 32000]])
    for cls in (M2DClassifier, FPaSSTClassifier):
        model = cls(num_classes=classes.num_classes, preset="tiny")
        loss, stats, weight = model(mixture=wav, label=label, span=span, id=["a", "b"])
        assert loss.ndim == 0 and torch.isfinite(loss) and int(weight) == 2
        assert 0.0 <= float(stats["acc"]) <= 100.0
    fp = FPaSSTClassifier(num_classes=classes.num_classes, preset="tiny")
    mask = fp.frame_mask(span, 25)                                   # 40-ms frames, centres 0.02 + 0.04 t
    # item 0: [0, 0.2 s) -> frames 0..4; item 1: [0.5 s, 1 s) -> frames 12..24
    assert mask[0].nonzero().flatten().tolist() == [0, 1, 2, 3, 4]
    assert mask[1].nonzero().flatten().tolist() == list(range(12, 25))
    # M2D columns (centres 0.075 + 0.16 k s): a 10-ms event between centres gets the nearest one
    centres = M2DEncoder.from_preset("tiny").column_times(6)
    tiny = span_mask(centres, torch.tensor([[5000, 5320]]), 32000)   # 0.156 .. 0.166 s
    assert tiny[0].nonzero().flatten().tolist() == [1]
    feats = torch.arange(12.0).reshape(1, 6, 2)
    wide = span_mask(centres, torch.tensor([[0, 11000]]), 32000)      # centres 0.075, 0.235
    assert wide[0].nonzero().flatten().tolist() == [0, 1]
    assert masked_mean(feats, wide).tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("model", ["m2d", "fpasst"])
def test_published_layout_loads_with_the_real_readers(model, tmp_path, classes):
    torch.manual_seed(1)
    net = (M2DClassifier if model == "m2d" else FPaSSTClassifier)(
        num_classes=classes.num_classes, preset="tiny").eval()
    state = net.published_state_dict()
    if model == "m2d":   # the M2D AS-FT layout (reference tagger_m2d_passt.md §2)
        assert all(k.startswith(("module.ar.runtime.backbone.", "module.head.")) for k in state)
        assert "module.ar.runtime.backbone.norm_stats" in state
        assert "module.head.mlp.mlp.0.weight" in state
    else:                # PretrainedSED fpasst_strong_1.pt
        assert {k.split(".", 1)[0] for k in state} == {"model", "strong_head", "weak_head"}
    path = tmp_path / "w.pth"
    torch.save(state, path)
    enc = (M2DEncoder if model == "m2d" else FPaSSTEncoder).from_preset("tiny").eval()
    enc.load_pretrained(path)
    wav = 0.05 * torch.randn(1, 32000)
    with torch.no_grad():
        assert torch.allclose(enc(wav), net.encoder(wav), atol=0, rtol=0)


def test_train_export_and_a_tagger_config_reads_the_files(mini_data, tmp_path, classes):
    files = {}
    for model in ("m2d", "fpasst"):
        out = tmp_path / f"pretrain_{model}"
        train_main(["--config", str(CONF / f"pretrain_{model}_mini.yaml"),
                    "--train_data", str(mini_data), "--valid_data", str(mini_data),
                    "--classes", str(DCASE_CLASSES_FILE), "--output_dir", str(out),
                    "--max_epochs", "1", "--iters_per_epoch", "2", "--batch_size", "2",
                    "--train_dataset_conf.window_sec", "1.0",
                    "--valid_dataset_conf.window_sec", "1.0"])
        export_main(["--exp_dir", str(out)])
        files[model] = out / ("m2d_weights.pth" if model == "m2d" else "fpasst_weights.pt")
        assert files[model].is_file()
    task = get_task("tagger")
    config = task.resolve_config(dict(
        task.defaults(), classes=str(DCASE_CLASSES_FILE),
        model_conf={"preset": "tiny", "m2d_weights": str(files["m2d"]),
                    "fpasst_weights": str(files["fpasst"])}))
    tagger = task.build_model(config).tagger
    ref = torch.load(tmp_path / "pretrain_m2d" / "valid.acc.best.pth")
    for k, v in tagger.m2d.state_dict().items():
        assert torch.equal(v, ref[f"encoder.{k}"]), k
    ref = torch.load(tmp_path / "pretrain_fpasst" / "valid.acc.best.pth")
    for k, v in tagger.fpasst.state_dict().items():
        assert torch.equal(v, ref[f"encoder.{k}"]), k


def test_export_refuses_another_task_and_a_missing_experiment(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        export_main(["--exp_dir", str(tmp_path / "nowhere")])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nowhere" in err and "stage 3" in err


def test_wrong_layout_for_the_preset_gets_the_published_file_error(tmp_path, classes):
    """A mini pretrained file of the wrong size fails as a wrong published file does."""
    from s5tse.models.tagger.checkpoint import CheckpointError

    small = M2DClassifier(num_classes=classes.num_classes, preset="small")
    path = tmp_path / "m2d_weights.pth"
    torch.save(small.published_state_dict(), path)
    with pytest.raises(CheckpointError, match=str(path)):
        M2DEncoder.from_preset("tiny").load_pretrained(path)


def test_m2d_pretraining_learns_the_events(mini_data, classes):
    """60 updates on the 36 isolated training events: the clip classifier must name at least a
    quarter of them (chance 1/18); a stuck encoder, a wrong label or span stays near 6 %."""
    from s5tse.datasets import collate_scenes

    ds = IsolatedEventsDataset(mini_data, split="train", seed=0, classes=classes, window_sec=2.0)
    torch.manual_seed(0)
    model = M2DClassifier(num_classes=classes.num_classes, preset="tiny")
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for epoch in range(12):
        ds.set_epoch(epoch)
        for i in range(0, len(ds), 8):
            loss, _, _ = model(**collate_scenes([ds[j] for j in range(i, min(i + 8, len(ds)))]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    ds.set_epoch(0)
    with torch.no_grad():
        _, stats, _ = model(**collate_scenes([ds[j] for j in range(len(ds))]))
    assert float(stats["acc"]) >= 25.0, stats
