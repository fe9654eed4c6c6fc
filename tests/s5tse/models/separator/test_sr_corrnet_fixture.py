"""The separator's numerics and state-dict layout are pinned to commit e1ed361 (issue 14).

The reference is regenerated, never committed: ``fixtures/make_sr_corrnet_fixture.py`` runs on
the code of e1ed361 (before the speed-ups; ``git archive`` of the ``s5tse`` package into a
temporary folder) and writes a fixed-seed small model exercising frequency taps, FiLM
re-injection, duplicate classes, a silent slot and the auxiliary heads; its outputs in train and
eval mode, fixed random projections of its parameter gradients, and its state dict.
"""
import hashlib
import os
import subprocess
import sys
import tarfile
from io import BytesIO

import pytest
import torch

from s5tse.models.separator.sr_corrnet import SR_CORRNET_PRESETS, LabelQueriedSRCorrNet
from tests.conftest import REPO_ROOT

MAKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                     "make_sr_corrnet_fixture.py")
REFERENCE_REV = "e1ed3618de4383cd6abe3cae1a66d43962e322be"


@pytest.fixture(scope="module")
def ref_dir(tmp_path_factory):
    """Folder holding ``sr_corrnet_e1ed361{,_state}.pt`` written by the e1ed361 code."""
    git = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", REFERENCE_REV,
                          "s5tse"], capture_output=True)
    if git.returncode != 0:
        pytest.skip(f"commit {REFERENCE_REV[:7]} is not in this checkout (a shallow clone or no "
                    f"git): {git.stderr.decode().strip()}")
    root = tmp_path_factory.mktemp("e1ed361")
    with tarfile.open(fileobj=BytesIO(git.stdout)) as tar:
        tar.extractall(root / "code", filter="data")
    out = root / "ref"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(root / "code"))
    proc = subprocess.run([sys.executable, MAKER, str(out)], capture_output=True, text=True,
                          env=env, cwd=str(root))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(root / "code" / "s5tse")  # the old code made it
    return out


@pytest.fixture(scope="module")
def fx(ref_dir):
    return torch.load(ref_dir / "sr_corrnet_e1ed361.pt", weights_only=False)


def _model(fx, ref_dir, **overrides):
    model = LabelQueriedSRCorrNet(config={"num_classes": 18, **fx["config"], **overrides})
    state = torch.load(ref_dir / "sr_corrnet_e1ed361_state.pt")
    model.load_state_dict(state, strict=True)
    return model


def _close(new, ref, rtol=1e-5):
    """Max abs error within ``rtol`` of the reference's max magnitude (and elementwise rtol)."""
    torch.testing.assert_close(new, ref, rtol=rtol, atol=rtol * float(ref.abs().max()))


def _grad_projection(name, grad):
    g = torch.Generator().manual_seed(1000 + 7 * len(name) + grad.numel())
    r = torch.randn(3, grad.numel(), generator=g, dtype=torch.float64)
    return r @ grad.detach().double().flatten()


def _digest(state):
    lines = sorted(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_e1ed361_state_dict_loads_strictly(fx, ref_dir):
    model = _model(fx, ref_dir)
    state = torch.load(ref_dir / "sr_corrnet_e1ed361_state.pt")
    assert sorted(model.state_dict()) == sorted(state)


@pytest.mark.parametrize("preset", sorted(SR_CORRNET_PRESETS))
def test_preset_state_dict_layout_unchanged(fx, preset):
    # the digests were computed from the presets at e1ed361: same keys and shapes
    assert _digest(LabelQueriedSRCorrNet.from_preset(preset, num_classes=18).state_dict()) == fx["preset_key_digest"][preset]


# chunk sizes: the default (one chunk at this size) and 200 elements (many chunks of sequences)
@pytest.mark.parametrize("checkpointing,chunk", [(False, None), (True, None), ("stage", None),
                                                 (False, 200), ("stage", 200)])
def test_train_outputs_and_gradients_match_e1ed361(fx, ref_dir, checkpointing, chunk):
    model = _model(fx, ref_dir, activation_checkpointing=checkpointing).train()
    if chunk is not None:
        model.set_chunk_elements(chunk)
    y, ex = model(fx["mixture"], fx["strong"], fx["weak"])
    _close(y.detach(), fx["train_masked_y"])
    assert len(ex["aux"]) == len(fx["train_masked_aux"]) == 2
    for a, ref in zip(ex["aux"], fx["train_masked_aux"]):
        _close(a.detach(), ref)
    assert not ex["active"][1, 2] and (y[1, 2] == 0).all()
    g = torch.Generator().manual_seed(5)
    r = torch.randn(y.shape, generator=g)
    (torch.sum(y * r) + sum(0.5 * torch.sum(a * r) for a in ex["aux"])).backward()
    names = [n for n, _ in model.named_parameters()]
    assert names == fx["grad_names"]
    proj = torch.stack([_grad_projection(n, p.grad) for n, p in model.named_parameters()])
    ref = fx["grad_proj"]
    # per parameter, relative to the size of its projections (float32 backward, summation order)
    scale = ref.abs().amax(dim=1, keepdim=True).clamp_min(1e-3 * float(ref.abs().max()))
    assert float(((proj - ref).abs() / scale).max()) < 1e-4


@pytest.mark.parametrize("chunk", [None, 200])
def test_eval_outputs_match_e1ed361(fx, ref_dir, chunk):
    model = _model(fx, ref_dir).eval()
    if chunk is not None:
        model.set_chunk_elements(chunk)
    with torch.no_grad():
        y_all, ex = model(fx["mixture"], fx["strong_all"], fx["weak_all"])
        y_masked, _ = model(fx["mixture"], fx["strong"], fx["weak"])
    assert ex["active"].all() and ex["aux"] == []
    _close(y_all, fx["eval_all_y"])
    _close(y_masked, fx["train_masked_y"])  # no dropout: eval = train output
