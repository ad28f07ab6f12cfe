"""Grad modes: no_grad / enable_grad / set_grad_enabled blocks behave as in torch, and ops
(other than views) in no_grad never produce tensors requiring grad."""

from hypothesis import given, settings
from hypothesis.stateful import run_state_machine_as_test

from conformance.engines import Engine
from conformance.intrinsic import Function, functions, no_grad_mismatch
from conformance.lockstep import lockstep_machine
from conformance.strategies import (
    backward_action,
    grad_mode_action,
    op_action,
    requires_grad_action,
)
from conformance.testing import differential_test, require

test_no_grad_programs_behave_like_torch = differential_test("no_grad")


def test_grad_modes_in_lockstep_with_torch(engine: Engine, oracle: Engine,
                                           engine_spec: str) -> None:
    machine = lockstep_machine(engine, oracle, {
        "apply_op": op_action, "grad_mode": grad_mode_action,
        "requires_grad_": requires_grad_action, "backward": backward_action,
    }, engine_spec=engine_spec, behaviour="no_grad")
    run_state_machine_as_test(machine, settings=settings(stateful_step_count=12))


@given(function=functions())
def test_results_in_no_grad_do_not_require_grad(function: Function, engine: Engine) -> None:
    require(lambda: no_grad_mismatch(function, engine))
