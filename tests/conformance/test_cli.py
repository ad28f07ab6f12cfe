"""refgrad-conformance: exit 0 conformant, 1 findings, 2 bad usage or engine (one line)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main

REPO = Path(__file__).resolve().parents[2]
FAULTY = "tests.conformance.faulty_engines"


@pytest.mark.parametrize(("arguments", "message"), [
    (["--engine", "no_such_engine_module"], "cannot import engine module 'no_such_engine_module'"),
    (["--engine", "not a spec!"], "invalid engine spec 'not a spec!'"),
    (["--engine", f"{FAULTY}:MissingMethods"], "missing required members: to_numpy, apply"),
    (["--engine", "torch:nothing_here"], "module 'torch' has no attribute 'nothing_here'"),
    (["--engine", "json"], "module 'json' is not torch-like: it has no tensor, float32"),
    (["--profile", "slow"], "argument --profile: invalid choice: 'slow'"),
    (["--max-examples", "0"], "--max-examples must be at least 1"),
    (["--only", "everything"], "argument --only: invalid choice: 'everything'"),
])
def test_bad_usage_exits_2_with_one_line(arguments: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("refgrad-conformance: error: ")
    assert message in err


def test_bad_engine_from_the_command_line_has_no_traceback() -> None:
    done = subprocess.run([sys.executable, "-m", "conformance", "--engine", "no_such_module"],
                          capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 2
    assert done.stderr == "refgrad-conformance: error: cannot import engine module " \
                          "'no_such_module': No module named 'no_such_module'\n"


def _run(tmp_path: Path, *arguments: str) -> int:
    return main(["--profile", "quick", "--max-examples", "15", "--report", str(tmp_path),
                 *arguments])


def test_a_conformant_engine_exits_0_and_writes_the_report(tmp_path: Path) -> None:
    assert _run(tmp_path, "--engine", "torch", "--only", "values", "--only", "gradients") == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["conformant"] is True
    assert list(report["behaviours"]) == ["values", "gradients"]
    assert "conformant" in (tmp_path / "report.md").read_text()


def test_findings_exit_1_with_reproducers(tmp_path: Path) -> None:
    assert _run(tmp_path, "--engine", f"{FAULTY}:WrongGradFnName", "--only", "metadata",
                "--max-examples", "150") == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["findings"][0]["reproducer"] == "reproducers/F1.py"
    assert (tmp_path / "reproducers" / "F1.py").exists()


def test_the_same_seed_gives_the_same_report_apart_from_timing(tmp_path: Path) -> None:
    reports = []
    for run in ("first", "second"):
        _run(tmp_path / run, "--engine", f"{FAULTY}:WrongSinGradient", "--seed", "7",
             "--only", "gradients", "--only", "errors")
        report = json.loads((tmp_path / run / "report.json").read_text())
        del report["timing"]
        reports.append(report)
    assert reports[0] == reports[1]


def test_workers_give_the_same_report_as_one_process(tmp_path: Path) -> None:
    reports = []
    for workers in ("1", "2"):
        code = _run(tmp_path / workers, "--engine", f"{FAULTY}:WrongGradFnName", "-n", workers,
                    "--only", "metadata", "--only", "gradients", "--max-examples", "40")
        assert code == 1
        report = json.loads((tmp_path / workers / "report.json").read_text())
        del report["timing"]
        reports.append(report)
    assert reports[0] == reports[1]


def test_an_interrupted_run_reports_the_behaviours_it_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.check import CheckPlan

    check = CheckPlan.check

    def interrupted_at_metadata(plan: CheckPlan, behaviour: str, *args: object) -> object:
        if behaviour == "metadata":
            raise KeyboardInterrupt  # as Ctrl-C in the middle of its search
        return check(plan, behaviour, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(CheckPlan, "check", interrupted_at_metadata)
    status = _run(tmp_path, "--engine", "torch", "--only", "values", "--only", "metadata",
                  "--only", "gradients")
    assert status == 130
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["interrupted"] is True
    assert report["passed"] is False
    assert list(report["behaviours"]) == ["values"]
    assert report["behaviours"]["values"]["programs"] > 0
    assert "interrupted after 1 behaviour: conformant" in (tmp_path / "report.md").read_text()
