"""Adapter for mygrad (`--engine mygrad`): an imperative engine with NumPy's names.

mygrad is torch-like in shape (tensors remember their creator; `t.backward()`, `t.grad`),
so it is held to everything it can express:
- flags: requires_grad is `not t.constant`; is_leaf is "has no creator", and true of
  constants, as torch calls every tensor that does not require grad a leaf (mygrad's
  op classes are not torch's grad_fn names, so those are not compared);
- retain_graph: mygrad clears the graph after every backward, retained or not. A
  backward with `retain_graph=True` runs as plain `backward()` (what a user porting the
  program would write); a later backward through that graph is not applicable, while
  one through a fresh graph is checked (that is where accumulation shows);
- grad modes: `no_grad` and `set_grad_enabled(False)` are `mygrad.no_autodiff`;
  enabling grad is nothing to do outside it, and not applicable inside it (mygrad
  cannot switch autodiff back on there);
- `.data` is the tensor's NumPy array; in-place ops are mygrad's own: augmented
  assignment (`t += x`), `mygrad.negative(t, out=t)`, item assignment (`t[...] = 0`,
  `t[...] = relu(t)`: mygrad's relu takes no `out`), and `t[index] = v` is itself;
- `retain_grad()` has nothing to do: mygrad keeps the gradient of every tensor;
- resetting `.grad`: `t.null_grad()`, or zeroing the gradient array in place.
Not declared, for want of a counterpart: grad_fn names, detach, requires_grad_,
create_graph (backward takes only the gradient), backward `inputs=`,
autograd.grad, hooks, torch's error messages and warnings.
Ops go through mygrad's NumPy-style functions, translated by `numpy_style.py`.
Install with `pip install 'refgrad[mygrad]'`.
"""

from __future__ import annotations

import contextlib
import operator
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import mygrad as mg
import numpy as np
from mygrad.nnet import relu, sigmoid

from conformance.engines import protocol as caps
from conformance.engines.numpy_style import NumpyStyleOps
from conformance.engines.protocol import EngineBase, NotApplicable

_AUGMENTED = {"add_": operator.iadd, "sub_": operator.isub, "mul_": operator.imul,
              "div_": operator.itruediv}


class MygradEngine(EngineBase):
    """mygrad (see the module docstring)."""

    name = "mygrad"
    capabilities = frozenset({caps.FLAGS, caps.FLOAT64, caps.GRAD_MODE, caps.DATA,
                              caps.INPLACE, caps.RETAIN_GRAD, caps.RESET_GRAD,
                              caps.RETAIN_GRAPH, caps.SETITEM})

    def __init__(self) -> None:
        self.version = mg.__version__
        self.ops = NumpyStyleOps(mg, {"sigmoid": sigmoid, "relu": relu})
        self._autodiff_off = 0  # no_autodiff blocks entered around the current step
        # Tensors of graphs a backward was asked to retain (mygrad cleared them), by id.
        self._retained: weakref.WeakValueDictionary[int, mg.Tensor] = \
            weakref.WeakValueDictionary()

    # ----------------------------------------------------------------- required core

    def tensor(self, values: np.ndarray, requires_grad: bool) -> Any:
        return mg.tensor(values, dtype=values.dtype, constant=not requires_grad, copy=True)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        # Comparisons (`t > 0`) and argmax give plain NumPy arrays.
        return np.array(tensor.data if isinstance(tensor, mg.Tensor) else tensor, copy=True)

    def supports(self, op: str) -> bool:
        return self.ops.supports(op)

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return self.ops(op, args, kwargs)

    def backward(self, root: Any, gradient: Any | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Any] | None) -> None:
        # create_graph and inputs are not declared: never asked here.
        graph = _graph(root)
        if any(id(tensor) in self._retained for tensor in graph):
            raise NotApplicable("backward through a graph retained by an earlier backward "
                                "(mygrad clears the graph after backward)")
        root.backward(gradient)
        if retain_graph:
            self._retained.update((id(tensor), tensor) for tensor in graph)

    def grad(self, tensor: Any) -> Any | None:
        return getattr(tensor, "grad", None)  # a NumPy array (or None)

    # ----------------------------------------------------------------- capabilities

    def flags(self, tensor: Any) -> tuple[bool, bool, str | None]:
        if not isinstance(tensor, mg.Tensor):  # a NumPy array: never tracked
            return False, True, None
        return not tensor.constant, tensor.constant or tensor.creator is None, None

    def grad_mode(self, mode: str, enabled: bool) -> AbstractContextManager[Any]:
        return self._autodiff(mode == "enable_grad" or (mode == "set_grad_enabled" and enabled))

    @contextlib.contextmanager
    def _autodiff(self, enabled: bool) -> Iterator[None]:
        if enabled:
            if self._autodiff_off:
                raise NotApplicable("enabling grad inside no_grad "
                                    "(mygrad cannot switch autodiff back on)")
            yield
            return
        self._autodiff_off += 1
        try:
            with mg.no_autodiff:
                yield
        finally:
            self._autodiff_off -= 1

    def data(self, tensor: Any) -> Any:
        return tensor.data

    def inplace(self, tensor: Any, method: str, args: Sequence[Any]) -> None:
        if method in _AUGMENTED:
            _AUGMENTED[method](tensor, *args)  # in place for mygrad tensors and NumPy arrays
        elif method == "zero_":
            tensor[...] = 0
        elif method == "neg_":
            mg.negative(tensor, out=tensor)
        elif method == "relu_":
            tensor[...] = relu(tensor)
        else:
            raise NotApplicable(f"in-place {method} (no mygrad counterpart in the adapter)")

    def setitem(self, tensor: Any, index: Any, value: Any) -> None:
        tensor[index] = value

    def retain_grad(self, tensor: Any) -> None:
        pass  # mygrad keeps every tensor's gradient

    def reset_grad(self, tensor: Any, how: str) -> None:
        if how == "none":
            tensor.null_grad()
        else:
            tensor.grad[...] = 0  # `.grad` is the gradient array itself


def _graph(root: Any) -> list[Any]:
    """`root` and the tensors it was computed from (through each creator's inputs)."""
    found: dict[int, Any] = {}
    stack = [root]
    while stack:
        tensor = stack.pop()
        if not isinstance(tensor, mg.Tensor) or id(tensor) in found:
            continue
        found[id(tensor)] = tensor
        if tensor.creator is not None:
            stack.extend(tensor.creator.variables)
    return list(found.values())
