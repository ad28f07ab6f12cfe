"""Adapters for JAX (`--engine jax`, `--engine jax_x64`), a functional engine.

JAX computes in float32 unless x64 is enabled: asked for a float64 array, it silently
returns a float32 one. So there are two engines:
- `jax`: JAX as it comes (x64 off). It does not declare float64, so programs with
  float64 leaves are not applicable (instead of a flood of dtype findings saying what
  JAX documents); its integer results (argmax) are int32.
- `jax_x64`: every call runs inside `jax.enable_x64(True)`, so float64 and int64 exist.

Everything else is shared with HIPS autograd in `functional.py`; the ops go through
`jax.numpy` (plus `jax.nn.sigmoid` and `jax.nn.relu`), translated by `numpy_style.py`.
Install with `pip install 'refgrad[jax]'`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from conformance.engines.functional import Function, FunctionalEngine, total
from conformance.engines.numpy_style import NumpyStyleOps


class JaxEngine(FunctionalEngine):
    """JAX with its default configuration: float32 only (see the module docstring)."""

    name = "jax"
    x64 = False

    def __init__(self) -> None:
        self.float64 = self.x64
        super().__init__()
        self.version = jax.__version__ + (" (x64)" if self.x64 else "")
        self.ops = NumpyStyleOps(jnp, {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu})

    def scope(self) -> AbstractContextManager[Any]:
        # Explicit either way: a process that enabled x64 globally keeps `jax` float32.
        return jax.enable_x64(self.x64)

    def asarray(self, values: np.ndarray) -> Any:
        return jnp.array(values)

    def as_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def vjp(self, function: Function, primals: Sequence[Any],
            cotangents: Sequence[Any]) -> Sequence[Any]:
        _, pullback = jax.vjp(lambda *xs: list(function(*xs)), *primals)
        return pullback(list(cotangents))

    def grad_of_sum(self, function: Function, primals: Sequence[Any]) -> Sequence[Any]:
        argnums = tuple(range(len(primals)))
        return jax.grad(lambda *xs: total(function(*xs)), argnums=argnums)(*primals)

    def depends(self, function: Callable[..., Any], primals: Sequence[Any]) -> bool:
        traced: list[bool] = []

        def probe(*xs: Any) -> Any:
            traced.append(isinstance(function(*xs), jax.core.Tracer))
            return xs[0]

        jax.vjp(probe, *primals)
        return traced[0]


class JaxX64Engine(JaxEngine):
    """JAX with x64 enabled: float64 and int64 as in torch."""

    name = "jax_x64"
    x64 = True
