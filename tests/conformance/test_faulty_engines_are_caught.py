"""Each engine of the faulty gallery is caught by the `ci` profile, and in the behaviour
its fault belongs to: every behaviour checked before it stays clean (so the report files
the bug under the right heading), and the finding is shrunk to a short program.

(The programs of the clean behaviours are drawn once, not once per fault: see
`test_the_ci_profile_catches_the_fault_in_its_behaviour`.)"""

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from conformance import check
from conformance.baseline import KnownFinding
from conformance.behaviours import BEHAVIOURS
from conformance.check import (
    CheckPlan,
    check_behaviour,
    check_program,
    check_programs,
    run_check,
    searched_programs,
)
from conformance.compare import Comparison
from conformance.corpus import RecordedTraces
from conformance.engines import load_engine
from conformance.program import ApplyOp, Backward, MakeLeaf, Program, Ref, Values
from conformance.run import run_programs
from tests.conformance.faulty_engines import (
    GALLERY,
    FaultyEngine,
    SqrtRoundedDifferentlyInFloat32,
    SqrtSlightlyOff,
)

TORCH = load_engine("torch")
ORDER = list(BEHAVIOURS)
CI = CheckPlan.of("ci")


def test_the_gallery_has_a_fault_for_every_behaviour() -> None:
    assert len(GALLERY) >= 15
    assert {engine.caught_in for engine in GALLERY} == set(BEHAVIOURS)


@functools.cache
def _clean_search(behaviour: str) -> tuple[list[Program], RecordedTraces]:
    """The programs the `ci` profile checks in `behaviour` when it finds nothing, with
    torch's traces of them (drawn and run once per process, not once per fault)."""
    programs = searched_programs(behaviour, seed_value=CI.seed_value,
                                 max_examples=CI.max_examples)
    traces = dict(zip(programs, run_programs(programs, TORCH), strict=True))
    # (float64 versions, asked for to tell rounding from bugs, run on torch then)
    return programs, RecordedTraces(TORCH.name, TORCH.version, TORCH.capabilities,
                                    traces.get, fallback=TORCH)


@pytest.mark.slow
@pytest.mark.parametrize("faulty", GALLERY, ids=lambda cls: cls.__name__)
def test_the_ci_profile_catches_the_fault_in_its_behaviour(faulty: type[FaultyEngine]) -> None:
    """What `run_check(faulty(), TORCH, CheckPlan.of("ci", only=<behaviours up to
    caught_in>))` would tell, for less: a behaviour before `caught_in` must show nothing,
    and then its search checks exactly `searched_programs` (test_check_searches_them);
    in `caught_in`, the search stops at its first (shrunk) finding."""
    engine = faulty()
    for behaviour in ORDER[: ORDER.index(faulty.caught_in)]:
        programs, oracle = _clean_search(behaviour)
        earlier = check_programs(behaviour, programs, engine, oracle, max_findings=1)
        assert not earlier.findings, f"caught in {behaviour} first:\n{earlier.findings[0]}"
    result = check_behaviour(faulty.caught_in, engine, TORCH, seed_value=CI.seed_value,
                             max_examples=CI.max_examples, max_findings=1)
    assert result.findings, f"not caught in {faulty.caught_in}"
    shortest = min(len(finding.program.steps) for finding in result.findings)
    assert shortest <= 8, f"not shrunk:\n{result.findings[0].program}"


def test_check_searches_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """`searched_programs` are the programs a search finding nothing checks, in order."""
    checked: list[Program] = []

    def recording(program: Program, *args: Any, **kwargs: Any) -> Comparison:
        checked.append(program)
        return check_program(program, *args, **kwargs)

    monkeypatch.setattr(check, "check_program", recording)
    result = run_check(TORCH, TORCH, CheckPlan.of("ci", max_examples=60, only=["hooks"]))
    assert result.findings == ()
    assert checked == searched_programs("hooks", seed_value=CI.seed_value, max_examples=60)


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
