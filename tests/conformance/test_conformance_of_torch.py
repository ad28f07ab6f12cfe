"""torch checked against itself gives no findings, whatever the seed: the kit does not
cry wolf on its own oracle."""

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from conformance.check import CheckPlan, run_check
from conformance.engines import load_engine
from conformance.lockstep import lockstep_machine
from conformance.strategies import (
    backward_action,
    data_action,
    grad_mode_action,
    inplace_action,
    op_action,
    reset_grad_action,
)

TORCH = load_engine("torch")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_torch_conforms_to_itself_on_the_ci_profile(seed: int) -> None:
    # Half the ci profile's programs per seed (5 x 5,200 programs) keeps the suite within
    # CI's time; the whole profile: refgrad-conformance --engine torch --seed N.
    result = run_check(TORCH, TORCH, CheckPlan.of("ci", seed_value=seed, max_examples=400))
    assert result.findings == ()
    for behaviour in result.behaviours:
        assert behaviour.total.programs >= 400
        assert behaviour.total.not_applicable == 0
        assert behaviour.total.rounding == 0  # torch is bit-identical with itself


def test_torch_in_lockstep_with_itself() -> None:
    machine = lockstep_machine(TORCH, TORCH, {
        "op": op_action, "backward": backward_action, "reset_grad": reset_grad_action,
        "grad_mode": grad_mode_action, "data": data_action, "inplace": inplace_action,
    })
    run_state_machine_as_test(machine, settings=settings(max_examples=30, deadline=None))
