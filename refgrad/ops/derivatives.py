"""The op table: every operation refgrad knows, one entry each.

Read an entry like a line of PyTorch's derivatives.yaml:

    mul = Op("mul", np.multiply, "MulBackward0", ("self", "other"), {
        "self": lambda grad, other: grad * other,
        "other": lambda grad, self: grad * self,
    })

``mul`` computes ``np.multiply`` forward; its grad_fn is a ``MulBackward0``; the gradient
for ``self`` is ``grad * other`` (so ``other`` is saved when ``self`` needs a gradient)
and vice versa. Formulas are written with Tensor operations, so they are themselves
differentiable: that is all ``create_graph=True`` needs. The parameter-name conventions
are documented in ``refgrad/ops/op.py``. Broadcasting needs no formula: the engine sums
each gradient back to its input's shape, like torch's.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from refgrad import _dtypes
from refgrad.autograd.grad_array import is_zero_tensor, torch_sign, zero_grad_like
from refgrad.autograd.inplace import ZERO_TENSOR_INPLACE
from refgrad.ops.layout import torch_layout
from refgrad.ops.op import Op, bool_result, float_dtype, forward_dtype, long_result, sum_dtype

if TYPE_CHECKING:
    from refgrad._tensor import Tensor

S = ("self",)
SO = ("self", "other")


# -- torch's errors where NumPy's differ ------------------------------------------------------


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape `shapes` broadcast to, or torch's error for the last clashing dim."""
    result: tuple[int, ...] = ()
    for shape in shapes:
        ndim = max(len(result), len(shape))
        a = (1,) * (ndim - len(result)) + result
        b = (1,) * (ndim - len(shape)) + tuple(shape)
        for i in reversed(range(ndim)):
            if a[i] != b[i] and a[i] != 1 and b[i] != 1:
                raise RuntimeError(
                    f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) "
                    f"at non-singleton dimension {i}"
                )
        result = tuple(y if x == 1 else x for x, y in zip(a, b, strict=True))
    return result


def _broadcasting(forward: Any) -> Any:
    """An elementwise forward: NumPy broadcasts as torch does, but words a clash differently,
    refuses a Python int outside the tensor's integer dtype, which torch wraps around, and
    lays out the result otherwise when the inputs' layouts disagree (see layout.py)."""

    def checked(*operands: Any, **attrs: Any) -> Any:
        try:
            result = forward(*operands, **attrs)
        except ValueError:
            broadcast_shape(*(np.shape(o) for o in operands))  # raises torch's error
            raise
        except OverflowError:
            result = forward(*_wrapped_ints(operands), **attrs)
        # (Only forward results: gradients, GradArrays, keep NumPy's layout.)
        return torch_layout(result, operands) if type(result) is np.ndarray else result

    return checked


def _wrapped_ints(operands: tuple[Any, ...]) -> list[Any]:
    """Python ints as the operands' integer dtype, wrapping around: int8 + 1000 adds -24."""
    array_dtype = next(o.dtype for o in operands if isinstance(o, np.ndarray))
    wrapped = []
    for operand in operands:
        if isinstance(operand, int) and not isinstance(operand, bool):
            if not -(2**63) <= operand < 2**64:  # torch reads ints as 64 bits, at most
                raise OverflowError("int too big to convert")
            as_int64 = (operand + 2**63) % 2**64 - 2**63
            operand = np.array(as_int64, dtype=np.int64).astype(array_dtype)
        wrapped.append(operand)
    return wrapped


def _is_bool(operand: Any) -> bool:
    return isinstance(operand, bool) or getattr(operand, "dtype", None) == np.bool_


def _integer_bitwise(forward: Any, name: str) -> Any:
    """Bitwise ops exist for bool and integer dtypes only (checked after promotion)."""

    def checked(*operands: Any) -> Any:
        for operand in operands:
            if isinstance(operand, np.ndarray) and operand.dtype.kind == "f":
                c_name = _dtypes.from_numpy_dtype(operand.dtype).c_name
                raise NotImplementedError(f'"{name}_cpu" not implemented for \'{c_name}\'')
        return _broadcasting(forward)(*operands)

    return checked


def _invert(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return np.invert(a)


def _subtract(a: Any, b: Any, alpha: Any) -> Any:
    if _is_bool(a) and _is_bool(b):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. "
            "Use the `^` or `logical_xor()` operator instead."
        )
    return a - alpha * b if alpha != 1 else a - b


def _negative(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
            "to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    return np.negative(a)


def _in_result_type(a: np.ndarray, *numbers: Any) -> np.ndarray:
    """`a` cast to torch's result type of `a` and Python numbers: int meets 0.5 -> float."""
    own = _dtypes.from_numpy_dtype(a.dtype)
    scalars = [_dtypes.python_scalar_dtype(n) for n in numbers if n is not None]
    wanted = _dtypes.result_type([own], [], scalars)
    return a if wanted is own else a.astype(wanted.numpy)


# -- arithmetic -----------------------------------------------------------------------------

add = Op("add", _broadcasting(lambda a, b, alpha: a + alpha * b if alpha != 1 else a + b), "AddBackward0", SO, {
    "self": lambda grad: grad,
    "other": lambda grad, alpha: grad if alpha == 1 else mul_scalar(grad, other=alpha),
}, zero_tensors="sum")
sub = Op("sub", _broadcasting(_subtract), "SubBackward0", SO, {
    "self": lambda grad: grad,
    "other": lambda grad, alpha: -grad if alpha == 1 else mul_scalar(-grad, other=alpha),
}, zero_tensors="sum")
# `2 - x` (a number on the left): only the tensor is differentiable, so the node has one edge.
# torch's maybe_multiply(-grad, alpha): a product with a number is a MulBackward1.
rsub = Op("rsub", lambda a, other, alpha: other - alpha * a if alpha != 1 else other - a, "RsubBackward1", SO, {
    "self": lambda grad, alpha: -grad if alpha == 1 else mul_scalar(-grad, other=alpha),
})
# torch.rsub(x, y) with two tensors: y - x, a node of its own.
rsub_tensor = Op("rsub", _broadcasting(lambda a, b, alpha: _subtract(b, a, alpha)), "RsubBackward0", SO, {
    "self": lambda grad, alpha: -grad if alpha == 1 else mul_scalar(-grad, other=alpha),
    "other": lambda grad: grad,
})
mul = Op("mul", _broadcasting(np.multiply), "MulBackward0", SO, {
    "self": lambda grad, other: grad * other,
    "other": lambda grad, self: grad * self,
}, zero_tensors="product")
div = Op("div", _broadcasting(np.true_divide), "DivBackward0", SO, {
    "self": lambda grad, other: grad / other,
    "other": lambda grad, self, other: -grad * ((self / other) / other),
}, dtypes=float_dtype, zero_tensors="quotient")
neg = Op("neg", _negative, "NegBackward0", S, {
    "self": lambda grad: -grad,
})
reciprocal = Op("reciprocal", np.reciprocal, "ReciprocalBackward0", S, {
    "self": lambda grad, result: -grad * (result * result),
}, dtypes=float_dtype)


def _pow_scalar_grad(grad: Tensor, self: Tensor, exponent: float) -> Tensor:
    # torch's pow_backward: zeros without history for x ** 0 (0 * 0**-1 would be nan), else
    # grad * (exponent * self.pow(exponent - 1)); the product with a number is a MulBackward1.
    if exponent == 0:
        return _zeros_like(grad)
    exponent = float(exponent)  # torch takes the exponent as a double here
    return grad * mul_scalar(self ** (exponent - 1), other=exponent)


def _pow_base_grad(grad: Tensor, self: Tensor, exponent: Tensor) -> Tensor:
    # torch's pow_backward_self: where(exponent == 0, 0, grad * (exponent * self.pow(exponent - 1))),
    # so under create_graph the gradient is a WhereBackward0.
    return where(exponent == 0.0, 0.0, grad * (exponent * self ** sub_scalar(exponent, other=1)))


def _pow_exponent_grad(grad: Tensor, self: Tensor, exponent: Tensor, result: Tensor) -> Tensor:
    # torch's pow_backward_exponent: d/de b**e = b**e * log(b), taken as 0 where b == 0 and
    # e >= 0: grad * where(b == 0 & e >= 0, 0, result * b.log()).
    at_zero = (self == 0) & (exponent >= 0)
    promoted = self if self.dtype == result.dtype else self.to(result.dtype)
    return grad * where(at_zero, 0.0, result * promoted.log())


def _pow_scalar_base_grad(grad: Tensor, self: float, exponent: Tensor, result: Tensor) -> Tensor:
    # The base is a number, so is its log: result * log(b) is a MulBackward1; only a zero
    # base needs the where (log(0) is -inf).
    with np.errstate(all="ignore"):
        log_base = float(np.log(np.float64(self)))
    scaled = mul_scalar(result, other=log_base)
    if self == 0:
        scaled = where(exponent >= 0, 0.0, scaled)
    return grad * scaled


def _power(a: np.ndarray, exponent: Any) -> np.ndarray:
    if a.dtype.kind in "iu" and isinstance(exponent, int) and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return np.power(a, exponent)


# The exponent is a Python number: it takes part in type promotion (int ** 0.5 is float) but
# has no edge of its own.
pow_scalar = Op("pow", _power, "PowBackward0", ("self", "exponent"), {
    "self": _pow_scalar_grad,
})
pow_tensor = Op("pow", _broadcasting(np.power), "PowBackward1", ("self", "exponent"), {
    "self": _pow_base_grad,
    "exponent": _pow_exponent_grad,
})
def _pow_scalar_base_forward(base: float, exponent: np.ndarray) -> np.ndarray:
    # torch's result is contiguous whatever the exponent's layout (NumPy's follows it).
    result = np.power(base, exponent)
    if isinstance(result, np.ndarray) and not result.flags.c_contiguous:
        return result.copy(order="C")
    return result


# A Python number as the base: ``2 ** x``.
pow_scalar_base = Op("pow", _pow_scalar_base_forward, "PowBackward2", ("self", "exponent"), {
    "exponent": _pow_scalar_base_grad,
})

# -- unary elementwise ----------------------------------------------------------------------

exp = Op("exp", np.exp, "ExpBackward0", S, {
    "self": lambda grad, result: grad * result,
}, dtypes=float_dtype)
log = Op("log", np.log, "LogBackward0", S, {
    "self": lambda grad, self: grad / self,
}, dtypes=float_dtype)
log1p = Op("log1p", np.log1p, "Log1PBackward0", S, {
    "self": lambda grad, self: grad / (self + 1),
}, dtypes=float_dtype)
expm1 = Op("expm1", np.expm1, "Expm1Backward0", S, {
    "self": lambda grad, result: grad * (result + 1),
}, dtypes=float_dtype)
sin = Op("sin", np.sin, "SinBackward0", S, {
    "self": lambda grad, self: grad * self.cos(),
}, dtypes=float_dtype)
cos = Op("cos", np.cos, "CosBackward0", S, {
    "self": lambda grad, self: grad * -self.sin(),
}, dtypes=float_dtype)
tan = Op("tan", np.tan, "TanBackward0", S, {
    "self": lambda grad, result: grad * (result * result + 1),
}, dtypes=float_dtype)
tanh = Op("tanh", np.tanh, "TanhBackward0", S, {
    "self": lambda grad, result: tanh_backward(grad, result),
}, dtypes=float_dtype)
sigmoid = Op("sigmoid", lambda a: 1 / (1 + np.exp(-a)), "SigmoidBackward0", S, {
    "self": lambda grad, result: sigmoid_backward(grad, result),
}, dtypes=float_dtype)
# relu'(0) = 0; a nan input passes its gradient through (nan <= 0 is False).
relu = Op("relu", lambda a: np.where(a < 0, np.zeros_like(a), a), "ReluBackward0", S, {
    "self": lambda grad, result: threshold_backward(grad, result, threshold=0),
})
absolute = Op("abs", np.abs, "AbsBackward0", S, {
    "self": lambda grad, self: grad * self.sgn(),
})
sqrt = Op("sqrt", np.sqrt, "SqrtBackward0", S, {
    "self": lambda grad, result: grad / (result * 2),
}, dtypes=float_dtype)
rsqrt = Op("rsqrt", lambda a: 1 / np.sqrt(a), "RsqrtBackward0", S, {
    "self": lambda grad, result: grad * (result ** 3) * -0.5,
}, dtypes=float_dtype)


def _zeros_like(grad: Tensor) -> Tensor:
    """A gradient that is zero wherever the op is flat (not grad * 0: inf * 0 is nan)."""
    return grad.new_zeros(grad.shape)


sign = Op("sign", torch_sign, "SignBackward0", S, {"self": _zeros_like})
# torch's sgn formula (written for complex numbers) reads self and result, so it saves them;
# for a real input its gradient is an efficient ZeroTensor (immutable once stored as .grad).
sgn = Op("sgn", torch_sign, "SgnBackward0", S, {"self": lambda grad, self, result: zero_grad_like(grad)})
floor = Op("floor", np.floor, "FloorBackward0", S, {"self": _zeros_like})
ceil = Op("ceil", np.ceil, "CeilBackward0", S, {"self": _zeros_like})
round_even = Op("round", np.round, "RoundBackward0", S, {"self": _zeros_like})
to_copy = Op("to", lambda a, dtype: a.astype(dtype.numpy), "ToCopyBackward0", S, {
    "self": lambda grad, self_dtype: grad.to(self_dtype),
}, dtypes=forward_dtype)
clone = Op("clone", lambda a: a.copy(), "CloneBackward0", S, {"self": lambda grad: grad})

# -- comparisons and logic: values only, never differentiable ----------------------------------

eq = Op("eq", _broadcasting(np.equal), inputs=SO, dtypes=bool_result)
ne = Op("ne", _broadcasting(np.not_equal), inputs=SO, dtypes=bool_result)
lt = Op("lt", _broadcasting(np.less), inputs=SO, dtypes=bool_result)
le = Op("le", _broadcasting(np.less_equal), inputs=SO, dtypes=bool_result)
gt = Op("gt", _broadcasting(np.greater), inputs=SO, dtypes=bool_result)
ge = Op("ge", _broadcasting(np.greater_equal), inputs=SO, dtypes=bool_result)
logical_not = Op("logical_not", np.logical_not, dtypes=bool_result)
logical_and = Op("logical_and", _broadcasting(np.logical_and), inputs=SO, dtypes=bool_result)
logical_or = Op("logical_or", _broadcasting(np.logical_or), inputs=SO, dtypes=bool_result)
logical_xor = Op("logical_xor", _broadcasting(np.logical_xor), inputs=SO, dtypes=bool_result)
bitwise_not = Op("bitwise_not", _invert)
bitwise_and = Op("bitwise_and", _integer_bitwise(np.bitwise_and, "bitwise_and"), inputs=SO)
bitwise_or = Op("bitwise_or", _integer_bitwise(np.bitwise_or, "bitwise_or"), inputs=SO)
bitwise_xor = Op("bitwise_xor", _integer_bitwise(np.bitwise_xor, "bitwise_xor"), inputs=SO)
isnan = Op("isnan", np.isnan, dtypes=bool_result)
isinf = Op("isinf", np.isinf, dtypes=bool_result)
isfinite = Op("isfinite", np.isfinite, dtypes=bool_result)

# -- selection ---------------------------------------------------------------------------------


def _maximum_grad(grad: Tensor, self: Tensor, other: Tensor) -> Tensor:
    # Ties split the gradient evenly; with a nan on either side, both inputs get all of it.
    return (grad / 2).where(self == other, grad).masked_fill(self < other, 0.0)


maximum = Op("maximum", _broadcasting(np.maximum), "MaximumBackward0", SO, {
    "self": _maximum_grad,
    "other": lambda grad, self, other: _maximum_grad(grad, other, self),
})
minimum = Op("minimum", _broadcasting(np.minimum), "MinimumBackward0", SO, {
    "self": lambda grad, self, other: _maximum_grad(grad, other, self),
    "other": _maximum_grad,
})


def _clamp_forward(a: np.ndarray, min: Any, max: Any) -> np.ndarray:
    a = _in_result_type(a, min, max)  # an integer tensor clamped to 0.5 is float
    if min is not None:
        a = np.maximum(a, np.asarray(min, dtype=a.dtype))
    if max is not None:  # applied last: with min > max, everything becomes max, as in torch
        a = np.minimum(a, np.asarray(max, dtype=a.dtype))
    return a


def _pass_where(grad: Tensor, keep: Tensor) -> Tensor:
    """grad where `keep`, else exactly 0 (torch uses where(): an inf grad gives 0, not nan)."""
    return where(keep, grad, 0.0)


def _clamp_grad(grad: Tensor, self: Tensor, min: Any, max: Any) -> Tensor:
    # Inclusive at the bounds (unlike relu at 0); nan inputs get no gradient.
    if min is not None and max is not None:
        return _pass_where(grad, (self >= min) & (self <= max))
    return _pass_where(grad, self >= min if min is not None else self <= max)


clamp = Op("clamp", _clamp_forward, "ClampBackward1", S, {"self": _clamp_grad}, dtypes=forward_dtype)
clamp_min = Op("clamp_min", lambda a, min: _clamp_forward(a, min, None), "ClampMinBackward0", S, {
    "self": lambda grad, self, min: _pass_where(grad, self >= min),
}, dtypes=forward_dtype)
clamp_max = Op("clamp_max", lambda a, max: _clamp_forward(a, None, max), "ClampMaxBackward0", S, {
    "self": lambda grad, self, max: _pass_where(grad, self <= max),
}, dtypes=forward_dtype)
clamp_tensor = Op("clamp", _broadcasting(lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi)), "ClampBackward0", ("self", "min", "max"), {
    "self": lambda grad, self, min, max: _pass_where(grad, (self >= min) & (self <= max)),
    "min": lambda grad, self, min, max: _pass_where(grad, (self < min) & (min < max)),
    "max": lambda grad, self, min, max: _pass_where(grad, (self > max) | (max < min)),
})


def clamp_with_tensors(self: Tensor, min: Tensor | float | None, max: Tensor | float | None) -> Tensor:
    """clamp with tensor bounds. A missing bound becomes a number that never binds: no edge."""
    if any(isinstance(b, int | float) for b in (min, max)):  # one tensor, one number
        got = ", ".join(type(b).__name__ for b in (min, max) if b is not None)
        marked = ", ".join(f"!{type(b).__name__}!" for b in (min, max) if b is not None)
        raise TypeError(
            f"clamp() received an invalid combination of arguments - got ({got}), but expected "
            "one of:\n * (Tensor min = None, Tensor max = None)\n      didn't match because some "
            f"of the arguments have invalid types: ({marked})\n * (Number min = None, Number max = "
            f"None)\n      didn't match because some of the arguments have invalid types: ({marked})\n"
        )
    tensors = [b for b in (min, max) if b is not None and not isinstance(b, int | float)]
    common = functools.reduce(_dtypes.promote_types, (b.dtype for b in tensors), self.dtype)
    if common.is_floating_point:
        lowest, highest = -math.inf, math.inf
    else:
        lowest, highest = (int(v) for v in (np.iinfo(common.numpy).min, np.iinfo(common.numpy).max))
    return clamp_tensor(self, lowest if min is None else min, highest if max is None else max)


def _where_forward(condition: np.ndarray, a: Any, b: Any) -> np.ndarray:
    if condition.dtype != np.bool_:
        c_name = _dtypes.from_numpy_dtype(condition.dtype).c_name
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype {c_name}"
        )
    return _broadcasting(np.where)(condition, a, b)


def check_masked_fill_value(value: Any) -> None:
    if getattr(value, "ndim", 0) != 0:
        raise RuntimeError(
            "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{value.ndim} dimension(s)."
        )


def check_mask(mask: np.ndarray) -> None:
    if mask.dtype != np.bool_:
        c_type = _dtypes.from_numpy_dtype(mask.dtype).c_name.lower()
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {c_type}")


def _masked_fill_forward(a: np.ndarray, mask: np.ndarray, value: Any) -> np.ndarray:
    # torch's masked_fill broadcasts the mask with self (mask first), then runs masked_fill_.
    # (masked_fill_ itself checks in another order: see ops/inplace.py.)
    broadcast_shape(mask.shape, a.shape)
    check_masked_fill_value(value)
    check_mask(mask)
    return np.where(mask, np.asarray(value, a.dtype), a)


where: Op = Op("where", _where_forward, "WhereBackward0", ("condition", "self", "other"), {
    "self": lambda grad, condition: where(condition, grad, 0.0),
    "other": lambda grad, condition: where(condition, 0.0, grad),
}, promoted=SO)
masked_fill = Op("masked_fill", _masked_fill_forward, "MaskedFillBackward0", ("self", "mask"), {
    "self": lambda grad, mask: grad.masked_fill(mask, 0.0),
}, promoted=S)
masked_fill_tensor = Op("masked_fill", _masked_fill_forward, "MaskedFillBackward1", ("self", "mask", "value"), {
    "self": lambda grad, mask: grad.masked_fill(mask, 0.0),
    "value": lambda grad, mask: _pass_where(grad, mask).sum(),
}, promoted=S)

# -- reductions ------------------------------------------------------------------------------


def _unsqueeze_dims(grad: Tensor, dim: tuple[int, ...], keepdim: bool) -> Tensor:
    """Give a reduced gradient back its reduced dims (as size 1) so it broadcasts."""
    if not keepdim:
        for d in sorted(dim):
            grad = grad.unsqueeze(d)
    return grad


def _reduced_count(shape: tuple[int, ...], dim: tuple[int, ...]) -> int:
    return math.prod(shape[d] for d in dim)


sum_all = Op("sum", lambda a: np.sum(a), "SumBackward0", S, {
    "self": lambda grad, self_shape: grad.expand(self_shape),
}, dtypes=sum_dtype)
sum_dim = Op("sum", lambda a, dim, keepdim: np.sum(a, axis=dim, keepdims=keepdim), "SumBackward1", S, {
    "self": lambda grad, self_shape, dim, keepdim: _unsqueeze_dims(grad, dim, keepdim).expand(self_shape),
}, dtypes=sum_dtype)


def _mean_forward(a: np.ndarray, dim: tuple[int, ...] | None = None, keepdim: bool = False) -> np.ndarray:
    # sum / count rather than np.mean, which warns on an empty slice (torch just gives nan).
    count = a.size if dim is None else _reduced_count(a.shape, dim)
    return np.sum(a, axis=dim, keepdims=keepdim) / count


mean = Op("mean", _mean_forward, "MeanBackward0", S, {
    "self": lambda grad, self_shape: div_scalar(grad.expand(self_shape), other=math.prod(self_shape)),
})
mean_dim = Op("mean", _mean_forward, "MeanBackward1", S, {
    "self": lambda grad, self_shape, dim, keepdim: div_scalar(
        _unsqueeze_dims(grad, dim, keepdim).expand(self_shape), other=_reduced_count(self_shape, dim)
    ),
})


def _prod_of_others(self: Tensor, dim: int) -> Tensor:
    """For each element, the product of the *other* elements along dim.

    Built as n products with one factor masked to 1, rather than result / self, so that
    zeros are exact and the formula stays differentiable (create_graph).
    """
    from refgrad._factories import eye

    moved = self.transpose(dim, -1)
    n = moved.shape[-1]
    rows = moved.unsqueeze(-2).expand(*moved.shape[:-1], n, n)
    others = rows.masked_fill(eye(n, dtype=_dtypes.bool_), 1).prod(-1)
    return others.transpose(dim, -1)


def _prod_grad(grad: Tensor, self: Tensor, result: Tensor) -> Tensor:
    # torch's three cases: a 0-dim input passes grad on; without zeros, result / self;
    # with zeros, the products of the other elements.
    if self.ndim == 0:
        return grad
    if self.numel() == 0:
        return grad.expand(self.shape)
    if not bool((self == 0).sum()):
        return grad * (result / self)
    return (grad * _prod_of_others(self.reshape(-1), 0)).view(self.shape)


def _prod_dim_grad(grad: Tensor, self: Tensor, result: Tensor, dim: int, keepdim: bool) -> Tensor:
    if self.ndim == 0:
        return grad
    grad, result = _unsqueeze_dims(grad, (dim,), keepdim), _unsqueeze_dims(result, (dim,), keepdim)
    if not bool((self == 0).sum()):
        return grad * (result / self)
    return grad * _prod_of_others(self, dim)


prod = Op("prod", lambda a: np.prod(a), "ProdBackward0", S, {"self": _prod_grad}, dtypes=sum_dtype)
prod_dim = Op("prod", lambda a, dim, keepdim: np.prod(a, axis=dim if a.ndim else None, keepdims=keepdim and a.ndim > 0), "ProdBackward1", S, {
    "self": _prod_dim_grad,
}, dtypes=sum_dtype)


def _var_forward(a: np.ndarray, dim: tuple[int, ...], correction: float, keepdim: bool, name: str = "var") -> np.ndarray:
    if a.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dof = _reduced_count(a.shape, dim) - correction
    if dof <= 0:
        warnings.warn(
            f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "reduction factor (input numel divided by output numel).",
            UserWarning,
            stacklevel=5 if name == "var" else 6,  # the caller of x.var() / x.std()
        )
    squares = np.sum(np.square(a - _mean_forward(a, dim, keepdim=True)), axis=dim, keepdims=keepdim)
    return squares / max(0, dof)


def _var_grad(grad: Tensor, self: Tensor, dim: tuple[int, ...], correction: float, keepdim: bool) -> Tensor:
    grad = _unsqueeze_dims(grad, dim, keepdim)
    dof = _reduced_count(self.shape, dim) - correction
    if dof <= 0 and len(dim) == self.ndim:
        # torch's special case for a full reduction: 2 / 0 is inf, and nan where x == mean.
        at_mean = self == self.mean()
        return grad * grad.new_full(self.shape, math.inf).masked_fill(at_mean, math.nan)
    scale = 2.0 / dof if dof else math.inf
    return grad * (self - self.mean(dim, keepdim=True)) * scale


def _std_grad(grad: Tensor, self: Tensor, result: Tensor, dim: tuple[int, ...], correction: float, keepdim: bool) -> Tensor:
    # Where the std is 0 the gradient is 0, not grad / 0: torch masks it in place
    # (masked_fill_), which a ZeroTensor gradient (grad / x is one) refuses.
    scaled = grad / (result * 2)
    if is_zero_tensor(scaled):
        raise RuntimeError(ZERO_TENSOR_INPLACE)
    return _var_grad(scaled.masked_fill(result == 0, 0.0), self, dim, correction, keepdim)


var = Op("var", _var_forward, "VarBackward0", S, {"self": _var_grad})
std = Op("std", lambda a, dim, correction, keepdim: np.sqrt(_var_forward(a, dim, correction, keepdim, "std")), "StdBackward0", S, {
    "self": _std_grad,
})


def _evenly_to_extremes(grad: Tensor, self: Tensor, result: Tensor, dim: tuple[int, ...], keepdim: bool) -> Tensor:
    # amax / amin (and the inf-norm): ties share the gradient equally.
    at_extreme = self == _unsqueeze_dims(result, dim, keepdim)
    count = at_extreme.sum(dim, keepdim=True)
    return (_unsqueeze_dims(grad, dim, keepdim) / count) * at_extreme


def _evenly_to_ties(grad: Tensor, self: Tensor, result: Tensor) -> Tensor:
    # max() / min(): ties share the gradient evenly; a nan result gives it to the nans.
    at_result = self.isnan() if bool(result.isnan()) else self == result
    return grad.new_zeros(self.shape).masked_fill(at_result, grad / at_result.sum())


max_all = Op("max", lambda a: np.max(a), "MaxBackward1", S, {"self": _evenly_to_ties})
min_all = Op("min", lambda a: np.min(a), "MinBackward1", S, {"self": _evenly_to_ties})


def _check_reducible(name: str, a: np.ndarray, dims: tuple[int, ...] | None) -> None:
    """max, min and their kin have no value for an empty slice: torch refuses, by name."""
    if dims is None and a.size == 0:
        raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
    for d in dims or ():
        if a.ndim and a.shape[d] == 0:  # a 0-dim tensor's dim 0 has size 1
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _extreme(name: str, reduce: Any) -> Any:
    def forward(a: np.ndarray, dim: tuple[int, ...], keepdim: bool) -> np.ndarray:
        _check_reducible(name, a, dim)
        return reduce(a, axis=dim, keepdims=keepdim)

    return forward


amax = Op("amax", _extreme("amax", np.amax), "AmaxBackward0", S, {"self": _evenly_to_extremes})
amin = Op("amin", _extreme("amin", np.amin), "AminBackward0", S, {"self": _evenly_to_extremes})


def _extreme_dim_forward(name: str, pick: Any) -> Any:
    def forward(a: np.ndarray, dim: int, keepdim: bool) -> tuple[np.ndarray, np.ndarray]:
        _check_reducible(name, a, (dim,))
        if a.ndim == 0:  # the value itself, at index 0
            return a.copy(), np.zeros((), np.int64)
        indices = np.expand_dims(pick(a, axis=dim), dim)
        values = np.take_along_axis(a, indices, axis=dim)
        if not keepdim:
            values, indices = values.squeeze(dim), indices.squeeze(dim)
        return values, indices.astype(np.int64)

    return forward


def _to_index(grad: Tensor, self_shape: tuple[int, ...], indices: Tensor, dim: int, keepdim: bool) -> Tensor:
    # All of the gradient goes to the single index returned (the first of any ties).
    if not self_shape:
        return grad  # a 0-dim input is its own maximum
    grad, indices = _unsqueeze_dims(grad, (dim,), keepdim), _unsqueeze_dims(indices, (dim,), keepdim)
    return grad.new_zeros(self_shape).scatter(dim, indices, grad)


def _nan_first(pick: Any) -> Any:
    """argmax/argmin that, like torch, report the first nan if there is one."""
    def find(a: np.ndarray, axis: int) -> np.ndarray:
        nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
        return np.where(nan.any(axis=axis), np.argmax(nan, axis=axis), pick(a, axis=axis))

    return find


max_dim = Op("max", _extreme_dim_forward("max", _nan_first(np.argmax)), "MaxBackward0", S, {
    "self": _to_index,
}, outputs=("values", "indices"))
min_dim = Op("min", _extreme_dim_forward("min", _nan_first(np.argmin)), "MinBackward0", S, {
    "self": _to_index,
}, outputs=("values", "indices"))


def _arg_extreme(name: str, pick: Any) -> Any:
    def forward(a: np.ndarray, dim: int | None, keepdim: bool) -> np.ndarray:
        _check_reducible(name, a, None if dim is None else (dim,))
        return pick(a, axis=dim if a.ndim else None, keepdims=keepdim and a.ndim > 0)

    return forward


argmax = Op("argmax", _arg_extreme("argmax", np.argmax), dtypes=long_result)
argmin = Op("argmin", _arg_extreme("argmin", np.argmin), dtypes=long_result)


def _logsumexp_forward(a: np.ndarray, dim: tuple[int, ...], keepdim: bool) -> np.ndarray:
    peak = np.amax(a, axis=dim, keepdims=True, initial=-np.inf)  # -inf for an empty tensor
    peak = np.where(np.isfinite(peak), peak, 0)
    out = np.log(np.sum(np.exp(a - peak), axis=dim, keepdims=True)) + peak
    return out if keepdim else np.squeeze(out, axis=dim)


logsumexp = Op("logsumexp", _logsumexp_forward, "LogsumexpBackward0", S, {
    "self": lambda grad, self, result, dim, keepdim: (
        _unsqueeze_dims(grad, dim, keepdim) * (self - _unsqueeze_dims(result, dim, keepdim)).exp()
    ),
}, dtypes=float_dtype)


def _norm_forward(a: np.ndarray, ord: float, dim: tuple[int, ...], keepdim: bool) -> np.ndarray:
    if a.dtype.kind != "f":
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{_c_name(a)}"
        )
    magnitude = np.abs(a)
    if ord == math.inf:
        return np.amax(magnitude, axis=dim, keepdims=keepdim)
    if ord == -math.inf:
        return np.amin(magnitude, axis=dim, keepdims=keepdim)
    if ord == 0:  # the number of nonzero elements
        return np.sum(magnitude != 0, axis=dim, keepdims=keepdim).astype(a.dtype)
    with np.errstate(all="ignore"):
        return np.sum(magnitude**ord, axis=dim, keepdims=keepdim) ** (1.0 / ord)


def _norm_grad(grad: Tensor, self: Tensor, result: Tensor, ord: float, dim: tuple[int, ...], keepdim: bool) -> Tensor | None:
    """torch's norm_backward, op for op (the graph shows under create_graph)."""
    if ord == 0:
        return None  # no gradient: the count of nonzeros is flat
    if math.isinf(ord):
        return _evenly_to_extremes(grad, self.abs(), result, dim, keepdim) * self.sgn()
    norm = _unsqueeze_dims(result, dim, keepdim)
    grad = _unsqueeze_dims(grad, dim, keepdim)
    if ord == 2.0:
        # Zero where the norm is zero (torch masks the 0/0). grad first, as in torch: a
        # ZeroTensor gradient gives one.
        return grad * (self / norm).masked_fill(norm == 0, 0.0)
    if ord == 1.0:
        return grad * self.sgn()
    if ord < 1.0:
        self_scaled = self.sgn() * (self.abs() ** (ord - 1)).masked_fill(self == 0, 0.0)
        return self_scaled * grad * norm ** (1 - ord)
    self_scaled = self.sgn() * self.abs() ** (ord - 1) if ord < 2.0 else self * self.abs() ** (ord - 2)
    scale_v = grad / norm ** (ord - 1)
    scale_v.masked_fill_(norm == 0, 0.0)  # in place, as torch: a ZeroTensor gradient raises
    return self_scaled * scale_v


norm = Op("norm", _norm_forward, "LinalgVectorNormBackward0", S, {"self": _norm_grad})


def _check_softmax_input(name: str, a: np.ndarray, dim: int) -> None:
    if a.dtype.kind != "f":
        kernel = f"{name}_lastdim_kernel_impl" if dim == a.ndim - 1 else f"{name}_kernel_impl"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_c_name(a)}\'')


def _softmax_forward(a: np.ndarray, dim: int) -> np.ndarray:
    _check_softmax_input("softmax", a, dim)
    axis = dim if a.ndim else None  # a 0-dim tensor has dim 0 (and -1) all the same
    shifted = np.exp(a - np.amax(a, axis=axis, keepdims=True, initial=-np.inf))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def _log_softmax_forward(a: np.ndarray, dim: int) -> np.ndarray:
    _check_softmax_input("log_softmax", a, dim)
    return a - _logsumexp_forward(a, (dim,) if a.ndim else (), True)


softmax = Op("softmax", _softmax_forward, "SoftmaxBackward0", S, {
    "self": lambda grad, result, dim: softmax_backward_data(grad, result, dim=dim),
})
log_softmax = Op("log_softmax", _log_softmax_forward, "LogSoftmaxBackward0", S, {
    "self": lambda grad, result, dim: log_softmax_backward_data(grad, result, dim=dim),
})
def _cumsum_grad(grad: Tensor, dim: int) -> Tensor:
    if grad.numel() <= 1 or grad.shape[dim] == 1:
        return grad  # torch's trivial case: the gradient itself
    return grad.flip(dim).cumsum(dim).flip(dim)


cumsum = Op("cumsum", lambda a, dim: np.cumsum(a, axis=dim).reshape(a.shape), "CumsumBackward0", S, {
    "self": _cumsum_grad,
}, dtypes=sum_dtype)


# -- linear algebra --------------------------------------------------------------------------

# torch does not promote here: operands of different dtypes are an error. So only the first
# operand is "promoted" (kept as it is), and the forwards check the rest.

_C_TYPES = {"Float": "float", "Double": "double", "Half": "c10::Half", "Long": "long int", "Int": "int"}


def _c_name(a: np.ndarray) -> str:
    return _dtypes.from_numpy_dtype(a.dtype).c_name


def _mm_forward(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
            f"{b.shape[0]}x{b.shape[1]})"
        )
    if a.dtype != b.dtype:
        first, second = (_C_TYPES.get(_c_name(x), _c_name(x)) for x in (a, b))
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {first} != {second}")
    return np.matmul(a, b)


def _mv_forward(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(
            f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), "
            f"vec ({v.shape[0]})"
        )
    if a.dtype != v.dtype:
        raise RuntimeError(
            "addmv input tensors must have the same dtype, but got "
            f"{_c_name(v)}, {_c_name(a)}, and {_c_name(v)}"
        )
    return np.matmul(a, v)


def _dot_forward(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape != b.shape:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to "
            f"have the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements "
            "respectively"
        )
    if a.dtype != b.dtype:
        raise RuntimeError(
            "dot : expected both vectors to have same dtype, but found "
            f"{_c_name(a)} and {_c_name(b)}"
        )
    return np.dot(a, b)


def _bmm_forward(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if b.shape[:2] != (a.shape[0], a.shape[2]):
        raise RuntimeError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}]."
        )
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected scalar type {_c_name(a)} but found {_c_name(b)}")
    return np.matmul(a, b)


def _column_major(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    return strides[0] == 1 and strides[1] == shape[0]


# torch gives a column-major input its gradient column-major too: the transpose of a product.
mm = Op("mm", _mm_forward, "MmBackward0", ("self", "mat2"), {
    "self": lambda grad, mat2, self_shape, self_strides: (
        mat2.mm(grad.t()).t() if _column_major(self_shape, self_strides) else grad.mm(mat2.t())
    ),
    "mat2": lambda grad, self, mat2_shape, mat2_strides: (
        grad.t().mm(self).t() if _column_major(mat2_shape, mat2_strides) else self.t().mm(grad)
    ),
}, promoted=S)
mv = Op("mv", _mv_forward, "MvBackward0", ("self", "vec"), {
    "self": lambda grad, vec: grad.unsqueeze(1) * vec.unsqueeze(0),
    "vec": lambda grad, self: self.t().mv(grad),
}, promoted=S)
dot = Op("dot", _dot_forward, "DotBackward0", ("self", "tensor"), {
    "self": lambda grad, tensor: grad * tensor,
    "tensor": lambda grad, self: grad * self,
}, promoted=S, zero_tensors="product")  # torch lets dot through to its kernel: 0 . nan is 0
bmm = Op("bmm", _bmm_forward, "BmmBackward0", ("self", "mat2"), {
    "self": lambda grad, mat2: grad.bmm(mat2.transpose(1, 2)),
    "mat2": lambda grad, self: self.transpose(1, 2).bmm(grad),
}, promoted=S)

# -- shapes and views: outputs share memory with the input ------------------------------------


def _reshape_view(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    try:
        return np.reshape(a, shape, copy=False)
    except ValueError:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None


view = Op("view", _reshape_view, "ViewBackward0", S, {
    "self": lambda grad, self_shape: grad.reshape(self_shape),
}, is_view=True)
# reshape of a non-contiguous tensor that can be viewed: torch's _reshape_alias.
reshape_alias = Op("_reshape_alias", _reshape_view, "ReshapeAliasBackward0", S, {
    "self": lambda grad, self_shape: grad.reshape(self_shape),
}, is_view=True)
# reshape of a tensor that cannot be viewed: clone, then this (no view of the clone escapes).
unsafe_view = Op("_unsafe_view", lambda a, shape: a.reshape(shape), "UnsafeViewBackward0", S, {
    "self": lambda grad, self_shape: grad.reshape(self_shape),
})
transpose = Op("transpose", lambda a, dim0, dim1: np.swapaxes(a, dim0, dim1) if a.ndim else a.view(), "TransposeBackward0", S, {
    "self": lambda grad, dim0, dim1: grad.transpose(dim0, dim1),
}, is_view=True)
alias = Op("alias", lambda a: a.view(), "AliasBackward0", S, {"self": lambda grad: grad}, is_view=True)
t = Op("t", lambda a: a.T, "TBackward0", S, {"self": lambda grad: grad.t()}, is_view=True)
permute = Op("permute", lambda a, dims: np.transpose(a, dims), "PermuteBackward0", S, {
    "self": lambda grad, dims: grad.permute(*np.argsort(dims).tolist()),
}, is_view=True)
def _unsqueeze_forward(a: np.ndarray, dim: int) -> np.ndarray:
    """A view with torch's stride for the new dim: that of a dim spanning the one it goes
    before (size * stride), or one element at the end. (NumPy's differ: they show in
    stride() and in torch's overlap checks.)"""
    dim = dim + a.ndim + 1 if dim < 0 else dim
    stride = a.shape[dim] * a.strides[dim] if dim < a.ndim else a.itemsize
    return np.lib.stride_tricks.as_strided(
        a, shape=(*a.shape[:dim], 1, *a.shape[dim:]), strides=(*a.strides[:dim], stride, *a.strides[dim:]))


unsqueeze = Op("unsqueeze", _unsqueeze_forward, "UnsqueezeBackward0", S, {
    "self": lambda grad, dim: grad.squeeze(dim),
}, is_view=True)
def _unsqueeze_to(grad: Tensor, self_shape: tuple[int, ...], dim: tuple[int, ...] | None = None) -> Tensor:
    """torch's unsqueeze_to: one unsqueeze per size-1 dim the squeeze removed (of `dim`, if
    given), so under create_graph the gradient is an UnsqueezeBackward0 (or grad itself)."""
    for d, size in enumerate(self_shape):
        if size == 1 and (dim is None or d in dim):
            grad = grad.unsqueeze(d)
    return grad


squeeze = Op("squeeze", lambda a: np.squeeze(a), "SqueezeBackward0", S, {
    "self": lambda grad, self_shape: _unsqueeze_to(grad, self_shape),
}, is_view=True)


def _squeeze_dims(a: np.ndarray, dim: tuple[int, ...]) -> np.ndarray:
    if a.ndim == 0:
        return a.view()
    return np.squeeze(a, axis=tuple(d for d in dim if a.shape[d] == 1))


squeeze_dim = Op("squeeze", lambda a, dim: _squeeze_dims(a, (dim,)), "SqueezeBackward1", S, {
    "self": lambda grad, self_shape, dim: _unsqueeze_to(grad, self_shape, (dim,)),
}, is_view=True)
# matmul's 1-D @ 2-D squeezes its result in place; torch's node for that is SqueezeBackward4.
squeeze_dim_inplace = Op("squeeze_", lambda a, dim: _squeeze_dims(a, (dim,)), "SqueezeBackward4", S, {
    "self": lambda grad, self_shape, dim: _unsqueeze_to(grad, self_shape, (dim,)),
})
squeeze_dims = Op("squeeze", _squeeze_dims, "SqueezeBackward2", S, {
    "self": lambda grad, self_shape, dim: _unsqueeze_to(grad, self_shape, dim),
}, is_view=True)


def _expand_forward(a: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """A writable view with torch's strides (inferExpandGeometry): 0 where elements repeat;
    a new leading dim of size 1 gets the stride it would have if contiguous over the dims
    after it; everything expanded from a 0-dim tensor has stride 0."""
    added = len(size) - a.ndim
    strides = [0] * len(size)
    for i in reversed(range(len(size))):
        if a.ndim == 0:
            break
        own = a.shape[i - added] if i >= added else 1
        stride = a.strides[i - added] if i >= added else (
            size[i + 1] * strides[i + 1] if i + 1 < len(size) else a.itemsize)
        strides[i] = 0 if own != size[i] else stride
    return np.lib.stride_tricks.as_strided(a, shape=size, strides=tuple(strides))


expand = Op("expand", _expand_forward, "ExpandBackward0", S, {
    "self": lambda grad, self_shape: grad.sum_to_size(self_shape),
}, is_view=True)
select = Op("select", lambda a, dim, index: _take(a, dim, index), "SelectBackward0", S, {
    "self": lambda grad, self_shape, dim, index: select_backward(grad, shape=self_shape, dim=dim, index=index),
}, is_view=True)
slice_dim = Op("slice", lambda a, dim, start, stop, step: a[(np.s_[:],) * dim + (np.s_[start:stop:step],)], "SliceBackward0", S, {
    "self": lambda grad, self_shape, dim, start, stop, step: slice_backward(grad, shape=self_shape, dim=dim, start=start, stop=stop, step=step),
}, is_view=True)


def _take(a: np.ndarray, dim: int, index: int) -> np.ndarray:
    if not -a.shape[dim] <= index < a.shape[dim]:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(a.shape)} at "
            f"dimension {dim}"
        )
    return a[(np.s_[:],) * dim + (index, Ellipsis)]


def _unbind_forward(a: np.ndarray, dim: int, count: int) -> tuple[np.ndarray, ...]:
    return tuple(a[(np.s_[:],) * dim + (i, Ellipsis)] for i in range(count))


def _stack_grads(grads: list[Tensor | None], self_shape: tuple[int, ...], dim: int) -> Tensor:
    from refgrad.ops.composite import stack

    like = next(g for g in grads if g is not None)
    filled = [g if g is not None else like.new_zeros(like.shape) for g in grads]
    return stack(filled, dim)


def _cat_grads(grads: list[Tensor | None], sizes: list[int], dim: int) -> Tensor:
    from refgrad.ops.composite import cat

    like = next(g for g in grads if g is not None)
    pieces = []
    for g, size in zip(grads, sizes, strict=True):
        if g is None:
            shape = list(like.shape)
            shape[dim] = size
            g = like.new_zeros(shape)
        pieces.append(g)
    return cat(pieces, dim)


def _split_forward(a: np.ndarray, dim: int, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    bounds = np.cumsum((0, *sizes)).tolist()
    return tuple(a[(np.s_[:],) * dim + (np.s_[lo:hi],)] for lo, hi in itertools.pairwise(bounds))


def _split_entry(n: int, node: str) -> Op:
    return Op("split", _split_forward, node, S, {
        "self": lambda grads, dim, sizes: _cat_grads(grads, list(sizes), dim),
    }, outputs=tuple(f"result{i}" for i in range(n)), is_view=True)


# x.split(2) and x.chunk(2) have a SplitBackward0; x.split([1, 2]) a SplitWithSizesBackward0.
@functools.cache
def _split_op(n: int) -> Op:
    return _split_entry(n, "SplitBackward0")


@functools.cache
def _split_with_sizes_op(n: int) -> Op:
    return _split_entry(n, "SplitWithSizesBackward0")


@functools.cache
def _unbind_op(n: int) -> Op:
    return Op("unbind", _unbind_forward, "UnbindBackward0", S, {
        "self": lambda grads, self_shape, dim: _stack_grads(grads, self_shape, dim),
    }, outputs=tuple(f"result{i}" for i in range(n)), is_view=True)


def split(self: Tensor, *, dim: int, sizes: tuple[int, ...], with_sizes: bool) -> Any:
    # One entry per output count: an entry's outputs are fixed, as in torch's schema.
    entry = _split_with_sizes_op if with_sizes else _split_op
    return entry(len(sizes))(self, dim=dim, sizes=sizes)


def unbind(self: Tensor, *, dim: int, count: int) -> Any:
    return _unbind_op(count)(self, dim=dim, count=count)


# -- what backward formulas call ------------------------------------------------------------
# torch's formulas call these as ops of their own, so under create_graph a gradient's
# grad_fn is theirs (TanhBackwardBackward0, MulBackward1 for a product with a number, ...).

mul_scalar: Op = Op("mul", lambda a, other: a * other, "MulBackward1", S, {
    "self": lambda grad, other: mul_scalar(grad, other=other),
}, zero_tensors="product")
sub_scalar: Op = Op("sub", lambda a, other: a - other, "SubBackward1", S, {
    "self": lambda grad: grad,
})
div_scalar: Op = Op("div", lambda a, other: a / other, "DivBackward1", S, {
    "self": lambda grad, other: div_scalar(grad, other=other),
}, dtypes=float_dtype)
tanh_backward: Op = Op("tanh_backward", lambda g, y: g * (1 - y * y), "TanhBackwardBackward0", ("grad_output", "output"), {
    "grad_output": lambda grad, output: tanh_backward(grad, output),
    "output": lambda grad, grad_output, output: grad * grad_output * output * -2,
})
sigmoid_backward: Op = Op("sigmoid_backward", lambda g, y: g * (y * (1 - y)), "SigmoidBackwardBackward0", ("grad_output", "output"), {
    "grad_output": lambda grad, output: sigmoid_backward(grad, output),
    "output": lambda grad, grad_output, output: grad * grad_output * (1 - output * 2),
})
threshold_backward: Op = Op("threshold_backward", lambda g, y, threshold: np.where(y <= threshold, np.zeros_like(g), g), "ThresholdBackwardBackward0", ("grad_output", "self"), {
    "grad_output": lambda grad, self, threshold: threshold_backward(grad, self, threshold=threshold),
    "self": _zeros_like,
})


def _softmax_grad_forward(g: np.ndarray, y: np.ndarray, dim: int) -> np.ndarray:
    axis = dim if y.ndim else None
    return y * (g - np.sum(g * y, axis=axis, keepdims=True))


def _log_softmax_grad_forward(g: np.ndarray, y: np.ndarray, dim: int) -> np.ndarray:
    axis = dim if y.ndim else None
    return g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)


def _softmax_grad_wrt_output(grad: Tensor, grad_output: Tensor, output: Tensor, dim: int) -> Tensor:
    # f = y * (g - sum(g * y)):  df/dy applied to grad = grad * (g - sum(g * y)) - g * sum(grad * y)
    dims = (dim,) if output.ndim else ()
    return grad * (grad_output - (grad_output * output).sum(dims, keepdim=True)) - grad_output * (grad * output).sum(dims, keepdim=True)


softmax_backward_data: Op = Op("_softmax_backward_data", _softmax_grad_forward, "SoftmaxBackwardDataBackward0", ("grad_output", "output"), {
    "grad_output": lambda grad, output, dim: softmax_backward_data(grad, output, dim=dim),
    "output": _softmax_grad_wrt_output,
})
log_softmax_backward_data: Op = Op("_log_softmax_backward_data", _log_softmax_grad_forward, "LogSoftmaxBackwardDataBackward0", ("grad_output", "output"), {
    # f = g - exp(y) * sum(g):  df/dg applied to grad = grad - sum(grad * exp(y))
    "grad_output": lambda grad, output, dim: grad - (grad * output.exp()).sum((dim,) if output.ndim else (), keepdim=True),
    "output": lambda grad, grad_output, output, dim: -grad * output.exp() * grad_output.sum((dim,) if output.ndim else (), keepdim=True),
})


# -- gradients of views: write a gradient into zeros the input's shape -------------------------

select_backward: Op = Op("select_backward", lambda g, shape, dim, index: _scatter_into_zeros(g, shape, (np.s_[:],) * dim + (index,)), "SelectBackwardBackward0", ("grad_output",), {
    "grad_output": lambda grad, dim, index: grad.select(dim, index),
})
slice_backward: Op = Op("slice_backward", lambda g, shape, dim, start, stop, step: _scatter_into_zeros(g, shape, (np.s_[:],) * dim + (np.s_[start:stop:step],)), "SliceBackwardBackward0", ("grad_output",), {
    "grad_output": lambda grad, dim, start, stop, step: slice_dim(grad, dim=dim, start=start, stop=stop, step=step),
})


def _scatter_into_zeros(g: np.ndarray, shape: tuple[int, ...], where: Any) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    out[where] = g
    return out


# -- indexing and gathering --------------------------------------------------------------------


def _index_arrays(indices: tuple[Any, ...]) -> list[np.ndarray]:
    return [i for i in indices if isinstance(i, np.ndarray)]


def _indexed_shape(shape: tuple[int, ...], indices: tuple[Any, ...]) -> tuple[int, ...]:
    """The shape of a[indices], or torch's error if the index tensors do not broadcast."""
    arrays = _index_arrays(indices)
    try:
        np.broadcast_shapes(*(i.shape for i in arrays))
    except ValueError:
        shapes = ", ".join(str(list(i.shape)) for i in arrays)
        raise IndexError(
            f"shape mismatch: indexing tensors could not be broadcast together with shapes {shapes}"
        ) from None
    # No number indexes an empty dim: torch says so up front, unless there are no indices.
    indexed_sizes = [n for n, i in zip(shape, indices, strict=False) if isinstance(i, np.ndarray)]
    if 0 in indexed_sizes and 0 not in np.broadcast_shapes(*(i.shape for i in arrays)):
        raise IndexError("index is out of bounds for dimension with size 0")
    # Index a stand-in (no memory, indexed dims nonempty) with zeros: NumPy's result shape,
    # whatever the index values.
    indexed = {d for d, i in enumerate(indices) if isinstance(i, np.ndarray)}
    stand_in = np.broadcast_to(np.empty(()), tuple(max(n, int(d in indexed)) for d, n in enumerate(shape)))
    return stand_in[tuple(np.zeros_like(i) if isinstance(i, np.ndarray) else i for i in indices)].shape


def _check_bounds(shape: tuple[int, ...], indices: tuple[Any, ...]) -> None:
    """torch's kernel checks each index as it reads it: the first element (in order) of the
    broadcast index tensors with one out of bounds, named by that index tensor's position
    among the index tensors (not the dim it indexes)."""
    dims = [d for d, i in enumerate(indices) if isinstance(i, np.ndarray)]
    arrays = np.broadcast_arrays(*_index_arrays(indices))
    bad = np.zeros(arrays[0].shape, dtype=bool)
    for d, array in zip(dims, arrays, strict=True):
        bad |= (array < -shape[d]) | (array >= shape[d])
    if not bad.any():
        return
    first = int(np.flatnonzero(bad)[0])
    for j, (d, array) in enumerate(zip(dims, arrays, strict=True)):
        value = int(array.flat[first])
        if not -shape[d] <= value < shape[d]:
            raise IndexError(f"index {value} is out of bounds for dimension {j} with size {shape[d]}")


def _index_forward(a: np.ndarray, indices: tuple[Any, ...]) -> np.ndarray:
    result_shape = _indexed_shape(a.shape, indices)
    if math.prod(result_shape) == 0:
        return np.empty(result_shape, dtype=a.dtype)  # no index is read, so none is checked
    _check_bounds(a.shape, indices)
    result = a[indices]
    # torch's result is contiguous; NumPy's may not be (x[:, [0, 2]]), which would show in
    # stride() and in what contiguous() does (itself or a clone).
    contiguous = np.empty(result.shape, dtype=result.dtype)
    if result.strides != contiguous.strides:
        contiguous[...] = result
        return contiguous
    return result


def _index_put_forward(a: np.ndarray, values: np.ndarray, indices: tuple[Any, ...], accumulate: bool) -> np.ndarray:
    out = a.copy()
    selected = _indexed_shape(a.shape, indices)
    try:
        fits = np.broadcast_shapes(values.shape, selected) == selected
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast to "
            f"indexing result of shape {list(selected)}"
        )
    if values.dtype != a.dtype:  # torch's kernel does not cast (even if nothing is written)
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{_c_name(a)} for the destination and {_c_name(values)} for the source."
        )
    if math.prod(selected) == 0:
        return out  # nothing written, no index read
    _check_bounds(a.shape, indices)
    if accumulate:
        np.add.at(out, indices, values)
    else:
        out[indices] = values
    return out


def _masked_fill_forward_of_index_put(a: np.ndarray, values: np.ndarray, indices: tuple[Any, ...], accumulate: bool) -> np.ndarray:
    return _index_put_forward(a, values.astype(a.dtype, copy=False), indices, accumulate)


# The index tensors are saved (and freed by backward), as torch saves them.
index = Op("index", _index_forward, "IndexBackward0", S, {
    "self": lambda grad, self_shape, indices: index_put_impl(grad.new_zeros(self_shape), grad, indices=indices, accumulate=True),
}, saved_attributes=("indices",))
# The values are not promoted: their dtype must be the tensor's.
index_put: Op = Op("index_put", _index_put_forward, "IndexPutBackward0", ("self", "values"), {
    "self": lambda grad, indices, accumulate: grad if accumulate else index_put(grad, grad.new_zeros(()), indices=indices, accumulate=False),
    "values": lambda grad, indices: index(grad, indices=indices),
}, promoted=S, saved_attributes=("indices",))
# index_put_ with one bool mask and a one-element value: torch's kernel runs masked_fill_
# with the value read as a number, so any dtype will do. Autograd sees an index_put_.
index_put_as_masked_fill: Op = Op("masked_fill_", _masked_fill_forward_of_index_put, "IndexPutBackward0", ("self", "values"), index_put.derivatives, promoted=S, saved_attributes=("indices",))
# The same, as index's backward calls it (torch's _index_put_impl_).
index_put_impl: Op = Op("_index_put_impl_", _index_put_forward, "IndexPutImplBackward0", ("self", "values"), index_put.derivatives, promoted=S, saved_attributes=("indices",))


def _index_grid(a: np.ndarray, index: np.ndarray, dim: int, name: str) -> tuple[Any, ...]:
    """NumPy indices for gather/scatter: index[i][j] names a position along `dim` of `a`."""
    if index.ndim != a.ndim:
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {name} tensor")
    for d in range(a.ndim):
        if d != dim and index.shape[d] > a.shape[d]:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {list(index.shape)} to be "
                f"no larger than self {list(a.shape)} apart from dimension {dim}"
            )
    size = a.shape[dim] if a.ndim else 1
    outside = (index < 0) | (index >= size)
    if outside.any():
        raise RuntimeError(
            f"index {int(index[outside].flat[0])} is out of bounds for dimension {dim} with size {size}"
        )
    grid: list[Any] = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


def _gather_forward(a: np.ndarray, idx: np.ndarray, dim: int) -> np.ndarray:
    return a[_index_grid(a, idx, dim, "input")] if a.ndim else a.copy()


def _scattered(a: np.ndarray, idx: np.ndarray, src: np.ndarray, dim: int, add: bool) -> np.ndarray:
    if a.ndim == 0:  # one element, at index 0
        return a + src if add else np.array(src, dtype=a.dtype)
    grid = _index_grid(a, idx, dim, "self")
    if any(i > s for i, s in zip(idx.shape, src.shape, strict=True)):
        raise RuntimeError(
            f"Expected index {list(idx.shape)} to be no larger than self {list(a.shape)} apart "
            f"from dimension {dim} and to be no larger size than src {list(src.shape)}"
        )
    values = src[tuple(np.s_[:n] for n in idx.shape)]
    out = a.copy()
    if add:
        np.add.at(out, grid, values)  # repeated indices add up
    else:
        out[grid] = values
    return out


def _scatter_add_forward(a: np.ndarray, idx: np.ndarray, src: np.ndarray, dim: int) -> np.ndarray:
    return _scattered(a, idx, src, dim, add=True)


def _scatter_forward(a: np.ndarray, idx: np.ndarray, src: np.ndarray, dim: int) -> np.ndarray:
    return _scattered(a, idx, src, dim, add=False)


# torch's gather_backward takes self itself (for its shape): self is saved, so changing it
# in place before backward is a version error.
gather = Op("gather", _gather_forward, "GatherBackward0", ("self", "index"), {
    "self": lambda grad, self, index, dim: scatter_add(grad.new_zeros(self.shape), index, grad, dim=dim),
}, promoted=S)
scatter_add: Op = Op("scatter_add", _scatter_add_forward, "ScatterAddBackward0", ("self", "index", "src"), {
    "self": lambda grad: grad,
    "src": lambda grad, index, dim: grad.gather(dim, index),
}, promoted=("self", "src"))
scatter: Op = Op("scatter", _scatter_forward, "ScatterBackward0", ("self", "index", "src"), {
    "self": lambda grad, index, dim: scatter_value(grad, index, value=0.0, dim=dim),
    "src": lambda grad, index, dim: grad.gather(dim, index),
}, promoted=("self", "src"))
scatter_value: Op = Op("scatter", lambda a, idx, value, dim: _scattered(a, idx, np.full(idx.shape, value, a.dtype), dim, add=False), "ScatterBackward1", ("self", "index"), {
    "self": lambda grad, index, dim: scatter_value(grad, index, value=0.0, dim=dim),
}, promoted=S)


# cat and stack take a list of tensors: one entry per list length, made on first use.


def _cat_formula(i: int) -> Any:
    def formula(grad: Tensor, dim: int, sizes: tuple[int, ...]) -> Tensor:
        return grad.narrow(dim, sum(sizes[:i]), sizes[i])

    return formula


def _stack_formula(i: int) -> Any:
    def formula(grad: Tensor, dim: int) -> Tensor:
        return grad.select(dim, i)

    return formula


@functools.cache
def cat_op(n: int) -> Op:
    names = tuple(f"tensors{i}" for i in range(n))
    # np.concatenate keeps an input's memory order; torch's cat is always contiguous.
    forward = lambda *arrays, dim, sizes: np.ascontiguousarray(np.concatenate(arrays, axis=dim))  # noqa: E731
    return Op("cat", forward, "CatBackward0", names, {name: _cat_formula(i) for i, name in enumerate(names)})


@functools.cache
def stack_op(n: int) -> Op:
    names = tuple(f"tensors{i}" for i in range(n))
    forward = lambda *arrays, dim: np.stack(arrays, axis=dim)  # noqa: E731
    return Op("stack", forward, "StackBackward0", names, {name: _stack_formula(i) for i, name in enumerate(names)})


flip = Op("flip", lambda a, dims: np.flip(a, dims if a.ndim else ()).copy(), "FlipBackward0", S, {
    "self": lambda grad, dims: grad.flip(*dims),
})


def _repeat_forward(a: np.ndarray, repeats: tuple[int, ...]) -> np.ndarray:
    if len(repeats) < a.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    shape = (1,) * (len(repeats) - a.ndim) + a.shape
    target = [r * n for r, n in zip(repeats, shape, strict=True)]
    negative = [n for n in target if n < 0]
    if negative:
        raise RuntimeError(f"Trying to create tensor with negative dimension {negative[0]}: {target}")
    return np.tile(a, repeats)


def _repeat_grad(grad: Tensor, self_shape: tuple[int, ...], repeats: tuple[int, ...]) -> Tensor:
    """torch's repeat_backward, op for op (its graph shows under create_graph): zeros if
    anything was repeated 0 times; sum away the dims repeat added, one at a time; split
    each repeated dim into (repeat, size) and sum the repeats away, if any."""
    if 0 in repeats:
        return grad.new_zeros(self_shape)
    for _ in range(len(repeats) - len(self_shape)):
        grad = grad.sum(0)
    split: list[int] = []
    summed_dims: list[int] = []
    for r, size in zip(repeats[len(repeats) - len(self_shape):], self_shape, strict=True):
        if r != 1:
            split.append(r)
            summed_dims.append(len(split) - 1)
        split.append(size)
    return grad.reshape(split).sum(tuple(summed_dims)) if summed_dims else grad


repeat = Op("repeat", _repeat_forward, "RepeatBackward0", S, {"self": _repeat_grad})

# -- losses (torch.nn.functional) ------------------------------------------------------------


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.mean(values)
    if reduction == "sum":
        return np.sum(values)
    if reduction == "none":
        return values
    raise ValueError(f"{reduction} is not a valid value for reduction")


mse_loss = Op("mse_loss", lambda a, b, reduction: _reduce((a - b) ** 2, reduction), "MseLossBackward0", ("self", "target"), {
    "self": lambda grad, self, target, reduction: mse_loss_backward(grad, self, target, reduction=reduction),
    "target": lambda grad, self, target, reduction: mse_loss_backward(grad, target, self, reduction=reduction),
})


def _mse_scale(self: Any, reduction: str) -> float:
    return 2.0 / self.size if reduction == "mean" else 2.0  # `self` is an array here


def _mse_grad_forward(g: np.ndarray, a: np.ndarray, b: np.ndarray, reduction: str) -> np.ndarray:
    return g * (a - b) * _mse_scale(a, reduction)


mse_loss_backward: Op = Op("mse_loss_backward", _mse_grad_forward, "MseLossBackwardBackward0", ("grad_output", "self", "target"), {
    "grad_output": lambda grad, grad_output_shape, self, target, reduction: (
        grad * (self - target) * (2.0 / self.numel() if reduction == "mean" else 2.0)
    ).sum_to_size(grad_output_shape),
    "self": lambda grad, grad_output, self, reduction: grad * grad_output * (2.0 / self.numel() if reduction == "mean" else 2.0),
    "target": lambda grad, grad_output, self, reduction: grad * grad_output * (-2.0 / self.numel() if reduction == "mean" else -2.0),
}, promoted=("self",))  # computed as NumPy promotes, returned in self's dtype, as torch's


def _picked(log_probs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """log_probs[n, target[n]] for each n (or log_probs[target] for one sample)."""
    if log_probs.ndim == 2 and target.shape[:1] != log_probs.shape[:1]:
        raise ValueError(
            f"Expected input batch_size ({log_probs.shape[0]}) to match target batch_size "
            f"({target.shape[0] if target.ndim else 1})."
        )
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_c_name(target)}")
    outside = (target < 0) | (target >= log_probs.shape[-1])
    if outside.any():
        raise IndexError(f"Target {int(target[outside].flat[0])} is out of bounds.")
    if log_probs.ndim == 1:
        return log_probs[target]
    return np.take_along_axis(log_probs, target[:, None], axis=1)[:, 0]


nll_loss = Op("nll_loss", lambda a, target, reduction: _reduce(-_picked(a, target), reduction), "NllLossBackward0", ("self", "target"), {
    "self": lambda grad, self, target, reduction: nll_loss_backward(grad, self, target, reduction=reduction),
}, promoted=S)


def _nll_grad_forward(g: np.ndarray, a: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
    """-grad at each sample's target class (divided by the batch size for 'mean')."""
    count = 1 if a.ndim == 1 else a.shape[0]
    weight = -g / count if reduction == "mean" else -g
    out = np.zeros_like(a)
    if a.ndim == 1:
        out[target] = weight
    else:
        out[np.arange(count), target] = weight
    return out


def _nll_grad_wrt_grad_output(grad: Tensor, target: Tensor, reduction: str, self_shape: tuple[int, ...]) -> Tensor:
    picked = grad.gather(0, target.reshape(1)) if len(self_shape) == 1 else grad.gather(1, target.unsqueeze(1)).squeeze(1)
    count = 1 if len(self_shape) == 1 else self_shape[0]
    if reduction == "none":
        return -picked.reshape(target.shape)
    return -picked.sum() / count if reduction == "mean" else -picked.sum()


# Takes the input too (unused but for its shape), so under create_graph the gradient of
# nll_loss has history, as torch's has.
nll_loss_backward: Op = Op("nll_loss_backward", _nll_grad_forward, "NllLossBackwardBackward0", ("grad_output", "self", "target"), {
    "grad_output": _nll_grad_wrt_grad_output,
    "self": _zeros_like,
}, promoted=("grad_output", "self"))

# -- in-place only ------------------------------------------------------------------------------

zero = Op("zero_", np.zeros_like, "ZeroBackward0", S, {"self": _zeros_like})
fill = Op("fill_", lambda a, value: np.full_like(a, value), "FillBackward2", S, {"self": _zeros_like})
fill_tensor = Op("fill_", lambda a, v: np.full_like(a, v), "FillBackward3", ("self", "value"), {
    "self": _zeros_like,
    "value": lambda grad: grad.sum(),
}, promoted=S)
def _copy_forward(a: np.ndarray, src: np.ndarray) -> np.ndarray:
    shape = broadcast_shape(a.shape, src.shape)
    if shape != a.shape:
        raise RuntimeError(
            f"output with shape {list(a.shape)} doesn't match the broadcast shape {list(shape)}"
        )
    return np.broadcast_to(src, a.shape)


copy = Op("copy_", _copy_forward, "CopyBackwards", ("self", "src"), {
    "self": _zeros_like,
    "src": lambda grad: grad,
}, promoted=S)
