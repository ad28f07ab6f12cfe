"""The runner: every outcome is recorded, nothing an engine does crashes a run, and no
warning or grad mode leaks out of it."""

import warnings

import numpy as np
import torch

from conformance.engines import load_engine
from conformance.engines.torchlike import TorchLikeEngine
from conformance.program import (
    ApplyOp,
    Backward,
    EnterGradMode,
    MakeLeaf,
    Program,
    Ref,
    RegisterHook,
    Values,
)
from conformance.run import run_program
from tests.conformance.faulty_engines import ExplodingOp, GarbageResults

TORCH = load_engine("torch")
LEAF = MakeLeaf("t0", Values((2,), (1.0, -2.0)))


def test_a_step_that_raises_is_recorded_and_the_steps_using_it_are_skipped() -> None:
    program = Program((LEAF, ApplyOp(("t1",), "sum", (Ref("t0"),)),
                       Backward("t0"),  # non-scalar: torch raises
                       ApplyOp(("t2",), "getitem", (Ref("t0"), 0)),
                       ApplyOp(("t3",), "exp", (Ref("t2"),))))
    outcomes = run_program(program, TORCH).outcomes
    assert [o.status for o in outcomes] == ["ok", "ok", "raised", "ok", "ok"]
    assert outcomes[2].error is not None
    assert outcomes[2].error.message == "grad can be implicitly created only for scalar outputs"
    exploding = run_program(program, ExplodingOp()).outcomes
    assert [o.status for o in exploding] == ["ok", "ok", "raised", "raised", "skipped"]


def test_an_engine_returning_garbage_is_recorded_as_broken() -> None:
    program = Program((LEAF, ApplyOp(("t1",), "sub", (Ref("t0"), 1.0)),
                       ApplyOp(("t2",), "neg", (Ref("t0"),))))
    outcomes = run_program(program, GarbageResults()).outcomes
    assert [o.status for o in outcomes] == ["ok", "broken", "ok"]
    assert "list" in outcomes[1].detail


class NoHooks(TorchLikeEngine):
    def __init__(self) -> None:
        super().__init__(torch)
        self.capabilities = self.capabilities - {"hooks"}


def test_a_step_needing_a_missing_capability_stops_the_run_as_not_applicable() -> None:
    program = Program((LEAF, RegisterHook("t0"), ApplyOp(("t1",), "neg", (Ref("t0"),))))
    trace = run_program(program, NoHooks())
    assert [o.status for o in trace.outcomes] == ["ok", "not_applicable"]
    assert trace.not_applicable == "engine lacks capability hooks"


def test_warnings_are_recorded_per_step_and_never_leak() -> None:
    program = Program((LEAF, ApplyOp(("t1",), "mul", (Ref("t0"), 2.0)),
                       ApplyOp(("t2",), "sum", (Ref("t1"),)),
                       Backward("t2", create_graph=True)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked warning fails the test
        trace = run_program(program, TORCH)
    backward = trace.outcomes[3]
    assert [w.type for w in backward.warnings] == ["UserWarning"]
    assert backward.warnings[0].message.startswith("Using backward() with create_graph=True")
    assert dict(trace.final.grads)["t1"] is None  # read without torch's non-leaf warning


def test_a_grad_mode_left_open_by_a_program_does_not_outlive_it() -> None:
    run_program(Program((EnterGradMode("no_grad"), LEAF)), TORCH)
    assert torch.is_grad_enabled()


def test_recorded_values_are_copies() -> None:
    program = Program((LEAF, ApplyOp(("t1",), "mul", (Ref("t0"), 2.0))))
    doubled = dict(run_program(program, TORCH).outcomes[1].tensors)["t1"]
    assert doubled is not None
    np.testing.assert_array_equal(doubled.values, [2.0, -4.0])
