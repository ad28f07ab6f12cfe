"""tiny: a micrograd-style autograd engine over NumPy arrays, under 100 lines.

The engine docs/adding-an-engine.md writes an adapter for. In the guide's story it is
someone else's library: torch-like in spirit (`Tensor(data, requires_grad=True)`,
`t.backward()`, `t.grad`), with its own names (`sum(axis=, keepdims=)`), and with the
classic bug of small engines kept on purpose: backward adds into every node's running
gradient without clearing it first, so a second backward over the same graph counts the
first one again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__version__ = "0.1"


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the dimensions broadcasting added to `shape`."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Tensor:
    def __init__(self, data: Any, requires_grad: bool = False,
                 _parents: tuple[Tensor, ...] = ()) -> None:
        self.data = np.asarray(data)
        self.requires_grad: bool = requires_grad or any(p.requires_grad for p in _parents)
        self.grad: np.ndarray | None = None  # leaves only, as in torch
        self._parents = _parents
        self._upstream: np.ndarray | None = None  # running gradient during backward
        self._backward: Callable[[np.ndarray], None] = lambda grad: None

    def _push(self, grad: np.ndarray) -> None:
        self._upstream = grad if self._upstream is None else self._upstream + grad

    def _binary(self, other: Any, value: Callable[[Any, Any], Any],
                local: Callable[[np.ndarray, Any, Any], tuple[Any, Any]]) -> Tensor:
        # Python numbers stay numbers, so NumPy keeps float32 (an array would promote).
        raw = other.data if isinstance(other, Tensor) else other
        parents = (self, other) if isinstance(other, Tensor) else (self,)
        out = Tensor(value(self.data, raw), _parents=parents)

        def backward(grad: np.ndarray) -> None:
            for parent, g in zip(parents, local(grad, self.data, raw), strict=False):
                parent._push(_unbroadcast(np.asarray(g), parent.data.shape))

        out._backward = backward
        return out

    def __add__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: a + b, lambda g, a, b: (g, g))

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: a * b, lambda g, a, b: (g * b, g * a))

    __radd__, __rmul__ = __add__, __mul__

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other: Any) -> Tensor:
        return self + (-other)

    def __rsub__(self, other: Any) -> Tensor:
        return -self + other

    def _unary(self, value: np.ndarray, derivative: np.ndarray) -> Tensor:
        out = Tensor(value, _parents=(self,))
        out._backward = lambda grad: self._push(grad * derivative)
        return out

    def exp(self) -> Tensor:
        value = np.exp(self.data)
        return self._unary(value, value)

    def tanh(self) -> Tensor:
        value = np.tanh(self.data)
        return self._unary(value, 1 - value**2)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        out = Tensor(self.data.sum(axis=axis, keepdims=keepdims), _parents=(self,))

        def backward(grad: np.ndarray) -> None:
            if axis is not None and not keepdims:
                grad = np.expand_dims(grad, axis)
            self._push(np.broadcast_to(grad, self.data.shape))

        out._backward = backward
        return out

    def backward(self, gradient: Tensor | None = None) -> None:
        order: list[Tensor] = []
        seen: set[int] = set()

        def visit(node: Tensor) -> None:  # recursive, as in micrograd
            if id(node) not in seen:
                seen.add(id(node))
                for parent in node._parents:
                    visit(parent)
                order.append(node)

        visit(self)
        # The bug: running gradients of earlier backward calls are not cleared here.
        self._upstream = np.ones_like(self.data) if gradient is None else gradient.data
        for node in reversed(order):
            if node._upstream is None or not node.requires_grad:
                continue
            if node._parents:
                node._backward(node._upstream)
            else:  # a leaf: its .grad accumulates, as in torch
                node.grad = node._upstream if node.grad is None else node.grad + node._upstream
                node._upstream = None
