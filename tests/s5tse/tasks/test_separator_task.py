"""Tests for the separator task (s5tse.tasks.separator): config, wrapper, hooks, a short run.

The dry run of every recipe config is tests/s5tse/bin/test_train.py::test_dry_run_every_config.
"""
import math
from pathlib import Path

import pytest
import torch

from tests.conftest import DCASE_CLASSES_FILE
from s5tse.corpus.dcase import DCASE2026
from s5tse.bin.train import main
from s5tse.losses.ca_pit import ClassAwarePITLoss, aux_weights
from s5tse.losses.sdr import snr
from s5tse.tasks import get_task
from s5tse.tasks.separator import (
    SEPARATOR_GENERATOR,
    epoch_from_ids,
    onthefly,
    spectrogram_image,
)
from s5tse.train.checkpoint import load_checkpoint
from s5tse.utils.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[3]
CONF = REPO / "egs" / "dcase2026_task4" / "conf" / "tuning"
MODELS = ["lq_sr_corrnet", "resunetk"]
CONFIGS = {
    "lq_sr_corrnet": CONF / "train_separator_lq_sr_corrnet_cpu_small.yaml",
    "resunetk": CONF / "train_separator_resunetk_cpu_small.yaml",
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def resolved(*overrides):
    task = get_task("separator")
    return task, task.resolve_config(load_config(task.defaults(), None,
                                                 ["--classes", str(DCASE_CLASSES_FILE), *overrides]))


def synthetic_batch(num_samples=6400, epoch=3, seed=0):
    """Two items: [A, A, B] (a same-class pair) and [C, silence, silence]."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor([[4, 4, 15], [7, 18, 18]])
    active = labels != 18
    dry = 0.1 * torch.randn(2, 3, num_samples, generator=g) * active[..., None]
    mixture = dry.sum(1, keepdim=True).repeat(1, 4, 1) + 0.01 * torch.randn(2, 4, num_samples, generator=g)
    weak = torch.zeros(2, 3, 18)
    for b, k in active.nonzero().tolist():
        weak[b, k, labels[b, k]] = 1.0
    frames = -(-num_samples // 1280)
    strong = active[..., None].float().expand(2, 3, frames).clone()
    strong[0, 1, : frames // 2] = 0.0  # the second A is active in the second half only
    return dict(mixture=mixture, dry=dry, label_index=labels, weak=weak, strong=strong,
                labels=[["Clapping", "Clapping", "Speech"], ["Dishes", "silence", "silence"]],
                id=[f"train/e{epoch:04d}/000000000", f"train/e{epoch:04d}/000000001"],
                lengths=torch.tensor([num_samples, num_samples]))


# ------------------------------------------------------------------------- config
def test_defaults_registries_and_generator_merge():
    task, config = resolved("--train_dataset_conf.generator.snr_range", "[10, 20]")
    assert task.name == "separator"
    assert [c.key for c in task.choices()][:4] == ["model", "loss", "train_dataset", "valid_dataset"]
    assert task.choice("model").registry.names() == ["lq_sr_corrnet", "resunetk"]
    assert config["model_conf"] == {"preset": "cpu_small"} and config["aux_loss_weight"] is None
    assert config["loss_conf"]["objective"] == "snr"
    gen = config["train_dataset_conf"]["generator"]
    assert gen["nevent_range"] == [1, 3] and gen["snr_range"] == [10, 20]  # partial override merged
    assert set(gen) == set(SEPARATOR_GENERATOR)
    assert config["train_dataset_conf"]["crop_sec"] == 4.0
    # resolving the resolved config is a no-op (config.yaml round trip)
    assert task.resolve_config(config) == config


@pytest.mark.parametrize("overrides, message", [
    (["--model_conf.preset", "huge"],
     "unknown lq_sr_corrnet preset 'huge' (choices: base, cpu_small, large, unit)"),
    (["--model_conf.dmodel", "8"], "model_conf: unknown key 'dmodel' for model 'lq_sr_corrnet'"),
    (["--model_conf.d_model", "33"], "d_model=33 must be divisible"),
    (["--model", "resunetk", "--model_conf.chanels", "[4]"], "unknown key 'chanels' for model 'resunetk'"),
    (["--train_dataset_conf.generator.nevnt_range", "[1, 3]"], "train_dataset_conf.generator: "),
    (["--aux_loss_weight", "-1"], "'aux_loss_weight' must be null or a number >= 0"),
])
def test_config_errors_are_one_line(overrides, message):
    with pytest.raises(ConfigError) as exc:
        resolved(*overrides)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_active_crops_keep_a_target_and_uniform_crops_are_the_base_class(mini_data):
    from s5tse.datasets.onthefly import OnTheFlyDataset
    from s5tse.tasks.separator import onthefly

    active = onthefly(mini_data, "train", 5, 12, crop_sec=1.0, classes=DCASE2026)
    uniform = onthefly(mini_data, "train", 5, 12, crop_sec=1.0, crop_policy="uniform",
                       classes=DCASE2026)
    base = OnTheFlyDataset(mini_data, generator=dict(SEPARATOR_GENERATOR), seed=5, num_items=12,
                           classes=DCASE2026,
                           crop_sec=1.0)
    for ds in (active, uniform, base):
        ds.set_epoch(2)
    assert [uniform.crop_start(i) for i in range(12)] == [base.crop_start(i) for i in range(12)]
    starts = [active.crop_start(i) for i in range(12)]
    assert all(s % 1280 == 0 and 0 <= s <= 320000 - 32000 for s in starts)
    for i in range(12):
        item = active[i]
        assert item["mixture"].shape == (4, 32000) and item["strong"].shape == (3, 25)
        assert (item["label_index"] != 18).any(), item["id"]  # never an all-silent crop
    assert torch.equal(active[3]["dry"], active[3]["dry"])  # a pure function of (seed, epoch, i)
    with pytest.raises(ConfigError, match="crop_policy must be one of active, uniform"):
        resolved("--train_dataset_conf.crop_policy", "centre")


def test_epoch_from_ids():
    assert epoch_from_ids(["train/e0003/000000005", "train/e0003/000000001"]) == 3
    assert epoch_from_ids("valid/e0000/000000000") == 0
    assert epoch_from_ids(["valid_0001"]) is None and epoch_from_ids(None) is None


# ------------------------------------------------------------- SR_CorrNet_SS init
def test_init_sr_corrnet_ss_hook_loads_the_backbone(tmp_path, caplog):
    """``model_conf.init_sr_corrnet_ss`` loads a SR_CorrNet_SS checkpoint after construction."""
    from s5tse.models.separator.sr_corrnet import LabelQueriedSRCorrNet
    from s5tse.models.separator.sr_corrnet.checkpoint import export_sr_corrnet_ss_layout

    torch.manual_seed(3)
    source = LabelQueriedSRCorrNet.from_preset("unit", num_classes=18)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.1)  # differs from any fresh initialisation
    path = tmp_path / "best_model.pth"
    torch.save({"epoch": 7, "model_state_dict": export_sr_corrnet_ss_layout(source)}, path)
    task, config = resolved("--model_conf.preset", "unit", "--model_conf.init_sr_corrnet_ss", str(path))
    assert config["model_conf"] == {"preset": "unit", "init_sr_corrnet_ss": str(path)}
    assert task.resolve_config(config) == config
    torch.manual_seed(0)
    with caplog.at_level("INFO", logger="s5tse.tasks.separator"):
        net = task.build_model(config).separator
    assert "SR_CorrNet_SS import from " + str(path) in caplog.text
    torch.manual_seed(0)
    plain = task.build_model(resolved("--model_conf.preset", "unit")[1]).separator
    src, got, fresh = (dict(m.named_parameters()) for m in (source, net, plain))
    for name in ("encoder.0.time.attn.out.weight", "decoder.stages.0.cross.ffn.2.bias", "embed.2.weight"):
        assert torch.equal(got[name], src[name]), name
    for name in ("split.film.strong.2.weight", "weak_embed.net.0.weight", "split.mlp.0.weight"):
        assert torch.equal(got[name], fresh[name]), name  # no counterpart: the fresh initialisation
    # a preset that does not match the checkpoint fails at build time with the key names
    _, bad = resolved("--model_conf.preset", "unit", "--model_conf.d_model", "16",
                      "--model_conf.init_sr_corrnet_ss", str(path))
    with pytest.raises(ValueError, match="expected shape"):
        task.build_model(bad)
    with pytest.raises(ConfigError, match="init_sr_corrnet_ss must be null or a checkpoint path"):
        resolved("--model_conf.init_sr_corrnet_ss", "3")


# -------------------------------------------------------------------------- model
@pytest.mark.parametrize("model", MODELS)
def test_wrapper_loss_equals_ca_pit_on_the_same_outputs(model):
    task, config = resolved("--model", model, "--model_conf.preset", "unit",
                            "--loss_conf.objective", "sum")
    torch.manual_seed(0)
    wrapper = task.build_model(config)
    batch = synthetic_batch(epoch=120)
    direct = ClassAwarePITLoss("sum", silence_index=18)
    for training in (True, False):
        wrapper.train(training)
        loss, stats, weight = wrapper(**batch)
        est, extras = wrapper.separator(batch["mixture"], batch["strong"], batch["weak"])
        aux = list(extras.get("aux") or [])
        if model == "lq_sr_corrnet" and training:
            assert len(aux) == 1 and wrapper.loss.epoch == 120  # epoch read from the ids
        else:
            assert aux == []
        weights = aux_weights(120, len(aux)) if aux else None  # 0.5 * 0.95 ** 20 in epoch 120
        expected, exp_stats, perm = direct(est, batch["dry"], batch["label_index"],
                                           aux=aux or None, aux_weights=weights)
        torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
        assert loss.dim() == 0 and int(weight) == 2
        assert ("loss_aux" in stats) == bool(aux)
        torch.testing.assert_close(stats["snr"], exp_stats["snr"])
        # sdri: SNR of the aligned estimate minus SNR of mixture channel 0, active slots
        aligned = est.detach()[torch.arange(2)[:, None], perm]
        active = batch["label_index"] != 18
        sdri = (snr(aligned, batch["dry"]) - snr(batch["mixture"][:, :1], batch["dry"]))[active].mean()
        torch.testing.assert_close(stats["sdri"], sdri)
        assert set(stats) >= {"loss", "snr", "si_sdr", "sdri"}
        assert all(math.isfinite(float(v)) for v in stats.values())


def test_fixed_aux_loss_weight():
    task, config = resolved("--model_conf.preset", "unit", "--aux_loss_weight", "0.3")
    torch.manual_seed(0)
    wrapper = task.build_model(config).train()
    batch = synthetic_batch(epoch=500)
    loss, stats, _ = wrapper(**batch)
    est, extras = wrapper.separator(batch["mixture"], batch["strong"], batch["weak"])
    expected, _, _ = ClassAwarePITLoss("snr", silence_index=18)(est, batch["dry"], batch["label_index"],
                                               aux=extras["aux"], aux_weights=[0.3])
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_silent_slots_give_exact_zeros(model):
    task, config = resolved("--model", model, "--model_conf.preset", "unit")
    torch.manual_seed(0)
    wrapper = task.build_model(config)
    batch = synthetic_batch()
    for training in (True, False):
        wrapper.train(training)
        _, _, _, aligned = wrapper.compute(**batch)
        est, extras = wrapper.separator(batch["mixture"], batch["strong"], batch["weak"])
        for out in [aligned, est] + list(extras.get("aux") or []):
            assert torch.equal(out[1, 1:], torch.zeros_like(out[1, 1:]))  # silent slots
            assert out[0].abs().amax(-1).min() > 0 and out[1, 0].abs().max() > 0


def test_activation_checkpointing_switch_gives_the_same_gradients():
    task, config = resolved("--model_conf.preset", "unit")
    torch.manual_seed(0)
    wrapper = task.build_model(config).train()
    batch = synthetic_batch(num_samples=3200)
    grads = []
    for flag in (False, True):
        wrapper.zero_grad()
        wrapper.set_activation_checkpointing(flag)
        assert all(m.checkpointing == flag for m in wrapper.modules() if hasattr(m, "checkpointing"))
        wrapper(**batch)[0].backward()
        grads.append([p.grad.clone() for p in wrapper.parameters()])
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------- examples
class FakeWriter:
    def __init__(self):
        self.audio, self.images = {}, {}

    def add_audio(self, tag, snd, step, sample_rate):
        self.audio[tag] = (tuple(snd.shape), step, sample_rate, float(snd.abs().max()))

    def add_image(self, tag, image, step):
        self.images[tag] = (tuple(image.shape), step, float(image.min()), float(image.max()))


def test_forward_valid_and_log_examples():
    task, config = resolved("--model", "resunetk", "--model_conf.preset", "unit")
    wrapper = task.build_model(config).eval()
    batch = synthetic_batch()
    with torch.no_grad():
        loss, stats, weight, output = task.forward_valid(wrapper, batch)
    assert output.shape == (3, 6400) and int(weight) == 2 and "loss_aux" not in stats
    w = FakeWriter()
    task.log_examples(w, batch, output, 11)
    assert sorted(w.audio) == [
        "examples/mixture_ch0",
        "examples/slot0_Clapping_estimate", "examples/slot0_Clapping_reference",
        "examples/slot1_Clapping_estimate", "examples/slot1_Clapping_reference",
        "examples/slot2_Speech_estimate", "examples/slot2_Speech_reference",
    ]
    for shape, step, sr, peak in w.audio.values():
        assert shape == (1, 6400) and step == 11 and sr == 32000 and peak <= 0.9 + 1e-6
    assert max(v[3] for v in w.audio.values()) == pytest.approx(0.9)  # one common gain
    (shape, step, lo, hi), = w.images.values()
    assert shape == (1, 7 * 259 - 2, 21) and step == 11 and 0.0 <= lo <= hi <= 1.0
    task.log_examples(None, batch, output, 11)  # TensorBoard off: nothing to do


def test_spectrogram_image_shape_and_range():
    img = spectrogram_image(torch.randn(2, 3200), n_fft=64, hop=32)
    assert img.shape == (1, 2 * 33 + 2, 101) and float(img.min()) >= 0 and float(img.max()) <= 1


# --------------------------------------------------------------------- training run
@pytest.mark.parametrize("model", MODELS)
def test_short_training_run(model, mini_data, tmp_path, capsys):
    out = tmp_path / "exp"
    args = ["--config", str(CONFIGS[model]), "--model_conf.preset", "unit",
            "--train_data", str(mini_data), "--valid_data", str(mini_data),
            "--output_dir", str(out), "--max_epochs", "1", "--iters_per_epoch", "2",
            "--batch_size", "1", "--train_dataset_conf.crop_sec", "1.0", "--num_workers", "0",
            "--log_interval", "1", "--scheduler_conf.warmup_steps", "0",
            "--classes", str(DCASE_CLASSES_FILE)]
    if model == "lq_sr_corrnet":  # SR-CorrNet "unit" needs ~7 s per 10-s clip on one thread
        args += ["--valid_dataset_conf.max_items", "1"]
    else:
        args += ["--use_tensorboard", "false"]
    main(args)
    for name in ("config.yaml", "checkpoint.pth", "1epoch.pth", "latest.pth", "valid.sdri.best.pth",
                 "valid.loss.best.pth", "valid.sdri.ave.pth", "train.log"):
        assert (out / name).exists(), name
    state, _ = load_checkpoint(out, map_location="cpu")
    valid = state["reporter"]["history"][1]["valid"]
    assert {"loss", "snr", "si_sdr", "sdri"} <= set(valid), valid
    assert all(math.isfinite(v) for v in valid.values())
    assert state["best"]["valid.sdri"][0][0] == 1
    log = (out / "train.log").read_text()
    assert "validation (epoch 1 iter 2/2): " in log and " sdri=" in log
    if model == "lq_sr_corrnet":
        events = list((out / "tensorboard" / "valid").glob("events.*"))
        assert events and events[0].stat().st_size > 10000  # scalars + audio + spectrogram image


@pytest.mark.slow
def test_lq_sr_corrnet_overfits_one_mini_corpus_example(mini_data):
    """Training on one mini-corpus mixture (0.5-s active crop, oracle queries) raises the SNR of
    its estimates against the dry references by at least 10 dB."""
    task, config = resolved("--model_conf.preset", "unit", "--loss_conf.objective", "snr")
    torch.manual_seed(0)
    wrapper = task.build_model(config).train()
    item = onthefly(mini_data, "train", 3, 4, crop_sec=0.5, classes=DCASE2026)[1]
    batch = task.collate_fn(config)([item])
    assert int((batch["label_index"] != 18).sum()) >= 1
    opt = torch.optim.Adam(wrapper.parameters(), lr=5e-3)
    snrs = []
    for _ in range(400):
        loss, stats, _ = wrapper(**batch)
        snrs.append(float(stats["snr"]))
        if snrs[-1] >= snrs[0] + 10.0 and float(stats["sdri"]) > 3.0:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert snrs[-1] >= snrs[0] + 10.0, (snrs[0], max(snrs))
    assert float(stats["sdri"]) > 3.0  # better than the unprocessed mixture, not just rescaled


@pytest.mark.parametrize("top,granularity,expected", [
    (False, "stage", "stage"), (False, "block", "block"), (False, False, "none"),
    (True, False, "block"), (True, "stage", "stage")])
def test_model_conf_checkpointing_granularity_survives_the_trainer(top, granularity, expected):
    # the top-level switch turns checkpointing on; off, it leaves the model_conf choice alone
    from s5tse.train.trainer import build_components

    task, config = resolved("--model_conf.preset", "unit", "--activation_checkpointing", str(top).lower(),
                            "--model_conf.activation_checkpointing", str(granularity).lower())
    parts = build_components(task, config, build_data=False)
    assert parts.model.separator.checkpoint_granularity == expected
