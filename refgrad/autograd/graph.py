"""The backward graph: nodes, edges, saved tensors, and the special nodes torch has.

A node stands for one recorded forward operation. Its ``next_functions`` are the edges
to the nodes of that operation's inputs, as ``(node, input_nr)`` pairs (``(None, 0)``
for an input that needs no gradient). A leaf that requires grad is reached through its
``AccumulateGrad`` node, which owns the leaf's ``.grad`` bookkeeping.

This module knows nothing of individual operations: an op's node (see ``refgrad/ops``)
subclasses ``Node`` and supplies ``apply``.
"""

from __future__ import annotations

import itertools
import re
import sys
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from refgrad.autograd.grad_array import GradArray, from_tensor, to_tensor
from refgrad.utils.hooks import RemovableHandle

if TYPE_CHECKING:
    from refgrad._tensor import Tensor

Grads = list["Tensor | None"]
Edge = tuple["Node | None", int]
TensorHook = Callable[["Tensor"], "Tensor | None"]

_next_sequence_nr = itertools.count()

SECOND_BACKWARD_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class Node:
    """A backward function. Subclasses implement ``apply``: output grads -> input grads."""

    # Class-level defaults: a node stores only what differs (nodes are made per op call).
    _num_outputs = 1  # outputs of the forward op = gradients this node receives
    # Shape and dtype of each forward input, to reduce/cast the gradients it returns.
    _input_meta: tuple[tuple[tuple[int, ...], Any], ...] = ()
    _tensor_pre_hooks: dict[int, dict[int, TensorHook]] | None = None
    _retains_grad: dict[int, weakref.ref[Tensor]] | None = None
    _pre_hooks: dict[int, Callable[..., Any]] | None = None
    _hooks: dict[int, Callable[..., Any]] | None = None

    def __init__(self, next_functions: tuple[Edge, ...] = ()) -> None:
        self.next_functions = next_functions
        # Nodes created later run earlier among those ready (torch's order).
        self._sequence_nr = next(_next_sequence_nr)

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def apply(self, grads: Grads) -> Grads:
        """Gradients w.r.t. the forward inputs, from gradients w.r.t. its outputs."""
        raise NotImplementedError

    def apply_arrays(self, grads: list[Any]) -> list[Any]:
        """``apply`` for a plain backward, on GradArrays. Nodes may override it to skip the
        Tensor round trip; this default runs ``apply`` outside autograd."""
        from refgrad.autograd.grad_mode import no_grad

        with no_grad():
            results = self.apply([None if g is None else to_tensor(g) for g in grads])
        return [from_tensor(r) for r in results]

    def release_saved(self) -> None:
        """Free saved tensors after a backward without retain_graph (default: none saved)."""

    def __call__(self, *grads: Tensor | None) -> Any:
        result = self.apply(list(grads))
        return result[0] if len(result) == 1 else tuple(result)

    # -- hooks --------------------------------------------------------------------------
    def register_prehook(self, fn: Callable[..., Any]) -> RemovableHandle:
        """fn(grad_outputs) may return replacement grad_outputs."""
        if self._pre_hooks is None:
            self._pre_hooks = {}
        return RemovableHandle.add(self._pre_hooks, fn)

    def register_hook(self, fn: Callable[..., Any]) -> RemovableHandle:
        """fn(grad_inputs, grad_outputs) may return replacement grad_inputs."""
        if self._hooks is None:
            self._hooks = {}
        return RemovableHandle.add(self._hooks, fn)

    def add_tensor_pre_hook(self, output_nr: int, fn: TensorHook) -> RemovableHandle:
        if self._tensor_pre_hooks is None:
            self._tensor_pre_hooks = {}
        return RemovableHandle.add(self._tensor_pre_hooks.setdefault(output_nr, {}), fn)

    def set_retains_grad(self, output_nr: int, tensor: Tensor) -> None:
        if self._retains_grad is None:
            self._retains_grad = {}
        self._retains_grad[output_nr] = weakref.ref(tensor)


class GraphRoot(Node):
    """The starting node of a backward pass: hands the root gradients to the roots."""

    def __init__(self, roots: Sequence[Tensor], grads: Grads) -> None:
        super().__init__(tuple(gradient_edge(root) for root in roots))
        self._grads = grads
        # A root gradient of another dtype is cast to the root's, as for any edge.
        self._input_meta = tuple((root.shape, root.dtype) for root in roots)

    def apply(self, grads: Grads) -> Grads:
        return list(self._grads)

    def apply_arrays(self, grads: list[Any]) -> list[Any]:
        return [None if g is None else g._array.view(GradArray) for g in self._grads]


class AccumulateGrad(Node):
    """The sink for a leaf: adds the incoming gradient into ``variable.grad``."""

    def __init__(self, variable: Tensor) -> None:
        super().__init__()
        self.variable = variable
        # Runs as soon as it is ready, before any op node (torch gives it the top priority).
        self._sequence_nr = sys.maxsize

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def apply(self, grads: Grads) -> Grads:
        """Accumulate a Tensor gradient; under create_graph the sum is itself recorded."""
        from refgrad.autograd.grad_mode import is_grad_enabled

        new_grad = grads[0]
        if new_grad is not None:
            variable = self.variable
            if variable._grad is None:
                # A fresh copy, never an alias: the incoming tensor may be the user's
                # `gradient`. Under create_graph the copy is recorded (CopyBackwards).
                variable._grad = new_grad.new_empty(new_grad.shape).copy_(new_grad)
            elif is_grad_enabled():
                variable._grad = variable._grad + new_grad  # ZeroTensors sum to one
            else:
                variable._grad._accumulate_in_place(new_grad._array)
            self._after_accumulation()
        return []

    def apply_arrays(self, grads: list[Any]) -> list[Any]:
        new_grad = grads[0]
        if new_grad is not None:
            variable = self.variable
            if variable._grad is None:
                # torch steals a gradient that obeys the layout contract (strides as the
                # leaf's) and that nothing else holds (the engine copies any other): .grad
                # is then that very memory, maybe a view (0-dim leaves stacked and summed
                # get one shared element as their grads). Otherwise it stores a copy: a
                # ZeroTensor stolen stays immutable; a copy of it is plain zeros.
                if _obeys_layout_contract(new_grad, variable._array) and new_grad.flags.writeable:
                    variable._grad = to_tensor(new_grad)
                else:
                    variable._grad = to_tensor(np.array(new_grad, copy=True).view(GradArray))
            else:
                # Into the same .grad object, as torch does: references to it see the sum.
                variable._grad._accumulate_in_place(new_grad)
            self._after_accumulation()
        return []

    def _after_accumulation(self) -> None:
        for hook in tuple(self.variable._post_accumulate_grad_hooks.values()):
            hook(self.variable)


def _obeys_layout_contract(grad: np.ndarray, variable: np.ndarray) -> bool:
    """torch's obeys_layout_contract for a dense variable: the same strides in every dim of
    size > 1, and no 0 stride (an expanded gradient) in the others."""
    for size, stride, own in zip(grad.shape, grad.strides, variable.strides, strict=True):
        if (size != 1 and stride != own) or (size == 1 and stride == 0):
            return False
    return True


def short_node_name(node: Node) -> str:
    """How torch's in-place error names a node: 'MulBackward0' -> 'Mul', 'MaxBackward1' ->
    'Max1'; hand-written nodes keep their full name ('torch::autograd::CopySlices')."""
    return re.sub(r"Backward(\d+)$", lambda m: "" if m[1] == "0" else m[1], node.name())


class SavedTensor:
    """A tensor saved for backward, with the version it had when saved.

    Unpacking checks it was not modified in place since (the version counter moved) and
    that backward has not already freed it.
    """

    __slots__ = ("_output_of", "_released", "_tensor", "_version", "_view_grad_fn")
    _output_of: tuple[weakref.ref[Node], int] | None

    def __init__(
        self,
        tensor: Tensor,
        output_of: tuple[Node, int] | None = None,
        inplace_on_view: bool = False,
    ) -> None:
        self._tensor = tensor
        self._version = tensor._version_counter.value
        # For an op's own output: (the node, output_nr). torch then names that node in the
        # version error, not whatever grad_fn the tensor has by then. Held weakly: the node
        # owns this saved tensor, and a cycle would keep alive what torch frees at once.
        self._output_of = None if output_of is None else (weakref.ref(output_of[0]), output_of[1])
        self._released = False
        self._view_grad_fn: weakref.ref[Node] | None = None
        if inplace_on_view:
            # The output of an in-place op on a view: torch keeps only the data and a weak
            # reference to the view's grad_fn of the moment (its AsStridedBackward0). While
            # that node lives (the view keeps it until its history is regenerated), it is
            # the history the saved tensor reports and unpacks with; after, the op's node.
            assert tensor._grad_fn is not None and output_of is not None
            self._view_grad_fn = weakref.ref(tensor._grad_fn)
            self._tensor = type(tensor)._from_array(tensor._array, tensor._version_counter)

    def release(self) -> None:
        self._released = True
        self._tensor = None  # type: ignore[assignment]

    def unpack(self) -> Tensor:
        if self._released:
            raise RuntimeError(SECOND_BACKWARD_MESSAGE)
        tensor = self._tensor
        current = tensor._version_counter.value
        if current != self._version:
            raise RuntimeError(self._version_error(tensor, current))
        if self._view_grad_fn is not None:
            return self._with_history(tensor)
        return tensor

    def _output_node(self) -> tuple[Node, int]:
        assert self._output_of is not None
        node = self._output_of[0]()
        assert node is not None  # the node owning this saved tensor is alive while it is used
        return node, self._output_of[1]

    def _history(self) -> tuple[Node, int]:
        assert self._view_grad_fn is not None
        view_grad_fn = self._view_grad_fn()
        return self._output_node() if view_grad_fn is None else (view_grad_fn, 0)

    def _with_history(self, data: Tensor) -> Tensor:
        unpacked = type(data)._from_array(data._array, data._version_counter)
        unpacked._grad_fn, unpacked._output_nr = self._history()
        return unpacked

    def unpack_array(self) -> GradArray:
        """The saved values for a plain backward (see grad_array.py)."""
        return self.unpack()._array.view(GradArray)

    def _version_error(self, tensor: Tensor, current: int) -> str:
        dims = ", ".join(str(d) for d in tensor.shape)
        described = f"[torch.{tensor.dtype.legacy_type_name} [{dims}]]"
        if self._output_of is not None:
            node, output_nr = self._output_node() if self._view_grad_fn is None else self._history()
            described += f", which is output {output_nr} of {short_node_name(node)},"
        elif tensor.grad_fn is not None:
            described += (
                f", which is output {tensor.output_nr} of {short_node_name(tensor.grad_fn)},"
            )
        return (
            "one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: {described} is at version {current}; expected version "
            f"{self._version} instead. Hint: enable anomaly detection to find the operation "
            "that failed to compute its gradient, with "
            "torch.autograd.set_detect_anomaly(True, check_nan=False)."
        )


def gradient_edge(tensor: Tensor) -> Edge:
    """Where a gradient for `tensor` goes: its grad_fn, or its leaf accumulator, or nowhere."""
    grad_fn = tensor.grad_fn
    if grad_fn is not None:
        return (grad_fn, tensor._output_nr)
    if tensor._requires_grad:
        return (tensor._grad_accumulator(), 0)
    return (None, 0)


def collect_next_edges(tensors: Sequence[Tensor]) -> tuple[Edge, ...]:
    return tuple(gradient_edge(t) for t in tensors)
