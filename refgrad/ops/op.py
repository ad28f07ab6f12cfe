"""What an entry of the op table is, and how calling one records it for backward.

An ``Op`` bundles what PyTorch's derivatives.yaml says about an operation: its forward
(a NumPy function), one backward formula per differentiable input, and the name of its
grad_fn class. What a node saves is read off the formulas' parameter names, exactly as
torch's code generator does it:

    ``grad``            the gradient flowing in (``grads``: all of them, for several outputs)
    an input's name     that input, saved (``self``, ``other``, ...)
    ``result``          the op's output, saved (``result1`` ... for further outputs)
    ``<input>_shape``   an input's shape (metadata: never freed)
    anything else       an attribute of the call (``dim``, ``keepdim``, ``exponent``, ...)

A formula runs only for an input that needs a gradient, so only the tensors its formulas
use are saved: ``x * c`` saves ``c`` but not ``x``. Saved tensors are what make a second
backward fail and what in-place modification invalidates.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from refgrad import _dtypes
from refgrad._dtypes import dtype
from refgrad.autograd.grad_mode import _GradState
from refgrad.autograd.graph import SECOND_BACKWARD_MESSAGE, Node, SavedTensor, gradient_edge

if TYPE_CHECKING:
    from refgrad._tensor import Tensor

Formula = Callable[..., "Tensor | None"]
# Maps the dtype the inputs promote to onto (the dtype to compute in, the result's dtype);
# a result dtype of None keeps whatever the forward produced (``to(dtype)``).
DtypeRule = Callable[[dtype], tuple[dtype, dtype | None]]


def same_dtype(d: dtype) -> tuple[dtype, dtype]:
    return d, d


def float_dtype(d: dtype) -> tuple[dtype, dtype]:
    """Integer inputs compute in the default float dtype (true division, exp, sqrt, ...)."""
    computed = d if d.is_floating_point else _dtypes.get_default_dtype()
    return computed, computed


def bool_result(d: dtype) -> tuple[dtype, dtype]:
    return d, _dtypes.bool_


def long_result(d: dtype) -> tuple[dtype, dtype]:
    return d, _dtypes.int64


def forward_dtype(d: dtype) -> tuple[dtype, None]:
    return d, None


def sum_dtype(d: dtype) -> tuple[dtype, dtype]:
    """Sums of integers and bools are int64, as in torch."""
    return (d, d) if d.is_floating_point else (_dtypes.int64, _dtypes.int64)


class SavedAttribute:
    """A non-tensor value torch keeps as a saved variable, so backward frees it too."""

    __slots__ = ("_value",)
    _FREED = object()

    def __init__(self, value: Any) -> None:
        self._value = value

    def release(self) -> None:
        self._value = self._FREED

    def unpack(self) -> Any:
        if self._value is self._FREED:
            raise RuntimeError(SECOND_BACKWARD_MESSAGE)
        return self._value


class OpNode(Node):
    """The grad_fn of one call of an op. One subclass per torch node name."""

    __slots__ = ("_context", "_op", "_saved")

    _op: Op
    _saved: dict[str, SavedTensor | SavedAttribute]
    _context: dict[str, Any]

    def apply(self, grads: list[Tensor | None]) -> list[Tensor | None]:
        op = self._op
        results: list[Tensor | None] = []
        for (next_node, _), (formula, params) in zip(
            self.next_functions, op._formulas, strict=True
        ):
            if next_node is None:
                results.append(None)
                continue
            kwargs: dict[str, Any] = {}
            for param in params:
                if param == "grad":
                    kwargs[param] = grads[0]
                elif param == "grads":
                    kwargs[param] = grads
                elif param in self._saved:
                    kwargs[param] = self._saved[param].unpack()
                else:
                    kwargs[param] = self._context[param]
            results.append(formula(**kwargs))
        return results

    def release_saved(self) -> None:
        for saved in self._saved.values():
            saved.release()

    def __getattr__(self, attr: str) -> Any:
        """``node._saved_self`` and friends, as torch exposes them."""
        if attr.startswith("_saved_"):
            name = attr[len("_saved_") :]
            saved = object.__getattribute__(self, "_saved")
            if name in saved:
                return saved[name].unpack()
            context = object.__getattribute__(self, "_context")
            if name in context:
                return context[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{attr}'")


@dataclass(frozen=True)
class Op:
    """One entry of the op table. Call it with tensors (or Python numbers) and attributes."""

    name: str
    forward: Callable[..., Any]
    node: str | None = None  # torch's grad_fn class name; None: not differentiable
    inputs: tuple[str, ...] = ("self",)
    derivatives: Mapping[str, Formula] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("result",)
    dtypes: DtypeRule = same_dtype
    # Inputs that take part in type promotion; others (indices, masks) pass through as-is.
    promoted: tuple[str, ...] | None = None
    # The output aliases input 0's memory (a view) rather than being new memory.
    is_view: bool = False
    # Attributes torch keeps as saved tensors (index tensors): freed by backward too.
    saved_attributes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.derivatives) - set(self.inputs)
        assert not unknown, f"{self.name}: derivatives for unknown inputs {unknown}"
        assert self.node or not self.derivatives, f"{self.name}: derivatives need a node name"
        differentiable = tuple(i for i in self.inputs if i in self.derivatives)
        formulas = tuple(
            (self.derivatives[i], tuple(inspect.signature(self.derivatives[i]).parameters))
            for i in differentiable
        )
        promoted = self.inputs if self.promoted is None else self.promoted
        setter = object.__setattr__
        setter(self, "_differentiable", tuple(self.inputs.index(i) for i in differentiable))
        setter(self, "_formulas", formulas)
        setter(self, "_promoted", tuple(self.inputs.index(i) for i in promoted))
        setter(self, "_node_class", _node_class(self.node) if self.node else None)

    # Set in __post_init__ (derived from the fields above).
    _differentiable: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _formulas: tuple[tuple[Formula, tuple[str, ...]], ...] = field(
        init=False, repr=False, compare=False
    )
    _promoted: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _node_class: type[OpNode] | None = field(init=False, repr=False, compare=False)

    def __call__(self, *args: Any, **attrs: Any) -> Any:
        """Run the forward; record a node if grad mode is on and an input requires grad."""
        inputs = [_tensor.as_operand(a) for a in args]
        raw_outputs, result_dtype = self.compute(inputs, attrs)
        outputs = []
        for k, out in enumerate(raw_outputs):
            if self.is_view:
                outputs.append(_tensor.make_view(inputs[0], out, self, attrs, k))
                continue
            out = np.asarray(out)
            # Only the first output follows the dtype rule; others (indices) keep NumPy's.
            if k == 0 and result_dtype is not None and out.dtype != result_dtype.numpy:
                out = out.astype(result_dtype.numpy)
            outputs.append(_tensor.Tensor._from_array(out))
        if self.needs_grad(inputs):
            node = self.record(inputs, attrs)
            self.save_outputs(node, outputs)
            for k, out in enumerate(outputs):
                if out._dtype.is_floating_point:  # integer outputs (indices) have no history
                    out._grad_fn = node
                    out._output_nr = k
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def compute(
        self, inputs: Sequence[Tensor], attrs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dtype | None]:
        """The forward on arrays, after type promotion. Returns (raw outputs, result dtype)."""
        compute_dtype, result_dtype = self.dtypes(self._promote(inputs))
        arrays = [
            t._array.astype(compute_dtype.numpy, copy=False) if i in self._promoted else t._array
            for i, t in enumerate(inputs)
        ]
        raw = self.forward(*arrays, **attrs)
        return (raw if len(self.outputs) > 1 else (raw,)), result_dtype

    def needs_grad(self, inputs: Sequence[Tensor]) -> bool:
        return (
            _GradState.enabled
            and self._node_class is not None
            and any(inputs[i].requires_grad for i in self._differentiable)
        )

    def uses_saved_input(self, name: str, inputs: Sequence[Tensor]) -> bool:
        """Would recording this call save input `name`? (In-place ops must copy it first.)"""
        return any(
            name in params and inputs[i].requires_grad
            for i, (_, params) in zip(self._differentiable, self._formulas, strict=True)
        )

    def _promote(self, inputs: Sequence[Tensor]) -> dtype:
        if len(self._promoted) == 1:
            return inputs[self._promoted[0]]._dtype
        tiers: tuple[list[dtype], list[dtype], list[dtype]] = ([], [], [])
        for i in self._promoted:
            t = inputs[i]
            tier = 2 if t._wrapped_number else (1 if t._array.ndim == 0 else 0)
            tiers[tier].append(t._dtype)
        return _dtypes.result_type(*tiers)

    def record(
        self,
        inputs: Sequence[Tensor],
        attrs: dict[str, Any],
        saved_inputs: Sequence[Tensor] | None = None,
    ) -> OpNode:
        """Make this call's node, with edges to `inputs`, and save what its formulas read.

        Inputs are saved now, before the op runs, outputs by ``save_outputs`` after: an
        in-place op (``h.mul_(h)``) must see its inputs' versions from before it wrote.
        In-place ops also pass `saved_inputs`, holding a copy of the value they overwrite.
        """
        assert self._node_class is not None
        differentiable = [inputs[i] for i in self._differentiable]
        node = self._node_class(tuple(gradient_edge(t) for t in differentiable))
        node._op = self
        node._num_outputs = len(self.outputs)
        node._input_meta = tuple((t.shape, t._dtype) for t in differentiable)
        node._context = dict(attrs)
        node._saved = {}
        sources = inputs if saved_inputs is None else saved_inputs
        for param in self._saved_params(node):
            if param in self.inputs:
                node._saved[param] = SavedTensor(sources[self.inputs.index(param)])
            elif param in self.saved_attributes:
                node._saved[param] = SavedAttribute(node._context.pop(param))
            else:
                self._save_metadata(node, param, inputs)
        return node

    def save_outputs(self, node: OpNode, outputs: Sequence[Tensor]) -> None:
        for param in self._saved_params(node):
            if param in self.outputs:
                k = self.outputs.index(param)
                node._saved[param] = SavedTensor(outputs[k], output_of=(node, k))

    def _saved_params(self, node: OpNode) -> list[str]:
        """Parameters of the formulas that will run: those of inputs that need a gradient."""
        params: list[str] = []
        for (next_node, _), (_, formula_params) in zip(
            node.next_functions, self._formulas, strict=True
        ):
            if next_node is not None:
                params.extend(
                    p for p in formula_params if p not in params and p not in ("grad", "grads")
                )
        return params

    def _save_metadata(self, node: OpNode, param: str, inputs: Sequence[Tensor]) -> None:
        """``self_shape`` / ``self_dtype``: an input's metadata, kept even after backward."""
        name, _, what = param.rpartition("_")
        if name in self.inputs and what in ("shape", "dtype"):
            t = inputs[self.inputs.index(name)]
            node._context[param] = t.shape if what == "shape" else t._dtype


_NODE_CLASSES: dict[str, type[OpNode]] = {}


def _node_class(name: str) -> type[OpNode]:
    """One class per torch node name, so ``type(t.grad_fn).__name__`` is torch's name."""
    if name not in _NODE_CLASSES:
        _NODE_CLASSES[name] = type(name, (OpNode,), {"__slots__": ()})
    return _NODE_CLASSES[name]


# Bound late: the tensor module imports the op table, which imports this module.
from refgrad import _tensor  # noqa: E402
