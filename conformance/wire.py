"""The wire format: messages between the kit and an engine worker, and traces as JSON.

One place for the schema and its version (`WIRE_VERSION`); docs/wire-protocol.md
describes it for people. Each message is one line of JSON (UTF-8, ending in a newline)
with a "type" field. The kit sends `Hello`, then `Run` batches, then `Bye`; the worker
answers `Hello` with `Ready` (or `Refused`), and runs each program of a batch in order,
sending a `StepDone` after every step and a `ProgramDone` with the final state, so a
worker that dies mid-program has already told which steps it finished.

Traces use the same JSON here and in the recorded corpus (corpus.py). Arrays travel as
dtype, shape and the little-endian bytes in base64: exact for every value (NaN payloads,
-0.0, float16) and compact.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from conformance.program import Program
from conformance.run import ErrorInfo, HookCall, Status, StepOutcome, TensorState, Trace

WIRE_VERSION = 1

_STATUSES = frozenset(get_args(Status))
# dtypes an engine's `to_numpy` may sensibly return (bool, ints, floats, complex).
_SENDABLE_KINDS = frozenset("biufc")


class WireError(Exception):
    """Something that does not follow the wire format (the message says what)."""


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Hello:
    """kit -> worker, first: load this engine spec."""

    engine: str
    wire: int = WIRE_VERSION


@dataclass(frozen=True)
class Ready:
    """worker -> kit: the engine loaded; what it is."""

    name: str
    version: str
    capabilities: frozenset[str]
    python: str  # the worker interpreter's version, for the record
    wire: int = WIRE_VERSION


@dataclass(frozen=True)
class Refused:
    """worker -> kit: the engine spec (or the wire version) is unusable; one line why."""

    error: str
    wire: int = WIRE_VERSION


@dataclass(frozen=True)
class Run:
    """kit -> worker: run these programs in order, each on fresh state."""

    batch: int
    programs: tuple[Program, ...]


@dataclass(frozen=True)
class StepDone:
    """worker -> kit: program `program` of batch `batch` finished step `step`."""

    batch: int
    program: int
    step: int
    outcome: StepOutcome


@dataclass(frozen=True)
class ProgramDone:
    """worker -> kit: the program is over; its final state (every tensor and `.grad`)."""

    batch: int
    program: int
    final: StepOutcome


@dataclass(frozen=True)
class Bye:
    """kit -> worker: exit."""


Message = Hello | Ready | Refused | Run | StepDone | ProgramDone | Bye


def encode_message(message: Message) -> bytes:
    """One line of JSON (with its newline)."""
    if isinstance(message, Hello):
        data: dict[str, Any] = {"type": "hello", "wire": message.wire, "engine": message.engine}
    elif isinstance(message, Ready):
        data = {"type": "ready", "wire": message.wire, "name": message.name,
                "version": message.version, "capabilities": sorted(message.capabilities),
                "python": message.python}
    elif isinstance(message, Refused):
        data = {"type": "refused", "wire": message.wire, "error": message.error}
    elif isinstance(message, Run):
        data = {"type": "run", "batch": message.batch,
                "programs": [program.to_data() for program in message.programs]}
    elif isinstance(message, StepDone):
        data = {"type": "step", "batch": message.batch, "program": message.program,
                "step": message.step, "outcome": encode_outcome(message.outcome)}
    elif isinstance(message, ProgramDone):
        data = {"type": "done", "batch": message.batch, "program": message.program,
                "final": encode_outcome(message.final)}
    else:
        data = {"type": "bye"}
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def decode_message(line: bytes) -> Message:
    """The message a line holds; `WireError` if it holds none."""
    try:
        data = json.loads(line)
        kind = data["type"]
        if kind == "hello":
            return Hello(str(data["engine"]), int(data["wire"]))
        if kind == "ready":
            return Ready(str(data["name"]), str(data["version"]),
                         frozenset(str(c) for c in data["capabilities"]), str(data["python"]),
                         int(data["wire"]))
        if kind == "refused":
            return Refused(str(data["error"]), int(data["wire"]))
        if kind == "run":
            return Run(int(data["batch"]),
                       tuple(Program.from_data(program) for program in data["programs"]))
        if kind == "step":
            return StepDone(int(data["batch"]), int(data["program"]), int(data["step"]),
                            decode_outcome(data["outcome"]))
        if kind == "done":
            return ProgramDone(int(data["batch"]), int(data["program"]),
                               decode_outcome(data["final"]))
        if kind == "bye":
            return Bye()
    except WireError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise WireError(f"not a message: {_excerpt(line)} ({type(error).__name__}: "
                        f"{error})") from None
    raise WireError(f"unknown message type {kind!r}")


def _excerpt(line: bytes, limit: int = 60) -> str:
    text = repr(line[:limit])
    return text + "..." if len(line) > limit else text


# --------------------------------------------------------------------------- arrays


def encode_array(values: np.ndarray) -> dict[str, Any]:
    if values.dtype.kind not in _SENDABLE_KINDS:
        raise WireError(f"cannot send an array of dtype {values.dtype}")
    little = values.astype(values.dtype.newbyteorder("<"), copy=False)
    return {"dtype": values.dtype.name, "shape": list(values.shape),
            "b64": base64.b64encode(np.ascontiguousarray(little).tobytes()).decode("ascii")}


def decode_array(data: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(data["dtype"])
    if dtype.kind not in _SENDABLE_KINDS:
        raise WireError(f"unexpected array dtype {dtype}")
    try:
        raw = base64.b64decode(data["b64"], validate=True)
    except binascii.Error as error:
        raise WireError(f"array bytes are not base64: {error}") from None
    shape = tuple(int(n) for n in data["shape"])
    flat = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    return flat.astype(dtype).reshape(shape)  # native order, writable, owns its memory


# --------------------------------------------------------------------------- traces
# Fields at their default are left out (a recorded corpus stays small).


def encode_state(state: TensorState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    data: dict[str, Any] = {"values": encode_array(state.values)}
    for flag in ("requires_grad", "is_leaf", "grad_fn"):
        if getattr(state, flag) is not None:
            data[flag] = getattr(state, flag)
    return data


def decode_state(data: dict[str, Any] | None) -> TensorState | None:
    if data is None:
        return None
    return TensorState(decode_array(data["values"]), data.get("requires_grad"),
                       data.get("is_leaf"), data.get("grad_fn"))


def encode_outcome(outcome: StepOutcome) -> dict[str, Any]:
    data: dict[str, Any] = {"status": outcome.status}
    if outcome.tensors:
        data["tensors"] = [[name, encode_state(state)] for name, state in outcome.tensors]
    if outcome.grads:
        data["grads"] = [[name, encode_state(state)] for name, state in outcome.grads]
    if outcome.hook_calls:
        data["hook_calls"] = [{"hook": call.hook, "grad": encode_state(call.grad),
                               **({"detail": call.detail} if call.detail else {})}
                              for call in outcome.hook_calls]
    if outcome.inputs:
        data["inputs"] = [encode_array(values) for values in outcome.inputs]
    if outcome.error is not None:
        data["error"] = _encode_error(outcome.error)
    if outcome.warnings:
        data["warnings"] = [_encode_error(warning) for warning in outcome.warnings]
    if outcome.detail:
        data["detail"] = outcome.detail
    return data


def decode_outcome(data: dict[str, Any]) -> StepOutcome:
    status = data["status"]
    if status not in _STATUSES:
        raise WireError(f"unknown step status {status!r}")
    error = data.get("error")
    return StepOutcome(
        status,
        tuple((str(name), decode_state(state)) for name, state in data.get("tensors", ())),
        tuple((str(name), decode_state(state)) for name, state in data.get("grads", ())),
        tuple(HookCall(int(call["hook"]), decode_state(call["grad"]), call.get("detail", ""))
              for call in data.get("hook_calls", ())),
        tuple(decode_array(values) for values in data.get("inputs", ())),
        None if error is None else _decode_error(error),
        tuple(_decode_error(warning) for warning in data.get("warnings", ())),
        str(data.get("detail", "")),
    )


def _encode_error(error: ErrorInfo) -> list[str]:
    return [error.type, error.message]


def _decode_error(data: list[str]) -> ErrorInfo:
    kind, message = data
    return ErrorInfo(str(kind), str(message))


def encode_trace(trace: Trace) -> dict[str, Any]:
    """A trace's outcomes and final state (the engine is described elsewhere)."""
    return {"outcomes": [encode_outcome(o) for o in trace.outcomes],
            "final": encode_outcome(trace.final)}


def decode_trace(data: dict[str, Any], engine: str, capabilities: frozenset[str]) -> Trace:
    try:
        return Trace(engine, capabilities,
                     tuple(decode_outcome(o) for o in data["outcomes"]),
                     decode_outcome(data["final"]))
    except WireError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise WireError(f"not a trace ({type(error).__name__}: {error})") from None
