"""--train_data / --valid_data -> dataset root."""
import pytest

from s5tse.tasks.data import resolve_data_root
from s5tse.utils.config import ConfigError
from tests.conftest import DCASE_CLASSES_FILE


def test_data_root_forms(mini_corpus, tmp_path):
    assert resolve_data_root(mini_corpus) == mini_corpus
    assert resolve_data_root(mini_corpus / "data" / "dev_set") == mini_corpus
    (tmp_path / "corpus_root").write_text(f"{mini_corpus}\n")
    assert resolve_data_root(tmp_path) == mini_corpus
    with pytest.raises(ConfigError, match="valid data: .*not a dataset root"):
        resolve_data_root(tmp_path / "nowhere", "valid data")
    (tmp_path / "corpus_root").write_text(f"{tmp_path / 'nowhere'}\n")
    with pytest.raises(ConfigError, match="corpus_root: .*nowhere"):
        resolve_data_root(tmp_path)
    (tmp_path / "corpus_root").write_text("a\nb\n")
    with pytest.raises(ConfigError, match="expected one line"):
        resolve_data_root(tmp_path)
    with pytest.raises(ConfigError, match="no data dir given"):
        resolve_data_root(None)


def test_dry_run_with_a_bad_data_dir_is_one_line(repo_root, tmp_path, capsys):
    from s5tse.bin.train import main

    conf = str(repo_root / "egs/dcase2026_task4/conf/tuning/train_tagger_m2dat_tiny.yaml")
    with pytest.raises(SystemExit) as exc:
        main(["--config", conf, "--dry_run", "--train_data", str(tmp_path / "nowhere"),
              "--valid_data", str(tmp_path / "nowhere"), "--classes", str(DCASE_CLASSES_FILE)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train data: " in err[0] and "nowhere" in err[0]
