"""Each engine of the faulty gallery is caught by the `ci` profile, and in the behaviour
its fault belongs to: every behaviour checked before it stays clean (so the report files
the bug under the right heading), and the finding is shrunk to a short program."""

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from conformance.baseline import KnownFinding
from conformance.behaviours import BEHAVIOURS
from conformance.check import CheckPlan, check_behaviour, check_program, run_check
from conformance.engines import load_engine
from conformance.program import ApplyOp, Backward, MakeLeaf, Program, Ref, Values
from tests.conformance.faulty_engines import (
    GALLERY,
    FaultyEngine,
    SqrtRoundedDifferentlyInFloat32,
    SqrtSlightlyOff,
)

TORCH = load_engine("torch")
ORDER = list(BEHAVIOURS)


def test_the_gallery_has_a_fault_for_every_behaviour() -> None:
    assert len(GALLERY) >= 15
    assert {engine.caught_in for engine in GALLERY} == set(BEHAVIOURS)


@pytest.mark.slow
@pytest.mark.parametrize("faulty", GALLERY, ids=lambda cls: cls.__name__)
def test_the_ci_profile_catches_the_fault_in_its_behaviour(faulty: type[FaultyEngine]) -> None:
    until_caught = ORDER[: ORDER.index(faulty.caught_in) + 1]
    result = run_check(faulty(), TORCH, CheckPlan.of("ci", only=until_caught))
    assert result.findings, f"not caught in {faulty.caught_in}"
    caught_in = {finding.behaviour for finding in result.findings}
    assert caught_in == {faulty.caught_in}, "caught in another behaviour first"
    shortest = min(len(finding.program.steps) for finding in result.findings)
    assert shortest <= 8, f"not shrunk:\n{result.findings[0].program}"


SQRT_OF_A_SUM = Program((
    MakeLeaf("t0", Values((2,), (4.0, 9.0))),
    ApplyOp(("t1",), "sqrt", (Ref("t0"),)),
    ApplyOp(("t2",), "sum", (Ref("t1"),)),
    Backward("t2"),
))


def test_a_float32_only_difference_is_rounding_not_a_finding() -> None:
    comparison = check_program(SQRT_OF_A_SUM, SqrtRoundedDifferentlyInFloat32(), TORCH)
    assert comparison.findings == ()
    assert comparison.rounding


def test_a_slight_difference_that_float64_keeps_is_a_finding() -> None:
    comparison = check_program(SQRT_OF_A_SUM, SqrtSlightlyOff(), TORCH)
    assert not comparison.rounding
    assert [f.check for f in comparison.findings] == ["value"]


def test_without_float64_a_slight_difference_stays_a_finding() -> None:
    engine = SqrtRoundedDifferentlyInFloat32()
    engine.capabilities = engine.capabilities - {"float64"}
    comparison = check_program(SQRT_OF_A_SUM, engine, TORCH)
    assert not comparison.rounding
    assert [f.check for f in comparison.findings] == ["value"]


class AddAndMulOff(FaultyEngine):
    """Two faults in one behaviour (for the baseline test below): add and mul 1% off."""

    def apply(self, op: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        result = super().apply(op, args, kwargs)
        return result * 1.01 if op in ("add", "mul") else result


def test_known_findings_do_not_use_up_the_search() -> None:
    """With one finding per behaviour allowed, a baseline listing the first fault lets
    the search find the second."""
    engine = AddAndMulOff()
    first = check_behaviour("values", engine, TORCH, max_examples=400, max_findings=1)
    assert len(first.findings) == 1
    known = [KnownFinding.of(first.findings[0])]
    second = check_behaviour("values", engine, TORCH, max_examples=400, max_findings=1,
                             baseline=known)
    assert len(second.findings) == 1
    assert {first.findings[0].signature[2], second.findings[0].signature[2]} == {"add", "mul"}
    assert dict(second.known_seen)[0] > 0  # the known one was seen and passed over
