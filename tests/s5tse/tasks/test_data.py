"""--train_data / --valid_data (the recipe's data/), classes and synthesis rules."""
import pytest

from s5tse.simulate.generator import GeneratorConfig
from s5tse.tasks.data import resolve_data_dir, resolve_synthesis, scene_dir_of
from s5tse.utils.config import ConfigError
from tests.conftest import DCASE_CLASSES_FILE


def test_data_dir_forms(mini_data, tmp_path):
    assert resolve_data_dir(mini_data) == mini_data
    assert scene_dir_of(mini_data, "valid") == mini_data / "valid"
    assert scene_dir_of(mini_data / "valid", "ignored") == mini_data / "valid"
    with pytest.raises(ConfigError, match="valid data: .*nowhere: no such directory"):
        resolve_data_dir(tmp_path / "nowhere", "valid data")
    with pytest.raises(ConfigError, match="no data dir given"):
        resolve_data_dir(None)


def test_synthesis_rules(repo_root, tmp_path):
    official = GeneratorConfig().to_dict()
    assert resolve_synthesis(None) == official
    # the DCASE recipe's rules file states the built-in defaults, field by field
    assert resolve_synthesis(repo_root / "egs/dcase2026_task4/conf/synthesis.yaml") == official
    rules = tmp_path / "rules.yaml"
    rules.write_text("nevent_range: [1, 2]\nsnr_range: [0, 5]\n")
    got = resolve_synthesis(str(rules))
    assert got == {**official, "nevent_range": [1, 2], "snr_range": [0.0, 5.0]} or \
        got == {**official, "nevent_range": [1, 2], "snr_range": [0, 5]}
    assert resolve_synthesis({"dupse_rate": 0.0})["dupse_rate"] == 0.0
    rules.write_text("nevents: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"rules\.yaml: .*unknown key\(s\) nevents"):
        resolve_synthesis(str(rules))
    rules.write_text("nevent_range: [3, 1]\n")
    with pytest.raises(ConfigError, match="low <= high"):
        resolve_synthesis(str(rules))
    with pytest.raises(ConfigError, match="expected a mapping"):
        resolve_synthesis([1, 2])


def test_dry_run_with_a_bad_data_dir_is_one_line(repo_root, tmp_path, capsys):
    from s5tse.bin.train import main

    conf = str(repo_root / "egs/dcase2026_task4/conf/tuning/train_tagger_m2dat_tiny.yaml")
    with pytest.raises(SystemExit) as exc:
        main(["--config", conf, "--dry_run", "--train_data", str(tmp_path / "nowhere"),
              "--valid_data", str(tmp_path / "nowhere"), "--classes", str(DCASE_CLASSES_FILE)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train data: " in err[0] and "nowhere" in err[0]


def test_dry_run_names_a_missing_pool_table(repo_root, mini_data, tmp_path, capsys):
    import shutil

    from s5tse.bin.train import main

    data = shutil.copytree(mini_data, tmp_path / "data")
    (data / "rirs_train" / "rirs.scp").unlink()
    conf = str(repo_root / "egs/dcase2026_task4/conf/tuning/train_tagger_m2dat_tiny.yaml")
    with pytest.raises(SystemExit) as exc:
        main(["--config", conf, "--dry_run", "--train_data", str(data), "--valid_data", str(data),
              "--classes", str(DCASE_CLASSES_FILE)])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rirs_train/rirs.scp: missing (stage 1, local/data.sh" in err[0]
