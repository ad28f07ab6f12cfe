"""The graphs the benchmarks time, written once for any torch-like module."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def elementwise_graph(t: ModuleType, x: Any, w: Any) -> Any:
    """14 elementwise ops and a sum: the shape of a small MLP-ish expression."""
    a = x * w
    b = a + x
    c = b.exp()
    d = c * 0.5
    e = d.tanh()
    f = e - w
    g = f.sigmoid()
    h = g * g
    i = h + 1.0
    j = i.log()
    k = j / 2.0
    l = k.relu()
    m = l * x
    return m.sum()


def leaves(t: ModuleType, n: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = t.tensor(rng.random((n, n), dtype=np.float32), requires_grad=True)
    w = t.tensor(rng.random((n, n), dtype=np.float32), requires_grad=True)
    return x, w


def forward_backward(t: ModuleType, x: Any, w: Any) -> None:
    x.grad = None
    w.grad = None
    elementwise_graph(t, x, w).backward()


def chain(t: ModuleType, length: int) -> Any:
    """A chain of `length` multiplications ending in the scalar to backpropagate."""
    x = t.tensor([1.0, 2.0], requires_grad=True)
    y = x
    for _ in range(length):
        y = y * 1.0
    return x, y.sum()
