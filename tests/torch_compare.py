"""Op cases: one expression, run under torch and under refgrad, stage by stage.

A ``Case`` is an expression of a module (``torch`` or ``refgrad``) and some inputs, plus
how to make those inputs. Each stage below runs it the way a user would, and returns an
observation (see ``tests/differential.py``) that must be the same under both modules:

    forward        the outputs: values, shape, dtype, requires_grad, grad_fn name
    backward       every input's .grad after ``backward`` with seeded grad_outputs, then
                   what a second ``backward`` without retain_graph does (error or grads)
    second_order   d/d(inputs) of <first gradients, seeded weights>, with create_graph

Inputs are drawn from a generator seeded by the case id, so both modules get the same
numbers, run after run. A case also names the op-table entries it is there to test; the
suite checks every entry is named by some case, and that the case really reaches it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np

from refgrad.ops.op import Op


@dataclass(frozen=True)
class Arg:
    """How to make one input of a case."""

    shape: tuple[int, ...] = ()
    kind: str = "float"  # "float" (in the case's dtype), "int" (int64) or "bool"
    requires_grad: bool = True
    low: float = -2.0
    high: float = 2.0
    values: Any = None  # explicit values (nested lists) instead of random ones
    dtype: str | None = None  # a fixed dtype, overriding the case's

    def array(self, rng: np.random.Generator, float_dtype: str) -> np.ndarray:
        if self.kind == "bool":
            array = np.asarray(
                self.values if self.values is not None else rng.random(self.shape) < 0.5
            )
            return array.astype(np.bool_)
        if self.kind == "int":
            if self.values is not None:
                return np.asarray(self.values, dtype=self.dtype or "int64")
            return rng.integers(int(self.low), int(self.high), self.shape).astype(
                self.dtype or "int64"
            )
        if self.values is not None:
            return np.asarray(self.values, dtype=self.dtype or float_dtype)
        return rng.uniform(self.low, self.high, self.shape).astype(self.dtype or float_dtype)


def F(*shape: int, low: float = -2.0, high: float = 2.0, dtype: str | None = None) -> Arg:
    """A float leaf that requires grad, uniform in [low, high)."""
    return Arg(shape, "float", True, low, high, dtype=dtype)


def C(*shape: int, low: float = -2.0, high: float = 2.0, dtype: str | None = None) -> Arg:
    """A float constant: does not require grad."""
    return Arg(shape, "float", False, low, high, dtype=dtype)


def V(values: Any, requires_grad: bool = True, dtype: str | None = None) -> Arg:
    """A float leaf with exactly these values (edge points: 0, ties, bounds, inf, nan)."""
    return Arg(np.shape(values), "float", requires_grad, values=values, dtype=dtype)


def Int(
    *shape: int, high: int = 0, low: int = 0, values: Any = None, dtype: str | None = None
) -> Arg:
    """An integer tensor (indices), uniform in [low, high) unless values are given."""
    return Arg(shape, "int", False, low, high, values=values, dtype=dtype)


def Bool(*shape: int, values: Any = None) -> Arg:
    """A bool tensor (masks, conditions)."""
    return Arg(shape if values is None else np.shape(values), "bool", False, values=values)


@dataclass(frozen=True)
class Case:
    """One expression to compare, and which op-table entries it is there to test."""

    id: str
    fn: Callable[..., Any]  # fn(module, *inputs) -> a tensor or a sequence of tensors
    args: tuple[Arg, ...]
    ops: tuple[Op, ...]
    dtypes: tuple[str, ...] = ("float32", "float64")
    # False where the inputs sit on a kink or a tie: finite differences are meaningless.
    smooth: bool = True
    # A known bug of the autograd core (not of the op table) that breaks backward here.
    core_bug: str | None = None

    def __repr__(self) -> str:
        return f"Case({self.id!r})"


def case(
    id: str,
    fn: Callable[..., Any],
    *args: Arg,
    ops: Sequence[Op],
    dtypes: Sequence[str] = ("float32", "float64"),
    smooth: bool = True,
    core_bug: str | None = None,
) -> Case:
    return Case(id, fn, tuple(args), tuple(ops), tuple(dtypes), smooth, core_bug)


# -- running a case ------------------------------------------------------------------------


def _rng(case_id: str, salt: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{case_id}/{salt}".encode()))


def make_inputs(c: Case, module: ModuleType, dtype: str) -> list[Any]:
    rng = _rng(c.id, "inputs")
    inputs = []
    for arg in c.args:
        t = module.from_numpy(arg.array(rng, dtype))
        inputs.append(t.requires_grad_() if arg.requires_grad else t)
    return inputs


def as_outputs(result: Any) -> list[Any]:
    """The tensors a case returned, flattened (max(dim) pairs, split tuples, lists of them)."""
    if isinstance(result, tuple | list):
        return [t for item in result for t in as_outputs(item)]
    return [result]


def differentiable(outputs: list[Any]) -> list[Any]:
    return [o for o in outputs if o.requires_grad]


def seeded_like(c: Case, module: ModuleType, tensors: list[Any], salt: str) -> list[Any]:
    """Weights in [-1, 1) shaped like `tensors`: not all ones, so transposed rules show."""
    rng = _rng(c.id, salt)
    weights = []
    for t in tensors:
        array = rng.uniform(-1.0, 1.0, tuple(t.shape)).astype(str(t.dtype).removeprefix("torch."))
        weights.append(module.from_numpy(array))
    return weights


def forward(c: Case, module: ModuleType, dtype: str) -> list[Any]:
    return as_outputs(c.fn(module, *make_inputs(c, module, dtype)))


def backward(c: Case, module: ModuleType, dtype: str) -> dict[str, Any]:
    """Gradients of every input, then what a second backward without retain_graph does."""
    inputs = make_inputs(c, module, dtype)
    outputs = differentiable(as_outputs(c.fn(module, *inputs)))
    if not outputs:
        return {"grads": [None] * len(inputs)}
    grad_outputs = seeded_like(c, module, outputs, "grad_outputs")
    module.autograd.backward(outputs, grad_outputs)
    first = [t.grad for t in inputs]
    first = [None if g is None else g.clone() for g in first]
    try:
        module.autograd.backward(outputs, grad_outputs)
        second: Any = [t.grad for t in inputs]
    except RuntimeError as error:
        second = ("raises", type(error).__name__, str(error))
    return {"grads": first, "second backward": second}


def second_order(c: Case, module: ModuleType, dtype: str) -> list[Any]:
    """d/d(inputs) of sum(first_grad * w): compared by value, not by how it is recorded.

    Which first gradients require grad is an implementation detail (torch: "x / 2" gives a
    constant gradient, so a second grad call raises); a gradient that does not require
    grad, or an unused input, counts as zero.
    """
    inputs = make_inputs(c, module, dtype)
    wrt = [t for t in inputs if t.requires_grad]
    outputs = differentiable(as_outputs(c.fn(module, *inputs)))
    if not outputs:
        return []
    grad_outputs = seeded_like(c, module, outputs, "grad_outputs")
    firsts = module.autograd.grad(
        outputs, wrt, grad_outputs, create_graph=True, allow_unused=True, materialize_grads=True
    )
    weights = seeded_like(c, module, list(firsts), "second_order")
    terms = [(g * w).sum() for g, w in zip(firsts, weights, strict=True) if g.requires_grad]
    if not terms:
        return [module.zeros_like(t) for t in wrt]
    total = module.stack(terms).sum()
    seconds = module.autograd.grad(total, wrt, allow_unused=True, materialize_grads=True)
    return [g.detach() + 0 for g in seconds]  # + 0: torch may answer a ZeroTensor, not numpy-able


# -- which table entries a piece of code reaches -------------------------------------------


@dataclass
class OpRecorder:
    reached: set[tuple[str, str | None]] = field(default_factory=set)  # op_key of each


@contextlib.contextmanager
def recording_ops() -> Iterator[OpRecorder]:
    """Note every op-table entry whose forward runs (including inside backward formulas)."""
    recorder = OpRecorder()
    original = Op.compute

    def compute(self: Op, *args: Any, **kwargs: Any) -> Any:
        recorder.reached.add(op_key(self))
        return original(self, *args, **kwargs)

    with mock.patch.object(Op, "compute", compute):
        yield recorder


def op_key(op: Op) -> tuple[str, str | None]:
    """An entry's identity: the families made per list length (cat of 2, of 3) share one."""
    return (op.name, op.node)


@contextlib.contextmanager
def recording_calls(
    targets: Sequence[tuple[Any, str, str]], caller_file: str
) -> Iterator[set[str]]:
    """Note which of `targets` ((owner, attribute, label)) code in `caller_file` calls.

    Only direct calls count: refgrad calling its own methods internally does not, so a
    method is "exercised" only where a case spells it out.
    """
    called: set[str] = set()

    def watched(function: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            if sys._getframe(1).f_code.co_filename == caller_file:
                called.add(label)
            return function(*args, **kwargs)

        return call

    with contextlib.ExitStack() as stack:
        for owner, attribute, label in targets:
            original = inspect.getattr_static(owner, attribute)
            if isinstance(original, property):
                assert original.fget is not None
                replacement: Any = property(watched(original.fget, label), original.fset)
            else:
                replacement = watched(getattr(owner, attribute), label)
            stack.enter_context(mock.patch.object(owner, attribute, replacement))
        yield called
