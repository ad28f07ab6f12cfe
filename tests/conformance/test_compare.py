"""Comparing traces: exact where torch is exact, tolerant only by the documented rule, and
silent about differences rounding can explain."""

import math
from dataclasses import replace

import numpy as np

from conformance.check import check_program
from conformance.compare import (
    DEFAULT_TOLERANCES,
    Finding,
    Tolerance,
    compare,
    normalise_message,
    program_tolerance,
    tolerance,
    value_mismatch,
)
from conformance.engines import load_engine
from conformance.program import ApplyOp, Backward, MakeLeaf, Program, Ref, Values
from conformance.run import Trace, run_program

TORCH = load_engine("torch")
F32 = DEFAULT_TOLERANCES["float32"]


def test_defaults_are_torch_testing_assert_close_and_widen_with_rounding_steps() -> None:
    assert tolerance("float32", 1, 0.0) == Tolerance(1.3e-6, 1e-5)
    assert tolerance("float64", 1, 0.0) == Tolerance(1e-7, 1e-7)
    wide = tolerance("float32", 64, 100.0)
    assert wide.rtol == 4 * 1.3e-6
    assert wide.atol > 100.0 * 64 * 2**-24


def test_nan_and_inf_are_compared_exactly() -> None:
    expected = np.array([math.nan, math.inf, 1.0], dtype=np.float32)
    assert value_mismatch(expected.copy(), expected, F32) == ""
    assert "compared exactly" in value_mismatch(np.array([1.0, math.inf, 1.0], np.float32),
                                                expected, F32)
    assert "compared exactly" in value_mismatch(np.array([math.nan, -math.inf, 1.0], np.float32),
                                                expected, F32)


def test_finite_values_use_the_tolerance() -> None:
    expected = np.array([1.0, 100.0], dtype=np.float32)
    assert value_mismatch(expected * np.float32(1 + 1e-7), expected, F32) == ""
    assert value_mismatch(expected * np.float32(1.001), expected, F32).startswith(
        "first difference at [0]: |1.001 - 1| = 0.001 > rtol 1.3e-06, atol 1e-05")


def test_a_0_dim_value_is_compared_like_any_other() -> None:
    # (np.argwhere of a 0-dim array has no index to show: a difference must still count)
    assert value_mismatch(np.array(2.0, np.float32), np.array(2.0, np.float32), F32) == ""
    assert value_mismatch(np.array(2.12), np.array(3.88), F32).startswith(
        "first difference at []: |2.12 - 3.88| = 1.76")


def test_build_specific_message_tails_are_ignored() -> None:
    message = "The .grad attribute ... (Triggered internally at /__w/pytorch/TensorBody.h:493.)"
    assert normalise_message(message) == "The .grad attribute ..."


def test_a_kink_reached_through_rounding_is_ambiguous_not_a_finding() -> None:
    # relu's input is a hair above 0 on the oracle; an engine that rounded it a hair below
    # gets gradient 0 instead of 1 there, a difference rounding explains.
    program = Program((MakeLeaf("t0", Values((2,), (1e-9, 1.0))),
                       ApplyOp(("t1",), "relu", (Ref("t0"),)),
                       ApplyOp(("t2",), "sum", (Ref("t1"),)), Backward("t2")))
    oracle = run_program(program, TORCH)

    def engine_trace(relu_input: np.ndarray) -> Trace:
        relu, backward = oracle.outcomes[1], oracle.outcomes[3]
        grads = dict(backward.grads)
        t0_grad = grads["t0"]
        assert t0_grad is not None
        grads["t0"] = replace(t0_grad, values=np.array([0.0, 1.0], np.float32))
        outcomes = (oracle.outcomes[0], replace(relu, inputs=(relu_input,)),
                    oracle.outcomes[2], replace(backward, grads=tuple(grads.items())))
        return replace(oracle, outcomes=outcomes)

    assert compare(program, engine_trace(np.array([-1e-9, 1.0], np.float32)), oracle) == ()
    # With the oracle's own relu input, the gradient difference is a finding.
    relu_input = oracle.outcomes[1].inputs[0]
    findings = compare(program, engine_trace(relu_input), oracle)
    assert [(f.check, f.subject) for f in findings] == [("value", "t0.grad")]


def _finding(check: str, op: str, expected: str, actual: str, subject: str = "t1") -> Finding:
    program = Program((MakeLeaf("t0", Values((), (1.0,))), ApplyOp(("t1",), op, (Ref("t0"),))))
    return Finding("metadata", check, 1, str(program.steps[1]), subject, expected, actual, "",
                   program)


def test_one_bug_shown_by_several_programs_is_reported_once() -> None:
    wrong_name = _finding("grad_fn", "exp", "ExpBackward0", "Exp")
    # The same wrong name from the same op in another program: the same bug.
    assert _finding("grad_fn", "exp", "ExpBackward0", "Exp").explained_by(wrong_name)
    # Another op's wrong name is another bug.
    assert not _finding("grad_fn", "sin", "SinBackward0", "Sin").explained_by(wrong_name)
    # Values: explained only by a known finding whose ops the program all exercises.
    wrong_value = _finding("value", "exp", "[1.]", "[2.]")
    assert _finding("value", "exp", "[3.]", "[4.]").explained_by(wrong_value)
    assert not _finding("value", "sin", "[3.]", "[4.]").explained_by(wrong_value)


def test_float64_values_that_went_through_float32_get_float32_tolerance() -> None:
    # A float64 leaf cast to float32: its float64 gradient carries float32's rounding (CI,
    # seed 0: tanh's gradient there differs by 8 float32 ulps between refgrad and torch).
    program = Program((MakeLeaf("t0", Values((2,), (1.0, 1.5), "float64"), requires_grad=True),
                       ApplyOp(("t1",), "float", (Ref("t0"),)),
                       ApplyOp(("t2",), "tanh", (Ref("t1"),)),
                       ApplyOp(("t3",), "sum", (Ref("t2"),)), Backward("t3")))
    oracle = run_program(program, TORCH)
    assert program_tolerance(program, oracle).rtol >= DEFAULT_TOLERANCES["float32"].rtol
    assert check_program(program, load_engine("refgrad"), TORCH, "values").findings == ()


def test_a_jump_reached_through_rounding_is_ambiguous_at_its_own_step() -> None:
    # floor's input is 2 on the oracle and a hair below on the engine: floor itself differs
    # (2 against 1), a difference rounding explains, as later ones do.
    program = Program((MakeLeaf("t0", Values((), (2.0,))),
                       ApplyOp(("t1",), "floor", (Ref("t0"),))))
    oracle = run_program(program, TORCH)
    floor = oracle.outcomes[1]
    below = np.nextafter(np.float32(2.0), np.float32(0.0))
    tensors = dict(floor.tensors)
    t1 = tensors["t1"]
    assert t1 is not None
    tensors["t1"] = replace(t1, values=np.array(1.0, np.float32))

    def engine_trace(floor_input: np.ndarray) -> Trace:
        outcome = replace(floor, inputs=(floor_input,), tensors=tuple(tensors.items()))
        return replace(oracle, outcomes=(oracle.outcomes[0], outcome))

    assert compare(program, engine_trace(np.array(below, np.float32)), oracle) == ()
    # With the oracle's own floor input, the difference is a finding.
    findings = compare(program, engine_trace(floor.inputs[0]), oracle)
    assert [(f.check, f.subject) for f in findings] == [("value", "t1")]
