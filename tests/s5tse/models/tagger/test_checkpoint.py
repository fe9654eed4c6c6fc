"""Shared checkpoint helpers: reading, unwrapping, prefix stripping, one-line key errors."""
import pytest
import torch

from s5tse.models.tagger.checkpoint import (CheckpointError, check_state_dict,
                                            check_state_dict_keys, format_keys,
                                            load_checkpoint_file, read_state_dict,
                                            split_by_prefix, strip_key_prefixes, strip_prefix,
                                            unwrap_state_dict)

PREFIXES = ("module.ar.runtime.backbone.", "backbone.", "module.")


def _sd():
    return {"a.weight": torch.ones(2, 3), "a.bias": torch.zeros(2)}


@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"model": sd, "epoch": 3},
    lambda sd: {"state_dict": sd, "hparams": {"lr": 1.0}},
    lambda sd: {"state_dict": {"model": sd}},
])
def test_read_state_dict_unwraps(tmp_path, wrap):
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(_sd()), path)
    sd = read_state_dict(path)
    assert set(sd) == {"a.weight", "a.bias"}
    assert torch.equal(sd["a.weight"], torch.ones(2, 3))


def test_unwrap_drops_non_tensors_and_rejects_non_state_dicts():
    assert set(unwrap_state_dict({"w": torch.zeros(1), "epoch": 5})) == {"w"}
    with pytest.raises(CheckpointError, match=r"x\.pt: not a state dict"):
        unwrap_state_dict(torch.zeros(3), path="x.pt")
    with pytest.raises(CheckpointError, match=r"y\.pt: no tensors found"):
        unwrap_state_dict({"epoch": 1, "name": "m"}, path="y.pt")


def test_truncated_empty_garbage_and_missing_files(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({f"k{i}": torch.randn(64, 64) for i in range(4)}, good)
    data = good.read_bytes()
    trunc = tmp_path / "trunc.pth"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"trunc\.pth: cannot read") as ei:
        load_checkpoint_file(trunc)
    assert "\n" not in str(ei.value)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pth: empty file"):
        load_checkpoint_file(empty)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint at all\n" * 10)
    with pytest.raises(CheckpointError, match=r"junk\.pth: not a PyTorch checkpoint \(neither a zip "
                                              r"nor a pickle; starts with b'this'\)"):
        load_checkpoint_file(junk)
    legacy = tmp_path / "legacy.pth"   # the pre-zip format still loads
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(load_checkpoint_file(legacy)["w"], torch.ones(2))
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        load_checkpoint_file(tmp_path / "nothere.pth")


def test_weights_only_refusal_is_reported(tmp_path):
    import argparse
    path = tmp_path / "pretrain.pth"
    torch.save({"model": _sd(), "args": argparse.Namespace(lr=1.0)}, path)
    with pytest.raises(CheckpointError,
                       match=r"pretrain\.pth: torch\.load\(weights_only=True\) refused"):
        load_checkpoint_file(path)


def test_strip_prefixes():
    assert strip_prefix("module.ar.runtime.backbone.pos_embed", PREFIXES) == "pos_embed"
    assert strip_prefix("module.backbone.norm.weight", PREFIXES) == "norm.weight"
    assert strip_prefix("backbone.blocks.0.norm1.bias", PREFIXES) == "blocks.0.norm1.bias"
    assert strip_prefix("module.head.mlp.mlp.0.weight", PREFIXES) == "head.mlp.mlp.0.weight"
    assert strip_prefix("cls_token", PREFIXES) == "cls_token"
    sd = strip_key_prefixes({"module.x": torch.zeros(1), "backbone.y": torch.zeros(1)}, PREFIXES)
    assert set(sd) == {"x", "y"}
    with pytest.raises(CheckpointError, match=r"f\.pt: keys 'module\.x' and 'x' both map to 'x'"):
        strip_key_prefixes({"module.x": torch.zeros(1), "x": torch.zeros(1)}, PREFIXES, path="f.pt")


def test_split_by_prefix():
    inside, rest = split_by_prefix({"head.w": 1, "head.b": 2, "x": 3}, "head.")
    assert inside == {"w": 1, "b": 2} and rest == {"x": 3}


def test_key_errors_are_one_line_and_name_first_keys():
    expected = [f"k{i}" for i in range(10)]
    sd = {k: torch.zeros(1) for k in expected[:7]}
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as ei:
        check_state_dict_keys(sd, expected, path="/x/model.pth", what="toy model")
    msg = str(ei.value)
    assert msg.startswith("/x/model.pth: keys do not match the toy model")
    assert "missing 3 key(s): k7, k8, k9" in msg
    assert "unexpected 1 key(s): extra.weight" in msg
    assert "\n" not in msg
    with pytest.raises(CheckpointError, match="not a checkpoint of the toy model"):
        check_state_dict_keys({"weight": 1}, expected, path="p", what="toy model")
    assert format_keys([f"k{i}" for i in range(8)], 3) == "k0, k1, k2, ... (+5 more)"


def test_shape_errors_name_keys():
    ref = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    check_state_dict({"a": torch.ones(2, 3), "b": torch.ones(4)}, ref, path="ok.pt")
    with pytest.raises(CheckpointError,
                       match=r"s\.pt: 1 tensor\(s\) .* a \[3, 2\] \(expected \[2, 3\]\)"):
        check_state_dict({"a": torch.ones(3, 2), "b": torch.ones(4)}, ref, path="s.pt")
    # ignored keys are not required
    check_state_dict({"a": torch.ones(2, 3)}, ref, path="i.pt", ignore=["b"])
