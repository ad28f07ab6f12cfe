"""Progress on a terminal: what the CLI shows on stderr while it checks (only on a tty).

Finished behaviours are printed as lines that stay; below them one status line is
redrawn in place (a few times a second) with the behaviours being checked, the programs
checked so far in each and the time, so a long search or shrink never looks stuck:

    ✓ values        400 programs   0 findings    0.9s
    ✗ accumulation  424 programs   1 finding     2.5s
    ⠹ 2/12 done · checking retain_graph 212, no_grad 87 · 4.1s

The display is a `Progress` (a callable taking messages) that also takes per-program
counts (`ProgramCounts`), which the drivers send when the display accepts them.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from typing import Protocol, TextIO, runtime_checkable

_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# The drivers' messages (check.describe_done and the "checking up to N programs" line).
_DONE = re.compile(r"^(?P<behaviour>\w+): (?P<programs>\d+) programs, (?P<findings>\d+) "
                   r"findings \((?P<seconds>[\d.]+)s\)$")
_START = re.compile(r"^(?P<behaviour>\w+): (checking|replaying) ")
_CLEAR = "\r\x1b[K"


@runtime_checkable
class ProgramCounts(Protocol):
    """A progress display that also takes per-program counts."""

    def __call__(self, message: str) -> None: ...

    def programs(self, behaviour: str, count: int) -> None:
        """`count` programs of `behaviour` checked so far."""


class TerminalProgress:
    """The display described in the module docstring, writing to `stream` (a tty)."""

    def __init__(self, stream: TextIO, behaviours: int, *, interval: float = 0.2) -> None:
        self.stream, self.behaviours, self.interval = stream, behaviours, interval
        self.started = time.monotonic()
        self.active: dict[str, int] = {}  # behaviour -> programs so far, in start order
        self.finished: set[str] = set()
        self.frame = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._redraw_until_stopped, daemon=True)

    def __enter__(self) -> TerminalProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            self.stream.write(_CLEAR)
            self.stream.flush()

    def __call__(self, message: str) -> None:
        """A driver's message: a finished behaviour becomes a line that stays."""
        done, start = _DONE.match(message), _START.match(message)
        with self._lock:
            if start is not None:  # shown on the status line
                self.active.setdefault(start["behaviour"], 0)
                self._draw()
                return
            if done is None:
                line = f"  {message}"
            else:
                self.active.pop(done["behaviour"], None)
                self.finished.add(done["behaviour"])
                line = _done_line(done["behaviour"], int(done["programs"]),
                                  int(done["findings"]), float(done["seconds"]))
            self.stream.write(f"{_CLEAR}{line}\n")
            self._draw()

    def programs(self, behaviour: str, count: int) -> None:
        with self._lock:
            if behaviour in self.finished:  # (a worker's last count may come late)
                return
            started = behaviour not in self.active
            self.active[behaviour] = count
            if started:  # shown at once, however short the behaviour
                self._draw()

    def _redraw_until_stopped(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        """The status line (the caller holds the lock)."""
        self.frame += 1
        spinner = _SPINNER[self.frame % len(_SPINNER)]
        checking = ", ".join(f"{b} {n}" for b, n in self.active.items())
        doing = f"checking {checking}" if checking else (
            "loading the engines" if not self.finished else "next behaviour")
        line = (f"  {spinner} {len(self.finished)}/{self.behaviours} done · {doing} · "
                f"{time.monotonic() - self.started:.1f}s")
        width = shutil.get_terminal_size().columns - 1
        self.stream.write(_CLEAR + (line if len(line) <= width else line[: width - 1] + "…"))
        self.stream.flush()


def _done_line(behaviour: str, programs: int, findings: int, seconds: float) -> str:
    mark = "✓" if not findings else "✗"
    noun = "finding " if findings == 1 else "findings"
    return (f"  {mark} {behaviour:<13} {programs:>6} programs {findings:>3} {noun} "
            f"{seconds:6.1f}s")
