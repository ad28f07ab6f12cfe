"""The wire format: every message and trace survives the trip exactly, anything else is a
`WireError`, and a worker refuses a kit that speaks another version."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.program import ApplyOp, MakeLeaf, Program, Ref, Values
from conformance.run import ErrorInfo, HookCall, StepOutcome, TensorState, Trace
from conformance.wire import (
    WIRE_VERSION,
    Bye,
    Hello,
    Message,
    ProgramDone,
    Ready,
    Refused,
    Run,
    StepDone,
    WireError,
    decode_array,
    decode_message,
    decode_trace,
    encode_array,
    encode_message,
    encode_trace,
)

REPO = Path(__file__).resolve().parents[2]

ARRAYS = [
    np.array([1.5, -0.0, np.inf, -np.inf], dtype=np.float32),
    np.array([[np.nan, 1e-300], [2.0, -3.0]], dtype=np.float64),
    np.array([0.1, 65504.0], dtype=np.float16),
    np.array([True, False]),
    np.arange(6, dtype=np.int64).reshape(2, 3),
    np.array(3.25, dtype=np.float32),  # 0-dim
    np.zeros((0, 3), dtype=np.float32),  # empty
]


@pytest.mark.parametrize("values", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_arrays_arrive_bit_for_bit(values: np.ndarray) -> None:
    back = decode_array(json.loads(json.dumps(encode_array(values))))
    assert back.dtype == values.dtype
    assert back.shape == values.shape
    assert back.tobytes() == values.tobytes()
    assert back.flags.writeable


def test_a_big_endian_array_arrives_in_native_order() -> None:
    values = np.array([1.0, 2.0], dtype=">f4")
    back = decode_array(encode_array(values))
    assert back.dtype == np.dtype("float32")
    np.testing.assert_array_equal(back, values)


def test_an_array_of_objects_cannot_be_sent() -> None:
    with pytest.raises(WireError, match="cannot send an array of dtype object"):
        encode_array(np.array([object()]))


OUTCOME = StepOutcome(
    "raised",
    tensors=(("t0", TensorState(np.array([1.0], dtype=np.float32), True, True, None)),
             ("t1", None)),
    grads=(("t0", TensorState(np.array([2.0], dtype=np.float32))),),
    hook_calls=(HookCall(0, TensorState(np.array([3.0], dtype=np.float32), False, True)),
                HookCall(1, None, "cannot read it")),
    inputs=(np.array([0.0], dtype=np.float32),),
    error=ErrorInfo("RuntimeError", "one of the variables needed..."),
    warnings=(ErrorInfo("UserWarning", "careful"),),
    detail="why",
)
PROGRAM = Program((MakeLeaf("t0", Values((1,), (-0.5,))),
                   ApplyOp(("t1",), "exp", (Ref("t0"),))))

MESSAGES: list[Message] = [
    Hello("pkg.module:Adapter"),
    Ready("refgrad", "0.1.0", frozenset({"flags", "hooks"}), "3.11.7"),
    Refused("cannot import engine module 'x'"),
    Run(3, (PROGRAM, PROGRAM)),
    StepDone(3, 1, 0, OUTCOME),
    ProgramDone(3, 1, StepOutcome("ok")),
    Bye(),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_is_one_line_that_decodes_to_the_same_message(message: Message) -> None:
    line = encode_message(message)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    back = decode_message(line)
    if isinstance(message, StepDone | ProgramDone):  # outcomes hold arrays: compare lines
        assert type(back) is type(message)
        assert encode_message(back) == line
    else:
        assert back == message


def test_a_trace_round_trips_and_leaves_defaults_out() -> None:
    trace = Trace("refgrad", frozenset({"flags"}), (OUTCOME, StepOutcome("ok")),
                  StepOutcome("ok"))
    data = encode_trace(trace)
    assert data["outcomes"][1] == {"status": "ok"}
    back = decode_trace(json.loads(json.dumps(data)), "refgrad", frozenset({"flags"}))
    assert encode_trace(back) == data
    assert (back.engine, back.capabilities) == (trace.engine, trace.capabilities)


@pytest.mark.parametrize(("line", "complaint"), [
    (b"this is not json\n", "not a message: b'this is not json\\n' (JSONDecodeError"),
    (b"[1, 2]\n", "not a message: b'[1, 2]\\n' (TypeError"),
    (b'{"type": "dance"}\n', "unknown message type 'dance'"),
    (b'{"type": "step", "batch": 0}\n', "not a message"),
    (b'{"type": "done", "batch": 0, "program": 0, "final": {"status": "exploded"}}\n',
     "unknown step status 'exploded'"),
    (b'\xff\xfe\n', "not a message"),
])
def test_anything_else_is_a_wire_error(line: bytes, complaint: str) -> None:
    with pytest.raises(WireError) as raised:
        decode_message(line)
    assert complaint in str(raised.value)


def _worker(*lines: bytes) -> tuple[int, list[Message]]:
    done = subprocess.run([sys.executable, "-m", "conformance.worker"], input=b"".join(lines),
                          capture_output=True, cwd=REPO, check=False)
    return done.returncode, [decode_message(line) for line in done.stdout.splitlines()]


def test_a_worker_refuses_another_wire_version() -> None:
    code, replies = _worker(b'{"type": "hello", "wire": 99, "engine": "refgrad"}\n')
    assert code == 2
    assert replies == [Refused(f"wire version 99 requested, this worker speaks {WIRE_VERSION}")]


def test_a_worker_runs_by_hand_on_stdin_and_stdout() -> None:
    code, replies = _worker(encode_message(Hello("refgrad")),
                            encode_message(Run(0, (PROGRAM,))), encode_message(Bye()))
    assert code == 0
    assert [type(r).__name__ for r in replies] == ["Ready", "StepDone", "StepDone",
                                                  "ProgramDone"]
