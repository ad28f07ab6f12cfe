"""Ways to make a tensor: from data, filled, ranges, random.

Random numbers come from NumPy's generator, seeded by ``manual_seed``: the same seed
gives the same numbers run after run, but not the numbers torch would draw.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from refgrad import _dtypes
from refgrad._dtypes import dtype
from refgrad._tensor import Tensor, _flatten_size
from refgrad.autograd.grad_mode import _GradState

FACTORY_REQUIRES_GRAD_ERROR = (
    "Only Tensors of floating point and complex dtype can require gradients"
)
COPY_CONSTRUCT_WARNING = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() "
    "or sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor)."
)

_DEFAULT_SEED = 67280421310721  # torch's default initial seed, for familiarity
_rng = np.random.default_rng(_DEFAULT_SEED)


def manual_seed(seed: int) -> np.random.Generator:
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def _generator() -> np.random.Generator:
    return _rng


def _finish(array: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._from_array(array)
    t._is_inference = _GradState.inference
    if requires_grad:
        if not t._dtype.is_floating_point:
            raise RuntimeError(FACTORY_REQUIRES_GRAD_ERROR)
        t._requires_grad = True
    return t


def _numpy_dtype(d: dtype | None, default: dtype) -> np.dtype:
    return (d or default).numpy


def tensor(
    data: Any, dtype: dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """A new tensor holding a copy of `data` (numbers, nested lists, arrays, tensors)."""
    if isinstance(data, Tensor):
        warnings.warn(COPY_CONSTRUCT_WARNING, UserWarning, stacklevel=2)
        array = data._array.astype(_numpy_dtype(dtype, data._dtype), copy=True)
    elif isinstance(data, np.ndarray):
        _dtypes.from_numpy_dtype(data.dtype)  # reject dtypes torch cannot hold
        array = np.array(data, dtype=dtype.numpy if dtype else None, copy=True)
    else:
        inferred = _infer_dtype(data)
        values = _to_nested_lists(data)
        _check_rectangular(values, _sizes(values))
        array = np.array(values, dtype=_numpy_dtype(dtype, inferred))
    return _finish(array, requires_grad)


def _infer_dtype(data: Any) -> dtype:
    """torch's rule: a Python float is the default float, an int int64, a bool bool; NumPy
    values and tensors keep their dtype; a sequence promotes its items' (empty: float)."""
    if isinstance(data, str):
        raise TypeError("new(): invalid data type 'str'")
    if isinstance(data, np.ndarray | np.generic):  # before float: np.float64 is a float
        return _dtypes.from_numpy_dtype(np.asarray(data).dtype)
    if isinstance(data, bool):
        return _dtypes.bool_
    if isinstance(data, int):
        return _dtypes.int64
    if isinstance(data, float):
        return _dtypes.get_default_dtype()
    if isinstance(data, Tensor):
        return data._dtype
    if isinstance(data, Sequence):
        items = [_infer_dtype(item) for item in data]
        return (
            functools.reduce(_dtypes.promote_types, items, items[0])
            if items
            else (_dtypes.get_default_dtype())
        )
    raise RuntimeError(f"Could not infer dtype of {type(data).__name__}")


def _to_nested_lists(data: Any) -> Any:
    if isinstance(data, Tensor | np.ndarray):
        return data.tolist()
    if isinstance(data, Sequence):
        return [_to_nested_lists(item) for item in data]
    return data


def _sizes(values: Any) -> list[int]:
    """The shape torch reads off nested lists: the lengths along the first elements."""
    sizes = []
    while isinstance(values, list):
        sizes.append(len(values))
        if not values:
            break
        values = values[0]
    return sizes


def _check_rectangular(values: Any, sizes: list[int], dim: int = 0) -> None:
    if dim == len(sizes):
        if isinstance(values, list):
            raise TypeError(f"must be real number, not {type(values).__name__}")
        return
    if not isinstance(values, list):
        raise TypeError("not a sequence")
    if len(values) != sizes[dim]:
        raise ValueError(
            f"expected sequence of length {sizes[dim]} at dim {dim} (got {len(values)})"
        )
    for item in values:
        _check_rectangular(item, sizes, dim + 1)


def as_tensor(data: Any, *, dtype: dtype | None = None, device: Any = None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or dtype is data._dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or dtype.numpy == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array`."""
    _dtypes.from_numpy_dtype(array.dtype)
    return Tensor._from_array(array)


def _full(
    size: Sequence[Any], fill: Any, dtype: dtype | None, default: dtype, requires_grad: bool
) -> Tensor:
    return _finish(
        np.full(_flatten_size(size), fill, dtype=_numpy_dtype(dtype, default)), requires_grad
    )


def zeros(
    *size: Any, dtype: dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    return _full(size, 0, dtype, _dtypes.get_default_dtype(), requires_grad)


def ones(
    *size: Any, dtype: dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    return _full(size, 1, dtype, _dtypes.get_default_dtype(), requires_grad)


def empty(
    *size: Any, dtype: dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    return _full(size, 0, dtype, _dtypes.get_default_dtype(), requires_grad)


def full(
    size: Sequence[int],
    fill_value: bool | int | float,
    *,
    dtype: dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    return _full((size,), fill_value, dtype, _dtypes.python_scalar_dtype(fill_value), requires_grad)


def _like(t: Tensor, fill: Any, dtype: dtype | None, requires_grad: bool) -> Tensor:
    return _finish(np.full(t.shape, fill, dtype=_numpy_dtype(dtype, t._dtype)), requires_grad)


def zeros_like(input: Tensor, *, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return _like(input, 0, dtype, requires_grad)


def ones_like(input: Tensor, *, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return _like(input, 1, dtype, requires_grad)


def empty_like(input: Tensor, *, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return _like(input, 0, dtype, requires_grad)


def full_like(
    input: Tensor, fill_value: Any, *, dtype: dtype | None = None, requires_grad: bool = False
) -> Tensor:
    return _like(input, fill_value, dtype, requires_grad)


def rand_like(input: Tensor, *, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return rand(input.shape, dtype=dtype or input._dtype, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype: dtype | None = None, requires_grad: bool = False) -> Tensor:
    return randn(input.shape, dtype=dtype or input._dtype, requires_grad=requires_grad)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    if end is None:
        start, end = 0, start
    all_ints = all(isinstance(v, int) for v in (start, end, step))
    default = _dtypes.int64 if all_ints else _dtypes.get_default_dtype()
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    values = np.arange(start, end, step, dtype=np.float64 if not all_ints else np.int64)
    return _finish(values.astype(_numpy_dtype(dtype, default)), requires_grad)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    values = np.linspace(start, end, steps, dtype=np.float64)
    return _finish(values.astype(_numpy_dtype(dtype, _dtypes.get_default_dtype())), requires_grad)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    return _finish(
        np.eye(n, m, dtype=_numpy_dtype(dtype, _dtypes.get_default_dtype())), requires_grad
    )


def rand(
    *size: Any, dtype: dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    values = _rng.random(_flatten_size(size))
    return _finish(values.astype(_numpy_dtype(dtype, _dtypes.get_default_dtype())), requires_grad)


def randn(
    *size: Any, dtype: dtype | None = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    values = _rng.standard_normal(_flatten_size(size))
    return _finish(values.astype(_numpy_dtype(dtype, _dtypes.get_default_dtype())), requires_grad)


def randint(
    low: int,
    high: int | Sequence[int],
    size: Sequence[int] | None = None,
    *,
    dtype: dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    if size is None:  # the randint(high, size) form
        assert not isinstance(high, int), "randint() needs a size"
        size = tuple(high)
        low, high = 0, low
    values = _rng.integers(low, high, tuple(size))
    return _finish(values.astype(_numpy_dtype(dtype, _dtypes.int64)), requires_grad)


def randperm(n: int, *, dtype: dtype | None = None, device: Any = None) -> Tensor:
    return _finish(_rng.permutation(n).astype(_numpy_dtype(dtype, _dtypes.int64)), False)
