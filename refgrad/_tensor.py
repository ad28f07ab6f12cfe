"""Tensor: a NumPy array plus the autograd state torch keeps beside it.

State, in brief (each with torch's meaning):
    _array              the values; views hold a NumPy view into their base's array
    _version_counter    shared by a tensor, its views and its ``detach()``-ed aliases;
                        bumped by every in-place op; ``.data`` gets a counter of its own
    _requires_grad      set only on leaves (factories, ``requires_grad_()``)
    _grad_fn            the node that made this tensor (None for leaves)
    _grad               ``.grad``
    _base, _view_fn     for views: the base, and how to re-derive this view from it

Operations are not implemented here: each method forwards to an entry of the op table
(``refgrad/ops/derivatives.py``), which computes the result and records the graph.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, Union

import numpy as np

from refgrad import _dtypes
from refgrad._dtypes import dtype
from refgrad._printing import format_tensor
from refgrad.autograd import inplace
from refgrad.autograd.grad_mode import _GradState, no_grad
from refgrad.autograd.graph import AccumulateGrad, Node
from refgrad.utils.hooks import RemovableHandle

if TYPE_CHECKING:
    from refgrad.ops.op import Op

# Builtins under other names: Tensor has methods called int, float and bool.
_int: TypeAlias = int
_float: TypeAlias = float
_bool: TypeAlias = bool
DType: TypeAlias = dtype  # Tensor.dtype is a property
Number = bool | int | float
Operand = Union["Tensor", Number]

NONLEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)
_T_NOT_2D = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
    "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
    "matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a "
    "tensor."
)
_T_ON_0D = "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
FLOAT_OF_REQUIRES_GRAD_WARNING = (
    "Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
    "Consider using tensor.detach() first."
)


class Size(tuple[int, ...]):
    """torch.Size: a tuple of ints that prints as ``torch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


class device:
    """Only the CPU exists here; the class lets ``x.device`` print like torch's."""

    type = "cpu"

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __str__(self) -> str:
        return "cpu"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, device) or other == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")


CPU = device()


_DTYPE_OF = {d.numpy: d for d in _dtypes.ALL_DTYPES}


class _VersionCounter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Tensor:
    # Class-level defaults keep construction cheap: a tensor stores only what differs.
    _requires_grad = False
    _grad_fn: Node | None = None
    _output_nr = 0
    _grad: Tensor | None = None
    _accumulator: AccumulateGrad | None = None
    _base: Tensor | None = None
    _view_fn: Callable[[Tensor], Tensor] | None = None
    _view_version = 0
    _created_in_no_grad = False
    _multi_output = False  # a view made by split/unbind/chunk: never to be modified in place
    _retains_grad = False
    _is_inference = False  # made in inference mode: never part of autograd
    _is_zero_tensor = False  # torch's efficient ZeroTensor (a gradient of sgn): immutable
    _post_accumulate_grad_hooks: dict[_int, Callable[[Tensor], None]] = {}  # noqa: RUF012

    _array: np.ndarray
    _dtype: DType
    _version_counter: _VersionCounter

    # NumPy must hand `ndarray * tensor` to Tensor.__rmul__ rather than broadcast itself.
    __array_ufunc__ = None

    @classmethod
    def _from_array(
        cls, array: np.ndarray, version_counter: _VersionCounter | None = None
    ) -> Tensor:
        t = object.__new__(cls)
        t._array = array
        t._dtype = _DTYPE_OF.get(array.dtype) or _dtypes.from_numpy_dtype(array.dtype)
        t._version_counter = _VersionCounter() if version_counter is None else version_counter
        return t

    # -- metadata ------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    def size(self, dim: _int | None = None) -> Any:
        if dim is None:
            return Size(self._array.shape)
        return self._array.shape[_wrap_dim(dim, self._array.ndim)]

    @property
    def dtype(self) -> DType:
        return self._dtype

    @property
    def device(self) -> device:
        return CPU

    @property
    def ndim(self) -> _int:
        return self._array.ndim

    def dim(self) -> _int:
        return self._array.ndim

    def numel(self) -> _int:
        return int(self._array.size)

    def nelement(self) -> _int:
        return int(self._array.size)

    def element_size(self) -> _int:
        return self._dtype.itemsize

    def is_floating_point(self) -> _bool:
        return self._dtype.is_floating_point

    def stride(self, dim: _int | None = None) -> Any:
        strides = tuple(s // self._dtype.itemsize for s in self._array.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._array.ndim)]

    def is_contiguous(self) -> _bool:
        return bool(self._array.flags.c_contiguous)

    def data_ptr(self) -> _int:
        return int(self._array.__array_interface__["data"][0])

    @property
    def is_cuda(self) -> _bool:
        return False

    # -- autograd state ------------------------------------------------------------------
    @property
    def requires_grad(self) -> _bool:
        # Like .grad, this reads the stored grad_fn: `grad_fn` and `is_leaf` (and recording
        # an op) bring a view's history up to date, as in torch.
        if self._requires_grad or self._grad_fn is not None:
            return True
        return self._base is not None and self._base.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: _bool) -> None:
        self._set_requires_grad(value, "only Tensors of floating point and complex dtype")

    def requires_grad_(self, requires_grad: _bool = True) -> Tensor:
        self._set_requires_grad(requires_grad, "only Tensors of floating point dtype")
        return self

    def _set_requires_grad(self, value: _bool, dtype_error: str) -> None:
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require "
                    "differentiation use var_no_grad = var.detach()."
                )
            return
        if value and not self._dtype.is_floating_point:
            raise RuntimeError(f"{dtype_error} can require gradients")
        if value and self._is_inference and not _GradState.inference:
            raise RuntimeError(
                "Setting requires_grad=True on inference tensor outside InferenceMode is not "
                "allowed."
            )
        self._requires_grad = bool(value)

    @property
    def grad_fn(self) -> Node | None:
        base = self._base
        if base is not None and self._view_version != self._version_counter.value:
            # The memory changed under this view (in place, through it or another alias):
            # its history now goes through the base.
            if self._grad_fn is not None or base.requires_grad:
                if self._multi_output:
                    raise RuntimeError(inplace.forbidden_view_error(self, indirect=True))
                inplace.regenerate_view_grad_fn(self)
            self._view_version = self._version_counter.value
        return self._grad_fn

    def is_inference(self) -> _bool:
        return self._is_inference

    def _is_zerotensor(self) -> _bool:
        return self._is_zero_tensor

    @property
    def is_leaf(self) -> _bool:
        # Through `grad_fn`: asking a view whether it is a leaf brings its history up to date.
        return self.grad_fn is None

    @property
    def output_nr(self) -> _int:
        return self._output_nr

    @property
    def _version(self) -> _int:
        return self._version_counter.value

    @property
    def grad(self) -> Tensor | None:
        if self._grad_fn is not None and not self._retains_grad:
            warnings.warn(NONLEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a "
                    f"tensor of size '{list(self.shape)}'. Please ensure that the gradient "
                    "and the tensor are the same size"
                )
            if value._dtype is not self._dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{_c_type_name(value._dtype)}'"
                    f" to a tensor with grad_dtype '{self._dtype.c_name}'. The gradient must "
                    "match the tensor's grad_dtype (defaults to the tensor's dtype). You can "
                    "set the tensor's grad_dtype attribute with a specific dtype, or None to "
                    "allow any dtype. Set grad_dtype with caution. Diverging the dtypes of a "
                    "tensor and its gradient may break downstream systems that assume they "
                    "match."
                )
        self._grad = value

    def _grad_accumulator(self) -> AccumulateGrad:
        """The leaf's AccumulateGrad node, shared by every graph that uses the leaf."""
        if self._accumulator is None:
            self._accumulator = AccumulateGrad(self)
        return self._accumulator

    def _accumulate_in_place(self, other: np.ndarray) -> None:
        if self._is_zero_tensor:
            raise RuntimeError(inplace.ZERO_TENSOR_INPLACE)
        self._array += other
        self._version_counter.value += 1

    def retain_grad(self) -> None:
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        grad_fn = self.grad_fn
        if grad_fn is None or self._retains_grad:
            return  # leaves keep their .grad anyway
        grad_fn.set_retains_grad(self._output_nr, self)
        self._retains_grad = True

    @property
    def retains_grad(self) -> _bool:
        return self._retains_grad

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        grad_fn = self.grad_fn
        if grad_fn is not None:
            return grad_fn.add_tensor_pre_hook(self._output_nr, hook)
        return self._grad_accumulator().add_tensor_pre_hook(0, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        if "_post_accumulate_grad_hooks" not in self.__dict__:
            self._post_accumulate_grad_hooks = {}
        return RemovableHandle.add(self._post_accumulate_grad_hooks, hook)

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: _bool | None = None,
        create_graph: _bool = False,
        inputs: Sequence[Tensor] | Tensor | None = None,
    ) -> None:
        from refgrad.autograd.functional import backward

        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    @property
    def data(self) -> Tensor:
        """The same memory, outside autograd: changes through it bump no version."""
        data = Tensor._from_array(self._array)
        data._is_zero_tensor = self._is_zero_tensor
        return data

    @data.setter
    def data(self, value: Tensor) -> None:
        self._array = value._array
        self._dtype = value._dtype

    def detach(self) -> Tensor:
        """The same memory and version counter, without history."""
        detached = Tensor._from_array(self._array, self._version_counter)
        detached._is_zero_tensor = self._is_zero_tensor
        return detached

    def detach_(self) -> Tensor:
        if self._base is not None:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set "
                "as True, gradients are views of DDP buckets, and hence detach_() cannot be "
                "called on these gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution."
            )
        self._grad_fn = None
        self._output_nr = 0
        self._requires_grad = False
        return self

    # -- conversions -----------------------------------------------------------------------
    def item(self) -> Number:
        if self._array.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._array.size} elements cannot be converted to Scalar"
            )
        return self._array.reshape(()).item()

    def tolist(self) -> Any:
        if self._is_zero_tensor:  # a ZeroTensor has no storage in torch
            raise RuntimeError("tolist() shouldn't be called on a tensor with unallocated storage")
        return self._array.tolist()

    def numpy(self, *, force: _bool = False) -> np.ndarray:
        if force:
            return self._array.copy() if self._is_zero_tensor else self._array
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        if self._is_zero_tensor:
            raise RuntimeError(
                " Cannot convert a ZeroTensor to numpy. Set force=True if you need the zero array."
            )
        return self._array

    def __float__(self) -> _float:
        return float(self._python_scalar())

    def __int__(self) -> _int:
        return int(self._python_scalar())

    def _python_scalar(self) -> Number:
        if self._array.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        self._warn_if_requires_grad()
        return self.item()

    def __index__(self) -> _int:
        if self._dtype.is_floating_point or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def _warn_if_requires_grad(self) -> None:
        if self.requires_grad:
            warnings.warn(FLOAT_OF_REQUIRES_GRAD_WARNING, UserWarning, stacklevel=3)

    def __bool__(self) -> _bool:
        if self._array.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._array.reshape(()).item())

    def __len__(self) -> _int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self) -> _int:
        return id(self)

    def __repr__(self) -> str:
        grad_fn = self.grad_fn
        if grad_fn is not None:
            suffix: str | None = f"grad_fn=<{type(grad_fn).__name__}>"
        elif self.requires_grad:
            suffix = "requires_grad=True"
        else:
            suffix = None
        return format_tensor(self._array, dtype=self._dtype.name, autograd_suffix=suffix)

    __str__ = __repr__

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        target = kwargs.get("dtype")
        for arg in args:
            if isinstance(arg, dtype):
                target = arg
            elif isinstance(arg, Tensor):
                target = arg._dtype
        if target is None or target is self._dtype:
            return self  # torch returns the tensor itself when nothing changes
        return D.to_copy(self, dtype=target)

    def type(self, dtype: DType | None = None) -> Any:
        if dtype is None:
            return f"torch.{self._dtype.legacy_type_name}"
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(_dtypes.float32)

    def double(self) -> Tensor:
        return self.to(_dtypes.float64)

    def half(self) -> Tensor:
        return self.to(_dtypes.float16)

    def long(self) -> Tensor:
        return self.to(_dtypes.int64)

    def int(self) -> Tensor:
        return self.to(_dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(_dtypes.bool_)

    def cpu(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        return D.clone(self)

    def contiguous(self) -> Tensor:
        return self if self.is_contiguous() else D.clone(self)

    def new_zeros(
        self, *size: Any, dtype: DType | None = None, requires_grad: _bool = False
    ) -> Tensor:
        return _filled(size, 0, dtype or self._dtype, requires_grad)

    def new_ones(
        self, *size: Any, dtype: DType | None = None, requires_grad: _bool = False
    ) -> Tensor:
        return _filled(size, 1, dtype or self._dtype, requires_grad)

    def new_full(
        self,
        size: Sequence[_int],
        fill_value: Number,
        *,
        dtype: DType | None = None,
        requires_grad: _bool = False,
    ) -> Tensor:
        return _filled((tuple(size),), fill_value, dtype or self._dtype, requires_grad)

    def new_empty(
        self, *size: Any, dtype: DType | None = None, requires_grad: _bool = False
    ) -> Tensor:
        return _filled(size, 0, dtype or self._dtype, requires_grad)

    def new_tensor(
        self, data: Any, dtype: DType | None = None, requires_grad: _bool = False
    ) -> Tensor:
        from refgrad._factories import tensor

        return tensor(data, dtype=dtype or self._dtype, requires_grad=requires_grad)

    # -- arithmetic --------------------------------------------------------------------------
    def add(self, other: Operand, *, alpha: Number = 1) -> Tensor:
        return D.add(self, other, alpha=alpha)

    def sub(self, other: Operand, *, alpha: Number = 1) -> Tensor:
        return D.sub(self, other, alpha=alpha)

    def mul(self, other: Operand) -> Tensor:
        return D.mul(self, other)

    def div(self, other: Operand) -> Tensor:
        return D.div(self, other)

    def pow(self, exponent: Operand) -> Tensor:
        if isinstance(exponent, Tensor):
            return D.pow_tensor(self, exponent)
        return D.pow_scalar(self, exponent)

    def neg(self) -> Tensor:
        return D.neg(self)

    def reciprocal(self) -> Tensor:
        return D.reciprocal(self)

    def square(self) -> Tensor:
        return D.pow_scalar(self, 2)

    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div
    __pow__ = pow
    __neg__ = neg
    __radd__ = add
    __rmul__ = mul

    def __rsub__(self, other: Number) -> Tensor:
        return D.rsub(self, other, alpha=1)

    def __rtruediv__(self, other: Number) -> Tensor:
        return D.reciprocal(self) * other

    def __rpow__(self, base: Number) -> Tensor:
        return D.pow_scalar_base(base, self)

    def __matmul__(self, other: Tensor) -> Tensor:
        # Not a tensor: Python's own "unsupported operand type(s) for @", as with torch.
        return self.matmul(other) if isinstance(other, Tensor) else NotImplemented

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    # -- unary elementwise -------------------------------------------------------------------
    def exp(self) -> Tensor:
        return D.exp(self)

    def log(self) -> Tensor:
        return D.log(self)

    def log1p(self) -> Tensor:
        return D.log1p(self)

    def expm1(self) -> Tensor:
        return D.expm1(self)

    def sin(self) -> Tensor:
        return D.sin(self)

    def cos(self) -> Tensor:
        return D.cos(self)

    def tan(self) -> Tensor:
        return D.tan(self)

    def tanh(self) -> Tensor:
        return D.tanh(self)

    def sigmoid(self) -> Tensor:
        return D.sigmoid(self)

    def relu(self) -> Tensor:
        return D.relu(self)

    def abs(self) -> Tensor:
        return D.absolute(self)

    def sqrt(self) -> Tensor:
        return D.sqrt(self)

    def rsqrt(self) -> Tensor:
        return D.rsqrt(self)

    def sign(self) -> Tensor:
        return D.sign(self)

    def sgn(self) -> Tensor:
        return D.sgn(self)

    def floor(self) -> Tensor:
        return D.floor(self)

    def ceil(self) -> Tensor:
        return D.ceil(self)

    def round(self) -> Tensor:
        return D.round_even(self)

    # -- comparisons and logic (never differentiable) ----------------------------------------
    def eq(self, other: Operand) -> Tensor:
        return D.eq(self, other)

    def ne(self, other: Operand) -> Tensor:
        return D.ne(self, other)

    def lt(self, other: Operand) -> Tensor:
        return D.lt(self, other)

    def le(self, other: Operand) -> Tensor:
        return D.le(self, other)

    def gt(self, other: Operand) -> Tensor:
        return D.gt(self, other)

    def ge(self, other: Operand) -> Tensor:
        return D.ge(self, other)

    def __eq__(self, other: object) -> Any:
        return self.eq(other) if _is_operand(other) else NotImplemented  # type: ignore[arg-type]

    def __ne__(self, other: object) -> Any:
        return self.ne(other) if _is_operand(other) else NotImplemented  # type: ignore[arg-type]

    __lt__ = lt
    __le__ = le
    __gt__ = gt
    __ge__ = ge

    def logical_not(self) -> Tensor:
        return D.logical_not(self)

    def logical_and(self, other: Operand) -> Tensor:
        return D.logical_and(self, _tensor_argument(other, "logical_and", "other", 1))

    def logical_or(self, other: Operand) -> Tensor:
        return D.logical_or(self, _tensor_argument(other, "logical_or", "other", 1))

    def logical_xor(self, other: Operand) -> Tensor:
        return D.logical_xor(self, _tensor_argument(other, "logical_xor", "other", 1))

    def __invert__(self) -> Tensor:
        return D.bitwise_not(self)

    def __and__(self, other: Operand) -> Tensor:
        return D.bitwise_and(self, other)

    def __or__(self, other: Operand) -> Tensor:
        return D.bitwise_or(self, other)

    def __xor__(self, other: Operand) -> Tensor:
        return D.bitwise_xor(self, other)

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def isnan(self) -> Tensor:
        return D.isnan(self)

    def isinf(self) -> Tensor:
        return D.isinf(self)

    def isfinite(self) -> Tensor:
        return D.isfinite(self)

    # -- binary elementwise with selection -------------------------------------------------
    def maximum(self, other: Tensor) -> Tensor:
        return D.maximum(self, _tensor_argument(other, "maximum", "other", 1))

    def minimum(self, other: Tensor) -> Tensor:
        return D.minimum(self, _tensor_argument(other, "minimum", "other", 1))

    def clamp(self, min: Operand | None = None, max: Operand | None = None) -> Tensor:
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            return D.clamp_with_tensors(self, min, max)
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        return D.clamp(self, min=min, max=max)

    clip = clamp

    def clamp_min(self, min: Number) -> Tensor:
        return D.clamp_min(self, min=min)

    def clamp_max(self, max: Number) -> Tensor:
        return D.clamp_max(self, max=max)

    def where(self, condition: Tensor, other: Operand) -> Tensor:
        return D.where(condition, self, other)

    def masked_fill(self, mask: Tensor, value: Operand) -> Tensor:
        if isinstance(value, Tensor):
            return D.masked_fill_tensor(self, mask, value)
        return D.masked_fill(self, mask, value=value)

    # -- reductions ------------------------------------------------------------------------
    def sum(
        self,
        dim: _int | Sequence[_int] | None = None,
        keepdim: _bool = False,
        *,
        dtype: DType | None = None,
    ) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        if dim is None:
            return D.sum_all(source)
        return D.sum_dim(source, dim=_reduction_dims(dim, self.ndim), keepdim=keepdim)

    def mean(
        self,
        dim: _int | Sequence[_int] | None = None,
        keepdim: _bool = False,
        *,
        dtype: DType | None = None,
    ) -> Tensor:
        source = self if dtype is None else self.to(dtype)
        if not source._dtype.is_floating_point:
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {source._dtype.c_name}"
            )
        if dim is None:
            return D.mean(source)
        return D.mean_dim(source, dim=_reduction_dims(dim, self.ndim), keepdim=keepdim)

    def prod(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        if dim is None:
            return D.prod(self)
        return D.prod_dim(self, dim=_wrap_dim(dim, self.ndim), keepdim=keepdim)

    def var(
        self,
        dim: _int | Sequence[_int] | None = None,
        unbiased: _bool | None = None,
        keepdim: _bool = False,
        *,
        correction: Number | None = None,
    ) -> Tensor:
        return D.var(self, **_variance_args(self, dim, unbiased, keepdim, correction))

    def std(
        self,
        dim: _int | Sequence[_int] | None = None,
        unbiased: _bool | None = None,
        keepdim: _bool = False,
        *,
        correction: Number | None = None,
    ) -> Tensor:
        return D.std(self, **_variance_args(self, dim, unbiased, keepdim, correction))

    def max(self, dim: Any = None, keepdim: _bool = False) -> Any:
        if isinstance(dim, Tensor):
            return D.maximum(self, dim)
        if dim is None:
            _check_nonempty(self, "max")
            return D.max_all(self)
        return _ValuesIndices(*D.max_dim(self, dim=_wrap_dim(dim, self.ndim), keepdim=keepdim))

    def min(self, dim: Any = None, keepdim: _bool = False) -> Any:
        if isinstance(dim, Tensor):
            return D.minimum(self, dim)
        if dim is None:
            _check_nonempty(self, "min")
            return D.min_all(self)
        return _ValuesIndices(*D.min_dim(self, dim=_wrap_dim(dim, self.ndim), keepdim=keepdim))

    def amax(self, dim: _int | Sequence[_int] = (), keepdim: _bool = False) -> Tensor:
        if dim == ():
            _check_nonempty(self, "amax")
        return D.amax(self, dim=_reduction_dims(dim, self.ndim), keepdim=keepdim)

    def amin(self, dim: _int | Sequence[_int] = (), keepdim: _bool = False) -> Tensor:
        if dim == ():
            _check_nonempty(self, "amin")
        return D.amin(self, dim=_reduction_dims(dim, self.ndim), keepdim=keepdim)

    def argmax(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return D.argmax(
            self, dim=None if dim is None else _wrap_dim(dim, self.ndim), keepdim=keepdim
        )

    def argmin(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return D.argmin(
            self, dim=None if dim is None else _wrap_dim(dim, self.ndim), keepdim=keepdim
        )

    def logsumexp(self, dim: _int | Sequence[_int], keepdim: _bool = False) -> Tensor:
        dims = tuple(d for d in _wrap_dims(dim, self.ndim) if d < self.ndim)  # 0-dim: none
        return D.logsumexp(self, dim=dims, keepdim=keepdim)

    def norm(
        self,
        p: Number | str = "fro",
        dim: _int | Sequence[_int] | None = None,
        keepdim: _bool = False,
    ) -> Tensor:
        order = 2.0 if p == "fro" else float(p)
        dims = _reduction_dims(dim, self.ndim)
        if p == "fro" and dim is not None and not isinstance(dim, int) and len(dims) > 2:
            raise RuntimeError(
                f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}"
            )
        return D.norm(self, ord=order, dim=dims, keepdim=keepdim)

    def softmax(self, dim: _int) -> Tensor:
        return D.softmax(self, dim=_wrap_dim(dim, self.ndim))

    def log_softmax(self, dim: _int) -> Tensor:
        return D.log_softmax(self, dim=_wrap_dim(dim, self.ndim))

    def cumsum(self, dim: _int) -> Tensor:
        return D.cumsum(self, dim=_wrap_dim(dim, self.ndim))

    # -- linear algebra ------------------------------------------------------------------------
    def matmul(self, other: Tensor) -> Tensor:
        from refgrad.ops.composite import matmul

        return matmul(self, _tensor_argument(other, "matmul", "other", 1))

    def mm(self, mat2: Tensor) -> Tensor:
        return D.mm(self, _tensor_argument(mat2, "mm", "mat2", 1))

    def mv(self, vec: Tensor) -> Tensor:
        return D.mv(self, _tensor_argument(vec, "mv", "vec", 1))

    def dot(self, other: Tensor) -> Tensor:
        return D.dot(self, _tensor_argument(other, "dot", "tensor", 1))

    def bmm(self, mat2: Tensor) -> Tensor:
        return D.bmm(self, _tensor_argument(mat2, "bmm", "mat2", 1))

    # -- shape and views -----------------------------------------------------------------------
    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], dtype):
            raise NotImplementedError("view(dtype) is not supported by refgrad")
        return D.view(self, shape=_infer_shape(_flatten_size(shape), self.numel()))

    def reshape(self, *shape: Any) -> Tensor:
        from refgrad.ops.composite import reshape

        return reshape(self, _infer_shape(_flatten_size(shape), self.numel()))

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: _int = 0, end_dim: _int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start, end = _wrap_dim(start_dim, self.ndim), _wrap_dim(end_dim, self.ndim)
        if start == end:
            return self
        shape = self.shape
        flat = int(np.prod(shape[start : end + 1], dtype=np.int64))
        return self.reshape(*shape[:start], flat, *shape[end + 1 :])

    def transpose(self, dim0: _int, dim1: _int) -> Tensor:
        return D.transpose(self, dim0=_wrap_dim(dim0, self.ndim), dim1=_wrap_dim(dim1, self.ndim))

    swapaxes = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D"
            )
        return D.t(self)

    @property
    def T(self) -> Tensor:
        if self.ndim != 2:
            warnings.warn(_T_ON_0D if self.ndim == 0 else _T_NOT_2D, UserWarning, stacklevel=2)
        return D.permute(self, dims=tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:
        if self.ndim < 2:
            raise RuntimeError(
                "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor."
            )
        return self.transpose(-2, -1)

    def permute(self, *dims: Any) -> Tensor:
        wanted = _flatten_size(dims)
        if len(wanted) != self.ndim:
            raise RuntimeError(
                "permute(sparse_coo): number of dimensions in the tensor input does not match "
                "the length of the desired ordering of dimensions i.e. input.dim() = "
                f"{self.ndim} is not equal to len(dims) = {len(wanted)}"
            )
        ordered = tuple(_wrap_dim(d, self.ndim) for d in wanted)
        if len(set(ordered)) != len(ordered):
            raise RuntimeError("permute(): duplicate dims are not allowed.")
        return D.permute(self, dims=ordered)

    def unsqueeze(self, dim: _int) -> Tensor:
        return D.unsqueeze(self, dim=_wrap_dim(dim, self.ndim + 1))

    def squeeze(self, dim: _int | Sequence[_int] | None = None) -> Tensor:
        if dim is None:
            return D.squeeze(self)
        if isinstance(dim, int):
            return D.squeeze_dim(self, dim=_wrap_dim(dim, self.ndim))
        return D.squeeze_dims(self, dim=_wrap_dims(dim, self.ndim))

    def expand(self, *sizes: Any) -> Tensor:
        return D.expand(self, size=_expanded_shape(self, _flatten_size(sizes)))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def broadcast_to(self, size: Sequence[_int]) -> Tensor:
        return self.expand(size)

    def sum_to_size(self, *size: Any) -> Tensor:
        from refgrad.ops.composite import sum_to_size

        return sum_to_size(self, tuple(_flatten_size(size)))

    def narrow(self, dim: _int, start: _int, length: _int) -> Tensor:
        dim = _wrap_dim(dim, self.ndim)
        size = self.shape[dim]
        if not -size <= start <= size:
            raise IndexError(
                f"start out of range (expected to be in range of [{-size}, {size}], but got "
                f"{start})"
            )
        if length < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        start = start + size if start < 0 else start  # a negative start counts from the end
        if start + length > size:
            raise RuntimeError(
                f"start ({start}) + length ({length}) exceeds dimension size ({size})."
            )
        return D.slice_dim(self, dim=dim, start=start, stop=start + length, step=1)

    def select(self, dim: _int, index: _int) -> Tensor:
        return D.select(self, dim=_wrap_dim(dim, self.ndim), index=index)

    def unbind(self, dim: _int = 0) -> tuple[Tensor, ...]:
        wrapped = _wrap_dim(dim, self.ndim)
        if self.ndim == 0:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        dim = wrapped
        result = D.unbind(self, dim=dim, count=self.shape[dim])
        return result if isinstance(result, tuple) else (result,)

    def split(self, split_size: _int | Sequence[_int], dim: _int = 0) -> tuple[Tensor, ...]:
        from refgrad.ops.composite import split

        return split(self, split_size, _wrap_dim(dim, self.ndim))

    def chunk(self, chunks: _int, dim: _int = 0) -> tuple[Tensor, ...]:
        from refgrad.ops.composite import chunk

        return chunk(self, chunks, _wrap_dim(dim, self.ndim))

    def flip(self, *dims: Any) -> Tensor:
        return D.flip(self, dims=_wrap_dims(_flatten_size(dims), self.ndim))

    def repeat(self, *sizes: Any) -> Tensor:
        return D.repeat(self, repeats=tuple(_flatten_size(sizes)))

    def gather(self, dim: _int, index: Tensor) -> Tensor:
        index = _tensor_argument(index, "gather", "index", 2)
        return D.gather(self, index, dim=_wrap_dim(dim, self.ndim))

    def scatter(self, dim: _int, index: Tensor, src: Tensor | Number | None = None, *,
                value: Number | None = None) -> Tensor:
        dim = _wrap_dim(dim, self.ndim)
        source = value if src is None else src
        if isinstance(source, Tensor):
            return D.scatter(self, index, source, dim=dim)
        return D.scatter_value(self, index, value=source, dim=dim)

    def scatter_add(self, dim: _int, index: Tensor, src: Tensor) -> Tensor:
        return D.scatter_add(self, index, src, dim=_wrap_dim(dim, self.ndim))

    def __getitem__(self, index: Any) -> Tensor:
        from refgrad.ops.indexing import getitem

        return getitem(self, index)

    def __setitem__(self, index: Any, value: Operand) -> None:
        from refgrad.ops.indexing import setitem

        setitem(self, index, value)

    # -- in place --------------------------------------------------------------------------
    def _inplace(self, op: Op, *args: Any, **attrs: Any) -> Tensor:
        from refgrad.ops.inplace import apply_inplace

        return apply_inplace(op, self, args, attrs)

    def add_(self, other: Operand, *, alpha: Number = 1) -> Tensor:
        return self._inplace(D.add, other, alpha=alpha)

    def sub_(self, other: Operand, *, alpha: Number = 1) -> Tensor:
        return self._inplace(D.sub, other, alpha=alpha)

    def mul_(self, other: Operand) -> Tensor:
        return self._inplace(D.mul, other)

    def div_(self, other: Operand) -> Tensor:
        return self._inplace(D.div, other)

    def pow_(self, exponent: Number) -> Tensor:
        return self._inplace(D.pow_scalar, exponent)

    def neg_(self) -> Tensor:
        return self._inplace(D.neg)

    def exp_(self) -> Tensor:
        return self._inplace(D.exp)

    def log_(self) -> Tensor:
        return self._inplace(D.log)

    def sqrt_(self) -> Tensor:
        return self._inplace(D.sqrt)

    def sigmoid_(self) -> Tensor:
        return self._inplace(D.sigmoid)

    def tanh_(self) -> Tensor:
        return self._inplace(D.tanh)

    def relu_(self) -> Tensor:
        return self._inplace(D.relu)

    def abs_(self) -> Tensor:
        return self._inplace(D.absolute)

    def clamp_(self, min: Number | None = None, max: Number | None = None) -> Tensor:
        return self._inplace(D.clamp, min=min, max=max)

    clip_ = clamp_

    def zero_(self) -> Tensor:
        return self._inplace(D.zero)

    def fill_(self, value: Operand) -> Tensor:
        if isinstance(value, Tensor):
            return self._inplace(D.fill_tensor, value)
        return self._inplace(D.fill, value=value)

    def copy_(self, src: Tensor) -> Tensor:
        return self._inplace(D.copy, src)

    def masked_fill_(self, mask: Tensor, value: Operand) -> Tensor:
        if isinstance(value, Tensor):  # a 0-dim tensor value has an edge of its own
            return self._inplace(D.masked_fill_tensor, mask, value)
        return self._inplace(D.masked_fill, mask, value=value)

    # mypy objects that in-place operators differ from the binary ones; torch's do too.
    def __iadd__(self, other: Operand) -> Tensor:  # type: ignore[misc]
        return self.add_(other)

    def __isub__(self, other: Operand) -> Tensor:  # type: ignore[misc]
        return self.sub_(other)

    def __imul__(self, other: Operand) -> Tensor:  # type: ignore[misc]
        return self.mul_(other)

    def __itruediv__(self, other: Operand) -> Tensor:  # type: ignore[misc]
        return self.div_(other)

    def normal_(self, mean: _float = 0.0, std: _float = 1.0) -> Tensor:
        from refgrad._factories import _generator

        with no_grad():
            return self.copy_(Tensor._from_array(_generator().normal(mean, std, self.shape)))

    def uniform_(self, a: _float = 0.0, b: _float = 1.0) -> Tensor:
        from refgrad._factories import _generator

        with no_grad():
            return self.copy_(Tensor._from_array(_generator().uniform(a, b, self.shape)))


class _ValuesIndices(tuple[Tensor, Tensor]):
    """What ``max(dim)`` returns: a pair that also has ``.values`` and ``.indices``."""

    def __new__(cls, values: Tensor, indices: Tensor) -> _ValuesIndices:
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


# -- helpers shared by the op machinery -------------------------------------------------------


def as_operand(value: Any) -> Tensor:
    """Tensors pass through; a Python number or array becomes a (0-dim) tensor."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, bool | int | float):
        return Tensor._from_array(np.array(value, dtype=_dtypes.python_scalar_dtype(value).numpy))
    if isinstance(value, np.ndarray | np.generic):
        return Tensor._from_array(np.asarray(value))
    raise TypeError(f"expected Tensor as element 0 in argument 0, but got {type(value).__name__}")


def _tensor_argument(value: Any, function: str, argument: str, position: int) -> Tensor:
    """torch refuses a Python number (or anything else) where its signature says Tensor."""
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{function}(): argument '{argument}' (position {position}) must be Tensor, not "
            f"{type(value).__name__}"
        )
    return value


def _is_operand(value: object) -> bool:
    return isinstance(value, Tensor | bool | int | float | np.ndarray | np.generic)


def make_view(
    source: Tensor, array: np.ndarray, op: Op, attrs: dict[str, Any], output: int
) -> Tensor:
    """A view of `source`: shares its memory and version counter, remembers its base."""
    view = Tensor._from_array(array, source._version_counter)
    base = source._base if source._base is not None else source
    view._base = base
    parent_fn = source._view_fn
    if not op.returns_tuple:

        def view_fn(b: Tensor) -> Tensor:
            return op(parent_fn(b) if parent_fn else b, **attrs)
    else:

        def view_fn(b: Tensor) -> Tensor:
            return op(parent_fn(b) if parent_fn else b, **attrs)[output]

    view._view_fn = view_fn
    view._view_version = source._version_counter.value
    view._is_inference = source._is_inference or _GradState.inference
    view._is_zero_tensor = source._is_zero_tensor  # a view of a ZeroTensor is one too
    # torch's "creation meta", inherited by views of views.
    view._created_in_no_grad = source._created_in_no_grad or not _GradState.enabled
    view._multi_output = source._multi_output or (op.returns_tuple and _GradState.enabled)
    return view


def _filled(size: tuple[Any, ...], value: Number, d: dtype, requires_grad: bool) -> Tensor:
    t = Tensor._from_array(np.full(_flatten_size(size), value, dtype=d.numpy))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _flatten_size(size: Sequence[Any]) -> tuple[int, ...]:
    """Accept both f(2, 3) and f((2, 3)) / f(torch.Size([2, 3])), as torch does."""
    if len(size) == 1 and isinstance(size[0], Sequence | np.ndarray):
        return tuple(int(s) for s in size[0])
    return tuple(int(s) for s in size)


def _wrap_dim(dim: int, ndim: int) -> int:
    """Turn a possibly negative dim into an index, with torch's range error."""
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], "
            f"but got {dim})"
        )
    return dim % rank


def _wrap_dims(dims: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    if isinstance(dims, int):
        dims = (dims,)
    wrapped = tuple(_wrap_dim(d, ndim) for d in dims)
    if len(set(wrapped)) != len(wrapped):
        repeated = next(d for d in wrapped if wrapped.count(d) > 1)
        raise RuntimeError(f"dim {repeated} appears multiple times in the list of dims")
    return wrapped


def _reduction_dims(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """The dims a reduction reduces. None and () both mean all of them, as in torch."""
    dims = () if dim is None else _wrap_dims(dim, ndim)
    return tuple(d for d in dims if d < ndim) or tuple(range(ndim))  # a 0-dim has none


def _infer_shape(shape: tuple[int, ...], numel: int) -> tuple[int, ...]:
    """Resolve one -1 in a view/reshape shape, with torch's error when sizes disagree."""
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for i, s in enumerate(shape):
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {list(shape)}")
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        return tuple(numel // known if s == -1 else s for s in shape)
    if known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _expanded_shape(t: Tensor, sizes: tuple[int, ...]) -> tuple[int, ...]:
    shape = t.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand(torch.{t.dtype.legacy_type_name}{{{list(shape)}}}, size={list(sizes)}): the "
            f"number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({len(shape)})"
        )
    result = list(sizes)
    offset = len(sizes) - len(shape)
    for i, wanted in enumerate(sizes[:offset]):
        if wanted < 0:
            raise RuntimeError(
                f"The expanded size of the tensor ({wanted}) isn't allowed in a leading, "
                f"non-existing dimension {i}"
            )
    for i, own in enumerate(shape):
        wanted = sizes[offset + i]
        if wanted == -1:
            result[offset + i] = own
        elif own not in (1, wanted):
            raise RuntimeError(
                f"The expanded size of the tensor ({wanted}) must match the existing size "
                f"({own}) at non-singleton dimension {offset + i}.  Target sizes: "
                f"{list(sizes)}.  Tensor sizes: {list(shape)}"
            )
    return tuple(result)


def _variance_args(
    t: Tensor, dim: Any, unbiased: bool | None, keepdim: bool, correction: Number | None
) -> dict[str, Any]:
    if correction is None:
        correction = 0 if unbiased is False else 1
    return {"dim": _reduction_dims(dim, t.ndim), "correction": correction, "keepdim": keepdim}


def _check_nonempty(t: Tensor, name: str) -> None:
    if t.numel() == 0:
        raise RuntimeError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify "
            "the reduction dim with the 'dim' argument."
        )


def _c_type_name(d: dtype) -> str:
    return (
        d.c_name.lower()
        if d.c_name in ("Double", "Float", "Half", "Long", "Int", "Bool")
        else d.c_name
    )


from refgrad.ops import derivatives as D  # noqa: E402 - the op table needs Tensor defined
