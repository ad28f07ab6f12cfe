"""Baselines: known findings by stable signature; only new findings fail a run, entries
not found any more are stale."""

import json
from pathlib import Path

import pytest

from conformance.baseline import (
    Baseline,
    BaselineError,
    KnownFinding,
    baseline_of,
    judge,
    load_baseline,
    message_class,
)
from conformance.compare import Finding
from conformance.program import ApplyOp, Backward, MakeLeaf, Program, Ref, Values


def program(*ops: str) -> Program:
    """t0 -> op -> op ... -> sum -> backward."""
    steps: list = [MakeLeaf("t0", Values((2,), (1.0, 2.0)))]
    for number, op in enumerate((*ops, "sum"), start=1):
        steps.append(ApplyOp((f"t{number}",), op, (Ref(f"t{number - 1}"),)))
    steps.append(Backward(f"t{len(steps) - 1}"))
    return Program(tuple(steps))


def gradient_finding(*ops: str, expected: str = "[1., 1.]", actual: str = "[2., 2.]",
                     behaviour: str = "gradients") -> Finding:
    p = program(*ops)
    last = len(p.steps) - 1
    return Finding(behaviour, "value", last, str(p.steps[last]), "t0.grad", expected, actual,
                   "first difference at [0]", p)


def error_finding(ops: tuple[str, ...], message: str) -> Finding:
    p = program(*ops)
    return Finding("errors", "error_message", 1, str(p.steps[1]), "error",
                   message, "something else went wrong", "", p)


def test_an_entry_names_behaviour_check_step_ops_and_message_class() -> None:
    entry = KnownFinding.of(gradient_finding("sin", "exp"))
    assert (entry.behaviour, entry.check, entry.step) == ("gradients", "value", "gradient")
    assert entry.ops == ("exp", "sin", "sum")  # a backward step: the program's ops
    assert entry.message == ".grad of a leaf"


def test_message_classes_mask_tensor_names_and_numbers() -> None:
    a = error_finding(("sin",), "t3 has shape [2, 3] at version 1; expected version 0")
    b = error_finding(("sin",), "t7 has shape [4] at version 2; expected version 1")
    assert message_class(a) == message_class(b)
    assert message_class(a).startswith("t# has shape [#] at version #; expected version #")


def test_a_bigger_program_with_the_same_fault_is_known_in_any_behaviour() -> None:
    entry = KnownFinding.of(gradient_finding("sin"))
    assert entry.matches(gradient_finding("sin", "exp"))
    assert not entry.matches(gradient_finding("cos"))
    # Another seed may show the bug first in another behaviour: still the same bug.
    assert entry.matches(gradient_finding("sin", behaviour="accumulation"))


def test_a_wrong_message_is_one_bug_whatever_op_shows_it() -> None:
    entry = KnownFinding.of(error_finding(("sin",), "a message"))
    assert entry.matches(error_finding(("cos",), "a message"))
    assert not entry.matches(error_finding(("sin",), "another message"))


def test_judging_sorts_findings_into_known_and_new_and_finds_stale_entries() -> None:
    known = gradient_finding("sin")
    fixed = KnownFinding.of(gradient_finding("tanh"))
    elsewhere = KnownFinding.of(gradient_finding("cos", behaviour="hooks"))
    baseline = Baseline((KnownFinding.of(known), fixed, elsewhere))
    findings = [gradient_finding("sin", "exp"), gradient_finding("log")]
    verdict = judge(baseline, findings, checked=["values", "gradients"], file="b.json")
    assert (verdict.known, verdict.new) == ((0,), (1,))
    assert verdict.stale == (fixed,)  # hooks were not checked: not stale
    assert not verdict.passed


def test_an_entry_the_search_passed_over_is_seen_not_stale() -> None:
    passed_over = KnownFinding.of(gradient_finding("tanh"))
    verdict = judge(Baseline((passed_over,)), [], ["gradients"], "b.json", {passed_over: 7})
    assert verdict.seen == ((passed_over, 7),)
    assert verdict.stale == () and verdict.passed
    kept = baseline_of([], ["gradients"], Baseline((passed_over,)), {passed_over: 7})
    assert kept.entries == (passed_over,)  # rewriting keeps what is still there


def test_a_baseline_round_trips_through_its_file_with_comments(tmp_path: Path) -> None:
    baseline = baseline_of([gradient_finding("sin"), gradient_finding("sin")], ["gradients"])
    assert len(baseline.entries) == 1  # the same signature once
    assert "t0.grad" in baseline.entries[0].comment  # a summary to start from
    path = tmp_path / "baseline.json"
    path.write_text(baseline.to_json())
    data = json.loads(path.read_text())
    assert set(data) == {"comment", "baseline_version", "known_findings"}
    data["known_findings"][0]["comment"] = "sin's derivative: issue #12"
    path.write_text(json.dumps(data))
    edited = load_baseline(path)
    again = baseline_of([gradient_finding("sin", "exp")], ["gradients"], edited)
    assert [e.comment for e in again.entries] == ["sin's derivative: issue #12"]


def test_rewriting_keeps_entries_of_behaviours_not_checked() -> None:
    hooks = KnownFinding.of(gradient_finding("cos", behaviour="hooks"), "kept")
    rewritten = baseline_of([gradient_finding("sin")], ["gradients"], Baseline((hooks,)))
    assert hooks in rewritten.entries and len(rewritten.entries) == 2


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not JSON"),
    ("[]", "expected a JSON object"),
    ('{"baseline_version": 7, "known_findings": []}', "baseline_version 7, expected 1"),
    ('{"baseline_version": 1}', "known_findings must be a list"),
    ('{"baseline_version": 1, "known_findings": [{"check": "value"}]}',
     "known_findings[0]: missing behaviour, step, ops, message"),
    ('{"baseline_version": 1, "known_findings": [{"behaviour": "a", "check": "b", '
     '"step": "c", "ops": "sin", "message": "d"}]}', "ops: a list of strings"),
])
def test_a_bad_baseline_is_one_line_naming_the_problem(tmp_path: Path, text: str,
                                                       message: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(text)
    with pytest.raises(BaselineError, match=r"^baseline '.*baseline\.json': ") as raised:
        load_baseline(path)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_baseline_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match=r"cannot read baseline .*: No such file"):
        load_baseline(tmp_path / "nowhere.json")
