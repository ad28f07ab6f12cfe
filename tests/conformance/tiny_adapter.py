"""The adapter docs/adding-an-engine.md builds, for the tiny engine (tiny_engine.py).

Spec: tests.conformance.tiny_adapter:TinyEngine. The guide quotes this file whole, and
tests/conformance/test_adapters_guide.py checks that it still does and that the kit
finds what the guide says it finds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from conformance.engines.protocol import FLOAT64, RETAIN_GRAPH, EngineBase
from tests.conformance import tiny_engine as tiny

# Each catalogue op (torch's name and signature) spelled the tiny way.
OPS: Mapping[str, Callable[..., Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "neg": lambda a: -a,
    "exp": lambda a: a.exp(),
    "tanh": lambda a: a.tanh(),
    # torch's dim/keepdim are tiny's axis/keepdims
    "sum": lambda a, dim=None, keepdim=False: a.sum(axis=dim, keepdims=keepdim),
}


class TinyEngine(EngineBase):
    name = "tiny"
    version = tiny.__version__
    # float64 leaves work; graphs are never freed, so backward(retain_graph=True) is
    # what tiny always does.
    capabilities = frozenset({FLOAT64, RETAIN_GRAPH})

    def supports(self, op: str) -> bool:
        return op in OPS  # programs using other ops count as not applicable

    def tensor(self, values: np.ndarray, requires_grad: bool) -> Any:
        return tiny.Tensor(values.copy(), requires_grad=requires_grad)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return np.array(tensor.data if isinstance(tensor, tiny.Tensor) else tensor)

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return OPS[op](*args, **kwargs)

    def backward(self, root: Any, gradient: Any | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Any] | None) -> None:
        root.backward(gradient)  # create_graph and inputs= are not declared: never asked

    def grad(self, tensor: Any) -> Any | None:
        return tensor.grad  # a NumPy array or None; to_numpy reads both
