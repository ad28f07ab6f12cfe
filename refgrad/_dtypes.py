"""Data types and torch's type-promotion rules.

A dtype is a thin, named wrapper around a NumPy dtype. Promotion follows torch, which
differs from NumPy in one user-visible way: operands are ranked in three tiers —
tensors with dimensions, 0-dim tensors, and Python numbers — and a lower tier can only
raise the result's *category* (bool < integer < floating), never its width. So
``float32_tensor * 2.5`` and ``float32_tensor * tensor(2.5, dtype=float64)`` stay float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class dtype:
    name: str
    numpy: np.dtype
    legacy_type_name: str  # e.g. "FloatTensor", used in torch's error messages
    c_name: str  # e.g. "Float", used in other messages

    @property
    def is_floating_point(self) -> bool:
        return self.numpy.kind == "f"

    @property
    def is_signed(self) -> bool:
        return self.numpy.kind in "fi"

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    def __repr__(self) -> str:
        return f"torch.{self.name}"


float16 = dtype("float16", np.dtype(np.float16), "HalfTensor", "Half")
float32 = dtype("float32", np.dtype(np.float32), "FloatTensor", "Float")
float64 = dtype("float64", np.dtype(np.float64), "DoubleTensor", "Double")
uint8 = dtype("uint8", np.dtype(np.uint8), "ByteTensor", "Byte")
int8 = dtype("int8", np.dtype(np.int8), "CharTensor", "Char")
int16 = dtype("int16", np.dtype(np.int16), "ShortTensor", "Short")
int32 = dtype("int32", np.dtype(np.int32), "IntTensor", "Int")
int64 = dtype("int64", np.dtype(np.int64), "LongTensor", "Long")
bool_ = dtype("bool", np.dtype(np.bool_), "BoolTensor", "Bool")

ALL_DTYPES = (float16, float32, float64, uint8, int8, int16, int32, int64, bool_)
_BY_NUMPY = {d.numpy: d for d in ALL_DTYPES}

# torch's aliases, as attributes of the top-level module.
ALIASES = {
    "half": float16,
    "float": float32,
    "double": float64,
    "short": int16,
    "int": int32,
    "long": int64,
    "bool": bool_,
}

_default_float = float32


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d: dtype) -> None:
    global _default_float
    if not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _default_float = d


def from_numpy_dtype(np_dtype: np.dtype) -> dtype:
    try:
        return _BY_NUMPY[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np.dtype(np_dtype).type.__name__}. The only "
            "supported types are: float64, float32, float16, complex64, complex128, int64, "
            "int32, int16, int8, uint64, uint32, uint16, uint8, and bool."
        ) from None


def _category(d: dtype) -> int:
    return 0 if d is bool_ else (2 if d.is_floating_point else 1)


def promote_types(a: dtype, b: dtype) -> dtype:
    """torch.promote_types: the smallest dtype both a and b convert to safely."""
    if a is b:
        return a
    if _category(a) != _category(b):
        return a if _category(a) > _category(b) else b
    return from_numpy_dtype(np.promote_types(a.numpy, b.numpy))


def _combine_categories(higher: dtype | None, lower: dtype | None) -> dtype | None:
    """Let a lower tier raise the category of a higher tier's result, but not its width."""
    if higher is None:
        return lower
    if lower is None or higher.is_floating_point:
        return higher
    if higher is bool_ or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def _promote_tier(dtypes: list[dtype]) -> dtype | None:
    result: dtype | None = None
    for d in dtypes:
        result = d if result is None else promote_types(result, d)
    return result


def python_scalar_dtype(value: bool | int | float) -> dtype:
    """The dtype a Python number takes when it meets a tensor."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return _default_float


def result_type(dimensioned: list[dtype], zero_dim: list[dtype], scalars: list[dtype]) -> dtype:
    """torch.result_type over operands sorted into their three tiers."""
    combined = _combine_categories(
        _promote_tier(dimensioned),
        _combine_categories(_promote_tier(zero_dim), _promote_tier(scalars)),
    )
    assert combined is not None, "result_type needs at least one operand"
    return combined
