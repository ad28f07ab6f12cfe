"""The op catalogue: every entry gets generated, and its call renders as code torch runs."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.catalogue import CATALOGUE
from conformance.engines import load_engine
from conformance.program import ApplyOp, Program
from conformance.run import run_program
from conformance.strategies import programs

TORCH = load_engine("torch")


def test_every_op_of_the_catalogue_is_generated_and_runs_on_torch() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=300, database=None, deadline=None)
    @given(programs("values"))
    def collect(program: Program) -> None:
        trace = run_program(program, TORCH)
        for step, outcome in zip(program.steps, trace.outcomes, strict=True):
            if isinstance(step, ApplyOp) and outcome.status == "ok":
                seen[step.op] += 1

    collect()
    assert set(seen) == set(CATALOGUE)


@given(st.data())
def test_rendered_calls_are_the_code_torch_runs(data: st.DataObject) -> None:
    import torch

    program = data.draw(programs("values"))
    trace = run_program(program, TORCH)
    namespace: dict[str, object] = {"torch": torch}
    for step, outcome in zip(program.steps, trace.outcomes, strict=True):
        if outcome.status != "ok":
            return
        exec(str(step), namespace)  # the pseudo-code is real torch code
        for name, state in outcome.tensors:
            value = namespace[name]
            assert isinstance(value, torch.Tensor) and state is not None
            assert value.detach().numpy().tolist() == state.values.tolist()
