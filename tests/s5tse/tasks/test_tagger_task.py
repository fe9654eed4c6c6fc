"""Tests for the tagger task (s5tse.tasks.tagger): wrappers, data roots, a short training run.

Every training YAML of the recipe (the tagger's included) is dry-run by
tests/s5tse/bin/test_train.py::test_dry_run_every_config.
"""
from pathlib import Path

import pytest
import torch
import yaml

from s5tse.bin.train import main
from s5tse.corpus.dcase import DCASE2026
from s5tse.datasets import collate_scenes
from s5tse.losses.pit_tagger import baseline_pit_ce
from s5tse.pretrained import MANIFEST
from s5tse.tasks import get_task
from s5tse.tasks.tagger import (
    FusionTaggerModel,
    M2DATTaggerModel,
)
from s5tse.train.checkpoint import load_checkpoint
from s5tse.utils.config import ConfigError
from tests.conftest import DCASE_CLASSES_FILE

SILENCE_INDEX = DCASE2026.silence_index

REPO = Path(__file__).resolve().parents[3]
CONF = REPO / "egs" / "dcase2026_task4" / "conf" / "tuning"
TINY_FUSION = CONF / "train_tagger_fusion_tiny.yaml"
TAGGER_CONFIGS = sorted(CONF.glob("train_tagger_*.yaml"))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def train_batch(mini_data):
    """Two 1-s training items of the mini corpus, collated."""
    task = get_task("tagger")
    config = task.resolve_config(dict(task.defaults(), classes=str(DCASE_CLASSES_FILE),
                                      train_dataset_conf={"crop_sec": 1.0}))
    ds = task.build_train_dataset(config, str(mini_data), num_items=2)
    return collate_scenes([ds[0], ds[1]])


def random_batch(n=2, samples=32000, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = -(-samples // 1280)
    strong = (torch.rand(n, 3, frames, generator=g) > 0.5).float()
    label_index = torch.tensor([[4, 4, SILENCE_INDEX], [SILENCE_INDEX] * 3][:n])
    strong[label_index == SILENCE_INDEX] = 0.0
    return {"mixture": 0.1 * torch.randn(n, 4, samples, generator=g), "label_index": label_index,
            "strong": strong, "lengths": torch.full((n,), samples),
            "id": [f"m{i}" for i in range(n)]}


# ------------------------------------------------------------------ configs / registry
def test_task_is_registered_and_configs_resolve():
    task = get_task("tagger")
    assert task.name == "tagger" and task.requires_data
    assert {p.name for p in TAGGER_CONFIGS} >= {
        "train_tagger_fusion_tiny.yaml", "train_tagger_m2dat_tiny.yaml",
        "train_tagger_fusion_real_step1.yaml", "train_tagger_fusion_real_step2.yaml",
        "train_tagger_m2dat_real.yaml", "train_tagger_m2dat_real_step2.yaml"}
    for path in TAGGER_CONFIGS:
        data = yaml.safe_load(path.read_text())
        config = task.resolve_config(dict(task.defaults(), classes=str(DCASE_CLASSES_FILE), **data))
        assert config["task"] == "tagger" and config["model"] in ("fusion", "m2dat")
        assert ["valid", "acc_mix", "max"] in config["best_model_criterion"]
        assert config["train_dataset_conf"]["generator"]["nevent_range"] == [0, 3]
        conf = config["model_conf"]
        if path.name in ("train_tagger_fusion_real_step1.yaml", "train_tagger_m2dat_real.yaml"):
            # the files where stage 0 --download_pretrained puts them (s5tse.pretrained manifest)
            dests = {"downloads/" + o.dest for item in MANIFEST.values() for o in item.outputs}
            assert conf["m2d_weights"] in dests and "m2d" in conf["m2d_weights"]
            if conf.get("fpasst_weights") is not None or path.name.startswith("train_tagger_fusion"):
                assert conf["fpasst_weights"] == "downloads/fpasst/fpasst_strong_1.pt"
            assert not conf.get("init_weights")
        elif path.name.endswith("_pretrained.yaml"):
            # the files stage 3 --pretrain_configs exports (s5tse.bin.export_encoder's names)
            from s5tse.tasks.pretrain import PUBLISHED_NAME

            assert conf["m2d_weights"] == "exp/pretrain_m2d_mini/" + PUBLISHED_NAME["m2d"]
            if config["model"] == "fusion":
                assert conf["fpasst_weights"] == "exp/pretrain_fpasst_mini/" + PUBLISHED_NAME["fpasst"]
                assert set(config["freeze_param"]) == {"tagger.m2d", "tagger.fpasst"}
            else:
                assert config["freeze_param"] == ["tagger.m2d"]
            assert config["train_dataset_conf"]["crop_sec"] is None
        elif "real" not in path.name:  # CPU presets: random init, nothing to read
            assert not conf.get("m2d_weights") and not conf.get("fpasst_weights")


@pytest.mark.parametrize("name, model, key, stage", [
    ("weights.pth", "m2dat", "m2d_weights", "download_pretrained true"),
    ("m2d_weights.pth", "m2dat", "m2d_weights", "stage 3 with --pretrain_configs"),
    ("fpasst_weights.pt", "fusion", "fpasst_weights", "stage 3 with --pretrain_configs"),
])
def test_missing_backbone_weights_name_the_stage_that_writes_them(tmp_path, name, model, key, stage):
    """Published files come from stage 0's download, the pre-trained stand-ins from stage 3."""
    missing = str(tmp_path / "exp" / "pretrain_x" / name)
    task = get_task("tagger")
    with pytest.raises(FileNotFoundError, match=f"model_conf.{key}: .*{name} not found; .*{stage}"):
        task.build_model(task.resolve_config(dict(
            task.defaults(), model=model, classes=str(DCASE_CLASSES_FILE),
            model_conf={"preset": "tiny", key: missing})))


def test_dry_run_with_data_builds_the_datasets(mini_data, capsys):
    main(["--config", str(TINY_FUSION), "--dry_run", "--train_data", str(mini_data),
          "--valid_data", str(mini_data), "--classes", str(DCASE_CLASSES_FILE)])
    out = capsys.readouterr().out
    assert "train dataset: OnTheFlyDataset (10 items)" in out
    assert "valid dataset: MetadataDataset (3 items)" in out


def test_m2dat_wrapper_loss_equals_baseline_pit_ce(train_batch):
    torch.manual_seed(0)
    model = M2DATTaggerModel(preset="tiny", num_classes=18).eval()
    with torch.no_grad():
        loss, stats, weight, out = model.forward_with_output(**train_batch)
        ref, perm = baseline_pit_ce(out["weak"], train_batch["label_index"])
    assert torch.equal(loss, ref) and torch.equal(out["perm"], perm)
    assert set(stats) == {"loss", "acc_mix", "acc_src"} and int(weight) == 2


def test_padded_frames_are_masked():
    torch.manual_seed(0)
    model = FusionTaggerModel(preset="tiny", num_classes=18).eval()
    batch = random_batch(samples=32000)
    batch["lengths"] = torch.tensor([32000, 16000])
    with torch.no_grad():
        loss, _, _, out = model.forward_with_output(**batch)
        mask = torch.ones(2, 25, dtype=torch.bool)
        mask[1, 13:] = False                           # ceil(16000 / 1280) = 13 frames
        ref, _, _ = model.loss(out["weak"], batch["label_index"], out["strong"], batch["strong"],
                               mask)
    assert torch.equal(loss, ref)


def test_bad_input_names_the_batch():
    model = FusionTaggerModel(preset="tiny", num_classes=18)
    batch = random_batch()
    batch["mixture"] = batch["mixture"][:, :2]
    with pytest.raises(ValueError, match=r"4-channel.*batch ids: m0, m1"):
        model(**batch)
    m2dat = M2DATTaggerModel(preset="tiny", num_classes=18)
    with pytest.raises(ValueError, match=r"batch ids: m0, m1"):
        m2dat(**batch)


def test_init_weights_loads_a_training_output(tmp_path):
    torch.manual_seed(0)
    a = FusionTaggerModel(preset="tiny", num_classes=18)
    torch.save(a.state_dict(), tmp_path / "1epoch.pth")
    torch.save({"model": a.state_dict(), "epoch": 1}, tmp_path / "checkpoint.pth")
    torch.manual_seed(1)
    for name in ("1epoch.pth", "checkpoint.pth"):
        b = FusionTaggerModel(preset="tiny", num_classes=18, init_weights=str(tmp_path / name),
                              m2d_weights="/not/read.pth")
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k]), k
    torch.save(M2DATTaggerModel(preset="tiny", num_classes=18).state_dict(), tmp_path / "other.pth")
    with pytest.raises(Exception, match="other.pth"):
        FusionTaggerModel(preset="tiny", num_classes=18, init_weights=str(tmp_path / "other.pth"))
    with pytest.raises(FileNotFoundError, match=r"model_conf.init_weights: .*nope.pth not found; "
                       r"it is written by the previous training step"):
        FusionTaggerModel(preset="tiny", num_classes=18, init_weights=str(tmp_path / "nope.pth"))


@pytest.mark.parametrize("step2,step1", [
    ("train_tagger_fusion_real_step2.yaml", "train_tagger_fusion_real_step1.yaml"),
    ("train_tagger_m2dat_real_step2.yaml", "train_tagger_m2dat_real.yaml"),
])
def test_step2_configs_start_from_the_file_run_sh_gives_step1(step2, step1):
    """init_weights = exp/<step 1 config without train_>/valid.<criterion>.best.pth, with a
    criterion step 1 keeps; step 2 trains the last two blocks at lr 1e-5, step 1 none."""
    two = yaml.safe_load((CONF / step2).read_text())
    one = yaml.safe_load((CONF / step1).read_text())
    exp = "exp/" + step1[len("train_"):-len(".yaml")]
    path = two["model_conf"]["init_weights"]
    assert path.startswith(exp + "/valid.") and path.endswith(".best.pth")
    criterion = path[len(exp) + len("/valid."):-len(".best.pth")]
    assert criterion in [name for phase, name, _ in one["best_model_criterion"] if phase == "valid"]
    assert two["model_conf"]["preset"] == one["model_conf"]["preset"] == "real"
    assert two["optim_conf"]["lr"] == 1.0e-5 and one["optim_conf"]["lr"] == 1.0e-3
    assert any("10|11" in rule for rule in two["freeze_param"])
    assert not any("10|11" in rule for rule in one["freeze_param"])


def test_activation_checkpointing_gives_the_same_gradients():
    batch = random_batch(n=1)
    grads = []
    for flag in (False, True):
        torch.manual_seed(0)
        model = FusionTaggerModel(preset="tiny", num_classes=18, head_dropout=0.0)
        model.set_activation_checkpointing(flag)
        loss, _, _ = model(**batch)
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1, rtol=1e-5, atol=1e-7)


def test_log_examples_writes_text_and_image(train_batch):
    class Writer:
        def __init__(self):
            self.calls = {}

        def add_text(self, tag, text, step):
            self.calls[tag] = text

        def add_image(self, tag, img, step):
            self.calls[tag] = img

    task = get_task("tagger")
    for cls in (FusionTaggerModel, M2DATTaggerModel):
        model = cls(preset="tiny", num_classes=18).eval()
        with torch.no_grad():
            loss, stats, weight, output = task.forward_valid(model, train_batch)
        writer = Writer()
        task.log_examples(writer, train_batch, output, step=3)
        img = writer.calls["examples/prob_vs_target"]
        assert img.ndim == 3 and img.shape[0] == 1 and 0 <= img.min() and img.max() <= 1
        assert train_batch["id"][0] in writer.calls["examples/labels"]


# ------------------------------------------------------------------------- training
def test_short_training_run(mini_data, tmp_path, capsys):
    out = tmp_path / "exp"
    main(["--config", str(TINY_FUSION), "--train_data", str(mini_data),
          "--valid_data", str(mini_data), "--output_dir", str(out),
          "--classes", str(DCASE_CLASSES_FILE),
          "--max_epochs", "2", "--iters_per_epoch", "3", "--batch_size", "2",
          "--train_dataset_conf.crop_sec", "1.0", "--num_workers", "0"])
    for name in ("config.yaml", "train.log", "checkpoint.pth", "1epoch.pth", "2epoch.pth",
                 "latest.pth", "valid.acc_mix.best.pth", "valid.loss.best.pth"):
        assert (out / name).exists(), name
    state, _ = load_checkpoint(out)
    assert state["epoch"] == 2 and state["global_step"] == 6
    history = state["reporter"]["history"]
    for epoch in (1, 2):
        valid = history[epoch]["valid"]
        assert {"loss", "acc_mix", "acc_src", "weak_ce", "strong_ce"} <= set(valid)
        assert 0.0 <= valid["acc_mix"] <= 100.0 and 0.0 <= valid["acc_src"] <= 100.0
    log = (out / "train.log").read_text()
    assert "validation (epoch 2 iter 3/3): " in log and "acc_mix=" in log
    # step 2 style: weights-only init from the best model of this run
    model = FusionTaggerModel(preset="tiny", num_classes=18,
                              init_weights=str(out / "valid.acc_mix.best.pth"))
    assert model.state_dict().keys() == torch.load(out / "latest.pth", weights_only=True).keys()


@pytest.fixture(scope="module")
def overfit_batch(mini_data):
    """Four 1-s training crops of the mini corpus (targets present in some of them), collated."""
    task = get_task("tagger")
    config = task.resolve_config(dict(task.defaults(), classes=str(DCASE_CLASSES_FILE), train_dataset_conf={
        "crop_sec": 1.0, "generator": {"nevent_range": [1, 3]}}))
    ds = task.build_train_dataset(config, str(mini_data), num_items=4)
    return collate_scenes([ds[i] for i in range(4)])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("model_cls,steps", [(FusionTaggerModel, 80), (M2DATTaggerModel, 60)])
def test_tiny_tagger_memorises_a_batch(overfit_batch, model_cls, steps):
    """Loss, slot PIT and heads are wired so that the weights can fit the labels: after a few
    dozen Adam steps on one fixed batch, the argmax slot labels equal the references."""
    labels = overfit_batch["label_index"]
    assert bool((labels != SILENCE_INDEX).any()) and bool((labels == SILENCE_INDEX).all(1).any())
    torch.manual_seed(0)
    model = model_cls(preset="tiny", num_classes=18)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(steps):
        loss, stats, _ = model(**overfit_batch)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        loss, stats, _, out = model.forward_with_output(**overfit_batch)
    est = out["weak"].argmax(-1).sort(-1).values
    assert torch.equal(est, labels.sort(-1).values)
    assert float(stats["acc_mix"]) == 100.0 and float(loss) < 0.1 * first


@pytest.mark.parametrize("model", ["fusion", "m2dat"])
def test_tagger_learns_a_batch_instead_of_staying_at_chance(model, mini_data):
    """40 updates on four fixed 3-s crops of three-event scenes: both taggers must find at
    least half of the sources (chance is about 0 %; a tagger collapsing to silence, a loss
    that ignores the labels or misaligned slots stay there)."""
    task = get_task("tagger")
    config = task.resolve_config(dict(
        task.defaults(), model=model, classes=str(DCASE_CLASSES_FILE),
        model_conf={"preset": "tiny"},
        train_dataset_conf={"crop_sec": 3.0, "generator": {"nevent_range": [3, 3]}}))
    ds = task.build_train_dataset(config, str(mini_data), num_items=4)
    batch = collate_scenes([ds[i] for i in range(4)])
    assert int((batch["label_index"] != SILENCE_INDEX).sum()) >= 4
    torch.manual_seed(0)
    net = task.build_model(config)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(40):
        loss, _, _ = net(**batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        _, stats, _ = net(**batch)
    assert float(stats["acc_src"]) >= 50.0, stats


# ------------------------------------------------------------------ frozen-feature cache
@pytest.mark.parametrize("model_cls", [FusionTaggerModel, M2DATTaggerModel])
def test_encoded_batches_give_the_loss_and_gradients_of_the_audio(model_cls):
    """Step 1 with ``feature_cache_epochs``: the head trains on the frozen backbones' outputs,
    computed once; loss, stats and every trainable gradient equal those from the audio (whole
    10-s clips: shorter crops would give fPaSST a random positional offset in training mode)."""
    from s5tse.datasets.encoded import ENCODED_PREFIX

    torch.manual_seed(0)
    model = model_cls(preset="tiny", num_classes=18)
    for enc in model._encoders():
        enc.requires_grad_(False)
    batch = random_batch(n=2, samples=320000)
    encoded = {ENCODED_PREFIX + k: v for k, v in model.encode_frozen(batch["mixture"]).items()}
    cached = dict({k: v for k, v in batch.items() if k != "mixture"}, **encoded)
    assert model.training
    results = []
    for b in (batch, cached):
        torch.manual_seed(1)                          # the same head dropout
        model.zero_grad()
        loss, stats, weight = model(**b)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        results.append((loss.detach(), stats, weight, grads))
    (l1, s1, w1, g1), (l2, s2, w2, g2) = results
    assert torch.allclose(l1, l2, rtol=1e-5, atol=1e-6) and int(w1) == int(w2) == 2
    assert {k: float(v) for k, v in s1.items()} == pytest.approx({k: float(v) for k, v in s2.items()}, rel=1e-5)
    assert g1.keys() == g2.keys() and len(g1) > 0
    for name in g1:
        assert torch.allclose(g1[name], g2[name], rtol=1e-4, atol=1e-6), name


def test_the_cache_refuses_trainable_backbones_and_bad_values(mini_data, tmp_path):
    model = FusionTaggerModel(preset="tiny", num_classes=18)
    model.tagger.m2d.requires_grad_(False)
    with pytest.raises(ValueError, match=r"needs frozen backbones .* tagger\.fpasst\."):
        model.encode_frozen(torch.zeros(1, 4, 6400))
    task = get_task("tagger")
    with pytest.raises(ConfigError, match="'feature_cache_epochs' must be an integer >= 0"):
        task.resolve_config(dict(task.defaults(), classes=str(DCASE_CLASSES_FILE),
                                 feature_cache_epochs=-1))
    with pytest.raises(SystemExit):  # step 2 (trainable blocks) with a cache: one line, exit 1
        main(["--config", str(TINY_FUSION), "--train_data", str(mini_data),
              "--valid_data", str(mini_data), "--output_dir", str(tmp_path / "exp"),
              "--classes", str(DCASE_CLASSES_FILE), "--feature_cache_epochs", "1",
              "--max_epochs", "1", "--iters_per_epoch", "1", "--batch_size", "2"])


def test_training_with_the_cache_encodes_the_pool_once(mini_data, tmp_path):
    """Three epochs over a pool of two: epoch 3 repeats the mixtures of epoch 1 (in a new
    order) and validation runs on cached clips; the run is resumable like any other."""
    out = tmp_path / "exp"
    args = ["--config", str(TINY_FUSION), "--train_data", str(mini_data),
            "--valid_data", str(mini_data), "--output_dir", str(out),
            "--classes", str(DCASE_CLASSES_FILE), "--feature_cache_epochs", "2",
            "--freeze_param", "[tagger.m2d, tagger.fpasst]",
            "--max_epochs", "3", "--iters_per_epoch", "2", "--batch_size", "2",
            "--train_dataset_conf.crop_sec", "1.0", "--num_workers", "0"]
    main(args)
    log = (out / "train.log").read_text()
    assert "encoded the training mixtures of epochs 1-2 once: 8 items" in log
    assert "encoded the validation set once: 3 items" in log
    assert "train dataset: EncodedDataset (4 items)" in log
    state, _ = load_checkpoint(out)
    assert state["epoch"] == 3 and state["global_step"] == 6
    assert {"acc_mix", "strong_ce"} <= set(state["reporter"]["history"][3]["valid"])
