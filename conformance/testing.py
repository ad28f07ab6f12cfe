"""Helpers for writing conformance tests with pytest + hypothesis (used by properties/).

`assert_conforms` runs a program on the engine and the oracle and fails with the
findings, the minimal program and a reproducer script; `differential_test` makes the
standard "engine behaves like torch" test of one behaviour.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings

from conformance.check import check_program
from conformance.compare import Finding
from conformance.engines import Engine
from conformance.program import Program
from conformance.reproducer import reproducer_script
from conformance.strategies import programs


def failure_message(findings: tuple[Finding, ...], engine_spec: str) -> str:
    """What a failing test prints: each finding (with its program), then a reproducer."""
    text = "\n\n".join(str(f) for f in findings)
    script = reproducer_script(findings[0], engine_spec)
    return f"{text}\n\nReproducer (save as a .py file and run it):\n\n{script}"


def assert_conforms(program: Program, engine: Engine, oracle: Engine, *,
                    behaviour: str = "unspecified", engine_spec: str = "refgrad") -> None:
    """Fail if the engine's run of `program` differs from the oracle's."""
    __tracebackhide__ = True  # failures point at the test, not at this helper
    findings = check_program(program, engine, oracle, behaviour).findings  # (and float64)
    if findings:
        raise AssertionError(failure_message(findings, engine_spec))


def differential_test(behaviour: str) -> Callable[..., None]:
    """A pytest test: programs of `behaviour` behave the same on the engine and on torch.

    Uses the `engine`, `oracle` and `engine_spec` fixtures of the kit's pytest plugin.
    """

    # No deadline: a program's first run pays for imports and caches in both engines.
    @settings(deadline=None)
    @given(program=programs(behaviour))
    def test(program: Program, engine: Engine, oracle: Engine, engine_spec: str) -> None:
        __tracebackhide__ = True
        assert_conforms(program, engine, oracle, behaviour=behaviour, engine_spec=engine_spec)

    test.__name__ = f"test_{behaviour}_programs_behave_like_torch"
    test.__doc__ = f"Generated {behaviour} programs behave on the engine as on torch."
    return test


def require(problem: Callable[[], str]) -> None:
    """Fail with the problem an intrinsic check reports (see intrinsic.py); skip the test
    if the engine lacks what the check needs."""
    __tracebackhide__ = True
    import pytest  # a test-time dependency only

    from conformance.intrinsic import NotApplicable

    try:
        message = problem()
    except NotApplicable as reason:
        pytest.skip(f"not applicable: {reason}")
    if message:
        raise AssertionError(message)
