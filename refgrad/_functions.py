"""The ``torch.<op>(tensor, ...)`` spellings of tensor methods, and the list-taking ops."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

from refgrad._tensor import Operand, Tensor
from refgrad.ops import composite
from refgrad.ops import derivatives as D

cat = composite.cat
concat = composite.cat
concatenate = composite.cat
stack = composite.stack


# These also take a Python number as input when the other operand is a tensor: torch.add(2, x)
# is an AddBackward0 with no edge for the 2 (unlike 2 + x, which is x.__radd__(2)).
_NUMBER_INPUT: dict[str, Callable[..., Tensor]] = {
    "add": functools.partial(D.add, alpha=1),
    "sub": functools.partial(D.sub, alpha=1),
    "subtract": functools.partial(D.sub, alpha=1),
    "mul": D.mul,
    "multiply": D.mul,
    "div": D.div,
    "divide": D.div,
}
_POSITION = re.compile(r"\(position (\d+)\) must be")


def _method(name: str) -> Any:
    """torch.<name>(input, *args, **kwargs) == input.<name>(*args, **kwargs)."""

    def function(input: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            if name in _NUMBER_INPUT and args and isinstance(args[0], Tensor):
                return _NUMBER_INPUT[name](input, *args, **kwargs)
            raise TypeError(
                f"{name}(): argument 'input' (position 1) must be Tensor, not "
                f"{type(input).__name__}"
            )
        try:
            return getattr(input, name)(*args, **kwargs)
        except TypeError as error:
            # An argument the method calls position k is at k + 1 here, after `input`.
            shifted = _POSITION.sub(lambda m: f"(position {int(m[1]) + 1}) must be", str(error))
            if shifted == str(error):
                raise
            raise TypeError(shifted) from None

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"torch.{name}(input, ...): the same as ``input.{name}(...)``."
    return function


_METHODS = (
    "abs",
    "add",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "bmm",
    "ceil",
    "chunk",
    "clamp",
    "clip",
    "clamp_min",
    "clamp_max",
    "clone",
    "cos",
    "cumsum",
    "div",
    "dot",
    "exp",
    "expm1",
    "flatten",
    "flip",
    "floor",
    "gather",
    "isfinite",
    "isinf",
    "isnan",
    "log",
    "log1p",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "logsumexp",
    "masked_fill",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mm",
    "mul",
    "mv",
    "narrow",
    "ne",
    "neg",
    "norm",
    "permute",
    "pow",
    "prod",
    "reciprocal",
    "relu",
    "reshape",
    "round",
    "rsqrt",
    "select",
    "sgn",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "std",
    "sub",
    "sum",
    "t",
    "tan",
    "tanh",
    "transpose",
    "unbind",
    "unsqueeze",
    "var",
    "eq",
    "lt",
    "le",
    "gt",
    "ge",
    "broadcast_to",
    "detach",
)
for _name in _METHODS:
    globals()[_name] = _method(_name)

multiply = globals()["mul"]
subtract = globals()["sub"]
divide = globals()["div"]
negative = globals()["neg"]
absolute = globals()["abs"]
swapaxes = globals()["transpose"]


def pow(input: Operand, exponent: Operand) -> Tensor:
    if isinstance(input, Tensor):
        return input.pow(exponent)
    assert isinstance(exponent, Tensor)
    return D.pow_scalar_base(input, exponent)


def rsub(input: Tensor, other: Operand, *, alpha: float = 1) -> Tensor:
    if isinstance(other, Tensor):
        return D.rsub_tensor(input, other, alpha=alpha)
    return D.rsub(input, other, alpha=alpha)


def where(condition: Tensor, input: Operand, other: Operand) -> Tensor:
    return D.where(condition, input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    # As torch composes it: self.reshape(n, 1) * vec2 (a ViewBackward0 on self only).
    for name, vector in (("self", input), ("vec2", vec2)):
        if vector.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {vector.ndim}-D")
    return input.reshape(input.shape[0], 1) * vec2


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    return input.numel()


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Each tensor expanded to the common shape; one that has it already comes back as is."""
    shape = D.broadcast_shape(*(tuple(t.shape) for t in tensors))
    return tuple(t if t.shape == shape else t.expand(shape) for t in tensors)


def split(
    tensor: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0
) -> tuple[Tensor, ...]:
    return tensor.split(split_size_or_sections, dim)


# What ``from refgrad._functions import *`` puts in the top-level namespace (not Any, Tensor, ...).
__all__ = sorted(
    {*_METHODS, "cat", "concat", "concatenate", "stack", "multiply", "subtract", "divide"}
    | {"negative", "absolute", "swapaxes", "pow", "rsub", "where", "outer", "is_tensor"}
    | {"numel", "broadcast_tensors", "split"}
)
