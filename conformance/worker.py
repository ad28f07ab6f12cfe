"""The engine worker: one engine in its own process, running the programs the kit sends.

The kit starts it (isolation.py) under any Python interpreter that has NumPy, and speaks
the wire format of wire.py over its stdin and stdout (docs/wire-protocol.md). The engine
cannot disturb that channel by ordinary means: the worker keeps private copies of the
two pipes, then points the process's own stdin at /dev/null and its stdout at stderr, so
whatever the engine prints (from Python or from C) goes to stderr.

Runs by hand too: ``python -m conformance.worker`` reads a `Hello` line on stdin.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import replace
from typing import BinaryIO

from conformance.engines import EngineSpecError, load_engine
from conformance.engines.protocol import Engine
from conformance.program import Program
from conformance.run import Session, StepOutcome
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
    decode_message,
    encode_message,
)

# The protocol's output stream once `main` has claimed it. Nothing in the kit needs it
# from here; the kit's tests reach for it to play an engine that corrupts the channel.
protocol_output: BinaryIO | None = None


class _Channel:
    def __init__(self, incoming: BinaryIO, outgoing: BinaryIO) -> None:
        self.incoming, self.outgoing = incoming, outgoing

    def receive(self) -> Message | None:
        """The next message, or None when the kit closed the pipe."""
        line = self.incoming.readline()
        return decode_message(line) if line else None

    def send(self, message: Message) -> None:
        try:
            line = encode_message(message)
        except WireError as error:  # a result the wire cannot carry (say, an object array)
            line = encode_message(_unsendable(message, error))
        self.outgoing.write(line)
        self.outgoing.flush()  # the kit must see every finished step, even if we die next


def _unsendable(message: Message, error: WireError) -> Message:
    broken = StepOutcome("broken", detail=f"result cannot be sent to the kit: {error}")
    if isinstance(message, StepDone):
        return replace(message, outcome=broken)
    if isinstance(message, ProgramDone):
        return replace(message, final=broken)
    raise error


def main() -> int:
    global protocol_output
    incoming, outgoing = _claim_standard_streams()
    protocol_output = outgoing
    try:
        return serve(_Channel(incoming, outgoing))
    except BrokenPipeError:  # the kit went away: nobody to report to
        return 1


def _claim_standard_streams() -> tuple[BinaryIO, BinaryIO]:
    """Private copies of stdin/stdout for the protocol; the engine gets /dev/null and stderr."""
    sys.stdout.flush()
    incoming = os.fdopen(os.dup(0), "rb")
    outgoing = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return incoming, outgoing


def serve(channel: _Channel) -> int:
    """Answer a `Hello`, then run batches until `Bye` or end of input. Exit status: 0 done,
    2 engine refused, 3 protocol error (the kit treats any death as the program's)."""
    try:
        hello = channel.receive()
    except WireError as error:
        channel.send(Refused(f"expected a hello message: {error}"))
        return 3
    if not isinstance(hello, Hello):
        channel.send(Refused(f"expected a hello message, got {type(hello).__name__}"))
        return 3
    if hello.wire != WIRE_VERSION:
        channel.send(Refused(f"wire version {hello.wire} requested, this worker speaks "
                             f"{WIRE_VERSION}"))
        return 2
    try:
        engine = load_engine(hello.engine)
    except EngineSpecError as error:
        channel.send(Refused(str(error)))
        return 2
    channel.send(Ready(engine.name, engine.version, frozenset(engine.capabilities),
                       platform.python_version()))
    while True:
        try:
            message = channel.receive()
        except WireError as error:
            print(f"conformance worker: {error}", file=sys.stderr)
            return 3
        if message is None or isinstance(message, Bye):
            return 0
        if not isinstance(message, Run):
            print(f"conformance worker: unexpected {type(message).__name__}", file=sys.stderr)
            return 3
        for index, program in enumerate(message.programs):
            _run(channel, engine, message.batch, index, program)


def _run(channel: _Channel, engine: Engine, batch: int, index: int, program: Program) -> None:
    """One program on fresh state, reporting each step as soon as it is done."""
    session = Session(engine)
    for number, outcome in enumerate(session.run(program)):
        channel.send(StepDone(batch, index, number, outcome))
    final = session.finish()
    del session  # the program's tensors go before it counts as done
    channel.send(ProgramDone(batch, index, final))


if __name__ == "__main__":
    sys.exit(main())
