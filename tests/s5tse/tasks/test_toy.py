"""Tests for the toy task (the engine's self-test problem)."""
import torch

from s5tse.tasks import get_task
from s5tse.tasks.toy import ToyConvNet, ToyModel, ToySinesDataset, MSELoss, snr_db
from s5tse.utils.config import load_config


def test_items_are_a_pure_function_of_seed_split_epoch_index():
    a = ToySinesDataset(seed=1, num_items=10)
    b = ToySinesDataset(seed=1, num_items=10)
    b.set_epoch(5)
    b.set_epoch(2)
    a.set_epoch(2)
    for i in (7, 0, 3):  # any order
        x, y = a[i], b[i]
        assert torch.equal(x["mixture"], y["mixture"]) and x["id"] == y["id"] == f"toy-train-e2-{i:06d}"
    a.set_epoch(3)
    assert not torch.equal(a[0]["mixture"], b[0]["mixture"])
    v = ToySinesDataset(split="valid", seed=1, num_items=10)
    v.set_epoch(2)
    assert not torch.equal(v[0]["mixture"], b[0]["mixture"])


def test_item_shapes_and_target():
    item = ToySinesDataset(num_items=2, length=100)[1]
    assert item["mixture"].shape == item["source"].shape == (1, 100)
    assert item["mixture"].dtype == torch.float32
    # the mixture is the target plus another source plus noise: not equal to the target
    assert (item["mixture"] - item["source"]).abs().max() > 0.1


def test_model_contract_and_activation_checkpointing_gives_same_grads():
    torch.manual_seed(0)
    net = ToyConvNet(channels=4, kernel_size=5, num_layers=3)
    model = ToyModel(net, MSELoss())
    ds = ToySinesDataset(num_items=3, length=64)
    batch = get_task("toy").collate_fn({})([ds[i] for i in range(3)])
    assert batch["mixture"].shape == (3, 1, 64) and batch["id"][0] == "toy-train-e0-000000"
    grads = []
    for flag in (False, True):
        model.zero_grad()
        model.set_activation_checkpointing(flag)
        loss, stats, weight = model(**batch)
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        assert loss.dim() == 0 and set(stats) == {"loss", "snr"} and int(weight) == 3
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1, rtol=0, atol=1e-7)


def test_snr_db():
    ref = torch.ones(2, 1, 10)
    est = ref * 0.9  # error energy 1% -> 20 dB
    torch.testing.assert_close(snr_db(est, ref), torch.full((2,), 20.0), rtol=0, atol=1e-3)


def test_forward_valid_and_log_examples():
    task = get_task("toy")
    config = task.resolve_config(load_config(task.defaults()))
    model = task.build_model(config)
    ds = task.build_valid_dataset(config, None)
    batch = task.collate_fn(config)([ds[0], ds[1]])
    loss, stats, weight, output = task.forward_valid(model, batch)
    assert output.shape == (1, 1, 256)

    class Writer:
        def add_image(self, tag, image, step):
            self.got = (tag, image.shape, step, float(image.min()), float(image.max()))

    w = Writer()
    task.log_examples(w, batch, output, 7)
    assert w.got[0] == "examples/mixture_target_estimate" and w.got[1] == (1, 24, 256)
    assert w.got[2] == 7 and 0.0 <= w.got[3] <= w.got[4] <= 1.0
