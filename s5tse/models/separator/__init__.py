"""Label-queried separators (import the submodules directly; only the base is re-exported)."""
from s5tse.models.separator.abs_separator import AbsSeparator

__all__ = ["AbsSeparator"]
