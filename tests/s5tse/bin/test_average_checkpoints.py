"""Tests for python -m s5tse.bin.average_checkpoints."""
import pytest
import torch

from s5tse.bin.average_checkpoints import main
from s5tse.train.checkpoint import save_checkpoint
from s5tse.train.reporter import Reporter


def test_explicit_files(tmp_path, capsys):
    for e, v in ((1, 1.0), (2, 4.0)):
        torch.save({"w": torch.tensor([v]), "n": torch.tensor(e)}, tmp_path / f"{e}epoch.pth")
    main([str(tmp_path / "1epoch.pth"), str(tmp_path / "2epoch.pth"), "--output", str(tmp_path / "a.pth")])
    avg = torch.load(tmp_path / "a.pth", weights_only=True)
    assert avg["w"].item() == 2.5 and avg["n"].item() == 1 and avg["n"].dtype == torch.int64
    assert "average of 2" in capsys.readouterr().out


def test_nbest_from_the_history(tmp_path):
    r = Reporter()
    for e, loss in ((1, 3.0), (2, 1.0), (3, 2.0)):
        r.record(e, "valid", {"loss": loss})
        torch.save({"w": torch.tensor([float(e)])}, tmp_path / f"{e}epoch.pth")
    save_checkpoint({"model": {}, "epoch": 3, "reporter": r.state_dict()}, tmp_path)
    main(["--exp_dir", str(tmp_path), "--criterion", "valid", "loss", "min", "--nbest", "2"])
    assert torch.load(tmp_path / "valid.loss.ave_2best.pth")["w"].item() == 2.5
    assert torch.load(tmp_path / "valid.loss.ave.pth")["w"].item() == 2.5


@pytest.mark.parametrize("argv, message", [
    ([], "give either input files"),
    (["x.pth"], "--output is required"),
    (["missing.pth", "--output", "o.pth"], "missing.pth: checkpoint file not found"),
    (["--exp_dir", "."], "no checkpoint.pth in ."),
])
def test_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1 and message in capsys.readouterr().err
