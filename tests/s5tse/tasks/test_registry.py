"""Tests for s5tse.tasks.registry and s5tse.tasks.get_task."""
import pytest

from s5tse.tasks import TASK_NAMES, get_task
from s5tse.tasks.registry import Registry, RegistryError
from s5tse.utils.config import ConfigError


@pytest.fixture
def reg():
    r = Registry("model")

    @r.register("small")
    class Small:
        def __init__(self, dim: int = 4, betas=(0.9, 0.99), act: str = "relu", obj=object()):
            self.dim, self.betas, self.act = dim, betas, act

    @r.register("Open")
    def open_factory(seed, **kwargs):
        return (seed, kwargs)

    return r


def test_names_and_lookup_are_lowercase(reg):
    assert reg.names() == ["open", "small"]
    assert "SMALL" in reg and "big" not in reg
    assert reg.get("Small") is reg.get("small")


def test_unknown_name_lists_the_choices(reg):
    with pytest.raises(RegistryError, match=r"^unknown model 'big' \(choices: open, small\)$") as exc:
        reg.get("big")
    assert isinstance(exc.value, ConfigError) and "\n" not in str(exc.value)
    with pytest.raises(RegistryError, match="no name given"):
        reg.get("")


def test_default_kwargs_are_plain_yaml_data(reg):
    # tuples become lists, non-data defaults are left out, injected names too
    assert reg.default_kwargs("small") == {"dim": 4, "betas": [0.9, 0.99], "act": "relu"}
    assert reg.default_kwargs("small", injected=("dim",)) == {"betas": [0.9, 0.99], "act": "relu"}
    assert reg.default_kwargs("open") == {}


def test_resolve_conf_fills_defaults_and_checks_keys(reg):
    assert reg.resolve_conf("small", {"dim": 8}) == {"dim": 8, "betas": [0.9, 0.99], "act": "relu"}
    with pytest.raises(RegistryError, match=r"unknown key 'dimm' for model 'small' \(valid: dim, betas, act, obj\)"):
        reg.resolve_conf("small", {"dimm": 8})
    with pytest.raises(RegistryError, match="'seed' is set by the engine"):
        reg.resolve_conf("open", {"seed": 1}, injected=("seed",))
    # **kwargs: any key accepted
    assert reg.resolve_conf("open", {"anything": 1}, injected=("seed",)) == {"anything": 1}


def test_build_passes_injected_and_conf(reg):
    obj = reg.build("small", {"dim": 2})
    assert obj.dim == 2 and obj.act == "relu"
    assert reg.build("open", {"a": 1}, seed=5) == (5, {"a": 1})


def test_register_twice(reg):
    class Other:
        pass

    with pytest.raises(ValueError, match="already registered"):
        reg.register("small", Other)
    reg.register("other", Other)
    reg.register("other", Other)  # same object again: fine
    reg.unregister("other")
    assert "other" not in reg


def test_get_task():
    assert TASK_NAMES == ("pretrain", "separator", "tagger", "toy")
    task = get_task("toy")
    assert task.name == "toy" and not task.requires_data
    with pytest.raises(RegistryError, match=r"unknown task 'asr' \(choices: pretrain, separator, tagger, toy\)"):
        get_task("asr")
