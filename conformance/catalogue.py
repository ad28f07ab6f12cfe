"""The kit's catalogue of ops: one `OpSpec` entry per op (or per calling form of an op).

An entry says everything the kit needs about an op:
- how a torch-like engine calls it (`CallStyle`: operator, method, function, attribute,
  getitem), used both to invoke it and to render it as source in reports and reproducers;
- how to draw a well-formed call (`signature`: operands, kwargs, output shapes), from a
  handful of shared signature functions (unary, broadcasting binary, reduction, ...);
- where its inputs are well-conditioned (`domain`) and what range its output covers
  (`image`), so generated programs stay where float32 is stable;
- where it is discontinuous (`near_critical`): ties, kinks and bounds where a rounding
  difference between engines may flip the result (see compare.py);
- which torch ops a call reaches (`covers`): `x[0]` is a `select`, `x @ y` one of
  dot/mv/mm/bmm (tests check that together the entries reach every op an engine has).

Adding an op is adding an entry to `_entries()` (and, for a new calling convention, a
signature function). Entry names are the torch op name, with a suffix after a dot for a
second form of the same op (`pow.tensor_exponent`); `F.` entries are
`torch.nn.functional`.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

from conformance.program import (
    ApplyOp,
    Arg,
    DType,
    DTypeArg,
    EllipsisIndex,
    IntList,
    Ref,
    Slice,
    Values,
    arg_source,
    index_source,
    python_index,
)

T = TypeVar("T")

# --------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    """A closed range every element of a tensor lies in (what generation knows of values)."""

    lo: float
    hi: float

    @staticmethod
    def of(*values: float) -> Interval:
        return Interval(min(values), max(values))

    def contains_zero(self, radius: float = 0.0) -> bool:
        return self.lo <= radius and self.hi >= -radius

    def magnitude(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    def union(self, other: Interval) -> Interval:
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi))


@dataclass(frozen=True)
class Domain:
    """Where an operand is well-conditioned: within [lo, hi] and, if `away_from_zero`,
    with every element at least that far from 0. With `grid_values`, only tensors whose
    elements are exact leaf values qualify (for ops that rounding noise would break, such
    as std of a slice that should be constant)."""

    lo: float = -math.inf
    hi: float = math.inf
    away_from_zero: float = 0.0
    grid_values: bool = False

    def admits(self, interval: Interval) -> bool:
        if interval.lo < self.lo or interval.hi > self.hi:
            return False
        return not (self.away_from_zero and interval.contains_zero(self.away_from_zero * 0.999))

    def admits_value(self, value: float) -> bool:
        return self.admits(Interval(value, value))


ANYWHERE = Domain()
POSITIVE = Domain(lo=0.25)
NONZERO = Domain(away_from_zero=0.5)
EXP_DOMAIN = Domain(hi=4.0)  # e**4 ~ 55: keeps later ops on moderate magnitudes
MODERATE = Domain(lo=-3.0, hi=3.0)

# Largest magnitude a generated op may produce: beyond it float32 rounding of later ops
# dwarfs assert_close's default tolerances.
MAX_MAGNITUDE = 1e3


# --------------------------------------------------------------------------- call styles


CallForm = Literal["operator", "method", "function", "attribute", "getitem"]

_BINARY_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": operator.pow, "@": operator.matmul, ">": operator.gt, "<": operator.lt,
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    "&": operator.and_, "|": operator.or_, "^": operator.xor,
}
_UNARY_OPERATORS: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "neg": ("-", operator.neg), "~": ("~", operator.invert),
}
# The tensor method each operator needs (what an engine must have for the op to apply).
OPERATOR_DUNDERS: Mapping[str, str] = {
    "+": "__add__", "-": "__sub__", "*": "__mul__", "/": "__truediv__", "**": "__pow__",
    "@": "__matmul__", ">": "__gt__", "<": "__lt__", ">=": "__ge__", "<=": "__le__",
    "==": "__eq__", "!=": "__ne__", "&": "__and__", "|": "__or__", "^": "__xor__",
    "neg": "__neg__", "~": "__invert__",
}


def _resolve_path(module: Any, dotted: str) -> Any:
    return functools.reduce(getattr, dotted.split("."), module)


@dataclass(frozen=True)
class CallStyle:
    """How a torch-like engine spells the op: `a * b`, `a.exp()`, `torch.maximum(a, b)`,
    `torch.nn.functional.relu(a)` (a dotted function name), `a.T`, `a[i]`."""

    form: CallForm
    name: str

    def invoker(self, module: Any) -> Callable[[Sequence[Any], Mapping[str, Any]], Any]:
        """A fast callable `(args, kwargs) -> result` for a torch-like `module`.

        Program-level arguments the engine has its own objects for (`DTypeArg`) are
        translated here; getitem's index arrives already as a Python index.
        """
        if self.form == "operator":
            if self.name in _UNARY_OPERATORS:
                unary = _UNARY_OPERATORS[self.name][1]
                return lambda args, kwargs: unary(args[0])
            binary = _BINARY_OPERATORS[self.name]
            return lambda args, kwargs: binary(args[0], args[1])
        if self.form == "attribute":
            name = self.name
            return lambda args, kwargs: getattr(args[0], name)
        if self.form == "getitem":
            return lambda args, kwargs: args[0][args[1]]
        call: Callable[..., Any]
        if self.form == "method":
            name = self.name

            def call(*args: Any, **kwargs: Any) -> Any:
                return getattr(args[0], name)(*args[1:], **kwargs)
        else:
            call = _resolve_path(module, self.name)

        def invoke(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
            if any(isinstance(a, DTypeArg) for a in args):
                args = [getattr(module, a.name) if isinstance(a, DTypeArg) else a for a in args]
            return call(*args, **kwargs)

        return invoke

    def available(self, module: Any, tensor_type: type) -> bool:
        """Whether a torch-like module has what this call needs."""
        if self.form == "operator":
            return hasattr(tensor_type, OPERATOR_DUNDERS[self.name])
        if self.form in ("method", "attribute"):
            return hasattr(tensor_type, self.name)
        if self.form == "function":
            try:
                _resolve_path(module, self.name)
            except AttributeError:
                return False
            return True
        return hasattr(tensor_type, "__getitem__")

    def render(self, args: Sequence[str], kwargs: Sequence[tuple[str, str]],
               module: str = "torch") -> str:
        keywords = [f"{key}={value}" for key, value in kwargs]
        if self.form == "operator":
            if self.name in _UNARY_OPERATORS:
                return f"{_UNARY_OPERATORS[self.name][0]}{args[0]}"
            return f"{args[0]} {self.name} {args[1]}"
        if self.form == "method":
            return f"{args[0]}.{self.name}({', '.join([*args[1:], *keywords])})"
        if self.form == "attribute":
            return f"{args[0]}.{self.name}"
        if self.form == "function":
            return f"{module}.{self.name}({', '.join([*args, *keywords])})"
        return f"{args[0]}[{args[1]}]"


def render_call(step: ApplyOp, module: str = "torch") -> str:
    """Source for the call of an `ApplyOp` (without the assignment)."""
    spec = CATALOGUE.get(step.op)
    if spec is None:
        arguments = [arg_source(a) for a in step.args]
        keywords = [f"{k}={arg_source(v)}" for k, v in step.kwargs]
        return f"{module}.{step.op}({', '.join(arguments + keywords)})"
    if spec.call.form == "getitem":
        args = [arg_source(step.args[0]), index_source(step.args[1])]
    else:
        args = [arg_source(a) for a in step.args]
    return spec.call.render(args, [(k, arg_source(v)) for k, v in step.kwargs], module)


def render_assignment(step: ApplyOp) -> str:
    """`outs = call`; a one-element result tuple unpacks as `t1, = ...`."""
    targets = ", ".join(step.outs)
    if len(step.outs) == 1 and returns_tuple(step):
        targets += ","
    return f"{targets} = {render_call(step)}"


# --------------------------------------------------------------------------- operands


@dataclass(frozen=True)
class Operand:
    """What generation knows of a tensor of the program being built."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    interval: Interval
    requires_grad: bool = False
    depends_on: frozenset[str] = frozenset()  # tensors gradients can flow back to
    storage: str = ""  # the tensor whose memory it shares (views, detach); "" for its own
    grid_values: bool = False  # every element an exact leaf value

    @property
    def is_float(self) -> bool:
        return self.dtype in ("float32", "float64")


class OperandSource(Protocol):
    """What a signature may ask of the program builder (implemented in strategies.py)."""

    def choice(self, options: Sequence[T]) -> T:
        """One of `options` (shrinking goes to the first)."""

    def integer(self, lo: int, hi: int) -> int:
        """An int in [lo, hi] (shrinking goes towards 0)."""

    def boolean(self) -> bool: ...

    def shape(self, min_rank: int = 0, max_rank: int = 3) -> tuple[int, ...]:
        """A fresh shape (sizes 1 to 3)."""

    def tensor(self, domain: Domain = ANYWHERE, *, min_rank: int = 0, max_rank: int = 3,
               shape: tuple[int, ...] | None = None, dtype: str | None = None) -> Operand:
        """A float tensor of the program (or a new leaf) in `domain`."""

    def partner(self, shape: tuple[int, ...], domain: Domain = ANYWHERE) -> Operand:
        """A float tensor whose shape broadcasts with `shape`."""

    def fitting(self, shape: tuple[int, ...], dtype: str | None = None,
                domain: Domain = ANYWHERE) -> Operand:
        """A float tensor in `domain` whose shape broadcasts *to* `shape`."""

    def condition(self, shape: tuple[int, ...]) -> Operand:
        """A bool tensor whose shape broadcasts with `shape`."""

    def constant(self, values: Values) -> Operand:
        """A new leaf with exactly these values (index tensors, masks, targets)."""


@dataclass(frozen=True)
class OpCall:
    """A drawn call: arguments, kwargs, and what generation predicts of each output."""

    args: tuple[Arg, ...]
    kwargs: tuple[tuple[str, Arg], ...]
    out_shapes: tuple[tuple[int, ...], ...]
    out_dtypes: tuple[str, ...]
    out_interval: Interval
    fan_in: int = 1  # elements combined into one output element (for tolerances)


Signature = Callable[[OperandSource, "OpSpec"], OpCall]
Image = Callable[[Sequence[Interval]], Interval]
NearCritical = Callable[[Sequence[np.ndarray], Mapping[str, Any], float, float], bool]


def _single(kwargs: Mapping[str, Any]) -> bool:
    return False


def _always(kwargs: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class OpSpec:
    """One op of the catalogue (see the module docstring)."""

    name: str
    call: CallStyle
    signature: Signature
    image: Image
    domain: Domain = ANYWHERE
    other_domain: Domain = ANYWHERE  # of the second operand, for broadcasting binary ops
    differentiable: bool = True
    smooth: bool = True  # differentiable everywhere in its domain (finite differences apply)
    near_critical: NearCritical | None = None
    scalar_choices: tuple[float, ...] = ()  # for ops taking a Python scalar (pow exponents)
    tuple_result: Callable[[Mapping[str, Any]], bool] = _single  # returns a tuple of tensors
    view: bool = False  # its result may share memory with its first operand (or be it)
    covers: tuple[str, ...] = field(default=())  # torch ops reached; default: (name,)
    weight: int = 1  # how often generation draws it, relative to the others

    def torch_ops(self) -> tuple[str, ...]:
        return self.covers or (self.name,)


# --------------------------------------------------------------------------- images


def _monotone(function: Callable[[float], float]) -> Image:
    return lambda intervals: Interval.of(function(intervals[0].lo), function(intervals[0].hi))


def _identity(intervals: Sequence[Interval]) -> Interval:
    return intervals[0]


def _union(intervals: Sequence[Interval]) -> Interval:
    return functools.reduce(Interval.union, intervals)


def _products(a: Interval, b: Interval) -> Interval:
    return Interval.of(a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)


def _times(interval: Interval, count: int) -> Interval:
    """The range of a sum of `count` elements of `interval`."""
    return Interval(min(interval.lo * count, interval.lo), max(interval.hi * count, interval.hi))


def _image_add(i: Sequence[Interval]) -> Interval:
    return Interval(i[0].lo + i[1].lo, i[0].hi + i[1].hi)


def _image_sub(i: Sequence[Interval]) -> Interval:
    return Interval(i[0].lo - i[1].hi, i[0].hi - i[1].lo)


def _image_mul(i: Sequence[Interval]) -> Interval:
    return _products(i[0], i[1])


def _image_div(i: Sequence[Interval]) -> Interval:
    return _products(i[0], Interval.of(1 / i[1].lo, 1 / i[1].hi))


def _image_reciprocal(i: Sequence[Interval]) -> Interval:
    return Interval.of(1 / i[0].lo, 1 / i[0].hi)


def _image_abs(i: Sequence[Interval]) -> Interval:
    lo, hi = i[0].lo, i[0].hi
    if lo >= 0:
        return Interval(lo, hi)
    if hi <= 0:
        return Interval(-hi, -lo)
    return Interval(0.0, max(-lo, hi))


def _image_relu(i: Sequence[Interval]) -> Interval:
    return Interval(max(i[0].lo, 0.0), max(i[0].hi, 0.0))


def _sigmoid(x: float) -> float:
    # Two forms, so that exp never overflows.
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _image_sigmoid(i: Sequence[Interval]) -> Interval:
    return Interval.of(_sigmoid(i[0].lo), _sigmoid(i[0].hi))


def _image_periodic(i: Sequence[Interval]) -> Interval:
    return Interval(-1.0, 1.0)


def _image_sign(i: Sequence[Interval]) -> Interval:
    return Interval(float(np.sign(i[0].lo)), float(np.sign(i[0].hi)))


def _image_rounded(i: Sequence[Interval]) -> Interval:
    return Interval(math.floor(i[0].lo), math.ceil(i[0].hi))


def _image_pow(i: Sequence[Interval]) -> Interval:
    base, exponent = i[0], i[1].lo
    points = [base.lo, base.hi] + ([0.0] if base.contains_zero() and exponent > 0 else [])
    return Interval.of(*(float(p) ** exponent for p in points))


def _image_square(i: Sequence[Interval]) -> Interval:
    return _image_pow([i[0], Interval(2, 2)])


def _image_pow_positive_base(i: Sequence[Interval]) -> Interval:
    """b ** e for b > 0: monotone in each argument, so the extremes are at the corners."""
    base, exponent = i[0], i[1]
    return Interval.of(*(b**e for b in (base.lo, base.hi) for e in (exponent.lo, exponent.hi)))


def _image_maximum(i: Sequence[Interval]) -> Interval:
    return Interval(max(i[0].lo, i[1].lo), max(i[0].hi, i[1].hi))


def _image_minimum(i: Sequence[Interval]) -> Interval:
    return Interval(min(i[0].lo, i[1].lo), min(i[0].hi, i[1].hi))


def _image_union_of_branches(i: Sequence[Interval]) -> Interval:
    return Interval(min(i[1].lo, i[2].lo), max(i[1].hi, i[2].hi))


def _unit_interval(i: Sequence[Interval]) -> Interval:
    """Booleans (as 0 and 1), probabilities."""
    return Interval(0.0, 1.0)


# --------------------------------------------------------------------------- near-critical


def _near(values: np.ndarray, points: np.ndarray | float, atol: float, rtol: float) -> bool:
    """True if some element lies within tolerance of a critical point."""
    distance = np.abs(values - points)
    return bool(np.any(distance <= atol + rtol * np.abs(values)))


def _near_zero(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
               atol: float, rtol: float) -> bool:
    return _near(inputs[0], 0.0, atol, rtol)


def _near_integer(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                  atol: float, rtol: float) -> bool:
    values = np.asarray(inputs[0], dtype=np.float64)
    return _near(values, np.round(values), atol, rtol)


def _near_half_integer(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                       atol: float, rtol: float) -> bool:
    values = np.asarray(inputs[0], dtype=np.float64)
    return _near(values, np.floor(values) + 0.5, atol, rtol)


def _near_bounds(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                 atol: float, rtol: float) -> bool:
    return any(_near(inputs[0], kwargs[key], atol, rtol)
               for key in ("min", "max") if kwargs.get(key) is not None)


def _near_tie_between(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                      atol: float, rtol: float) -> bool:
    a, b = (np.asarray(x, dtype=np.float64) for x in inputs[:2])
    return _near(a, b, atol, rtol)


def _near_any_tie(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                  atol: float, rtol: float) -> bool:
    """Any two operands within tolerance (clamp with tensor bounds: x, min, max)."""
    arrays = [np.asarray(x, dtype=np.float64) for x in inputs]
    return any(_near(a, b, atol, rtol) for a, b in itertools.combinations(arrays, 2))


def _near_tie_within(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                     atol: float, rtol: float) -> bool:
    """Two elements within tolerance (conservatively: anywhere in the tensor)."""
    ordered = np.sort(np.asarray(inputs[0], dtype=np.float64).ravel())
    return ordered.size > 1 and _near(ordered[1:], ordered[:-1], atol, rtol)


def _near_norm_kink(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                    atol: float, rtol: float) -> bool:
    """p-norms: |x| has a kink at 0 (p <= 1; p = 0 counts nonzeros), the inf-norms split
    ties of |x|."""
    magnitudes = [np.abs(np.asarray(inputs[0], dtype=np.float64))]
    return _near_zero(inputs, kwargs, atol, rtol) or _near_tie_within(
        magnitudes, kwargs, atol, rtol)


# --------------------------------------------------------------------------- signatures
# Each draws one well-formed call of `spec` from the builder (`src`) and predicts its result.


def scalar_grid(domain: Domain) -> tuple[float, ...]:
    return tuple(v for v in SCALARS if domain.admits_value(v))


# Python scalars used as operands: simple first (hypothesis shrinks towards the start),
# including ints because torch promotes them differently from floats in some places.
SCALARS: tuple[float, ...] = (2.0, 1.0, -1.0, 0.5, 3, -2.0, 1.5, 2, -0.5)


def promote(*operands: Operand) -> str:
    """torch's result dtype for float tensors: 0-dim tensors count only if all are 0-dim
    (like Python numbers, they do not widen a tensor of the same kind)."""
    dimensioned = [o for o in operands if o.shape] or operands
    return "float64" if any(o.dtype == "float64" for o in dimensioned) else "float32"


def _call(args: Sequence[Arg], shape: tuple[int, ...], dtype: str, image: Interval,
          kwargs: Sequence[tuple[str, Arg]] = (), fan_in: int = 1) -> OpCall:
    """An OpCall with one result."""
    return OpCall(tuple(args), tuple(kwargs), (shape,), (dtype,), image, fan_in)


def unary(src: OperandSource, spec: OpSpec) -> OpCall:
    x = src.tensor(spec.domain)
    return _call((Ref(x.name),), x.shape, x.dtype, spec.image([x.interval]))


def to_bool(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.isnan()` and friends: a float tensor in, a bool tensor out."""
    x = src.tensor(spec.domain)
    return _call((Ref(x.name),), x.shape, "bool", _unit_interval([x.interval]))


def binary(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a <op> b` with broadcasting; either side may be a Python scalar."""
    right = spec.other_domain
    form = src.choice(("tensors", "scalar_right", "scalar_left"))
    if form == "scalar_left":
        x = src.tensor(right)
        scalar = src.choice(SCALARS)
        image = spec.image([Interval(scalar, scalar), x.interval])
        return _call((scalar, Ref(x.name)), x.shape, x.dtype, image)
    x = src.tensor(spec.domain)
    if form == "scalar_right":
        scalar = src.choice(scalar_grid(right))
        image = spec.image([x.interval, Interval(scalar, scalar)])
        return _call((Ref(x.name), scalar), x.shape, x.dtype, image)
    y = src.partner(x.shape, right)
    return _call((Ref(x.name), Ref(y.name)), np.broadcast_shapes(x.shape, y.shape),
                 promote(x, y), spec.image([x.interval, y.interval]))


def binary_tensors(src: OperandSource, spec: OpSpec) -> OpCall:
    """`torch.f(a, b)` over two broadcasting tensors."""
    x = src.tensor(spec.domain)
    y = src.partner(x.shape, spec.other_domain)
    return _call((Ref(x.name), Ref(y.name)), np.broadcast_shapes(x.shape, y.shape),
                 promote(x, y), spec.image([x.interval, y.interval]))


def scalar_base(src: OperandSource, spec: OpSpec) -> OpCall:
    """`2 ** a`: a positive Python number as the base."""
    x = src.tensor(spec.domain)
    base = src.choice(spec.scalar_choices)
    image = spec.image([Interval(base, base), x.interval])
    return _call((base, Ref(x.name)), x.shape, x.dtype, image)


def reversed_subtraction(src: OperandSource, spec: OpSpec) -> OpCall:
    """`torch.rsub(a, b, alpha=..)` = b - alpha * a, b a tensor or a Python number."""
    x = src.tensor()
    alpha = src.choice((1, 2, 0.5))
    kwargs = () if alpha == 1 else (("alpha", alpha),)
    scaled = _products(x.interval, Interval(alpha, alpha))
    if src.boolean():
        scalar = src.choice(SCALARS)
        image = _image_sub([Interval(scalar, scalar), scaled])
        return _call((Ref(x.name), scalar), x.shape, x.dtype, image, kwargs)
    y = src.partner(x.shape)
    return _call((Ref(x.name), Ref(y.name)), np.broadcast_shapes(x.shape, y.shape),
                 promote(x, y), _image_sub([y.interval, scaled]), kwargs)


def compare_to(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a > b` and friends (a bool mask; used to build `where` conditions)."""
    x = src.tensor()
    if src.boolean():
        threshold = src.choice(SCALARS)
        return _call((Ref(x.name), threshold), x.shape, "bool", Interval(0, 1))
    y = src.partner(x.shape)
    return _call((Ref(x.name), Ref(y.name)), np.broadcast_shapes(x.shape, y.shape), "bool",
                 Interval(0, 1))


def logical(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a & b`, `torch.logical_and(a, b)` on bool tensors."""
    a = src.condition(src.shape())
    b = src.condition(a.shape)
    return _call((Ref(a.name), Ref(b.name)), np.broadcast_shapes(a.shape, b.shape), "bool",
                 Interval(0, 1))


def logical_unary(src: OperandSource, spec: OpSpec) -> OpCall:
    """`~a`, `a.logical_not()` on a bool tensor."""
    a = src.condition(src.shape())
    return _call((Ref(a.name),), a.shape, "bool", Interval(0, 1))


def power(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a ** p` for a Python scalar exponent; the base domain depends on p."""
    exponent = src.choice(spec.scalar_choices)
    # Non-integer powers need a positive base; negative ones a base away from 0.
    domain = POSITIVE if not float(exponent).is_integer() else (
        ANYWHERE if exponent >= 0 else NONZERO)
    x = src.tensor(domain)
    image = spec.image([x.interval, Interval(exponent, exponent)])
    return _call((Ref(x.name), exponent), x.shape, x.dtype, image)


def _dim(src: OperandSource, rank: int) -> int:
    """A dim of a tensor of `rank`, maybe negative (a 0-dim tensor takes 0 or -1)."""
    if rank == 0:
        return src.choice((0, -1))
    return src.integer(-rank, rank - 1)


def _dims(src: OperandSource, rank: int, allow_tuple: bool) -> tuple[int, ...] | int | None:
    """A `dim` kwarg: None (full reduction) first, then a single dim, then a tuple."""
    choice = src.choice(("all", "one", "tuple") if allow_tuple and rank > 1 else ("all", "one"))
    if choice == "all":
        return None
    if choice == "one":
        return _dim(src, rank)
    picked = tuple(d - rank if src.boolean() else d for d in range(rank) if src.boolean())
    return picked or (0,)


def _axes(rank: int, dims: tuple[int, ...] | int | None) -> set[int]:
    if rank == 0:
        return set()
    if dims is None:
        return set(range(rank))
    return {d % rank for d in (dims if isinstance(dims, tuple) else (dims,))}


def _reduced_shape(shape: tuple[int, ...], dims: tuple[int, ...] | int | None,
                   keepdim: bool) -> tuple[tuple[int, ...], int]:
    """The shape after reducing `dims` (None: all), and how many elements each result has."""
    axes = _axes(len(shape), dims)
    kept = tuple((1 if keepdim else None) if i in axes else n for i, n in enumerate(shape))
    fan_in = math.prod(shape[i] for i in axes)
    return tuple(n for n in kept if n is not None), fan_in


def _reduction_kwargs(src: OperandSource, x: Operand, allow_tuple: bool,
                      dims_required: bool = False,
                      ) -> tuple[list[tuple[str, Arg]], tuple[int, ...], int]:
    """(kwargs, result shape, fan-in) for `dim=..., keepdim=...` or a full reduction."""
    dims = _dims(src, len(x.shape), allow_tuple)
    if dims is None and dims_required:
        dims = tuple(range(len(x.shape))) if x.shape else 0
    if dims is None:
        shape, fan_in = _reduced_shape(x.shape, None, False)
        return [], shape, fan_in
    keepdim = src.boolean()
    shape, fan_in = _reduced_shape(x.shape, dims, keepdim)
    return [("dim", dims), ("keepdim", keepdim)], shape, fan_in


def reduction(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.sum()`, `a.sum(dim=.., keepdim=..)` (dims may be a tuple, dims negative)."""
    x = src.tensor(spec.domain)
    kwargs, shape, fan_in = _reduction_kwargs(src, x, allow_tuple=True)
    image = _times(x.interval, fan_in) if spec.name == "sum" else spec.image([x.interval])
    return _call((Ref(x.name),), shape, x.dtype, image, kwargs, fan_in)


def reduction_required_dim(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.logsumexp(dim=.., keepdim=..)`: a dim (or tuple) is required."""
    x = src.tensor(spec.domain)
    kwargs, shape, fan_in = _reduction_kwargs(src, x, allow_tuple=True, dims_required=True)
    image = Interval(x.interval.lo, x.interval.hi + math.log(fan_in))
    return _call((Ref(x.name),), shape, x.dtype, image, kwargs, fan_in)


def product(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.prod()` or `a.prod(dim=.., keepdim=..)` (one dim only)."""
    x = src.tensor(spec.domain)
    kwargs, shape, fan_in = _reduction_kwargs(src, x, allow_tuple=False)
    magnitude = x.interval.magnitude() ** fan_in
    image = Interval(x.interval.lo ** fan_in, x.interval.hi ** fan_in) if x.interval.lo >= 0 \
        else Interval(-magnitude, magnitude)
    return _call((Ref(x.name),), shape, x.dtype, image, kwargs, fan_in)


def variance(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.var(dim=.., correction=.., keepdim=..)`, with more elements than the correction
    (fewer is an edge: a warning and inf/nan)."""
    x = src.tensor(spec.domain)
    kwargs, shape, fan_in = _reduction_kwargs(src, x, allow_tuple=True)
    correction = src.choice((None, 0, 1)) if fan_in > 1 else 0
    if correction is not None:
        kwargs.append(("correction", correction))
    dof = fan_in - (1 if correction is None else correction)
    spread = (x.interval.hi - x.interval.lo) ** 2 * fan_in / max(dof, 1)
    image = Interval(0.0, spread if spec.name == "var" else math.sqrt(spread))
    return _call((Ref(x.name),), shape, x.dtype, image, kwargs, fan_in)


def extremum(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.max()` (one output) or `a.max(dim=.., keepdim=..)` (values and indices)."""
    x = src.tensor(spec.domain)
    dims = _dims(src, len(x.shape), allow_tuple=False)
    if dims is None:
        return _call((Ref(x.name),), (), x.dtype, x.interval)
    keepdim = src.boolean()
    shape, _ = _reduced_shape(x.shape, dims, keepdim)
    kwargs: tuple[tuple[str, Arg], ...] = (("dim", dims), ("keepdim", keepdim))
    return OpCall((Ref(x.name),), kwargs, (shape, shape), (x.dtype, "int64"), x.interval)


def extreme_values(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.amax()`, `a.amax(dim=.., keepdim=..)` (dims may be a tuple)."""
    x = src.tensor(spec.domain)
    kwargs, shape, fan_in = _reduction_kwargs(src, x, allow_tuple=True)
    return _call((Ref(x.name),), shape, x.dtype, x.interval, kwargs, fan_in)


def arg_extremum(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.argmax()` or `a.argmax(dim=.., keepdim=..)`: int64 indices."""
    x = src.tensor(spec.domain)
    kwargs, shape, _ = _reduction_kwargs(src, x, allow_tuple=False)
    return _call((Ref(x.name),), shape, "int64", Interval(0, max(1, math.prod(x.shape))),
                 kwargs)


def vector_norm(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.norm()`, `a.norm(p=.., dim=.., keepdim=..)`; p from `scalar_choices`."""
    x = src.tensor(spec.domain)
    kwargs, shape, fan_in = _reduction_kwargs(src, x, allow_tuple=True)
    p = src.choice(spec.scalar_choices)
    if p != 2 or src.boolean():
        kwargs.insert(0, ("p", p))
    if p == 0:  # the number of nonzero elements
        return _call((Ref(x.name),), shape, x.dtype, Interval(0.0, float(fan_in)), kwargs, fan_in)
    root = 1.0 if math.isinf(p) else fan_in ** (1 / p)  # (|x|_p <= n^(1/p) max |x|)
    return _call((Ref(x.name),), shape, x.dtype,
                 Interval(0.0, x.interval.magnitude() * root), kwargs, fan_in)


def along_dim(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.softmax(dim=..)`, `a.cumsum(dim=..)`: same shape, one dim combined."""
    x = src.tensor(spec.domain)
    dim = _dim(src, len(x.shape))
    fan_in = x.shape[dim] if x.shape else 1
    interval = x.interval
    if spec.name == "cumsum":
        image = _times(interval, fan_in)
    elif spec.name.endswith("log_softmax"):
        image = Interval(interval.lo - interval.hi - math.log(fan_in), 0.0)
    else:
        image = spec.image([interval])
    return _call((Ref(x.name),), x.shape, x.dtype, image, (("dim", dim),), fan_in)


def reshape(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.view(shape)` / `a.reshape(shape)` to another factorisation (maybe with -1)."""
    x = src.tensor()
    size = math.prod(x.shape)
    shape = src.choice(_factorisations(size))
    target: tuple[int, ...] = shape
    if shape and src.boolean():
        position = src.integer(0, len(shape) - 1)
        target = (*shape[:position], -1, *shape[position + 1:])
    return _call((Ref(x.name), target), shape, x.dtype, x.interval)


@functools.cache
def _factorisations(size: int, max_rank: int = 3) -> tuple[tuple[int, ...], ...]:
    """Shapes of `size` elements, fewest dims first."""
    found: list[tuple[int, ...]] = [()] if size == 1 else []
    for rank in range(1, max_rank + 1):
        for dims in itertools.product(range(1, size + 1), repeat=rank):
            if math.prod(dims) == size:
                found.append(dims)
    return tuple(found)


def flatten(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.flatten()` or `a.flatten(start_dim, end_dim)`."""
    x = src.tensor()
    rank = len(x.shape)
    if rank == 0 or not src.boolean():
        return _call((Ref(x.name),), (math.prod(x.shape),), x.dtype, x.interval)
    start = src.integer(0, rank - 1)
    end = src.integer(start, rank - 1)
    shape = (*x.shape[:start], math.prod(x.shape[start:end + 1]), *x.shape[end + 1:])
    negative = src.boolean()
    kwargs = (("start_dim", start), ("end_dim", end - rank if negative else end))
    return _call((Ref(x.name),), shape, x.dtype, x.interval, kwargs)


def transpose(src: OperandSource, spec: OpSpec) -> OpCall:
    x = src.tensor()
    rank = len(x.shape)
    d0, d1 = _dim(src, rank), _dim(src, rank)
    shape = list(x.shape)
    if rank:
        shape[d0], shape[d1] = shape[d1], shape[d0]
    return _call((Ref(x.name), d0, d1), tuple(shape), x.dtype, x.interval)


def matrix_transpose(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.t()` (rank <= 2) and `a.mT` (rank >= 2): the last two dims swap."""
    x = src.tensor(min_rank=2) if spec.name == "mT" else src.tensor(max_rank=2)
    shape = x.shape[:-2] + x.shape[::-1][:2] if len(x.shape) >= 2 else x.shape
    return _call((Ref(x.name),), shape, x.dtype, x.interval)


def reverse_dims(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.T`: every dim reversed (deprecated, with a warning, unless a is a matrix)."""
    x = src.tensor()
    return _call((Ref(x.name),), x.shape[::-1], x.dtype, x.interval)


def _permutation(src: OperandSource, rank: int) -> tuple[int, ...]:
    remaining = list(range(rank))
    order = []
    while remaining:
        order.append(remaining.pop(src.integer(0, len(remaining) - 1)))
    return tuple(order)


def permute(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.permute((1, 0, -1))`: any order of the dims (some negative)."""
    x = src.tensor()
    rank = len(x.shape)
    order = _permutation(src, rank)
    dims = tuple(d - rank if src.boolean() else d for d in order)
    return _call((Ref(x.name), dims), tuple(x.shape[d] for d in order), x.dtype, x.interval)


def unsqueeze(src: OperandSource, spec: OpSpec) -> OpCall:
    x = src.tensor()
    rank = len(x.shape)
    dim = src.integer(-rank - 1, rank)
    at = dim % (rank + 1)
    return _call((Ref(x.name), dim), (*x.shape[:at], 1, *x.shape[at:]), x.dtype, x.interval)


def squeeze(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.squeeze()` (every size-1 dim), `a.squeeze(d)` or `a.squeeze((d0, d1))`."""
    x = src.tensor()
    rank = len(x.shape)
    if spec.name == "squeeze":
        return _call((Ref(x.name),), tuple(n for n in x.shape if n != 1), x.dtype, x.interval)
    if spec.name == "squeeze.dim" or rank == 0:
        dim = _dim(src, rank)
        axes = _axes(rank, dim)
        args: tuple[Arg, ...] = (Ref(x.name), dim)
    else:
        dims = tuple(d - rank if src.boolean() else d for d in range(rank) if src.boolean())
        axes = _axes(rank, dims)
        args = (Ref(x.name), dims)
    shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return _call(args, shape, x.dtype, x.interval)


def _expanded(src: OperandSource, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape `shape` broadcasts to: size-1 dims stretched, maybe a new leading dim."""
    stretched = tuple(src.integer(1, 3) if n == 1 else n for n in shape)
    return ((src.integer(1, 2),) if src.boolean() else ()) + stretched


def expand(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.expand(sizes)` (-1 keeps a size), `a.broadcast_to(shape)`, `a.expand_as(b)`."""
    x = src.tensor()
    target = _expanded(src, x.shape)
    if spec.name == "expand_as":
        other = src.tensor(shape=target)
        return _call((Ref(x.name), Ref(other.name)), target, x.dtype, x.interval)
    sizes = target
    if spec.name == "expand":
        lead = len(target) - len(x.shape)
        sizes = tuple(-1 if i >= lead and n == x.shape[i - lead] and src.boolean() else n
                      for i, n in enumerate(target))
    return _call((Ref(x.name), sizes), target, x.dtype, x.interval)


def narrow(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.narrow(dim, start, length)` (start may be negative)."""
    x = src.tensor(min_rank=1)
    dim = _dim(src, len(x.shape))
    size = x.shape[dim]
    start = src.integer(0, size - 1)
    length = src.integer(0, size - start)
    shape = list(x.shape)
    shape[dim] = length
    first = start - size if src.boolean() else start
    return _call((Ref(x.name), dim, first, length), tuple(shape), x.dtype, x.interval)


def select(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.select(dim, index)` (both may be negative)."""
    x = src.tensor(min_rank=1)
    dim = _dim(src, len(x.shape))
    size = x.shape[dim]
    index = src.integer(-size, size - 1)
    shape = x.shape[:dim % len(x.shape)] + x.shape[dim % len(x.shape) + 1:]
    return _call((Ref(x.name), dim, index), shape, x.dtype, x.interval)


# ----------------------------------------------------------------- indexing


def torch_index_shape(shape: tuple[int, ...], index: Any) -> tuple[int, ...]:
    """The shape `x[index]` has in torch, for a Python index with NumPy index arrays.

    torch applies ints, slices, None and `...` first, as views, then the advanced entries
    together (NumPy's rules for those); so `x[0, :, [0, 1]]` of a (2, 3, 4) tensor is
    (3, 2) where NumPy says (2, 3).
    """
    items = index if isinstance(index, tuple) else (index,)
    consumed = sum(0 if item is None or item is Ellipsis else
                   max(item.ndim, 1) if isinstance(item, np.ndarray) and item.dtype == bool
                   else 1 for item in items)
    at = next((i for i, item in enumerate(items) if item is Ellipsis), None)
    if at is not None:
        items = items[:at] + (slice(None),) * (len(shape) - consumed) + items[at + 1:]
    view, dim = np.empty(shape), 0
    rest: list[Any] = []  # what is left for the advanced stage
    for item in items:
        if item is None:
            view = np.expand_dims(view, dim)
            rest.append(slice(None))
            dim += 1
        elif isinstance(item, int):
            view = np.take(view, item, axis=dim)
        elif isinstance(item, slice):
            view = view[(slice(None),) * dim + (item,)]
            rest.append(slice(None))
            dim += 1
        else:
            array = np.asarray(item)
            rest.append(array)
            dim += max(array.ndim, 1) if array.dtype == bool else 1
    if all(isinstance(item, slice) for item in rest):
        return tuple(view.shape)
    return tuple(view[tuple(rest)].shape)


def _basic_entry(src: OperandSource, size: int) -> Arg:
    """An int (maybe negative), `:`, or a slice with bounds and maybe a step."""
    if size == 0:
        return Slice()
    kind = src.choice(("int", "slice", "full"))
    if kind == "int":
        return src.integer(-size, size - 1)
    if kind == "full":
        return Slice()
    start = src.integer(0, size - 1)
    stop = src.integer(start + 1, size)
    step = src.choice((None, 2))
    return Slice(start or None, stop if stop < size else None, step)


def _index_values(src: OperandSource, count: int, size: int, unique: bool) -> tuple[int, ...]:
    """`count` positions along a dim of `size` (negative ones too; repeats unless `unique`)."""
    if unique:
        picked = _permutation(src, size)[:count]
        return tuple(p - size if src.boolean() else p for p in picked)
    return tuple(src.integer(-size, size - 1) for _ in range(count))


def _advanced_entry(src: OperandSource, shape: tuple[int, ...], dim: int, end: int,
                    unique: bool, arrays: dict[str, np.ndarray]) -> tuple[Arg, int]:
    """(entry, dims it consumes): an int list, an int64 index tensor or a bool mask."""
    size = shape[dim]
    kind = src.choice(("list", "tensor", "mask")) if size else "mask"
    if kind == "mask":
        count = src.integer(1, end - dim)
        mask_shape = shape[dim:dim + count]
        mask = tuple(src.boolean() for _ in range(math.prod(mask_shape)))
        operand = src.constant(Values(mask_shape, mask, "bool"))
        arrays[operand.name] = np.array(mask, dtype=bool).reshape(mask_shape)
        return Ref(operand.name), count
    count = src.integer(1, min(size, 3) if unique else 3)
    if kind == "list":
        return IntList(_index_values(src, count, size, unique)), 1
    index_shape = (count,) if unique or not src.boolean() else (count, src.integer(1, 2))
    data = _index_values(src, math.prod(index_shape), size, unique)
    operand = src.constant(Values(index_shape, data, "int64"))
    arrays[operand.name] = np.array(data, dtype=np.int64).reshape(index_shape)
    return Ref(operand.name), 1


def draw_index(src: OperandSource, shape: tuple[int, ...], *, advanced: bool,
               unique: bool = False) -> tuple[Arg, tuple[int, ...]]:
    """An index for a tensor of `shape` and the shape it selects.

    Basic: ints, slices (with steps), `None`, `...`. Advanced: also one int list, int64
    index tensor or bool mask (and maybe a second list after it); `unique` avoids
    repeated positions (writing twice to one element is undefined in torch).
    """
    rank = len(shape)
    named = src.integer(1 if advanced else 0, rank)  # dims the index names explicitly
    ellipsis = src.boolean()
    start = rank - named if ellipsis else 0
    advanced_at = src.integer(start, start + named - 1) if advanced else -1
    entries: list[Arg] = []
    arrays: dict[str, np.ndarray] = {}
    dim, first_length = start, 0
    while dim < start + named:
        if dim == advanced_at:
            entry, consumed = _advanced_entry(src, shape, dim, start + named, unique, arrays)
            if isinstance(entry, IntList):
                first_length = len(entry.items)
        elif first_length and not unique and src.boolean():
            # A second list broadcasting with the first (its length or 1).
            length = src.choice((first_length, 1))
            entry, consumed = IntList(_index_values(src, length, shape[dim], False)), 1
        else:
            entry, consumed = _basic_entry(src, shape[dim]), 1
        entries.append(entry)
        dim += consumed
    if src.boolean():
        entries.insert(src.integer(0, len(entries)), None)
    if ellipsis:
        entries.insert(0, EllipsisIndex())
    index: Arg = entries[0] if len(entries) == 1 else tuple(entries)
    arrays_by_ref = python_index(index, lambda ref: arrays[ref.name])
    return index, torch_index_shape(shape, arrays_by_ref)


def getitem(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a[i]`, `a[1::2]`, `a[None, ..., 0]`; with advanced entries `a[[0, 0, 2]]`,
    `a[mask]`, `a[:, idx]`."""
    advanced = spec.name == "getitem.advanced"
    x = src.tensor(min_rank=1 if advanced else 0)
    index, shape = draw_index(src, x.shape, advanced=advanced)
    return _call((Ref(x.name), index), shape, x.dtype, x.interval)


# ----------------------------------------------------------------- products


def _product_image(x: Operand, y: Operand, inner: int) -> Interval:
    return _times(_products(x.interval, y.interval), inner)


def matmul(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a @ b` for every rank pair from 1-D to 3-D, batch dims broadcasting."""
    x = src.tensor(min_rank=1)
    inner = x.shape[-1]
    rank = src.integer(1, 3)
    if rank == 1:
        shape: tuple[int, ...] = (inner,)
    else:
        batch_x = x.shape[:-2]
        batch: list[int] = []
        for k in range(rank - 2):  # aligned with batch_x from the right
            aligned = len(batch_x) - (rank - 2) + k
            batch.append(src.integer(1, 2) if aligned < 0 else
                         1 if src.boolean() else batch_x[aligned])
        shape = (*batch, inner, src.integer(1, 3))
    # torch's matmul does not promote dtypes: operands share one.
    y = src.tensor(shape=shape, dtype=x.dtype)
    batch_shape = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    out = (*batch_shape, *x.shape[-2:-1], *y.shape[-1:][: len(y.shape) - 1])
    return _call((Ref(x.name), Ref(y.name)), out, x.dtype, _product_image(x, y, inner),
                 fan_in=inner)


def matrix_product(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.mm(b)`, `a.mv(v)`, `a.dot(b)`, `a.bmm(b)`: exact ranks and matching sizes."""
    n, k, p = (src.integer(1, 3) for _ in range(3))
    shapes = {"mm": ((n, k), (k, p), (n, p)), "mv": ((n, k), (k,), (n,)),
              "dot": ((k,), (k,), ()), "bmm": ((p, n, k), (p, k, n), (p, n, n))}
    first, second, out = shapes[spec.name]
    x = src.tensor(shape=first)
    y = src.tensor(shape=second, dtype=x.dtype)
    return _call((Ref(x.name), Ref(y.name)), out, x.dtype, _product_image(x, y, k), fan_in=k)


# ----------------------------------------------------------------- selection


def clamp(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.clamp(min=.., max=..)` with one or both Python-number bounds (min <= max)."""
    x = src.tensor()
    bounds = src.choice(("both", "min", "max"))
    low, high = sorted((float(src.choice(SCALARS)), float(src.choice(SCALARS))))
    kwargs: list[tuple[str, Arg]] = []
    lo, hi = x.interval.lo, x.interval.hi
    if bounds in ("both", "min"):
        kwargs.append(("min", low))
        lo, hi = max(lo, low), max(hi, low)
    if bounds in ("both", "max"):
        kwargs.append(("max", high))
        lo, hi = min(lo, high), min(hi, high)
    return _call((Ref(x.name),), x.shape, x.dtype, Interval(lo, hi), kwargs)


def clamp_one_side(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.clamp_min(v)` / `a.clamp_max(v)`."""
    x = src.tensor()
    bound = float(src.choice(SCALARS))
    image = (_image_maximum if spec.name == "clamp_min" else _image_minimum)(
        [x.interval, Interval(bound, bound)])
    return _call((Ref(x.name), bound), x.shape, x.dtype, image)


def clamp_tensors(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.clamp(lo, hi)`, `a.clamp(lo)`, `a.clamp(None, hi)` with tensor bounds (lo > hi is
    allowed) broadcasting to a's shape (torch computes a larger result, then fails in
    backward). Positional, so that the runner records the bounds' values (near_critical)."""
    x = src.tensor()
    bounds = src.choice(("both", "min", "max"))
    args: list[Arg] = [Ref(x.name)]
    operands, interval = [x], x.interval
    for key in ("min", "max"):
        if bounds in ("both", key):
            bound = src.fitting(x.shape)
            args.append(Ref(bound.name))
            operands.append(bound)
            interval = (_image_maximum if key == "min" else _image_minimum)(
                [interval, bound.interval])
        elif key == "min":
            args.append(None)
    shape = np.broadcast_shapes(*(o.shape for o in operands))
    return _call(args, shape, promote(*operands), interval)


def where(src: OperandSource, spec: OpSpec) -> OpCall:
    """`torch.where(cond, a, b)` with a bool condition; b a tensor or a Python number."""
    x = src.tensor()
    if src.boolean():
        other = src.choice(SCALARS)
        condition = src.condition(x.shape)
        shape = np.broadcast_shapes(x.shape, condition.shape)
        image = x.interval.union(Interval(other, other))
        return _call((Ref(condition.name), Ref(x.name), other), shape, x.dtype, image)
    y = src.partner(x.shape)
    shape = np.broadcast_shapes(x.shape, y.shape)
    condition = src.condition(shape)
    shape = np.broadcast_shapes(shape, condition.shape)
    return _call((Ref(condition.name), Ref(x.name), Ref(y.name)), shape,
                 promote(x, y), x.interval.union(y.interval))


def masked_fill(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.masked_fill(mask, v)`: v a Python number or a 0-dim tensor (MaskedFillBackward1)."""
    x = src.tensor()
    mask = src.condition(x.shape)
    shape = np.broadcast_shapes(x.shape, mask.shape)
    value: Arg
    if src.boolean():
        number = src.choice(SCALARS)
        value, interval = number, Interval(number, number)
    else:
        filler = src.tensor(shape=())
        value, interval = Ref(filler.name), filler.interval
    return _call((Ref(x.name), Ref(mask.name), value), shape, x.dtype,
                 x.interval.union(interval))


# ----------------------------------------------------------------- joining and splitting


def concatenate(src: OperandSource, spec: OpSpec) -> OpCall:
    """`torch.cat((a, b), dim=..)` (dtypes promote) and `torch.stack((a, b), dim=..)`."""
    x = src.tensor(min_rank=0 if spec.name == "stack" else 1)
    rank = len(x.shape)
    count = src.integer(1, 3)
    if spec.name == "stack":
        dim = src.integer(-rank - 1, rank)
        others = [src.tensor(shape=x.shape) for _ in range(count - 1)]
        at = dim % (rank + 1)
        shape = (*x.shape[:at], count, *x.shape[at:])
    else:
        dim = _dim(src, rank)
        others = []
        for _ in range(count - 1):
            sizes = list(x.shape)
            sizes[dim] = src.integer(1, 3)
            others.append(src.tensor(shape=tuple(sizes)))
        total = list(x.shape)
        total[dim] = x.shape[dim] + sum(o.shape[dim] for o in others)
        shape = tuple(total)
    tensors = [x, *others]
    return _call((tuple(Ref(t.name) for t in tensors),), shape,
                 promote(*tensors), _union([t.interval for t in tensors]),
                 (("dim", dim),))


def split(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.split(2, dim=..)`, `a.split([1, 2], dim=..)`, `a.chunk(n, dim=..)`,
    `a.unbind(dim)`: a tuple of views."""
    x = src.tensor(min_rank=1)
    dim = _dim(src, len(x.shape))
    size = x.shape[dim]
    if spec.name == "unbind":
        pieces = [0] * size
        args: tuple[Arg, ...] = (Ref(x.name), dim)
    elif spec.name == "chunk":
        chunks = src.integer(1, 3)
        step = math.ceil(size / chunks)
        pieces = [min(step, size - start) for start in range(0, size, step)]
        args = (Ref(x.name), chunks, dim)
    elif src.boolean():  # sizes given
        pieces = []
        while sum(pieces) < size:
            pieces.append(src.integer(1, size - sum(pieces)))
        args = (Ref(x.name), IntList(tuple(pieces)), dim)
    else:
        step = src.integer(1, size)
        pieces = [min(step, size - start) for start in range(0, size, step)]
        args = (Ref(x.name), step, dim)
    shapes = []
    for piece in pieces:
        shape = list(x.shape)
        if spec.name == "unbind":
            del shape[dim]
        else:
            shape[dim] = piece
        shapes.append(tuple(shape))
    return OpCall(args, (), tuple(shapes), (x.dtype,) * len(shapes), x.interval)


# ----------------------------------------------------------------- gathering


def _index_shape_within(src: OperandSource, shape: tuple[int, ...], dim: int) -> tuple[int, ...]:
    """An index shape for gather/scatter: no larger than `shape` except along `dim`."""
    return tuple(src.integer(1, 3) if d == dim % max(len(shape), 1) else src.integer(1, n)
                 for d, n in enumerate(shape))


def gather(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.gather(dim, index)`: index positions may repeat (their gradients add up)."""
    x = src.tensor()
    dim = _dim(src, len(x.shape))
    index_shape = _index_shape_within(src, x.shape, dim)
    size = x.shape[dim] if x.shape else 1
    data = tuple(src.integer(0, size - 1) for _ in range(math.prod(index_shape)))
    index = src.constant(Values(index_shape, data, "int64"))
    return _call((Ref(x.name), dim, Ref(index.name)), index_shape, x.dtype, x.interval)


def scatter(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.scatter(dim, index, src)` (positions unique along dim: a repeated one would be
    written twice, which torch leaves undefined) and `a.scatter_add(...)` (repeats add)."""
    x = src.tensor(min_rank=1)
    rank = len(x.shape)
    dim = _dim(src, rank)
    size = x.shape[dim]
    unique = spec.name == "scatter"
    index_shape = list(_index_shape_within(src, x.shape, dim))
    if unique:
        index_shape[dim] = min(index_shape[dim], size)
    lines = math.prod(index_shape) // index_shape[dim]
    along = [_index_values(src, index_shape[dim], size, unique) if unique else
             tuple(src.integer(0, size - 1) for _ in range(index_shape[dim]))
             for _ in range(lines)]
    # Lay each line along `dim`: build the array with dim last, then move it into place.
    moved = np.array([[v % size for v in line] for line in along], dtype=np.int64)
    others = [n for d, n in enumerate(index_shape) if d != dim % rank]
    data = np.moveaxis(moved.reshape(*others, index_shape[dim]), -1, dim % rank)
    index = src.constant(Values(tuple(index_shape), tuple(int(v) for v in data.ravel()),
                                "int64"))
    source = src.tensor(shape=tuple(index_shape), dtype=x.dtype)  # torch does not promote
    # Untouched elements keep their value; the others add up to `repeats` sources.
    repeats = index_shape[dim]
    sums = source.interval.union(Interval(0.0, 0.0))
    added = _image_add([x.interval, Interval(sums.lo * repeats, sums.hi * repeats)])
    image = added if spec.name == "scatter_add" else x.interval.union(source.interval)
    return _call((Ref(x.name), dim, Ref(index.name), Ref(source.name)), x.shape, x.dtype,
                 image)


def flip(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.flip((0, -1))`: some dims reversed."""
    x = src.tensor(min_rank=1)
    rank = len(x.shape)
    dims = tuple(d - rank if src.boolean() else d for d in range(rank) if src.boolean())
    return _call((Ref(x.name), dims or (0,)), x.shape, x.dtype, x.interval)


def repeat(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.repeat((2, 1))`: at least one count per dim, maybe one more leading."""
    x = src.tensor()
    counts = tuple(src.integer(1, 2) for _ in range(len(x.shape) + src.integer(0, 1)))
    padded = (1,) * (len(counts) - len(x.shape)) + x.shape
    shape = tuple(c * n for c, n in zip(counts, padded, strict=True))
    return _call((Ref(x.name), counts), shape, x.dtype, x.interval)


# ----------------------------------------------------------------- dtypes


def convert(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.to(torch.float64)`, `a.double()`, `a.float()` (to its own dtype: `a` itself)."""
    x = src.tensor()
    if spec.name == "to":
        target: DType = src.choice(("float64", "float32"))
        return _call((Ref(x.name), DTypeArg(target)), x.shape, target, x.interval)
    return _call((Ref(x.name),), x.shape, "float64" if spec.name == "double" else "float32",
                 x.interval)


# ----------------------------------------------------------------- losses


def _reduction_kwarg(src: OperandSource) -> tuple[str, list[tuple[str, Arg]]]:
    reduction = src.choice(("mean", "sum", "none"))
    kwargs: list[tuple[str, Arg]] = [] if reduction == "mean" else [("reduction", reduction)]
    return reduction, kwargs


def mse_loss(src: OperandSource, spec: OpSpec) -> OpCall:
    """`F.mse_loss(a, b, reduction=..)` with b the shape of a."""
    x = src.tensor()
    target = src.tensor(shape=x.shape)
    reduction, kwargs = _reduction_kwarg(src)
    difference = _image_sub([x.interval, target.interval])
    squares = _image_square([difference])
    count = math.prod(x.shape)
    image = _times(squares, count) if reduction == "sum" else squares
    shape = x.shape if reduction == "none" else ()
    return _call((Ref(x.name), Ref(target.name)), shape, promote(x, target),
                 image, kwargs, count)


def class_loss(src: OperandSource, spec: OpSpec) -> OpCall:
    """`F.nll_loss(a, target)` / `F.cross_entropy(a, target)`: a of shape (C,) with a 0-dim
    target, or (N, C) with targets (N,) (int64 class indices, in range)."""
    x = src.tensor(min_rank=1, max_rank=2)
    classes = x.shape[-1]
    target_shape = x.shape[:-1]
    data = tuple(src.integer(0, classes - 1) for _ in range(math.prod(target_shape)))
    target = src.constant(Values(target_shape, data, "int64"))
    reduction, kwargs = _reduction_kwarg(src)
    if spec.name == "F.nll_loss":
        per_sample = Interval(-x.interval.hi, -x.interval.lo)
    else:  # -log_softmax
        per_sample = Interval(0.0, x.interval.hi - x.interval.lo + math.log(classes))
    samples = math.prod(target_shape)
    image = _times(per_sample, samples) if reduction == "sum" else per_sample
    shape = target_shape if reduction == "none" else ()
    return _call((Ref(x.name), Ref(target.name)), shape, x.dtype, image, kwargs, samples)


def returns_tuple(step: ApplyOp) -> bool:
    """Whether the call returns a tuple of tensors (`max(dim=..)`, `split`, `unbind`)."""
    spec = CATALOGUE.get(step.op)
    return spec is not None and spec.tuple_result(dict(step.kwargs))


def _with_dim(kwargs: Mapping[str, Any]) -> bool:
    return "dim" in kwargs


# --------------------------------------------------------------------------- the catalogue


def infix(symbol: str) -> CallStyle:
    return CallStyle("operator", symbol)


def method(name: str) -> CallStyle:
    return CallStyle("method", name)


def function(name: str) -> CallStyle:
    return CallStyle("function", name)


def functional(name: str) -> CallStyle:
    return CallStyle("function", f"nn.functional.{name}")


def attribute(name: str) -> CallStyle:
    return CallStyle("attribute", name)


def _entries() -> tuple[OpSpec, ...]:
    kink, tie, ties = _near_zero, _near_tie_between, _near_tie_within
    comparison = functools.partial(OpSpec, signature=compare_to, image=_unit_interval,
                                   differentiable=False, smooth=False, near_critical=tie)
    boolean = functools.partial(OpSpec, image=_unit_interval, differentiable=False, smooth=False)
    flat = functools.partial(OpSpec, signature=unary, smooth=False)  # zero gradient, jumps
    shaped = functools.partial(OpSpec, image=_identity, view=True)  # views: same values
    return (
        # -- arithmetic
        # (drawn more often: broadcasting and its gradients' reduction go through them)
        OpSpec("add", infix("+"), binary, _image_add, weight=2),
        OpSpec("sub", infix("-"), binary, _image_sub, covers=("sub", "rsub"), weight=2),
        OpSpec("mul", infix("*"), binary, _image_mul, weight=2),
        OpSpec("div", infix("/"), binary, _image_div, other_domain=NONZERO,
               covers=("div", "reciprocal", "mul"), weight=2),
        OpSpec("neg", infix("neg"), unary, _monotone(operator.neg)),
        OpSpec("rsub", function("rsub"), reversed_subtraction, _image_sub),
        OpSpec("reciprocal", method("reciprocal"), unary, _image_reciprocal, NONZERO),
        OpSpec("square", method("square"), unary, _image_square, covers=("pow",)),
        OpSpec("pow", infix("**"), power, _image_pow,
               scalar_choices=(2, 3, 2.0, 0.5, -1.0, 1.0, 0.0, 2.5, -2)),
        OpSpec("pow.tensor_exponent", infix("**"), binary_tensors, _image_pow_positive_base,
               POSITIVE, other_domain=MODERATE, covers=("pow",)),
        OpSpec("pow.scalar_base", infix("**"), scalar_base, _image_pow_positive_base,
               MODERATE, scalar_choices=(2.0, 0.5, 3, 1.5), covers=("pow",)),
        # -- unary elementwise
        OpSpec("exp", method("exp"), unary, _monotone(math.exp), EXP_DOMAIN),
        OpSpec("expm1", method("expm1"), unary, _monotone(math.expm1), EXP_DOMAIN),
        OpSpec("log", method("log"), unary, _monotone(math.log), POSITIVE),
        OpSpec("log1p", method("log1p"), unary, _monotone(math.log1p), Domain(lo=-0.5)),
        OpSpec("sin", method("sin"), unary, _image_periodic),
        OpSpec("cos", method("cos"), unary, _image_periodic),
        OpSpec("tan", method("tan"), unary, _monotone(math.tan), Domain(lo=-1.25, hi=1.25)),
        OpSpec("tanh", method("tanh"), unary, _monotone(math.tanh)),
        OpSpec("sigmoid", method("sigmoid"), unary, _image_sigmoid),
        OpSpec("relu", method("relu"), unary, _image_relu, smooth=False, near_critical=kink),
        OpSpec("abs", method("abs"), unary, _image_abs, smooth=False, near_critical=kink,
               covers=("abs", "sgn")),
        OpSpec("sqrt", method("sqrt"), unary, _monotone(math.sqrt), POSITIVE),
        OpSpec("rsqrt", method("rsqrt"), unary, _monotone(lambda v: v**-0.5), POSITIVE),
        flat("sign", method("sign"), image=_image_sign, near_critical=kink),
        flat("sgn", method("sgn"), image=_image_sign, near_critical=kink),
        flat("floor", method("floor"), image=_image_rounded, near_critical=_near_integer),
        flat("ceil", method("ceil"), image=_image_rounded, near_critical=_near_integer),
        flat("round", method("round"), image=_image_rounded, near_critical=_near_half_integer),
        OpSpec("clone", method("clone"), unary, _identity),
        shaped("contiguous", method("contiguous"), unary, covers=("clone",)),
        # -- dtypes (to its own dtype, the tensor itself: hence "view"); float32 rounding
        # spoils float64 finite differences, hence not "smooth"
        shaped("to", CallStyle("method", "to"), convert, smooth=False),
        shaped("double", method("double"), convert, covers=("to",)),
        shaped("float", method("float"), convert, smooth=False, covers=("to",)),
        # -- comparisons and logic (values only)
        comparison(name="gt", call=infix(">")),
        comparison(name="lt", call=infix("<")),
        comparison(name="ge", call=infix(">=")),
        comparison(name="le", call=infix("<=")),
        comparison(name="eq", call=infix("==")),
        comparison(name="ne", call=infix("!=")),
        boolean(name="logical_not", call=method("logical_not"), signature=logical_unary),
        boolean(name="logical_and", call=function("logical_and"), signature=logical),
        boolean(name="logical_or", call=function("logical_or"), signature=logical),
        boolean(name="logical_xor", call=function("logical_xor"), signature=logical),
        boolean(name="bitwise_not", call=infix("~"), signature=logical_unary),
        boolean(name="bitwise_and", call=infix("&"), signature=logical),
        boolean(name="bitwise_or", call=infix("|"), signature=logical),
        boolean(name="bitwise_xor", call=infix("^"), signature=logical),
        boolean(name="isnan", call=method("isnan"), signature=to_bool),
        boolean(name="isinf", call=method("isinf"), signature=to_bool),
        boolean(name="isfinite", call=method("isfinite"), signature=to_bool),
        # -- selection
        OpSpec("maximum", function("maximum"), binary_tensors, _image_maximum,
               smooth=False, near_critical=tie),
        OpSpec("minimum", function("minimum"), binary_tensors, _image_minimum,
               smooth=False, near_critical=tie),
        OpSpec("clamp", method("clamp"), clamp, _identity, smooth=False,
               near_critical=_near_bounds),
        OpSpec("clip", method("clip"), clamp, _identity, smooth=False,
               near_critical=_near_bounds, covers=("clamp",)),
        OpSpec("clamp_min", method("clamp_min"), clamp_one_side, _identity, smooth=False,
               near_critical=tie),
        OpSpec("clamp_max", method("clamp_max"), clamp_one_side, _identity, smooth=False,
               near_critical=tie),
        OpSpec("clamp.tensor_bounds", method("clamp"), clamp_tensors, _identity,
               smooth=False, near_critical=_near_any_tie, covers=("clamp",)),
        OpSpec("clip.tensor_bounds", method("clip"), clamp_tensors, _identity,
               smooth=False, near_critical=_near_any_tie, covers=("clamp",)),
        OpSpec("where", function("where"), where, _image_union_of_branches, smooth=False),
        OpSpec("masked_fill", method("masked_fill"), masked_fill, _identity, smooth=False),
        # -- reductions
        OpSpec("sum", method("sum"), reduction, _identity),
        OpSpec("mean", method("mean"), reduction, _identity),
        OpSpec("prod", method("prod"), product, _identity, MODERATE),
        OpSpec("var", method("var"), variance, _identity),
        # std's gradient divides by std: a slice that is constant only up to rounding
        # would make it rounding noise, so std reads exact values only.
        OpSpec("std", method("std"), variance, _identity, Domain(grid_values=True),
               smooth=False),
        OpSpec("max", method("max"), extremum, _identity, smooth=False,
               near_critical=ties, tuple_result=_with_dim),
        OpSpec("min", method("min"), extremum, _identity, smooth=False,
               near_critical=ties, tuple_result=_with_dim),
        OpSpec("amax", method("amax"), extreme_values, _identity, smooth=False,
               near_critical=ties),
        OpSpec("amin", method("amin"), extreme_values, _identity, smooth=False,
               near_critical=ties),
        OpSpec("argmax", method("argmax"), arg_extremum, _identity, differentiable=False,
               smooth=False, near_critical=ties),
        OpSpec("argmin", method("argmin"), arg_extremum, _identity, differentiable=False,
               smooth=False, near_critical=ties),
        OpSpec("logsumexp", method("logsumexp"), reduction_required_dim, _identity),
        OpSpec("norm", method("norm"), vector_norm, _identity, NONZERO,
               scalar_choices=(2,)),
        OpSpec("norm.p", method("norm"), vector_norm, _identity, smooth=False,
               near_critical=_near_norm_kink,
               scalar_choices=(1, 3, math.inf, 0, 0.5, 1.5, -math.inf),
               covers=("norm",)),
        OpSpec("softmax", method("softmax"), along_dim, _unit_interval),
        OpSpec("log_softmax", method("log_softmax"), along_dim, _identity),
        OpSpec("cumsum", method("cumsum"), along_dim, _identity),
        # -- linear algebra
        OpSpec("matmul", infix("@"), matmul, _identity,
               covers=("dot", "mv", "mm", "bmm", "squeeze_", "_unsafe_view")),
        OpSpec("mm", method("mm"), matrix_product, _identity),
        OpSpec("mv", method("mv"), matrix_product, _identity),
        OpSpec("dot", method("dot"), matrix_product, _identity),
        OpSpec("bmm", method("bmm"), matrix_product, _identity),
        # -- shapes and views
        shaped("view", method("view"), reshape),
        # (a non-contiguous input that can be viewed: _reshape_alias, ReshapeAliasBackward0)
        shaped("reshape", method("reshape"), reshape,
               covers=("view", "_unsafe_view", "_reshape_alias")),
        shaped("flatten", method("flatten"), flatten,
               covers=("view", "_unsafe_view", "_reshape_alias")),
        shaped("transpose", method("transpose"), transpose),
        shaped("t", method("t"), matrix_transpose),
        shaped("T", attribute("T"), reverse_dims, covers=("permute",)),
        shaped("mT", attribute("mT"), matrix_transpose, covers=("transpose",)),
        shaped("permute", method("permute"), permute),
        shaped("unsqueeze", method("unsqueeze"), unsqueeze),
        shaped("squeeze", method("squeeze"), squeeze),
        shaped("squeeze.dim", method("squeeze"), squeeze, covers=("squeeze",)),
        shaped("squeeze.dims", method("squeeze"), squeeze, covers=("squeeze",)),
        shaped("expand", method("expand"), expand),
        shaped("expand_as", method("expand_as"), expand, covers=("expand",)),
        shaped("broadcast_to", method("broadcast_to"), expand, covers=("expand",)),
        shaped("narrow", method("narrow"), narrow, covers=("slice",)),
        shaped("select", method("select"), select),
        shaped("getitem", CallStyle("getitem", "getitem"), getitem,
               covers=("select", "slice", "unsqueeze", "alias")),
        OpSpec("getitem.advanced", CallStyle("getitem", "getitem"), getitem, _identity,
               covers=("index", "select", "slice", "unsqueeze")),
        # -- joining and splitting
        OpSpec("cat", function("cat"), concatenate, _identity),
        OpSpec("stack", function("stack"), concatenate, _identity),
        shaped("split", method("split"), split, tuple_result=_always),
        shaped("chunk", method("chunk"), split, tuple_result=_always, covers=("split",)),
        shaped("unbind", method("unbind"), split, tuple_result=_always),
        # -- gathering and rearranging
        OpSpec("gather", method("gather"), gather, _identity),
        OpSpec("scatter", method("scatter"), scatter, _identity),
        OpSpec("scatter_add", method("scatter_add"), scatter, _identity),
        OpSpec("flip", method("flip"), flip, _identity),
        OpSpec("repeat", method("repeat"), repeat, _identity),
        # -- torch.nn.functional
        OpSpec("F.relu", functional("relu"), unary, _image_relu, smooth=False,
               near_critical=kink, covers=("relu",)),
        OpSpec("F.sigmoid", functional("sigmoid"), unary, _image_sigmoid,
               covers=("sigmoid",)),
        OpSpec("F.softmax", functional("softmax"), along_dim, _unit_interval,
               covers=("softmax",)),
        OpSpec("F.log_softmax", functional("log_softmax"), along_dim, _identity,
               covers=("log_softmax",)),
        OpSpec("F.mse_loss", functional("mse_loss"), mse_loss, _identity,
               covers=("mse_loss",)),
        OpSpec("F.nll_loss", functional("nll_loss"), class_loss, _identity,
               covers=("nll_loss",)),
        OpSpec("F.cross_entropy", functional("cross_entropy"), class_loss, _identity,
               covers=("log_softmax", "nll_loss")),
    )


CATALOGUE: Mapping[str, OpSpec] = {spec.name: spec for spec in _entries()}


def weighted(names: Sequence[str]) -> tuple[str, ...]:
    """`names`, each repeated by its entry's weight (a menu to draw ops from)."""
    return tuple(name for name in names for _ in range(CATALOGUE[name].weight))
