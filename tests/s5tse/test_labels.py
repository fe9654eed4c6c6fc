"""Tests for s5tse.labels (the class inventory) and the DCASE class list of s5tse.corpus.dcase."""
import ast
from pathlib import Path

import numpy as np
import pytest

from s5tse.corpus.dcase import DCASE2026, DCASE2026_CLASSES
from s5tse.labels import (
    NUM_SLOTS,
    SILENCE,
    ClassInventory,
    InventoryError,
    find_inventory,
)
from tests.conftest import REPO_ROOT

OFFICIAL = [
    "AlarmClock", "BicycleBell", "Blender", "Buzzer", "Clapping", "Cough",
    "CupboardOpenClose", "Dishes", "Doorbell", "FootSteps", "HairDryer", "MechanicalFans",
    "MusicalKeyboard", "Percussion", "Pour", "Speech", "Typing", "VacuumCleaner",
]
PETS = ClassInventory(["Dog", "Cat", "Parrot"])


def test_dcase_class_list_and_order():
    assert list(DCASE2026_CLASSES) == OFFICIAL
    assert DCASE2026.num_classes == 18 == DCASE2026.silence_index
    assert SILENCE == "silence" and NUM_SLOTS == 3


def test_index_round_trip():
    for i, name in enumerate(OFFICIAL):
        assert DCASE2026.label_to_index(name) == i
        assert DCASE2026.index_to_label(i) == name
    assert PETS.label_to_index("Parrot") == 2 and PETS.label_to_index("silence") == 3
    assert PETS.index_to_label(3) == "silence"
    for bad in (-1, 4, 2.5, "3"):
        with pytest.raises(ValueError):
            PETS.index_to_label(bad)
    assert DCASE2026.index_to_label(np.int64(4)) == "Clapping"


def test_check_label_error_names_context_and_lists_valid_labels():
    assert PETS.check_label("Dog") == "Dog"
    with pytest.raises(InventoryError) as exc:
        PETS.check_label("Guitar", where="events/train/Guitar/1.wav")
    msg = str(exc.value)
    assert "'Guitar'" in msg and "events/train/Guitar/1.wav" in msg
    assert "Dog, Cat, Parrot" in msg and "silence" not in msg
    with pytest.raises(ValueError, match="did you mean 'Cat'"):
        PETS.check_label("cat")
    with pytest.raises(ValueError, match="did you mean 'Parrot'"):
        PETS.check_label("Parot")
    with pytest.raises(ValueError):
        PETS.check_label("silence")
    assert PETS.check_label("silence", allow_silence=True) == "silence"


def test_multi_hot_and_one_hot_slots():
    v = DCASE2026.multi_hot(["Speech", "Dishes", "Speech", "silence"])
    assert v.shape == (18,) and v.dtype == np.float32
    assert set(np.flatnonzero(v)) == {7, 15}
    m = PETS.one_hot_slots(["Cat", "Cat"])
    assert m.shape == (3, 4) and list(m.argmax(1)) == [1, 1, 3]
    np.testing.assert_array_equal(m.sum(1), 1.0)
    with pytest.raises(ValueError):
        PETS.one_hot_slots(["Cat"] * 4)
    with pytest.raises(ValueError):
        PETS.multi_hot(["Guitar"])


@pytest.mark.parametrize("bad, message", [
    ([], "no classes"),
    (["Dog", "Dog"], "listed twice"),
    (["Dog", "silence"], "not a class"),
    (["Hair Dryer"], "without whitespace"),
    ([""], "without whitespace"),
])
def test_bad_inventories(bad, message):
    with pytest.raises(InventoryError, match=message):
        ClassInventory(bad)


def test_file_round_trip_and_line_errors(tmp_path):
    path = tmp_path / "lang" / "classes.txt"
    PETS.write(path)
    assert path.read_text() == "Dog\nCat\nParrot\n"
    assert ClassInventory.read(path) == PETS
    for text, message in (("Dog\n\nCat\n", ":2: blank line"), ("Dog\nCat\nDog\n", ":3: class 'Dog' already on line 1"),
                          ("Dog\nHair Dryer\n", ":2: 'Hair Dryer' is not one class name"),
                          ("Dog\n Cat\n", ":2:")):
        path.write_text(text)
        with pytest.raises(InventoryError, match=message) as exc:
            ClassInventory.read(path)
        assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(InventoryError, match="no such class inventory"):
        ClassInventory.read(tmp_path / "nope.txt")


def test_find_inventory_and_config(tmp_path):
    PETS.write(tmp_path / "data" / "lang" / "classes.txt")
    (tmp_path / "data" / "test").mkdir()
    assert find_inventory(tmp_path / "data" / "test") == PETS
    assert find_inventory(tmp_path / "data") == PETS
    with pytest.raises(InventoryError, match="lang/classes.txt"):
        find_inventory(tmp_path)
    assert ClassInventory.from_config({"classes": ["Dog", "Cat", "Parrot"]}) == PETS
    with pytest.raises(InventoryError, match="no 'classes' list"):
        ClassInventory.from_config({}, where="exp/x/config.yaml")
    with pytest.raises(InventoryError) as exc:
        PETS.check_same(DCASE2026, "separator exp/a", "data/lang/classes.txt")
    assert "['Dog', 'Cat', 'Parrot']" in str(exc.value) and "'AlarmClock'" in str(exc.value)


def _code_strings(path: Path):
    """String constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def test_only_the_corpus_code_names_the_dcase_classes():
    """Outside s5tse/corpus/ no code string is a DCASE class name: the classes come from the
    inventory (data/lang/classes.txt)."""
    names = set(OFFICIAL)
    hits = []
    for path in sorted((REPO_ROOT / "s5tse").rglob("*.py")):
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel.startswith("s5tse/corpus/"):
            continue
        hits += [f"{rel}:{line}: {value!r}" for line, value in _code_strings(path) if value in names]
    assert hits == []
