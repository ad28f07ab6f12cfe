# NumPy's stubs say ufuncs return ndarray; on a subclass they return the subclass.
# mypy: disable-error-code="return-value,override,call-overload"
"""GradArray: what backward formulas compute on when no graph of the backward is wanted.

Formulas in the op table are written with Tensor methods (``grad * self.cos()``), so that
with ``create_graph=True`` they run on Tensors and are themselves recorded. A plain
backward needs none of that bookkeeping, and paying it for every formula would make
backward several times slower than the forward. So the engine hands formulas GradArrays
instead: NumPy arrays that also answer the Tensor methods formulas use. Operators are
NumPy's own; a Tensor method without a fast version here falls back to running the real
Tensor method under no_grad, so every formula works either way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from refgrad import _dtypes

if TYPE_CHECKING:
    from refgrad._dtypes import dtype
    from refgrad._tensor import Tensor


def _flat(size: Sequence[Any]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], Sequence):
        return tuple(size[0])
    return tuple(size)


def _dims(dim: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(d % max(ndim, 1) for d in dims)


def _reduced_axes(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    """NumPy axes for a torch reduction's dim: None or () mean every dim, as in torch; a
    0-dim array has no axis to reduce (torch accepts dim 0 and -1 there)."""
    if ndim == 0:
        return ()
    if dim is None or dim == ():
        return None
    return _dims(dim, ndim)


class GradArray(np.ndarray):
    # -- keep the type through NumPy: 0-dim results stay arrays, not NumPy scalars --------
    def __array_wrap__(
        self, array: np.ndarray, context: Any = None, return_scalar: bool = False
    ) -> GradArray:
        return np.ndarray.view(array, GradArray)

    def _base(self) -> np.ndarray:
        return np.ndarray.view(self, np.ndarray)

    # -- elementwise -------------------------------------------------------------------
    def exp(self) -> GradArray:
        return np.exp(self)

    def log(self) -> GradArray:
        with np.errstate(all="ignore"):
            return np.log(self)

    def sin(self) -> GradArray:
        return np.sin(self)

    def cos(self) -> GradArray:
        return np.cos(self)

    def sgn(self) -> GradArray:
        return torch_sign(self)

    sign = sgn

    def abs(self) -> GradArray:
        return np.abs(self)

    def sqrt(self) -> GradArray:
        with np.errstate(all="ignore"):
            return np.sqrt(self)

    def reciprocal(self) -> GradArray:
        with np.errstate(all="ignore"):
            return np.reciprocal(self)

    def neg(self) -> GradArray:
        return np.negative(self)

    def logical_not(self) -> GradArray:
        return np.logical_not(self)

    def masked_fill(self, mask: np.ndarray, value: Any) -> GradArray:
        filled = np.where(mask, np.asarray(value, dtype=self.dtype), self._base())
        return filled.view(GradArray)

    def to(self, dtype: dtype | np.dtype) -> GradArray:
        # A formula may pass another array's dtype, which here is NumPy's.
        target = dtype if isinstance(dtype, np.dtype) else dtype.numpy
        return self if self.dtype == target else self._base().astype(target).view(GradArray)

    def clone(self) -> GradArray:
        return self._base().copy().view(GradArray)  # a ZeroTensor's clone is plain zeros

    def detach(self) -> GradArray:
        return self

    def new_zeros(self, *size: Any) -> GradArray:
        return np.zeros(_flat(size), dtype=self.dtype).view(GradArray)

    def numel(self) -> int:
        return int(self.size)

    def dim(self) -> int:
        return self.ndim

    # -- shapes: views, of the same kind (a view of a ZeroTensor is one) -----------------
    def expand(self, *size: Any) -> GradArray:
        shape = _flat(size)
        offset = len(shape) - self.ndim
        shape = tuple(self.shape[i - offset] if s == -1 else s for i, s in enumerate(shape))
        base = self._base()
        # Writable, as torch's expand is: AccumulateGrad may steal a view of it as a .grad
        # (stack's gradient of a sum: one element shared by 0-dim leaves' grads).
        offset = len(shape) - base.ndim
        if offset < 0 or any(n != 1 and n != s
                             for n, s in zip(base.shape, shape[offset:], strict=True)):
            np.broadcast_to(base, shape)  # raises NumPy's error
        strides = (0,) * offset + tuple(0 if n == 1 and s != 1 else stride for n, s, stride
                                        in zip(base.shape, shape[offset:], base.strides,
                                               strict=True))
        if base.flags.c_contiguous:  # (the common case, at a tenth of as_strided's cost)
            return np.ndarray(shape, base.dtype, base, 0, strides).view(type(self))
        return np.lib.stride_tricks.as_strided(base, shape, strides).view(type(self))

    def sum_to_size(self, *size: Any) -> GradArray:
        shape = _flat(size)
        leading = self.ndim - len(shape)
        reduce = tuple(range(leading)) + tuple(
            leading + i for i, s in enumerate(shape) if s == 1 and self.shape[leading + i] != 1
        )
        if not reduce:
            return self.reshape(shape)
        summed = np.add.reduce(self._base(), axis=reduce, keepdims=True)
        return np.reshape(summed, shape).view(GradArray)

    def reshape(self, *shape: Any) -> GradArray:
        try:
            return np.reshape(self._base(), _flat(shape), copy=False).view(type(self))
        except ValueError:  # not viewable: a copy
            return np.reshape(self._base(), _flat(shape)).view(GradArray)

    def view(self, *args: Any) -> Any:
        # NumPy itself calls view(type) / view(dtype); formulas call torch's view(shape).
        if len(args) == 1 and isinstance(args[0], type | np.dtype):
            return np.ndarray.view(self, args[0])
        return self.reshape(*args)

    def unsqueeze(self, dim: int) -> GradArray:
        return np.expand_dims(self._base(), dim % (self.ndim + 1)).view(type(self))

    def squeeze(self, dim: int | Sequence[int] | None = None) -> GradArray:
        if dim is None:
            return np.squeeze(self._base()).view(type(self))
        dims = tuple(d for d in _dims(dim, self.ndim) if self.shape[d] == 1)
        return np.squeeze(self._base(), axis=dims).view(type(self))

    def t(self) -> GradArray:
        return self.T

    def transpose(self, dim0: int, dim1: int) -> GradArray:
        if self.ndim == 0:
            return self
        return np.swapaxes(self._base(), dim0, dim1).view(type(self))

    def permute(self, *dims: Any) -> GradArray:
        return np.transpose(self._base(), _flat(dims)).view(type(self))

    def flip(self, *dims: Any) -> GradArray:  # a copy in torch, not a view
        if self.ndim == 0:
            return self.clone()
        return np.flip(self._base(), _flat(dims)).view(GradArray)

    def select(self, dim: int, index: int) -> GradArray:
        return self._base()[(slice(None),) * (dim % self.ndim) + (index, Ellipsis)].view(type(self))

    def narrow(self, dim: int, start: int, length: int) -> GradArray:
        where = (slice(None),) * (dim % self.ndim) + (slice(start, start + length),)
        return self._base()[where].view(type(self))

    # -- reductions (ufunc reduce: ndarray.sum & co. have NumPy's signature, not torch's) --
    def sum(self, dim: Any = None, keepdim: bool = False) -> GradArray:
        axis = _reduced_axes(dim, self.ndim)
        return np.asarray(np.add.reduce(self._base(), axis=axis, keepdims=keepdim)).view(GradArray)

    def mean(self, dim: Any = None, keepdim: bool = False) -> GradArray:
        axis = _reduced_axes(dim, self.ndim)
        count = math.prod(self.shape[d] for d in (range(self.ndim) if axis is None else axis))
        return self.sum(dim, keepdim) / count

    def cumsum(self, dim: int) -> GradArray:
        return np.cumsum(self._base(), axis=dim).reshape(self.shape).view(GradArray)

    # -- linear algebra ----------------------------------------------------------------
    def mm(self, other: np.ndarray) -> GradArray:
        return np.matmul(self, other)

    mv = mm
    bmm = mm
    matmul = mm

    # -- anything else: the Tensor method itself, outside autograd ------------------------
    def __getattr__(self, name: str) -> Any:
        from refgrad._tensor import Tensor

        method = getattr(Tensor, name, None)
        if method is None or name.startswith("__"):
            raise AttributeError(f"'GradArray' object has no attribute '{name}'")

        def call(*args: Any, **kwargs: Any) -> Any:
            from refgrad.autograd.grad_mode import no_grad

            with no_grad():
                result = method(to_tensor(self), *map(_tensor_if_array, args), **kwargs)
            return from_tensor(result)

        return call


class ZeroGradArray(GradArray):
    """torch's efficient ZeroTensor gradient (sgn of a real input): zeros that, stored as
    ``.grad``, refuse to be modified in place. Views of it are ZeroTensors too, and so are
    products with it (see ``zero_tensor_outcome``); any other op reads it as plain zeros."""

    # NumPy wraps a ufunc's result with the operand of highest priority (the first, among
    # equals): this class's rules then apply wherever a ZeroTensor is, as torch's do.
    __array_priority__ = 1.0

    def __array_wrap__(
        self, array: np.ndarray, context: Any = None, return_scalar: bool = False
    ) -> GradArray:
        rule = _UFUNC_RULES.get(context[0]) if context is not None else None
        if rule is not None:
            operands = context[1][: context[0].nin]
            zeros = [type(a) is ZeroGradArray for a in operands]
            return zero_tensor_rule(rule, zeros, np.asarray(array), meta_dtype(operands))
        return np.ndarray.view(array, GradArray)


def meta_dtype(operands: Sequence[Any]) -> np.dtype:
    """The dtype of torch's ZeroTensor kernels' results (operands: arrays and Python
    numbers). The kernels promote copies of the operands
    moved to the meta device, where a Python number is a plain 0-dim tensor (a float one
    float64), no longer a wrapped number: a 0-dim float32 ZeroTensor times 2.0 is float64.
    (The engine then casts it back to the input's dtype, which materializes it.)"""
    dimensioned: list[_dtypes.dtype] = []
    zero_dim: list[_dtypes.dtype] = []
    for operand in operands:
        if isinstance(operand, np.ndarray):
            tier = dimensioned if operand.ndim else zero_dim
            tier.append(_dtypes.from_numpy_dtype(operand.dtype))
        else:
            zero_dim.append(_dtypes.bool_ if isinstance(operand, bool | np.bool_) else
                            _dtypes.int64 if isinstance(operand, int) else _dtypes.float64)
    return _dtypes.result_type(dimensioned, zero_dim, []).numpy


def zero_tensor_outcome(rule: str, zeros: Sequence[bool]) -> float | None:
    """What torch's ZeroTensor kernels give for operands of which `zeros` are ZeroTensors:
    0 (a ZeroTensor: 0 * nan is 0), a value filling the whole result (x / 0 is inf for any
    x, 0 / 0 nan), or None (the plain result). Rules: "product" (mul), "quotient" (div),
    "sum" (add, sub: a ZeroTensor only if both operands are)."""
    if rule == "product":
        return 0.0 if any(zeros) else None
    if rule == "sum":
        return 0.0 if len(zeros) == 2 and all(zeros) else None
    numerator, denominator = (*zeros, False)[:2]
    if denominator:
        return math.nan if numerator else math.inf
    return 0.0 if numerator else None


def zero_tensor_rule(rule: str, zeros: Sequence[bool], result: np.ndarray,
                     dtype: np.dtype | None = None) -> GradArray:
    """`result` (computed as if ZeroTensors were zeros) as torch's ZeroTensor kernel gives it:
    a ZeroGradArray, a plain GradArray filled with inf or nan (either of `dtype`, if given),
    or `result` itself."""
    outcome = zero_tensor_outcome(rule, zeros)
    if outcome is None:
        return result.view(GradArray)
    filled = np.full(result.shape, outcome, dtype=dtype or result.dtype)
    return filled.view(ZeroGradArray if outcome == 0 else GradArray)


_UFUNC_RULES = {
    np.multiply: "product", np.true_divide: "quotient", np.add: "sum", np.subtract: "sum"
}


def zero_grad_like(like: Any) -> Any:
    """A ZeroTensor with `like`'s shape and dtype (a GradArray or a Tensor, as `like`)."""
    if isinstance(like, np.ndarray):
        return np.zeros(like.shape, dtype=like.dtype).view(ZeroGradArray)
    zeros = like.new_zeros(like.shape)
    zeros._is_zero_tensor = True
    return zeros


def torch_sign(a: np.ndarray) -> np.ndarray:
    """torch's sign: (0 < a) - (a < 0), so NaN has sign 0 (NumPy's is NaN) and -0.0 is +0."""
    if a.dtype.kind == "b":
        return a.copy()  # a bool's sign is itself
    if a.dtype.kind != "f":
        return np.sign(a)
    return (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype)


def is_zero_tensor(value: Any) -> bool:
    """A ZeroTensor, as a GradArray or as a Tensor."""
    return type(value) is ZeroGradArray or getattr(value, "_is_zero_tensor", False) is True


def to_tensor(array: np.ndarray) -> Tensor:
    from refgrad._tensor import Tensor

    tensor = Tensor._from_array(np.asarray(array))
    if type(array) is ZeroGradArray:
        tensor._is_zero_tensor = True
    return tensor


def _tensor_if_array(value: Any) -> Any:
    return to_tensor(value) if isinstance(value, np.ndarray) else value


def from_tensor(value: Any) -> Any:
    """A Tensor result (or tuple of them) as GradArrays; anything else unchanged."""
    from refgrad._tensor import Tensor

    if isinstance(value, Tensor):
        return value._array.view(ZeroGradArray if value._is_zero_tensor else GradArray)
    if isinstance(value, tuple):
        return tuple(from_tensor(v) for v in value)
    return value
