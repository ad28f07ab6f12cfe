"""Each engine of the faulty gallery is caught, and first caught in the behaviour its
fault belongs to: behaviours checked before it cannot see the fault and stay clean."""

import pytest

from conformance.behaviours import BEHAVIOURS
from conformance.check import check_behaviour
from conformance.engines import load_engine
from tests.conformance.faulty_engines import GALLERY, FaultyEngine

TORCH = load_engine("torch")


@pytest.mark.parametrize("faulty", GALLERY, ids=lambda cls: cls.__name__)
def test_fault_is_first_caught_in_its_behaviour(faulty: type[FaultyEngine]) -> None:
    engine = faulty()
    order = list(BEHAVIOURS)
    for behaviour in order[: order.index(faulty.caught_in)]:
        early = check_behaviour(behaviour, engine, TORCH, max_examples=50, max_findings=1)
        assert early.findings == (), f"caught early, in {behaviour}"
    result = check_behaviour(faulty.caught_in, engine, TORCH, max_examples=600, max_findings=1)
    assert result.findings, f"not caught in {faulty.caught_in}"
    finding = result.findings[0]
    assert finding.behaviour == faulty.caught_in
    assert len(finding.program.steps) <= 8, f"not shrunk:\n{finding.program}"
