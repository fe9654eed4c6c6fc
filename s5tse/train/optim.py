"""Optimizers by name, parameter freezing and per-group learning rates.

Config keys (see :mod:`s5tse.tasks.abs_task` for all defaults)::

    optim: adamw                    # adamw | adam | sgd
    optim_conf: {lr: 1.0e-3, weight_decay: 1.0e-2, amsgrad: false}
    freeze_param: [frontend.*]      # parameters left untouched (requires_grad=False)
    param_groups:                   # first matching group wins; the rest use optim_conf
      - {pattern: "encoder.*", lr: 1.0e-4}
      - {pattern: ["head.*", "re:.*\\.bias"], lr: 1.0e-3, weight_decay: 0.0}

Patterns are matched against ``model.named_parameters()`` names (the bare model, never
``module.``-prefixed): shell-style wildcards (:func:`fnmatch.fnmatchcase`), a module
prefix (``encoder`` matches ``encoder.conv.weight``, like ESPnet's ``--freeze_param``),
or a Python regular expression with a ``re:`` prefix (``re.fullmatch``). A pattern that
matches nothing is an error (it is almost always a typo).

    frozen = freeze_parameters(model, ["frontend"])
    opt = build_optimizer(model, "adamw", {"lr": 1e-3}, [{"pattern": "head.*", "lr": 1e-2}])
    [g["name"] for g in opt.param_groups]            # ['default', 'group1']
"""
from __future__ import annotations

import fnmatch
import re
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import torch

from s5tse.tasks.registry import Registry
from s5tse.utils.config import ConfigError

__all__ = [
    "OPTIMIZERS",
    "build_optimizer",
    "build_param_groups",
    "count_parameters",
    "freeze_parameters",
    "match_param",
]

OPTIMIZERS = Registry("optim")


@OPTIMIZERS.register("adamw")
def adamw(
    params: Any,
    lr: float = 1.0e-3,
    betas: Sequence[float] = (0.9, 0.999),
    eps: float = 1.0e-8,
    weight_decay: float = 1.0e-2,
    amsgrad: bool = False,
) -> torch.optim.Optimizer:
    """:class:`torch.optim.AdamW` (decoupled weight decay)."""
    return torch.optim.AdamW(
        params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
    )


@OPTIMIZERS.register("adam")
def adam(
    params: Any,
    lr: float = 1.0e-3,
    betas: Sequence[float] = (0.9, 0.999),
    eps: float = 1.0e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> torch.optim.Optimizer:
    """:class:`torch.optim.Adam` (L2 penalty added to the gradient)."""
    return torch.optim.Adam(
        params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
    )


@OPTIMIZERS.register("sgd")
def sgd(
    params: Any,
    lr: float = 1.0e-2,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> torch.optim.Optimizer:
    """:class:`torch.optim.SGD`."""
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov
    )


def match_param(name: str, pattern: str) -> bool:
    """True if parameter ``name`` matches ``pattern`` (wildcards, module prefix or ``re:``).

        >>> match_param("encoder.conv.weight", "encoder")
        True
        >>> match_param("encoder.conv.weight", "*.weight"), match_param("head.bias", "re:.*\\\\.bias")
        (True, True)
    """
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], name) is not None
    return (
        name == pattern
        or name.startswith(pattern + ".")
        or fnmatch.fnmatchcase(name, pattern)
    )


def _as_patterns(value: Union[str, Sequence[str]], where: str) -> List[str]:
    patterns = [value] if isinstance(value, str) else list(value)
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise ConfigError(f"{where}: expected a pattern or a list of patterns, got {value!r}")
    for p in patterns:
        if p.startswith("re:"):
            try:
                re.compile(p[3:])
            except re.error as exc:
                raise ConfigError(f"{where}: bad regular expression {p!r}: {exc}") from None
    return patterns


def freeze_parameters(model: torch.nn.Module, patterns: Sequence[str]) -> List[str]:
    """Set ``requires_grad=False`` on every parameter matching one of ``patterns``.

    Returns:
        the frozen parameter names. A pattern matching no parameter raises ConfigError.
    """
    patterns = _as_patterns(list(patterns), "freeze_param") if patterns else []
    frozen: List[str] = []
    used = set()
    for name, param in model.named_parameters():
        hits = [p for p in patterns if match_param(name, p)]
        if hits:
            used.update(hits)
            param.requires_grad_(False)
            frozen.append(name)
    unused = [p for p in patterns if p not in used]
    if unused:
        raise ConfigError(f"freeze_param: pattern {unused[0]!r} matches no parameter of the model")
    return frozen


def build_param_groups(
    model: torch.nn.Module,
    groups: Sequence[Mapping[str, Any]],
    allowed_options: Sequence[str] = ("lr", "weight_decay"),
) -> List[Dict[str, Any]]:
    """Split the trainable parameters into optimizer param groups.

    Args:
        model: the bare model.
        groups: ``[{pattern: str | [str], lr: float, ...}, ...]``; each parameter goes to
            the first group with a matching pattern; unmatched ones to a group named
            ``default`` (first, and left out if empty) using the optimizer's own settings.
        allowed_options: keys a group may set besides ``pattern`` (the optimizer's kwargs).
    Returns:
        a list of ``{"name", "params", **options}`` dicts for ``torch.optim``.
    """
    specs: List[Tuple[List[str], Dict[str, Any]]] = []
    for n, group in enumerate(groups, start=1):
        where = f"param_groups[{n - 1}]"
        if not isinstance(group, Mapping) or "pattern" not in group:
            raise ConfigError(f"{where}: expected a mapping with a 'pattern' key, got {group!r}")
        options = {k: v for k, v in group.items() if k != "pattern"}
        for key in options:
            if key not in allowed_options:
                raise ConfigError(
                    f"{where}: unknown key '{key}' (valid: pattern, {', '.join(allowed_options)})"
                )
        specs.append((_as_patterns(group["pattern"], where), options))

    default: List[torch.nn.Parameter] = []
    members: List[List[torch.nn.Parameter]] = [[] for _ in specs]
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        for k, (patterns, _) in enumerate(specs):
            if any(match_param(name, p) for p in patterns):
                members[k].append(param)
                break
        else:
            default.append(param)

    out: List[Dict[str, Any]] = []
    if default:
        out.append({"name": "default", "params": default})
    for k, ((patterns, options), params) in enumerate(zip(specs, members), start=1):
        if not params:
            raise ConfigError(
                f"param_groups[{k - 1}]: pattern {patterns!r} matches no trainable parameter "
                "(or only parameters claimed by an earlier group)"
            )
        out.append({"name": f"group{k}", "params": params, **options})
    if not out:
        raise ConfigError("the model has no trainable parameters (check freeze_param)")
    return out


def build_optimizer(
    model: torch.nn.Module,
    name: str,
    conf: Mapping[str, Any],
    param_groups: Sequence[Mapping[str, Any]] = (),
) -> torch.optim.Optimizer:
    """Optimizer ``name`` over the trainable parameters of ``model`` (see the module docstring)."""
    allowed = list(OPTIMIZERS.resolve_conf(name, conf, injected=("params",)))
    groups = build_param_groups(model, param_groups, allowed_options=allowed)
    return OPTIMIZERS.build(name, conf, params=groups)


def count_parameters(model: torch.nn.Module) -> Tuple[int, int]:
    """``(total, trainable)`` numbers of parameter elements."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
