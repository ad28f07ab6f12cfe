"""Generation depends on the seed only; leaves stay in their domain; reduce.py shrinks
programs below what hypothesis reaches."""

import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from conformance.catalogue import NONZERO, POSITIVE
from conformance.check import check_program
from conformance.engines import load_engine
from conformance.program import ApplyOp, Backward, MakeLeaf, Program, Ref, Values
from conformance.reduce import reduce_program
from conformance.strategies import ProgramBuilder
from tests.conformance.faulty_engines import UnreducedBroadcastGradient

REPO = Path(__file__).resolve().parents[2]
# The programs the kit's search draws for two behaviours, hashed, after importing `modules`.
DRAW = """
import hashlib, importlib, sys
for module in sys.argv[1:]:
    importlib.import_module(module)
from conformance.check import searched_programs
programs = [searched_programs(b, max_examples=60) for b in ("values", "views")]
print(hashlib.sha1(repr(programs).encode()).hexdigest())
"""


def test_the_same_seed_draws_the_same_programs_whatever_the_process_imported() -> None:
    """Hypothesis draws some integers among the constants of the project's modules
    imported so far; the kit's searches turn that off (strategies.seed_only)."""
    def drawn(*modules: str) -> str:
        return subprocess.run([sys.executable, "-c", DRAW, *modules], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout

    assert drawn() == drawn("refgrad", "conformance.report", "conformance.cli")


@given(st.data())
def test_an_empty_leaf_is_in_its_domain(data: st.DataObject) -> None:
    """(Its range was [0, 0] whatever the domain: an empty leaf fitting an empty view,
    then divided by, made the image of div divide by zero.)"""
    builder = ProgramBuilder(data.draw)
    for domain in (NONZERO, POSITIVE):
        assert domain.admits(builder.leaf(domain, shape=(0, 2)).interval)


TORCH = load_engine("torch")


def test_reduction_deletes_what_hypothesis_cannot() -> None:
    """A leaf made inside an op step that a later op uses, and a result feeding the root:
    both go, and the tensors are named in order again."""
    program = Program((
        MakeLeaf("t0", Values((1,), (1.0,))),
        MakeLeaf("t1", Values((1, 1), (1.0,))),
        ApplyOp(("t2",), "clamp", (Ref("t1"), Ref("t0"), Ref("t0"))),
        ApplyOp(("t3",), "add", (Ref("t0"), Ref("t1"))),
        ApplyOp(("t4",), "mean", (Ref("t2"),)),
        ApplyOp(("t5",), "mean", (Ref("t3"),)),
        ApplyOp(("t6",), "add", (Ref("t4"), Ref("t5"))),
        Backward("t6"),
    ))
    engine = UnreducedBroadcastGradient()
    target = check_program(program, engine, TORCH).findings[0].signature

    def shows(candidate: Program) -> bool:
        return any(f.signature == target for f in check_program(candidate, engine,
                                                                TORCH).findings)

    reduced = reduce_program(program, shows)
    assert [str(step) for step in reduced.steps] == [
        "t0 = torch.tensor([1.0], requires_grad=True)",
        "t1 = torch.tensor([[1.0]], requires_grad=True)",
        "t2 = t0 + t1",
        "t2.backward()",
    ]


def test_reduction_keeps_the_program_when_nothing_smaller_shows_it() -> None:
    program = Program((MakeLeaf("t0", Values((), (1.0,))), ApplyOp(("t1",), "sin",
                                                                     (Ref("t0"),))))
    assert reduce_program(program, lambda candidate: candidate == program) == program
