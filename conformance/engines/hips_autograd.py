"""Adapter for HIPS autograd (`--engine autograd`), a functional engine over NumPy.

Differentiation is `autograd.make_vjp` (and `autograd.grad` for a backward without a
gradient); ops go through `autograd.numpy`, translated by `numpy_style.py`. sigmoid is
`autograd.scipy.special.expit` (needs SciPy, part of the extra); autograd has no relu
primitive, so programs using relu are not applicable (spelling it `maximum(x, 0)` would
test the spelling: its gradient at 0 differs from a relu's).
Everything else is shared with JAX in `functional.py`. Install with
`pip install 'refgrad[autograd]'`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.builtins import tuple as traced_tuple
from autograd.tracer import Box

from conformance.engines.functional import Function, FunctionalEngine, total
from conformance.engines.numpy_style import NumpyStyleOps


def _extra_functions() -> dict[str, Callable[..., Any]]:
    try:
        from autograd.scipy.special import expit
    except ImportError:  # SciPy missing: sigmoid is not applicable
        return {}
    return {"sigmoid": expit}


class HipsAutogradEngine(FunctionalEngine):
    """HIPS autograd (see the module docstring)."""

    name = "autograd"

    def __init__(self) -> None:
        super().__init__()
        self.version = version("autograd")
        self.ops = NumpyStyleOps(anp, _extra_functions())

    def asarray(self, values: np.ndarray) -> Any:
        return np.array(values)

    def as_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def vjp(self, function: Function, primals: Sequence[Any],
            cotangents: Sequence[Any]) -> Sequence[Any]:
        pullback, _ = autograd.make_vjp(lambda xs: traced_tuple(function(*xs)))(tuple(primals))
        return pullback(tuple(cotangents))

    def grad_of_sum(self, function: Function, primals: Sequence[Any]) -> Sequence[Any]:
        return autograd.grad(lambda xs: total(function(*xs)))(tuple(primals))

    def depends(self, function: Callable[..., Any], primals: Sequence[Any]) -> bool:
        traced: list[bool] = []

        def probe(xs: tuple[Any, ...]) -> Any:
            traced.append(isinstance(function(*xs), Box))
            return xs[0]

        autograd.make_vjp(probe)(tuple(primals))
        return traced[0]
