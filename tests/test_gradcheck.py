"""refgrad.autograd.gradcheck: the finite-difference oracle, checked against torch's own.

Each scenario hands the same function and inputs to ``torch.autograd.gradcheck`` and to
``refgrad.autograd.gradcheck``; the outcome (True, False, or the error class and message)
and the warnings must be the same. Functions with a wrong gradient are made with a tensor
hook that rescales the gradient flowing back, which both libraries support.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import torch

import refgrad

Check = Callable[[ModuleType], Any]  # runs gradcheck under one module; returns its outcome


def leaf(t: ModuleType, *values: float, dtype: str = "float64") -> Any:
    return t.tensor(list(values), dtype=getattr(t, dtype), requires_grad=True)


def scaled_backward(t: ModuleType, x: Any, factor: float) -> Any:
    """x * 1, but the gradient flowing back through it is multiplied by `factor`."""
    y = x * 1
    y.register_hook(lambda g: g * factor)
    return y


def outcome(check: Check, module: ModuleType) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = check(module)
        except Exception as error:
            result = (type(error).__name__, str(error))
    return result, [str(w.message) for w in caught]


SCENARIOS: dict[str, Check] = {
    "correct/one-input": lambda t: t.autograd.gradcheck(
        lambda x: (x * x).sin(), (leaf(t, 0.5, -1.0, 2.0),)
    ),
    "correct/a-bare-tensor-input": lambda t: t.autograd.gradcheck(
        lambda x: x.exp().sum(), leaf(t, 0.5, 1.5)
    ),
    "correct/two-inputs-and-a-number": lambda t: t.autograd.gradcheck(
        lambda x, y, k: x * y + k, (leaf(t, 1.0, 2.0), leaf(t, 3.0, -1.0), 2.5)
    ),
    "correct/two-outputs": lambda t: t.autograd.gradcheck(
        lambda x: (x.exp(), x.sum() * 3), (leaf(t, 0.1, 0.2),)
    ),
    "correct/an-input-that-needs-no-grad": lambda t: t.autograd.gradcheck(
        lambda x, c: x / c, (leaf(t, 1.0, 2.0), t.tensor([4.0, 5.0], dtype=t.float64))
    ),
    "correct/an-unused-input": lambda t: t.autograd.gradcheck(
        lambda x, y: x * 2, (leaf(t, 1.0), leaf(t, 2.0))
    ),
    # The Jacobian printed has one row per input element and one column per output element.
    "wrong/doubled-gradient": lambda t: t.autograd.gradcheck(
        lambda x: scaled_backward(t, x, 2.0).sin(), (leaf(t, 1.0, 2.0),)
    ),
    "wrong/names-the-input": lambda t: t.autograd.gradcheck(
        lambda x, y: x * scaled_backward(t, y, -1.0), (leaf(t, 1.0, 2.0), leaf(t, 3.0))
    ),
    "wrong/names-the-output": lambda t: t.autograd.gradcheck(
        lambda x: (x * 2, scaled_backward(t, x, 0.5).exp()), (leaf(t, 1.0, 2.0, 3.0),)
    ),
    "wrong/raise_exception-false": lambda t: t.autograd.gradcheck(
        lambda x: scaled_backward(t, x, 2.0), (leaf(t, 1.0),), raise_exception=False
    ),
    # Agreement is |analytical - numerical| <= atol + rtol * |numerical|. With eps = 0.01 the
    # central difference of x**3 at 1 is 3.0001, against an exact 3.
    "tolerance/within-rtol": lambda t: t.autograd.gradcheck(
        lambda x: x**3, (leaf(t, 1.0),), eps=1e-2
    ),
    "tolerance/outside-a-tighter-rtol": lambda t: t.autograd.gradcheck(
        lambda x: x**3, (leaf(t, 1.0),), eps=1e-2, rtol=1e-6
    ),
    "tolerance/a-looser-atol": lambda t: t.autograd.gradcheck(
        lambda x: x**3, (leaf(t, 1.0),), eps=1e-2, rtol=0.0, atol=1e-3
    ),
    # A kink: the central difference at 0 sees slope 0 on average, relu's backward says 0.
    "kink/relu-at-zero": lambda t: t.autograd.gradcheck(lambda x: x.relu(), (leaf(t, 0.0),)),
    "kink/abs-at-zero": lambda t: t.autograd.gradcheck(lambda x: x.abs(), (leaf(t, 0.0),)),
    "kink/clamp-at-its-bound": lambda t: t.autograd.gradcheck(
        lambda x: x.clamp(min=0.0), (leaf(t, 0.0),)
    ),
    # No output requires grad: the numerical Jacobian must then be zero.
    "no-differentiable-output/flat": lambda t: t.autograd.gradcheck(
        lambda x: (x > 0).double(), (leaf(t, 1.0, -1.0),)
    ),
    "no-differentiable-output/detached": lambda t: t.autograd.gradcheck(
        lambda x: x.detach() * 2, (leaf(t, 1.0, -1.0),)
    ),
    "float32-inputs-warn": lambda t: t.autograd.gradcheck(
        lambda x: x * 3, (leaf(t, 1.0, dtype="float32"),), atol=1e-1
    ),
    "nothing-requires-grad": lambda t: t.autograd.gradcheck(
        lambda x: x * 2, (t.tensor([1.0], dtype=t.float64),)
    ),
    "an-input-with-stride-0": lambda t: t.autograd.gradcheck(
        lambda x: x * 2, (leaf(t, 1.0).expand(3),)
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_gradcheck_behaves_as_torchs(name: str) -> None:
    check = SCENARIOS[name]
    assert outcome(check, refgrad) == outcome(check, torch)


def test_a_failure_is_a_runtime_error_of_class_gradcheck_error() -> None:
    with pytest.raises(RuntimeError) as raised:
        SCENARIOS["wrong/doubled-gradient"](refgrad)
    assert type(raised.value).__name__ == "GradcheckError"


def test_a_nondeterministic_backward_is_caught_before_comparing() -> None:
    """Two backward passes giving different Jacobians fail, as torch's "not reentrant"."""

    def check(t: ModuleType) -> Any:
        counter = itertools.count(1)

        def func(x: Any) -> Any:
            y = x * 1
            y.register_hook(lambda g: g * next(counter))
            return y

        return t.autograd.gradcheck(func, (leaf(t, 1.0, 2.0),))

    ours, theirs = outcome(check, refgrad)[0], outcome(check, torch)[0]
    assert ours[0] == theirs[0] == "GradcheckError"
    # torch goes on with advice about its own test suite (nondet_tol, OpInfo).
    assert theirs[1].startswith(ours[1])
    assert ours[1].startswith("Backward is not reentrant")


def test_gradcheck_does_not_touch_grad_or_the_inputs() -> None:
    x = leaf(refgrad, 1.0, 2.0)
    before = x.detach().clone()
    assert refgrad.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
    assert x.grad is None
    assert x.detach().tolist() == before.tolist()
