"""Reproducer scripts run on their own and show torch and the engine side by side."""

import subprocess
import sys
from pathlib import Path

import pytest

from conformance.check import check_behaviour
from conformance.compare import Finding
from conformance.engines import load_engine
from conformance.reproducer import reproducer_script
from tests.conformance.faulty_engines import WrongSinGradient

REPO = Path(__file__).resolve().parents[2]
ADAPTER_SPEC = "tests.conformance.faulty_engines:WrongSinGradient"


@pytest.fixture(scope="module")
def finding() -> Finding:
    result = check_behaviour("gradients", WrongSinGradient(), load_engine("torch"),
                             max_examples=600, max_findings=1)
    return result.findings[0]


def _run_script(script: str, tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "reproducer.py"
    path.write_text(script)
    return subprocess.run([sys.executable, str(path), *arguments], capture_output=True,
                          text=True, cwd=REPO, env={"PYTHONPATH": str(REPO)}, check=False)


def test_a_torch_like_reproducer_runs_torch_and_the_engine(finding: Finding,
                                                          tmp_path: Path) -> None:
    done = _run_script(reproducer_script(finding, "torch"), tmp_path)
    assert done.returncode == 0, done.stderr  # torch against torch: nothing differs
    assert "torch:" in done.stdout and "engine:" in done.stdout
    assert "differs" not in done.stdout


def test_an_adapter_reproducer_replays_the_finding(finding: Finding, tmp_path: Path) -> None:
    done = _run_script(reproducer_script(finding, ADAPTER_SPEC), tmp_path)
    assert done.returncode == 1, done.stderr
    assert "value of" in done.stdout and "differs" in done.stdout


def test_the_script_names_the_finding_and_its_program(finding: Finding) -> None:
    script = reproducer_script(finding, "refgrad")
    assert str(finding.program).splitlines()[0] in script
    assert "ENGINE = sys.argv[1] if len(sys.argv) > 1 else 'refgrad'" in script
