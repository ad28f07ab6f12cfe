"""Run a program on an engine and record everything observable: (program, engine) -> Trace.

`run_program` runs a whole program; `Session` runs one step at a time (so a hypothesis
state machine can drive two engines in lockstep). Nothing an engine does can crash a
run: an exception is a recorded outcome ("raised"), an unusable result is "broken",
a step that needs a capability the engine lacks is "not_applicable" (and the run stops
there, since later steps would depend on it), and steps using a tensor whose step failed
are "skipped".

Warnings raised by a step are recorded with it; the kit's own reads (`.grad` of a
non-leaf warns in torch) never warn.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, cast, runtime_checkable

import numpy as np

from conformance.catalogue import CATALOGUE, returns_tuple
from conformance.engines import protocol as caps
from conformance.engines.protocol import Engine, EngineBase, NotApplicable
from conformance.program import (
    ApplyOp,
    Arg,
    AssignGrad,
    AutogradGrad,
    Backward,
    Detach,
    EnterGradMode,
    ExitGradMode,
    InplaceOp,
    MakeLeaf,
    MutateData,
    Program,
    ReadGrad,
    Ref,
    RegisterHook,
    RequiresGrad,
    ResetGrad,
    RetainGrad,
    SetItem,
    Step,
    Values,
    python_index,
)

Status = Literal["ok", "raised", "skipped", "not_applicable", "broken"]


@dataclass(frozen=True)
class ErrorInfo:
    """An exception or warning: class name and message as the engine produced them."""

    type: str
    message: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass(frozen=True, eq=False)
class TensorState:
    """One observation of a tensor. Flags are None when the engine does not report them."""

    values: np.ndarray
    requires_grad: bool | None = None
    is_leaf: bool | None = None
    grad_fn: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def dtype(self) -> str:
        return self.values.dtype.name


@dataclass(frozen=True, eq=False)
class HookCall:
    """A hook registered at step `hook` was called with this gradient."""

    hook: int
    grad: TensorState | None
    detail: str = ""  # why grad is None (the gradient could not be observed)


@dataclass(frozen=True, eq=False)
class StepOutcome:
    """What one step did on one engine."""

    status: Status
    tensors: tuple[tuple[str, TensorState | None], ...] = ()  # bound or changed tensors
    grads: tuple[tuple[str, TensorState | None], ...] = ()  # `.grad` after backward-like
    hook_calls: tuple[HookCall, ...] = ()
    inputs: tuple[np.ndarray, ...] = ()  # op inputs, for ops with discontinuities only
    error: ErrorInfo | None = None
    warnings: tuple[ErrorInfo, ...] = ()
    detail: str = ""  # why skipped / not applicable / broken


@dataclass(frozen=True, eq=False)
class Trace:
    """A program's run on one engine: one outcome per step, then the final state."""

    engine: str
    capabilities: frozenset[str]
    outcomes: tuple[StepOutcome, ...]
    final: StepOutcome = field(default_factory=lambda: StepOutcome("ok"))

    @property
    def not_applicable(self) -> str | None:
        """Why the run stopped early (a capability or op the engine lacks), else None."""
        for outcome in self.outcomes:
            if outcome.status == "not_applicable":
                return outcome.detail
        return None


class ObservationError(Exception):
    """The engine returned something the kit cannot read as a tensor."""


def required_capabilities(step: Step) -> frozenset[str]:
    """The optional engine capabilities a step needs (the core needs none)."""
    needed: set[str] = set()
    if isinstance(step, MakeLeaf):
        if step.values.dtype == "float64":
            needed.add(caps.FLOAT64)
        elif step.values.dtype in ("int64", "bool"):
            needed.add(caps.INTEGER_LEAVES)
    elif isinstance(step, Backward | AutogradGrad):
        if isinstance(step, AutogradGrad):
            needed.add(caps.AUTOGRAD_GRAD)
        elif step.inputs is not None:
            needed.add(caps.BACKWARD_INPUTS)
        if step.retain_graph:
            needed.add(caps.RETAIN_GRAPH)
        if step.create_graph:
            needed.add(caps.CREATE_GRAPH)
    elif isinstance(step, EnterGradMode | ExitGradMode):
        needed.add(caps.GRAD_MODE)
    elif isinstance(step, MutateData):
        needed |= {caps.DATA, caps.INPLACE}
    else:
        simple = {ResetGrad: caps.RESET_GRAD, Detach: caps.DETACH, RetainGrad: caps.RETAIN_GRAD,
                  RequiresGrad: caps.REQUIRES_GRAD_, InplaceOp: caps.INPLACE,
                  RegisterHook: caps.HOOKS, SetItem: caps.SETITEM, AssignGrad: caps.ASSIGN_GRAD}
        capability = simple.get(type(step))
        if capability is not None:
            needed.add(capability)
    return frozenset(needed)


class Session:
    """One engine running one program, a step at a time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Optional methods exist only for declared capabilities (checked before each step).
        self.optional = cast(EngineBase, engine)
        self.capabilities = frozenset(engine.capabilities)
        self.tensors: dict[str, Any] = {}
        self.failed: set[str] = set()
        self.grad_modes: list[EnterGradMode] = []
        self.hook_calls: list[HookCall] = []
        self.hooks_registered = 0
        self.stopped: str | None = None
        self.outcomes: list[StepOutcome] = []
        self._supports: Callable[[str], bool] = getattr(engine, "supports", lambda op: True)

    # ----------------------------------------------------------------- running

    def execute(self, step: Step) -> StepOutcome:
        """Run one step and observe its effect; never raises for anything the engine does."""
        outcome = self._execute(step)
        self.outcomes.append(outcome)
        return outcome

    def run(self, program: Program) -> Iterator[StepOutcome]:
        """Execute the program's steps in order, yielding each outcome; stops after a step
        the engine cannot run (later steps would depend on it)."""
        for step in program.steps:
            yield self.execute(step)
            if self.stopped:
                return

    def trace(self, *, final: bool = True) -> Trace:
        """The outcomes so far; with `final`, also the final state (the program is over)."""
        last = self.finish() if final else StepOutcome("ok")
        return Trace(_engine_name(self.engine), self.capabilities, tuple(self.outcomes), last)

    def _execute(self, step: Step) -> StepOutcome:
        reason = self._not_applicable(step)
        if reason is not None:
            self.stopped = self.stopped or reason
            return StepOutcome("not_applicable", detail=reason)
        blocked = [name for name in step.uses() if name in self.failed or name not in self.tensors]
        if blocked:
            self.failed.update(step.binds())
            return StepOutcome("skipped", detail=f"uses {blocked[0]}, which has no value")
        if isinstance(step, EnterGradMode):
            self.grad_modes.append(step)
            return StepOutcome("ok")
        if isinstance(step, ExitGradMode):
            if self.grad_modes:
                self.grad_modes.pop()
            return StepOutcome("ok")
        calls_before = len(self.hook_calls)
        inputs: tuple[np.ndarray, ...] = ()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with ExitStack() as modes:
                    # Grad modes are re-entered around each step, so two sessions sharing
                    # one module (torch against torch in lockstep) never see each other's.
                    for mode in self.grad_modes:
                        modes.enter_context(self.optional.grad_mode(mode.mode, mode.enabled))
                    if isinstance(step, ApplyOp) and CATALOGUE[step.op].near_critical:
                        inputs = self._input_values(step)
                    self._act(step)
                error = None
            except NotApplicable as reason:  # the adapter's verdict: no counterpart for this call
                self.failed.update(step.binds())
                self.stopped = self.stopped or str(reason)
                return StepOutcome("not_applicable", detail=str(reason))
            except ObservationError as broken:
                self.failed.update(step.binds())
                return StepOutcome("broken", detail=str(broken))
            except Exception as raised:  # the engine's exception is the observable outcome
                self.failed.update(step.binds())
                error = ErrorInfo(type(raised).__name__, str(raised))
        recorded = tuple(ErrorInfo(w.category.__name__, str(w.message)) for w in caught)
        hook_calls = tuple(self.hook_calls[calls_before:])
        if error is not None:
            return StepOutcome("raised", hook_calls=hook_calls, inputs=inputs, error=error,
                               warnings=recorded)
        try:
            tensors, grads = self._observe(step)
        except ObservationError as broken:
            return StepOutcome("broken", detail=str(broken))
        return StepOutcome("ok", tensors, grads, hook_calls, inputs, warnings=recorded)

    def finish(self) -> StepOutcome:
        """The final state: every tensor with its `.grad` (grad modes are already closed)."""
        if self.stopped:
            return StepOutcome("not_applicable", detail=self.stopped)
        try:
            names = self._live_names()
            return StepOutcome("ok", self._states(names), self._grads(names))
        except ObservationError as broken:
            return StepOutcome("broken", detail=str(broken))

    def _not_applicable(self, step: Step) -> str | None:
        if self.stopped:
            return f"not run: {self.stopped}"
        missing = required_capabilities(step) - self.capabilities
        if missing:
            return f"engine lacks capability {', '.join(sorted(missing))}"
        if isinstance(step, ApplyOp) and not self._supports(step.op):
            return f"engine does not support op {step.op}"
        return None

    def _act(self, step: Step) -> None:
        engine, tensors = self.engine, self.tensors
        if isinstance(step, MakeLeaf):
            tensors[step.name] = engine.tensor(_array(step.values), step.requires_grad)
        elif isinstance(step, ApplyOp):
            self._apply(step)
        elif isinstance(step, Backward):
            engine.backward(tensors[step.root], self._constant(step.gradient),
                            retain_graph=step.retain_graph, create_graph=step.create_graph,
                            inputs=None if step.inputs is None
                            else [tensors[name] for name in step.inputs])
        elif isinstance(step, AutogradGrad):
            self._autograd_grad(step)
        elif isinstance(step, ResetGrad):
            self.optional.reset_grad(tensors[step.name], step.how)
        elif isinstance(step, MutateData):
            data = self.optional.data(tensors[step.name])
            self.optional.inplace(data, step.method, (step.value,))
        elif isinstance(step, Detach):
            tensors[step.out] = self.optional.detach(tensors[step.source])
        elif isinstance(step, RequiresGrad):
            self.optional.requires_grad_(tensors[step.name], step.requires_grad)
        elif isinstance(step, InplaceOp):
            self.optional.inplace(tensors[step.name], step.method,
                           [self._resolve(arg) for arg in step.args])
        elif isinstance(step, RetainGrad):
            self.optional.retain_grad(tensors[step.name])
        elif isinstance(step, RegisterHook):
            self.optional.register_hook(tensors[step.name], self._hook(step))
        elif isinstance(step, SetItem):
            self.optional.setitem(tensors[step.name], self._resolve(step.index),
                                  self._resolve(step.value))
        elif isinstance(step, ReadGrad):
            tensors[step.out] = engine.grad(tensors[step.name])
        elif isinstance(step, AssignGrad):
            self.optional.assign_grad(tensors[step.name], self._constant(step.values))
        else:
            raise TypeError(f"unknown step {step!r}")

    def _apply(self, step: ApplyOp) -> None:
        args = [self._resolve(arg) for arg in step.args]
        result = self.engine.apply(step.op, args, {k: self._resolve(v) for k, v in step.kwargs})
        if not returns_tuple(step):
            self.tensors[step.outs[0]] = result
            return
        count = len(step.outs)
        if not isinstance(result, tuple | list) or len(result) != count:
            raise ObservationError(f"{step.op} returned {type(result).__name__}, "
                                   f"expected {count} results")
        self.tensors.update(zip(step.outs, result, strict=True))

    def _autograd_grad(self, step: AutogradGrad) -> None:
        grad_outputs = None if step.grad_outputs is None else [
            self._constant(values) for values in step.grad_outputs]
        results = self.optional.autograd_grad(
            [self.tensors[name] for name in step.outputs],
            [self.tensors[name] for name in step.inputs], grad_outputs,
            retain_graph=step.retain_graph, create_graph=step.create_graph,
            allow_unused=step.allow_unused)
        if not isinstance(results, tuple | list) or len(results) != len(step.outs):
            raise ObservationError(f"autograd_grad returned {type(results).__name__}, "
                                   f"expected {len(step.outs)} results")
        self.tensors.update(zip(step.outs, results, strict=True))

    def _hook(self, step: RegisterHook) -> Callable[[Any], Any]:
        index, session = self.hooks_registered, self
        self.hooks_registered += 1

        def hook(grad: Any) -> Any:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    call = HookCall(index, session._state(grad))
            except ObservationError as broken:
                call = HookCall(index, None, str(broken))
            session.hook_calls.append(call)
            if step.hook == "scale":
                return session.engine.apply("mul", (grad, step.factor), {})
            if step.hook in ("unsqueeze", "double", "float"):  # see HOOK_RESULTS
                args = (grad, 0) if step.hook == "unsqueeze" else (grad,)
                return session.engine.apply(step.hook, args, {})
            return 1 if step.hook == "number" else None

        return hook

    def _resolve(self, arg: Arg) -> Any:
        """An argument as the engine receives it: its tensors, Python slices and lists."""
        return python_index(arg, lambda ref: self.tensors[ref.name])

    def _constant(self, values: Values | None) -> Any:
        return None if values is None else self.engine.tensor(_array(values), False)

    def _input_values(self, step: ApplyOp) -> tuple[np.ndarray, ...]:
        """Values of an op's operands at call time (compare uses them to spot ties)."""
        arrays = []
        for arg in step.args:
            if isinstance(arg, Ref):
                arrays.append(self._values(self.tensors[arg.name]))
            elif isinstance(arg, float | int) and not isinstance(arg, bool):
                arrays.append(np.asarray(arg, dtype=np.float64))
        return tuple(arrays)

    # ----------------------------------------------------------------- observing

    def _observe(self, step: Step) -> tuple[tuple[tuple[str, TensorState | None], ...],
                                            tuple[tuple[str, TensorState | None], ...]]:
        """(changed tensors, grads) worth recording after a successful step."""
        if isinstance(step, MakeLeaf | ApplyOp | Detach | AutogradGrad | ReadGrad):
            changed: Sequence[str] = step.binds()
        elif isinstance(step, MutateData | RequiresGrad | InplaceOp | SetItem):
            changed = (step.name,)
        else:
            changed = ()
        if isinstance(step, Backward | AutogradGrad):
            grad_names: Sequence[str] = self._live_names()
        elif isinstance(step, ResetGrad | AssignGrad):
            grad_names = (step.name,)
        else:
            grad_names = ()
        return self._states(changed), self._grads(grad_names)

    def _live_names(self) -> list[str]:
        return [name for name in self.tensors if name not in self.failed]

    def _states(self, names: Sequence[str]) -> tuple[tuple[str, TensorState | None], ...]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tuple((name, self._maybe_state(self.tensors[name])) for name in names)

    def _grads(self, names: Sequence[str]) -> tuple[tuple[str, TensorState | None], ...]:
        if not names:
            return ()
        with warnings.catch_warnings():
            # torch warns when reading `.grad` of a non-leaf; reading it is still the truth.
            warnings.simplefilter("ignore")
            grads = []
            for name in names:
                tensor = self.tensors[name]
                if tensor is None:
                    continue
                try:
                    grad = self.engine.grad(tensor)
                except Exception as error:
                    raise ObservationError(f".grad of {name} raised "
                                           f"{type(error).__name__}: {error}") from None
                grads.append((name, self._maybe_state(grad)))
            return tuple(grads)

    def _maybe_state(self, tensor: Any) -> TensorState | None:
        return None if tensor is None else self._state(tensor)

    def _values(self, tensor: Any) -> np.ndarray:
        try:
            values = self.engine.to_numpy(tensor)
        except Exception as error:
            raise ObservationError(f"cannot read {type(tensor).__name__} as an array: "
                                   f"{type(error).__name__}: {error}") from None
        if not isinstance(values, np.ndarray):
            raise ObservationError(f"to_numpy returned {type(values).__name__}")
        return values

    def _state(self, tensor: Any) -> TensorState:
        values = self._values(tensor)
        if caps.FLAGS not in self.capabilities:
            return TensorState(values)
        try:
            requires_grad, is_leaf, grad_fn = self.optional.flags(tensor)
        except Exception as error:
            raise ObservationError(f"cannot read flags of {type(tensor).__name__}: "
                                   f"{type(error).__name__}: {error}") from None
        return TensorState(values, requires_grad, is_leaf,
                           grad_fn if caps.GRAD_FN_NAMES in self.capabilities else None)


def _array(values: Values) -> np.ndarray:
    return np.array(values.data, dtype=values.dtype).reshape(values.shape)


@runtime_checkable
class ProgramRunner(Protocol):
    """Runs whole programs itself instead of step by step in this process: an engine in a
    worker process (isolation.py), or an oracle's recorded traces (corpus.py)."""

    name: str
    version: str
    capabilities: frozenset[str]

    def run_programs(self, programs: Sequence[Program]) -> list[Trace]:
        """One trace per program, in order."""


@runtime_checkable
class BackgroundRunner(ProgramRunner, Protocol):
    """A `ProgramRunner` that can run programs while this process does something else."""

    def start(self, programs: Sequence[Program]) -> Callable[[], list[Trace]]:
        """Start the programs; the result waits for their traces."""


AnyEngine: TypeAlias = Engine | ProgramRunner


def run_program(program: Program, engine: AnyEngine) -> Trace:
    """Run every step of `program` on `engine` (see the module docstring)."""
    if isinstance(engine, ProgramRunner):
        return engine.run_programs([program])[0]
    session = Session(engine)
    for _ in session.run(program):
        pass
    return session.trace()


def run_pair(program: Program, engine: AnyEngine, oracle: AnyEngine) -> tuple[Trace, Trace]:
    """The program's traces on the engine and on the oracle; an engine in a worker process
    runs it while the oracle runs here."""
    if not isinstance(engine, BackgroundRunner):
        return run_program(program, engine), run_program(program, oracle)
    collect = engine.start([program])
    try:
        expected = run_program(program, oracle)
    finally:
        (actual,) = collect()
    return actual, expected


def run_programs(programs: Sequence[Program], engine: AnyEngine) -> list[Trace]:
    """`run_program` for each program; a `ProgramRunner` gets them all at once (a batch)."""
    if isinstance(engine, ProgramRunner):
        return engine.run_programs(programs)
    return [run_program(program, engine) for program in programs]


def _engine_name(engine: Engine) -> str:
    return str(getattr(engine, "name", type(engine).__name__))
