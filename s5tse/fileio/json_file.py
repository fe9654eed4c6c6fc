"""Read a JSON file with one-line errors that name it (the project's single JSON reader).

    from s5tse.fileio.json_file import read_json
    scene = read_json("metadata/valid/mix_0000.json", "a scene JSON file", error=SceneError)

Errors (``error`` class, default :class:`ValueError`; the message always starts with the path):

* ``<path>: no such file``
* ``<path>: is a directory, expected <expected>``
* ``<path>: invalid JSON: <decoder message with line and column>``
* ``<path>: cannot read: <reason>`` (permissions, not UTF-8, ...)
"""
from __future__ import annotations

import json
import os
from typing import Any, Type, Union

__all__ = ["read_json"]

PathLike = Union[str, "os.PathLike[str]"]


def read_json(path: PathLike, expected: str = "a JSON file",
              error: Type[Exception] = ValueError) -> Any:
    """Parsed content of the UTF-8 JSON file ``path``; ``error`` (one line) otherwise."""
    name = os.fspath(path)
    try:
        with open(name, "r", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except IsADirectoryError:
        raise error(f"{name}: is a directory, expected {expected}") from None
    except json.JSONDecodeError as e:
        raise error(f"{name}: invalid JSON: {e}") from None
    except OSError as e:
        raise error(f"{name}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise error(f"{name}: cannot read: not UTF-8 ({e.reason} at byte {e.start})") from None
