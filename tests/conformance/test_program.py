"""The program IR: JSON round-trips (also nan/inf), readable reprs, clear errors."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.behaviours import BEHAVIOURS
from conformance.program import (
    SCHEMA_VERSION,
    ApplyOp,
    Backward,
    EnterGradMode,
    ExitGradMode,
    MakeLeaf,
    Program,
    Ref,
    Slice,
    Values,
)
from conformance.strategies import programs

any_program = st.sampled_from(tuple(BEHAVIOURS)).flatmap(programs)


@given(any_program)
def test_every_generated_program_round_trips_through_json(program: Program) -> None:
    again = Program.from_json(program.to_json())
    assert again.to_json() == program.to_json()
    assert repr(again) == repr(program)


def test_non_finite_values_and_negative_zero_survive_json() -> None:
    values = Values((4,), (math.nan, math.inf, -math.inf, -0.0))
    program = Program((MakeLeaf("t0", values), Backward("t0", gradient=values)))
    leaf = Program.from_json(program.to_json()).steps[0]
    assert isinstance(leaf, MakeLeaf)
    nan, inf, minus_inf, zero = leaf.values.data
    assert math.isnan(nan) and inf == math.inf and minus_inf == -math.inf
    assert zero == 0.0 and math.copysign(1.0, zero) == -1.0


def test_a_program_reads_like_torch_code() -> None:
    program = Program((
        MakeLeaf("t0", Values((2,), (1.0, 2.0))),
        EnterGradMode("no_grad"),
        ApplyOp(("t1",), "getitem", (Ref("t0"), (Slice(1, None),))),
        ExitGradMode(),
        ApplyOp(("t2", "t3"), "max", (Ref("t0"),), (("dim", 0), ("keepdim", True))),
        Backward("t2", retain_graph=True),
    ))
    assert str(program).splitlines() == [
        "  0  t0 = torch.tensor([1.0, 2.0], requires_grad=True)",
        "  1  with torch.no_grad():",
        "  2      t1 = t0[1:]",
        "  3  # end of grad-mode block",
        "  4  t2, t3 = t0.max(dim=0, keepdim=True)",
        "  5  t2.backward(retain_graph=True)",
    ]


def test_unknown_step_kinds_and_schema_versions_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown step kind 'teleport'"):
        Program.from_json(
            f'{{"schema_version": {SCHEMA_VERSION}, "steps": [{{"kind": "teleport"}}]}}')
    with pytest.raises(ValueError, match="schema version 99"):
        Program.from_json('{"schema_version": 99, "steps": []}')


def test_values_must_fill_their_shape() -> None:
    with pytest.raises(ValueError, match="does not hold"):
        Values((2, 2), (1.0,))
