"""Accumulation: .grad sums over backward calls and resets as in torch (generated programs,
and a state machine driving engine and torch in lockstep); two passes give twice one."""

from hypothesis import given, settings
from hypothesis.stateful import run_state_machine_as_test

from conformance.engines import Engine
from conformance.intrinsic import Function, additivity_mismatch, functions
from conformance.lockstep import lockstep_machine
from conformance.strategies import (
    backward_action,
    op_action,
    reset_grad_action,
    retain_grad_action,
)
from conformance.testing import differential_test, require

test_accumulation_programs_behave_like_torch = differential_test("accumulation")


def test_accumulation_in_lockstep_with_torch(engine: Engine, oracle: Engine,
                                             engine_spec: str) -> None:
    machine = lockstep_machine(engine, oracle, {
        "apply_op": op_action, "backward": backward_action, "reset_grad": reset_grad_action,
        "retain_grad": retain_grad_action,
    }, engine_spec=engine_spec, behaviour="accumulation")
    run_state_machine_as_test(machine, settings=settings(stateful_step_count=12))


@given(function=functions())
def test_two_backward_passes_accumulate_twice_one(function: Function, engine: Engine) -> None:
    require(lambda: additivity_mismatch(function, engine))
