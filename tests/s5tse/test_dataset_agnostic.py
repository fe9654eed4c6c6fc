"""Issue 13: outside ``s5tse/corpus`` no module names a DCASE class or assumes their number.

The class list comes from ``data/lang/classes.txt`` (``s5tse.labels.ClassInventory``); a fork with
six classes must not inherit a silent 18/19 default anywhere in the models, losses or bridge.
"""
import ast
from pathlib import Path

import pytest

from s5tse.corpus.dcase import DCASE2026_CLASSES
from tests.conftest import REPO_ROOT

PACKAGE = Path(REPO_ROOT) / "s5tse"
COUNT_NAMES = {"num_classes", "silence_index", "num_slot_classes", "n_classes"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "corpus" not in path.relative_to(PACKAGE).parts:
            yield path


def _docstring_nodes(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                yield body[0].value


def _problems(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {id(n) for n in _docstring_nodes(tree)}
    classes = set(DCASE2026_CLASSES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            named = classes.intersection(node.value.replace(",", " ").split())
            if named:
                yield f"{path}:{node.lineno}: names DCASE class(es) {sorted(named)}"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            for arg, default in pairs:
                if arg.arg in COUNT_NAMES and isinstance(default, ast.Constant) and default.value is not None:
                    yield f"{path}:{node.lineno}: {node.name}({arg.arg}={default.value!r})"
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.target.id in COUNT_NAMES and isinstance(node.value, ast.Constant)
                and node.value.value is not None):
            yield f"{path}:{node.lineno}: field {node.target.id} = {node.value.value!r}"


def test_no_module_outside_corpus_names_the_dcase_classes_or_their_count():
    problems = [p for path in _modules() for p in _problems(path)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Doc mentions Speech."""\n'
                   'LABELS = ["Speech", "Doorbell"]\n'
                   'def head(dim, num_classes=18):\n    pass\n'
                   'def loss(*, silence_index=18):\n    pass\n'
                   'class Cfg:\n    num_classes: int = 18\n')
    found = sorted(p.split(": ", 1)[1] for p in _problems(bad))
    assert found == ["field num_classes = 18", "head(num_classes=18)", "loss(silence_index=18)",
                     "names DCASE class(es) ['Doorbell']", "names DCASE class(es) ['Speech']"]


@pytest.mark.parametrize("name", ["PerSourceHead", "BaselineSlotHead"])
def test_heads_need_the_class_count(name):
    import s5tse.models.tagger.heads as heads
    with pytest.raises(TypeError, match="num_classes"):
        getattr(heads, name)(64)
