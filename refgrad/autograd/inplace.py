"""In-place operations and views: the rules torch enforces and the nodes it inserts.

A view shares memory and a version counter with its base. When a view is modified in
place, the base's history must change too: the base gets a ``CopySlices`` node (the old
base gradient, with the view's region replaced by what flows through the in-place op),
and the view's grad_fn is regenerated as an ``AsStridedBackward0`` reading from the base.
The regeneration is lazy, as in torch: a view notices that the shared version counter
moved since its grad_fn was set (see ``Tensor.grad_fn``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from refgrad.autograd.grad_mode import _GradState, enable_grad
from refgrad.autograd.graph import (
    SECOND_BACKWARD_MESSAGE,
    Grads,
    Node,
    gradient_edge,
    short_node_name,
)

if TYPE_CHECKING:
    from refgrad._tensor import Tensor

ViewFn = Callable[["Tensor"], "Tensor"]

LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_INPLACE = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)
INFERENCE_INPLACE = (
    "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
    "clone to get a normal tensor before doing inplace update.See "
    "https://github.com/pytorch/rfcs/pull/17 for more details."
)
ZERO_TENSOR_INPLACE = (
    "ZeroTensors are immutable. Please use the materialized zero tensor obtained using .clone() "
    "if you want a mutable tensor."
)
ZERO_TENSOR_COPY = (  # copy_ and setitem word it differently
    "ZeroTensors are immutable. Please materialize the tensor using `.clone()`, if you want a "
    "mutable zero tensor."
)
# Views torch forbids to modify in place, by how they were made ("creation meta").
_MULTI_OUTPUT_SUFFIX = (
    " This view is the output of a function that returns multiple views. Such functions do not "
    "allow the output views to be modified inplace. You should replace the inplace operation by "
    "an out-of-place one."
)
_NO_GRAD_SUFFIX = (
    " Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify "
    "your code by moving both the view and the inplace either both inside the no_grad block (if "
    "you don't want the inplace to be tracked) or both outside (if you want the inplace to be "
    "tracked)."
)


def check_inplace(target: Tensor, other_requires_grad: bool) -> None:
    """Raise torch's error if modifying `target` in place would corrupt autograd."""
    if target._is_inference and not _GradState.inference:
        raise RuntimeError(INFERENCE_INPLACE)
    if not _GradState.enabled:
        return  # e.g. the SGD update `with no_grad(): w -= lr * w.grad`
    requires_grad = target.requires_grad
    if not (requires_grad or other_requires_grad):
        return
    base = target._base
    if base is not None:
        if target._created_in_no_grad or target._multi_output:
            raise RuntimeError(forbidden_view_error(target, indirect=False))
        if requires_grad and base._requires_grad and base._grad_fn is None:
            raise RuntimeError(VIEW_OF_LEAF_INPLACE)
    # The stored grad_fn, not a regenerated one: a view made before its base required grad
    # is still a leaf here until something asks for its grad_fn (as torch's C++ is_leaf).
    if requires_grad and target._grad_fn is None:
        raise RuntimeError(LEAF_INPLACE)


def forbidden_view_error(view: Tensor, indirect: bool) -> str:
    """torch's message for a view made in no_grad mode or by a multi-output op (split,
    unbind), modified in place directly or through its base (`indirect`)."""
    if view._grad_fn is not None:
        what = (
            "its base or another view of its base has been modified"
            if indirect
            else "is being modified"
        )
        message = (
            f"Output {view._output_nr} of {short_node_name(view._grad_fn)} is a view and "
            f"{what} inplace."
        )
    else:
        what = (
            "its base or another view of its base has been modified"
            if indirect
            else "is being modified"
        )
        message = f"A view was created in no_grad mode and {what} inplace with grad mode enabled."
    return message + (_NO_GRAD_SUFFIX if view._created_in_no_grad else _MULTI_OUTPUT_SUFFIX)


class CopySlices(Node):
    """The base's grad_fn after one of its views was modified in place by ``fn``."""

    def __init__(self, base: Tensor, view_fn: ViewFn, fn: Node) -> None:
        # fn's first input was the view; the base's own history replaces it.
        super().__init__((gradient_edge(base), *fn.next_functions[1:]))
        self._input_meta = ((base.shape, base._dtype), *fn._input_meta[1:])
        self._view_fn = view_fn
        self._fn: Node | None = fn

    def name(self) -> str:
        return "torch::autograd::CopySlices"

    def apply(self, grads: Grads) -> Grads:
        if self._fn is None:
            raise RuntimeError(SECOND_BACKWARD_MESSAGE)
        grad = grads[0]
        assert grad is not None
        result = grad.clone()
        grad_slice = self._view_fn(result)
        fn_grads = self._fn.apply([grad_slice.clone()])
        if fn_grads[0] is None:
            grad_slice.zero_()
        else:
            grad_slice.copy_(fn_grads[0])
        return [result, *fn_grads[1:]]

    def release_saved(self) -> None:
        # torch drops fn itself: a second backward fails even if fn saved nothing, and
        # what only fn kept alive (the view's earlier grad_fn) dies with it.
        if self._fn is not None:
            self._fn.release_saved()
        self._fn = None


class AsStridedBackward0(Node):
    """A view's regenerated grad_fn: its gradient lands in its region of the base.

    That is the vector-Jacobian product of the view function itself, so it is computed by
    backpropagating through a replay of the view ops: right also for views whose elements
    repeat (expand), where writing the gradient into the region would not be.
    """

    def __init__(self, base: Tensor, view_fn: ViewFn) -> None:
        super().__init__((gradient_edge(base),))
        self._input_meta = ((base.shape, base._dtype),)
        self._base_shape = base.shape
        self._view_fn = view_fn

    def apply(self, grads: Grads) -> Grads:
        from refgrad.autograd.functional import grad as vjp

        grad = grads[0]
        assert grad is not None
        create_graph = _GradState.enabled
        with enable_grad():
            base = grad.new_zeros(self._base_shape).requires_grad_()
            view = self._view_fn(base)
        (base_grad,) = vjp(view, base, grad, create_graph=create_graph)
        return [base_grad]


def rebase_history(view: Tensor, fn: Node) -> None:
    """After `fn` modified `view` in place: route the base's history through CopySlices."""
    base = view._base
    assert base is not None and view._view_fn is not None
    base._grad_fn = CopySlices(base, view._view_fn, fn)
    base._output_nr = 0
    regenerate_view_grad_fn(view)  # now, as torch does; other views of the base: when read
    view._view_version = view._version_counter.value


def regenerate_view_grad_fn(view: Tensor) -> None:
    base = view._base
    assert base is not None and view._view_fn is not None
    view._grad_fn = AsStridedBackward0(base, view._view_fn)
    view._output_nr = 0
