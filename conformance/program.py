"""The program IR: what the kit generates, runs on two engines, and shrinks.

A `Program` is a tuple of steps over *named* tensors. Each step is a small frozen
dataclass that says one thing a user of torch autograd can do ("make a leaf", "apply
`exp`", "call `.backward()`", "enter `no_grad`", ...). Steps refer to tensors by name
only, so a program is plain data: it round-trips through JSON, it can be replayed on
any engine, and a reproducer script can be rendered from it.

Conventions:
- A tensor name is bound by `MakeLeaf`, `ApplyOp`, `Detach`, `AutogradGrad` and
  `ReadGrad`; in-place steps (`InplaceOp`, `SetItem`, `MutateData`, ...) keep the name
  bound to the same tensor.
- Values are flat, row-major tuples of Python numbers (`Values`): floats for float
  dtypes, ints for int64, bools for bool (index tensors, masks, targets); non-finite
  floats are encoded in JSON as the strings "nan", "inf", "-inf".
- `str(step)` is torch-like pseudo-code (what a human reads in a report); `repr(step)`
  is the exact dataclass form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, TypeAlias

SCHEMA_VERSION = 1

DType = Literal["float32", "float64"]
DTYPES: tuple[DType, ...] = ("float32", "float64")
# Leaves may also be integer or bool tensors: indices, masks, class targets.
LeafDType = Literal["float32", "float64", "int64", "bool"]


# --------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Ref:
    """An argument that is a named tensor of the program."""

    name: str

    def __repr__(self) -> str:
        return f"Ref({self.name!r})"


@dataclass(frozen=True)
class Slice:
    """A Python slice inside a getitem index (`x[1:]` is `Index((Slice(1, None),))`)."""

    start: int | None = None
    stop: int | None = None
    step: int | None = None

    def __str__(self) -> str:
        text = ("" if self.start is None else str(self.start)) + ":"
        text += "" if self.stop is None else str(self.stop)
        return text if self.step is None else f"{text}:{self.step}"


@dataclass(frozen=True)
class IntList:
    """A Python list of ints: an advanced index (`x[[0, 0, 2]]`) or split sizes.

    (A tuple would not do: inside `x[...]` a tuple is the index itself.)"""

    items: tuple[int, ...]

    def __str__(self) -> str:
        return f"[{', '.join(str(i) for i in self.items)}]"


@dataclass(frozen=True)
class EllipsisIndex:
    """`...` inside a getitem/setitem index."""

    def __str__(self) -> str:
        return "..."


@dataclass(frozen=True)
class DTypeArg:
    """A dtype as an argument (`x.to(torch.float64)`); engines get their own dtype object."""

    name: DType

    def __str__(self) -> str:
        return f"torch.{self.name}"


Scalar: TypeAlias = float | int | bool | str | None  # str: `reduction="sum"`
Arg: TypeAlias = "Ref | Slice | IntList | EllipsisIndex | DTypeArg | Scalar | tuple[Arg, ...]"


def arg_source(arg: Arg) -> str:
    """Python source for an argument (tensor refs by name)."""
    if isinstance(arg, Ref):
        return arg.name
    if isinstance(arg, Slice | IntList | EllipsisIndex | DTypeArg):
        return str(arg)
    if isinstance(arg, tuple):
        inner = ", ".join(arg_source(a) for a in arg)
        return f"({inner},)" if len(arg) == 1 else f"({inner})"
    if isinstance(arg, float):
        return float_source(arg)
    return repr(arg)


def index_source(index: Arg) -> str:
    """Source for what goes between the brackets of `x[...]`."""
    if isinstance(index, tuple):
        return ", ".join(arg_source(item) for item in index) if index else "()"
    return arg_source(index)


def python_index(index: Arg, tensor: Callable[[Ref], Any]) -> Any:
    """A program index as the Python index an engine receives (`tensor` resolves refs)."""
    if isinstance(index, Ref):
        return tensor(index)
    if isinstance(index, Slice):
        return slice(index.start, index.stop, index.step)
    if isinstance(index, IntList):
        return list(index.items)
    if isinstance(index, EllipsisIndex):
        return Ellipsis
    if isinstance(index, tuple):
        return tuple(python_index(item, tensor) for item in index)
    return index


def float_source(value: float) -> str:
    """Python source that evaluates to `value`, also for nan/inf."""
    return repr(value) if math.isfinite(value) else f"float({str(value)!r})"


def refs_in(arg: Arg) -> Iterator[str]:
    if isinstance(arg, Ref):
        yield arg.name
    elif isinstance(arg, tuple):
        for item in arg:
            yield from refs_in(item)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Values:
    """A small constant array: shape, dtype and flat row-major data."""

    shape: tuple[int, ...]
    data: tuple[float, ...]  # ints for int64, bools for bool
    dtype: LeafDType = "float32"

    def __post_init__(self) -> None:
        if math.prod(self.shape) != len(self.data):
            raise ValueError(f"shape {self.shape} does not hold {len(self.data)} values")

    def __repr__(self) -> str:
        return f"Values({self.shape}, {self.data}, {self.dtype!r})"

    def nested(self) -> Any:
        """The data as nested lists (what `torch.tensor` takes)."""
        flat = list(self.data)

        def build(dims: tuple[int, ...], offset: int) -> tuple[Any, int]:
            if not dims:
                return flat[offset], offset + 1
            items = []
            for _ in range(dims[0]):
                item, offset = build(dims[1:], offset)
                items.append(item)
            return items, offset

        return build(self.shape, 0)[0]

    def source(self, module: str = "torch") -> str:
        nested = _nested_source(self.nested(), self.dtype)
        # float32 is the default for float data; int64 and bool are inferred from the data
        # (unless there is none).
        explicit = self.dtype == "float64" or (not self.data and self.dtype != "float32")
        dtype = f", dtype={module}.{self.dtype}" if explicit else ""
        return f"{module}.tensor({nested}{dtype})"


def _nested_source(nested: Any, dtype: LeafDType) -> str:
    if isinstance(nested, list):
        return "[" + ", ".join(_nested_source(item, dtype) for item in nested) + "]"
    if dtype == "bool":
        return repr(bool(nested))
    if dtype == "int64":
        return repr(int(nested))
    return float_source(float(nested))


def typed_data(data: tuple[Any, ...], dtype: LeafDType) -> tuple[Any, ...]:
    """`data` as the Python numbers of `dtype` (what JSON decoding and equality expect)."""
    kind = {"bool": bool, "int64": int}.get(dtype, float)
    return tuple(kind(v) for v in data)


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Step:
    """Base of all steps. `kind` tags the step in JSON."""

    kind: ClassVar[str] = ""

    def binds(self) -> tuple[str, ...]:
        """Names this step binds to new tensors."""
        return ()

    def uses(self) -> tuple[str, ...]:
        """Names this step reads; if one of them failed, the step is skipped."""
        return ()


@dataclass(frozen=True)
class MakeLeaf(Step):
    """`name = torch.tensor(values, dtype=..., requires_grad=...)`."""

    kind: ClassVar[str] = "leaf"
    name: str
    values: Values
    requires_grad: bool = True

    def binds(self) -> tuple[str, ...]:
        return (self.name,)

    def __str__(self) -> str:
        source = self.values.source()
        rg = ", requires_grad=True" if self.requires_grad else ""
        return f"{self.name} = {source[:-1]}{rg})"


@dataclass(frozen=True)
class ApplyOp(Step):
    """`outs = op(*args, **kwargs)`, the op named as in torch (see the catalogue).

    Ops returning a tuple (`max` with `dim`, `split`, `unbind`) bind one name per element.
    """

    kind: ClassVar[str] = "op"
    outs: tuple[str, ...]
    op: str
    args: tuple[Arg, ...]
    kwargs: tuple[tuple[str, Arg], ...] = ()

    def binds(self) -> tuple[str, ...]:
        return self.outs

    def uses(self) -> tuple[str, ...]:
        return tuple(name for arg in self.args + tuple(v for _, v in self.kwargs)
                     for name in refs_in(arg))

    def __str__(self) -> str:
        from conformance.catalogue import render_assignment  # the catalogue knows call styles

        return render_assignment(self)


@dataclass(frozen=True)
class Backward(Step):
    """`root.backward(gradient, retain_graph=..., create_graph=..., inputs=...)`."""

    kind: ClassVar[str] = "backward"
    root: str
    gradient: Values | None = None
    retain_graph: bool | None = None
    create_graph: bool = False
    inputs: tuple[str, ...] | None = None

    def uses(self) -> tuple[str, ...]:
        return (self.root, *(self.inputs or ()))

    def __str__(self) -> str:
        parts = [] if self.gradient is None else [self.gradient.source()]
        if self.retain_graph is not None:
            parts.append(f"retain_graph={self.retain_graph}")
        if self.create_graph:
            parts.append("create_graph=True")
        if self.inputs is not None:
            parts.append(f"inputs=[{', '.join(self.inputs)}]")
        return f"{self.root}.backward({', '.join(parts)})"


@dataclass(frozen=True)
class AutogradGrad(Step):
    """`outs = torch.autograd.grad(outputs, inputs, grad_outputs, ...)`, one out per input."""

    kind: ClassVar[str] = "grad"
    outs: tuple[str, ...]
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    grad_outputs: tuple[Values, ...] | None = None
    retain_graph: bool | None = None
    create_graph: bool = False
    allow_unused: bool = False

    def binds(self) -> tuple[str, ...]:
        return self.outs

    def uses(self) -> tuple[str, ...]:
        return self.outputs + self.inputs

    def __str__(self) -> str:
        parts = [f"[{', '.join(self.outputs)}]", f"[{', '.join(self.inputs)}]"]
        if self.grad_outputs is not None:
            parts.append(f"grad_outputs=[{', '.join(v.source() for v in self.grad_outputs)}]")
        if self.retain_graph is not None:
            parts.append(f"retain_graph={self.retain_graph}")
        if self.create_graph:
            parts.append("create_graph=True")
        if self.allow_unused:
            parts.append("allow_unused=True")
        return f"{', '.join(self.outs)}, = torch.autograd.grad({', '.join(parts)})"


ResetHow = Literal["zero_", "data.zero_", "none"]


@dataclass(frozen=True)
class ResetGrad(Step):
    """`x.grad.zero_()`, `x.grad.data.zero_()` or `x.grad = None`."""

    kind: ClassVar[str] = "reset_grad"
    name: str
    how: ResetHow = "none"

    def uses(self) -> tuple[str, ...]:
        return (self.name,)

    def __str__(self) -> str:
        if self.how == "none":
            return f"{self.name}.grad = None"
        return f"{self.name}.grad.{self.how}()"


GradModeKind = Literal["no_grad", "enable_grad", "set_grad_enabled"]


@dataclass(frozen=True)
class EnterGradMode(Step):
    """Enter `with torch.no_grad():` / `enable_grad()` / `set_grad_enabled(enabled)`.

    Modes nest like `with` blocks: `ExitGradMode` leaves the innermost one, and the
    runner leaves any still open at the end of the program.
    """

    kind: ClassVar[str] = "enter_grad_mode"
    mode: GradModeKind = "no_grad"
    enabled: bool = False  # only read for set_grad_enabled

    def context_source(self) -> str:
        if self.mode == "set_grad_enabled":
            return f"torch.set_grad_enabled({self.enabled})"
        return f"torch.{self.mode}()"

    def __str__(self) -> str:
        return f"with {self.context_source()}:"


@dataclass(frozen=True)
class ExitGradMode(Step):
    """Leave the innermost grad-mode block."""

    kind: ClassVar[str] = "exit_grad_mode"

    def __str__(self) -> str:
        return "# end of grad-mode block"


@dataclass(frozen=True)
class MutateData(Step):
    """`x.data.<method>(value)`: an in-place change autograd does not see."""

    kind: ClassVar[str] = "data"
    name: str
    method: str = "mul_"
    value: float = 2.0

    def uses(self) -> tuple[str, ...]:
        return (self.name,)

    def __str__(self) -> str:
        return f"{self.name}.data.{self.method}({float_source(self.value)})"


@dataclass(frozen=True)
class Detach(Step):
    """`out = source.detach()` (shares storage and version counter with `source`)."""

    kind: ClassVar[str] = "detach"
    out: str
    source: str

    def binds(self) -> tuple[str, ...]:
        return (self.out,)

    def uses(self) -> tuple[str, ...]:
        return (self.source,)

    def __str__(self) -> str:
        return f"{self.out} = {self.source}.detach()"


@dataclass(frozen=True)
class RequiresGrad(Step):
    """`x.requires_grad_(requires_grad)`."""

    kind: ClassVar[str] = "requires_grad"
    name: str
    requires_grad: bool = True

    def uses(self) -> tuple[str, ...]:
        return (self.name,)

    def __str__(self) -> str:
        return f"{self.name}.requires_grad_({self.requires_grad})"


@dataclass(frozen=True)
class InplaceOp(Step):
    """`x.<method>(*args)`, an in-place tensor method such as `add_` or `mul_`."""

    kind: ClassVar[str] = "inplace"
    name: str
    method: str
    args: tuple[Arg, ...] = ()

    def uses(self) -> tuple[str, ...]:
        return (self.name, *(n for arg in self.args for n in refs_in(arg)))

    def __str__(self) -> str:
        return f"{self.name}.{self.method}({', '.join(arg_source(a) for a in self.args)})"


@dataclass(frozen=True)
class RetainGrad(Step):
    """`x.retain_grad()`."""

    kind: ClassVar[str] = "retain_grad"
    name: str

    def uses(self) -> tuple[str, ...]:
        return (self.name,)

    def __str__(self) -> str:
        return f"{self.name}.retain_grad()"


HookKind = Literal["scale", "record", "unsqueeze", "double", "float", "number"]

# What each kind of hook returns, as source; the last four are values torch rejects
# (a changed size, a changed dtype, something not a tensor) unless they change nothing.
HOOK_RESULTS: dict[str, str] = {
    "record": "None", "unsqueeze": "g.unsqueeze(0)", "double": "g.double()",
    "float": "g.float()", "number": "1",
}


@dataclass(frozen=True)
class RegisterHook(Step):
    """`x.register_hook(hook)`: "scale" returns `g * factor`; "record" returns None; the
    other kinds return `HOOK_RESULTS[hook]`.

    Every kind records the gradient it is called with, so call order and values are
    compared between engines.
    """

    kind: ClassVar[str] = "hook"
    name: str
    hook: HookKind = "record"
    factor: float = 1.0

    def uses(self) -> tuple[str, ...]:
        return (self.name,)

    def __str__(self) -> str:
        if self.hook == "scale":
            body = f"g * {float_source(self.factor)}"
        elif self.hook == "record":
            body = "None"  # (the kit records g)
        else:
            body = HOOK_RESULTS[self.hook]
        return f"{self.name}.register_hook(lambda g: {body})"


@dataclass(frozen=True)
class SetItem(Step):
    """`name[index] = value`, value a tensor of the program or a Python number.

    torch records it as an in-place copy into a view (`CopySlices`) for basic indices, and
    as `IndexPutBackward0` for advanced ones (index tensors, lists, masks).
    """

    kind: ClassVar[str] = "setitem"
    name: str
    index: Arg
    value: Arg

    def uses(self) -> tuple[str, ...]:
        return (self.name, *refs_in(self.index), *refs_in(self.value))

    def __str__(self) -> str:
        return f"{self.name}[{index_source(self.index)}] = {arg_source(self.value)}"


@dataclass(frozen=True)
class ReadGrad(Step):
    """`out = name.grad`: the gradient becomes a tensor of the program.

    After `backward(create_graph=True)` it has a grad_fn, so ops on it and a second
    backward through it are checked like any other.
    """

    kind: ClassVar[str] = "read_grad"
    out: str
    name: str

    def binds(self) -> tuple[str, ...]:
        return (self.out,)

    def uses(self) -> tuple[str, ...]:
        return (self.name,)

    def __str__(self) -> str:
        return f"{self.out} = {self.name}.grad"


@dataclass(frozen=True)
class AssignGrad(Step):
    """`name.grad = torch.tensor(values)` (torch checks its shape and dtype; later
    backward calls accumulate into it)."""

    kind: ClassVar[str] = "assign_grad"
    name: str
    values: Values

    def uses(self) -> tuple[str, ...]:
        return (self.name,)

    def __str__(self) -> str:
        return f"{self.name}.grad = {self.values.source()}"


STEP_TYPES: tuple[type[Step], ...] = (
    MakeLeaf, ApplyOp, Backward, AutogradGrad, ResetGrad, EnterGradMode, ExitGradMode,
    MutateData, Detach, RequiresGrad, InplaceOp, RetainGrad, RegisterHook, SetItem, ReadGrad,
    AssignGrad,
)
_STEP_BY_KIND: dict[str, type[Step]] = {cls.kind: cls for cls in STEP_TYPES}


# --------------------------------------------------------------------------- program


@dataclass(frozen=True)
class Program:
    """A sequence of steps; the unit the kit generates, runs, compares and shrinks."""

    steps: tuple[Step, ...]

    def __repr__(self) -> str:
        if not self.steps:
            return "Program(())"
        return "Program((\n" + "".join(f"    {step!r},\n" for step in self.steps) + "))"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints falsifying examples with this; the default lists every field.
        printer.text(repr(self))

    def __str__(self) -> str:
        """Torch-like pseudo-code, one numbered line per step, indented inside grad modes."""
        lines, depth = [], 0
        for index, step in enumerate(self.steps):
            if isinstance(step, ExitGradMode):
                depth = max(depth - 1, 0)
            lines.append(f"{index:>3}  {'    ' * depth}{step}")
            if isinstance(step, EnterGradMode):
                depth += 1
        return "\n".join(lines)

    def ops(self) -> tuple[str, ...]:
        """The op names the program exercises (ops, in-place methods, setitem), sorted."""
        names = {s.op for s in self.steps if isinstance(s, ApplyOp)}
        names |= {s.method for s in self.steps if isinstance(s, InplaceOp)}
        names |= {s.kind for s in self.steps if isinstance(s, SetItem)}
        return tuple(sorted(names))

    def to_json(self) -> str:
        return json.dumps({"schema_version": SCHEMA_VERSION,
                           "steps": [step_to_json(s) for s in self.steps]})

    @classmethod
    def from_json(cls, text: str) -> Program:
        data = json.loads(text)
        return cls.from_data(data)

    def to_data(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "steps": [step_to_json(s) for s in self.steps]}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Program:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"program schema version {version!r}, expected {SCHEMA_VERSION}")
        return cls(tuple(step_from_json(s) for s in data["steps"]))


# --------------------------------------------------------------------------- JSON encoding


def encode_float(value: float) -> float | str:
    """JSON has no nan/inf: encode them as strings (finite floats, incl. -0.0, as numbers)."""
    return value if math.isfinite(value) else str(value)


def decode_float(value: float | int | str) -> float:
    return float(value)


def _encode(value: Any) -> Any:
    """Encode a step field; tagged objects for everything JSON cannot say directly."""
    if isinstance(value, Ref):
        return {"ref": value.name}
    if isinstance(value, Slice):
        return {"slice": [value.start, value.stop, value.step]}
    if isinstance(value, IntList):
        return {"list": list(value.items)}
    if isinstance(value, EllipsisIndex):
        return {"ellipsis": None}
    if isinstance(value, DTypeArg):
        return {"dtype": value.name}
    if isinstance(value, Values):
        return {"values": {"shape": list(value.shape), "dtype": value.dtype,
                           "data": [encode_float(v) for v in value.data]}}
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": str(value)}
    if isinstance(value, tuple):  # every sequence in a program is a tuple
        return [_encode(v) for v in value]
    raise TypeError(f"cannot encode {value!r} in a program")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, payload),) = value.items()
        if tag == "ref":
            return Ref(payload)
        if tag == "slice":
            return Slice(*payload)
        if tag == "list":
            return IntList(tuple(payload))
        if tag == "ellipsis":
            return EllipsisIndex()
        if tag == "dtype":
            return DTypeArg(payload)
        if tag == "values":
            dtype = payload["dtype"]
            data = (decode_float(v) for v in payload["data"])
            return Values(tuple(payload["shape"]), typed_data(tuple(data), dtype), dtype)
        if tag == "float":
            return float(payload)
        raise ValueError(f"unknown tag {tag!r} in program JSON")
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def step_to_json(step: Step) -> dict[str, Any]:
    return {"kind": step.kind, **{f.name: _encode(getattr(step, f.name)) for f in fields(step)}}


def step_from_json(data: dict[str, Any]) -> Step:
    payload = dict(data)
    kind = payload.pop("kind")
    try:
        cls = _STEP_BY_KIND[kind]
    except KeyError:
        raise ValueError(f"unknown step kind {kind!r}") from None
    return cls(**{key: _decode(value) for key, value in payload.items()})
