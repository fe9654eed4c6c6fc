"""Tests for s5tse.train.optim: registry, freezing patterns, per-group learning rates."""
import pytest
import torch

from s5tse.train.optim import (OPTIMIZERS, build_optimizer, build_param_groups, count_parameters,
                               freeze_parameters, match_param)
from s5tse.utils.config import ConfigError


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 4))
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.encoder(x))


def test_match_param():
    assert match_param("encoder.0.weight", "encoder")          # module prefix
    assert not match_param("encoder2.weight", "encoder")
    assert match_param("encoder.0.weight", "encoder.*")        # wildcards
    assert match_param("head.bias", "*.bias")
    assert match_param("encoder.1.bias", r"re:encoder\.\d\.bias")  # regex, full match
    assert not match_param("encoder.1.bias", r"re:encoder")


def test_registry_names_and_amsgrad():
    assert OPTIMIZERS.names() == ["adam", "adamw", "sgd"]
    opt = build_optimizer(Net(), "adamw", {"lr": 0.1, "amsgrad": True})
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["amsgrad"] is True


def test_freeze_and_groups():
    net = Net()
    frozen = freeze_parameters(net, ["encoder.0"])
    assert frozen == ["encoder.0.weight", "encoder.0.bias"]
    assert count_parameters(net) == (12 + 4 + 16 + 4 + 8 + 2, 16 + 4 + 8 + 2)
    opt = build_optimizer(net, "sgd", {"lr": 0.1},
                          [{"pattern": "*.bias", "lr": 0.5}, {"pattern": ["head"], "lr": 0.01,
                                                              "weight_decay": 0.1}])
    groups = {g["name"]: g for g in opt.param_groups}
    assert list(groups) == ["default", "group1", "group2"]
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(groups["default"]["params"]) == {id(net.encoder[1].weight)}
    assert ids(groups["group1"]["params"]) == {id(net.encoder[1].bias), id(net.head.bias)}
    assert ids(groups["group2"]["params"]) == {id(net.head.weight)}
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5, 0.01]
    assert groups["group2"]["weight_decay"] == 0.1 and groups["default"]["weight_decay"] == 0.0

    # one SGD step: frozen params unchanged, the others move by exactly -lr * grad
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    net(torch.randn(5, 3)).pow(2).sum().backward()
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in net.named_parameters()}
    opt.step()
    after = dict(net.named_parameters())
    assert grads["encoder.0.weight"] is None
    assert torch.equal(after["encoder.0.weight"], before["encoder.0.weight"])
    assert torch.equal(after["encoder.0.bias"], before["encoder.0.bias"])
    torch.testing.assert_close(after["encoder.1.weight"], before["encoder.1.weight"] - 0.1 * grads["encoder.1.weight"])
    torch.testing.assert_close(after["head.bias"], before["head.bias"] - 0.5 * grads["head.bias"])
    hw = before["head.weight"]
    torch.testing.assert_close(after["head.weight"], hw - 0.01 * (grads["head.weight"] + 0.1 * hw))


@pytest.mark.parametrize(
    "freeze, groups, message",
    [
        (["decoder"], [], r"freeze_param: pattern 'decoder' matches no parameter"),
        ([], [{"pattern": "decoder.*", "lr": 1.0}], r"param_groups\[0\]: pattern \['decoder.\*'\] matches no"),
        ([], [{"lr": 1.0}], r"param_groups\[0\]: expected a mapping with a 'pattern' key"),
        ([], [{"pattern": "head", "lrr": 1.0}], r"param_groups\[0\]: unknown key 'lrr' \(valid: pattern, lr, momentum"),
        ([], [{"pattern": "re:(", "lr": 1.0}], r"bad regular expression"),
        (["encoder", "head"], [], r"no trainable parameters"),
    ],
)
def test_bad_patterns(freeze, groups, message):
    net = Net()
    with pytest.raises(ConfigError, match=message):
        freeze_parameters(net, freeze)
        build_optimizer(net, "sgd", {"lr": 0.1}, groups)


def test_first_matching_group_wins():
    net = Net()
    with pytest.raises(ConfigError, match=r"param_groups\[1\].*claimed by an earlier group"):
        build_param_groups(net, [{"pattern": "head"}, {"pattern": "head.bias"}])
