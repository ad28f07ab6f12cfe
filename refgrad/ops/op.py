"""What an entry of the op table is, and how calling one records it for backward.

An ``Op`` bundles what PyTorch's derivatives.yaml says about an operation: its forward
(a NumPy function), one backward formula per differentiable input, and the name of its
grad_fn class. What a node saves is read off the formulas' parameter names, exactly as
torch's code generator does it:

    ``grad``            the gradient flowing in (``grads``: all of them, for several outputs)
    an input's name     that input, saved (``self``, ``other``, ...)
    ``result``          the op's output, saved (``result1`` ... for further outputs)
    ``<input>_shape``   an input's shape (metadata: never freed; also ``_dtype``, ``_strides``)
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
from refgrad.autograd.grad_array import GradArray, ZeroGradArray, meta_dtype, zero_tensor_rule
from refgrad.autograd.grad_mode import _GradState
from refgrad.autograd.graph import SECOND_BACKWARD_MESSAGE, Edge, Node, SavedTensor, gradient_edge

if TYPE_CHECKING:
    from refgrad._tensor import Tensor

Operand = Any  # a Tensor or a Python number

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


INFERENCE_SAVE_ERROR = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead "
    "of `torch.inference_mode()`."
)


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

    unpack_array = unpack


class OpNode(Node):
    """The grad_fn of one call of an op. One subclass per torch node name."""

    _op: Op
    _saved: dict[str, SavedTensor | SavedAttribute]
    _context: dict[str, Any]
    _plan: _SavePlan

    def apply(self, grads: list[Any]) -> list[Any]:
        return self._evaluate(grads, as_arrays=False)

    def apply_arrays(self, grads: list[Any]) -> list[Any]:
        return self._evaluate(grads, as_arrays=True)

    def _evaluate(self, grads: list[Any], as_arrays: bool) -> list[Any]:
        """Run the formula of each input that needs a gradient (on Tensors or GradArrays).

        Every saved value is unpacked first, needed or not, as torch's nodes do: a freed
        graph or a tensor modified in place is an error even if only another input needs it.
        """
        values = dict(self._context)
        for name, saved in self._saved.items():
            values[name] = saved.unpack_array() if as_arrays else saved.unpack()
        if grads[0] is None and all(g is None for g in grads):
            # No gradient came in (a formula above gave none: norm with p=0): torch's nodes
            # then give none either, after unpacking all the same.
            return [None] * len(self.next_functions)
        values["grad"] = grads[0]
        values["grads"] = grads
        results: list[Any] = []
        for (next_node, _), (formula, params) in zip(
            self.next_functions, self._op._formulas, strict=True
        ):
            if next_node is None:
                results.append(None)
            else:
                results.append(formula(**{param: values[param] for param in params}))
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
    # Ops torch gives a kernel for its efficient ZeroTensors (the gradient of sgn): "product",
    # "quotient" or "sum" (see grad_array.zero_tensor_outcome). Others read them as zeros.
    zero_tensors: str | None = None

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
        setter(self, "_save_plans", {})

    # Set in __post_init__ (derived from the fields above).
    _differentiable: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _formulas: tuple[tuple[Formula, tuple[str, ...]], ...] = field(
        init=False, repr=False, compare=False
    )
    _promoted: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _node_class: type[OpNode] | None = field(init=False, repr=False, compare=False)
    _save_plans: dict[tuple[bool, ...], _SavePlan] = field(init=False, repr=False, compare=False)

    @property
    def returns_tuple(self) -> bool:
        """Several named outputs (max(dim): values, indices; split: one per piece, maybe one)."""
        return self.outputs != ("result",)

    def __call__(self, *args: Any, **attrs: Any) -> Any:
        """Run the forward; record a node if grad mode is on and an input requires grad."""
        if type(args[0]) in _GRAD_ARRAYS:  # inside a formula of a plain backward
            return self._call_on_arrays(args, attrs)
        inputs = [a if type(a) in _DIRECT_OPERANDS else _tensor.as_operand(a) for a in args]
        raw_outputs, result_dtype = self.compute(inputs, attrs)
        outputs = []
        for k, out in enumerate(raw_outputs):
            if self.is_view:
                outputs.append(_tensor.make_view(inputs[0], out, self, attrs, k))
                continue
            if type(out) is not np.ndarray:
                out = np.asarray(out)  # NumPy returns scalars from full reductions
            # Only the first output follows the dtype rule; others (indices) keep NumPy's.
            if k == 0 and result_dtype is not None and out.dtype != result_dtype.numpy:
                out = out.astype(result_dtype.numpy)
            outputs.append(_tensor.Tensor._from_array(out))
        if self.zero_tensors is not None:
            self._apply_zero_tensor_rule(inputs, outputs[0])
        if _GradState.inference:  # nothing is recorded; the outputs are inference tensors
            for out in outputs:
                out._is_inference = True
            return tuple(outputs) if self.returns_tuple else outputs[0]
        if self.needs_grad(inputs):
            node = self.record(inputs, attrs)
            self.save_outputs(node, outputs)
            for k, out in enumerate(outputs):
                if out._dtype.is_floating_point:  # integer outputs (indices) have no history
                    out._grad_fn = node
                    out._output_nr = k
        return tuple(outputs) if self.returns_tuple else outputs[0]

    def _call_on_arrays(self, args: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
        arrays = [a.view(np.ndarray) if isinstance(a, np.ndarray) else a for a in args]
        raw = self.forward(*arrays, **attrs)  # the engine has silenced FP warnings
        if self.returns_tuple:
            return tuple(np.asarray(out).view(GradArray) for out in raw)
        if self.zero_tensors is not None:
            zeros = [type(a) is ZeroGradArray for a in args[:2]]
            return zero_tensor_rule(self.zero_tensors, zeros, np.asarray(raw),
                                    meta_dtype(args[:2]))
        return np.asarray(raw).view(GradArray)

    def _apply_zero_tensor_rule(self, inputs: Sequence[Operand], out: Tensor) -> None:
        assert self.zero_tensors is not None
        zeros = [type(a) is _tensor.Tensor and a._is_zero_tensor for a in inputs[:2]]
        if any(zeros):
            operands = [a._array if isinstance(a, _tensor.Tensor) else a for a in inputs[:2]]
            result = zero_tensor_rule(self.zero_tensors, zeros, out._array, meta_dtype(operands))
            out._array = result.view(np.ndarray)
            out._dtype = _dtypes.from_numpy_dtype(result.dtype)
            out._is_zero_tensor = type(result) is ZeroGradArray

    def compute(
        self, inputs: Sequence[Operand], attrs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dtype | None]:
        """The forward on arrays, after type promotion. Returns (raw outputs, result dtype).

        Python numbers are passed to NumPy as they are: NumPy, like torch, lets a Python
        number adopt the array's dtype within its kind (``float32 * 2.5`` stays float32).
        """
        compute_dtype, result_dtype = self.dtypes(self._promote(inputs))
        target = compute_dtype.numpy
        arrays = []
        for i, a in enumerate(inputs):
            if isinstance(a, _tensor.Tensor):
                array = a._array
                if array.dtype != target and i in self._promoted:
                    array = array.astype(target)
                arrays.append(array)
            else:
                arrays.append(a)
        # torch returns inf/nan silently where NumPy would warn (log(0), 0/0, inf * 0).
        with np.errstate(all="ignore"):
            raw = self.forward(*arrays, **attrs)
        return (raw if self.returns_tuple else (raw,)), result_dtype

    def needs_grad(self, inputs: Sequence[Operand]) -> bool:
        if not _GradState.enabled or self._node_class is None:
            return False
        for i in self._differentiable:
            t = inputs[i]
            if isinstance(t, _tensor.Tensor) and (
                t._requires_grad
                or t._grad_fn is not None
                or (t._base is not None and t.requires_grad)
            ):
                return True
        return False

    def uses_saved_input(self, name: str, inputs: Sequence[Operand]) -> bool:
        """Would recording this call save input `name`? (In-place ops must copy it first.)"""
        needed = tuple(_edge(inputs[i])[0] is not None for i in self._differentiable)
        return any(saved == name for saved, _ in self._plan(needed).inputs)

    def _promote(self, inputs: Sequence[Operand]) -> dtype:
        """torch's result type of the promoted inputs (Python numbers: the lowest tier)."""
        first = inputs[self._promoted[0]]
        if len(self._promoted) == 1 and isinstance(first, _tensor.Tensor):
            return first._dtype
        if len(self._promoted) == 2:  # the common binary case: one dtype, or a Python number
            second = inputs[self._promoted[1]]
            if type(second) is float and type(first) is _tensor.Tensor:
                if first._dtype.is_floating_point:
                    return first._dtype
            elif type(first) is type(second) is _tensor.Tensor and first._dtype is second._dtype:
                return first._dtype
        tiers: tuple[list[dtype], list[dtype], list[dtype]] = ([], [], [])
        for i in self._promoted:
            a = inputs[i]
            if isinstance(a, _tensor.Tensor):
                tiers[1 if a._array.ndim == 0 else 0].append(a._dtype)
            else:
                tiers[2].append(_dtypes.python_scalar_dtype(a))
        dims = tiers[0]
        if len(dims) == len(self._promoted) and all(d is dims[0] for d in dims):
            return dims[0]  # the common case: tensors of one dtype
        return _dtypes.result_type(*tiers)

    def record(
        self,
        inputs: Sequence[Operand],
        attrs: dict[str, Any],
        saved_inputs: Sequence[Operand] | None = None,
    ) -> OpNode:
        """Make this call's node, with edges to `inputs`, and save what its formulas read.

        Inputs are saved now, before the op runs, outputs by ``save_outputs`` after: an
        in-place op (``h.mul_(h)``) must see its inputs' versions from before it wrote.
        In-place ops also pass `saved_inputs`, holding a copy of the value they overwrite.
        """
        assert self._node_class is not None
        edges, meta, needed = [], [], []
        for i in self._differentiable:
            edge = _edge(inputs[i])
            edges.append(edge)
            meta.append(_meta(inputs[i]))
            needed.append(edge[0] is not None)
        node = self._node_class(tuple(edges))
        node._op = self
        node._num_outputs = len(self.outputs)
        node._input_meta = tuple(meta)
        node._context = attrs
        node._saved = {}
        node._plan = plan = self._plan(tuple(needed))
        sources = inputs if saved_inputs is None else saved_inputs
        for name, index in plan.inputs:
            value = sources[index]
            if not isinstance(value, _tensor.Tensor):
                node._saved[name] = SavedAttribute(value)
                continue
            if value._is_inference:
                raise RuntimeError(INFERENCE_SAVE_ERROR)
            node._saved[name] = SavedTensor(value)
        for name in plan.attributes:
            node._saved[name] = SavedAttribute(attrs[name])
        for name, index, what in plan.metadata:
            t = inputs[index]
            node._context = dict(attrs) if node._context is attrs else node._context
            node._context[name] = t.stride() if what == "strides" else _meta(t)[what == "dtype"]
        return node

    def save_outputs(
        self, node: OpNode, outputs: Sequence[Tensor], inplace_on_view: bool = False
    ) -> None:
        for name, k in node._plan.outputs:
            node._saved[name] = SavedTensor(outputs[k], (node, k), inplace_on_view)

    def _plan(self, needed: tuple[bool, ...]) -> _SavePlan:
        """What to save when the inputs marked in `needed` want gradients (cached).

        torch's code generator rule: outputs are always saved; an input is saved only when
        the one formula that reads it will run — if just one formula reads it and the op
        has several differentiable inputs — and always otherwise.
        """
        plan = self._save_plans.get(needed)
        if plan is None:
            params: list[str] = []
            for _, formula_params in self._formulas:
                for param in formula_params:
                    if param not in params and self._is_saved(param, needed):
                        params.append(param)
            plan = self._save_plans[needed] = _SavePlan.of(self, params)
        return plan

    def _is_saved(self, param: str, needed: tuple[bool, ...]) -> bool:
        if param not in self.inputs or len(self._formulas) <= 1:
            return True
        readers = [i for i, (_, params) in enumerate(self._formulas) if param in params]
        return len(readers) > 1 or needed[readers[0]]


@dataclass(frozen=True)
class _SavePlan:
    inputs: tuple[tuple[str, int], ...]
    outputs: tuple[tuple[str, int], ...]
    attributes: tuple[str, ...]  # attributes torch saves as tensors (freed by backward)
    metadata: tuple[tuple[str, int, str], ...]  # ("self_shape", 0, "shape"), ...

    @staticmethod
    def of(op: Op, params: list[str]) -> _SavePlan:
        inputs, outputs, attributes, metadata = [], [], [], []
        for param in params:
            name, _, what = param.rpartition("_")
            if param in op.inputs:
                inputs.append((param, op.inputs.index(param)))
            elif param in op.outputs:
                outputs.append((param, op.outputs.index(param)))
            elif param in op.saved_attributes:
                attributes.append(param)
            elif name in op.inputs and what in ("shape", "dtype", "strides"):
                metadata.append((param, op.inputs.index(name), what))
        # Sorted by name, as torch's generated nodes save and unpack them (inputs, then
        # outputs): which saved tensor a version error names depends on it.
        return _SavePlan(tuple(sorted(inputs)), tuple(sorted(outputs)), tuple(attributes),
                         tuple(metadata))


def _edge(value: Operand) -> Edge:
    if not isinstance(value, _tensor.Tensor):
        return (None, 0)
    if value._grad_fn is not None and value._base is None:
        return (value._grad_fn, value._output_nr)  # the common case, without the view checks
    return gradient_edge(value)


def _meta(value: Operand) -> tuple[tuple[int, ...], dtype]:
    if isinstance(value, _tensor.Tensor):
        return value._array.shape, value._dtype
    return (), _dtypes.python_scalar_dtype(value)


_NODE_CLASSES: dict[str, type[OpNode]] = {}
# Nodes torch writes by hand (not generated) report a qualified name().
_QUALIFIED_NAMES = {"CopyBackwards": "torch::autograd::CopyBackwards"}


def _node_class(name: str) -> type[OpNode]:
    """One class per torch node name, so ``type(t.grad_fn).__name__`` is torch's name."""
    if name not in _NODE_CLASSES:
        namespace: dict[str, Any] = {}
        if name in _QUALIFIED_NAMES:
            qualified = _QUALIFIED_NAMES[name]
            namespace["name"] = lambda self: qualified
        _NODE_CLASSES[name] = type(name, (OpNode,), namespace)
    return _NODE_CLASSES[name]


# Bound late: the tensor module imports the op table, which imports this module.
# Operands used as they are; anything else (NumPy arrays, ...) is made a Tensor first.
from refgrad import _tensor  # noqa: E402

_DIRECT_OPERANDS = frozenset({bool, int, float, _tensor.Tensor})
_GRAD_ARRAYS = frozenset({GradArray, ZeroGradArray})
