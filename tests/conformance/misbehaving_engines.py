"""Engines that misbehave as processes rather than as autograd: they crash the
interpreter, hang, print, corrupt the worker's channel. Run in a worker process
(`--isolate`), each must cost the kit one finding for the program that set it off, and
the run must go on.

Each is refgrad misbehaving in every op but `exp` and `sum` (so almost every generated
program sets it off, and programs using only those two run normally). Usable as specs:
``tests.conformance.misbehaving_engines:Segfaults``. (An engine that installs itself as
`torch` is in shadow_torch.py.)
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import refgrad
from conformance.engines.torchlike import TorchLikeEngine

WELL_BEHAVED_OPS = frozenset({"exp", "sum"})


class Misbehaving(TorchLikeEngine):
    def __init__(self) -> None:
        super().__init__(refgrad, name=f"misbehaving.{type(self).__name__}")

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if op not in WELL_BEHAVED_OPS:
            self.misbehave()
        return super().apply(op, args, kwargs)

    def misbehave(self) -> None:
        raise NotImplementedError


class Segfaults(Misbehaving):
    """Reads address 0: SIGSEGV."""

    def misbehave(self) -> None:
        ctypes.string_at(0)


class Aborts(Misbehaving):
    """os.abort(): SIGABRT, as a failed C assertion does."""

    def misbehave(self) -> None:
        os.abort()


class Exits(Misbehaving):
    """os._exit(3): the process ends without unwinding."""

    def misbehave(self) -> None:
        os._exit(3)


class Hangs(Misbehaving):
    """Waits forever (a deadlock)."""

    def misbehave(self) -> None:
        threading.Event().wait()


class PrintsToStdout(Misbehaving):
    """Prints to stdout from Python and at the file-descriptor level, then computes
    correctly: harmless, since the worker hands the engine a stdout of its own."""

    def misbehave(self) -> None:
        print("garbage from print()")
        sys.stdout.flush()
        os.write(1, b"garbage written to fd 1\n")


class CorruptsChannel(Misbehaving):
    """Writes garbage into the worker's protocol stream itself (as native code holding
    the wrong file descriptor might)."""

    def misbehave(self) -> None:
        from conformance import worker

        assert worker.protocol_output is not None
        worker.protocol_output.write(b"this is not a message\n")
        worker.protocol_output.flush()
