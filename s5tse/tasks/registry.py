"""Name -> class registries for the ``<name>`` + ``<name>_conf`` config pattern (ESPnet2 style).

A registry maps a lower-case name to a class or factory function. The config names it
(``model: toy_conv``) and gives keyword arguments (``model_conf: {channels: 8}``); the
registry checks the keys against the signature, fills in the defaults (what
``--print_config`` shows) and builds the object::

    MODELS = Registry("model")

    @MODELS.register("toy_conv")
    class ToyConvNet(torch.nn.Module):
        def __init__(self, channels: int = 16, kernel_size: int = 9): ...

    MODELS.default_kwargs("toy_conv")               # {'channels': 16, 'kernel_size': 9}
    MODELS.resolve_conf("toy_conv", {"channels": 8})  # {'channels': 8, 'kernel_size': 9}
    net = MODELS.build("toy_conv", {"channels": 8})

Arguments the engine supplies itself (``params`` of an optimizer, ``seed`` of a dataset)
are passed as ``injected`` names: they are left out of the defaults and refused in the
config. Every error is a one-line :class:`RegistryError` (a ``ConfigError``).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from s5tse.utils.config import ConfigError

__all__ = ["Registry", "RegistryError"]

_PLAIN = (type(None), bool, int, float, str)
# __init__ of base classes that take no configuration (a subclass without its own __init__)
_BASE_INITS = ("object.__init__", "Module.__init__")


class RegistryError(ConfigError):
    """Unknown name or bad keyword argument in a registry lookup; the message is one line."""


def _yaml_value(value: Any) -> Any:
    """``value`` as plain YAML data (tuples -> lists), or raise TypeError if impossible."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return [_yaml_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _yaml_value(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


class Registry:
    """A named table of classes/factories, looked up by lower-case name.

    Args:
        kind: what is registered (``"model"``, ``"optim"``); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._table: Dict[str, Callable[..., Any]] = {}

    # ------------------------------------------------------------- registration
    def register(self, name: str, obj: Optional[Callable[..., Any]] = None) -> Any:
        """Register ``obj`` under ``name``; without ``obj`` return a decorator.

        A name may be registered once; re-registering the same object is a no-op
        (module reloads), a different one raises ValueError.
        """
        key = name.lower()

        def add(target: Callable[..., Any]) -> Callable[..., Any]:
            old = self._table.get(key)
            if old is not None and old is not target and (
                getattr(old, "__qualname__", None) != getattr(target, "__qualname__", None)
                or getattr(old, "__module__", None) != getattr(target, "__module__", None)
            ):
                raise ValueError(f"{self.kind} '{key}' is already registered ({old!r})")
            self._table[key] = target
            return target

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests that register temporary entries)."""
        self._table.pop(name.lower(), None)

    # ------------------------------------------------------------------ lookup
    def names(self) -> List[str]:
        """Registered names, sorted."""
        return sorted(self._table)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._table

    def __len__(self) -> int:
        return len(self._table)

    def get(self, name: str) -> Callable[..., Any]:
        """The class/factory registered as ``name``; unknown -> RegistryError listing the choices."""
        if not isinstance(name, str) or not name:
            raise RegistryError(
                f"{self.kind}: no name given (choices: {', '.join(self.names()) or 'none'})"
            )
        try:
            return self._table[name.lower()]
        except KeyError:
            raise RegistryError(
                f"unknown {self.kind} '{name}' (choices: {', '.join(self.names()) or 'none'})"
            ) from None

    # ------------------------------------------------------------------ kwargs
    def _parameters(self, name: str) -> Optional[Dict[str, inspect.Parameter]]:
        """Constructor parameters; {} for a class without its own ``__init__``, None if unknown."""
        target = self.get(name)
        if inspect.isclass(target) and getattr(target.__init__, "__qualname__", "") in _BASE_INITS:
            return {}
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):  # builtins without a signature
            return None
        return dict(sig.parameters)

    def accepts_any_kwargs(self, name: str) -> bool:
        """True if the class/factory takes ``**kwargs`` or cannot be inspected."""
        params = self._parameters(name)
        return params is None or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def default_kwargs(self, name: str, injected: Iterable[str] = ()) -> Dict[str, Any]:
        """Keyword arguments of ``name`` that have a YAML-representable default.

        Arguments without a default, ``*args``/``**kwargs``, names in ``injected`` and
        defaults that are not plain data (objects, callables) are left out.
        """
        skip = set(injected)
        out: Dict[str, Any] = {}
        for pname, p in (self._parameters(name) or {}).items():
            if pname in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.default is inspect.Parameter.empty:
                continue
            try:
                out[pname] = _yaml_value(p.default)
            except TypeError:
                continue
        return out

    def check_kwargs(self, name: str, conf: Mapping[str, Any], injected: Iterable[str] = ()) -> None:
        """Raise RegistryError for keys ``name`` does not take, or that the engine supplies."""
        injected = set(injected)
        params = self._parameters(name)
        for key in conf:
            if key in injected:
                raise RegistryError(
                    f"{self.kind}_conf: '{key}' is set by the engine and cannot be configured"
                )
        if self.accepts_any_kwargs(name):
            return
        valid = [
            k for k, p in params.items()
            if k not in injected and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        for key in conf:
            if key not in valid:
                raise RegistryError(
                    f"{self.kind}_conf: unknown key '{key}' for {self.kind} '{name}' "
                    f"(valid: {', '.join(valid) or 'none'})"
                )

    def resolve_conf(
        self, name: str, conf: Optional[Mapping[str, Any]] = None, injected: Iterable[str] = ()
    ) -> Dict[str, Any]:
        """The signature defaults of ``name`` updated with ``conf`` (checked)."""
        conf = dict(conf or {})
        self.check_kwargs(name, conf, injected)
        out = self.default_kwargs(name, injected)
        out.update(conf)
        return out

    def build(self, name: str, conf: Optional[Mapping[str, Any]] = None, **injected: Any) -> Any:
        """Instantiate ``name`` with ``**injected`` and ``**conf`` (conf keys checked)."""
        conf = dict(conf or {})
        self.check_kwargs(name, conf, injected)
        return self.get(name)(**injected, **conf)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
