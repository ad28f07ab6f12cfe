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
from typing import TYPE_CHECKING, Any

import numpy as np

from refgrad import _dtypes
from refgrad.ops.op import Op, bool_result, float_dtype, forward_dtype, long_result, sum_dtype

if TYPE_CHECKING:
    from refgrad._tensor import Tensor

S = ("self",)
SO = ("self", "other")


def _errstate(fn: Any) -> Any:
    """NumPy warns on log(0), 0/0, ...; torch silently returns inf/nan, and so do we."""

    def quiet(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    quiet.__name__ = getattr(fn, "__name__", "forward")
    return quiet


# -- arithmetic -----------------------------------------------------------------------------

add = Op("add", lambda a, b, alpha: a + alpha * b if alpha != 1 else a + b, "AddBackward0", SO, {
    "self": lambda grad: grad,
    "other": lambda grad, alpha: grad if alpha == 1 else grad * alpha,
})
sub = Op("sub", lambda a, b, alpha: a - alpha * b if alpha != 1 else a - b, "SubBackward0", SO, {
    "self": lambda grad: grad,
    "other": lambda grad, alpha: -grad if alpha == 1 else grad * -alpha,
})
# `2 - x`: the scalar is an attribute, so the node has a single input.
rsub = Op("rsub", lambda a, other: other - a, "RsubBackward1", S, {
    "self": lambda grad: -grad,
})
mul = Op("mul", np.multiply, "MulBackward0", SO, {
    "self": lambda grad, other: grad * other,
    "other": lambda grad, self: grad * self,
})
div = Op("div", _errstate(np.true_divide), "DivBackward0", SO, {
    "self": lambda grad, other: grad / other,
    "other": lambda grad, self, other: -grad * self / (other * other),
}, dtypes=float_dtype)
neg = Op("neg", np.negative, "NegBackward0", S, {
    "self": lambda grad: -grad,
})
reciprocal = Op("reciprocal", _errstate(np.reciprocal), "ReciprocalBackward0", S, {
    "self": lambda grad, result: -grad * (result * result),
}, dtypes=float_dtype)


def _pow_scalar_grad(grad: Tensor, self: Tensor, exponent: float) -> Tensor:
    # x ** 0 has gradient 0 everywhere, including at x = 0 where 0 * 0**-1 would be nan.
    if exponent == 0:
        return grad * 0
    return grad * (self ** (exponent - 1) * exponent)


def _pow_exponent_grad(grad: Tensor, base: Tensor | float, exponent: Tensor, result: Tensor) -> Tensor:
    # d/de b**e = b**e * log(b), taken as 0 where b == 0 and e >= 0 (torch's convention).
    from refgrad._tensor import as_operand

    base_t = as_operand(base)
    at_zero = (base_t == 0) & (exponent >= 0)
    return grad * (result * base_t.log()).masked_fill(at_zero, 0.0)


def _pow_base_grad(grad: Tensor, self: Tensor, exponent: Tensor) -> Tensor:
    return grad * (exponent * self ** (exponent - 1)).masked_fill(exponent == 0, 0.0)


pow_scalar = Op("pow", _errstate(lambda a, exponent: np.power(a, exponent)), "PowBackward0", S, {
    "self": _pow_scalar_grad,
})
pow_tensor = Op("pow", _errstate(np.power), "PowBackward1", ("self", "exponent"), {
    "self": _pow_base_grad,
    "exponent": lambda grad, self, exponent, result: _pow_exponent_grad(grad, self, exponent, result),
})
pow_scalar_base = Op("pow", _errstate(np.power), "PowBackward2", ("self", "exponent"), {
    "exponent": lambda grad, self, exponent, result: _pow_exponent_grad(grad, self, exponent, result),
}, dtypes=float_dtype)

# -- unary elementwise ----------------------------------------------------------------------

exp = Op("exp", _errstate(np.exp), "ExpBackward0", S, {
    "self": lambda grad, result: grad * result,
}, dtypes=float_dtype)
log = Op("log", _errstate(np.log), "LogBackward0", S, {
    "self": lambda grad, self: grad / self,
}, dtypes=float_dtype)
log1p = Op("log1p", _errstate(np.log1p), "Log1PBackward0", S, {
    "self": lambda grad, self: grad / (self + 1),
}, dtypes=float_dtype)
expm1 = Op("expm1", _errstate(np.expm1), "Expm1Backward0", S, {
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
    "self": lambda grad, result: grad * (1 - result * result),
}, dtypes=float_dtype)
sigmoid = Op("sigmoid", _errstate(lambda a: 1 / (1 + np.exp(-a))), "SigmoidBackward0", S, {
    "self": lambda grad, result: grad * (result * (1 - result)),
}, dtypes=float_dtype)
# relu'(0) = 0; a nan input passes its gradient through (nan <= 0 is False).
relu = Op("relu", lambda a: np.where(a < 0, np.zeros_like(a), a), "ReluBackward0", S, {
    "self": lambda grad, result: grad.masked_fill(result <= 0, 0.0),
})
absolute = Op("abs", np.abs, "AbsBackward0", S, {
    "self": lambda grad, self: grad * self.sgn(),
})
sqrt = Op("sqrt", _errstate(np.sqrt), "SqrtBackward0", S, {
    "self": lambda grad, result: grad / (result * 2),
}, dtypes=float_dtype)
rsqrt = Op("rsqrt", _errstate(lambda a: 1 / np.sqrt(a)), "RsqrtBackward0", S, {
    "self": lambda grad, result: grad * (result ** 3) * -0.5,
}, dtypes=float_dtype)
def _zeros_like(grad: Tensor) -> Tensor:
    """A gradient that is zero wherever the op is flat (not grad * 0: inf * 0 is nan)."""
    return grad.new_zeros(grad.shape)


sign = Op("sign", np.sign, "SignBackward0", S, {"self": _zeros_like})
sgn = Op("sgn", np.sign, "SgnBackward0", S, {"self": _zeros_like})
floor = Op("floor", np.floor, "FloorBackward0", S, {"self": _zeros_like})
ceil = Op("ceil", np.ceil, "CeilBackward0", S, {"self": _zeros_like})
round_even = Op("round", np.round, "RoundBackward0", S, {"self": _zeros_like})
to_copy = Op("to", lambda a, dtype: a.astype(dtype.numpy), "ToCopyBackward0", S, {
    "self": lambda grad, self_dtype: grad.to(self_dtype),
}, dtypes=forward_dtype)
clone = Op("clone", lambda a: a.copy(), "CloneBackward0", S, {"self": lambda grad: grad})

# -- comparisons and logic: values only, never differentiable ----------------------------------

eq = Op("eq", np.equal, inputs=SO, dtypes=bool_result)
ne = Op("ne", np.not_equal, inputs=SO, dtypes=bool_result)
lt = Op("lt", np.less, inputs=SO, dtypes=bool_result)
le = Op("le", np.less_equal, inputs=SO, dtypes=bool_result)
gt = Op("gt", np.greater, inputs=SO, dtypes=bool_result)
ge = Op("ge", np.greater_equal, inputs=SO, dtypes=bool_result)
logical_not = Op("logical_not", np.logical_not, dtypes=bool_result)
logical_and = Op("logical_and", np.logical_and, inputs=SO, dtypes=bool_result)
logical_or = Op("logical_or", np.logical_or, inputs=SO, dtypes=bool_result)
logical_xor = Op("logical_xor", np.logical_xor, inputs=SO, dtypes=bool_result)
bitwise_not = Op("bitwise_not", np.invert)
bitwise_and = Op("bitwise_and", np.bitwise_and, inputs=SO)
bitwise_or = Op("bitwise_or", np.bitwise_or, inputs=SO)
bitwise_xor = Op("bitwise_xor", np.bitwise_xor, inputs=SO)
isnan = Op("isnan", np.isnan, dtypes=bool_result)
isinf = Op("isinf", np.isinf, dtypes=bool_result)
isfinite = Op("isfinite", np.isfinite, dtypes=bool_result)

# -- selection ---------------------------------------------------------------------------------


def _maximum_grad(grad: Tensor, self: Tensor, other: Tensor) -> Tensor:
    # Ties split the gradient evenly between the two inputs.
    return (grad * (self > other)) + (grad * (self == other)) * 0.5


maximum = Op("maximum", np.maximum, "MaximumBackward0", SO, {
    "self": _maximum_grad,
    "other": lambda grad, self, other: _maximum_grad(grad, other, self),
})
minimum = Op("minimum", np.minimum, "MinimumBackward0", SO, {
    "self": lambda grad, self, other: _maximum_grad(grad, other, self),
    "other": _maximum_grad,
})


def _clamp_forward(a: np.ndarray, min: Any, max: Any) -> np.ndarray:
    if min is not None:
        a = np.maximum(a, np.asarray(min, dtype=a.dtype))
    if max is not None:  # applied last: with min > max, everything becomes max, as in torch
        a = np.minimum(a, np.asarray(max, dtype=a.dtype))
    return a


def _clamp_grad(grad: Tensor, self: Tensor, min: Any, max: Any) -> Tensor:
    # Inclusive at the bounds (unlike relu at 0).
    keep = None
    if min is not None:
        keep = self >= min
    if max is not None:
        keep = (self <= max) if keep is None else keep & (self <= max)
    assert keep is not None
    return grad * keep


clamp = Op("clamp", _clamp_forward, "ClampBackward1", S, {"self": _clamp_grad})
clamp_min = Op("clamp_min", lambda a, min: _clamp_forward(a, min, None), "ClampMinBackward0", S, {
    "self": lambda grad, self, min: grad * (self >= min),
})
clamp_max = Op("clamp_max", lambda a, max: _clamp_forward(a, None, max), "ClampMaxBackward0", S, {
    "self": lambda grad, self, max: grad * (self <= max),
})


# Missing tensor bounds arrive as -inf / +inf, so one entry serves all three forms.
clamp_tensor = Op("clamp", lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi), "ClampBackward0", ("self", "min", "max"), {
    "self": lambda grad, self, min, max: grad * ((self >= min) & (self <= max)),
    "min": lambda grad, self, min, max: grad * ((self < min) & (min < max)),
    "max": lambda grad, self, min, max: grad * ((self > max) | (max < min)),
})
where = Op("where", lambda c, a, b: np.where(c, a, b), "WhereBackward0", ("condition", "self", "other"), {
    "self": lambda grad, condition: grad.masked_fill(condition.logical_not(), 0.0),
    "other": lambda grad, condition: grad.masked_fill(condition, 0.0),
}, promoted=SO)
masked_fill = Op("masked_fill", lambda a, mask, value: np.where(mask, np.asarray(value, a.dtype), a), "MaskedFillBackward0", ("self", "mask"), {
    "self": lambda grad, mask: grad.masked_fill(mask, 0.0),
}, promoted=S)
masked_fill_tensor = Op("masked_fill", lambda a, mask, v: np.where(mask, v.astype(a.dtype), a), "MaskedFillBackward1", ("self", "mask", "value"), {
    "self": lambda grad, mask: grad.masked_fill(mask, 0.0),
    "value": lambda grad, mask: (grad * mask).sum(),
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
mean = Op("mean", _errstate(lambda a: np.mean(a)), "MeanBackward0", S, {
    "self": lambda grad, self_shape: grad.expand(self_shape) / math.prod(self_shape),
})
mean_dim = Op("mean", _errstate(lambda a, dim, keepdim: np.mean(a, axis=dim, keepdims=keepdim)), "MeanBackward1", S, {
    "self": lambda grad, self_shape, dim, keepdim: (
        _unsqueeze_dims(grad, dim, keepdim).expand(self_shape) / _reduced_count(self_shape, dim)
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


prod = Op("prod", lambda a: np.prod(a), "ProdBackward0", S, {
    "self": lambda grad, self: grad * _prod_of_others(self.reshape(-1), 0).reshape(self.shape),
}, dtypes=sum_dtype)
prod_dim = Op("prod", lambda a, dim, keepdim: np.prod(a, axis=dim, keepdims=keepdim), "ProdBackward1", S, {
    "self": lambda grad, self, dim, keepdim: _unsqueeze_dims(grad, (dim,), keepdim) * _prod_of_others(self, dim),
}, dtypes=sum_dtype)


def _var_forward(a: np.ndarray, dim: tuple[int, ...], correction: float, keepdim: bool) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.var(a, axis=dim, ddof=correction, keepdims=keepdim)


def _var_grad(grad: Tensor, self: Tensor, dim: tuple[int, ...], correction: float, keepdim: bool) -> Tensor:
    count = _reduced_count(self.shape, dim) - correction
    centred = self - self.mean(dim, keepdim=True)
    return _unsqueeze_dims(grad, dim, keepdim) * centred * (2.0 / count)


var = Op("var", _var_forward, "VarBackward0", S, {"self": _var_grad})
std = Op("std", lambda a, dim, correction, keepdim: np.sqrt(_var_forward(a, dim, correction, keepdim)), "StdBackward0", S, {
    "self": lambda grad, self, result, dim, correction, keepdim: _var_grad(
        grad / (result * 2), self, dim, correction, keepdim
    ),
})


def _evenly_to_extremes(grad: Tensor, self: Tensor, result: Tensor, dim: tuple[int, ...], keepdim: bool) -> Tensor:
    # Ties share the gradient equally (max(), amax, amin, min()).
    at_extreme = self == _unsqueeze_dims(result, dim, keepdim)
    count = at_extreme.sum(dim, keepdim=True)
    return _unsqueeze_dims(grad, dim, keepdim) * at_extreme / count


def _all_dims(a: np.ndarray) -> tuple[int, ...]:
    return tuple(range(a.ndim))


max_all = Op("max", lambda a: np.max(a), "MaxBackward1", S, {
    "self": lambda grad, self, result: _evenly_to_extremes(grad, self, result, tuple(range(self.ndim)), False),
})
min_all = Op("min", lambda a: np.min(a), "MinBackward1", S, {
    "self": lambda grad, self, result: _evenly_to_extremes(grad, self, result, tuple(range(self.ndim)), False),
})
amax = Op("amax", lambda a, dim, keepdim: np.amax(a, axis=dim or None, keepdims=keepdim), "AmaxBackward0", S, {
    "self": lambda grad, self, result, dim, keepdim: _evenly_to_extremes(grad, self, result, dim or tuple(range(self.ndim)), keepdim),
})
amin = Op("amin", lambda a, dim, keepdim: np.amin(a, axis=dim or None, keepdims=keepdim), "AminBackward0", S, {
    "self": lambda grad, self, result, dim, keepdim: _evenly_to_extremes(grad, self, result, dim or tuple(range(self.ndim)), keepdim),
})


def _extreme_dim_forward(pick: Any) -> Any:
    def forward(a: np.ndarray, dim: int, keepdim: bool) -> tuple[np.ndarray, np.ndarray]:
        indices = np.expand_dims(pick(a, axis=dim), dim)
        values = np.take_along_axis(a, indices, axis=dim)
        if not keepdim:
            values, indices = values.squeeze(dim), indices.squeeze(dim)
        return values, indices.astype(np.int64)

    return forward


def _to_index(grad: Tensor, self_shape: tuple[int, ...], indices: Tensor, dim: int, keepdim: bool) -> Tensor:
    # All of the gradient goes to the single index returned (the first of any ties).
    grad, indices = _unsqueeze_dims(grad, (dim,), keepdim), _unsqueeze_dims(indices, (dim,), keepdim)
    return grad.new_zeros(self_shape).scatter(dim, indices, grad)


def _nan_first(pick: Any) -> Any:
    """argmax/argmin that, like torch, report the first nan if there is one."""
    def find(a: np.ndarray, axis: int) -> np.ndarray:
        nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
        return np.where(nan.any(axis=axis), np.argmax(nan, axis=axis), pick(a, axis=axis))

    return find


max_dim = Op("max", _extreme_dim_forward(_nan_first(np.argmax)), "MaxBackward0", S, {
    "self": _to_index,
}, outputs=("values", "indices"))
min_dim = Op("min", _extreme_dim_forward(_nan_first(np.argmin)), "MinBackward0", S, {
    "self": _to_index,
}, outputs=("values", "indices"))
argmax = Op("argmax", lambda a, dim, keepdim: np.argmax(a, axis=dim, keepdims=keepdim), dtypes=long_result)
argmin = Op("argmin", lambda a, dim, keepdim: np.argmin(a, axis=dim, keepdims=keepdim), dtypes=long_result)


def _logsumexp_forward(a: np.ndarray, dim: tuple[int, ...], keepdim: bool) -> np.ndarray:
    peak = np.amax(a, axis=dim, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    with np.errstate(all="ignore"):
        out = np.log(np.sum(np.exp(a - peak), axis=dim, keepdims=True)) + peak
    return out if keepdim else np.squeeze(out, axis=dim)


logsumexp = Op("logsumexp", _logsumexp_forward, "LogsumexpBackward0", S, {
    "self": lambda grad, self, result, dim, keepdim: (
        _unsqueeze_dims(grad, dim, keepdim) * (self - _unsqueeze_dims(result, dim, keepdim)).exp()
    ),
}, dtypes=float_dtype)


def _norm_forward(a: np.ndarray, ord: float, dim: tuple[int, ...], keepdim: bool) -> np.ndarray:
    magnitude = np.abs(a)
    if ord == math.inf:
        return np.amax(magnitude, axis=dim, keepdims=keepdim)
    with np.errstate(all="ignore"):
        return np.sum(magnitude**ord, axis=dim, keepdims=keepdim) ** (1.0 / ord)


def _norm_grad(grad: Tensor, self: Tensor, result: Tensor, ord: float, dim: tuple[int, ...], keepdim: bool) -> Tensor:
    if ord == math.inf:
        return _evenly_to_extremes(grad, self.abs(), result, dim, keepdim) * self.sgn()
    norm = _unsqueeze_dims(result, dim, keepdim)
    grad = _unsqueeze_dims(grad, dim, keepdim)
    if ord == 2.0:
        # Zero where the norm is zero (torch masks the 0/0).
        return (grad * self / norm).masked_fill(norm == 0, 0.0)
    if ord == 1.0:
        return grad * self.sgn()
    scaled = self.abs() ** (ord - 1) / norm ** (ord - 1)
    return (grad * self.sgn() * scaled).masked_fill(norm == 0, 0.0)


norm = Op("norm", _norm_forward, "LinalgVectorNormBackward0", S, {"self": _norm_grad}, dtypes=float_dtype)


def _softmax_forward(a: np.ndarray, dim: int) -> np.ndarray:
    shifted = np.exp(a - np.amax(a, axis=dim, keepdims=True))
    return shifted / np.sum(shifted, axis=dim, keepdims=True)


def _log_softmax_forward(a: np.ndarray, dim: int) -> np.ndarray:
    return a - _logsumexp_forward(a, (dim,), True)


softmax = Op("softmax", _errstate(_softmax_forward), "SoftmaxBackward0", S, {
    "self": lambda grad, result, dim: result * (grad - (grad * result).sum(dim, keepdim=True)),
}, dtypes=float_dtype)
log_softmax = Op("log_softmax", _errstate(_log_softmax_forward), "LogSoftmaxBackward0", S, {
    "self": lambda grad, result, dim: grad - result.exp() * grad.sum(dim, keepdim=True),
}, dtypes=float_dtype)
cumsum = Op("cumsum", lambda a, dim: np.cumsum(a, axis=dim), "CumsumBackward0", S, {
    "self": lambda grad, dim: grad.flip(dim).cumsum(dim).flip(dim),
}, dtypes=sum_dtype)


# -- linear algebra --------------------------------------------------------------------------

mm = Op("mm", np.matmul, "MmBackward0", ("self", "mat2"), {
    "self": lambda grad, mat2: grad.mm(mat2.t()),
    "mat2": lambda grad, self: self.t().mm(grad),
})
mv = Op("mv", np.matmul, "MvBackward0", ("self", "vec"), {
    "self": lambda grad, vec: grad.unsqueeze(1) * vec.unsqueeze(0),
    "vec": lambda grad, self: self.t().mv(grad),
})
dot = Op("dot", np.dot, "DotBackward0", ("self", "tensor"), {
    "self": lambda grad, tensor: grad * tensor,
    "tensor": lambda grad, self: grad * self,
})
bmm = Op("bmm", np.matmul, "BmmBackward0", ("self", "mat2"), {
    "self": lambda grad, mat2: grad.bmm(mat2.transpose(1, 2)),
    "mat2": lambda grad, self: self.transpose(1, 2).bmm(grad),
})

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
# reshape of a tensor that cannot be viewed: clone, then this (no view of the clone escapes).
unsafe_view = Op("_unsafe_view", lambda a, shape: a.reshape(shape), "UnsafeViewBackward0", S, {
    "self": lambda grad, self_shape: grad.reshape(self_shape),
})
transpose = Op("transpose", lambda a, dim0, dim1: np.swapaxes(a, dim0, dim1), "TransposeBackward0", S, {
    "self": lambda grad, dim0, dim1: grad.transpose(dim0, dim1),
}, is_view=True)
alias = Op("alias", lambda a: a.view(), "AliasBackward0", S, {"self": lambda grad: grad}, is_view=True)
t = Op("t", lambda a: a.T, "TBackward0", S, {"self": lambda grad: grad.t()}, is_view=True)
permute = Op("permute", lambda a, dims: np.transpose(a, dims), "PermuteBackward0", S, {
    "self": lambda grad, dims: grad.permute(*np.argsort(dims).tolist()),
}, is_view=True)
unsqueeze = Op("unsqueeze", lambda a, dim: np.expand_dims(a, dim), "UnsqueezeBackward0", S, {
    "self": lambda grad, dim: grad.squeeze(dim),
}, is_view=True)
squeeze = Op("squeeze", lambda a: np.squeeze(a), "SqueezeBackward0", S, {
    "self": lambda grad, self_shape: grad.reshape(self_shape),
}, is_view=True)


def _squeeze_dims(a: np.ndarray, dim: tuple[int, ...]) -> np.ndarray:
    return np.squeeze(a, axis=tuple(d for d in dim if a.shape[d] == 1))


squeeze_dim = Op("squeeze", lambda a, dim: _squeeze_dims(a, (dim,)), "SqueezeBackward1", S, {
    "self": lambda grad, self_shape: grad.reshape(self_shape),
}, is_view=True)
# matmul's 1-D @ 2-D squeezes its result in place; torch's node for that is SqueezeBackward4.
squeeze_dim_inplace = Op("squeeze_", lambda a, dim: _squeeze_dims(a, (dim,)), "SqueezeBackward4", S, {
    "self": lambda grad, self_shape: grad.reshape(self_shape),
})
squeeze_dims = Op("squeeze", _squeeze_dims, "SqueezeBackward2", S, {
    "self": lambda grad, self_shape: grad.reshape(self_shape),
}, is_view=True)
expand = Op("expand", lambda a, size: np.broadcast_to(a, size), "ExpandBackward0", S, {
    "self": lambda grad, self_shape: grad.sum_to_size(self_shape),
}, is_view=True)
select = Op("select", lambda a, dim, index: _take(a, dim, index), "SelectBackward0", S, {
    "self": lambda grad, self_shape, dim, index: select_backward(grad, shape=self_shape, dim=dim, index=index),
}, is_view=True)
slice_dim = Op("slice", lambda a, dim, start, stop, step: a[(np.s_[:],) * dim + (np.s_[start:stop:step],)], "SliceBackward0", S, {
    "self": lambda grad, self_shape, dim, start, stop, step: slice_backward(grad, shape=self_shape, dim=dim, start=start, stop=stop, step=step),
}, is_view=True)


def _take(a: np.ndarray, dim: int, index: int) -> np.ndarray:
    size = a.shape[dim]
    if not -size <= index < size:
        raise IndexError(
            f"index {index} is out of bounds for dimension {dim} with size {size}"
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


@functools.cache
def _split_op(n: int) -> Op:
    return Op("split", _split_forward, "SplitBackward0", S, {
        "self": lambda grads, dim, sizes: _cat_grads(grads, list(sizes), dim),
    }, outputs=tuple(f"result{i}" for i in range(n)), is_view=True)


@functools.cache
def _unbind_op(n: int) -> Op:
    return Op("unbind", _unbind_forward, "UnbindBackward0", S, {
        "self": lambda grads, self_shape, dim: _stack_grads(grads, self_shape, dim),
    }, outputs=tuple(f"result{i}" for i in range(n)), is_view=True)


def split_with_sizes(self: Tensor, *, dim: int, sizes: tuple[int, ...]) -> Any:
    # One entry per output count: an entry's outputs are fixed, as in torch's schema.
    return _split_op(len(sizes))(self, dim=dim, sizes=sizes)


def unbind(self: Tensor, *, dim: int, count: int) -> Any:
    return _unbind_op(count)(self, dim=dim, count=count)


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


def _index_forward(a: np.ndarray, indices: tuple[Any, ...]) -> np.ndarray:
    return a[indices]


def _index_put_forward(a: np.ndarray, values: np.ndarray, indices: tuple[Any, ...], accumulate: bool) -> np.ndarray:
    out = a.copy()
    if accumulate:
        np.add.at(out, indices, values)
    else:
        out[indices] = values
    return out


# The index tensors are saved (and freed by backward), as torch saves them.
index = Op("index", _index_forward, "IndexBackward0", S, {
    "self": lambda grad, self_shape, indices: index_put(grad.new_zeros(self_shape), grad, indices=indices, accumulate=True),
}, saved_attributes=("indices",))
index_put: Op = Op("index_put", _index_put_forward, "IndexPutBackward0", ("self", "values"), {
    "self": lambda grad, indices, accumulate: grad if accumulate else index_put(grad, grad.new_zeros(()), indices=indices, accumulate=False),
    "values": lambda grad, indices: index(grad, indices=indices),
}, saved_attributes=("indices",))


def _gather_forward(a: np.ndarray, idx: np.ndarray, dim: int) -> np.ndarray:
    return np.take_along_axis(a, idx, axis=dim)


def _scatter_add_forward(a: np.ndarray, idx: np.ndarray, src: np.ndarray, dim: int) -> np.ndarray:
    out = a.copy()
    grid: list[Any] = list(np.indices(idx.shape, sparse=True))
    grid[dim] = idx
    np.add.at(out, tuple(grid), src[tuple(np.s_[:n] for n in idx.shape)])
    return out


def _scatter_forward(a: np.ndarray, idx: np.ndarray, src: np.ndarray, dim: int) -> np.ndarray:
    out = a.copy()
    grid: list[Any] = list(np.indices(idx.shape, sparse=True))
    grid[dim] = idx
    out[tuple(grid)] = src[tuple(np.s_[:n] for n in idx.shape)]
    return out


gather = Op("gather", _gather_forward, "GatherBackward0", ("self", "index"), {
    "self": lambda grad, self_shape, index, dim: scatter_add(grad.new_zeros(self_shape), index, grad, dim=dim),
}, promoted=S)
scatter_add: Op = Op("scatter_add", _scatter_add_forward, "ScatterAddBackward0", ("self", "index", "src"), {
    "self": lambda grad: grad,
    "src": lambda grad, index, dim: grad.gather(dim, index),
}, promoted=("self", "src"))
scatter: Op = Op("scatter", _scatter_forward, "ScatterBackward0", ("self", "index", "src"), {
    "self": lambda grad, index, dim: scatter(grad, index, grad.new_zeros(index.shape), dim=dim),
    "src": lambda grad, index, dim: grad.gather(dim, index),
}, promoted=("self", "src"))


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
    forward = lambda *arrays, dim, sizes: np.concatenate(arrays, axis=dim)  # noqa: E731
    return Op("cat", forward, "CatBackward0", names, {name: _cat_formula(i) for i, name in enumerate(names)})


@functools.cache
def stack_op(n: int) -> Op:
    names = tuple(f"tensors{i}" for i in range(n))
    forward = lambda *arrays, dim: np.stack(arrays, axis=dim)  # noqa: E731
    return Op("stack", forward, "StackBackward0", names, {name: _stack_formula(i) for i, name in enumerate(names)})


flip = Op("flip", lambda a, dims: np.flip(a, dims).copy(), "FlipBackward0", S, {
    "self": lambda grad, dims: grad.flip(*dims),
})


def _repeat_forward(a: np.ndarray, repeats: tuple[int, ...]) -> np.ndarray:
    if len(repeats) < a.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    return np.tile(a, repeats)


def _repeat_grad(grad: Tensor, self_shape: tuple[int, ...], repeats: tuple[int, ...]) -> Tensor:
    # Split every dim into (repeat, size) and sum the repeats away.
    shape = (1,) * (len(repeats) - len(self_shape)) + tuple(self_shape)
    split: list[int] = []
    for r, s in zip(repeats, shape, strict=True):
        split += [r, s]
    summed = grad.reshape(split).sum(tuple(range(0, len(split), 2)))
    return summed.reshape(self_shape)


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


def _reduced_grad(grad: Tensor, count: int, reduction: str) -> Tensor:
    return grad / count if reduction == "mean" else grad


mse_loss = Op("mse_loss", lambda a, b, reduction: _reduce((a - b) ** 2, reduction), "MseLossBackward0", ("self", "target"), {
    "self": lambda grad, self, target, reduction: _reduced_grad(grad, self.numel(), reduction) * (self - target) * 2,
    "target": lambda grad, self, target, reduction: _reduced_grad(grad, self.numel(), reduction) * (target - self) * 2,
})


def _picked(log_probs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """log_probs[n, target[n]] for each n (or log_probs[target] for one sample)."""
    if log_probs.ndim == 1:
        return log_probs[target]
    return np.take_along_axis(log_probs, target[:, None], axis=1)[:, 0]


def _nll_grad(grad: Tensor, self_shape: tuple[int, ...], target: Tensor, reduction: str) -> Tensor:
    count = 1 if len(self_shape) == 1 else self_shape[0]
    weight = -_reduced_grad(grad, count, reduction)
    if len(self_shape) == 1:
        return weight.new_zeros(self_shape).scatter(0, target.reshape(1), weight.reshape(1))
    rows = weight.expand(count).unsqueeze(1) if weight.ndim == 0 else weight.unsqueeze(1)
    return rows.new_zeros(self_shape).scatter(1, target.unsqueeze(1), rows)


nll_loss = Op("nll_loss", lambda a, target, reduction: _reduce(-_picked(a, target), reduction), "NllLossBackward0", ("self", "target"), {
    "self": _nll_grad,
}, promoted=S)

# -- in-place only ------------------------------------------------------------------------------

zero = Op("zero_", np.zeros_like, "ZeroBackward0", S, {"self": _zeros_like})
fill = Op("fill_", lambda a, value: np.full_like(a, value), "FillBackward2", S, {"self": _zeros_like})
fill_tensor = Op("fill_", lambda a, v: np.full_like(a, v), "FillBackward3", ("self", "value"), {
    "self": _zeros_like,
    "value": lambda grad: grad.sum(),
}, promoted=S)
copy = Op("copy_", lambda a, src: np.broadcast_to(src, a.shape), "CopyBackwards", ("self", "src"), {
    "self": _zeros_like,
    "src": lambda grad: grad,
}, promoted=S)
