"""Compare an engine's trace with the oracle's: (program, trace, trace) -> findings.

What is compared, step by step: the outcome (ran / raised / ...), exceptions by class
and message, warnings, and every recorded tensor (bound tensors, `.grad`s, gradients seen
by hooks): shape, dtype, requires_grad, is_leaf and grad_fn exactly, values within a
tolerance. The comparison stops at the first step that differs: later differences are
usually consequences, and shrinking separates independent bugs anyway.

Three rules keep the kit from crying wolf:
- `tolerance`: torch.testing.assert_close defaults, widened only for accumulated rounding;
- rounding, told apart in float64 (`ROUNDING_SUSPECT`): when the first differing step
  differs only in finite values, each by at most 100 tolerances, and the engine declares
  float64, the program is run again on both engines with every float32 constant made
  float64. If the engines then agree (float64 tolerances, every check), the difference
  was float32 rounding: the program is counted as such, not reported. A real bug
  differs in float64 too; a program already all float64 is not re-run;
- numerically ambiguous programs: when an op with a discontinuity (relu at 0, ties of
  max, clamp bounds, `>`) got inputs that differ between the engines by rounding and lie
  within tolerance of the discontinuity, any later value difference may be rounding
  amplified by the jump, so value checks from that step on are skipped (the program is
  counted as ambiguous). With bit-identical inputs, the comparison stays exact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from conformance.catalogue import CATALOGUE
from conformance.engines import protocol as caps
from conformance.program import (
    ApplyOp,
    AssignGrad,
    AutogradGrad,
    Backward,
    InplaceOp,
    MakeLeaf,
    Program,
    Step,
    Values,
)
from conformance.run import ErrorInfo, HookCall, StepOutcome, TensorState, Trace

# --------------------------------------------------------------------------- tolerances


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol {self.rtol:.2g}, atol {self.atol:.2g}"


# torch.testing.assert_close defaults.
DEFAULT_TOLERANCES = {"float32": Tolerance(1.3e-6, 1e-5), "float64": Tolerance(1e-7, 1e-7)}
_UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}


def tolerance(dtype: str, rounding_steps: int, magnitude: float) -> Tolerance:
    """assert_close's defaults, widened for rounding a program can accumulate.

    Why: each floating-point operation adds at most one unit roundoff `u` relative to the
    magnitude of its operands, and a sum of n terms adds up to n - 1 of them (Higham,
    *Accuracy and Stability of Numerical Algorithms*, ch. 3), so an engine that orders its
    operations differently may differ by about `rounding_steps * u * magnitude`. That
    bound is absolute: under cancellation the relative error is unbounded, so the extra
    slack goes to atol and is scaled by the largest magnitude in play. The defaults already
    allow ~20 u (float32), so rtol widens only past 16 rounding steps.
    """
    base = DEFAULT_TOLERANCES[dtype]
    factor = max(1.0, rounding_steps / 16)
    extra = 2 * _UNIT_ROUNDOFF[dtype] * rounding_steps * magnitude
    return Tolerance(base.rtol * factor, base.atol * factor + extra)


def program_tolerance(program: Program, oracle: Trace) -> Tolerance:
    """The tolerance for every value of a program (see `tolerance`).

    dtype: the least precise float dtype among its leaves and every tensor the oracle
    showed, since float32 rounding flows on into float64 results (a float64 leaf cast to
    float32 and back gets a float64 gradient with float32's rounding in it). Rounding
    steps: ops (twice if a backward replays them), plus the largest tensor size as a bound
    on any reduction's fan-in (sums, matmul, and the sums backward does over broadcast
    dimensions).
    """
    dtypes: set[str] = {s.values.dtype for s in program.steps if isinstance(s, MakeLeaf)}
    ops = sum(isinstance(step, ApplyOp | InplaceOp) for step in program.steps)
    passes = 1 + sum(isinstance(step, Backward | AutogradGrad) for step in program.steps)
    largest, magnitude = 1, 0.0
    for state in _states(oracle):
        dtypes.add(state.dtype)
        largest = max(largest, state.values.size)
        magnitude = max(magnitude, _finite_magnitude(state.values))
    dtype = "float32" if "float32" in dtypes or not dtypes else "float64"
    return tolerance(dtype, ops * min(passes, 3) + largest, magnitude)


def _states(trace: Trace) -> Iterator[TensorState]:
    for outcome in (*trace.outcomes, trace.final):
        for _, state in (*outcome.tensors, *outcome.grads):
            if state is not None:
                yield state
        for call in outcome.hook_calls:
            if call.grad is not None:
                yield call.grad


def _finite_magnitude(values: np.ndarray) -> float:
    if values.dtype.kind != "f" or values.size == 0:
        return 0.0
    finite = values[np.isfinite(values)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One way the engine differs from the oracle, with the program that shows it."""

    behaviour: str
    check: str  # what differed: status, error_type, error_message, warnings, value, ...
    step_index: int  # len(program.steps) for the final state
    step: str  # the step as pseudo-code
    subject: str  # which tensor / field: "t1", "t0.grad", "hook 0 call 1", "error"
    expected: str  # the oracle's
    actual: str  # the engine's
    detail: str
    program: Program

    @property
    def ops(self) -> tuple[str, ...]:
        return self.program.ops()

    @property
    def signature(self) -> tuple[str, str, str]:
        """(check, step kind, op): equal for findings that look like the same bug."""
        step = self.program.steps[self.step_index] if self.step_index < len(
            self.program.steps) else None
        return (self.check, _step_kind(step), _step_op(step))

    def explained_by(self, known: Finding) -> bool:
        """Whether `known` likely explains this finding (so it need not be reported).

        Same signature, and one of: the same wrong answer where answers are names or
        messages (a wrong grad_fn name or error text is one bug, whatever op shows it); a
        wrong `.grad` of a non-leaf (the retain_grad / inputs= machinery, not an op's
        derivative); or this program exercises every op of the known one (a bigger
        program showing the same bug).
        """
        if self.signature != known.signature:
            return False
        if self.check in SAME_ANSWER_SAME_BUG and (self.expected, self.actual) == (
                known.expected, known.actual):
            return True
        if self.about_non_leaf_grad() and known.about_non_leaf_grad():
            return True
        return set(known.ops) <= set(self.ops)

    def about_non_leaf_grad(self) -> bool:
        name = self.subject.removesuffix(".grad")
        return name != self.subject and any(
            isinstance(step, ApplyOp) and name in step.outs for step in self.program.steps)

    def __str__(self) -> str:
        where = "at the end of the program" if self.step_index >= len(self.program.steps) \
            else f"at step {self.step_index}: {self.step}"
        lines = [f"[{self.behaviour}] {self.check} of {self.subject} differs {where}",
                 f"  expected (oracle): {self.expected}",
                 f"  actual (engine):   {self.actual}"]
        if self.detail:
            lines.append(f"  {self.detail}")
        lines.append("  program:")
        lines.extend(f"    {line}" for line in str(self.program).splitlines())
        return "\n".join(lines)

    def to_data(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "program"}
        return {**data, "ops": list(self.ops), "program": self.program.to_data()}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Finding:
        values = {f.name: data[f.name] for f in fields(cls) if f.name != "program"}
        return cls(**values, program=Program.from_data(data["program"]))


SAME_ANSWER_SAME_BUG = frozenset({"status", "error_type", "error_message", "grad_fn", "dtype"})


def _step_kind(step: Step | None) -> str:
    if step is None:
        return "end"
    # A wrong derivative shows the same through backward() and autograd.grad().
    return "gradient" if isinstance(step, Backward | AutogradGrad) else step.kind


def _step_op(step: Step | None) -> str:
    if isinstance(step, ApplyOp):
        return step.op
    if isinstance(step, InplaceOp):
        return step.method
    return ""


@dataclass(frozen=True)
class Difference:
    check: str
    subject: str
    expected: str
    actual: str
    detail: str = ""
    excess: float = math.inf  # for finite values: the worst |a - e| in tolerances


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Comparison:
    """The result of comparing one program's two traces."""

    findings: tuple[Finding, ...]
    not_applicable: str | None = None  # why the engine could not run all of it
    ambiguous: bool = False  # value checks skipped from a step on (see module docstring)
    rounding: bool = False  # differed in float32 only, agreed in float64 (module docstring)


# Runs a program on the engine and the oracle (the caller knows how and where).
Rerun = Callable[[Program], tuple[Trace, Trace]]

# A value difference of at most this many tolerances may be float32 rounding amplified
# by the program (division by a difference, exp, pow); more is never rounding. Kept
# small so an engine computing float32 in a lower precision (float16 is ~400 tolerances
# off) is still reported.
ROUNDING_SUSPECT = 100.0


def compare(program: Program, engine: Trace, oracle: Trace, *,
            behaviour: str = "unspecified") -> tuple[Finding, ...]:
    """Findings at the first step where the engine's trace differs from the oracle's."""
    return compare_traces(program, engine, oracle, behaviour=behaviour).findings


def compare_traces(program: Program, engine: Trace, oracle: Trace, *,
                   behaviour: str = "unspecified", rerun: Rerun | None = None) -> Comparison:
    """`compare`, also telling whether the program was fully comparable.

    With `rerun`, slight value differences are re-checked in float64 (module docstring).
    """
    context = _Context(program, engine, oracle)
    steps = program.steps
    for index, (step, actual, expected) in enumerate(
            zip(steps, engine.outcomes, oracle.outcomes, strict=False)):
        if "not_applicable" in (actual.status, expected.status):
            return context.result((), actual.detail or expected.detail)
        # First: an op whose inputs sit on its discontinuity (floor at 2 - 1e-7 in one
        # engine, 2 in the other) may already differ in its own result.
        context.note_inputs(index, step, actual, expected)
        numeric = index < context.ambiguous_from
        differences = compare_outcomes(actual, expected, context, numeric=numeric)
        if differences:
            return context.judge(index, str(step), differences, behaviour, rerun)
    numeric = len(steps) < context.ambiguous_from
    differences = compare_outcomes(engine.final, oracle.final, context, numeric=numeric)
    return context.judge(len(steps), "end of program", differences, behaviour, rerun)


def in_float64(program: Program) -> Program | None:
    """The program with every float32 constant (leaves, gradients, assigned `.grad`s) made
    float64; None if it has none."""
    def widen(values: Values) -> Values:  # (int64 and bool leaves are indices and masks)
        return replace(values, dtype="float64") if values.dtype == "float32" else values

    steps = []
    for step in program.steps:
        if isinstance(step, MakeLeaf):
            step = replace(step, values=widen(step.values))
        elif isinstance(step, Backward) and step.gradient is not None:
            step = replace(step, gradient=widen(step.gradient))
        elif isinstance(step, AutogradGrad) and step.grad_outputs is not None:
            step = replace(step, grad_outputs=tuple(widen(v) for v in step.grad_outputs))
        elif isinstance(step, AssignGrad):
            step = replace(step, values=widen(step.values))
        steps.append(step)
    wide = Program(tuple(steps))
    return None if wide == program else wide


class _Context:
    """What comparing needs besides the two outcomes."""

    def __init__(self, program: Program, engine: Trace, oracle: Trace) -> None:
        self.program, self.oracle = program, oracle
        self.compare_errors = caps.ERRORS in engine.capabilities
        self.compare_warnings = caps.WARNINGS in engine.capabilities
        self.compare_flags = caps.FLAGS in engine.capabilities
        self.compare_grad_fn = caps.GRAD_FN_NAMES in engine.capabilities
        self.float64 = caps.FLOAT64 in engine.capabilities
        self.ambiguous_from: float = math.inf
        self._tolerance: Tolerance | None = None

    @property
    def tolerance(self) -> Tolerance:
        # Computed on first need: identical traces (the common case) never need it.
        if self._tolerance is None:
            self._tolerance = program_tolerance(self.program, self.oracle)
        return self._tolerance

    def note_inputs(self, index: int, step: Step, actual: StepOutcome,
                    expected: StepOutcome) -> None:
        """Mark the program ambiguous from an op whose inputs sit on its discontinuity."""
        if not isinstance(step, ApplyOp) or not expected.inputs or index >= self.ambiguous_from:
            return
        near_critical = CATALOGUE[step.op].near_critical
        identical = len(actual.inputs) == len(expected.inputs) and all(
            a.shape == e.shape and np.array_equal(a, e, equal_nan=True)
            for a, e in zip(actual.inputs, expected.inputs, strict=True))
        if identical or near_critical is None:
            return
        tol = self.tolerance
        if near_critical(expected.inputs, dict(step.kwargs), tol.atol, tol.rtol):
            self.ambiguous_from = index

    def result(self, findings: tuple[Finding, ...],
               not_applicable: str | None = None) -> Comparison:
        return Comparison(findings, not_applicable, self.ambiguous_from != math.inf)

    def judge(self, index: int, step: str, differences: list[Difference], behaviour: str,
              rerun: Rerun | None) -> Comparison:
        """The comparison's result: findings, unless float64 shows them to be rounding."""
        if differences and rerun is not None and self.float64 and all(
                d.excess <= ROUNDING_SUSPECT for d in differences):
            wide = in_float64(self.program)
            if wide is not None:
                again = compare_traces(wide, *rerun(wide), behaviour=behaviour)
                if not (again.findings or again.not_applicable):
                    return replace(self.result(()), rounding=True)
        return self.result(_findings(behaviour, self.program, index, step, differences))


def _findings(behaviour: str, program: Program, index: int, step: str,
              differences: list[Difference]) -> tuple[Finding, ...]:
    return tuple(Finding(behaviour, d.check, index, step, d.subject, d.expected, d.actual,
                         d.detail, program) for d in differences)


def compare_outcomes(actual: StepOutcome, expected: StepOutcome, context: _Context, *,
                     numeric: bool = True) -> list[Difference]:
    """Differences between two outcomes of the same step (engine first, oracle second)."""
    if actual.status != expected.status:
        return [Difference("status", "outcome", _describe_outcome(expected),
                           _describe_outcome(actual))]
    differences: list[Difference] = []
    if actual.error is not None and expected.error is not None and context.compare_errors:
        differences.extend(_compare_errors(actual.error, expected.error))
    if context.compare_warnings:
        differences.extend(_compare_warnings(actual.warnings, expected.warnings))
    differences.extend(_compare_named(actual.tensors, expected.tensors, "", context, numeric))
    differences.extend(_compare_named(actual.grads, expected.grads, ".grad", context, numeric))
    differences.extend(_compare_hook_calls(actual.hook_calls, expected.hook_calls, context,
                                           numeric))
    return differences


# Build-specific tails and addresses in torch messages that a conforming engine cannot match.
_MESSAGE_NOISE = (
    (re.compile(r" \(Triggered internally at [^)]*\)"), ""),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x..."),
)


def normalise_message(message: str) -> str:
    for pattern, replacement in _MESSAGE_NOISE:
        message = pattern.sub(replacement, message)
    return message.strip()


def _compare_errors(actual: ErrorInfo, expected: ErrorInfo) -> list[Difference]:
    if actual.type != expected.type:
        return [Difference("error_type", "error", str(expected), str(actual))]
    if normalise_message(actual.message) != normalise_message(expected.message):
        return [Difference("error_message", "error", expected.message, actual.message)]
    return []


def _compare_warnings(actual: tuple[ErrorInfo, ...],
                      expected: tuple[ErrorInfo, ...]) -> list[Difference]:
    def normalised(items: tuple[ErrorInfo, ...]) -> list[tuple[str, str]]:
        return [(w.type, normalise_message(w.message)) for w in items]

    if normalised(actual) == normalised(expected):
        return []
    return [Difference("warnings", "warnings", _describe_list(expected),
                       _describe_list(actual))]


def _describe_list(items: tuple[ErrorInfo, ...]) -> str:
    return "; ".join(_shorten(str(w)) for w in items) if items else "no warnings"


def _compare_named(actual: tuple[tuple[str, TensorState | None], ...],
                   expected: tuple[tuple[str, TensorState | None], ...], suffix: str,
                   context: _Context, numeric: bool) -> list[Difference]:
    actual_by_name = dict(actual)
    differences = []
    for name, state in expected:
        subject = f"{name}{suffix}"
        if name not in actual_by_name:
            differences.append(Difference("missing", subject, "recorded", "not recorded"))
            continue
        differences.extend(compare_states(subject, actual_by_name[name], state, context,
                                          numeric))
    return differences


def _compare_hook_calls(actual: tuple[HookCall, ...], expected: tuple[HookCall, ...],
                        context: _Context, numeric: bool) -> list[Difference]:
    order_actual = [call.hook for call in actual]
    order_expected = [call.hook for call in expected]
    if order_actual != order_expected:
        return [Difference("hook_calls", "hook calls", f"hooks called in order {order_expected}",
                           f"hooks called in order {order_actual}")]
    differences = []
    for number, (a, e) in enumerate(zip(actual, expected, strict=True)):
        subject = f"gradient seen by hook {e.hook} (call {number})"
        differences.extend(compare_states(subject, a.grad, e.grad, context, numeric))
    return differences


def compare_states(subject: str, actual: TensorState | None, expected: TensorState | None,
                   context: _Context, numeric: bool = True) -> list[Difference]:
    """Differences between two observations of the same tensor."""
    if actual is None or expected is None:
        if actual is expected:
            return []
        return [Difference("presence", subject, describe_state(expected),
                           describe_state(actual))]
    if actual.shape != expected.shape:
        return [Difference("shape", subject, str(expected.shape), str(actual.shape))]
    differences = []
    if actual.dtype != expected.dtype:
        differences.append(Difference("dtype", subject, expected.dtype, actual.dtype))
    if context.compare_flags:
        for flag in ("requires_grad", "is_leaf"):
            if getattr(actual, flag) != getattr(expected, flag):
                differences.append(Difference(flag, subject, str(getattr(expected, flag)),
                                              str(getattr(actual, flag))))
    if context.compare_grad_fn and actual.grad_fn != expected.grad_fn:
        differences.append(Difference("grad_fn", subject, str(expected.grad_fn),
                                      str(actual.grad_fn)))
    if numeric:
        mismatch, excess = value_difference(actual.values, expected.values, context.tolerance)
        if mismatch:
            differences.append(Difference("value", subject, _format_values(expected.values),
                                          _format_values(actual.values), mismatch, excess))
    return differences


def value_mismatch(actual: np.ndarray, expected: np.ndarray, tol: Tolerance) -> str:
    """"" if the values agree, else where and by how much they first differ.

    NaN and inf must match exactly (position and sign); bool and int values exactly;
    finite floats within `tol` (assert_close's rule: |a - e| <= atol + rtol * |e|).
    """
    return value_difference(actual, expected, tol)[0]


def value_difference(actual: np.ndarray, expected: np.ndarray,
                     tol: Tolerance) -> tuple[str, float]:
    """`value_mismatch`, and the worst difference in tolerances (inf where compared
    exactly: non-finite, bool or int values)."""
    if np.array_equal(actual, expected, equal_nan=expected.dtype.kind == "f"):
        return "", 0.0  # the common case, decided without float arithmetic
    if expected.dtype.kind != "f" or actual.dtype.kind != "f":
        bad = np.argwhere(actual != expected)
        return f"first difference at {_position(bad[0])} (compared exactly)", math.inf
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    special = ~np.isfinite(a) | ~np.isfinite(e)
    same_special = np.where(np.isnan(e), np.isnan(a), a == e)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: decided by `special`
        allowed = tol.atol + tol.rtol * np.abs(e)
        close = np.abs(a - e) <= allowed
    bad = np.argwhere(np.where(special, ~same_special, ~close))
    if len(bad) == 0:  # (not bad.size: a 0-dim difference is one empty position)
        return "", 0.0
    position = tuple(bad[0])
    got, want = a[position], e[position]
    if special[position]:
        return (f"first difference at {_position(bad[0])}: {got!r} vs {want!r} "
                "(compared exactly)"), math.inf
    finite = ~special
    excess = math.inf if (special & ~same_special).any() else float(
        np.max(np.abs(a[finite] - e[finite]) / allowed[finite]))
    return (f"first difference at {_position(bad[0])}: |{got:.8g} - {want:.8g}| = "
            f"{abs(got - want):.3g} > {tol}"), excess


def _position(index: np.ndarray) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


# --------------------------------------------------------------------------- describing


def _format_values(values: np.ndarray) -> str:
    text = np.array2string(values, precision=6, threshold=20, separator=", ",
                           max_line_width=10_000)
    return " ".join(text.split())


def describe_state(state: TensorState | None) -> str:
    """A one-line description of an observed tensor."""
    if state is None:
        return "None"
    text = f"{_format_values(state.values)} {state.dtype}"
    if state.requires_grad:
        text += " requires_grad"
    if state.grad_fn:
        text += f" grad_fn={state.grad_fn}"
    return text


def _describe_outcome(outcome: StepOutcome) -> str:
    if outcome.status == "raised" and outcome.error is not None:
        return f"raised {_shorten(str(outcome.error))}"
    if outcome.status in ("broken", "skipped", "not_applicable"):
        return f"{outcome.status}: {outcome.detail}"
    return "ran without error"


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
