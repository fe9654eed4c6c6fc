"""The recipe data contract: the mini corpus's stage-1 tables pass; each way a fork's
local/data.sh can get it wrong is one line naming the file (and the stage that needs it)."""
import shutil
import subprocess
import sys

import pytest

from s5tse.fileio.contract import check_recipe_data, read_scene_root, write_scene_root
from s5tse.fileio.table import TableError
from s5tse.labels import InventoryError


@pytest.fixture
def data(mini_data, tmp_path):
    return shutil.copytree(mini_data, tmp_path / "data")


def test_stage_1_tables_hold_the_contract(mini_data):
    lines = check_recipe_data(mini_data, check_audio=True, sample_rate=32000)
    assert lines[0].endswith("lang/classes.txt: 18 classes")
    assert any(line.endswith("rirs_train: 1 rooms, 4 receivers") for line in lines)
    assert lines[-1].endswith("test: 4 mixtures")


@pytest.mark.parametrize("table, stages", [
    ("lang/classes.txt", "stages 2-7 (every model output, score and table)"),
    ("sound_event_train/utt2group", "stages 3-4 (training mixtures)"),
    ("noise_valid/wav.scp", "stages 3-4 (training mixtures)"),
    ("rirs_train/utt2positions", "stages 3-4 (training mixtures)"),
    ("valid/scene_root", "stages 2-4 (validation)"),
    ("test/utt2num_samples", "stages 5-6 (decoding, scoring)"),
])
def test_a_missing_table_names_itself_and_the_stages(data, table, stages):
    (data / table).unlink()
    with pytest.raises(TableError) as e:
        check_recipe_data(data)
    assert str(e.value) == (f"{data / table}: missing; {stages} need it: write it in "
                            f"local/data.sh (the data contract: s5tse/fileio/contract.py)")


def test_a_missing_pool_dir_and_an_optional_one(data):
    shutil.rmtree(data / "interference_train")  # optional: no interference
    check_recipe_data(data)
    shutil.rmtree(data / "rirs_valid")
    with pytest.raises(TableError, match=r"data/rirs_valid: missing; stages 3-4"):
        check_recipe_data(data)


def _edit(path, fn):
    path.write_text("".join(fn(line) + "\n" for line in path.read_text().splitlines()))


def test_bad_tables(data):
    _edit(data / "sound_event_valid" / "text", lambda ln: ln.rsplit(" ", 1)[0] + " Dog"
          if ln.startswith("Speech/") else ln)
    with pytest.raises(TableError, match=r"sound_event_valid/text: key 'Speech/.*': unknown label 'Dog'"):
        check_recipe_data(data)


def test_keys_that_do_not_match_their_siblings(data):
    _edit(data / "rirs_train" / "utt2num_channels", lambda ln: "other " + ln.split()[1])
    with pytest.raises(TableError, match=r"rirs_train/utt2num_channels: .*rirs\.scp"):
        check_recipe_data(data)


def test_positions_and_receivers(data):
    _edit(data / "rirs_train" / "utt2positions", lambda ln: ln + " 1.0")
    with pytest.raises(TableError, match=r"utt2positions: key .*: expected x y z per position"):
        check_recipe_data(data)


def test_noise_channels_must_match_the_rooms(data):
    _edit(data / "rirs_valid" / "utt2num_channels", lambda ln: ln.split()[0] + " 2")
    check_recipe_data(data)  # headers are read only with check_audio
    with pytest.raises(TableError, match=r"noise_valid/wav\.scp: key .* has 4 channels, expected 2"):
        check_recipe_data(data, check_audio=True)


def test_inventory_with_duplicates_or_blank_lines(data):
    path = data / "lang" / "classes.txt"
    path.write_text(path.read_text() + "Speech\n")
    with pytest.raises(InventoryError, match=r"classes\.txt:19: class 'Speech' already on line 16"):
        check_recipe_data(data)
    path.write_text("A\n\nB\n")
    with pytest.raises(InventoryError, match=r"classes\.txt:2: blank line"):
        check_recipe_data(data)


def test_scene_root(tmp_path):
    write_scene_root(tmp_path, tmp_path / ".." / tmp_path.name)
    assert read_scene_root(tmp_path) == tmp_path
    (tmp_path / "scene_root").write_text("a\nb\n")
    with pytest.raises(TableError, match="expected one line"):
        read_scene_root(tmp_path)


def test_cli_contract_mode(data, subprocess_env, repo_root):
    res = subprocess.run([sys.executable, "-m", "s5tse.bin.validate_data_dir", "--contract",
                          str(data), "--no_audio"], capture_output=True, text=True,
                         env=subprocess_env, cwd=repo_root)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == f"validate_data_dir: {data}: OK: the data contract holds"
    (data / "test" / "text").unlink()
    res = subprocess.run([sys.executable, "-m", "s5tse.bin.validate_data_dir", "--contract",
                          str(data), "--no_audio"], capture_output=True, text=True,
                         env=subprocess_env, cwd=repo_root)
    assert res.returncode == 1
    assert res.stderr.strip() == (f"validate_data_dir: error: {data / 'test' / 'text'}: missing; "
                                  f"stages 5-6 (decoding, scoring) need it: write it in "
                                  f"local/data.sh (the data contract: s5tse/fileio/contract.py)")
