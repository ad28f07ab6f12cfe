"""Catalogue ops spelled the NumPy way, for engines whose API imitates NumPy.

mygrad, `jax.numpy` and `autograd.numpy` name things as NumPy does: `sum(x, axis=..,
keepdims=..)`, `swapaxes`, `clip`, `argmax`. `NumpyStyleOps` translates a catalogue call
(torch's name and signature) into such a namespace, and nothing more: `dim` becomes
`axis`, `keepdim` `keepdims`, `clamp` `clip`, `transpose` `swapaxes`, `max(dim=..)` the
pair `(max, argmax)`, `var`'s default correction 1 an explicit `ddof=1`, torch's leniency
about dims (0 and -1 of a 0-dim tensor, `squeeze` of a dim whose size is not 1, a
negative `narrow` start) the NumPy call that means the same. What the engine then
computes, values and gradients, is its own; a difference from torch is a finding, never
something to smooth over here. (Same syntax with another meaning stays a finding too:
NumPy's `x[0, None, [0, 0]]` moves the advanced dimension first, torch's does not.)

Ops missing from the table, or whose function the namespace lacks, are not supported:
the kit counts programs using them as not applicable.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# (namespace, args, kwargs) -> result; `namespace` looks names up in the engine's module.
Translation = Callable[[Any, Sequence[Any], Mapping[str, Any]], Any]


def _function(name: str) -> tuple[tuple[str, ...], Translation]:
    """`torch.<name>(x)` / `x.<name>()` is `ns.<name>(x)`."""
    return (name,), lambda ns, args, kwargs: getattr(ns, name)(*args)


def _shape(x: Any) -> tuple[int, ...]:
    # The tensor's own attribute: np.shape() would go through __array_function__, which
    # engines such as mygrad do not all implement.
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _dim(x: Any, kwargs: Mapping[str, Any]) -> tuple[Any, bool]:
    """(axis, keepdims) for torch's `dim=`, `keepdim=`. torch lets a 0-dim tensor take
    dim 0 or -1 (itself); NumPy has no axis there, so it is a reduction over nothing."""
    if not _shape(x):
        return None, False
    return kwargs.get("dim"), bool(kwargs.get("keepdim", False))


def _reduction(name: str) -> tuple[tuple[str, ...], Translation]:
    """`x.sum(dim=d, keepdim=k)` is `ns.sum(x, axis=d, keepdims=k)` (no dim: all axes)."""
    def call(ns: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        axis, keepdims = _dim(args[0], kwargs)
        return getattr(ns, name)(args[0], axis=axis, keepdims=keepdims)

    return (name,), call


def _extremum(name: str) -> tuple[tuple[str, ...], Translation]:
    """`x.max()` is `ns.max(x)`; `x.max(dim=d, keepdim=k)` is the pair of `ns.max` and
    `ns.argmax` along `d` (argmax's keepdims spelled with expand_dims: not every engine
    has it)."""
    def call(ns: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if "dim" not in kwargs:
            return getattr(ns, name)(args[0])
        dim, keepdim = _dim(args[0], kwargs)
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


def _argument(name: str) -> tuple[tuple[str, ...], Translation]:
    """`x.argmax(dim=d, keepdim=k)` is `ns.argmax(x, axis=d)` (keepdims by expand_dims)."""
    def call(ns: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        dim, keepdim = _dim(args[0], kwargs)
        indices = getattr(ns, name)(args[0], axis=dim)
        return ns.expand_dims(indices, dim) if keepdim and dim is not None else indices

    return (name, "expand_dims"), call


def _spread(name: str) -> tuple[tuple[str, ...], Translation]:
    """`x.var(dim=d, keepdim=k, correction=c)` is `ns.var(x, axis=d, keepdims=k, ddof=c)`;
    torch's default correction is 1, NumPy's ddof 0."""
    def call(ns: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        axis, keepdims = _dim(args[0], kwargs)
        return getattr(ns, name)(args[0], axis=axis, ddof=kwargs.get("correction", 1),
                                 keepdims=keepdims)

    return (name,), call


def _along(rank: int, dim: int, item: Any) -> tuple[Any, ...]:
    """An index applying `item` along `dim` (`x.narrow`, `x.select`)."""
    return (slice(None),) * (dim % rank) + (item,)


def _narrowed(x: Any, dim: int, start: int, length: int) -> Any:
    """`x.narrow(dim, start, length)` (a negative start counts from the end)."""
    start %= _shape(x)[dim]
    return x[_along(len(_shape(x)), dim, slice(start, start + length))]


def _on_scalar(ns: Any, x: Any, op: Callable[[], Any]) -> Any:
    """`op()`, or for a 0-dim tensor (whose dims 0 and -1 torch accepts) a 0-dim copy."""
    return ns.reshape(x, ()) if not _shape(x) else op()


def _flattened(ns: Any, x: Any, start: int, end: int) -> Any:
    """`x.flatten(start, end)`: x itself when there is nothing to merge, as in torch (a
    0-dim tensor flattens to one element)."""
    shape = _shape(x)
    if not shape:
        return ns.reshape(x, (1,))
    start, end = start % len(shape), end % len(shape)
    if start == end:
        return x
    return ns.reshape(x, (*shape[:start], int(np.prod(shape[start:end + 1])), *shape[end + 1:]))


def _converted(x: Any, dtype: Any) -> Any:
    """`x.to(dtype)`, `x.float()`, `x.double()`: x itself if it has the dtype, as in torch."""
    name = getattr(dtype, "name", dtype)  # a program's DTypeArg, or the dtype's name
    return x if str(x.dtype) == name else x.astype(name)


def _squeezed(ns: Any, x: Any, dims: Any) -> Any:
    """`x.squeeze(dims)`: torch keeps dims whose size is not 1, NumPy rejects them."""
    shape = _shape(x)
    if not shape:
        return ns.reshape(x, ())
    wanted = range(len(shape)) if dims is None else dims if isinstance(dims, tuple) else (dims,)
    return ns.squeeze(x, axis=tuple(d for d in wanted if shape[d] == 1))


def _expanded(x: Any, sizes: Sequence[int]) -> tuple[int, ...]:
    """`x.expand(sizes)` target shape (-1 keeps the size x has there)."""
    shape = _shape(x)
    lead = len(sizes) - len(shape)
    return tuple(shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))


_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "pow": operator.pow, "pow.tensor_exponent": operator.pow, "pow.scalar_base": operator.pow,
    "matmul": operator.matmul, "mm": operator.matmul, "mv": operator.matmul,
    "dot": operator.matmul, "bmm": operator.matmul,
    "gt": operator.gt, "lt": operator.lt, "ge": operator.ge, "le": operator.le,
    "eq": operator.eq, "ne": operator.ne,
    "bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor,
}
_FUNCTIONS = ("exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sqrt", "abs",
              "reciprocal", "square", "sign", "floor", "ceil", "round", "sigmoid", "relu",
              "maximum", "minimum", "where", "logical_not", "logical_and", "logical_or",
              "logical_xor", "isnan", "isinf", "isfinite")


def _binary(function: Callable[[Any, Any], Any]) -> tuple[tuple[str, ...], Translation]:
    return (), lambda ns, a, k: function(a[0], a[1])


_TABLE: Mapping[str, tuple[tuple[str, ...], Translation]] = {
    **{name: _binary(function) for name, function in _OPERATORS.items()},
    **{name: _function(name) for name in _FUNCTIONS},
    "neg": ((), lambda ns, a, k: -a[0]),
    "bitwise_not": ((), lambda ns, a, k: ~a[0]),
    "rsub": ((), lambda ns, a, k: a[1] - k.get("alpha", 1) * a[0] if "alpha" in k
             else a[1] - a[0]),
    "sgn": (("sign",), lambda ns, a, k: ns.sign(a[0])),  # sign, for real tensors
    "F.relu": (("relu",), lambda ns, a, k: ns.relu(a[0])),
    "F.sigmoid": (("sigmoid",), lambda ns, a, k: ns.sigmoid(a[0])),
    "double": ((), lambda ns, a, k: _converted(a[0], "float64")),
    "float": ((), lambda ns, a, k: _converted(a[0], "float32")),
    "to": ((), lambda ns, a, k: _converted(a[0], a[1])),
    # -- selection
    "clamp": (("clip",), lambda ns, a, k: ns.clip(a[0], k.get("min"), k.get("max"))),
    "clip": (("clip",), lambda ns, a, k: ns.clip(a[0], k.get("min"), k.get("max"))),
    "clamp.tensor_bounds": (("clip",), lambda ns, a, k: ns.clip(
        a[0], a[1] if len(a) > 1 else k.get("min"), a[2] if len(a) > 2 else k.get("max"))),
    "clamp_min": (("clip",), lambda ns, a, k: ns.clip(a[0], a[1], None)),
    "clamp_max": (("clip",), lambda ns, a, k: ns.clip(a[0], None, a[1])),
    "masked_fill": (("where",), lambda ns, a, k: ns.where(a[1], a[2], a[0])),
    # -- reductions
    "sum": _reduction("sum"),
    "mean": _reduction("mean"),
    "prod": _reduction("prod"),
    "amax": _reduction("max"),
    "amin": _reduction("min"),
    "max": _extremum("max"),
    "min": _extremum("min"),
    "argmax": _argument("argmax"),
    "argmin": _argument("argmin"),
    "var": _spread("var"),
    "std": _spread("std"),
    "cumsum": (("cumsum",), lambda ns, a, k: _on_scalar(
        ns, a[0], lambda: ns.cumsum(a[0], axis=k["dim"]))),
    # -- shapes and views
    "view": (("reshape",), lambda ns, a, k: ns.reshape(a[0], a[1])),
    "reshape": (("reshape",), lambda ns, a, k: ns.reshape(a[0], a[1])),
    "flatten": (("reshape",), lambda ns, a, k: _flattened(
        ns, a[0], k.get("start_dim", 0), k.get("end_dim", -1))),
    "transpose": (("swapaxes",), lambda ns, a, k: _on_scalar(
        ns, a[0], lambda: ns.swapaxes(a[0], a[1], a[2]))),
    "t": (("transpose",), lambda ns, a, k: ns.transpose(a[0])),
    "T": (("transpose",), lambda ns, a, k: ns.transpose(a[0])),
    "mT": (("swapaxes",), lambda ns, a, k: ns.swapaxes(a[0], -2, -1)),
    "permute": (("transpose",), lambda ns, a, k: ns.transpose(a[0], a[1])),
    "unsqueeze": (("expand_dims",), lambda ns, a, k: ns.expand_dims(a[0], a[1])),
    "squeeze": (("squeeze",), lambda ns, a, k: _squeezed(ns, a[0], None)),
    "squeeze.dim": (("squeeze",), lambda ns, a, k: _squeezed(ns, a[0], a[1])),
    "squeeze.dims": (("squeeze",), lambda ns, a, k: _squeezed(ns, a[0], a[1])),
    "expand": (("broadcast_to",), lambda ns, a, k: ns.broadcast_to(a[0], _expanded(a[0], a[1]))),
    "broadcast_to": (("broadcast_to",), lambda ns, a, k: ns.broadcast_to(a[0], tuple(a[1]))),
    "expand_as": (("broadcast_to",), lambda ns, a, k: ns.broadcast_to(a[0], _shape(a[1]))),
    "narrow": ((), lambda ns, a, k: _narrowed(a[0], a[1], a[2], a[3])),
    "select": ((), lambda ns, a, k: a[0][_along(len(_shape(a[0])), a[1], a[2])]),
    "getitem": ((), lambda ns, a, k: a[0][_index(a[1])]),
    "getitem.advanced": ((), lambda ns, a, k: a[0][_index(a[1])]),
    # -- joining and rearranging
    "cat": (("concatenate",), lambda ns, a, k: ns.concatenate(list(a[0]), axis=k.get("dim", 0))),
    "stack": (("stack",), lambda ns, a, k: ns.stack(list(a[0]), axis=k.get("dim", 0))),
    "flip": (("flip",), lambda ns, a, k: _on_scalar(ns, a[0], lambda: ns.flip(a[0], axis=a[1]))),
    "repeat": (("tile",), lambda ns, a, k: ns.tile(a[0], a[1])),
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

# Ops torch answers with the tensor itself when there is nothing to do (`x.float()` of a
# float32 x, `x.flatten()` of a 1-dim x); the translations above then return x itself.
RETURNS_INPUT: frozenset[str] = frozenset({"float", "double", "to", "flatten"})

# Arguments an op reads only the shape of (no gradient flows to them), by position.
SHAPE_ONLY_ARGUMENTS: Mapping[str, frozenset[int]] = {"expand_as": frozenset({1})}
