"""`FunctionalEngine`: the adapter base for functional autograd engines (jax, HIPS autograd).

A functional engine has no tensor that remembers how it was made: it takes a function
and returns its vector-Jacobian product (`jax.vjp`, `autograd.make_vjp`). The kit's
programs are imperative (`y = x.exp(); y.sum().backward(); x.grad`), so the adapter
records the program lazily: each op's value is computed at once (values are compared
step by step), together with how to recompute it from its inputs. At a backward step the
adapter builds, from that record, the function from the differentiated tensors to the
roots, and asks the engine for its VJP. A gradient taken with `create_graph=True` is
itself recorded as such a recomputable value, so differentiating it again nests one VJP
inside another, as a user of the engine would write it.

What a functional engine answers: values, and gradients of one backward or
`autograd.grad` call (grad_outputs, `inputs=`, intermediate inputs, higher order). What
it has no counterpart for is not applicable, said either by capabilities it does not
declare (grad modes, `.data`, detach, in-place, hooks, `requires_grad_`, `retain_grad`,
resetting `.grad`, flags) or, where only the call tells, by `NotApplicable`:
- a second backward into a `.grad` that already holds one (accumulation is state);
- a backward through a graph an earlier backward freed (there is no graph to free);
- torch's errors about `requires_grad` and unused inputs (a functional engine
  differentiates whatever it is handed, returning zeros where torch raises).

Which tensors "require grad" still follows the program: the leaves it makes with
`requires_grad=True` are the ones differentiated, and an op's float result depends on
them if one of its inputs does, as in torch. For a gradient computed with
`create_graph=True`, dependence is asked of the engine itself: the gradient is
re-evaluated with a tensor as a traced input, and depends on it if the engine's tracer
reaches the result.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.engines import protocol as caps
from conformance.engines.numpy_style import RETURNS_INPUT, SHAPE_ONLY_ARGUMENTS, NumpyStyleOps
from conformance.engines.protocol import EngineBase, NotApplicable

NO_REQUIRES_GRAD = ("torch's error for differentiating a tensor that does not require grad "
                    "(a functional engine has no requires_grad)")
UNUSED_INPUT = ("torch's error for an input the outputs do not use "
                "(a functional engine returns zeros)")
ACCUMULATION = (".grad accumulating over several backward calls "
                "(a functional engine keeps no .grad between calls)")
FREED_GRAPH = ("backward through a graph an earlier backward freed "
               "(a functional engine keeps no graph to free)")

# A function of the differentiated values returning the roots' values.
Function = Callable[..., list[Any]]

_KEYS = itertools.count()


class Lazy:
    """A tensor of a program run on a functional engine: its value, and its recipe.

    `lineage` holds the tensors requiring grad this one depends on through ops (itself
    included if it requires grad); a gradient made with create_graph=True stands for
    what it depends on, which is asked of the engine when needed (`_reaches`).
    """

    __slots__ = ("dependence", "freed", "grad", "key", "lineage", "recipe", "requires_grad",
                 "value")

    def __init__(self, value: Any, recipe: tuple[_Call, int | None] | None = None, *,
                 requires_grad: bool = False, lineage: frozenset[Lazy] = frozenset()) -> None:
        self.key = next(_KEYS)
        self.value = value
        self.recipe = recipe  # None for leaves and constants
        self.requires_grad = requires_grad
        self.lineage = lineage | {self} if requires_grad else frozenset()
        self.grad: Lazy | None = None
        self.freed = False  # a backward that did not retain the graph went through it
        self.dependence: dict[Lazy, bool] = {}  # for a gradient: which tensors it depends on

    def __repr__(self) -> str:
        shape = getattr(self.value, "shape", ())
        dtype = getattr(self.value, "dtype", type(self.value).__name__)
        return f"Lazy#{self.key}({tuple(shape)}, {dtype})"


class _Call:
    """What produced one or more `Lazy` values (an op, or a gradient computation)."""

    def compute(self, evaluation: _Evaluation) -> Any:
        raise NotImplementedError

    def inputs(self) -> Iterator[Lazy]:
        raise NotImplementedError


@dataclass(eq=False)
class _OpCall(_Call):
    op: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]

    def compute(self, evaluation: _Evaluation) -> Any:
        value = evaluation.value
        return evaluation.engine.ops(self.op, _map_lazy(value, self.args),
                                     {k: _map_lazy(value, v) for k, v in self.kwargs.items()})

    def inputs(self) -> Iterator[Lazy]:
        yield from _lazies((self.args, tuple(self.kwargs.values())))


@dataclass(eq=False)
class _GradCall(_Call):
    """Gradients of `outputs` with respect to `targets`, weighted by `cotangents` (None:
    the gradient of the sum of scalar outputs, as `backward()` with no argument)."""

    outputs: tuple[Lazy, ...]
    targets: tuple[Lazy, ...]
    cotangents: tuple[Lazy, ...] | None

    def compute(self, evaluation: _Evaluation) -> Any:
        engine = evaluation.engine

        def function(*values: Any) -> list[Any]:
            inner = evaluation.overriding(dict(zip(self.targets, values, strict=True)))
            return [inner.value(output) for output in self.outputs]

        primals = [evaluation.value(target) for target in self.targets]
        if self.cotangents is None:
            return tuple(engine.grad_of_sum(function, primals))
        return tuple(engine.vjp(function, primals,
                                [evaluation.value(c) for c in self.cotangents]))

    def inputs(self) -> Iterator[Lazy]:
        yield from self.outputs
        yield from self.targets
        yield from self.cotangents or ()


class _Evaluation:
    """One evaluation of recorded tensors, with some of them replaced (by traced values)."""

    def __init__(self, engine: FunctionalEngine, overrides: Mapping[Lazy, Any]) -> None:
        self.engine, self.overrides = engine, overrides
        self._results: dict[_Call, Any] = {}

    def overriding(self, more: Mapping[Lazy, Any]) -> _Evaluation:
        return _Evaluation(self.engine, {**self.overrides, **more})

    def value(self, node: Lazy) -> Any:
        if node in self.overrides:
            return self.overrides[node]
        if node.recipe is None or not self.overrides:
            return node.value  # nothing replaced: the value recorded when it was made
        call, index = node.recipe
        if call not in self._results:
            self._results[call] = call.compute(self)
        result = self._results[call]
        return result if index is None else result[index]


def _lazies(arg: Any) -> Iterator[Lazy]:
    if isinstance(arg, Lazy):
        yield arg
    elif isinstance(arg, tuple | list):
        for item in arg:
            yield from _lazies(item)


def _map_lazy(function: Callable[[Lazy], Any], arg: Any) -> Any:
    """`arg` with each `Lazy` inside (tuples and lists too) replaced by `function(it)`."""
    if isinstance(arg, Lazy):
        return function(arg)
    if isinstance(arg, tuple | list):
        return type(arg)(_map_lazy(function, item) for item in arg)
    return arg


def total(values: Sequence[Any]) -> Any:
    """The sum of several roots' values (what `backward()` without a gradient differentiates)."""
    return functools.reduce(operator.add, values)


class FunctionalEngine(EngineBase):
    """Adapter base for a functional engine (see the module docstring).

    A subclass sets `name`, `version`, `ops` and `float64`, and implements the five
    engine calls below: `asarray`, `as_numpy`, `vjp`, `grad_of_sum`, `depends`.
    """

    float64: bool = True
    ops: NumpyStyleOps

    def __init__(self) -> None:
        self.capabilities = frozenset({
            caps.RETAIN_GRAPH, caps.CREATE_GRAPH, caps.BACKWARD_INPUTS, caps.AUTOGRAD_GRAD,
            *([caps.FLOAT64] if self.float64 else []),
        })

    # ----------------------------------------------------------------- the engine's calls

    def asarray(self, values: np.ndarray) -> Any:
        """The engine's array holding `values` (a copy)."""
        raise NotImplementedError

    def as_numpy(self, value: Any) -> np.ndarray:
        """An engine value as a NumPy array."""
        raise NotImplementedError

    def vjp(self, function: Function, primals: Sequence[Any],
            cotangents: Sequence[Any]) -> Sequence[Any]:
        """The engine's VJP of `function` at `primals`, one gradient per primal."""
        raise NotImplementedError

    def grad_of_sum(self, function: Function, primals: Sequence[Any]) -> Sequence[Any]:
        """The engine's `grad` of the sum of `function`'s outputs (it rejects non-scalar
        outputs as the engine does)."""
        raise NotImplementedError

    def depends(self, function: Callable[..., Any], primals: Sequence[Any]) -> bool:
        """Whether `function(*primals)`'s result is traced when the primals are."""
        raise NotImplementedError

    def scope(self) -> AbstractContextManager[Any]:
        """A context every call into the engine runs in (jax's x64 switch)."""
        return contextlib.nullcontext()

    # ----------------------------------------------------------------- required core

    def supports(self, op: str) -> bool:
        return self.ops.supports(op)

    def tensor(self, values: np.ndarray, requires_grad: bool) -> Lazy:
        with self.scope():
            return Lazy(self.asarray(values), requires_grad=requires_grad)

    def to_numpy(self, tensor: Lazy) -> np.ndarray:
        return np.array(self.as_numpy(tensor.value), copy=True)

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        with self.scope():
            value = self.ops(op, _map_lazy(_value_of, tuple(args)),
                             {k: _map_lazy(_value_of, v) for k, v in kwargs.items()})
        if op in RETURNS_INPUT and isinstance(args[0], Lazy) and args[0].value is value:
            return args[0]  # torch's `x.float()` of a float32 x is x
        call = _OpCall(op, tuple(args), dict(kwargs))
        shape_only = SHAPE_ONLY_ARGUMENTS.get(op, frozenset())
        tracked = [t for i, arg in enumerate(args) if i not in shape_only
                   for t in _lazies(arg) if t.requires_grad]
        tracked += [t for t in _lazies(tuple(kwargs.values())) if t.requires_grad]
        lineage = frozenset().union(*(t.lineage for t in tracked))
        if isinstance(value, tuple):
            return tuple(self._result(v, call, i, tracked, lineage) for i, v in enumerate(value))
        return self._result(value, call, None, tracked, lineage)

    def _result(self, value: Any, call: _Call, index: int | None, tracked: list[Lazy],
                lineage: frozenset[Lazy]) -> Lazy:
        floating = np.issubdtype(np.dtype(getattr(value, "dtype", np.float64)), np.floating)
        return Lazy(value, (call, index), requires_grad=bool(tracked) and floating,
                    lineage=lineage)

    def backward(self, root: Lazy, gradient: Lazy | None, *, retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Lazy] | None) -> None:
        if not root.requires_grad or (inputs and not all(t.requires_grad for t in inputs)):
            raise NotApplicable(NO_REQUIRES_GRAD)
        # Inputs the root does not reach keep their .grad, as in torch.
        targets = self._leaves_reached(root) if inputs is None else [
            t for t in inputs if self._reaches(root, t)]
        # Leaves, and non-leaves an earlier `inputs=` gave a .grad, would accumulate.
        if any(node.grad is not None for node in self._graph([root])):
            raise NotApplicable(ACCUMULATION)
        grads = self._gradients([root], targets, None if gradient is None else [gradient],
                                retain_graph, create_graph)
        for target, grad in zip(targets, grads, strict=True):
            target.grad = grad

    def grad(self, tensor: Lazy) -> Lazy | None:
        return tensor.grad

    # ----------------------------------------------------------------- capabilities

    def autograd_grad(self, outputs: Sequence[Lazy], inputs: Sequence[Lazy],
                      grad_outputs: Sequence[Lazy] | None, *, retain_graph: bool | None,
                      create_graph: bool, allow_unused: bool) -> Sequence[Lazy | None]:
        if not all(t.requires_grad for t in (*outputs, *inputs)):
            raise NotApplicable(NO_REQUIRES_GRAD)
        used = [any(self._reaches(output, t) for output in outputs) for t in inputs]
        if not all(used) and not allow_unused:
            raise NotApplicable(UNUSED_INPUT)
        targets = [t for t, is_used in zip(inputs, used, strict=True) if is_used]
        grads = iter(self._gradients(outputs, targets, grad_outputs, retain_graph,
                                     create_graph) if targets else ())
        return tuple(next(grads) if is_used else None for is_used in used)

    # ----------------------------------------------------------------- gradients

    def _gradients(self, outputs: Sequence[Lazy], targets: Sequence[Lazy],
                   cotangents: Sequence[Lazy] | None, retain_graph: bool | None,
                   create_graph: bool) -> list[Lazy]:
        graph = self._graph(outputs)
        if any(node.freed for node in graph):
            raise NotApplicable(FREED_GRAPH)
        leaves = [n for n in graph if n.recipe is None and n.requires_grad]
        grads = []
        with self.scope():
            # One VJP per target: a target computed from another must not cut the other's
            # paths through it (torch's gradient for each input is the total derivative).
            for target in targets:
                call = _GradCall(tuple(outputs), (target,),
                                 None if cotangents is None else tuple(cotangents))
                (value,) = call.compute(_Evaluation(self, {}))
                grads.append(Lazy(value) if not create_graph else  # else: differentiable
                             Lazy(value, (call, 0), requires_grad=self._depends_on(call, leaves)))
        if not (retain_graph if retain_graph is not None else create_graph):
            for node in graph:
                node.freed = node.recipe is not None
        return grads

    def _depends_on(self, call: _GradCall, tensors: Sequence[Lazy]) -> bool:
        """Whether the gradient `call` computes depends on any of `tensors` (asked of the
        engine)."""
        if not tensors:
            return False

        def evaluate(*values: Any) -> Any:
            return call.compute(_Evaluation(self, dict(zip(tensors, values, strict=True))))[0]

        with self.scope():
            return self.depends(evaluate, [t.value for t in tensors])

    def _reaches(self, node: Lazy, target: Lazy) -> bool:
        """Whether a backward from `node` reaches `target` (torch gives it a gradient)."""
        if target in node.lineage:
            return True
        for grad in node.lineage:
            call = None if grad.recipe is None else grad.recipe[0]
            if not isinstance(call, _GradCall):
                continue
            if target not in grad.dependence:
                grad.dependence[target] = self._depends_on(call, [target])
            if grad.dependence[target]:
                return True
        return False

    def _leaves_reached(self, root: Lazy) -> list[Lazy]:
        leaves = [n for n in self._graph([root]) if n.recipe is None and n.requires_grad]
        return [leaf for leaf in sorted(leaves, key=lambda n: n.key) if self._reaches(root, leaf)]

    @staticmethod
    def _graph(roots: Sequence[Lazy]) -> list[Lazy]:
        """The roots and every tensor they were computed from."""
        seen: dict[Lazy, None] = {}
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen[node] = None
            if node.recipe is not None:
                stack.extend(node.recipe[0].inputs())
        return list(seen)


def _value_of(node: Lazy) -> Any:
    return node.value
