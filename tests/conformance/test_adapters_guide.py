"""The worked adapter of docs/adding-an-engine.md: still quoted whole by the guide, and the
kit still finds in tiny what the guide says it finds (so the guide cannot rot)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings

from conformance.check import check_program
from conformance.compare import Finding
from conformance.engines import Engine, load_engine
from conformance.program import ApplyOp, Backward, MakeLeaf, Program, Ref, Values
from conformance.strategies import RECIPES, programs
from tests.conformance.tiny_adapter import OPS

ROOT = Path(__file__).resolve().parents[2]
SPEC = "tests.conformance.tiny_adapter:TinyEngine"


@pytest.fixture(scope="module")
def tiny() -> Engine:
    return load_engine(SPEC)


@pytest.fixture(scope="module")
def torch_engine() -> Engine:
    return load_engine("torch")


def test_the_guide_quotes_the_adapter_file_whole() -> None:
    guide = (ROOT / "docs" / "adding-an-engine.md").read_text()
    adapter = (ROOT / "tests" / "conformance" / "tiny_adapter.py").read_text()
    assert adapter in guide


def test_the_adapter_implements_the_protocol(tiny: Engine) -> None:
    assert tiny.name == "tiny"
    assert tiny.capabilities == {"float64", "retain_graph"}


def search(behaviour: str, engine: Engine, oracle: Engine, examples: int) -> list[Finding]:
    """Findings in programs of a behaviour drawn from tiny's ops only (the whole catalogue
    would make most programs not applicable), with float32 leaves (mixing in float64 ones
    shows tiny's dtype differences, pinned by the tests below)."""
    config = replace(RECIPES[behaviour].config, ops=tuple(OPS), dtypes=("float32",))
    found: list[Finding] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    @given(programs(behaviour, config))
    def probe(program: Program) -> None:
        found.extend(check_program(program, engine, oracle, behaviour).findings)

    probe()
    return found


def test_values_and_gradients_of_tinys_ops_conform(tiny: Engine, torch_engine: Engine) -> None:
    assert search("values", tiny, torch_engine, 40) == []
    assert search("gradients", tiny, torch_engine, 40) == []


def _second_backward_program() -> Program:
    """The guide's accumulation finding: backward twice over one graph."""
    return Program((
        MakeLeaf("t0", Values((1,), (1.0,))),
        ApplyOp(("t1",), "mul", (Ref("t0"), 2.0)),
        ApplyOp(("t2",), "sum", (Ref("t1"),)),
        Backward("t2", retain_graph=True),
        Backward("t2", retain_graph=True),
    ))


def test_the_kit_finds_the_planted_bug(tiny: Engine, torch_engine: Engine) -> None:
    (finding,) = check_program(_second_backward_program(), tiny, torch_engine).findings
    assert (finding.check, finding.subject, finding.step_index) == ("value", "t0.grad", 4)
    assert (finding.expected, finding.actual) == ("[4.]", "[6.]")


def test_a_search_finds_it_too(tiny: Engine, torch_engine: Engine) -> None:
    found = search("retain_graph", tiny, torch_engine, 60)
    assert any(f.check == "value" and f.subject.endswith(".grad") for f in found)


def test_a_float32_leaf_gets_a_float64_grad_beside_a_float64_one(
        tiny: Engine, torch_engine: Engine) -> None:
    program = Program((
        MakeLeaf("t0", Values((), (1.0,))),
        MakeLeaf("t1", Values((), (1.0,), "float64")),
        ApplyOp(("t2",), "add", (Ref("t1"), Ref("t0"))),
        Backward("t2"),
    ))
    (finding,) = check_program(program, tiny, torch_engine).findings
    assert (finding.check, finding.subject, finding.actual) == ("dtype", "t0.grad", "float64")


def test_backward_of_a_non_scalar_runs_where_torch_raises(tiny: Engine,
                                                          torch_engine: Engine) -> None:
    program = Program((
        MakeLeaf("t0", Values((2,), (1.0, 1.0))),
        ApplyOp(("t1",), "mul", (Ref("t0"), 2.0)),
        Backward("t1"),
    ))
    (finding,) = check_program(program, tiny, torch_engine).findings
    assert finding.check == "status"
    assert finding.actual == "ran without error"


def test_ops_tiny_lacks_are_not_applicable(tiny: Engine, torch_engine: Engine) -> None:
    program = Program((MakeLeaf("t0", Values((), (1.0,))), ApplyOp(("t1",), "sin", (Ref("t0"),))))
    comparison = check_program(program, tiny, torch_engine)
    assert comparison.findings == ()
    assert comparison.not_applicable == "engine does not support op sin"
