"""Properties an engine must have on its own, checked without an oracle.

They complement the differential checks: an engine and torch could share a mistake, and
these hold for any correct autograd. Each check runs programs on the engine and returns
"" when the property holds, else a description of the violation.

- finite differences: float64 gradients match central differences of the forward pass;
- linearity: backward is linear in the upstream gradient;
- additivity: two backward passes accumulate the sum of their gradients;
- no_grad: results of (non-view) ops in no_grad never require grad;
- detach: a detached tensor equals its source, and is a leaf without grad.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st

from conformance.catalogue import CATALOGUE
from conformance.engines import Engine
from conformance.engines.protocol import ASSIGN_GRAD
from conformance.program import (
    ApplyOp,
    AssignGrad,
    Backward,
    Detach,
    DType,
    EnterGradMode,
    MakeLeaf,
    Program,
    Step,
    Values,
)
from conformance.run import TensorState, Trace, run_program
from conformance.strategies import VIEW_OPS, BuildConfig, ProgramBuilder

SMOOTH_OPS = tuple(name for name, spec in CATALOGUE.items() if spec.smooth)


@dataclass(frozen=True)
class Function:
    """A program computing `root` from the leaves that require grad (smooth ops only)."""

    program: Program
    root: str
    root_shape: tuple[int, ...]
    leaves: tuple[str, ...]


def functions(*, scalar: bool = True, dtype: DType = "float64") -> st.SearchStrategy[Function]:
    """Programs of smooth ops on float64 leaves, ending in a (scalar) root."""

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Function:
        builder = ProgramBuilder(draw, BuildConfig(ops=SMOOTH_OPS, dtypes=(dtype,)))
        builder.leaf()
        for _ in range(builder.integer(1, 4)):
            builder.op()
        root = builder.tracked_result()
        if scalar:
            root = builder.scalar_root(root)
        leaves = tuple(name for name in sorted(root.depends_on, key=_index)
                       if name in builder.leaves)
        return Function(builder.program(), root.name, root.shape, leaves)

    return build()


def _index(name: str) -> int:
    return int(name[1:])


def _final(trace: Trace) -> tuple[dict[str, TensorState | None], dict[str, TensorState | None]]:
    """(tensors, grads) at the end of a run, by name."""
    if trace.not_applicable:
        raise NotApplicable(trace.not_applicable)
    if any(outcome.status == "raised" for outcome in trace.outcomes):
        # Not a function after all: generation does not track contiguity, and a view of
        # a transposed tensor raises (as in torch). The program is no example either way.
        reject()
    return dict(trace.final.tensors), dict(trace.final.grads)


class NotApplicable(Exception):
    """The engine lacks what the property needs."""


def _grads(function: Function, engine: Engine, gradient: Values | None = None,
           backward_calls: int = 1, between: tuple[Step, ...] = ()) -> dict[str, np.ndarray]:
    """The leaves' .grad after `backward_calls` passes, with `between` before each later one."""
    backward = Backward(function.root, gradient, retain_graph=True)
    steps = (*function.program.steps, backward, *((*between, backward) * (backward_calls - 1)))
    _, grads = _final(run_program(Program(steps), engine))
    return {leaf: _values(grads.get(leaf), f"{leaf}.grad") for leaf in function.leaves}


def _values(state: TensorState | None, what: str) -> np.ndarray:
    if state is None:
        raise AssertionError(f"{what} is None")
    return state.values.astype(np.float64)


def _mismatch(what: str, actual: np.ndarray, expected: np.ndarray, rtol: float,
              atol: float) -> str:
    if actual.shape == expected.shape and np.allclose(actual, expected, rtol=rtol, atol=atol):
        return ""
    return f"{what}: {actual.tolist()} but expected {expected.tolist()}"


def finite_difference_mismatch(function: Function, engine: Engine, *, step: float = 1e-6,
                               rtol: float = 1e-4, atol: float = 1e-6) -> str:
    """Engine gradients against central differences of the engine's own forward pass.

    Why these numbers (float64): the central difference errs by O(step**2 * f''') from
    truncation and O(eps * |f| / step) from rounding, both far below atol for the
    moderate, smooth functions generated here.
    """
    grads = _grads(function, engine)
    for leaf in function.leaves:
        index = next(i for i, s in enumerate(function.program.steps)
                     if isinstance(s, MakeLeaf) and s.name == leaf)
        numeric = np.zeros_like(grads[leaf])
        for position in range(numeric.size):
            sides = [_root_value(_perturbed(function, index, position, delta), engine)
                     for delta in (step, -step)]
            numeric.flat[position] = (sides[0] - sides[1]) / (2 * step)
        problem = _mismatch(f"d{function.root}/d{leaf}", grads[leaf], numeric, rtol, atol)
        if problem:
            return problem + " (central differences)"
    return ""


def _perturbed(function: Function, index: int, position: int, delta: float) -> Function:
    leaf = function.program.steps[index]
    assert isinstance(leaf, MakeLeaf)
    data = list(leaf.values.data)
    data[position] += delta
    changed = replace(leaf, values=replace(leaf.values, data=tuple(data)))
    steps = list(function.program.steps)
    steps[index] = changed
    return replace(function, program=Program(tuple(steps)))


def _root_value(function: Function, engine: Engine) -> float:
    tensors, _ = _final(run_program(function.program, engine))
    return float(_values(tensors.get(function.root), function.root).sum())


def linearity_mismatch(function: Function, engine: Engine, first: Values, second: Values,
                       a: float, b: float) -> str:
    """backward(a*g1 + b*g2) must equal a*backward(g1) + b*backward(g2)."""
    combined = Values(first.shape, tuple(a * x + b * y for x, y in zip(first.data, second.data,
                                                                        strict=True)),
                      first.dtype)
    g1, g2 = _grads(function, engine, first), _grads(function, engine, second)
    g3 = _grads(function, engine, combined)
    for leaf in function.leaves:
        problem = _mismatch(f"{leaf}.grad for a*g1 + b*g2", g3[leaf],
                            a * g1[leaf] + b * g2[leaf], 1e-9, 1e-9)
        if problem:
            return problem
    return ""


def additivity_mismatch(function: Function, engine: Engine, calls: int = 2) -> str:
    """`calls` backward passes (retaining the graph) accumulate `calls` times one pass.

    Between passes each leaf's .grad is assigned a fresh tensor of its value, where the
    engine can: torch keeps a gradient nothing else refers to as .grad without a copy, so
    0-dim leaves stacked and summed get one shared element as their grads, and a second
    pass adds into it twice (3, not 2). That is memory sharing, not accumulation: torch
    obeys this law once the grads are separate tensors.
    """
    once = _grads(function, engine)
    separate: tuple[Step, ...] = ()
    if ASSIGN_GRAD in engine.capabilities:
        dtypes = {s.name: s.values.dtype for s in function.program.steps
                  if isinstance(s, MakeLeaf)}
        separate = tuple(
            AssignGrad(leaf, Values(once[leaf].shape, tuple(once[leaf].ravel().tolist()),
                                    dtypes[leaf]))
            for leaf in function.leaves)
    repeated = _grads(function, engine, backward_calls=calls, between=separate)
    for leaf in function.leaves:
        problem = _mismatch(f"{leaf}.grad after {calls} backward calls", repeated[leaf],
                            calls * once[leaf], 1e-12, 1e-12)
        if problem:
            return problem
    return ""


def no_grad_mismatch(function: Function, engine: Engine) -> str:
    """Inside no_grad, results of non-view ops do not require grad.

    (Views of a tensor requiring grad do require grad in torch, even in no_grad.)
    """
    steps = function.program.steps
    first_op = next(i for i, s in enumerate(steps) if isinstance(s, ApplyOp))
    program = Program((*steps[:first_op], EnterGradMode("no_grad"), *steps[first_op:]))
    trace = run_program(program, engine)
    if trace.not_applicable:
        raise NotApplicable(trace.not_applicable)
    for step, outcome in zip(program.steps, trace.outcomes, strict=False):
        if not isinstance(step, ApplyOp) or step.op in VIEW_OPS:
            continue
        for name, state in outcome.tensors:
            if state is not None and state.requires_grad is None:
                raise NotApplicable("the engine does not report requires_grad")
            if state is not None and state.requires_grad:
                return f"{name} = {step} requires grad inside no_grad"
    return ""


def detach_mismatch(function: Function, engine: Engine) -> str:
    """`x.detach()` equals x, does not require grad, and is a leaf."""
    names = [name for step in function.program.steps for name in step.binds()]
    detaches = tuple(Detach(f"d{name}", name) for name in names)
    tensors, _ = _final(run_program(Program(function.program.steps + detaches), engine))
    for step in detaches:
        source, detached = tensors.get(step.source), tensors.get(step.out)
        if source is None or detached is None:
            return f"{step} did not produce a tensor"
        if not np.array_equal(source.values, detached.values, equal_nan=True):
            return f"{step}: values {detached.values.tolist()} != {source.values.tolist()}"
        if detached.requires_grad or detached.is_leaf is False:
            return f"{step}: requires_grad={detached.requires_grad}, is_leaf={detached.is_leaf}"
    return ""


def upstream_gradients(shape: tuple[int, ...],
                       dtype: DType = "float64") -> st.SearchStrategy[Values]:
    """Gradients to pass to backward for a root of this shape."""
    size = math.prod(shape)
    return st.lists(st.sampled_from((1.0, -1.0, 2.0, 0.5, -3.0)), min_size=size,
                    max_size=size).map(lambda data: Values(shape, tuple(data), dtype))
