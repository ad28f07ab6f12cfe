"""`.data`: in-place changes through it are seen by values and saved tensors, never by
autograd's checks (generated programs, and engine and torch in lockstep)."""

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from conformance.engines import Engine
from conformance.lockstep import lockstep_machine
from conformance.strategies import backward_action, data_action, op_action
from conformance.testing import differential_test

test_data_programs_behave_like_torch = differential_test("data")


def test_data_changes_in_lockstep_with_torch(engine: Engine, oracle: Engine,
                                             engine_spec: str) -> None:
    machine = lockstep_machine(engine, oracle, {
        "apply_op": op_action, "mutate_data": data_action, "backward": backward_action,
    }, engine_spec=engine_spec, behaviour="data")
    run_state_machine_as_test(machine, settings=settings(stateful_step_count=12))
