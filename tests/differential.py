"""Run one scenario under torch and under refgrad, and compare what a user would observe.

A scenario is a function of the module it runs on (``torch`` or ``refgrad``). It returns
whatever it wants compared: tensors, numbers, flags, names, nested in lists/dicts/tuples.
Tensors are compared by value (float tolerances of torch.testing.assert_close), dtype,
shape, requires_grad, is_leaf and grad_fn class name. An exception raised by the scenario
is an observation too: its class and message must match.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import torch

import refgrad

Scenario = Callable[[ModuleType], Any]

# torch.testing.assert_close defaults.
TOLERANCES = {"float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7), "float16": (1e-3, 1e-5)}


def observe(value: Any, module: ModuleType) -> Any:
    """A plain-data description of what the scenario returned."""
    if isinstance(value, module.Tensor):
        grad_fn = value.grad_fn
        return {
            "values": value.detach().numpy().copy() if hasattr(value, "numpy") else None,
            "dtype": str(value.dtype).removeprefix("torch."),
            "shape": tuple(value.shape),
            "requires_grad": value.requires_grad,
            "is_leaf": value.is_leaf,
            "grad_fn": None if grad_fn is None else type(grad_fn).__name__,
        }
    if isinstance(value, list):
        return [observe(v, module) for v in value]
    if isinstance(value, tuple):  # incl. torch.return_types.max and refgrad's counterpart
        return tuple(observe(v, module) for v in value)
    if isinstance(value, dict):
        return {k: observe(v, module) for k, v in value.items()}
    if isinstance(value, module.dtype):
        return str(value).removeprefix("torch.")
    return value


def run(scenario: Scenario, module: ModuleType) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return observe(scenario(module), module)
        except Exception as error:
            return ("raises", type(error).__name__, str(error))


def assert_same(expected: Any, actual: Any, path: str = "result") -> None:
    """Compare two observations; the message says where they part."""
    __tracebackhide__ = True
    if isinstance(expected, dict) and "values" in expected and isinstance(actual, dict):
        for key in ("dtype", "shape", "requires_grad", "is_leaf", "grad_fn"):
            assert actual.get(key) == expected[key], (
                f"{path}.{key}: torch {expected[key]!r}, refgrad {actual.get(key)!r}"
            )
        _assert_close(expected["values"], actual["values"], expected["dtype"], path)
        return
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        assert len(actual) == len(expected), (
            f"{path}: torch has {len(expected)} items, refgrad {len(actual)}"
        )
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{path}[{i}]")
        return
    if isinstance(expected, dict) and isinstance(actual, dict):
        assert actual.keys() == expected.keys(), f"{path}: keys differ"
        for key in expected:
            assert_same(expected[key], actual[key], f"{path}[{key!r}]")
        return
    if isinstance(expected, float) and isinstance(actual, float):
        assert math.isclose(actual, expected, rel_tol=1.3e-6, abs_tol=1e-5) or (
            math.isnan(actual) and math.isnan(expected)
        ), f"{path}: torch {expected!r}, refgrad {actual!r}"
        return
    assert actual == expected, f"{path}: torch {expected!r}, refgrad {actual!r}"


def _assert_close(expected: np.ndarray, actual: np.ndarray, dtype: str, path: str) -> None:
    __tracebackhide__ = True
    if expected.dtype.kind != "f":
        assert np.array_equal(expected, actual), f"{path}: torch {expected}, refgrad {actual}"
        return
    rtol, atol = TOLERANCES[dtype]
    same_nan = np.array_equal(np.isnan(expected), np.isnan(actual))
    assert same_nan and np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True), (
        f"{path}: torch {expected}, refgrad {actual}"
    )


def check(scenario: Scenario) -> None:
    """The scenario behaves the same under refgrad as under torch."""
    __tracebackhide__ = True
    assert_same(run(scenario, torch), run(scenario, refgrad))
