# ruff: noqa: E501 - the case table below is a table: one case per line reads best.
"""Every entry of the op table, checked against torch: forward, gradients, names, errors.

Read a case as an example of torch's behaviour, e.g.

    case("clamp/at-bounds", lambda t, x: x.clamp(0, 1), V([-1.0, 0.0, 0.5, 1.0, 2.0]), ...)

says: under torch (``t``), clamp(0, 1) of a leaf holding those values gives values, a
grad_fn name and gradients (1 at the bounds: clamp is inclusive, unlike relu at 0) that
refgrad must reproduce. Each case runs in float32 and float64 through the stages of
``tests/torch_compare.py`` (forward, backward + second backward, second order), and, in
float64 where the inputs are away from kinks and ties, through refgrad's own gradcheck,
for its gradients and for the gradients of its gradients. Error cases compare the exception
class and message.

Values are compared with torch.testing.assert_close's default tolerances for their dtype
(tests/differential.py): NumPy's kernels may round an ulp or so differently from torch's;
nan and inf must match exactly. Warnings must match too.

``F`` makes a float leaf requiring grad, ``C`` a constant, ``V`` a leaf with given
values, ``Int`` an integer tensor, ``Bool`` a bool tensor (see tests/torch_compare.py).
"""

from __future__ import annotations

import functools
import math
import operator
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refgrad
from refgrad.ops import derivatives as D
from refgrad.ops.op import Op
from tests.differential import assert_same, observe, run
from tests.torch_compare import (
    Bool,
    C,
    Case,
    F,
    Int,
    V,
    as_outputs,
    backward,
    case,
    differentiable,
    forward,
    make_inputs,
    op_key,
    recording_calls,
    recording_ops,
    second_order,
    seeded_like,
)

nan, inf = math.nan, math.inf


# -- helpers for cases that need statements ----------------------------------------------------


def setitem_basic(t: ModuleType, x: Any, v: Any) -> Any:
    y = x * 1
    y[0] = v  # a view of y is written: y's history becomes CopySlices
    return y


def setitem_scalar(t: ModuleType, x: Any) -> Any:
    y = x * 1
    y[:, 1] = 5.0
    return y


def setitem_everything_to_a_number(t: ModuleType, x: Any) -> Any:
    y = x * 1
    y[...] = 2.5  # nothing sliced off: y itself is filled (FillBackward3)
    return y


def setitem_advanced(t: ModuleType, x: Any, v: Any) -> Any:
    y = x * 1
    y[[0, 2]] = v
    return y


def setitem_mask(t: ModuleType, x: Any) -> Any:
    y = x * 1
    y[x > 0] = 0.0
    return y


def inplace(method: str, *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """(x * 1).<method>(*args): in place on a non-leaf (a leaf would refuse)."""

    def fn(t: ModuleType, x: Any, *tensors: Any) -> Any:
        return getattr(x * 1, method)(*tensors, *args, **kwargs)

    fn.__name__ = method
    return fn


def augmented(t: ModuleType, x: Any, y: Any) -> Any:
    """h += y, h -= y, h *= y, h /= y on non-leaves."""
    return [
        update(x * 1, y)
        for update in (operator.iadd, operator.isub, operator.imul, operator.itruediv)
    ]


def nll_of_log_softmax(t: ModuleType, x: Any, target: Any) -> Any:
    return t.nn.functional.nll_loss(x.log_softmax(1), target)


POS = {"low": 0.5, "high": 2.0}  # away from 0: log, sqrt, division
UNIT = {"low": -0.9, "high": 0.9}  # inside (-1, 1)

# fmt: off
CASES: list[Case] = [
    # -- arithmetic ---------------------------------------------------------------------------
    case("add", lambda t, x, y: x + y, F(2, 3), F(2, 3), ops=[D.add]),
    case("add/broadcast", lambda t, x, y: x + y, F(2, 1, 3), F(4, 1), ops=[D.add]),
    case("add/alpha", lambda t, x, y: x.add(y, alpha=2), F(2, 3), F(3), ops=[D.add, D.mul_scalar]),
    case("add/torch", lambda t, x, y: t.add(x, y, alpha=-0.5), F(3), F(2, 1), ops=[D.add]),
    case("add/scalar-right", lambda t, x: x + 2, F(3), ops=[D.add]),
    case("add/scalar-left", lambda t, x: 2.5 + x, F(3), ops=[D.add]),
    case("add/constant", lambda t, x, c: x + c, F(2, 3), C(3), ops=[D.add]),
    case("add/constant-left", lambda t, c, x: c + x, C(2, 3), F(3), ops=[D.add]),
    case("add/int-tensor", lambda t, x, i: x + i, F(3), Int(3, high=5), ops=[D.add]),
    case("add/ints", lambda t, i, j: i + j, Int(3, high=5), Int(2, 1, high=5), ops=[D.add]),
    case("add/int-and-float-scalar", lambda t, i: i + 1.5, Int(3, high=5), ops=[D.add]),
    case("add/bool-and-int", lambda t, b, i: b + i, Bool(3), Int(3, high=5), ops=[D.add]),
    # float32 meets float64: the result is float64, each gradient keeps its leaf's dtype.
    case("add/mixed-width", lambda t, x, y: x + y, F(3, dtype="float32"), F(3, dtype="float64"), ops=[D.add]),
    # A 0-dim float64 tensor or a Python float does not widen a float32 tensor.
    case("add/zero-dim-does-not-widen", lambda t, x, s: x + s, F(3, dtype="float32"), F(dtype="float64"), ops=[D.add]),
    case("add/zero-dim-both", lambda t, x, y: x + y, F(), F(), ops=[D.add]),
    case("sub", lambda t, x, y: x - y, F(2, 3), F(3), ops=[D.sub]),
    case("sub/alpha", lambda t, x, y: x.sub(y, alpha=3), F(3), F(3), ops=[D.sub]),
    case("sub/torch", lambda t, x, y: t.subtract(x, y), F(3), F(3), ops=[D.sub]),
    case("sub/scalar", lambda t, x: x - 1, F(3), ops=[D.sub]),
    case("sub/torch-sub", lambda t, x, y: t.sub(x, y, alpha=2), F(2, 1), F(3), ops=[D.sub]),
    case("rsub/scalar-left", lambda t, x: 2 - x, F(2, 3), ops=[D.rsub]),
    case("rsub/torch", lambda t, x: t.rsub(x, 2), F(3), ops=[D.rsub]),
    case("rsub/torch-tensors", lambda t, x, y: t.rsub(x, y), F(3), F(3), ops=[D.rsub_tensor]),
    case("rsub/alpha", lambda t, x, y: (t.rsub(x, y, alpha=2), t.rsub(x, 3, alpha=0.5)), F(2, 3), F(3), ops=[D.rsub_tensor, D.rsub]),
    case("rsub/int-tensor-float-number", lambda t, i: 2.5 - i, Int(3, high=5), ops=[D.rsub]),
    case("mul", lambda t, x, y: x * y, F(2, 3), F(2, 3), ops=[D.mul]),
    case("mul/broadcast", lambda t, x, y: x.mul(y), F(2, 1), F(3), ops=[D.mul]),
    case("mul/torch", lambda t, x, y: t.mul(x, y), F(3), F(3), ops=[D.mul]),
    case("mul/multiply", lambda t, x, y: t.multiply(x, y), F(3), F(3), ops=[D.mul]),
    case("mul/scalar-left", lambda t, x: 2 * x, F(3), ops=[D.mul]),
    case("mul/scalar-right", lambda t, x: x * -1.5, F(3), ops=[D.mul]),
    case("mul/constant", lambda t, x, c: x * c, F(3), C(3), ops=[D.mul]),
    case("mul/same-input-twice", lambda t, x: x * x, F(3), ops=[D.mul]),
    case("mul/outer", lambda t, x, y: t.outer(x, y), F(3), F(2), ops=[D.mul, D.view]),
    case("mul/bool-bool", lambda t, a, b: a * b, Bool(3), Bool(3), ops=[D.mul]),
    case("mul/zero-times-inf", lambda t, x, y: x * y, V([0.0, 2.0, inf]), V([inf, 0.0, 0.0]), ops=[D.mul], smooth=False),
    case("div", lambda t, x, y: x / y, F(2, 3), F(3, **POS), ops=[D.div]),
    case("div/torch", lambda t, x, y: t.div(x, y), F(3), F(3, **POS), ops=[D.div]),
    case("div/divide", lambda t, x, y: t.divide(x, y), F(3), F(3, **POS), ops=[D.div]),
    case("div/method", lambda t, x, y: x.div(y), F(2, 1), F(3, **POS), ops=[D.div]),
    case("div/scalar", lambda t, x: x / 2, F(3), ops=[D.div]),
    case("div/ints-are-true-division", lambda t, i, j: i / j, Int(3, high=9), Int(3, low=1, high=4), ops=[D.div]),
    case("div/by-zero", lambda t, x, y: x / y, V([1.0, -1.0, 0.0]), V([0.0, 0.0, 0.0]), ops=[D.div], smooth=False),
    # torch implements `2 / x` as reciprocal(x) * 2: MulBackward0 over ReciprocalBackward0.
    case("div/scalar-left", lambda t, x: 2 / x, F(3, **POS), ops=[D.reciprocal, D.mul]),
    case("neg", lambda t, x: -x, F(2, 3), ops=[D.neg]),
    case("neg/method", lambda t, x: x.neg(), F(3), ops=[D.neg]),
    case("neg/torch", lambda t, x: t.negative(x), F(3), ops=[D.neg]),
    case("neg/int", lambda t, i: t.neg(i), Int(3, high=5), ops=[D.neg]),
    # Unary plus returns the tensor itself: no node.
    case("pos", lambda t, x: +x, F(3), ops=[]),
    case("reciprocal", lambda t, x: x.reciprocal(), F(2, 3, **POS), ops=[D.reciprocal]),
    case("reciprocal/torch", lambda t, x: t.reciprocal(x), F(3, low=-2, high=-0.5), ops=[D.reciprocal]),
    case("reciprocal/at-zero", lambda t, x: x.reciprocal(), V([0.0, -0.0, 2.0]), ops=[D.reciprocal], smooth=False),
    case("reciprocal/int", lambda t, i: i.reciprocal(), Int(3, low=1, high=5), ops=[D.reciprocal]),
    # -- powers: PowBackward0 (tensor ** number), 1 (tensor ** tensor), 2 (number ** tensor) ----
    case("pow/square", lambda t, x: x**2, F(2, 3), ops=[D.pow_scalar]),
    case("pow/fractional", lambda t, x: x**2.5, F(3, **POS), ops=[D.pow_scalar]),
    case("pow/negative", lambda t, x: x.pow(-2), F(3, **POS), ops=[D.pow_scalar]),
    case("pow/torch", lambda t, x: t.pow(x, 3), F(3), ops=[D.pow_scalar]),
    case("pow/square-method", lambda t, x: x.square(), F(3), ops=[D.pow_scalar]),
    case("pow/square-torch", lambda t, x: t.square(x), F(3), ops=[D.pow_scalar]),
    case("pow/zero-and-one", lambda t, x: (x**0, x**1, x**0.0), F(3), ops=[D.pow_scalar]),
    case("pow/int-tensor", lambda t, i: i**2, Int(3, high=5), ops=[D.pow_scalar]),
    case("pow/int-tensor-float-exponent", lambda t, i: i**0.5, Int(3, high=5), ops=[D.pow_scalar]),
    # At 0: x**0.5 -> inf slope, x**0 -> slope 0 (not nan), x**-1 and x**-2 -> -inf.
    case("pow/at-zero", lambda t, x: (x**0.5, x**0, x**2, x**1, x**-1, x**-2), V([0.0, 2.0]), ops=[D.pow_scalar], smooth=False),
    case("pow/negative-base", lambda t, x: (x**0.5, x**2.5, x**3), V([-1.0, -2.0]), ops=[D.pow_scalar], smooth=False),
    case("pow/tensor", lambda t, x, y: x**y, F(2, 3, **POS), F(3), ops=[D.pow_tensor, D.sub_scalar]),
    case("pow/tensor-method", lambda t, x, y: x.pow(y), F(3, **POS), F(3), ops=[D.pow_tensor]),
    case("pow/tensor-torch", lambda t, x, y: t.pow(x, y), F(3, **POS), F(2, 1), ops=[D.pow_tensor]),
    case("pow/tensor-constant-exponent", lambda t, x, c: x**c, F(3, **POS), C(3), ops=[D.pow_tensor]),
    case("pow/constant-base", lambda t, c, x: c**x, C(3, **POS), F(3), ops=[D.pow_tensor]),
    case("pow/tensor-edges", lambda t, b, e: b**e, V([0.0, 0.0, 0.0, 2.0, -2.0]), V([0.0, 1.0, 2.0, 0.0, 2.0]), ops=[D.pow_tensor], smooth=False),
    case("pow/tensor-zero-base", lambda t, b, e: b**e, V([0.0, 0.0, -2.0, -2.0]), V([-1.0, 0.5, 0.5, 3.0]), ops=[D.pow_tensor], smooth=False),
    case("pow/scalar-base", lambda t, x: 2**x, F(2, 3), ops=[D.pow_scalar_base]),
    case("pow/scalar-base-torch", lambda t, x: t.pow(2.5, x), F(3), ops=[D.pow_scalar_base]),
    case("pow/scalar-base-edges", lambda t, x: (0**x, 1**x, (-2) ** x), V([0.0, 1.0, -1.0, 0.5]), ops=[D.pow_scalar_base], smooth=False),
    case("pow/scalar-base-int-exponent", lambda t, i: 2**i, Int(3, high=4), ops=[D.pow_scalar_base]),
    # -- unary elementwise ----------------------------------------------------------------------
    case("exp", lambda t, x: x.exp(), F(2, 3), ops=[D.exp]),
    case("exp/torch", lambda t, x: t.exp(x), F(3), ops=[D.exp]),
    case("exp/overflow", lambda t, x: x.exp(), V([100.0, 1000.0, -inf]), ops=[D.exp], smooth=False),
    case("exp/int", lambda t, i: i.exp(), Int(3, high=5), ops=[D.exp]),
    case("log", lambda t, x: x.log(), F(2, 3, **POS), ops=[D.log]),
    case("log/torch", lambda t, x: t.log(x), F(3, **POS), ops=[D.log]),
    case("log/at-zero-and-negative", lambda t, x: x.log(), V([0.0, -1.0, 1.0]), ops=[D.log], smooth=False),
    case("log/bool", lambda t, b: b.log(), Bool(3), ops=[D.log]),
    case("log1p", lambda t, x: x.log1p(), F(2, 3, **UNIT), ops=[D.log1p]),
    case("log1p/torch", lambda t, x: t.log1p(x), F(3, **POS), ops=[D.log1p]),
    case("expm1", lambda t, x: x.expm1(), F(2, 3), ops=[D.expm1]),
    case("expm1/torch", lambda t, x: t.expm1(x), F(3), ops=[D.expm1]),
    case("sin", lambda t, x: x.sin(), F(2, 3), ops=[D.sin]),
    case("sin/torch", lambda t, x: t.sin(x), F(3), ops=[D.sin]),
    case("cos", lambda t, x: x.cos(), F(2, 3), ops=[D.cos]),
    case("cos/torch", lambda t, x: t.cos(x), F(3), ops=[D.cos]),
    case("tan", lambda t, x: x.tan(), F(2, 3, low=-1.2, high=1.2), ops=[D.tan]),
    case("tan/torch", lambda t, x: t.tan(x), F(3, **UNIT), ops=[D.tan]),
    case("tanh", lambda t, x: x.tanh(), F(2, 3), ops=[D.tanh, D.tanh_backward]),
    case("tanh/torch", lambda t, x: t.tanh(x), F(3), ops=[D.tanh]),
    case("tanh/functional", lambda t, x: t.nn.functional.tanh(x), F(3), ops=[D.tanh]),
    case("sigmoid", lambda t, x: x.sigmoid(), F(2, 3), ops=[D.sigmoid, D.sigmoid_backward]),
    case("sigmoid/torch", lambda t, x: t.sigmoid(x), F(3), ops=[D.sigmoid]),
    case("sigmoid/functional", lambda t, x: t.nn.functional.sigmoid(x), F(3), ops=[D.sigmoid]),
    case("sigmoid/saturated", lambda t, x: x.sigmoid(), V([-100.0, 100.0, 0.0]), ops=[D.sigmoid], smooth=False),
    case("relu", lambda t, x: x.relu(), F(2, 3), ops=[D.relu, D.threshold_backward]),
    case("relu/torch", lambda t, x: t.relu(x), F(3), ops=[D.relu]),
    case("relu/functional", lambda t, x: t.nn.functional.relu(x), F(3), ops=[D.relu]),
    # relu'(0) = 0; relu(-0.) = -0.; relu(nan) = nan with gradient 1.
    case("relu/at-zero", lambda t, x: x.relu(), V([-1.0, 0.0, -0.0, 1.0, nan]), ops=[D.relu], smooth=False),
    case("relu/int", lambda t, i: i.relu(), Int(4, low=-3, high=3), ops=[D.relu]),
    case("abs", lambda t, x: x.abs(), F(2, 3), ops=[D.absolute]),
    case("abs/torch", lambda t, x: (t.abs(x), t.absolute(x), abs(x)), F(3), ops=[D.absolute]),
    case("abs/at-zero", lambda t, x: x.abs(), V([-1.0, 0.0, -0.0, 1.0]), ops=[D.absolute], smooth=False),
    case("abs/int", lambda t, i: i.abs(), Int(4, low=-3, high=3), ops=[D.absolute]),
    case("sqrt", lambda t, x: x.sqrt(), F(2, 3, **POS), ops=[D.sqrt]),
    case("sqrt/torch", lambda t, x: t.sqrt(x), F(3, **POS), ops=[D.sqrt]),
    case("sqrt/at-zero-and-negative", lambda t, x: x.sqrt(), V([0.0, 1.0, 4.0, -1.0]), ops=[D.sqrt], smooth=False),
    case("sqrt/int", lambda t, i: i.sqrt(), Int(3, high=9), ops=[D.sqrt]),
    case("rsqrt", lambda t, x: x.rsqrt(), F(2, 3, **POS), ops=[D.rsqrt]),
    case("rsqrt/torch", lambda t, x: t.rsqrt(x), F(3, **POS), ops=[D.rsqrt]),
    case("rsqrt/at-zero", lambda t, x: x.rsqrt(), V([0.0, 4.0, -1.0]), ops=[D.rsqrt], smooth=False),
    # Flat functions: gradient 0 everywhere, and a node all the same.
    case("sign", lambda t, x: (x.sign(), t.sign(x)), V([-1.5, 0.0, 2.0]), ops=[D.sign], smooth=False),
    case("sign/away-from-zero", lambda t, x, y: (x.sign(), y.sgn(), (x * 3).round()), F(3, **POS), F(3, low=-2, high=-0.5), ops=[D.sign, D.sgn, D.round_even]),
    # sgn saves its input and result (its formula serves complex numbers): a second backward fails.
    case("sgn", lambda t, x: (x.sgn(), t.sgn(x)), V([-1.5, 0.0, 2.0]), ops=[D.sgn], smooth=False),
    case("floor", lambda t, x: (x.floor(), t.floor(x)), V([-1.5, 0.4, 2.7]), ops=[D.floor]),
    case("ceil", lambda t, x: (x.ceil(), t.ceil(x)), V([-1.5, 0.4, 2.7]), ops=[D.ceil]),
    # round() rounds half to even, as NumPy does.
    case("round", lambda t, x: (x.round(), t.round(x)), V([-1.5, 0.5, 2.5, 2.7]), ops=[D.round_even], smooth=False),
    case("flat/int", lambda t, i: (i.sign(), i.floor(), i.ceil(), i.round()), Int(3, low=-3, high=3), ops=[D.sign, D.floor, D.ceil, D.round_even]),
    case("flat/inf-gradient", lambda t, x: x.floor() * inf, V([0.5]), ops=[D.floor], smooth=False),
    # -- dtype conversions and copies -------------------------------------------------------------
    case("to/double", lambda t, x: x.double(), F(2, 3, dtype="float32"), ops=[D.to_copy]),
    case("to/float", lambda t, x: x.float(), F(3, dtype="float64"), ops=[D.to_copy]),
    case("to/same-dtype-is-identity", lambda t, x: (x.float(), x.to(t.float32)), F(3, dtype="float32"), ops=[]),
    case("to/dtype-keyword", lambda t, x: x.to(dtype=t.float64), F(3, dtype="float32"), ops=[D.to_copy]),
    case("to/like-tensor", lambda t, x, y: x.to(y), F(3, dtype="float32"), C(2, dtype="float64"), ops=[D.to_copy]),
    case("to/half", lambda t, x: x.half(), F(3, dtype="float32"), ops=[D.to_copy]),
    case("to/type", lambda t, x: x.type(t.float64), F(3, dtype="float32"), ops=[D.to_copy]),
    case("to/integers", lambda t, x: (x.long(), x.int(), x.bool()), V([-1.7, 0.0, 2.5]), ops=[D.to_copy]),
    case("to/from-int", lambda t, i: (i.float(), i.double(), i.bool(), i.to(t.int32)), Int(3, low=-2, high=3), ops=[D.to_copy]),
    case("clone", lambda t, x: x.clone(), F(2, 3), ops=[D.clone]),
    case("clone/torch", lambda t, x: t.clone(x), F(3), ops=[D.clone]),
    case("clone/contiguous", lambda t, x: x.t().contiguous(), F(2, 3), ops=[D.clone, D.t]),
    # -- comparisons and logic: bool results, never differentiable ---------------------------------
    case("eq", lambda t, x, y: (x == y, x.eq(y), t.eq(x, y), x == 0.5), V([0.5, 1.0, 2.0]), V([0.5, 2.0, 2.0]), ops=[D.eq]),
    case("ne", lambda t, x, y: (x != y, x.ne(y), t.ne(x, y), x != 1), V([0.5, 1.0, 2.0]), V([0.5, 2.0, 2.0]), ops=[D.ne]),
    case("lt", lambda t, x, y: (x < y, x.lt(y), t.lt(x, y), x < 1, 1 < x), F(2, 3), F(3), ops=[D.lt, D.gt]),  # noqa: SIM300
    case("le", lambda t, x, y: (x <= y, x.le(y), t.le(x, y), x <= 1), V([0.5, 1.0, 2.0]), V([0.5, 2.0, 1.0]), ops=[D.le]),
    case("gt", lambda t, x, y: (x > y, x.gt(y), t.gt(x, y), x > 1), F(2, 3), F(3), ops=[D.gt]),
    case("ge", lambda t, x, y: (x >= y, x.ge(y), t.ge(x, y), x >= 1, 1 >= x), V([0.5, 1.0, 2.0]), V([0.5, 2.0, 1.0]), ops=[D.ge, D.le]),  # noqa: SIM300
    case("compare/int-float", lambda t, i, x: (i < x, i == 2, x > i), Int(3, high=3), F(3), ops=[D.lt, D.eq, D.gt]),
    case("logical", lambda t, x, y: (x.logical_not(), t.logical_and(x, y), x.logical_or(y), t.logical_xor(x, y), t.logical_not(y)), V([0.0, 1.0, 0.0, -2.0]), V([0.0, 0.0, 3.0, 1.0]), ops=[D.logical_not, D.logical_and, D.logical_or, D.logical_xor]),
    case("logical/bool", lambda t, a, b: (a.logical_and(b), a.logical_or(b), t.logical_or(a, b), a.logical_xor(b), b.logical_not()), Bool(4), Bool(4), ops=[D.logical_and, D.logical_or, D.logical_xor, D.logical_not]),
    case("bitwise/bool", lambda t, a, b: (~a, a & b, a | b, a ^ b, True & a, False ^ b), Bool(4), Bool(4), ops=[D.bitwise_not, D.bitwise_and, D.bitwise_or, D.bitwise_xor]),
    case("bitwise/int", lambda t, i, j: (~i, i & j, i | j, i ^ j, i & 6, 3 | i), Int(4, high=16), Int(4, high=16), ops=[D.bitwise_not, D.bitwise_and, D.bitwise_or, D.bitwise_xor]),
    case("isnan-isinf-isfinite", lambda t, x: (x.isnan(), x.isinf(), x.isfinite(), t.isnan(x), t.isinf(x), t.isfinite(x)), V([nan, inf, -inf, 1.0]), ops=[D.isnan, D.isinf, D.isfinite]),
    case("isfinite/int", lambda t, i: (i.isfinite(), i.isnan(), i.isinf()), Int(3, high=3), ops=[D.isfinite, D.isnan, D.isinf]),
    # -- selection ---------------------------------------------------------------------------------
    case("maximum", lambda t, x, y: t.maximum(x, y), F(2, 3), F(3), ops=[D.maximum]),
    case("maximum/method-and-max", lambda t, x, y: (x.maximum(y), t.max(x, y), x.max(y)), F(3), F(3), ops=[D.maximum]),
    case("maximum/ties-split-evenly", lambda t, x, y: t.maximum(x, y), V([1.0, 2.0, 3.0]), V([1.0, 3.0, 3.0]), ops=[D.maximum], smooth=False),
    case("minimum", lambda t, x, y: t.minimum(x, y), F(2, 3), F(2, 1), ops=[D.minimum]),
    case("minimum/method-and-min", lambda t, x, y: (x.minimum(y), t.min(x, y), x.min(y)), F(3), F(3), ops=[D.minimum]),
    case("minimum/ties-split-evenly", lambda t, x, y: t.minimum(x, y), V([1.0, 2.0, 3.0]), V([1.0, 3.0, 3.0]), ops=[D.minimum], smooth=False),
    case("maximum/constant", lambda t, x, c: t.maximum(x, c), F(3), C(3), ops=[D.maximum]),
    case("maximum/nan", lambda t, x, y: (t.maximum(x, y), t.minimum(x, y)), V([nan, 1.0, nan]), V([1.0, nan, nan]), ops=[D.maximum, D.minimum], smooth=False),
    case("clamp", lambda t, x: x.clamp(-0.5, 0.5), F(2, 3), ops=[D.clamp]),
    case("clamp/min-only", lambda t, x: x.clamp(min=0.2), F(2, 3), ops=[D.clamp]),
    case("clamp/max-only", lambda t, x: t.clamp(x, max=0.2), F(2, 3), ops=[D.clamp]),
    case("clamp/clip", lambda t, x: (x.clip(-1, 1), t.clip(x, -1, 1)), F(3), ops=[D.clamp]),
    # Inclusive at the bounds: gradient 1 at 0 and at 1 (relu gives 0 at 0).
    case("clamp/at-bounds", lambda t, x: x.clamp(0, 1), V([-1.0, 0.0, 0.5, 1.0, 2.0]), ops=[D.clamp], smooth=False),
    case("clamp/max-at-bound", lambda t, x: x.clamp(max=1), V([0.0, 1.0, 2.0]), ops=[D.clamp], smooth=False),
    # min > max: everything becomes max, and no gradient passes.
    case("clamp/min-above-max", lambda t, x: x.clamp(1, 0), V([-1.0, 0.5, 2.0]), ops=[D.clamp], smooth=False),
    case("clamp/int", lambda t, i: i.clamp(0, 2), Int(4, low=-3, high=5), ops=[D.clamp]),
    case("clamp/int-float-bounds", lambda t, i: i.clamp(0.5, 2.5), Int(4, low=-3, high=5), ops=[D.clamp]),
    case("clamp/nan", lambda t, x: x.clamp(0, 1), V([nan, 0.5]), ops=[D.clamp], smooth=False),
    case("clamp_min", lambda t, x: (x.clamp_min(0.1), t.clamp_min(x, -0.1)), F(2, 3), ops=[D.clamp_min]),
    case("clamp_min/at-bound", lambda t, x: x.clamp_min(0), V([-1.0, 0.0, 1.0]), ops=[D.clamp_min], smooth=False),
    case("clamp_max", lambda t, x: (x.clamp_max(0.1), t.clamp_max(x, -0.1)), F(2, 3), ops=[D.clamp_max]),
    case("clamp_max/at-bound", lambda t, x: x.clamp_max(1), V([0.0, 1.0, 2.0]), ops=[D.clamp_max], smooth=False),
    case("clamp/tensor-bounds", lambda t, x, lo, hi: x.clamp(lo, hi), F(2, 3), F(3, low=-1.0, high=-0.2), F(3, low=0.2, high=1.0), ops=[D.clamp_tensor]),
    case("clamp/tensor-bounds-at-edges", lambda t, x, lo, hi: x.clamp(lo, hi), V([-1.0, 0.0, 0.5, 1.0, 2.0]), V([0.0] * 5), V([1.0] * 5), ops=[D.clamp_tensor], smooth=False),
    case("clamp/tensor-min-only", lambda t, x, lo: t.clamp(x, min=lo), F(2, 3), F(3), ops=[D.clamp_tensor]),
    case("clamp/tensor-max-only", lambda t, x, hi: x.clamp(max=hi), F(2, 3), F(2, 1), ops=[D.clamp_tensor]),
    case("clamp/tensor-min-above-max", lambda t, x, lo, hi: x.clamp(lo, hi), V([-1.0, 0.5, 2.0]), V([1.0] * 3), V([0.0] * 3), ops=[D.clamp_tensor], smooth=False),
    case("clamp/tensor-int", lambda t, i, lo: i.clamp(min=lo), Int(4, low=-3, high=5), Int(4, low=-1, high=2), ops=[D.clamp_tensor]),
    case("where", lambda t, c, x, y: t.where(c, x, y), Bool(2, 3), F(2, 3), F(3), ops=[D.where]),
    case("where/method", lambda t, c, x, y: x.where(c, y), Bool(3), F(3), F(2, 1), ops=[D.where]),
    case("where/scalar-other", lambda t, c, x: t.where(c, x, 0.0), Bool(2, 3), F(2, 3), ops=[D.where]),
    case("where/scalar-self", lambda t, c, x: t.where(c, 1.5, x), Bool(2, 3), F(3), ops=[D.where]),
    case("where/constant", lambda t, c, x, k: t.where(c, x, k), Bool(3), F(3), C(3), ops=[D.where]),
    case("where/mixed-dtype", lambda t, c, x, k: t.where(c, x, k), Bool(3), F(3, dtype="float32"), C(3, dtype="float64"), ops=[D.where]),
    # Ties of where(x > y, x, y) all go to y; a nan gradient of an unused branch leaks through.
    case("where/ties", lambda t, x, y: t.where(x > y, x, y), V([1.0, 2.0, 3.0]), V([1.0, 1.0, 4.0]), ops=[D.where, D.gt], smooth=False),
    case("where/nan-leaks-from-log", lambda t, x: t.where(x > 0, x.log(), t.zeros_like(x)), V([0.0, 1.0]), ops=[D.where, D.log], smooth=False),
    # sqrt(x * x) at 0: 0 * (1 / 0) is nan, although |x| has a subgradient there.
    case("sqrt/of-a-square-at-zero", lambda t, x: (x * x).sqrt(), V([0.0, -2.0]), ops=[D.sqrt, D.mul], smooth=False),
    case("where/nan-leaks", lambda t, x: t.where(x > 0, x.sqrt(), t.zeros_like(x)), V([-1.0, 0.0, 4.0]), ops=[D.where, D.sqrt], smooth=False),
    case("masked_fill", lambda t, x, m: x.masked_fill(m, 0.5), F(2, 3), Bool(2, 3), ops=[D.masked_fill]),
    case("masked_fill/torch-broadcast-mask", lambda t, x, m: t.masked_fill(x, m, -1.0), F(2, 3), Bool(3), ops=[D.masked_fill]),
    case("masked_fill/tensor-value", lambda t, x, m, v: x.masked_fill(m, v), F(2, 3), Bool(2, 3), F(), ops=[D.masked_fill_tensor]),
    case("masked_fill/int", lambda t, i, m: i.masked_fill(m, 7), Int(2, 3, high=5), Bool(2, 3), ops=[D.masked_fill]),
    # -- reductions --------------------------------------------------------------------------------
    case("sum", lambda t, x: x.sum(), F(2, 3), ops=[D.sum_all]),
    case("sum/torch", lambda t, x: t.sum(x), F(3), ops=[D.sum_all]),
    case("sum/zero-dim", lambda t, x: x.sum(), F(), ops=[D.sum_all]),
    case("sum/dtype", lambda t, x: x.sum(dtype=t.float64), F(2, 3, dtype="float32"), ops=[D.sum_all, D.to_copy]),
    case("sum/int-and-bool-are-int64", lambda t, i, b: (i.sum(), b.sum(), i.sum(0)), Int(2, 3, high=5, dtype="int32"), Bool(3), ops=[D.sum_all, D.sum_dim]),
    case("sum/empty", lambda t, x: x.sum(), F(0), ops=[D.sum_all]),
    case("sum/dim", lambda t, x: x.sum(0), F(2, 3), ops=[D.sum_dim]),
    case("sum/dim-keepdim", lambda t, x: x.sum(1, keepdim=True), F(2, 3), ops=[D.sum_dim]),
    case("sum/dims", lambda t, x: (x.sum((0, 2)), t.sum(x, -1)), F(2, 3, 2), ops=[D.sum_dim]),
    # An empty dim list means every dim (not none of them).
    case("sum/dim-empty-tuple", lambda t, x: (x.sum(()), x.sum((), keepdim=True), x.mean(())), F(2, 3), ops=[D.sum_dim, D.mean_dim]),
    # (var(()) and std(()) too, but their torch gradients are inf: torch divides by N = 1 there.)
    case("reductions/dim-empty-tuple", lambda t, x: (x.amax(()), x.amin((), keepdim=True), x.norm(dim=())), F(2, 3), ops=[D.amax, D.amin, D.norm]),
    case("sum/zero-dim-along-dim", lambda t, x: (x.sum(0), x.mean(-1), x.sum(0, keepdim=True)), F(), ops=[D.sum_dim, D.mean_dim]),
    case("mean", lambda t, x: x.mean(), F(2, 3), ops=[D.mean, D.div_scalar]),
    case("mean/torch", lambda t, x: t.mean(x), F(3), ops=[D.mean]),
    case("mean/empty", lambda t, x: x.mean(), F(0), ops=[D.mean]),
    case("mean/empty-along-dim", lambda t, x: (x.mean(0), x.sum(0)), F(0, 2), ops=[D.mean_dim, D.sum_dim]),
    case("mean/dim", lambda t, x: (x.mean(0), x.mean(-1, keepdim=True)), F(2, 3), ops=[D.mean_dim]),
    case("mean/dims", lambda t, x: t.mean(x, (0, 1)), F(2, 3, 2), ops=[D.mean_dim]),
    case("mean/dtype", lambda t, i: i.mean(dtype=t.float64), Int(3, high=5), ops=[D.mean, D.to_copy]),
    case("prod", lambda t, x: x.prod(), F(2, 3), ops=[D.prod]),
    case("prod/torch", lambda t, x: t.prod(x), F(3), ops=[D.prod]),
    case("prod/with-zeros", lambda t, x: x.prod(), V([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]]), ops=[D.prod], smooth=False),
    case("prod/two-zeros", lambda t, x: x.prod(), V([0.0, 2.0, 0.0]), ops=[D.prod], smooth=False),
    case("prod/int", lambda t, i: (i.prod(), i.prod(0)), Int(2, 3, high=4, dtype="int32"), ops=[D.prod, D.prod_dim]),
    case("prod/dim", lambda t, x: (x.prod(1), t.prod(x, 0, keepdim=True)), F(2, 3), ops=[D.prod_dim]),
    case("prod/dim-with-zeros", lambda t, x: x.prod(1), V([[1.0, 0.0, 2.0], [0.0, 4.0, 0.0]]), ops=[D.prod_dim], smooth=False),
    case("prod/empty", lambda t, x: x.prod(), F(0), ops=[D.prod]),
    case("var", lambda t, x: x.var(), F(2, 3), ops=[D.var]),
    case("var/dim", lambda t, x: (x.var(0), x.var(1, keepdim=True), t.var(x, 1)), F(2, 3), ops=[D.var]),
    case("var/unbiased-false", lambda t, x: (x.var(unbiased=False), x.var(1, unbiased=False)), F(2, 3), ops=[D.var]),
    case("var/correction", lambda t, x: (x.var(correction=0), x.var(0, correction=2)), F(3, 2), ops=[D.var]),
    case("var/single-element", lambda t, x: x.var(), F(1), ops=[D.var], smooth=False),
    case("var/too-few-along-dim", lambda t, x: (x.var(0), x.std(1, correction=3)), F(1, 3), ops=[D.var, D.std], smooth=False),
    case("var/empty", lambda t, x: (x.var(), x.std()), F(0), ops=[D.var, D.std]),
    case("std", lambda t, x: x.std(), F(2, 3), ops=[D.std]),
    case("std/dim", lambda t, x: (x.std(0), t.std(x, 1, keepdim=True), x.std(unbiased=False)), F(2, 3), ops=[D.std]),
    # A zero std has gradient 0 (torch masks grad / 0).
    case("std/constant", lambda t, x: (x.std(), x.std(1)), V([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]), ops=[D.std], smooth=False),
    case("max", lambda t, x: x.max(), F(2, 3), ops=[D.max_all]),
    case("max/torch", lambda t, x: t.max(x), F(3), ops=[D.max_all]),
    # Full reductions split the gradient evenly between ties.
    case("max/ties", lambda t, x: x.max(), V([1.0, 3.0, 3.0, 2.0]), ops=[D.max_all], smooth=False),
    case("max/nan", lambda t, x: x.max(), V([1.0, nan, 3.0]), ops=[D.max_all], smooth=False),
    case("max/int", lambda t, i: i.max(), Int(2, 3, high=9), ops=[D.max_all]),
    case("min", lambda t, x: (x.min(), t.min(x)), F(2, 3), ops=[D.min_all]),
    case("min/ties", lambda t, x: x.min(), V([1.0, 1.0, 1.0, 2.0]), ops=[D.min_all], smooth=False),
    case("max/dim", lambda t, x: x.max(0), F(2, 3), ops=[D.max_dim]),
    case("max/dim-keepdim", lambda t, x: x.max(1, keepdim=True), F(2, 3), ops=[D.max_dim]),
    case("max/dim-values-indices", lambda t, x: (t.max(x, -1).values, x.max(0).indices), F(2, 3), ops=[D.max_dim]),
    # Reductions along a dim send the whole gradient to the returned index (the first tie).
    case("max/dim-ties", lambda t, x: x.max(1), V([[3.0, 3.0, 1.0], [2.0, 5.0, 5.0]]), ops=[D.max_dim], smooth=False),
    case("max/dim-nan", lambda t, x: x.max(1), V([[1.0, nan, 3.0], [2.0, 5.0, 4.0]]), ops=[D.max_dim], smooth=False),
    case("max/dim-int", lambda t, i: i.max(1), Int(2, 3, high=9), ops=[D.max_dim]),
    case("min/dim", lambda t, x: (x.min(0), t.min(x, 1, keepdim=True)), F(2, 3), ops=[D.min_dim]),
    case("min/dim-ties", lambda t, x: x.min(0), V([[1.0, 2.0], [1.0, 0.0]]), ops=[D.min_dim], smooth=False),
    case("amax", lambda t, x: (x.amax(), x.amax(0)), F(2, 3), ops=[D.amax]),
    case("amax/dims", lambda t, x: (t.amax(x, (0, 2)), x.amax(1, keepdim=True)), F(2, 3, 2), ops=[D.amax]),
    # amax/amin split ties evenly, unlike max(dim).
    case("amax/ties", lambda t, x: (x.amax(1), x.amax()), V([[3.0, 3.0, 1.0], [2.0, 5.0, 5.0]]), ops=[D.amax], smooth=False),
    case("amin", lambda t, x: (x.amin(), t.amin(x, 1)), F(2, 3), ops=[D.amin]),
    case("amin/ties", lambda t, x: x.amin(0, keepdim=True), V([[1.0, 2.0], [1.0, 0.0]]), ops=[D.amin], smooth=False),
    case("argmax", lambda t, x: (x.argmax(), x.argmax(1), t.argmax(x, 0, keepdim=True)), F(2, 3), ops=[D.argmax]),
    case("argmax/ties", lambda t, x: (x.argmax(), x.argmax(1)), V([[3.0, 3.0, 1.0], [2.0, 5.0, 5.0]]), ops=[D.argmax]),
    case("argmin", lambda t, x: (x.argmin(), x.argmin(0), t.argmin(x, -1, keepdim=True)), F(2, 3), ops=[D.argmin]),
    case("argmax/nan", lambda t, x: (x.argmax(), x.argmin()), V([1.0, nan, 3.0]), ops=[D.argmax, D.argmin]),
    case("logsumexp", lambda t, x: x.logsumexp(1), F(2, 3), ops=[D.logsumexp]),
    case("logsumexp/dims", lambda t, x: (t.logsumexp(x, (0, 1)), x.logsumexp(0, keepdim=True)), F(2, 3), ops=[D.logsumexp]),
    case("logsumexp/large", lambda t, x: x.logsumexp(0), V([1000.0, 1000.0]), ops=[D.logsumexp]),
    case("logsumexp/minus-inf", lambda t, x: x.logsumexp(0), V([-inf, -inf]), ops=[D.logsumexp], smooth=False),
    case("logsumexp/int", lambda t, i: i.logsumexp(0), Int(3, high=4), ops=[D.logsumexp]),
    case("logsumexp/empty", lambda t, x: x.logsumexp(0), F(0), ops=[D.logsumexp]),
    case("logsumexp/zero-dim", lambda t, x: (x.logsumexp(0), x.logsumexp(-1, keepdim=True)), F(), ops=[D.logsumexp]),
    case("norm", lambda t, x: (x.norm(), t.norm(x)), F(2, 3), ops=[D.norm]),
    case("norm/p", lambda t, x: (x.norm(1), x.norm(3), x.norm(0.5)), F(2, 3), ops=[D.norm]),
    case("norm/inf", lambda t, x: x.norm(inf), F(2, 3), ops=[D.norm]),
    case("norm/dim", lambda t, x: (x.norm(dim=1), x.norm(2, 0, keepdim=True), x.norm(1, dim=(0, 1))), F(2, 3), ops=[D.norm]),
    # The 2-norm's gradient at the zero vector is 0 (torch masks 0/0).
    case("norm/at-zero", lambda t, x: (x.norm(), x.norm(1), x.norm(3)), V([0.0, 0.0]), ops=[D.norm], smooth=False),
    case("norm/empty", lambda t, x: x.norm(), F(0), ops=[D.norm]),
    case("softmax", lambda t, x: x.softmax(1), F(2, 3), ops=[D.softmax, D.softmax_backward_data]),
    case("softmax/torch", lambda t, x: (t.softmax(x, 0), t.nn.functional.softmax(x, dim=-1)), F(2, 3), ops=[D.softmax]),
    # Without dim, F.softmax guesses (0 for 0-, 1- and 3-dim inputs, else 1) and warns.
    case("softmax/implicit-dim", lambda t, x, y: (t.nn.functional.softmax(x), t.nn.functional.log_softmax(y)), F(2, 3), F(2, 1, 3), ops=[D.softmax, D.log_softmax]),
    case("softmax/large", lambda t, x: x.softmax(0), V([1000.0, 0.0, -inf]), ops=[D.softmax], smooth=False),
    case("softmax/empty", lambda t, x: (x.softmax(0), x.log_softmax(1)), F(0, 2), ops=[D.softmax, D.log_softmax]),
    case("softmax/zero-dim", lambda t, s: (s.softmax(0), s.log_softmax(-1)), F(), ops=[D.softmax, D.log_softmax]),
    case("log_softmax/summed", lambda t, x: (x.log_softmax(0).sum(), x.softmax(0).sum()), V([1.0, 2.0, 3.0]), ops=[D.log_softmax, D.softmax]),
    case("log_softmax", lambda t, x: x.log_softmax(1), F(2, 3), ops=[D.log_softmax, D.log_softmax_backward_data]),
    case("log_softmax/torch", lambda t, x: (t.log_softmax(x, 0), t.nn.functional.log_softmax(x, dim=-1)), F(2, 3), ops=[D.log_softmax]),
    case("cumsum", lambda t, x: (x.cumsum(1), t.cumsum(x, 0)), F(2, 3), ops=[D.cumsum]),
    case("cumsum/int", lambda t, i: i.cumsum(0), Int(3, high=5, dtype="int32"), ops=[D.cumsum]),
    # -- linear algebra ----------------------------------------------------------------------------
    case("mm", lambda t, x, y: x.mm(y), F(2, 3), F(3, 4), ops=[D.mm]),
    case("mm/torch-and-matmul", lambda t, x, y: (t.mm(x, y), x @ y, t.matmul(x, y), x.matmul(y)), F(2, 3), F(3, 2), ops=[D.mm]),
    case("mm/constant", lambda t, x, c: x @ c, F(2, 3), C(3, 2), ops=[D.mm]),
    case("mv", lambda t, x, v: (x.mv(v), t.mv(x, v), x @ v), F(2, 3), F(3), ops=[D.mv]),
    case("dot", lambda t, v, w: (v.dot(w), t.dot(v, w), v @ w), F(3), F(3), ops=[D.dot]),
    case("bmm", lambda t, x, y: (x.bmm(y), t.bmm(x, y)), F(2, 2, 3), F(2, 3, 2), ops=[D.bmm]),
    case("matmul/vector-matrix", lambda t, v, m: v @ m, F(3), F(3, 2), ops=[D.mm, D.unsqueeze, D.squeeze_dim_inplace]),
    case("matmul/batched", lambda t, x, y: x @ y, F(2, 2, 3), F(2, 3, 2), ops=[D.bmm, D.expand, D.view, D.unsafe_view]),
    case("matmul/batch-broadcast", lambda t, x, y: x @ y, F(2, 1, 2, 3), F(3, 3, 2), ops=[D.bmm, D.expand, D.unsafe_view]),
    case("matmul/folded", lambda t, x, y: t.matmul(x, y), F(2, 2, 3), F(3, 2), ops=[D.mm, D.unsafe_view]),
    case("matmul/folded-constant-matrix", lambda t, x, c: x @ c, F(2, 2, 3), C(3, 2), ops=[D.mm, D.unsafe_view]),
    case("matmul/matrix-batched", lambda t, m, x: m @ x, F(2, 3), F(2, 3, 2), ops=[D.mm, D.transpose, D.clone]),
    case("matmul/batched-vector", lambda t, x, v: x @ v, F(2, 2, 3), F(3), ops=[D.mv, D.unsafe_view]),
    case("matmul/vector-batched", lambda t, v, x: v @ x, F(3), F(2, 3, 2), ops=[D.mv, D.unsafe_view]),
    # -- shapes and views --------------------------------------------------------------------------
    case("view", lambda t, x: (x.view(3, 2), x.view(-1), x.view((1, 6))), F(2, 3), ops=[D.view]),
    case("view/like", lambda t, x, y: (x.view_as(y), x.reshape_as(y)), F(2, 3), C(6), ops=[D.view]),
    case("view/zero-dim", lambda t, x: (x.view(1), x.view(()), x.reshape(1, 1)), F(), ops=[D.view]),
    case("reshape", lambda t, x: (x.reshape(3, 2), t.reshape(x, (-1,)), x.reshape(2, 3)), F(2, 3), ops=[D.view]),
    case("flatten", lambda t, x: (x.flatten(), t.flatten(x, 1), x.flatten(0, 1)), F(2, 3, 2), ops=[D.view]),
    case("flatten/zero-dim", lambda t, x: x.flatten(), F(), ops=[D.view]),
    # A reshape that cannot be a view copies first: UnsafeViewBackward0 over CloneBackward0.
    case("reshape/non-contiguous", lambda t, x: (x.t().reshape(6), x.t().flatten()), F(2, 3), ops=[D.unsafe_view, D.clone]),
    # Not contiguous but viewable: torch's _reshape_alias (a view, ReshapeAliasBackward0).
    case("reshape/alias", lambda t, x: (x[:, 0].reshape(2, 1), x[:, ::2].flatten(), x.t()[:1].reshape(2)), F(2, 3), ops=[D.reshape_alias]),
    case("transpose", lambda t, x: (x.transpose(0, 1), t.transpose(x, 1, -1), x.swapaxes(0, 2), t.swapaxes(x, 0, 1)), F(2, 3, 2), ops=[D.transpose]),
    case("transpose/mT", lambda t, x: x.mT, F(2, 2, 3), ops=[D.transpose]),
    case("alias/ellipsis", lambda t, x: x[...], F(2, 3), ops=[D.alias]),
    case("t", lambda t, x: (x.t(), t.t(x)), F(2, 3), ops=[D.t]),
    case("t/vector", lambda t, x: x.t(), F(3), ops=[D.t]),
    case("permute", lambda t, x: (x.permute(2, 0, 1), x.permute((1, 0, 2)), t.permute(x, (0, 2, 1)), x.permute(-1, 0, 1)), F(2, 3, 2), ops=[D.permute]),
    case("permute/T", lambda t, x: x.T, F(2, 3), ops=[D.permute]),
    case("unsqueeze", lambda t, x: (x.unsqueeze(0), t.unsqueeze(x, -1), x.unsqueeze(1)), F(2, 3), ops=[D.unsqueeze]),
    case("unsqueeze/indexing", lambda t, x: (x[None], x[..., None], x[:, None]), F(2, 3), ops=[D.unsqueeze]),
    case("squeeze", lambda t, x: (x.squeeze(), t.squeeze(x)), F(1, 3, 1), ops=[D.squeeze]),
    case("squeeze/nothing-to-squeeze", lambda t, x: x.squeeze(), F(2, 3), ops=[D.squeeze]),
    case("squeeze/dim", lambda t, x: (x.squeeze(0), x.squeeze(-1), t.squeeze(x, 1)), F(1, 3, 1), ops=[D.squeeze_dim]),
    case("squeeze/dims", lambda t, x: (x.squeeze((0, 2)), x.squeeze((1,))), F(1, 3, 1), ops=[D.squeeze_dims]),
    case("expand", lambda t, x: (x.expand(4, 2, 3), x.expand(2, -1)), F(1, 3), ops=[D.expand]),
    case("expand/like", lambda t, x, y: (x.expand_as(y), x.broadcast_to((2, 3)), t.broadcast_to(x, (2, 2, 3))), F(3), C(2, 3), ops=[D.expand]),
    case("expand/broadcast_tensors", lambda t, x, y, z: (t.broadcast_tensors(x, y), t.broadcast_tensors(z, y)), F(2, 1), F(3), F(2, 3), ops=[D.expand]),
    case("expand/zero-dim", lambda t, x: x.expand(3), F(), ops=[D.expand]),
    case("sum_to_size", lambda t, x: (x.sum_to_size(1, 3), x.sum_to_size((2, 1)), x.sum_to_size(3)), F(2, 3), ops=[D.sum_dim, D.view]),
    case("select", lambda t, x: (x[0], x[:, 1], x[-1], x.select(1, 0), t.select(x, 0, -1)), F(2, 3), ops=[D.select, D.select_backward]),
    case("select/chained", lambda t, x: (x[0][1], x[1, 2], x[0, ..., 1]), F(2, 3, 2), ops=[D.select]),
    case("slice", lambda t, x: (x[0:1], x[:, ::2], x[1:], x[:, -2:]), F(2, 3), ops=[D.slice_dim, D.slice_backward]),
    case("slice/lone-full-slice", lambda t, x: x[:], F(2, 3), ops=[D.slice_dim]),
    # A negative start counts from the end.
    case("slice/narrow", lambda t, x: (x.narrow(1, 0, 2), t.narrow(x, 0, 1, 1), x.narrow(-1, 1, 2), x.narrow(1, -2, 2), x.narrow(1, 3, 0)), F(2, 3), ops=[D.slice_dim]),
    case("slice/empty", lambda t, x: (x[2:1], x[5:]), F(3), ops=[D.slice_dim]),
    case("unbind", lambda t, x: (x.unbind(), t.unbind(x, 1)), F(2, 3), ops=[D._unbind_op(2), D._unbind_op(3)]),
    case("unbind/iterate", lambda t, x: list(x), F(2, 3), ops=[D._unbind_op(2)]),
    case("unbind/one-output-used", lambda t, x: x.unbind(1)[1], F(2, 3), ops=[D._unbind_op(3)]),
    case("split", lambda t, x: (x.split(2), t.split(x, [1, 2], dim=1)), F(3, 3), ops=[D._split_op(2), D._split_with_sizes_op(2)]),
    case("split/one-output-used", lambda t, x: x.split(1, 1)[2], F(2, 3), ops=[D._split_op(3)]),
    case("chunk", lambda t, x: (x.chunk(2), t.chunk(x, 3, 1), x.chunk(5)), F(3, 3), ops=[D._split_op(2), D._split_op(3)]),
    case("cat", lambda t, x, y: t.cat([x, y]), F(2, 3), F(1, 3), ops=[D.cat_op(2)]),
    case("cat/dim", lambda t, x, c, y: (t.cat([x, c, y], 1), t.cat((x, y), dim=-1)), F(2, 1), C(2, 2), F(2, 3), ops=[D.cat_op(2), D.cat_op(3)]),
    case("cat/spellings", lambda t, x, y: (t.concat([x, y]), t.concatenate([x, y], 0)), F(3), F(2), ops=[D.cat_op(2)]),
    case("cat/single", lambda t, x: t.cat([x]), F(2, 3), ops=[D.cat_op(1)]),
    case("cat/mixed-dtype", lambda t, x, y: t.cat([x, y]), F(2, dtype="float32"), F(2, dtype="float64"), ops=[D.cat_op(2)]),
    case("stack", lambda t, x, y: (t.stack([x, y]), t.stack((x, y), 1), t.stack([x, y], -1)), F(2, 3), F(2, 3), ops=[D.stack_op(2)]),
    case("stack/constant", lambda t, x, c: t.stack([c, x, c]), F(3), C(3), ops=[D.stack_op(3)]),
    case("flip", lambda t, x: (x.flip(0), x.flip(0, 1), t.flip(x, (1,)), x.flip(-1)), F(2, 3), ops=[D.flip]),
    case("repeat", lambda t, x: (x.repeat(2, 1), x.repeat(2, 1, 3), x.repeat((1, 2))), F(2, 3), ops=[D.repeat]),
    case("repeat/zero-dim", lambda t, x: x.repeat(3), F(), ops=[D.repeat]),
    # -- indexing and gathering --------------------------------------------------------------------
    case("index/list", lambda t, x: (x[[0, 1]], x[[1, 1, 0]]), F(2, 3), ops=[D.index, D.index_put_impl]),
    case("index/tensor", lambda t, x, i: (x[i], x[:, i]), F(3, 3), Int(4, high=3), ops=[D.index]),
    case("index/negative", lambda t, x: x[[-1, 0]], F(3), ops=[D.index]),
    case("index/mask", lambda t, x: (x[x > 0], x[:, x[0] > 0]), F(2, 3), ops=[D.index]),
    case("index/bool-tensor-mask", lambda t, x, m: x[m], F(2, 3), Bool(2, 3), ops=[D.index]),
    case("index/columns", lambda t, x: x[:, [0, 2]], F(2, 3), ops=[D.index]),
    case("index/two-arrays", lambda t, x: x[[0, 1], [2, 0]], F(2, 3), ops=[D.index]),
    # torch applies the int before the advanced index: shape (3, 2), not NumPy's (2, 3).
    case("index/int-and-list", lambda t, x: x[0, :, [0, 1]], F(2, 3, 4), ops=[D.index]),
    # A Python bool (or 0-dim bool tensor) adds a dim of size 1 (True) or 0 (False).
    case("index/bool-scalars", lambda t, x: (x[True], x[False], x[0, True], x[t.tensor(True)], x[None, False]), F(2, 3), ops=[D.index, D.unsqueeze]),
    case("index/empty-list", lambda t, x: (x[[]], x[:, []]), F(2, 3), ops=[D.index]),
    # A list holding lists (or None, slices) is read as a tuple, with a deprecation warning.
    case("index/list-read-as-a-tuple", lambda t, x: (x[[[0, 1], [2, 0]]], x[[0, None]], x[[[]]]), F(2, 3), ops=[D.index, D.unsqueeze, D.select]),
    case("index/list-of-floats", lambda t, x: x[[1.7, 0]], F(2, 3), ops=[D.index]),
    case("index/duplicates-accumulate", lambda t, x: x[[0, 0, 2]], F(3), ops=[D.index]),
    case("index_put/setitem", setitem_advanced, F(3, 2), F(2), ops=[D.index_put]),
    # One bool mask and a one-element value: torch's kernel runs masked_fill_.
    case("index_put/mask", setitem_mask, F(2, 3), ops=[D.index_put_as_masked_fill]),
    case("copy/setitem", setitem_basic, F(2, 3), F(3), ops=[D.copy]),
    # Setting a number fills the view: CopySlices over a FillBackward3.
    case("fill/setitem-a-number", setitem_scalar, F(2, 3), ops=[D.fill_tensor]),
    case("fill/setitem-everything", setitem_everything_to_a_number, F(2, 3), ops=[D.fill_tensor]),
    case("gather", lambda t, x, i: (x.gather(1, i), t.gather(x, 1, i)), F(2, 3), Int(2, 4, high=3), ops=[D.gather]),
    case("gather/dim0", lambda t, x, i: x.gather(0, i), F(3, 2), Int(2, 2, high=3), ops=[D.gather]),
    case("gather/smaller-index", lambda t, x, i: x.gather(1, i), F(3, 3), Int(2, 2, high=3), ops=[D.gather]),
    case("scatter", lambda t, x, i, s: x.scatter(1, i, s), F(2, 4), Int(2, 2, values=[[0, 2], [3, 1]]), F(2, 2), ops=[D.scatter]),
    case("scatter.value", lambda t, x, i: x.scatter(1, i, 2.5), F(2, 4), Int(2, 2, values=[[0, 2], [3, 1]]), ops=[D.scatter_value]),
    case("scatter_add", lambda t, x, i, s: x.scatter_add(0, i, s), F(3, 2), Int(4, 2, high=3), F(4, 2), ops=[D.scatter_add]),
    # -- losses --------------------------------------------------------------------------------
    case("mse_loss", lambda t, x, y: t.nn.functional.mse_loss(x, y), F(2, 3), C(2, 3), ops=[D.mse_loss, D.mse_loss_backward]),
    case("mse_loss/reductions", lambda t, x, y: (t.nn.functional.mse_loss(x, y, reduction="sum"), t.nn.functional.mse_loss(x, y, reduction="none")), F(2, 3), F(2, 3), ops=[D.mse_loss]),
    # A target of another shape is broadcast (with a warning): the input gets an ExpandBackward0.
    case("mse_loss/broadcast", lambda t, x, y: (t.nn.functional.mse_loss(x, y), t.nn.functional.mse_loss(y, x, reduction="sum")), F(3), F(2, 3), ops=[D.mse_loss, D.expand]),
    case("nll_loss", nll_of_log_softmax, F(3, 4), Int(3, high=4), ops=[D.nll_loss, D.nll_loss_backward]),
    case("nll_loss/reductions", lambda t, x, y: (t.nn.functional.nll_loss(x, y, reduction="sum"), t.nn.functional.nll_loss(x, y, reduction="none")), F(3, 4), Int(3, high=4), ops=[D.nll_loss]),
    case("nll_loss/single-sample", lambda t, x, y: t.nn.functional.nll_loss(x, y), F(4), Int(values=2), ops=[D.nll_loss]),
    case("cross_entropy", lambda t, x, y: (t.nn.functional.cross_entropy(x, y), t.nn.functional.cross_entropy(x, y, reduction="sum")), F(3, 4), Int(3, high=4), ops=[D.nll_loss, D.log_softmax]),
    # -- in place (on a non-leaf; the grad_fn becomes the in-place op's) ---------------------------
    case("inplace/add_", inplace("add_", alpha=2), F(2, 3), F(3), ops=[D.add]),
    case("inplace/sub_", inplace("sub_"), F(2, 3), F(2, 3), ops=[D.sub]),
    case("inplace/mul_", inplace("mul_"), F(2, 3), F(3), ops=[D.mul]),
    case("inplace/div_", inplace("div_"), F(2, 3), F(3, **POS), ops=[D.div]),
    case("inplace/scalar", lambda t, x: ((x * 1).add_(1), (x * 1).mul_(2), (x * 1).sub_(0.5), (x * 1).div_(4)), F(3), ops=[D.add, D.mul, D.sub, D.div]),
    case("inplace/operators", augmented, F(2, 3), F(3, **POS), ops=[D.add, D.sub, D.mul, D.div]),
    case("inplace/pow_", inplace("pow_", 2), F(3), ops=[D.pow_scalar]),
    case("inplace/unary", lambda t, x: ((x * 1).neg_(), (x * 1).exp_(), (x * 1).sigmoid_(), (x * 1).tanh_(), (x * 1).relu_(), (x * 1).abs_()), F(2, 3), ops=[D.neg, D.exp, D.sigmoid, D.tanh, D.relu, D.absolute]),
    case("inplace/log_-sqrt_", lambda t, x: ((x * 1).log_(), (x * 1).sqrt_()), F(3, **POS), ops=[D.log, D.sqrt]),
    case("inplace/relu-functional", lambda t, x: t.nn.functional.relu(x * 1, inplace=True), F(3), ops=[D.relu]),
    case("inplace/clamp_", lambda t, x: ((x * 1).clamp_(-0.5, 0.5), (x * 1).clip_(min=0.0)), F(2, 3), ops=[D.clamp]),
    case("inplace/masked_fill_", lambda t, x, m: (x * 1).masked_fill_(m, 2.0), F(2, 3), Bool(2, 3), ops=[D.masked_fill]),
    case("inplace/zero_", inplace("zero_"), F(2, 3), ops=[D.zero]),
    case("inplace/fill_", inplace("fill_", 2.5), F(2, 3), ops=[D.fill]),
    case("inplace/fill_-tensor", inplace("fill_"), F(2, 3), F(), ops=[D.fill_tensor]),
    case("inplace/copy_", inplace("copy_"), F(2, 3), F(3), ops=[D.copy]),
    case("inplace/copy_-constant", inplace("copy_"), F(2, 3), C(2, 3), ops=[D.copy]),
    case("inplace/copy_-other-dtype", inplace("copy_"), F(3, dtype="float32"), F(3, dtype="float64"), ops=[D.copy]),
    case("inplace/on-a-view", lambda t, x: (x * 1)[0].mul_(2), F(2, 3), ops=[D.mul, D.select]),
]
# fmt: on

CASE_BY_ID = {c.id: c for c in CASES}
assert len(CASE_BY_ID) == len(CASES), "case ids must be unique"


def _core_bug(c: Case) -> list[pytest.MarkDecorator]:
    """Stages that run backward are expected to fail, strictly, where the core has a known bug."""
    return [pytest.mark.xfail(strict=True, reason=f"core bug: {c.core_bug}")] if c.core_bug else []


def _params(cases: list[Case], runs_backward: bool = True) -> list[Any]:
    return [
        pytest.param(c, dtype, id=f"{c.id}-{dtype}", marks=_core_bug(c) if runs_backward else [])
        for c in cases
        for dtype in c.dtypes
    ]


Stage = Callable[[Case, ModuleType, str], Any]


def observed(stage: Stage, c: Case, module: ModuleType, dtype: str) -> tuple[Any, list[str]]:
    """What the stage returns under `module` (or what it raises), and the warnings it gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = observe(stage(c, module, dtype), module)
        except Exception as error:
            result = ("raises", type(error).__name__, str(error))
    # torch appends " (Triggered internally at <its source file>)": not part of the message.
    said = [
        f"{w.category.__name__}: {w.message}".split(" (Triggered internally")[0] for w in caught
    ]
    return result, said


def compare(stage: Stage, c: Case, dtype: str) -> None:
    """The stage observes the same under refgrad as under torch (which must not raise)."""
    __tracebackhide__ = True
    expected, torch_warnings = observed(stage, c, torch, dtype)
    assert not (isinstance(expected, tuple) and expected[:1] == ("raises",)), (
        f"the case itself is broken: torch raised {expected}"
    )
    actual, refgrad_warnings = observed(stage, c, refgrad, dtype)
    assert not (isinstance(actual, tuple) and actual[:1] == ("raises",)), f"refgrad raised {actual}"
    assert_same(expected, actual)
    assert refgrad_warnings == torch_warnings


@pytest.mark.parametrize(("c", "dtype"), _params(CASES, runs_backward=False))
def test_forward(c: Case, dtype: str) -> None:
    compare(forward, c, dtype)


@pytest.mark.parametrize(("c", "dtype"), _params(CASES))
def test_backward_and_second_backward(c: Case, dtype: str) -> None:
    compare(backward, c, dtype)


@pytest.mark.parametrize(("c", "dtype"), _params(CASES))
def test_second_order(c: Case, dtype: str) -> None:
    compare(second_order, c, dtype)


def _gradcheckable(c: Case) -> bool:
    """Smooth, with a float64 input requiring grad (cases with a fixed dtype test promotion)."""
    return c.smooth and any(a.requires_grad and a.dtype is None for a in c.args)


@pytest.mark.parametrize(
    "c", [pytest.param(c, id=c.id, marks=_core_bug(c)) for c in CASES if _gradcheckable(c)]
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # warnings are compared with torch by compare()
def test_gradcheck(c: Case) -> None:
    """refgrad's gradients match its own finite differences (float64, no torch involved)."""
    inputs = make_inputs(c, refgrad, "float64")
    assert refgrad.autograd.gradcheck(lambda *xs: c.fn(refgrad, *xs), tuple(inputs))


def first_gradients(c: Case) -> Callable[..., tuple[Any, ...]]:
    """The case's input gradients (for fixed grad_outputs) as a function of its inputs."""

    def gradients(*inputs: Any) -> tuple[Any, ...]:
        outputs = differentiable(as_outputs(c.fn(refgrad, *inputs)))
        wrt = [x for x in inputs if isinstance(x, refgrad.Tensor) and x.requires_grad]
        grad_outputs = seeded_like(c, refgrad, outputs, "grad_outputs")
        return refgrad.autograd.grad(
            outputs, wrt, grad_outputs, create_graph=True, allow_unused=True, materialize_grads=True
        )

    return gradients


@pytest.mark.parametrize(
    "c", [pytest.param(c, id=c.id, marks=_core_bug(c)) for c in CASES if _gradcheckable(c)]
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # warnings are compared with torch by compare()
def test_gradcheck_of_the_gradients(c: Case) -> None:
    """Second order: the backward formulas' own derivatives match finite differences."""
    inputs = make_inputs(c, refgrad, "float64")
    assert refgrad.autograd.gradcheck(first_gradients(c), tuple(inputs))


@pytest.mark.filterwarnings("ignore::UserWarning")  # warnings are compared with torch by compare()
def test_every_differentiable_entry_is_gradchecked() -> None:
    """Each entry with a node runs inside some function that gradcheck differentiates."""
    with recording_ops() as recorder:
        for c in CASES:
            if _gradcheckable(c) and not c.core_bug:
                first_gradients(c)(*make_inputs(c, refgrad, "float64"))
    entries = table_entries()
    missing = sorted(k for k, op in entries.items() if op.node and k not in recorder.reached)
    assert not missing, f"never gradchecked: {missing}"


# -- every table entry is tested ----------------------------------------------------------------


def table_entries() -> dict[tuple[str, str | None], Op]:
    """Every Op in the table, including those made per list length (cat, split, ...)."""
    entries: dict[tuple[str, str | None], Op] = {}
    for value in vars(D).values():
        if isinstance(value, functools._lru_cache_wrapper):
            value = value(2)  # a family of entries, one per length: take one
        if isinstance(value, Op):
            entries[op_key(value)] = value
    return entries


def test_the_table_entries_are_distinct_and_found() -> None:
    entries = table_entries()
    assert len(entries) > 100, "the table scan found suspiciously few entries"
    assert ("cat", "CatBackward0") in entries


def test_every_table_entry_has_a_case() -> None:
    named = {op_key(op) for c in CASES for op in c.ops}
    missing = sorted(set(table_entries()) - named, key=str)
    assert not missing, f"op-table entries without a case: {missing}"


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id, marks=_core_bug(c)) for c in CASES])
@pytest.mark.filterwarnings("ignore::UserWarning")  # warnings are compared with torch by compare()
def test_case_reaches_the_ops_it_names(c: Case) -> None:
    """A case's ops list is not a claim: running it must call each named entry."""
    with recording_ops() as recorder:
        for stage in (forward, backward, second_order):
            stage(c, refgrad, "float64")
    assert {op_key(op) for op in c.ops} <= recorder.reached


# -- every node saves the tensors torch's saves ----------------------------------------------------

# Tensors torch saves that refgrad has no counterpart for, by node: never observable otherwise.
UNMODELLED_SAVED = {"NllLossBackward0": {"total_weight"}}  # an extra output of nll_loss_forward


def saved_tensors(outputs: list[Any], module: ModuleType) -> dict[str, list[set[str]]]:
    """Node name -> for each such node of the graph, the names of what it saved: tensors
    (lists of tensors) and, for refgrad, Python numbers (marked with a leading ``#``)."""
    from refgrad.autograd.graph import SavedTensor

    found: dict[str, list[set[str]]] = {}
    seen: set[int] = set()
    stack = [o.grad_fn for o in outputs if isinstance(o, module.Tensor) and o.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(next_node for next_node, _ in node.next_functions)
        names = set()
        if module is torch:
            for attr in dir(node):
                name = attr.removeprefix("_raw_saved_")
                value = getattr(node, f"_saved_{name}") if name != attr else None
                if isinstance(value, list | tuple):
                    value = next((v for v in value if isinstance(v, torch.Tensor)), None)
                if isinstance(value, torch.Tensor):
                    names.add(name)
        else:
            for name, saved in getattr(node, "_saved", {}).items():
                if isinstance(saved, SavedTensor) or name in node._op.saved_attributes:
                    names.add(name)
                elif isinstance(saved.unpack(), bool | int | float):
                    names.add(f"#{name}")
        found.setdefault(type(node).__name__, []).append(names)
    return found


@pytest.mark.filterwarnings("ignore::UserWarning")  # warnings are compared with torch by compare()
def test_every_node_saves_what_torchs_saves() -> None:
    """What a node saves is what in-place modification invalidates and backward frees: each
    case's graph saves the same tensors as torch's. Nodes are paired by name, in the order
    a walk of each graph meets them. A Python number torch wraps in a tensor (``x * 2``
    saves ``other``) refgrad keeps as the number."""
    differences = []
    for c in CASES:
        expected = saved_tensors(forward(c, torch, "float64"), torch)
        actual = saved_tensors(forward(c, refgrad, "float64"), refgrad)
        for name in expected.keys() & actual.keys():
            unmodelled = UNMODELLED_SAVED.get(name, set())
            for torchs, ours in zip(expected[name], actual[name], strict=False):
                numbers = {n[1:] for n in ours if n.startswith("#")}
                if torchs - numbers - unmodelled != {n for n in ours if not n.startswith("#")}:
                    differences.append(f"{c.id}: {name} saves {sorted(ours)}, torch's {sorted(torchs)}")
    assert not differences, "\n".join(differences)


# -- every method and function that forwards to the table is exercised ------------------------

# Public names that run no op-table entry, and where their behaviour is tested instead.
NOT_FORWARDING = {
    "tests/test_autograd.py (autograd state)": (
        "Tensor.backward Tensor.data Tensor.detach Tensor.detach_ Tensor.grad Tensor.grad_fn "
        "Tensor.is_leaf Tensor.is_inference Tensor.output_nr Tensor.register_hook "
        "Tensor.register_post_accumulate_grad_hook Tensor.requires_grad Tensor.requires_grad_ "
        "Tensor.retain_grad Tensor.retains_grad torch.detach"
    ),
    "tests/test_factories.py (metadata, conversions, factories)": (
        "Tensor.__bool__ Tensor.__float__ Tensor.__index__ Tensor.__int__ Tensor.__len__ "
        "Tensor.cpu Tensor.data_ptr Tensor.device Tensor.dim Tensor.dtype Tensor.element_size "
        "Tensor.is_contiguous Tensor.is_cuda Tensor.is_floating_point Tensor.item Tensor.ndim "
        "Tensor.nelement Tensor.new_empty Tensor.new_full Tensor.new_ones Tensor.new_tensor "
        "Tensor.new_zeros Tensor.normal_ Tensor.numel Tensor.numpy Tensor.shape Tensor.size "
        "Tensor.stride Tensor.tolist Tensor.uniform_ torch.is_tensor torch.numel"
    ),
    "tests/test_printing.py": "Tensor.__repr__ Tensor.__str__",
    "Python's machinery": "Tensor.__hash__ Tensor.__array_ufunc__",
}


def forwarding_surface() -> list[tuple[Any, str, str]]:
    """(owner, attribute, label) for every public Tensor method and torch-level function."""
    skipped = {name for names in NOT_FORWARDING.values() for name in names.split()}
    machinery = {"__annotations__", "__dict__", "__doc__", "__module__", "__weakref__"}
    surface = [
        (refgrad.Tensor, name, f"Tensor.{name}")
        for name in vars(refgrad.Tensor)
        if name not in machinery and (not name.startswith("_") or name.endswith("__"))
    ]
    surface += [(refgrad, name, f"torch.{name}") for name in refgrad._functions.__all__]
    surface += [
        (refgrad.nn.functional, name, f"torch.nn.functional.{name}")
        for name in refgrad.nn.functional.__all__
    ]
    return [entry for entry in surface if entry[2] not in skipped]


def test_the_surface_exclusions_are_not_stale() -> None:
    labels = {f"Tensor.{name}" for name in vars(refgrad.Tensor)}
    labels |= {f"torch.{name}" for name in refgrad._functions.__all__}
    for names in NOT_FORWARDING.values():
        assert set(names.split()) <= labels


@pytest.mark.filterwarnings("ignore::UserWarning")  # warnings are compared with torch by compare()
def test_every_forwarding_method_and_function_is_exercised_by_a_case() -> None:
    """x.add, x + y, torch.add, F.relu, ...: each is spelled out by at least one case."""
    with recording_calls(forwarding_surface(), __file__) as called:
        for c in CASES:
            forward(c, refgrad, "float64")
    missing = sorted({label for _, _, label in forwarding_surface()} - called)
    assert not missing, f"never called by a case: {missing}"


# -- errors: class and message as torch's ------------------------------------------------------


def mat(t: ModuleType, *shape: int) -> Any:
    return t.ones(shape, requires_grad=True)


# fmt: off
ERRORS: dict[str, Callable[[ModuleType], Any]] = {
    "broadcast": lambda t: mat(t, 2, 3) + mat(t, 4),
    "broadcast/leading": lambda t: mat(t, 2, 3) * mat(t, 3, 3, 1).squeeze(-1)[:, :2],
    "broadcast/where": lambda t: t.where(t.ones(2, dtype=t.bool), mat(t, 3), mat(t, 3)),
    "broadcast/inplace": lambda t: (mat(t, 3) * 1).add_(mat(t, 2, 3)),
    "mm/inner": lambda t: mat(t, 2, 3).mm(mat(t, 2, 3)),
    "mm/not-matrix": lambda t: mat(t, 3).mm(mat(t, 3, 2)),
    "matmul/inner": lambda t: mat(t, 2, 3) @ mat(t, 2, 3),
    "matmul/vector": lambda t: mat(t, 2, 3) @ mat(t, 2),
    "matmul/vector-matrix": lambda t: mat(t, 2) @ mat(t, 3, 2),
    "matmul/dot": lambda t: mat(t, 3) @ mat(t, 2),
    "matmul/zero-dim": lambda t: mat(t) @ mat(t, 2),
    "matmul/ndarray-left": lambda t: np.ones((2, 3)) @ mat(t, 3, 2),
    "matmul/batched": lambda t: mat(t, 2, 2, 3) @ mat(t, 2, 2, 3),
    "matmul/batch-broadcast": lambda t: mat(t, 2, 2, 3) @ mat(t, 3, 3, 2),
    "mv/size": lambda t: mat(t, 2, 3).mv(mat(t, 2)),
    "dot/size": lambda t: mat(t, 3).dot(mat(t, 2)),
    "dot/not-vector": lambda t: mat(t, 2, 3).dot(mat(t, 3)),
    "bmm/size": lambda t: mat(t, 2, 2, 3).bmm(mat(t, 2, 2, 3)),
    "bmm/not-3d": lambda t: mat(t, 2, 3).bmm(mat(t, 3, 2)),
    "view/size": lambda t: mat(t, 2, 3).view(4),
    "view/two-minus-ones": lambda t: mat(t, 2, 3).view(-1, -1),
    "view/non-contiguous": lambda t: mat(t, 2, 3).t().view(6),
    "reshape/size": lambda t: mat(t, 2, 3).reshape(4, -1),
    "cat/sizes": lambda t: t.cat([mat(t, 2, 3), mat(t, 2, 2)]),
    "cat/ndim": lambda t: t.cat([mat(t, 2, 3), mat(t, 3)]),
    "cat/zero-dim": lambda t: t.cat([mat(t), mat(t)]),
    "cat/empty-list": lambda t: t.cat([]),
    "cat/dim": lambda t: t.cat([mat(t, 2), mat(t, 2)], 1),
    "stack/sizes": lambda t: t.stack([mat(t, 2, 3), mat(t, 3, 2)]),
    "stack/empty-list": lambda t: t.stack([]),
    "stack/dim": lambda t: t.stack([mat(t, 2), mat(t, 2)], 3),
    "expand/size": lambda t: mat(t, 2, 3).expand(2, 4),
    "expand/fewer-dims": lambda t: mat(t, 2, 3).expand(3),
    "expand/minus-one-new-dim": lambda t: mat(t, 3).expand(-1, 3),
    "dim/sum": lambda t: mat(t, 2, 3).sum(2),
    "dim/sum-negative": lambda t: mat(t, 2, 3).sum(-3),
    "dim/sum-repeated": lambda t: mat(t, 2, 3).sum((0, -2)),
    "dim/mean": lambda t: mat(t, 2, 3).mean(5),
    "dim/softmax": lambda t: mat(t, 2, 3).softmax(2),
    "dim/transpose": lambda t: mat(t, 2, 3).transpose(0, 2),
    "dim/unsqueeze": lambda t: mat(t, 2, 3).unsqueeze(3),
    "dim/squeeze": lambda t: mat(t, 2, 3).squeeze(2),
    "dim/select": lambda t: mat(t, 2, 3).select(2, 0),
    "dim/max": lambda t: mat(t, 2, 3).max(2),
    "dim/cumsum": lambda t: mat(t, 2, 3).cumsum(-3),
    "dim/zero-dim-tensor": lambda t: mat(t).sum(1),
    "dim/permute-not-permutation": lambda t: mat(t, 2, 3).permute(0, 0),
    "dim/permute-count": lambda t: mat(t, 2, 3).permute(0),
    "dim/flip-repeated": lambda t: mat(t, 2, 3).flip(0, 0),
    "index/out-of-range": lambda t: mat(t, 2, 3)[2],
    "index/out-of-range-negative": lambda t: mat(t, 2, 3)[:, -4],
    "index/too-many": lambda t: mat(t, 2, 3)[0, 0, 0],
    "index/list-out-of-range": lambda t: mat(t, 2, 3)[[0, 5]],
    "index/float": lambda t: mat(t, 3)[t.tensor([0.0])],
    "index/mask-shape": lambda t: mat(t, 2, 3)[t.ones(3, dtype=t.bool)],
    "index/a-float": lambda t: mat(t, 2, 3)[1.5],
    "index/a-string": lambda t: mat(t, 2, 3)["a"],
    "index/a-numpy-bool": lambda t: mat(t, 2, 3)[np.True_],
    "index/a-string-in-a-tuple": lambda t: mat(t, 2, 3)[1, "a"],
    "setitem/shape": lambda t: (mat(t, 2, 3) * 1).__setitem__((slice(None), 1), mat(t, 3)),
    "setitem/advanced-shape": lambda t: (mat(t, 2, 3) * 1).__setitem__([0, 1], mat(t, 2)),
    "setitem/a-list": lambda t: (mat(t, 2, 3) * 1).__setitem__(0, [1.0, 2.0, 3.0]),
    "setitem/an-ndarray": lambda t: (mat(t, 2, 3) * 1).__setitem__(0, np.ones(3)),
    "copy_/shape": lambda t: (mat(t, 2, 3) * 1).copy_(mat(t, 2)),
    "copy_/larger-source": lambda t: (mat(t, 2, 3) * 1).copy_(mat(t, 2, 2, 3)),
    "select/index": lambda t: mat(t, 2, 3).select(1, 3),
    "narrow/range": lambda t: mat(t, 2, 3).narrow(1, 2, 2),
    "t/3d": lambda t: mat(t, 2, 3, 4).t(),
    "mT/vector": lambda t: mat(t, 3).mT,
    "split/sizes": lambda t: mat(t, 4).split([1, 2]),
    "chunk/zero": lambda t: mat(t, 4).chunk(0),
    "repeat/fewer-dims": lambda t: mat(t, 2, 3).repeat(2),
    "gather/ndim": lambda t: mat(t, 2, 3).gather(1, t.tensor([0, 1])),
    "max/empty": lambda t: t.ones(0, requires_grad=True).max(),
    "min/empty": lambda t: t.ones(0, requires_grad=True).min(),
    "mean/int": lambda t: t.tensor([1, 2]).mean(),
    "clamp/no-bounds": lambda t: mat(t, 3).clamp(),
    "item/many": lambda t: mat(t, 3).item(),
    "mse_loss/reduction": lambda t: t.nn.functional.mse_loss(mat(t, 3), mat(t, 3), reduction="avg"),
    "inplace/int-from-float": lambda t: t.tensor([1, 2]).add_(0.5),
    "inplace/leaf": lambda t: mat(t, 3).add_(1),
    "bitwise/float": lambda t: mat(t, 3) & mat(t, 3),
    "sub/bool": lambda t: t.tensor([True]) - t.tensor([False]),
    "sub/bool-number": lambda t: t.tensor([True]) - True,
    "rsub/bool": lambda t: t.rsub(t.tensor([True]), t.tensor([False])),
    "mm/mat2-not-matrix": lambda t: mat(t, 2, 3).mm(mat(t, 3)),
    "mm/dtype": lambda t: mat(t, 2, 3).mm(mat(t, 3, 2).double()),
    "mm/int-float": lambda t: t.ones(2, 2, dtype=t.long).mm(mat(t, 2, 2)),
    "mv/not-matrix": lambda t: mat(t, 3).mv(mat(t, 3)),
    "mv/not-vector": lambda t: mat(t, 2, 3).mv(mat(t, 3, 1)),
    "mv/dtype": lambda t: mat(t, 2, 3).mv(mat(t, 3).double()),
    "dot/dtype": lambda t: mat(t, 3).dot(mat(t, 3).double()),
    "dot/matrix-second": lambda t: mat(t, 3).dot(mat(t, 3, 1)),
    "bmm/batch": lambda t: mat(t, 2, 2, 3).bmm(mat(t, 3, 3, 2)),
    "bmm/second-not-3d": lambda t: mat(t, 2, 2, 3).bmm(mat(t, 3, 2)),
    "bmm/dtype": lambda t: mat(t, 2, 2, 3).bmm(mat(t, 2, 3, 2).double()),
    "matmul/dtype": lambda t: mat(t, 2, 3) @ mat(t, 3, 2).double(),
    "matmul/dot-dtype": lambda t: mat(t, 3) @ mat(t, 3).double(),
    "matmul/batched-dtype": lambda t: mat(t, 2, 2, 3) @ mat(t, 2, 3, 2).double(),
    "bitwise/invert-float": lambda t: ~mat(t, 3),
    "bitwise/xor-float": lambda t: mat(t, 3) ^ mat(t, 3),
    "bitwise/or-number": lambda t: mat(t, 3) | 1,
    "bitwise/int-and-float-number": lambda t: t.tensor([1]) & 1.5,
    "narrow/start": lambda t: mat(t, 2, 3).narrow(1, 4, 1),
    "narrow/negative-start": lambda t: mat(t, 2, 3).narrow(1, -4, 1),
    "narrow/negative-length": lambda t: mat(t, 2, 3).narrow(1, 0, -1),
    "gather/out-of-range": lambda t: mat(t, 2, 3).gather(1, t.tensor([[0], [3]])),
    "gather/negative": lambda t: mat(t, 2, 3).gather(1, t.tensor([[-1], [0]])),
    "gather/too-large-elsewhere": lambda t: mat(t, 2, 3).gather(1, t.tensor([[0], [0], [0]])),
    "scatter/out-of-range": lambda t: mat(t, 2, 3).scatter(1, t.tensor([[0], [3]]), mat(t, 2, 1)),
    "scatter/src-too-small": lambda t: mat(t, 2, 3).scatter(1, t.tensor([[0, 1], [1, 2]]), mat(t, 2, 1)),
    "scatter_add/ndim": lambda t: mat(t, 2, 3).scatter_add(1, t.tensor([0]), mat(t, 2, 1)),
    "pow/int-negative": lambda t: t.tensor([1, 2]) ** -1,
    "pow_/int-float": lambda t: t.tensor([1, 2]).pow_(0.5),
    "select/negative": lambda t: mat(t, 2, 3).select(1, -4),
    "unbind/zero-dim": lambda t: mat(t).unbind(),
    "split/zero-dim": lambda t: mat(t).split(1),
    "repeat/negative": lambda t: mat(t, 2).repeat(-1),
    "squeeze/repeated-dims": lambda t: mat(t, 1, 1).squeeze((0, 0)),
    "where/condition-not-bool": lambda t: t.where(mat(t, 3), mat(t, 3), mat(t, 3)),
    "masked_fill/float-mask": lambda t: mat(t, 3).masked_fill(mat(t, 3), 0.0),
    "masked_fill/value-not-0-dim": lambda t: mat(t, 3).masked_fill(t.ones(3, dtype=t.bool), mat(t, 3)),
    "nll_loss/float-target": lambda t: t.nn.functional.nll_loss(mat(t, 2, 3), mat(t, 2)),
    "nll_loss/target-out-of-range": lambda t: t.nn.functional.nll_loss(mat(t, 2, 3), t.tensor([0, 3])),
    "nll_loss/batch-size": lambda t: t.nn.functional.nll_loss(mat(t, 2, 3), t.tensor([0, 1, 1])),
    "softmax/int": lambda t: t.tensor([1, 2]).softmax(0),
    "norm/int": lambda t: t.tensor([1, 2]).norm(),
    "var/int": lambda t: t.tensor([1, 2]).var(),
    "view/negative-size": lambda t: mat(t, 2, 3).view(-2, 3),
    "expand/negative-size": lambda t: mat(t, 2, 3).expand(-2, 3),
    "cat/dim-out-of-range": lambda t: t.cat([mat(t, 2), mat(t, 2)], 1),
    "max/dim-empty": lambda t: t.ones(0, 3).max(0),
    "argmax/empty": lambda t: t.ones(0).argmax(),
    "amax/empty": lambda t: t.ones(0).amax(),
    "item/empty": lambda t: t.ones(0).item(),
    "clamp/tensor-and-number": lambda t: mat(t, 3).clamp(t.zeros(3), 1.0),
    "neg/bool": lambda t: -t.tensor([True]),
    "outer/not-vector": lambda t: t.outer(mat(t, 2), mat(t, 2, 1)),
    # masked_fill broadcasts (mask first) before its checks; masked_fill_ checks first.
    "masked_fill_/mask-shape": lambda t: t.ones(3).masked_fill_(t.tensor([True, True]), 1.0),
    "masked_fill/float-mask-shape": lambda t: t.ones(3).masked_fill(t.ones(2), 1.0),
    "masked_fill_/float-mask-shape": lambda t: t.ones(3).masked_fill_(t.ones(2), 1.0),
    "masked_fill/value-and-mask": lambda t: t.ones(3).masked_fill(t.ones(3), t.ones(2)),
    "masked_fill_/value-and-mask": lambda t: t.ones(3).masked_fill_(t.ones(3), t.ones(2)),
}
# fmt: on


@pytest.mark.parametrize("name", ERRORS)
def test_error_matches_torch(name: str) -> None:
    scenario = ERRORS[name]
    expected = run(scenario, torch)
    assert isinstance(expected, tuple) and expected[0] == "raises", "torch does not raise here"
    assert run(scenario, refgrad) == expected


# -- broadcasting, generated --------------------------------------------------------------------

BINARY = {
    "add": lambda t, x, y: x + y,
    "sub": lambda t, x, y: x - y,
    "mul": lambda t, x, y: x * y,
    "div": lambda t, x, y: x / y,
    "pow": lambda t, x, y: x**y,
    "maximum": lambda t, x, y: t.maximum(x, y),
    "where": lambda t, x, y: t.where(x > y, x, y),
}
TAKES_A_NUMBER = ("add", "sub", "mul", "div", "pow")


@settings(max_examples=30, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    name=st.sampled_from(sorted(BINARY)),
    number_side=st.sampled_from(["neither", "left", "right"]),
)
def test_broadcasting_reduces_gradients_to_each_input(
    shapes: Any, name: str, number_side: str
) -> None:
    """Any two broadcastable shapes, or a tensor and a Python number on either side."""
    fn = BINARY[name]
    left, right = (F(*shape, **POS) for shape in shapes.input_shapes)
    if name not in TAKES_A_NUMBER or number_side == "neither":
        c = case(f"broadcast/{name}/{shapes}", fn, left, right, ops=[])
    elif number_side == "left":
        c = case(
            f"broadcast/{name}/{shapes}/number-left", lambda t, y: fn(t, 1.5, y), right, ops=[]
        )
    else:
        c = case(
            f"broadcast/{name}/{shapes}/number-right", lambda t, x: fn(t, x, 0.5), left, ops=[]
        )
    compare(forward, c, "float32")
    compare(backward, c, "float32")
