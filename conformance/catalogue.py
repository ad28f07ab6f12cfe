"""The kit's catalogue of ops: one `OpSpec` entry per op, by torch name.

An entry says everything the kit needs about an op:
- how a torch-like engine calls it (`CallStyle`: operator, method, function, getitem),
  used both to invoke it and to render it as source in reports and reproducers;
- how to draw a well-formed call (`signature`: operands, kwargs, output shapes), from a
  handful of shared signature functions (unary, broadcasting binary, reduction, ...);
- where its inputs are well-conditioned (`domain`) and what range its output covers
  (`image`), so generated programs stay where float32 is stable;
- where it is discontinuous (`near_critical`): ties, kinks and bounds where a rounding
  difference between engines may flip the result (see compare.py).

Adding an op is adding an entry to `CATALOGUE` (and, for a new calling convention, a
signature function).
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

from conformance.program import ApplyOp, Arg, Ref, Slice, arg_source

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


@dataclass(frozen=True)
class Domain:
    """Where an operand is well-conditioned: within [lo, hi] and, if `away_from_zero`,
    with every element at least that far from 0."""

    lo: float = -math.inf
    hi: float = math.inf
    away_from_zero: float = 0.0

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

# Largest magnitude a generated op may produce: beyond it float32 rounding of later ops
# dwarfs assert_close's default tolerances.
MAX_MAGNITUDE = 1e3


# --------------------------------------------------------------------------- call styles


CallForm = Literal["operator", "method", "function", "getitem"]

_BINARY_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": operator.pow, "@": operator.matmul, ">": operator.gt,
}


@dataclass(frozen=True)
class CallStyle:
    """How a torch-like engine spells the op: `a * b`, `a.exp()`, `torch.maximum(a, b)`, `a[i]`."""

    form: CallForm
    name: str

    def invoker(self, module: Any) -> Callable[[Sequence[Any], Mapping[str, Any]], Any]:
        """A fast callable `(args, kwargs) -> result` for a torch-like `module`."""
        if self.form == "operator":
            if self.name == "neg":
                return lambda args, kwargs: -args[0]
            binary = _BINARY_OPERATORS[self.name]
            return lambda args, kwargs: binary(args[0], args[1])
        if self.form == "method":
            name = self.name
            return lambda args, kwargs: getattr(args[0], name)(*args[1:], **kwargs)
        if self.form == "function":
            function = getattr(module, self.name)
            return lambda args, kwargs: function(*args, **kwargs)
        return lambda args, kwargs: args[0][to_index(args[1])]

    def render(self, args: Sequence[str], kwargs: Sequence[tuple[str, str]],
               module: str = "torch") -> str:
        keywords = [f"{key}={value}" for key, value in kwargs]
        if self.form == "operator":
            return f"-{args[0]}" if self.name == "neg" else f"{args[0]} {self.name} {args[1]}"
        if self.form == "method":
            return f"{args[0]}.{self.name}({', '.join([*args[1:], *keywords])})"
        if self.form == "function":
            return f"{module}.{self.name}({', '.join([*args, *keywords])})"
        return f"{args[0]}[{args[1]}]"


def to_index(index: Arg) -> Any:
    """A program index (ints and `Slice`s) as a Python index."""
    if isinstance(index, Slice):
        return slice(index.start, index.stop, index.step)
    if isinstance(index, tuple):
        return tuple(to_index(item) for item in index)
    return index


def _index_source(index: Arg) -> str:
    if isinstance(index, tuple):
        return ", ".join(_index_source(item) for item in index) if index else "()"
    return arg_source(index)


def render_call(step: ApplyOp, module: str = "torch") -> str:
    """Source for the call of an `ApplyOp` (without the assignment)."""
    spec = CATALOGUE.get(step.op)
    if spec is None:
        arguments = [arg_source(a) for a in step.args]
        keywords = [f"{k}={arg_source(v)}" for k, v in step.kwargs]
        return f"{module}.{step.op}({', '.join(arguments + keywords)})"
    if spec.call.form == "getitem":
        args = [arg_source(step.args[0]), _index_source(step.args[1])]
    else:
        args = [arg_source(a) for a in step.args]
    return spec.call.render(args, [(k, arg_source(v)) for k, v in step.kwargs], module)


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

    def tensor(self, domain: Domain = ANYWHERE, *, min_rank: int = 0,
               shape: tuple[int, ...] | None = None, dtype: str | None = None) -> Operand: ...

    def partner(self, shape: tuple[int, ...], domain: Domain = ANYWHERE) -> Operand: ...

    def condition(self, shape: tuple[int, ...]) -> Operand: ...


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


@dataclass(frozen=True)
class OpSpec:
    """One op of the catalogue (see the module docstring)."""

    name: str
    call: CallStyle
    signature: Signature
    image: Image
    domain: Domain = ANYWHERE
    differentiable: bool = True
    smooth: bool = True  # differentiable everywhere in its domain (finite differences apply)
    near_critical: NearCritical | None = None
    scalar_choices: tuple[float, ...] = ()  # for ops taking a Python scalar (pow exponents)
    outputs: Callable[[Mapping[str, Any]], int] = lambda kwargs: 1  # results per call


# --------------------------------------------------------------------------- images


def _monotone(function: Callable[[float], float]) -> Image:
    return lambda intervals: Interval.of(function(intervals[0].lo), function(intervals[0].hi))


def _identity(intervals: Sequence[Interval]) -> Interval:
    return intervals[0]


def _products(a: Interval, b: Interval) -> Interval:
    return Interval.of(a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)


def _image_add(i: Sequence[Interval]) -> Interval:
    return Interval(i[0].lo + i[1].lo, i[0].hi + i[1].hi)


def _image_sub(i: Sequence[Interval]) -> Interval:
    return Interval(i[0].lo - i[1].hi, i[0].hi - i[1].lo)


def _image_mul(i: Sequence[Interval]) -> Interval:
    return _products(i[0], i[1])


def _image_div(i: Sequence[Interval]) -> Interval:
    return _products(i[0], Interval.of(1 / i[1].lo, 1 / i[1].hi))


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


def _image_pow(i: Sequence[Interval]) -> Interval:
    base, exponent = i[0], i[1].lo
    points = [base.lo, base.hi] + ([0.0] if base.contains_zero() and exponent > 0 else [])
    return Interval.of(*(float(p) ** exponent for p in points))


def _image_maximum(i: Sequence[Interval]) -> Interval:
    return Interval(max(i[0].lo, i[1].lo), max(i[0].hi, i[1].hi))


def _image_minimum(i: Sequence[Interval]) -> Interval:
    return Interval(min(i[0].lo, i[1].lo), min(i[0].hi, i[1].hi))


def _image_union_of_branches(i: Sequence[Interval]) -> Interval:
    return Interval(min(i[1].lo, i[2].lo), max(i[1].hi, i[2].hi))


def _image_bool(i: Sequence[Interval]) -> Interval:
    return Interval(0.0, 1.0)


# --------------------------------------------------------------------------- near-critical


def _near(values: np.ndarray, points: np.ndarray | float, atol: float, rtol: float) -> bool:
    """True if some element lies within tolerance of a critical point."""
    distance = np.abs(values - points)
    return bool(np.any(distance <= atol + rtol * np.abs(values)))


def _near_zero(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
               atol: float, rtol: float) -> bool:
    return _near(inputs[0], 0.0, atol, rtol)


def _near_bounds(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                 atol: float, rtol: float) -> bool:
    return any(_near(inputs[0], kwargs[key], atol, rtol)
               for key in ("min", "max") if kwargs.get(key) is not None)


def _near_tie_between(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                      atol: float, rtol: float) -> bool:
    a, b = (np.asarray(x, dtype=np.float64) for x in inputs[:2])
    return _near(a, b, atol, rtol)


def _near_tie_within(inputs: Sequence[np.ndarray], kwargs: Mapping[str, Any],
                     atol: float, rtol: float) -> bool:
    """Two elements within tolerance (conservatively: anywhere in the tensor)."""
    ordered = np.sort(np.asarray(inputs[0], dtype=np.float64).ravel())
    return ordered.size > 1 and _near(ordered[1:], ordered[:-1], atol, rtol)


# --------------------------------------------------------------------------- signatures


def _scalar_grid(domain: Domain) -> tuple[float, ...]:
    return tuple(v for v in SCALARS if domain.admits_value(v))


# Python scalars used as operands: simple first (hypothesis shrinks towards the start),
# including ints because torch promotes them differently from floats in some places.
SCALARS: tuple[float, ...] = (2.0, 1.0, -1.0, 0.5, 3, -2.0, 1.5, 2, -0.5)


def unary(src: OperandSource, spec: OpSpec) -> OpCall:
    x = src.tensor(spec.domain)
    return OpCall((Ref(x.name),), (), (x.shape,), (x.dtype,), spec.image([x.interval]))


def binary(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a <op> b` with broadcasting; either side may be a Python scalar."""
    right_domain = NONZERO if spec.name == "div" else ANYWHERE
    form = src.choice(("tensors", "scalar_right", "scalar_left"))
    if form == "scalar_left":
        x = src.tensor(right_domain)
        scalar = src.choice(SCALARS)
        image = spec.image([Interval(scalar, scalar), x.interval])
        return OpCall((scalar, Ref(x.name)), (), (x.shape,), (x.dtype,), image)
    x = src.tensor()
    if form == "scalar_right":
        scalar = src.choice(_scalar_grid(right_domain))
        image = spec.image([x.interval, Interval(scalar, scalar)])
        return OpCall((Ref(x.name), scalar), (), (x.shape,), (x.dtype,), image)
    y = src.partner(x.shape, right_domain)
    shape = np.broadcast_shapes(x.shape, y.shape)
    return OpCall((Ref(x.name), Ref(y.name)), (), (shape,), (promote(x.dtype, y.dtype),),
                  spec.image([x.interval, y.interval]))


def binary_tensors(src: OperandSource, spec: OpSpec) -> OpCall:
    """`torch.f(a, b)` over two broadcasting tensors."""
    x = src.tensor(spec.domain)
    y = src.partner(x.shape, spec.domain)
    shape = np.broadcast_shapes(x.shape, y.shape)
    return OpCall((Ref(x.name), Ref(y.name)), (), (shape,), (promote(x.dtype, y.dtype),),
                  spec.image([x.interval, y.interval]))


def compare_to(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a > b` (a bool mask; used to build `where` conditions)."""
    x = src.tensor()
    if src.boolean():
        threshold = src.choice(SCALARS)
        return OpCall((Ref(x.name), threshold), (), (x.shape,), ("bool",), Interval(0, 1))
    y = src.partner(x.shape)
    return OpCall((Ref(x.name), Ref(y.name)), (), (np.broadcast_shapes(x.shape, y.shape),),
                  ("bool",), Interval(0, 1))


def power(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a ** p` for a Python scalar exponent; the base domain depends on p."""
    exponent = src.choice(spec.scalar_choices)
    # Non-integer powers need a positive base; negative ones a base away from 0.
    domain = POSITIVE if not float(exponent).is_integer() else (
        ANYWHERE if exponent >= 0 else NONZERO)
    x = src.tensor(domain)
    image = spec.image([x.interval, Interval(exponent, exponent)])
    return OpCall((Ref(x.name), exponent), (), (x.shape,), (x.dtype,), image)


def _dims(src: OperandSource, rank: int, allow_tuple: bool) -> tuple[int, ...] | int | None:
    """A `dim` kwarg: None (full reduction) first, then a single dim, then a tuple."""
    if rank == 0:
        return None
    choice = src.choice(("all", "one", "tuple") if allow_tuple and rank > 1 else ("all", "one"))
    if choice == "all":
        return None
    if choice == "one":
        return int(src.integer(-rank, rank - 1))
    picked = tuple(d for d in range(rank) if src.boolean())
    return picked or (0,)


def _reduced_shape(shape: tuple[int, ...], dims: tuple[int, ...] | int | None,
                   keepdim: bool) -> tuple[tuple[int, ...], int]:
    rank = len(shape)
    if dims is None:
        axes = set(range(rank))
    else:
        axes = {d % rank for d in (dims if isinstance(dims, tuple) else (dims,))}
    kept = tuple((1 if keepdim else None) if i in axes else n for i, n in enumerate(shape))
    fan_in = math.prod(shape[i] for i in axes)
    return tuple(n for n in kept if n is not None), fan_in


def reduction(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.sum()`, `a.sum(dim=.., keepdim=..)` (dims may be a tuple)."""
    x = src.tensor(spec.domain)
    dims = _dims(src, len(x.shape), allow_tuple=True)
    if dims is None:
        shape, fan_in = _reduced_shape(x.shape, None, False)
        return OpCall((Ref(x.name),), (), (shape,), (x.dtype,),
                      _scaled(spec, x.interval, fan_in), fan_in)
    keepdim = src.boolean()
    shape, fan_in = _reduced_shape(x.shape, dims, keepdim)
    kwargs: tuple[tuple[str, Arg], ...] = (("dim", dims), ("keepdim", keepdim))
    return OpCall((Ref(x.name),), kwargs, (shape,), (x.dtype,),
                  _scaled(spec, x.interval, fan_in), fan_in)


def _scaled(spec: OpSpec, interval: Interval, fan_in: int) -> Interval:
    image = spec.image([interval])
    if spec.name != "sum":
        return image
    return Interval(image.lo * fan_in if image.lo < 0 else image.lo,
                    image.hi * fan_in if image.hi > 0 else image.hi)


def extremum(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.max()` (one output) or `a.max(dim=.., keepdim=..)` (values and indices)."""
    x = src.tensor(spec.domain)
    dims = _dims(src, len(x.shape), allow_tuple=False)
    if dims is None:
        return OpCall((Ref(x.name),), (), ((),), (x.dtype,), x.interval)
    keepdim = src.boolean()
    shape, _ = _reduced_shape(x.shape, dims, keepdim)
    kwargs: tuple[tuple[str, Arg], ...] = (("dim", dims), ("keepdim", keepdim))
    return OpCall((Ref(x.name),), kwargs, (shape, shape), (x.dtype, "int64"), x.interval)


def reshape(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.view(shape)` / `a.reshape(shape)` to another factorisation (maybe with -1)."""
    x = src.tensor()
    size = math.prod(x.shape)
    shape = src.choice(_factorisations(size))
    target: tuple[int, ...] = shape
    if shape and src.boolean():
        position = src.integer(0, len(shape) - 1)
        target = (*shape[:position], -1, *shape[position + 1:])
    return OpCall((Ref(x.name), target), (), (shape,), (x.dtype,), x.interval)


@functools.cache
def _factorisations(size: int, max_rank: int = 3) -> tuple[tuple[int, ...], ...]:
    """Shapes of `size` elements, fewest dims first."""
    found: list[tuple[int, ...]] = [()] if size == 1 else []
    for rank in range(1, max_rank + 1):
        for dims in itertools.product(range(1, size + 1), repeat=rank):
            if math.prod(dims) == size:
                found.append(dims)
    return tuple(found)


def transpose(src: OperandSource, spec: OpSpec) -> OpCall:
    x = src.tensor(min_rank=1)
    rank = len(x.shape)
    d0 = src.integer(-rank, rank - 1)
    d1 = src.integer(-rank, rank - 1)
    shape = list(x.shape)
    shape[d0], shape[d1] = shape[d1], shape[d0]
    return OpCall((Ref(x.name), d0, d1), (), (tuple(shape),), (x.dtype,), x.interval)


def getitem(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a[i]`, `a[1:]`, `a[:, 0]`: basic indexing with ints and slices."""
    x = src.tensor(min_rank=1)
    count = src.integer(1, len(x.shape))
    items: list[Arg] = []
    shape: list[int] = []
    for size in x.shape[:count]:
        if src.boolean():
            items.append(src.integer(-size, size - 1))
        else:
            start = src.integer(0, size - 1)
            stop = src.integer(start + 1, size)
            items.append(Slice(start if start else None, stop if stop < size else None))
            shape.append(stop - start)
    shape.extend(x.shape[count:])
    index: Arg = items[0] if len(items) == 1 else tuple(items)
    return OpCall((Ref(x.name), index), (), (tuple(shape),), (x.dtype,), x.interval)


def matmul(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a @ b` for 1-D and 2-D operands with a matching inner size."""
    x = src.tensor(min_rank=1)
    if len(x.shape) > 2:
        x = src.tensor(shape=x.shape[-2:])
    inner = x.shape[-1]
    second_rank = src.integer(1, 2)
    columns = src.integer(1, 3)
    # torch's matmul does not promote dtypes: operands share one.
    y = src.tensor(shape=(inner,) if second_rank == 1 else (inner, columns), dtype=x.dtype)
    shape = x.shape[:-1] + y.shape[1:]
    image = _products(x.interval, y.interval)
    image = Interval(image.lo * inner if image.lo < 0 else image.lo,
                     image.hi * inner if image.hi > 0 else image.hi)
    return OpCall((Ref(x.name), Ref(y.name)), (), (shape,), (promote(x.dtype, y.dtype),),
                  image, inner)


def clamp(src: OperandSource, spec: OpSpec) -> OpCall:
    """`a.clamp(min=.., max=..)` with one or both bounds (min <= max)."""
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
    image = Interval(lo, hi)
    return OpCall((Ref(x.name),), tuple(kwargs), (x.shape,), (x.dtype,), image)


def where(src: OperandSource, spec: OpSpec) -> OpCall:
    """`torch.where(cond, a, b)` with a bool condition built by the program."""
    x = src.tensor()
    y = src.partner(x.shape)
    shape = np.broadcast_shapes(x.shape, y.shape)
    condition = src.condition(shape)
    shape = np.broadcast_shapes(shape, condition.shape)
    image = _image_union_of_branches([condition.interval, x.interval, y.interval])
    return OpCall((Ref(condition.name), Ref(x.name), Ref(y.name)), (), (shape,),
                  (promote(x.dtype, y.dtype),), image)


def _values_and_indices_with_dim(kwargs: Mapping[str, Any]) -> int:
    return 2 if "dim" in kwargs else 1


def promote(a: str, b: str) -> str:
    return "float64" if "float64" in (a, b) else a


# --------------------------------------------------------------------------- the catalogue


def infix(symbol: str) -> CallStyle:
    return CallStyle("operator", symbol)


def method(name: str) -> CallStyle:
    return CallStyle("method", name)


def function(name: str) -> CallStyle:
    return CallStyle("function", name)


def _entries() -> tuple[OpSpec, ...]:
    kink = _near_zero
    return (
        OpSpec("add", infix("+"), binary, _image_add),
        OpSpec("sub", infix("-"), binary, _image_sub),
        OpSpec("mul", infix("*"), binary, _image_mul),
        OpSpec("div", infix("/"), binary, _image_div),
        OpSpec("neg", infix("neg"), unary, _monotone(lambda v: -v)),
        OpSpec("pow", infix("**"), power, _image_pow,
               scalar_choices=(2, 3, 2.0, 0.5, -1.0, 1.0, 0.0, 2.5, -2)),
        OpSpec("sum", method("sum"), reduction, _identity),
        OpSpec("mean", method("mean"), reduction, _identity),
        OpSpec("view", method("view"), reshape, _identity),
        OpSpec("reshape", method("reshape"), reshape, _identity),
        OpSpec("exp", method("exp"), unary, _monotone(math.exp), EXP_DOMAIN),
        OpSpec("log", method("log"), unary, _monotone(math.log), POSITIVE),
        OpSpec("sin", method("sin"), unary, _image_periodic),
        OpSpec("cos", method("cos"), unary, _image_periodic),
        OpSpec("tanh", method("tanh"), unary, _monotone(math.tanh)),
        OpSpec("sigmoid", method("sigmoid"), unary, _image_sigmoid),
        OpSpec("relu", method("relu"), unary, _image_relu,
               smooth=False, near_critical=kink),
        OpSpec("abs", method("abs"), unary, _image_abs,
               smooth=False, near_critical=kink),
        OpSpec("sqrt", method("sqrt"), unary, _monotone(math.sqrt), POSITIVE),
        OpSpec("matmul", infix("@"), matmul, _identity),
        OpSpec("transpose", method("transpose"), transpose, _identity),
        OpSpec("getitem", CallStyle("getitem", "getitem"), getitem, _identity),
        OpSpec("max", method("max"), extremum, _identity, smooth=False,
               near_critical=_near_tie_within, outputs=_values_and_indices_with_dim),
        OpSpec("min", method("min"), extremum, _identity, smooth=False,
               near_critical=_near_tie_within, outputs=_values_and_indices_with_dim),
        OpSpec("maximum", function("maximum"), binary_tensors, _image_maximum,
               smooth=False, near_critical=_near_tie_between),
        OpSpec("minimum", function("minimum"), binary_tensors, _image_minimum,
               smooth=False, near_critical=_near_tie_between),
        OpSpec("clamp", method("clamp"), clamp, _identity,
               smooth=False, near_critical=_near_bounds),
        OpSpec("where", function("where"), where, _image_union_of_branches,
               smooth=False),
        OpSpec("gt", infix(">"), compare_to, _image_bool,
               differentiable=False, smooth=False, near_critical=_near_tie_between),
    )


CATALOGUE: Mapping[str, OpSpec] = {spec.name: spec for spec in _entries()}


def output_count(step: ApplyOp) -> int:
    """How many results the call returns (`max(dim=..)` returns values and indices)."""
    spec = CATALOGUE.get(step.op)
    return 1 if spec is None else spec.outputs(dict(step.kwargs))
