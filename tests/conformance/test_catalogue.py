"""The op catalogue: every entry is generated, runs on torch, and generation predicts what
torch computes (shapes, dtypes, requires_grad, value ranges); programs render as the torch
code they run."""

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.behaviours import BEHAVIOURS
from conformance.catalogue import CATALOGUE, Interval
from conformance.engines import load_engine
from conformance.program import (
    ApplyOp,
    EnterGradMode,
    ExitGradMode,
    MakeLeaf,
    Program,
    Ref,
    Values,
)
from conformance.run import run_program
from conformance.strategies import BuildConfig, ProgramBuilder, programs

TORCH = load_engine("torch")
SEARCH = settings(max_examples=25, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))


def _differences(builder: ProgramBuilder, program: Program) -> tuple[int, list[str]]:
    """(calls that ran, what generation predicted wrong about their results on torch)."""
    ran, wrong = 0, []
    trace = run_program(program, TORCH)
    for step, outcome in zip(program.steps, trace.outcomes, strict=True):
        if not isinstance(step, ApplyOp) or outcome.status != "ok":
            continue
        ran += 1
        for name, state in outcome.tensors:
            predicted = builder.operands[name]
            assert state is not None
            if state.shape != predicted.shape or state.dtype != predicted.dtype:
                wrong.append(f"{step}: {state.dtype}{list(state.shape)}, predicted "
                             f"{predicted.dtype}{list(predicted.shape)}")
            elif state.requires_grad != predicted.requires_grad:
                wrong.append(f"{step}: requires_grad={state.requires_grad}, predicted "
                             f"{predicted.requires_grad}")
            elif not _within(state.values, predicted.interval):
                wrong.append(f"{step}: values {state.values.tolist()} outside "
                             f"{predicted.interval}")
    return ran, wrong


def _within(values: np.ndarray, interval: Interval) -> bool:
    if values.dtype.kind != "f" or values.size == 0:
        return True
    slack = 1e-5 * max(1.0, interval.magnitude())
    return bool(values.min() >= interval.lo - slack and values.max() <= interval.hi + slack)


@pytest.mark.parametrize("op", sorted(CATALOGUE))
def test_each_op_is_generated_runs_on_torch_and_is_predicted(op: str) -> None:
    runs: list[int] = []

    @SEARCH
    @given(st.data())
    def check(data: st.DataObject) -> None:
        builder = ProgramBuilder(data.draw, BuildConfig(ops=(op,), leaves_require_grad=None))
        builder.leaf()
        for _ in range(data.draw(st.integers(1, 3))):
            builder.op()
        ran, wrong = _differences(builder, builder.program())
        runs.append(ran)
        assert not wrong, "\n".join([*wrong, str(builder.program())])

    check()
    assert sum(runs) > 0, f"no call of {op} ran on torch"


def _program_source(program: Program) -> str:
    """The program as one block of torch code; each step records whether it raised."""
    lines, depth = [], 0
    for index, step in enumerate(program.steps):
        indent = "    " * depth
        if isinstance(step, EnterGradMode):
            lines.append(f"{indent}with {step.context_source()}:")
            depth += 1
        elif isinstance(step, ExitGradMode):
            lines.append(f"{indent}pass")  # (the block may be empty)
            depth -= 1
        else:
            lines += [f"{indent}try:", f"{indent}    {step}",
                      f"{indent}except Exception as error:",
                      f"{indent}    raised[{index}] = type(error).__name__"]
    return "\n".join(lines + ["    " * level + "pass" for level in range(depth, 0, -1)])


@given(st.sampled_from(tuple(BEHAVIOURS)).flatmap(programs))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_programs_read_as_the_torch_code_they_run(program: Program) -> None:
    import torch

    trace = run_program(program, TORCH)
    namespace: dict[str, Any] = {"torch": torch, "raised": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(_program_source(program), namespace)  # the pseudo-code is real torch code
    expected = {index: outcome.error.type for index, outcome in enumerate(trace.outcomes)
                if outcome.status == "raised" and outcome.error is not None}
    # The runner skips a step using a tensor whose step raised; as code, it meets the
    # name that step never bound.
    expected |= {index: "NameError" for index, outcome in enumerate(trace.outcomes)
                 if outcome.status == "skipped"}
    assert namespace["raised"] == expected
    for name, state in trace.final.tensors:
        value = namespace[name]
        if state is None:
            assert value is None
            continue
        assert isinstance(value, torch.Tensor)
        # (force: torch's efficient zero gradients refuse a plain numpy())
        assert value.detach().numpy(force=True).tolist() == state.values.tolist()


def test_a_call_renders_as_torch_spells_it() -> None:
    def source(op: str, *args: Any, kwargs: tuple[tuple[str, Any], ...] = (),
               outs: tuple[str, ...] = ("t1",)) -> str:
        return str(ApplyOp(outs, op, args, kwargs))

    x = Ref("t0")
    assert source("add", x, 2.0) == "t1 = t0 + 2.0"
    assert source("pow.scalar_base", 2.0, x) == "t1 = 2.0 ** t0"
    assert source("T", x) == "t1 = t0.T"
    assert source("F.relu", x) == "t1 = torch.nn.functional.relu(t0)"
    assert source("cat", (x, Ref("t1")), kwargs=(("dim", 0),), outs=("t2",)) == \
        "t2 = torch.cat((t0, t1), dim=0)"
    assert source("unbind", x, 0) == "t1, = t0.unbind(0)"  # a tuple of one
    assert source("max", x, kwargs=(("dim", 0),), outs=("t1", "t2")) == \
        "t1, t2 = t0.max(dim=0)"


def test_index_tensors_and_masks_are_leaves_that_render_as_literals() -> None:
    assert str(MakeLeaf("t1", Values((3,), (0, 0, 2), "int64"), False)) == \
        "t1 = torch.tensor([0, 0, 2])"
    assert str(MakeLeaf("t2", Values((2,), (True, False), "bool"), False)) == \
        "t2 = torch.tensor([True, False])"
