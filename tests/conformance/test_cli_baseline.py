"""refgrad-conformance --write-baseline / --baseline: a run fails only on new findings;
entries not found any more are stale (warned about, listed in the reports)."""

import json
from pathlib import Path

import pytest

from conformance.cli import main

FAULTY = "tests.conformance.faulty_engines"


def _run(tmp_path: Path, engine: str, *arguments: str) -> int:
    return main(["--engine", f"{FAULTY}:{engine}", "--profile", "quick", "--max-examples",
                 "60", "--only", "values", "--only", "metadata", "--report",
                 str(tmp_path / "reports"), *arguments])


def test_known_findings_pass_and_new_ones_fail(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    assert _run(tmp_path, "WrongGradFnName", "--write-baseline", str(baseline)) == 0
    entries = json.loads(baseline.read_text())["known_findings"]
    assert {e["behaviour"] for e in entries} == {"metadata"}
    assert all(e["comment"] for e in entries)

    assert _run(tmp_path, "WrongGradFnName", "--baseline", str(baseline)) == 0
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["passed"] and not report["conformant"]
    assert report["findings"] == []  # the search passed over the known ones...
    assert report["baseline"]["seen"][0]["programs"] > 0  # ...and counted them
    assert report["baseline"]["new"] == [] and report["baseline"]["stale"] == []
    assert "0 new findings" in capsys.readouterr().out
    assert "<th>known (baseline)</th>" in (tmp_path / "reports" / "report.html").read_text()

    # Another fault on top: its findings are new (exit 1), the known one still known.
    assert _run(tmp_path, "Float32GradsOfFloat64", "--baseline", str(baseline),
                "--only", "gradients") == 1
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["baseline"]["new"]
    err = capsys.readouterr().err
    assert "stale baseline entry" in err  # this engine has no grad_fn fault


def test_a_fixed_bug_leaves_a_stale_entry_and_passes(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    assert _run(tmp_path, "WrongGradFnName", "--write-baseline", str(baseline)) == 0
    capsys.readouterr()
    assert main(["--engine", "torch", "--profile", "quick", "--max-examples", "20",
                 "--only", "metadata", "--report", str(tmp_path / "reports"),
                 "--baseline", str(baseline)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("refgrad-conformance: warning: stale baseline entry")
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert len(report["baseline"]["stale"]) == len(json.loads(baseline.read_text())
                                                   ["known_findings"])
    assert "Stale baseline entries" in (tmp_path / "reports" / "report.md").read_text()


def test_entries_of_behaviours_not_checked_are_not_stale(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    baseline = tmp_path / "baseline.json"
    assert _run(tmp_path, "WrongGradFnName", "--write-baseline", str(baseline)) == 0
    capsys.readouterr()
    assert main(["--engine", "torch", "--profile", "quick", "--max-examples", "10",
                 "--only", "values", "--report", str(tmp_path / "reports"),
                 "--baseline", str(baseline)]) == 0
    assert "stale" not in capsys.readouterr().err


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read baseline"),
    ("{", "not JSON"),
    ('{"baseline_version": 1, "known_findings": [3]}', "known_findings[0]: expected an object"),
])
def test_a_bad_baseline_exits_2_before_the_run(tmp_path: Path, content: str | None,
                                               message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content)
    assert main(["--engine", "torch", "--baseline", str(baseline),
                 "--report", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refgrad-conformance: error: ")
    assert message in err
    assert not (tmp_path / "reports").exists()  # failed before running anything
