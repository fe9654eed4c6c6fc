"""egs/toyhome, a fork of the DCASE recipe for a dataset of another shape, and the README's
fork steps followed as written."""
import math
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.egs.test_run_sh import finite_rows, mixture_sdrs

RECIPE = "egs/toyhome"
TOYHOME_CLASSES = ["beep", "chime", "hum", "clatter", "steps", "voice"]
SHARED = {"run.sh": "../dcase2026_task4/run.sh", "path.sh": "../dcase2026_task4/path.sh",
          "cmd.sh": "../dcase2026_task4/cmd.sh", "utils": "../../utils"}


def test_the_fork_shares_everything_but_its_data_code(repo_root):
    """Its own files are local/, db.sh, conf/{synthesis.yaml,ci.conf} and RESULTS.md; run.sh,
    the wiring and the model configs are the DCASE recipe's (symlinks)."""
    recipe = repo_root / RECIPE
    for name, target in SHARED.items():
        assert os.readlink(recipe / name) == target, name
    assert os.readlink(recipe / "conf" / "tuning") == "../../dcase2026_task4/conf/tuning"
    own = sorted(p.relative_to(recipe).as_posix() for p in recipe.rglob("*")
                 if p.is_file() and not p.is_symlink() and not any(
                     part.is_symlink() for part in p.relative_to(recipe).parents
                     if (recipe / part) != recipe)
                 and p.relative_to(recipe).parts[0] not in ("ci", "corpus", "data", "dump", "exp"))
    assert own == ["RESULTS.md", "conf/ci.conf", "conf/synthesis.yaml", "db.sh", "local/data.sh",
                   "local/make_corpus.py", "local/prepare_data.py"]


def fork_steps(repo_root):
    """The shell lines of the README's fork steps (between the fork-steps markers)."""
    text = (repo_root / "README.md").read_text()
    block = text.split("<!-- fork-steps -->", 1)[1].split("<!-- /fork-steps -->", 1)[0]
    body = block.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in body.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_readme_fork_steps(repo_root, subprocess_env, tmp_path):
    """Steps 1-4 run as written in a mirror of the repository (step 5, training to RESULTS.md,
    is the same run.sh on the same tables: the CI profile test below runs it)."""
    steps = fork_steps(repo_root)
    assert steps[-1] == "./run.sh --stage 3"
    mirror = tmp_path / "repo"
    (mirror / "egs").mkdir(parents=True)
    for rel in ("egs/dcase2026_task4", "egs/toyhome", "utils", "tools", "README.md"):
        (mirror / rel).symlink_to(repo_root / rel)
    env = dict(subprocess_env)
    env.pop("TOYHOME", None)
    script = "set -euo pipefail\n" + "\n".join(steps[:-1]) + "\n"
    res = subprocess.run(["bash", "-c", script], cwd=mirror, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    fork = mirror / "egs" / "mydata"
    assert os.readlink(fork / "run.sh") == "../dcase2026_task4/run.sh"
    assert "the data contract holds" in res.stdout
    assert (fork / "data" / "lang" / "classes.txt").read_text().split() == TOYHOME_CLASSES
    assert len(list((fork / "dump" / "valid" / "soundscape").glob("*.wav"))) == 8
    assert re.search(r"Stage 2 done", res.stdout)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_toyhome_ci_profile_stages_1_to_6(repo_root, subprocess_env, tmp_path):
    env = dict(subprocess_env, TOYHOME=str(tmp_path / "corpus"))
    results = tmp_path / "RESULTS.md"
    exp = tmp_path / "exp"
    res = subprocess.run(
        ["./run.sh", "--config", "conf/ci.conf", "--stop-stage", "6", "--datadir",
         str(tmp_path / "data"), "--dumpdir", str(tmp_path / "dump"), "--expdir", str(exp),
         "--results", str(results)],
        cwd=repo_root / RECIPE, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for n in range(7):
        assert re.search(rf"Stage {n} done \[elapsed=\d+s\]", res.stdout), n
    data = tmp_path / "data"
    assert (data / "lang" / "classes.txt").read_text().split() == TOYHOME_CLASSES
    assert len((data / "test" / "wav.scp").read_text().splitlines()) == 4
    # the experiments carry the fork's classes and synthesis rules
    import yaml

    config = yaml.safe_load((exp / "separator_lq_sr_corrnet_tiny" / "config.yaml").read_text())
    assert config["classes"] == TOYHOME_CLASSES
    assert config["synthesis"]["snr_range"] == [3.0, 15.0] and config["synthesis"]["dupse_rate"] == 0.3
    # estimated labels are ToyHome classes; oracle labels reproduce the references
    for text in exp.glob("*/decode_*/text"):
        labels = {w for line in text.read_text().splitlines() for w in line.split()[1:]}
        assert labels <= set(TOYHOME_CLASSES) | {"silence"}, text
    rows = finite_rows(results.read_text())
    assert all(math.isfinite(v) for values in rows.values() for v in values)
    systems = {"separator_lq_sr_corrnet_tiny": "lq_sr_corrnet", "separator_resunetk_tiny": "resunetk"}
    for system, sep in systems.items():
        assert rows[(system, sep, "oracle", "test")][1:] == (100.0, 100.0)
    mixture = mixture_sdrs(results.read_text())
    assert set(mixture) == {(system, "test") for system in systems}
    assert all(math.isfinite(v) for v in mixture.values())
    assert "(reported)" not in results.read_text()
