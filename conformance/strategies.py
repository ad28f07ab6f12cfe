"""Hypothesis strategies that generate valid autograd programs, one per behaviour.

A `ProgramBuilder` grows a program step by step and keeps what generation needs to
know of each tensor (`Operand`: shape, dtype, a value range, whether it should require
grad). Ops are drawn from the catalogue, whose signatures ask the builder for operands.
Each behaviour (behaviours.py) has a recipe: a few leaves, a body of actions drawn from a menu that
emphasises the behaviour's feature, and maybe a finale (a backward).

Shrinking: every choice is drawn so that hypothesis's simplest value is the simplest
program: step counts have small minimums, menus list the plain op action first,
operands prefer the earliest tensor, shapes shrink to scalars, values to 1.0.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
from hypothesis import strategies as st

from conformance.catalogue import (
    ANYWHERE,
    CATALOGUE,
    MAX_MAGNITUDE,
    NONZERO,
    SCALARS,
    Domain,
    Interval,
    Operand,
    OpSpec,
)
from conformance.program import (
    ApplyOp,
    AutogradGrad,
    Backward,
    Detach,
    DType,
    EnterGradMode,
    ExitGradMode,
    GradModeKind,
    InplaceOp,
    MakeLeaf,
    MutateData,
    Program,
    Ref,
    RegisterHook,
    RequiresGrad,
    ResetGrad,
    ResetHow,
    RetainGrad,
    Step,
    Values,
)

# Leaf values: exactly representable, moderate, simplest first. Sums and products of a
# few of them are exact in float32, so ties and zeros they produce are exact in every
# engine (and compared exactly, see compare.py).
GRID: tuple[float, ...] = (1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 1.5, -1.5, 0.0,
                           0.25, -0.25, 2.5, -2.5, 0.75, -0.75, 1.25, -1.25)

# Views a no_grad block makes of a grad-requiring tensor still require grad (torch quirk).
VIEW_OPS = frozenset({"view", "reshape", "transpose", "getitem"})
# A guess for values generation cannot follow (gradients from autograd.grad).
_UNKNOWN = Interval(-100.0, 100.0)
_INPLACE_METHODS = ("add_", "mul_", "sub_", "div_", "zero_", "neg_", "relu_")

SHAPES = st.lists(st.integers(1, 3), max_size=3).map(tuple)
_BOOLEANS = st.booleans()
T = TypeVar("T")


@functools.cache
def _sampled_from(options: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(options)


@functools.cache
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


@functools.cache
def _fixed_lists(options: tuple[float, ...], size: int) -> st.SearchStrategy[tuple[float, ...]]:
    """`size` values from `options`, packed into one integer draw (one draw per element
    made generation several times slower). It shrinks towards 0: every value options[0]."""
    base = len(options)

    def unpack(packed: int) -> tuple[float, ...]:
        values = []
        for _ in range(size):
            packed, digit = divmod(packed, base)
            values.append(options[digit])
        return tuple(values)

    return st.integers(0, base**size - 1).map(unpack)


@functools.cache
def grid(domain: Domain) -> tuple[float, ...]:
    return tuple(v for v in GRID if domain.admits_value(v))


@dataclass(frozen=True)
class BuildConfig:
    """What a behaviour's builder may use."""

    ops: tuple[str, ...] = tuple(CATALOGUE)
    dtypes: tuple[DType, ...] = ("float32", "float64")
    leaves_require_grad: bool | None = True  # None: drawn per leaf


class ProgramBuilder:
    """Grows one program; implements the catalogue's `OperandSource`."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any],
                 config: BuildConfig = BuildConfig()) -> None:
        self._draw = draw
        self.config = config
        self.steps: list[Step] = []
        self.operands: dict[str, Operand] = {}
        self.leaves: set[str] = set()
        self.grad_modes: list[bool] = []  # grad enabled inside each open block
        self.with_grad: set[str] = set()  # leaves that may have a .grad by now
        self.gradient_of: dict[str, str] = {}  # autograd.grad result -> its input
        self._count = 0

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self._draw(strategy)

    def use_draw(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        """Draw from now on with `draw` (a state machine gives each rule its own)."""
        self._draw = draw

    # Strategies are cached: building one per draw costs more than the draw itself.
    def choice(self, options: Sequence[T]) -> T:
        return self._draw(_sampled_from(tuple(options)))

    def integer(self, lo: int, hi: int) -> int:
        return self._draw(_integers(lo, hi))

    def boolean(self) -> bool:
        return self._draw(_BOOLEANS)

    def program(self) -> Program:
        return Program(tuple(self.steps))

    @property
    def grad_enabled(self) -> bool:
        return self.grad_modes[-1] if self.grad_modes else True

    def new_name(self) -> str:
        self._count += 1
        return f"t{self._count - 1}"

    def bind(self, operand: Operand) -> Operand:
        self.operands[operand.name] = operand
        return operand

    def floats(self) -> list[Operand]:
        return [o for o in self.operands.values() if o.is_float]

    # ----------------------------------------------------------------- leaves and ops

    def leaf(self, domain: Domain = ANYWHERE, shape: tuple[int, ...] | None = None,
             requires_grad: bool | None = None, dtype: str | None = None) -> Operand:
        if shape is None:
            shape = self.draw(SHAPES)
        size = math.prod(shape)
        values = self.draw(_fixed_lists(grid(domain), size))
        if dtype not in self.config.dtypes:
            dtype = self.choice(self.config.dtypes)
        if requires_grad is None:
            requires_grad = self.config.leaves_require_grad
        if requires_grad is None:
            requires_grad = not self.boolean()  # shrinks to True, the common case
        name = self.new_name()
        self.steps.append(MakeLeaf(name, Values(shape, values, _as_dtype(dtype)), requires_grad))
        self.leaves.add(name)
        interval = Interval.of(*values) if values else Interval(0.0, 0.0)
        return self.bind(Operand(name, shape, dtype, interval, requires_grad))

    def apply(self, spec: OpSpec) -> tuple[Operand, ...]:
        """Append a call of `spec` (nothing if its result would be too large)."""
        call = spec.signature(self, spec)
        if not call.out_interval.magnitude() <= MAX_MAGNITUDE:
            return ()
        operands = [self.operands[arg.name] for arg in call.args if isinstance(arg, Ref)]
        tracked = any(o.requires_grad for o in operands)
        requires_grad = spec.differentiable and tracked and (
            self.grad_enabled or spec.name in VIEW_OPS)
        depends_on = _lineage(operands) if requires_grad else frozenset()
        outs = tuple(self.new_name() for _ in call.out_shapes)
        self.steps.append(ApplyOp(outs, spec.name, call.args, call.kwargs))
        return tuple(self.bind(Operand(name, shape, dtype, call.out_interval,
                                        requires_grad and dtype.startswith("float"), depends_on))
                     for name, shape, dtype in zip(outs, call.out_shapes, call.out_dtypes,
                                                   strict=True))

    def elementwise(self, op: str, *operands: Operand) -> Operand:
        """Apply a unary or same-shape binary catalogue op to given operands."""
        spec = CATALOGUE[op]
        name = self.new_name()
        self.steps.append(ApplyOp((name,), op, tuple(Ref(o.name) for o in operands)))
        tracked = any(o.requires_grad for o in operands) and self.grad_enabled
        return self.bind(replace(operands[0], name=name, requires_grad=tracked,
                                 interval=spec.image([o.interval for o in operands]),
                                 depends_on=_lineage(operands)))

    def op(self, ops: Sequence[str] | None = None) -> tuple[Operand, ...]:
        name = self.choice(tuple(ops or self.config.ops))
        return self.apply(CATALOGUE[name])

    # ----------------------------------------------------------------- OperandSource

    def tensor(self, domain: Domain = ANYWHERE, *, min_rank: int = 0,
               shape: tuple[int, ...] | None = None, dtype: str | None = None) -> Operand:
        candidates = [o for o in self.floats() if domain.admits(o.interval)
                      and len(o.shape) >= min_rank and (shape is None or o.shape == shape)
                      and (dtype is None or o.dtype == dtype)]
        return self._reuse_or_new(candidates, lambda: self.leaf(
            domain, shape if shape is not None else self._shape(min_rank), dtype=dtype))

    def partner(self, shape: tuple[int, ...], domain: Domain = ANYWHERE) -> Operand:
        candidates = [o for o in self.floats()
                      if domain.admits(o.interval) and _broadcasts(o.shape, shape)]
        return self._reuse_or_new(candidates, lambda: self.leaf(
            domain, self._broadcastable_shape(shape)))

    def condition(self, shape: tuple[int, ...]) -> Operand:
        candidates = [o for o in self.operands.values()
                      if o.dtype == "bool" and _broadcasts(o.shape, shape)]
        return self._reuse_or_new(candidates, lambda: self._mask(shape))

    def _mask(self, shape: tuple[int, ...]) -> Operand:
        source = self.partner(shape)
        threshold = self.choice(SCALARS)
        name = self.new_name()
        self.steps.append(ApplyOp((name,), "gt", (Ref(source.name), threshold)))
        return self.bind(Operand(name, source.shape, "bool", Interval(0.0, 1.0)))

    def _reuse_or_new(self, candidates: list[Operand], new: Callable[[], Operand]) -> Operand:
        # Index 0 (the earliest tensor) is what shrinking goes to; len() means "a new leaf".
        choice = self.integer(0, len(candidates)) if candidates else 0
        return candidates[choice] if choice < len(candidates) else new()

    def _broadcastable_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A shape broadcasting with `shape`: a suffix of it with some dims set to 1."""
        kept = self.integer(0, len(shape))
        suffix = shape[len(shape) - kept:]
        return tuple(1 if self.boolean() else n for n in suffix)

    def _shape(self, min_rank: int) -> tuple[int, ...]:
        shape: tuple[int, ...] = self.draw(SHAPES)
        return shape if len(shape) >= min_rank else shape + (2,) * (min_rank - len(shape))

    # ----------------------------------------------------------------- picking tensors

    def pick(self, candidates: Sequence[Operand]) -> Operand:
        """One of `candidates`, shrinking to the most recent: deleting earlier steps then
        keeps the pick (roots and hook targets are usually the latest results)."""
        return candidates[-1 - self.integer(0, len(candidates) - 1)]

    def tracked(self) -> list[Operand]:
        """Float tensors expected to require grad (candidates for roots, hooks, ...)."""
        return [o for o in self.floats() if o.requires_grad]

    def tracked_result(self) -> Operand:
        """A non-leaf requiring grad, made with one more op if there is none."""
        candidates = [o for o in self.tracked() if o.name not in self.leaves]
        if candidates:
            return self.pick(candidates)
        leaf = self.tensor() if self.tracked() else self.leaf(requires_grad=True)
        if not leaf.requires_grad:
            leaf = self.leaf(requires_grad=True)
        name = self.new_name()
        self.steps.append(ApplyOp((name,), "mul", (Ref(leaf.name), 2.0)))
        return self.bind(replace(leaf, name=name, requires_grad=self.grad_enabled,
                                 interval=Interval(2 * leaf.interval.lo, 2 * leaf.interval.hi),
                                 depends_on=_lineage([leaf])))

    def scalar_root(self, root: Operand | None = None) -> Operand:
        """`root` (or a tracked result) reduced to a scalar by `.sum()` if needed."""
        root = root or self.tracked_result()
        if root.shape == ():
            return root
        name = self.new_name()
        self.steps.append(ApplyOp((name,), "sum", (Ref(root.name),)))
        size = math.prod(root.shape)
        interval = Interval(min(root.interval.lo * size, root.interval.lo),
                            max(root.interval.hi * size, root.interval.hi))
        return self.bind(replace(root, name=name, shape=(), interval=interval,
                                 depends_on=_lineage([root])))

    def values_like(self, operand: Operand) -> Values:
        size = math.prod(operand.shape)
        data = self.draw(_fixed_lists(GRID, size))
        return Values(operand.shape, data, float_dtype(operand))

    # ----------------------------------------------------------------- autograd steps

    def backward(self, root: Operand | None = None, *, retain_graph: bool | None = None,
                 create_graph: bool = False) -> Operand:
        """`root.backward()` (with a gradient, or after `.sum()`, if not scalar), now and
        then restricted to some `inputs`."""
        root = root or self.tracked_result()
        gradient = None
        if root.shape != () and self.boolean():
            gradient = self.values_like(root)
        else:
            root = self.scalar_root(root)
        inputs = None
        reached = [o for o in self.tracked() if o.name in root.depends_on]
        if reached and self.integer(0, 3) == 3:
            inputs = (self.pick(reached).name,)
        self.steps.append(Backward(root.name, gradient, retain_graph, create_graph, inputs))
        self.with_grad |= set(inputs or root.depends_on) & self.leaves
        return root

    def autograd_grad(self, root: Operand | None = None, *,
                      create_graph: bool = False) -> tuple[Operand, ...]:
        """`torch.autograd.grad` of one or two scalar roots (their gradients add up), maybe
        weighted by grad_outputs, with respect to one or two tensors they depend on."""
        roots = [self.scalar_root(root)]
        if self.boolean():
            roots.append(self.scalar_root())
        lineage = _lineage(roots)
        tracked = [o.name for o in self.tracked() if o.name in lineage
                   and o.name not in {r.name for r in roots}]
        if not tracked:
            return ()
        inputs = [self.choice(tracked)]
        if len(tracked) > 1 and self.boolean():
            inputs.append(self.choice([name for name in tracked if name != inputs[0]]))
        grad_outputs = tuple(self.values_like(r) for r in roots) if self.boolean() else None
        outs = tuple(self.new_name() for _ in inputs)
        self.gradient_of.update(zip(outs, inputs, strict=True))
        retain = self.choice((None, True))
        self.steps.append(AutogradGrad(outs, tuple(r.name for r in roots), tuple(inputs),
                                       grad_outputs, retain, create_graph))
        return tuple(self.bind(Operand(out, self.operands[i].shape, self.operands[i].dtype,
                                       _UNKNOWN, create_graph, lineage))
                     for out, i in zip(outs, inputs, strict=True))

    def enter_grad_mode(self) -> None:
        mode: GradModeKind = self.choice(
            ("no_grad", "enable_grad", "set_grad_enabled"))
        enabled = mode == "enable_grad" or (
            mode == "set_grad_enabled" and self.boolean())
        self.steps.append(EnterGradMode(mode, enabled))
        self.grad_modes.append(enabled)

    def exit_grad_mode(self) -> None:
        if self.grad_modes:
            self.steps.append(ExitGradMode())
            self.grad_modes.pop()

    def inplace(self, target: Operand | None = None) -> None:
        """`target.<method>(arg)`; the value range follows the method."""
        target = target or self.pick(self.floats() or [self.leaf()])
        method = self.choice(_INPLACE_METHODS)
        args: tuple[Any, ...] = ()
        interval = target.interval
        if method in ("add_", "sub_", "mul_", "div_"):
            domain = NONZERO if method == "div_" else ANYWHERE
            if self.boolean():
                value = self.choice(tuple(v for v in SCALARS
                                                        if domain.admits_value(v)))
                args, other = (value,), Interval(value, value)
            else:
                partner = self.tensor(domain, shape=target.shape)
                args, other = (Ref(partner.name),), partner.interval
            interval = _inplace_image(method, interval, other)
        elif method == "zero_":
            interval = Interval(0.0, 0.0)
        elif method == "neg_":
            interval = Interval(-interval.hi, -interval.lo)
        else:
            interval = Interval(max(interval.lo, 0.0), max(interval.hi, 0.0))
        if interval.magnitude() > MAX_MAGNITUDE:
            return
        self.steps.append(InplaceOp(target.name, method, args))
        partners = [self.operands[a.name] for a in args if isinstance(a, Ref)]
        tracked = target.requires_grad or any(p.requires_grad for p in partners)
        self.bind(replace(target, interval=interval, requires_grad=tracked,
                          depends_on=target.depends_on | _lineage(partners)))


def float_dtype(operand: Operand) -> DType:
    return _as_dtype(operand.dtype)


def _as_dtype(dtype: str) -> DType:
    return "float64" if dtype == "float64" else "float32"


def _lineage(operands: Sequence[Operand]) -> frozenset[str]:
    """Tensors reachable backwards from results of `operands`, the operands included."""
    names: set[str] = set()
    for operand in operands:
        if operand.requires_grad:
            names |= operand.depends_on | {operand.name}
    return frozenset(names)


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _inplace_image(method: str, target: Interval, other: Interval) -> Interval:
    """Value range after `target.add_(other)` and friends: that of `target + other`."""
    return CATALOGUE[method.removesuffix("_")].image([target, other])


# --------------------------------------------------------------------------- actions
# An action appends a few steps exercising one feature. Menus repeat actions to weight them.

Action = Callable[[ProgramBuilder], Any]


def op_action(b: ProgramBuilder) -> None:
    b.op()


def backward_action(b: ProgramBuilder) -> None:
    # Always retaining: freeing graphs is the retain_graph behaviour's subject.
    b.backward(retain_graph=True)


def reset_grad_action(b: ProgramBuilder) -> None:
    leaves = [o for o in b.tracked() if o.name in b.leaves]
    if not leaves:
        return
    target = b.pick(leaves)
    how: ResetHow = "none"
    if target.name in b.with_grad:  # `.grad.zero_()` needs a grad
        how = b.choice(("zero_", "none", "data.zero_"))
    b.steps.append(ResetGrad(target.name, how))
    if how == "none":
        b.with_grad.discard(target.name)


def retain_grad_action(b: ProgramBuilder) -> None:
    b.steps.append(RetainGrad(b.tracked_result().name))


def grad_mode_action(b: ProgramBuilder) -> None:
    if b.grad_modes and b.boolean():
        b.exit_grad_mode()
    else:
        b.enter_grad_mode()


def requires_grad_action(b: ProgramBuilder) -> None:
    """`requires_grad_()` on a tensor that does not require grad (or an erroring one)."""
    untracked = [o for o in b.floats() if not o.requires_grad]
    target = b.pick(untracked) if untracked else b.leaf(requires_grad=False)
    b.steps.append(RequiresGrad(target.name, True))
    b.operands[target.name] = replace(target, requires_grad=True)
    b.leaves.add(target.name)  # a tensor without grad_fn becomes a leaf


def data_action(b: ProgramBuilder) -> None:
    """`x.data.mul_(v)` / `add_` / `sub_`: in place, invisible to autograd."""
    target = b.pick(b.floats() or [b.leaf()])
    method = b.choice(("mul_", "add_", "sub_"))
    value = float(b.choice(tuple(v for v in SCALARS if v)))
    interval = _inplace_image(method, target.interval, Interval(value, value))
    if interval.magnitude() <= MAX_MAGNITUDE:
        b.steps.append(MutateData(target.name, method, value))
        b.bind(replace(target, interval=interval))


def detach_action(b: ProgramBuilder) -> None:
    """`d = x.detach()`, then maybe mutate `d` in place or make it require grad."""
    source = b.pick(b.floats() or [b.leaf()])
    name = b.new_name()
    b.steps.append(Detach(name, source.name))
    detached = b.bind(replace(source, name=name, requires_grad=False))
    b.leaves.add(name)
    follow_up = b.choice(("none", "inplace", "requires_grad_"))
    if follow_up == "inplace":
        b.inplace(detached)
    elif follow_up == "requires_grad_":
        b.steps.append(RequiresGrad(name, True))
        b.bind(replace(detached, requires_grad=True))


def inplace_action(b: ProgramBuilder) -> None:
    b.inplace()


def hook_action(b: ProgramBuilder) -> None:
    target = b.pick(b.tracked() or [b.tracked_result()])
    if b.boolean():
        b.steps.append(RegisterHook(target.name, "record"))
    else:
        factor = float(b.choice((2.0, -1.0, 0.5, 3.0)))
        b.steps.append(RegisterHook(target.name, "scale", factor))


# --------------------------------------------------------------------------- error actions


def error_action(b: ProgramBuilder) -> None:
    """One thing torch rejects (or nearly does); the error is what gets compared."""
    kind = b.choice((
        "implicit_nonscalar", "wrong_gradient_shape", "backward_untracked", "leaf_inplace",
        "saved_inplace", "second_backward", "retain_grad_untracked", "hook_untracked",
        "requires_grad_false_nonleaf", "grad_unused_input", "grad_untracked_input",
    ))
    if kind == "implicit_nonscalar":
        root = b.tracked_result()
        b.steps.append(Backward(root.name))
    elif kind == "wrong_gradient_shape":
        root = b.tracked_result()
        shape = b.draw(SHAPES)
        size = math.prod(shape)
        b.steps.append(Backward(root.name, Values(shape, (1.0,) * size, float_dtype(root))))
    elif kind == "backward_untracked":
        untracked = [o for o in b.floats() if not o.requires_grad]
        target = b.pick(untracked) if untracked else b.leaf(requires_grad=False)
        b.steps.append(Backward(b.scalar_root(target).name))
    elif kind == "leaf_inplace":
        leaves = [o for o in b.tracked() if o.name in b.leaves]
        b.inplace(b.pick(leaves) if leaves else b.leaf(requires_grad=True))
    elif kind == "saved_inplace":
        # An op that saves its input, an in-place change of that input, then backward.
        result = b.tracked_result()
        saved = b.op(("mul", "exp", "sin", "sigmoid", "tanh", "pow", "div"))
        b.inplace(result)
        if saved:
            b.backward(saved[0])
    elif kind == "second_backward":
        root = b.backward()
        b.steps.append(Backward(root.name))
    elif kind in ("retain_grad_untracked", "hook_untracked"):
        untracked = [o for o in b.floats() if not o.requires_grad]
        target = b.pick(untracked) if untracked else b.leaf(requires_grad=False)
        b.steps.append(RetainGrad(target.name) if kind == "retain_grad_untracked"
                       else RegisterHook(target.name, "record"))
    elif kind == "requires_grad_false_nonleaf":
        b.steps.append(RequiresGrad(b.tracked_result().name, False))
    else:
        root = b.scalar_root()
        other = b.leaf(requires_grad=kind == "grad_unused_input")
        inputs = (b.pick(b.tracked()).name, other.name)
        outs = (b.new_name(), b.new_name())
        b.steps.append(AutogradGrad(outs, (root.name,), inputs))


# --------------------------------------------------------------------------- behaviours


@dataclass(frozen=True)
class Recipe:
    """How to generate programs for one behaviour (see behaviours.py)."""

    name: str
    menu: tuple[Action, ...]  # body actions (first = simplest, where shrinking goes)
    finale: Action | None = None
    config: BuildConfig = BuildConfig()
    min_body: int = 1
    max_body: int = 6


def _single_backward(b: ProgramBuilder) -> None:
    if b.boolean():
        b.backward()
    else:
        b.autograd_grad()


def _repeated_backward(b: ProgramBuilder) -> None:
    """Backward passes over the same root (maybe retaining the graph), maybe new roots."""
    root = b.tracked_result()
    for _ in range(b.integer(2, 3)):
        if b.boolean():
            root = b.tracked_result()
        b.backward(root, retain_graph=b.choice((True, None, False)))


def _higher_order(b: ProgramBuilder) -> None:
    """A gradient taken with create_graph=True, transformed, and differentiated again."""
    grads = b.autograd_grad(create_graph=True)
    if not grads:
        return
    grad = b.pick(grads)
    if not b.boolean():  # the simplest case (hypothesis shrinks booleans to False)
        # Times the tensor it is the gradient of: then the second derivative does not vanish
        # identically for functions linear in that tensor.
        grad = b.elementwise("mul", grad, b.operands[b.gradient_of[grad.name]])
    if b.boolean():
        grad = b.elementwise(b.choice(("sin", "tanh", "sigmoid")), grad)
    root = b.scalar_root(grad)
    if b.boolean():
        b.backward(root)
    else:
        b.autograd_grad(root)


def _weighted(*entries: tuple[Action, int]) -> tuple[Action, ...]:
    return tuple(action for action, weight in entries for _ in range(weight))


_SMOOTH_OPS = tuple(name for name, spec in CATALOGUE.items() if spec.smooth)

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("values", (op_action,), config=BuildConfig(leaves_require_grad=False)),
    Recipe("metadata",
           _weighted((op_action, 4), (requires_grad_action, 1), (retain_grad_action, 1)),
           config=BuildConfig(leaves_require_grad=None)),
    Recipe("gradients", (op_action,), finale=_single_backward),
    Recipe("accumulation",
           _weighted((op_action, 3), (backward_action, 2), (reset_grad_action, 1),
                     (retain_grad_action, 1)),
           finale=backward_action, max_body=8),
    Recipe("retain_graph", (op_action,), finale=_repeated_backward),
    Recipe("no_grad",
           _weighted((op_action, 3), (grad_mode_action, 2), (requires_grad_action, 1)),
           finale=backward_action, max_body=8),
    Recipe("data", _weighted((op_action, 3), (data_action, 2), (backward_action, 1)),
           finale=backward_action, max_body=8),
    Recipe("detach", _weighted((op_action, 3), (detach_action, 2)),
           finale=backward_action, max_body=8),
    Recipe("inplace", _weighted((op_action, 3), (inplace_action, 2)),
           finale=backward_action, max_body=8),
    Recipe("hooks", _weighted((op_action, 3), (hook_action, 2), (retain_grad_action, 1)),
           finale=_repeated_backward, max_body=8),
    Recipe("higher_order", (op_action,), finale=_higher_order,
           config=BuildConfig(ops=_SMOOTH_OPS)),
    Recipe("errors", _weighted((op_action, 2), (error_action, 1))),
)}


def programs(behaviour: str | Recipe,
             config: BuildConfig | None = None) -> st.SearchStrategy[Program]:
    """Programs exercising one behaviour (a name from `BEHAVIOURS`, or a `Recipe`)."""
    spec = RECIPES[behaviour] if isinstance(behaviour, str) else behaviour
    build_config = config or spec.config

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Program:
        builder = ProgramBuilder(draw, build_config)
        builder.leaf()
        for count in range(spec.max_body):
            # A "go on?" draw before each step (like st.lists): shrinking deletes a step by
            # deleting its choices, with no count elsewhere to keep in sync.
            if count >= spec.min_body and builder.integer(0, 3) == 0:
                break
            builder.choice(spec.menu)(builder)
        if spec.finale is not None:
            spec.finale(builder)
        return builder.program()

    return build()
