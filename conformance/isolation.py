"""Keeping the engine under test away from the oracle: in a worker process, or at least
never in front of it.

`WorkerEngine` is the kit's side of worker.py: a `ProgramRunner` that sends programs to
the engine in a worker process (under any Python interpreter) and assembles the same
traces run.py records in process. Whatever the worker does wrong is recorded, never
raised: a crash, a hang past the per-program timeout, garbage on the channel or an early
exit becomes a "broken" outcome of the step the worker was in (the steps it finished
were already reported), so the comparison reports a finding with that program, and a
fresh worker takes the next program. A death between two programs is blamed on the
next one.

`open_engines` loads the engine and the oracle for a run. In one process the oracle
loads first, and an engine that replaces the oracle's module (say, one installed under
the name `torch`) is refused: it would otherwise stand in for the oracle and conform to
itself. Run such an engine in a worker (`--isolate`, `--engine-python`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from conformance.engines import Engine, EngineSpecError, load_engine
from conformance.program import Program
from conformance.run import AnyEngine, StepOutcome, Trace
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

DEFAULT_TIMEOUT = 30.0  # seconds per program
START_TIMEOUT = 120.0  # seconds for a worker to import and load its engine
BATCH_SIZE = 64  # programs per Run message, when several are ready at once

_KIT = Path(__file__).resolve().parent
# Runs worker.py from this very kit, under any interpreter, without putting the rest of
# this environment (its torch, say) on that interpreter's path.
_BOOTSTRAP = """\
import importlib.util, sys
kit = sys.argv[1]
spec = importlib.util.spec_from_file_location(
    "conformance", kit + "/__init__.py", submodule_search_locations=[kit])
module = importlib.util.module_from_spec(spec)
sys.modules["conformance"] = module
spec.loader.exec_module(module)
from conformance.worker import main
sys.exit(main())
"""


@dataclass(frozen=True)
class Isolation:
    """How to run the engine in a worker process."""

    python: str = sys.executable
    timeout: float = DEFAULT_TIMEOUT  # seconds per program
    start_timeout: float = START_TIMEOUT


class WorkerFailure(Exception):
    """The worker stopped following the protocol; `what` says how, for a step's detail."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _Worker:
    """One worker process: its pipes, and the last lines it wrote to stderr."""

    def __init__(self, python: str, spec: str) -> None:
        try:
            self.process = subprocess.Popen(
                [python, "-X", "faulthandler", "-c", _BOOTSTRAP, str(_KIT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True)  # its own process group: killed with its children
        except OSError as error:
            raise EngineSpecError(f"cannot run engine python {python!r}: "
                                  f"{error.strerror or error}") from None
        self._finalizer = weakref.finalize(self, _terminate, self.process)
        self._pending = bytearray()
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        self.ready: Ready | None = None
        with contextlib.suppress(WorkerFailure):  # a worker dead already is found waiting
            self.send(Hello(spec))

    def send(self, message: Message) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(encode_message(message))
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the pipe is already closed
            raise WorkerFailure(self._exit_description()) from None

    def receive(self, deadline: float, timeout: float) -> Message:
        try:
            return decode_message(self._read_line(deadline, timeout))
        except WireError as error:
            raise WorkerFailure(f"sent garbage: {error}") from None

    def _read_line(self, deadline: float, timeout: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            end = self._pending.find(b"\n")
            if end >= 0:
                line = bytes(self._pending[: end + 1])
                del self._pending[: end + 1]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise WorkerFailure(f"timed out after {timeout:g} s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise WorkerFailure(self._exit_description())
            self._pending += chunk

    def _exit_description(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "closed its output"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"crashed ({signal.Signals(-code).name})"
            return f"crashed (signal {-code})"
        return f"exited with status {code}"

    def _drain_stderr(self) -> None:
        # Read always, so a chatty engine never blocks on a full pipe; keep the tail.
        assert self.process.stderr is not None
        for line in self.process.stderr:
            text = line.decode(errors="replace").rstrip()
            if text:
                self.stderr_tail.append(text)

    def last_words(self) -> str:
        """The last line the worker wrote to stderr (after it died), or ""."""
        self._drain.join(timeout=2)
        return self.stderr_tail[-1] if self.stderr_tail else ""

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not."""
        if self.process.poll() is None:
            with contextlib.suppress(WorkerFailure):
                self.send(Bye())
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2)
        self._finalizer()

    def kill(self) -> None:
        self._finalizer()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


class WorkerEngine:
    """An engine running in a worker process, as a `ProgramRunner` (module docstring).

    `name`, `version` and `capabilities` are the engine's, as the worker reports them.
    `failures` counts the programs the worker failed on (each one restarted it).
    """

    def __init__(self, spec: str, isolation: Isolation | None = None) -> None:
        self.spec = spec
        self.isolation = isolation or Isolation()
        self._worker = _Worker(self.isolation.python, spec)
        ready = self._ready(self._worker, starting=True)
        self.name, self.version = ready.name, ready.version
        self.capabilities = ready.capabilities
        self.python = ready.python
        self.failures = 0
        self._batches = itertools.count()
        self._started = False

    @property
    def pid(self) -> int:
        """The worker's process id (a new one after each failure)."""
        return self._worker.process.pid

    def run_programs(self, programs: Sequence[Program]) -> list[Trace]:
        return self.start(programs)()

    def start(self, programs: Sequence[Program]) -> Callable[[], list[Trace]]:
        """Send the programs (the first batch of them) to the worker and return at once;
        calling the result waits for their traces. Meanwhile this process is free (to run
        the oracle: `run.run_pair`). One start at a time."""
        if self._started:
            raise RuntimeError("collect the traces of the last start() first")
        worker = self._worker
        self._ready(worker, starting=False)
        batch, first = next(self._batches), programs[:BATCH_SIZE]
        try:
            worker.send(Run(batch, tuple(first)))
            unsent = None
        except WorkerFailure as failure:
            unsent = failure
        self._started = True

        def collect() -> list[Trace]:
            self._started = False
            traces = self._collect(worker, batch, first, unsent)
            if len(traces) < len(programs):  # the next batch, or the rest after a failure
                traces.extend(self.run_programs(programs[len(traces):]))
            return traces

        return collect

    def _collect(self, worker: _Worker, batch: int, programs: Sequence[Program],
                 unsent: WorkerFailure | None) -> list[Trace]:
        """Traces of a batch, up to and including the first program the worker fails on
        (then a fresh worker starts, while the caller goes on)."""
        traces: list[Trace] = []
        outcomes: list[StepOutcome] = []
        try:
            if unsent is not None:
                raise unsent
            for index in range(len(programs)):
                outcomes = []
                traces.append(self._receive_trace(worker, batch, index, outcomes))
        except WorkerFailure as failure:
            traces.append(self._failed(programs[len(traces)], outcomes, failure.what))
            self.failures += 1
            worker.kill()
            self._worker = _Worker(self.isolation.python, self.spec)
        return traces

    def _receive_trace(self, worker: _Worker, batch: int, index: int,
                       outcomes: list[StepOutcome]) -> Trace:
        """Collect one program's outcomes (into `outcomes`, as they come) and its end."""
        timeout = self.isolation.timeout
        deadline = time.monotonic() + timeout
        while True:
            message = worker.receive(deadline, timeout)
            if isinstance(message, StepDone) and (message.batch, message.program,
                                                  message.step) == (batch, index, len(outcomes)):
                outcomes.append(message.outcome)
            elif isinstance(message, ProgramDone) and (message.batch, message.program) == (
                    batch, index):
                return Trace(self.name, self.capabilities, tuple(outcomes), message.final)
            else:
                raise WorkerFailure(f"sent {type(message).__name__} out of turn")

    def _failed(self, program: Program, outcomes: list[StepOutcome], what: str) -> Trace:
        """The trace of a program the worker failed on: the steps it reported, then the
        step it was in as broken, and no final state."""
        broken = StepOutcome("broken", detail=f"engine worker {what}")
        if len(outcomes) < len(program.steps):
            outcomes = [*outcomes, broken]
        return Trace(self.name, self.capabilities, tuple(outcomes), broken)

    def _ready(self, worker: _Worker, *, starting: bool) -> Ready:
        """Wait for the worker's `Ready`; `EngineSpecError` if it never comes."""
        if worker.ready is not None:
            return worker.ready
        what = "start" if starting else "restart"
        try:
            message = worker.receive(time.monotonic() + self.isolation.start_timeout,
                                     self.isolation.start_timeout)
        except WorkerFailure as failure:
            worker.kill()
            words = worker.last_words()
            raise EngineSpecError(f"engine worker for {self.spec!r} failed to {what}: "
                                  f"{failure.what}" + (f": {words}" if words else "")) from None
        if isinstance(message, Refused):
            worker.kill()
            raise EngineSpecError(message.error)
        if not isinstance(message, Ready) or message.wire != WIRE_VERSION:
            worker.kill()
            raise EngineSpecError(f"engine worker for {self.spec!r} failed to {what}: it does "
                                  f"not speak wire version {WIRE_VERSION}")
        worker.ready = message
        return message

    def close(self) -> None:
        self._worker.close()

    def __enter__(self) -> WorkerEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def open_engine(spec: str, isolation: Isolation | None = None) -> AnyEngine:
    """The engine a spec names: in a worker process with `isolation`, else in this one."""
    return load_engine(spec) if isolation is None else WorkerEngine(spec, isolation)


def shut_down(engine: AnyEngine) -> None:
    """Stop the engine's worker process, if it has one."""
    if isinstance(engine, WorkerEngine):
        engine.close()


def open_engines(engine_spec: str, oracle_spec: str,
                 isolation: Isolation | None = None) -> tuple[AnyEngine, Engine]:
    """The engine under test and the oracle, for one run (see the module docstring)."""
    if isolation is not None:
        engine = WorkerEngine(engine_spec, isolation)
        try:
            return engine, _load_oracle(oracle_spec)
        except BaseException:
            engine.close()
            raise
    oracle = _load_oracle(oracle_spec)
    return load_beside(engine_spec, oracle_spec), oracle


def _load_oracle(spec: str) -> Engine:
    try:
        return load_engine(spec)
    except EngineSpecError as error:
        if spec.strip() != "torch":
            raise
        raise EngineSpecError(f"{error} (without torch, check against its recorded traces: "
                              "--oracle corpus)") from None


def load_beside(engine_spec: str, oracle_spec: str) -> Engine:
    """Load an engine into a process where the oracle is loaded already, refusing one that
    replaces the oracle's module or one of its submodules."""
    root = oracle_spec.strip().split(":")[0].split(".")[0]
    before = {name: module for name, module in sys.modules.items()
              if name == root or name.startswith(f"{root}.")}
    engine = load_engine(engine_spec)
    replaced = sorted(name for name, module in before.items()
                      if sys.modules.get(name) is not module)
    if replaced:
        sys.modules.update({name: before[name] for name in replaced})  # the oracle's again
        raise EngineSpecError(f"engine {engine_spec!r} replaces the module {replaced[0]!r} "
                              f"the oracle {oracle_spec!r} uses: run it in a worker process "
                              "(--isolate or --engine-python)")
    return engine
