"""Catalogue ops spelled the NumPy way, for engines whose API imitates NumPy.

mygrad, `jax.numpy` and `autograd.numpy` name things as NumPy does: `sum(x, axis=..,
keepdims=..)`, `swapaxes`, `clip`, `argmax`. `NumpyStyleOps` translates a catalogue call
(torch's name and signature) into such a namespace, and nothing more: `dim` becomes
`axis`, `keepdim` `keepdims`, `clamp` `clip`, `transpose` `swapaxes`, `max(dim=..)` the
pair `(max, argmax)`. What the engine then computes, values and gradients, is its own;
a difference from torch is a finding, never something to smooth over here.

Ops missing from the table, or whose function the namespace lacks, are not supported:
the kit counts programs using them as not applicable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# (namespace, args, kwargs) -> result; `namespace` looks names up in the engine's module.
Translation = Callable[[Any, Sequence[Any], Mapping[str, Any]], Any]


def _function(name: str) -> tuple[tuple[str, ...], Translation]:
    """`torch.<name>(x)` / `x.<name>()` is `ns.<name>(x)`."""
    return (name,), lambda ns, args, kwargs: getattr(ns, name)(*args)


def _reduction(name: str) -> tuple[tuple[str, ...], Translation]:
    """`x.sum(dim=d, keepdim=k)` is `ns.sum(x, axis=d, keepdims=k)` (no dim: all axes)."""
    def call(ns: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return getattr(ns, name)(args[0], axis=kwargs.get("dim"),
                                 keepdims=bool(kwargs.get("keepdim", False)))

    return (name,), call


def _extremum(name: str) -> tuple[tuple[str, ...], Translation]:
    """`x.max()` is `ns.max(x)`; `x.max(dim=d, keepdim=k)` is the pair of `ns.max` and
    `ns.argmax` along `d` (argmax's keepdims spelled with expand_dims: not every engine
    has it)."""
    def call(ns: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if "dim" not in kwargs:
            return getattr(ns, name)(args[0])
        dim, keepdim = kwargs["dim"], bool(kwargs.get("keepdim", False))
        values = getattr(ns, name)(args[0], axis=dim, keepdims=keepdim)
        indices = getattr(ns, f"arg{name}")(args[0], axis=dim)
        return values, ns.expand_dims(indices, dim) if keepdim else indices

    return (name, f"arg{name}", "expand_dims"), call


def _index(index: Any) -> Any:
    """A Python index with lists as arrays (jax rejects a list as an advanced index)."""
    if isinstance(index, list):
        return np.asarray(index)
    if isinstance(index, tuple):
        return tuple(_index(item) for item in index)
    return index


_TABLE: Mapping[str, tuple[tuple[str, ...], Translation]] = {
    "add": ((), lambda ns, a, k: a[0] + a[1]),
    "sub": ((), lambda ns, a, k: a[0] - a[1]),
    "mul": ((), lambda ns, a, k: a[0] * a[1]),
    "div": ((), lambda ns, a, k: a[0] / a[1]),
    "neg": ((), lambda ns, a, k: -a[0]),
    "pow": ((), lambda ns, a, k: a[0] ** a[1]),
    "matmul": ((), lambda ns, a, k: a[0] @ a[1]),
    "gt": ((), lambda ns, a, k: a[0] > a[1]),
    "getitem": ((), lambda ns, a, k: a[0][_index(a[1])]),
    "sum": _reduction("sum"),
    "mean": _reduction("mean"),
    "view": (("reshape",), lambda ns, a, k: ns.reshape(a[0], a[1])),
    "reshape": (("reshape",), lambda ns, a, k: ns.reshape(a[0], a[1])),
    "transpose": (("swapaxes",), lambda ns, a, k: ns.swapaxes(a[0], a[1], a[2])),
    **{name: _function(name) for name in ("exp", "log", "sin", "cos", "tanh", "sqrt", "abs",
                                          "sigmoid", "relu", "maximum", "minimum", "where")},
    "max": _extremum("max"),
    "min": _extremum("min"),
    "clamp": (("clip",), lambda ns, a, k: ns.clip(a[0], k.get("min"), k.get("max"))),
}


class _Namespace:
    """Names looked up in `extra` first, then in the engine's module."""

    def __init__(self, module: Any, extra: Mapping[str, Callable[..., Any]]) -> None:
        self._module, self._extra = module, dict(extra)

    def has(self, name: str) -> bool:
        return name in self._extra or hasattr(self._module, name)

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("_extra", {})
        return extra[name] if name in extra else getattr(self._module, name)


class NumpyStyleOps:
    """Runs catalogue ops on a NumPy-style module (see the module docstring).

    `extra` supplies functions the module keeps elsewhere, by torch name: for jax,
    `{"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}`.
    """

    def __init__(self, module: Any, extra: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.namespace = _Namespace(module, extra or {})

    def supports(self, op: str) -> bool:
        entry = _TABLE.get(op)
        return entry is not None and all(self.namespace.has(name) for name in entry[0])

    def __call__(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return _TABLE[op][1](self.namespace, args, kwargs)


SUPPORTED_OPS: frozenset[str] = frozenset(_TABLE)
