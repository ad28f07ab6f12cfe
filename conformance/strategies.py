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

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
from hypothesis import strategies as st

from conformance.catalogue import (
    ANYWHERE,
    CATALOGUE,
    MAX_MAGNITUDE,
    SCALARS,
    Domain,
    Interval,
    Operand,
    OpSpec,
    draw_index,
    promote,
    scalar_grid,
    weighted,
)
from conformance.program import (
    ApplyOp,
    Arg,
    AssignGrad,
    AutogradGrad,
    Backward,
    Detach,
    DType,
    EnterGradMode,
    ExitGradMode,
    GradModeKind,
    HookKind,
    InplaceOp,
    IntList,
    LeafDType,
    MakeLeaf,
    MutateData,
    Program,
    ReadGrad,
    Ref,
    RegisterHook,
    RequiresGrad,
    ResetGrad,
    ResetHow,
    RetainGrad,
    SetItem,
    Slice,
    Step,
    Values,
    refs_in,
)

# Leaf values: exactly representable, moderate, simplest first. Sums and products of a
# few of them are exact in float32, so ties and zeros they produce are exact in every
# engine (and compared exactly, see compare.py).
GRID: tuple[float, ...] = (1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 1.5, -1.5, 0.0,
                           0.25, -0.25, 2.5, -2.5, 0.75, -0.75, 1.25, -1.25)

# Ops whose result may be a view of (or be) their input: in a no_grad block such results of
# a grad-requiring tensor still require grad (torch quirk), and they share its memory.
VIEW_OPS = frozenset(name for name, spec in CATALOGUE.items() if spec.view)
# A guess for values generation cannot follow (gradients from autograd.grad).
_UNKNOWN = Interval(-100.0, 100.0)

# In-place methods: with a tensor-or-number operand (their image and the operand's domain
# are the catalogue op's), without one (the op's domain and image), and the rest.
_BINARY_INPLACE = {"add_": "add", "mul_": "mul", "sub_": "sub", "div_": "div"}
_UNARY_INPLACE = {"neg_": "neg", "relu_": "relu", "abs_": "abs", "exp_": "exp", "log_": "log",
                  "sqrt_": "sqrt", "sigmoid_": "sigmoid", "tanh_": "tanh"}
_OTHER_INPLACE = ("zero_", "pow_", "clamp_", "fill_", "copy_", "masked_fill_")
INPLACE_METHODS: tuple[str, ...] = (*_BINARY_INPLACE, *_UNARY_INPLACE, *_OTHER_INPLACE)
# torch ops `t[index] = value` reaches: a copy into a view (basic), index_put (advanced).
SETITEM_OPS = ("copy_", "select", "slice", "unsqueeze", "alias", "index_put")


def reached_torch_ops() -> frozenset[str]:
    """Every torch op generated programs call: through the catalogue's entries, in-place
    methods (by name, `add_` as well as `add`) and setitem."""
    names = {op for spec in CATALOGUE.values() for op in spec.torch_ops()}
    names |= {*INPLACE_METHODS, *(m.removesuffix("_") for m in INPLACE_METHODS)}
    return frozenset(names | set(SETITEM_OPS))

SHAPES = st.lists(st.integers(1, 3), max_size=3).map(tuple)
_BOOLEANS = st.booleans()
T = TypeVar("T")


@contextlib.contextmanager
def seed_only() -> Iterator[None]:
    """Draw programs that depend on hypothesis's seed only. Hypothesis (6.131 on) now and
    then draws an integer among the constants of the "local" modules imported so far
    (the kit's, refgrad's, an engine's): the same seed then gives other programs in a
    process that imported other modules (a `-n` worker, a test session) or after an edit
    of refgrad, and so other findings, shrunk programs and corpora. This turns that off
    for the block (through hypothesis's internals: without them, nothing to turn off)."""
    try:
        from hypothesis.internal.conjecture import providers

        constants, cache = providers._get_local_constants, providers.CONSTANTS_CACHE.cache
        none = providers.Constants()
    except (ImportError, AttributeError):
        yield
        return
    providers._get_local_constants = lambda *args, **kwargs: none
    cache.clear()  # (allowed constants per draw, computed with the local ones)
    try:
        yield
    finally:
        providers._get_local_constants = constants
        cache.clear()


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

    ops: tuple[str, ...] = weighted(tuple(CATALOGUE))  # (repeats weigh)
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
        self._first: Operand | None = None  # what the next tensor() request should be
        self.consumed: set[str] = set()  # tensors some op has used

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return self._draw(strategy)

    def use_draw(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        """Draw from now on with `draw` (a state machine gives each rule its own)."""
        self._draw = draw

    def unit(self, action: Callable[[ProgramBuilder], T]) -> T:
        """Run `action` as one nested draw: its choices form one span of hypothesis's
        choice sequence, which shrinking can delete whole (a program step at a time)."""
        result: T = self._draw(_as_unit(self, action))
        return result

    # Strategies are cached: building one per draw costs more than the draw itself.
    def choice(self, options: Sequence[T]) -> T:
        return self._draw(_sampled_from(tuple(options)))

    def integer(self, lo: int, hi: int) -> int:
        return self._draw(_integers(lo, hi))

    def boolean(self) -> bool:
        return self._draw(_BOOLEANS)

    def shape(self, min_rank: int = 0, max_rank: int = 3) -> tuple[int, ...]:
        shape: tuple[int, ...] = self.draw(SHAPES)[:max_rank]
        return shape + (2,) * (min_rank - len(shape))

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
        """Float tensors with elements (an empty one, say `x.narrow(0, 0, 0)`, is only ever
        a result: what ops do with no elements is an edge of its own)."""
        return [o for o in self.operands.values() if o.is_float and 0 not in o.shape]

    def sharing(self, operand: Operand) -> list[Operand]:
        """The tensors sharing memory with `operand` (views, detached copies), itself too."""
        storage = operand.storage or operand.name
        return [o for o in self.operands.values() if (o.storage or o.name) == storage]

    def mutated(self, target: Operand, interval: Interval, *,
                tracked: bool = False, lineage: frozenset[str] = frozenset()) -> None:
        """Record an in-place change of `target` (now within `interval`): tensors sharing
        its memory may hold the new values too, and autograd tracks them all if it tracks
        the change."""
        tracked = tracked and self.grad_enabled
        for other in self.sharing(target):
            self.bind(replace(
                other, interval=interval if other.name == target.name
                else other.interval.union(interval),
                grid_values=False, requires_grad=other.requires_grad or (
                    tracked and other.is_float),
                depends_on=other.depends_on | lineage if tracked else other.depends_on))

    def derived(self, source: Operand, name: str, **changes: Any) -> Operand:
        """A new result like `source` (own memory, values not exact unless said)."""
        changes.setdefault("storage", "")
        changes.setdefault("grid_values", False)
        return self.bind(replace(source, name=name, **changes))

    # ----------------------------------------------------------------- leaves and ops

    def leaf(self, domain: Domain = ANYWHERE, shape: tuple[int, ...] | None = None,
             requires_grad: bool | None = None, dtype: str | None = None) -> Operand:
        if shape is None:
            shape = self.draw(SHAPES)
        size = math.prod(shape)
        options = grid(domain)
        if domain.away_from_zero:  # one sign: an interval can only say "away from 0" so
            negative = self.boolean()
            options = tuple(v for v in options if (v < 0) == negative)
        values = self.draw(_fixed_lists(options, size))
        if dtype not in self.config.dtypes:
            dtype = self.choice(self.config.dtypes)
        if requires_grad is None:
            requires_grad = self.config.leaves_require_grad
        if requires_grad is None:
            requires_grad = not self.boolean()  # shrinks to True, the common case
        name = self.new_name()
        self.steps.append(MakeLeaf(name, Values(shape, values, _as_dtype(dtype)), requires_grad))
        self.leaves.add(name)
        # An empty tensor (a leaf fitting an empty view) has no values, so any range holds:
        # one inside the domain, as images assume ([0, 0] made div's image divide by 0).
        interval = Interval.of(*values) if values else Interval(options[0], options[0])
        return self.bind(Operand(name, shape, dtype, interval, requires_grad,
                                 grid_values=True))

    def constant(self, values: Values) -> Operand:
        """A leaf with exactly these values, not requiring grad (indices, masks, targets)."""
        name = self.new_name()
        self.steps.append(MakeLeaf(name, values, requires_grad=False))
        self.leaves.add(name)
        numbers = [float(v) for v in values.data] or [0.0]
        return self.bind(Operand(name, values.shape, values.dtype, Interval.of(*numbers),
                                 grid_values=True))

    def apply(self, spec: OpSpec, first: Operand | None = None) -> tuple[Operand, ...]:
        """Append a call of `spec` (nothing if its result would be too large); `first`, if
        the call can take it, is its first tensor operand."""
        self._first = first
        try:
            call = spec.signature(self, spec)
        finally:
            self._first = None
        if not call.out_interval.magnitude() <= MAX_MAGNITUDE:
            return ()
        operands = [self.operands[name] for arg in (*call.args, *(v for _, v in call.kwargs))
                    for name in refs_in(arg)]
        self.consumed.update(o.name for o in operands)
        # A view requires grad as its base does (expand_as's other operand gives a shape only).
        inputs = operands[:1] if spec.view else operands
        tracked = any(o.requires_grad for o in inputs)
        requires_grad = spec.differentiable and tracked and (self.grad_enabled or spec.view)
        depends_on = _lineage(inputs) if requires_grad else frozenset()
        storage = (operands[0].storage or operands[0].name) if spec.view and operands else ""
        grid_values = spec.view and all(o.grid_values for o in operands)
        outs = tuple(self.new_name() for _ in call.out_shapes)
        self.steps.append(ApplyOp(outs, spec.name, call.args, call.kwargs))
        return tuple(self.bind(Operand(name, shape, dtype, call.out_interval,
                                        requires_grad and dtype.startswith("float"), depends_on,
                                        storage, grid_values))
                     for name, shape, dtype in zip(outs, call.out_shapes, call.out_dtypes,
                                                   strict=True))

    def elementwise(self, op: str, *operands: Operand) -> Operand:
        """Apply a unary or same-shape binary catalogue op to given operands."""
        spec = CATALOGUE[op]
        name = self.new_name()
        self.steps.append(ApplyOp((name,), op, tuple(Ref(o.name) for o in operands)))
        tracked = any(o.requires_grad for o in operands) and self.grad_enabled
        return self.derived(operands[0], name, requires_grad=tracked,
                            interval=spec.image([o.interval for o in operands]),
                            depends_on=_lineage(operands))

    def op(self, ops: Sequence[str] | None = None) -> tuple[Operand, ...]:
        name = self.choice(tuple(ops or self.config.ops))
        return self.apply(CATALOGUE[name])

    # ----------------------------------------------------------------- OperandSource

    def tensor(self, domain: Domain = ANYWHERE, *, min_rank: int = 0, max_rank: int = 3,
               shape: tuple[int, ...] | None = None, dtype: str | None = None) -> Operand:
        def fits(o: Operand) -> bool:
            return (o.is_float and domain.admits(o.interval)
                    and min_rank <= len(o.shape) <= max_rank
                    and (shape is None or o.shape == shape)
                    and (dtype is None or o.dtype == dtype)
                    and (o.grid_values or not domain.grid_values))

        first, self._first = self._first, None
        if first is not None and fits(first):
            return first
        return self._reuse_or_new([o for o in self.floats() if fits(o)], lambda: self.leaf(
            domain, shape if shape is not None else self.shape(min_rank, max_rank),
            dtype=dtype))

    def partner(self, shape: tuple[int, ...], domain: Domain = ANYWHERE) -> Operand:
        candidates = [o for o in self.floats()
                      if domain.admits(o.interval) and _broadcasts(o.shape, shape)
                      and (o.grid_values or not domain.grid_values)]
        # A new leaf half the time, not only when the draw passes over every tensor:
        # broadcasting (and the reduction of gradients it implies) needs operands of
        # different shapes, which reused tensors seldom have (5 leaves per 400 programs).
        if not candidates or self.boolean():
            return self.leaf(domain, self._broadcasting_shape(shape))
        return candidates[self.integer(0, len(candidates) - 1)]

    def fitting(self, shape: tuple[int, ...], dtype: str | None = None,
                domain: Domain = ANYWHERE, avoid: frozenset[str] = frozenset()) -> Operand:
        """A float tensor that broadcasts *to* `shape` (what `t[index] = value` accepts)."""
        candidates = [o for o in self.floats() if _broadcasts_to(o.shape, shape)
                      and (dtype is None or o.dtype == dtype) and domain.admits(o.interval)
                      and o.name not in avoid]
        return self._reuse_or_new(candidates, lambda: self.leaf(
            domain, self._broadcastable_shape(shape), dtype=dtype))

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

    def _broadcasting_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A shape broadcasting with `shape`, smaller or larger: a suffix of it with some
        dims set to 1, or all of it (some dims 1) behind new leading dims."""
        suffix = self._broadcastable_shape(shape)
        leading = self.draw(SHAPES)  # (drawn either way: the choices keep their shape)
        return (leading[: 3 - len(shape)] if len(suffix) == len(shape) else ()) + suffix

    def _broadcastable_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A shape broadcasting with `shape`: a suffix of it with some dims set to 1."""
        kept = self.integer(0, len(shape))
        suffix = shape[len(shape) - kept:]
        return tuple(1 if self.boolean() else n for n in suffix)


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
        return self.derived(leaf, name, requires_grad=self.grad_enabled,
                            interval=Interval(2 * leaf.interval.lo, 2 * leaf.interval.hi),
                            depends_on=_lineage([leaf]))

    def whole_root(self) -> Operand:
        """A scalar every tracked result no op has used flows into (their means added up:
        sums would inflate the magnitudes tolerances scale with), so that one backward
        checks the derivative of every op on the way."""
        sinks = [o for o in self.tracked()
                 if o.name not in self.leaves and o.name not in self.consumed]
        # One sink is handled as several (its mean, no draw): deleting a body step then
        # leaves the finale's choices as they were, so shrinking can delete it.
        if not sinks:
            return self.scalar_root()
        total = self._mean(sinks[0])
        for sink in sinks[1:]:
            part = self._mean(sink)
            name = self.new_name()
            self.steps.append(ApplyOp((name,), "add", (Ref(total.name), Ref(part.name))))
            self.consumed |= {total.name, part.name}
            total = self.derived(total, name, dtype=promote(total, part),
                                 interval=CATALOGUE["add"].image([total.interval, part.interval]),
                                 depends_on=_lineage([total, part]))
        return total

    def _mean(self, operand: Operand) -> Operand:
        if operand.shape == ():
            return operand
        name = self.new_name()
        self.steps.append(ApplyOp((name,), "mean", (Ref(operand.name),)))
        self.consumed.add(operand.name)
        return self.derived(operand, name, shape=(), depends_on=_lineage([operand]))

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
        return self.derived(root, name, shape=(), interval=interval,
                            depends_on=_lineage([root]))

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
        reached = [o.name for o in self.tracked() if o.name in root.depends_on]
        if reached and self.integer(0, 3) == 3:
            inputs = (self.choice(self._mostly_leaves(reached)),)
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
        pool = self._mostly_leaves(tracked)
        inputs = [self.choice(pool)]
        if len(pool) > 1 and self.boolean():
            inputs.append(self.choice([name for name in pool if name != inputs[0]]))
        grad_outputs = tuple(self.values_like(r) for r in roots) if self.boolean() else None
        outs = tuple(self.new_name() for _ in inputs)
        self.gradient_of.update(zip(outs, inputs, strict=True))
        retain = self.choice((None, True))
        self.steps.append(AutogradGrad(outs, tuple(r.name for r in roots), tuple(inputs),
                                       grad_outputs, retain, create_graph))
        return tuple(self.bind(Operand(out, self.operands[i].shape, self.operands[i].dtype,
                                       _UNKNOWN, create_graph, lineage))
                     for out, i in zip(outs, inputs, strict=True))

    def _mostly_leaves(self, names: list[str]) -> list[str]:
        """The leaves among `names` three times in four (if any), else all: a leaf's
        gradient passes every op on the way, an intermediate's only the ops after it."""
        leaves = [name for name in names if name in self.leaves]
        return leaves if leaves and self.integer(0, 3) != 3 else names

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
        """`target.<method>(args)`; the value range follows the method."""
        target = target or self.pick(self.floats() or [self.leaf()])
        method = self.choice(INPLACE_METHODS)
        call = self._inplace_call(target, method)
        if call is None:
            return
        args, interval = call
        self.steps.append(InplaceOp(target.name, method, args))
        partners = [self.operands[name] for arg in args for name in refs_in(arg)]
        self.mutated(target, interval,
                     tracked=target.requires_grad or any(p.requires_grad for p in partners),
                     lineage=_lineage([target, *partners]))

    def _inplace_call(self, target: Operand, method: str
                      ) -> tuple[tuple[Arg, ...], Interval] | None:
        """(args, resulting value range) for `target.<method>(...)`, or None if `target` is
        outside the method's domain or the result would be too large."""
        args: tuple[Arg, ...] = ()
        interval = target.interval
        # A tensor sharing the target's memory in another shape (`t.add_(t[:, :1])`) is read
        # while the op writes it: torch's result then depends on its kernel's order of work
        # (undefined, build-specific: it does not refuse such overlaps), so none is drawn.
        aliased = frozenset(o.name for o in self.sharing(target) if o.shape != target.shape)
        if method in _BINARY_INPLACE:
            spec = CATALOGUE[_BINARY_INPLACE[method]]
            domain = spec.other_domain
            if self.boolean():
                value = self.choice(scalar_grid(domain))
                args, other = (value,), Interval(value, value)
            else:
                partner = self.fitting(target.shape, domain=domain, avoid=aliased)
                args, other = (Ref(partner.name),), partner.interval
            interval = spec.image([interval, other])
        elif method == "zero_":
            interval = Interval(0.0, 0.0)
        elif method in _UNARY_INPLACE:
            spec = CATALOGUE[_UNARY_INPLACE[method]]
            if not spec.domain.admits(interval):
                return None
            interval = spec.image([interval])
        elif method == "pow_":
            args, interval = (2,), CATALOGUE["square"].image([interval])
        elif method == "clamp_":
            low, high = sorted((float(self.choice(SCALARS)), float(self.choice(SCALARS))))
            args = (low, high)
            interval = Interval(min(max(interval.lo, low), high), min(max(interval.hi, low), high))
        elif method == "fill_":
            value = self.choice(SCALARS)
            args, interval = (value,), Interval(value, value)
        elif method == "copy_":
            source = self.fitting(target.shape, avoid=aliased)
            args, interval = (Ref(source.name),), source.interval
        else:  # masked_fill_: the mask broadcasts to the target's shape
            mask = self.constant(_random_mask(self, self._broadcastable_shape(target.shape)))
            value = self.choice(SCALARS)
            args, interval = (Ref(mask.name), value), interval.union(Interval(value, value))
        return None if interval.magnitude() > MAX_MAGNITUDE else (args, interval)

    def setitem(self, target: Operand, *, advanced: bool | None = None) -> None:
        """`target[index] = value`, value a number or a tensor broadcasting to the part."""
        if advanced is None:
            advanced = bool(target.shape) and self.boolean()
        index, part = draw_index(self, target.shape, advanced=advanced, unique=True)
        value: Arg
        if self.boolean():
            number = self.choice(SCALARS)
            value, interval, partners = number, Interval(number, number), []
        else:
            # index_put (advanced) needs one dtype; a basic index copies with a cast. A value
            # sharing the target's memory in another shape than the part's is read while
            # being written (see _inplace_call): none is drawn.
            aliased = frozenset(o.name for o in self.sharing(target) if o.shape != part)
            source = self.fitting(part, target.dtype if advanced else None, avoid=aliased)
            value, interval, partners = Ref(source.name), source.interval, [source]
        self.steps.append(SetItem(target.name, index, value))
        self.mutated(target, target.interval.union(interval),
                     tracked=any(p.requires_grad for p in partners),
                     lineage=_lineage(partners))

    def read_grad(self, leaf: Operand, *, create_graph: bool) -> Operand:
        """`g = leaf.grad` as a tensor of the program (tracked after create_graph)."""
        name = self.new_name()
        self.steps.append(ReadGrad(name, leaf.name))
        self.gradient_of[name] = leaf.name
        return self.bind(Operand(name, leaf.shape, leaf.dtype, _UNKNOWN, create_graph,
                                 leaf.depends_on | {leaf.name} if create_graph else frozenset()))


@st.composite
def _as_unit(draw: Callable[[st.SearchStrategy[Any]], Any], builder: ProgramBuilder,
             action: Callable[[ProgramBuilder], Any]) -> Any:
    """`action(builder)`, drawing with this strategy's `draw` (see `ProgramBuilder.unit`;
    one composite made once: making one per step costs hypothesis a source inspection)."""
    outer = builder._draw
    builder._draw = draw
    try:
        return action(builder)
    finally:
        builder._draw = outer


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


def _broadcasts_to(a: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    return _broadcasts(a, shape) and np.broadcast_shapes(a, shape) == shape


def _random_mask(b: ProgramBuilder, shape: tuple[int, ...]) -> Values:
    return Values(shape, tuple(b.boolean() for _ in range(math.prod(shape))), "bool")


def _inplace_image(method: str, target: Interval, other: Interval) -> Interval:
    """Value range after `target.add_(other)` and friends: that of `target + other`."""
    return CATALOGUE[_BINARY_INPLACE[method]].image([target, other])


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
        b.mutated(target, interval)


def detach_action(b: ProgramBuilder) -> None:
    """`d = x.detach()`, then maybe mutate `d` in place or make it require grad."""
    source = b.pick(b.floats() or [b.leaf()])
    name = b.new_name()
    b.steps.append(Detach(name, source.name))
    detached = b.bind(replace(source, name=name, requires_grad=False, depends_on=frozenset(),
                              storage=source.storage or source.name))
    b.leaves.add(name)
    follow_up = b.choice(("none", "inplace", "requires_grad_"))
    if follow_up == "inplace":
        b.inplace(detached)
    elif follow_up == "requires_grad_":
        b.steps.append(RequiresGrad(name, True))
        b.bind(replace(detached, requires_grad=True))


def inplace_action(b: ProgramBuilder) -> None:
    b.inplace()


def setitem_action(b: ProgramBuilder) -> None:
    """`t[index] = value` into a non-leaf or a tensor not requiring grad (`a[0] = x`
    makes `a` require grad, with a CopySlices grad_fn)."""
    targets = [o for o in b.floats()
               if not (o.requires_grad and o.name in b.leaves) and o.storage == ""]
    target = b.pick(targets) if targets else b.tracked_result()
    b.setitem(target)


def view_inplace_action(b: ProgramBuilder) -> None:
    """A view of a tensor changed in place (or written by setitem), maybe after an op
    saved the base: CopySlices on the base, AsStridedBackward0 on other views, version
    errors naming them; and torch's refusals (expanded views, views from split/unbind)."""
    base = b.tracked_result() if b.boolean() else b.pick(
        [o for o in b.floats() if not o.requires_grad] or [b.leaf(requires_grad=False)])
    if b.boolean():  # something saves the base (or its view) before the change
        b.apply(CATALOGUE[b.choice(("mul", "exp", "sin", "sigmoid", "pow"))], first=base)
    views = b.apply(CATALOGUE[b.choice(_VIEWS_TO_MUTATE)], first=base)
    if not views:
        return
    view = b.pick(views)
    if b.boolean():
        b.setitem(view)
    else:
        b.inplace(view)


# View ops whose result an in-place op may change (expand and split/unbind results: torch
# refuses, which is compared too).
_VIEWS_TO_MUTATE = ("getitem", "view", "transpose", "select", "narrow", "unsqueeze",
                    "squeeze", "permute", "T", "reshape", "flatten", "expand", "unbind",
                    "split")


def assign_grad_action(b: ProgramBuilder) -> None:
    """`x.grad = tensor` of x's shape and dtype: later backward calls accumulate into it."""
    leaves = [o for o in b.tracked() if o.name in b.leaves]
    if leaves:
        target = b.pick(leaves)
        b.steps.append(AssignGrad(target.name, b.values_like(target)))
        b.with_grad.add(target.name)


def create_graph_backward_action(b: ProgramBuilder) -> None:
    """backward(create_graph=True): `.grad` accumulates out of place, with a grad_fn."""
    b.backward(retain_graph=True, create_graph=True)


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
        "bad_hook_result", "assign_grad_mismatch", "integer_requires_grad", "leaf_setitem",
        "index_out_of_range",
    ))
    if kind in _MORE_ERRORS:
        _MORE_ERRORS[kind](b)
        return
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


def _bad_hook_result(b: ProgramBuilder) -> None:
    """A hook returning a tensor of another size or dtype, or not a tensor, then backward."""
    target = b.tracked_result()
    kind: HookKind = b.choice(("unsqueeze", "double" if target.dtype == "float32" else "float",
                               "number"))
    b.steps.append(RegisterHook(target.name, kind))
    b.backward(target)


def _assign_grad_mismatch(b: ProgramBuilder) -> None:
    """`x.grad = t` with t of another shape or dtype."""
    leaves = [o for o in b.tracked() if o.name in b.leaves]
    target = b.pick(leaves) if leaves else b.leaf(requires_grad=True)
    values = b.values_like(target)
    if b.boolean():
        shape = b.draw(SHAPES)
        values = Values(shape, (1.0,) * math.prod(shape), values.dtype)
    else:
        values = replace(values, dtype="float64" if values.dtype == "float32" else "float32")
    b.steps.append(AssignGrad(target.name, values))


def _integer_requires_grad(b: ProgramBuilder) -> None:
    """An int64 or bool leaf made with requires_grad=True, or asked to require grad."""
    shape = b.draw(SHAPES)
    dtype: LeafDType = b.choice(("int64", "bool"))
    data = tuple(b.integer(0, 2) if dtype == "int64" else b.boolean()
                 for _ in range(math.prod(shape)))
    values = Values(shape, data, dtype)
    name = b.new_name()
    if b.boolean():
        b.steps.append(MakeLeaf(name, values, requires_grad=True))
    else:
        b.steps.append(MakeLeaf(name, values, requires_grad=False))
        b.steps.append(RequiresGrad(name, True))


def _leaf_setitem(b: ProgramBuilder) -> None:
    """`x[index] = v` on a leaf that requires grad (a view of it changes in place)."""
    leaves = [o for o in b.tracked() if o.name in b.leaves and o.shape]
    b.setitem(b.pick(leaves) if leaves else b.leaf(requires_grad=True, shape=(2,)))


def _index_out_of_range(b: ProgramBuilder) -> None:
    """`x[n]` for a dim of size n, or `x[:, [n]]`: IndexError."""
    x = b.tensor(min_rank=1)
    dim = b.integer(0, len(x.shape) - 1)
    size = x.shape[dim]
    entry: Arg = size if b.boolean() else (-size - 1 if b.boolean() else IntList((size,)))
    index = (*(Slice(),) * dim, entry)
    b.steps.append(ApplyOp((b.new_name(),), "getitem", (Ref(x.name), index)))


_MORE_ERRORS: dict[str, Action] = {
    "bad_hook_result": _bad_hook_result, "assign_grad_mismatch": _assign_grad_mismatch,
    "integer_requires_grad": _integer_requires_grad, "leaf_setitem": _leaf_setitem,
    "index_out_of_range": _index_out_of_range,
}


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
    go_on: int = 3  # after min_body, each further step with probability go_on / (go_on + 1)


def _single_backward(b: ProgramBuilder) -> None:
    """One backward (or autograd.grad) from all results at once (what shrinking keeps: it
    can then delete any op but the one that matters), or from one of them."""
    root = None if b.integer(0, 3) == 3 else b.whole_root()
    if b.boolean():
        b.backward(root)
    else:
        b.autograd_grad(root)


def _repeated_backward(b: ProgramBuilder) -> None:
    """Backward passes over the same root (maybe retaining the graph), maybe new roots."""
    root = b.tracked_result()
    for _ in range(b.integer(2, 3)):
        if b.boolean():
            root = b.tracked_result()
        b.backward(root, retain_graph=b.choice((True, None, False)))


def _higher_order(b: ProgramBuilder) -> None:
    """A gradient taken with create_graph=True (by autograd.grad, or by backward and then
    read from `.grad`), transformed, and differentiated again."""
    if b.boolean():
        root = b.backward(create_graph=True)
        leaves = [o for o in b.tracked() if o.name in b.with_grad & root.depends_on]
        if not leaves:
            return
        leaf = b.pick(leaves)
        grads: tuple[Operand, ...] = (b.read_grad(leaf, create_graph=True),)
        if b.boolean():  # so that the second backward's result is not added to the first
            b.steps.append(ResetGrad(leaf.name, "none"))
    else:
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


_SMOOTH_OPS = weighted(tuple(name for name, spec in CATALOGUE.items() if spec.smooth))
# Behaviours about gradients draw ops gradients flow through (masks still come as needed).
_GRADIENT_OPS = BuildConfig(ops=weighted(tuple(name for name, spec in CATALOGUE.items()
                                               if spec.differentiable)))

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("values", (op_action,), config=BuildConfig(leaves_require_grad=False),
           max_body=12),
    Recipe("metadata",
           _weighted((op_action, 4), (requires_grad_action, 1), (retain_grad_action, 1)),
           config=BuildConfig(leaves_require_grad=None)),
    Recipe("gradients", (op_action,), finale=_single_backward, config=_GRADIENT_OPS,
           max_body=12),
    Recipe("accumulation",
           _weighted((op_action, 3), (backward_action, 2), (reset_grad_action, 1),
                     (retain_grad_action, 1), (assign_grad_action, 1),
                     (create_graph_backward_action, 1)),
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
    Recipe("views", _weighted((op_action, 2), (view_inplace_action, 2), (setitem_action, 2)),
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

    def body_step(count: int) -> Callable[[ProgramBuilder], bool]:
        # A "go on?" draw before each step, like st.lists. Also before the first steps and
        # after the last one, which ignore it: every step has the same shape, and the body
        # ends with the same draw, so that shrinking deletes a step by deleting its span of
        # choices, with nothing elsewhere to keep in sync.
        def step(builder: ProgramBuilder) -> bool:
            stop = builder.integer(0, spec.go_on) == 0
            if count == spec.max_body or (stop and count >= spec.min_body):
                return False
            builder.choice(spec.menu)(builder)
            return True

        return step

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Program:
        builder = ProgramBuilder(draw, build_config)
        builder.leaf()
        for count in range(spec.max_body + 1):
            if not builder.unit(body_step(count)):
                break
        if spec.finale is not None:
            spec.finale(builder)
        return builder.program()

    return build()
