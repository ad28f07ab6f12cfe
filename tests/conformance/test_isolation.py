"""Engines in a worker process: the same traces as in process; a crash, hang, garbage on
the channel or early exit is recorded as the program's broken step (a finding), and the
next program runs on a fresh worker; an engine that installs itself as torch never
shares a process with the oracle."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.check import check_program
from conformance.cli import main
from conformance.corpus import sample_programs
from conformance.engines import EngineSpecError, load_engine
from conformance.isolation import Isolation, WorkerEngine, load_beside
from conformance.program import ApplyOp, Backward, MakeLeaf, Program, Ref, Values
from conformance.run import run_pair, run_program, run_programs
from conformance.wire import encode_trace

REPO = Path(__file__).resolve().parents[2]
MISBEHAVING = "tests.conformance.misbehaving_engines"
TORCH = load_engine("torch")

LEAF = MakeLeaf("t0", Values((2,), (1.0, -2.0)))
# Step 2 sets off every misbehaving engine (exp and sum do not).
SETS_IT_OFF = Program((LEAF, ApplyOp(("t1",), "exp", (Ref("t0"),)),
                       ApplyOp(("t2",), "sin", (Ref("t1"),)),
                       ApplyOp(("t3",), "sum", (Ref("t2"),)), Backward("t3")))
HARMLESS = Program((LEAF, ApplyOp(("t1",), "exp", (Ref("t0"),)),
                    ApplyOp(("t2",), "sum", (Ref("t1"),)), Backward("t2")))


def test_a_worker_records_the_same_traces_as_the_engine_in_process() -> None:
    programs = [p for behaviour in ("gradients", "hooks", "inplace", "errors")
                for p in sample_programs(behaviour, 0, 15)]
    in_process = [encode_trace(run_program(p, load_engine("refgrad"))) for p in programs]
    with WorkerEngine("refgrad") as worker:
        assert (worker.name, worker.version) == ("refgrad", load_engine("refgrad").version)
        one_by_one = [encode_trace(run_program(p, worker)) for p in programs]
        batched = [encode_trace(t) for t in run_programs(programs, worker)]
    assert one_by_one == in_process
    assert batched == in_process


def test_the_worker_runs_a_program_while_the_oracle_runs_here() -> None:
    with WorkerEngine("refgrad") as worker:
        collect = worker.start([HARMLESS])  # returns at once
        with pytest.raises(RuntimeError, match="collect the traces of the last start"):
            worker.start([HARMLESS])
        expected = run_program(HARMLESS, TORCH)
        (actual,) = collect()
        paired = run_pair(HARMLESS, worker, TORCH)
    assert [encode_trace(t) for t in paired] == [encode_trace(actual), encode_trace(expected)]


@pytest.mark.parametrize(("engine", "what"), [
    ("Segfaults", "crashed (SIGSEGV)"),
    ("Aborts", "crashed (SIGABRT)"),
    ("Exits", "exited with status 3"),
    ("Hangs", "timed out after 1 s"),
    ("CorruptsChannel", "sent garbage: not a message: b'this is not a message\\n'"),
])
def test_a_misbehaving_worker_costs_one_program_and_the_run_goes_on(engine: str,
                                                                    what: str) -> None:
    with WorkerEngine(f"{MISBEHAVING}:{engine}", Isolation(timeout=1)) as worker:
        traces = run_programs([HARMLESS, SETS_IT_OFF, HARMLESS, SETS_IT_OFF, HARMLESS], worker)
        assert worker.failures == 2
    harmless, failed = traces[0], traces[1]
    assert [o.status for o in failed.outcomes] == ["ok", "ok", "broken"]  # stopped at sin
    assert failed.outcomes[2].detail.startswith(f"engine worker {what}")
    assert failed.final.status == "broken"
    for trace in traces[2::2]:  # fresh workers ran the programs after each failure
        assert encode_trace(trace) == encode_trace(harmless)
        assert trace.final.status == "ok"


def test_a_failed_program_is_a_finding_about_the_step_that_set_it_off() -> None:
    with WorkerEngine(f"{MISBEHAVING}:Segfaults") as worker:
        (finding,) = check_program(SETS_IT_OFF, worker, TORCH, "values").findings
    assert (finding.check, finding.step_index) == ("status", 2)
    assert finding.expected == "ran without error"
    assert finding.actual == "broken: engine worker crashed (SIGSEGV)"
    assert finding.program == SETS_IT_OFF  # what the reproducer is written from


def test_an_engine_printing_to_stdout_cannot_disturb_the_channel() -> None:
    with WorkerEngine(f"{MISBEHAVING}:PrintsToStdout") as worker:
        printed = run_programs([SETS_IT_OFF, HARMLESS], worker)
        assert worker.failures == 0
    expected = [run_program(p, load_engine("refgrad")) for p in (SETS_IT_OFF, HARMLESS)]
    assert [encode_trace(t) for t in printed] == [encode_trace(t) for t in expected]


@pytest.mark.parametrize(("spec", "isolation", "message"), [
    ("no_such_engine_module", Isolation(),
     "cannot import engine module 'no_such_engine_module': No module named "
     "'no_such_engine_module'"),
    ("refgrad", Isolation(python="/no/such/python"),
     "cannot run engine python '/no/such/python': No such file or directory"),
    ("refgrad", Isolation(python="/bin/false"),
     "engine worker for 'refgrad' failed to start: exited with status 1"),
])
def test_a_worker_that_cannot_start_is_a_one_line_engine_error(
        spec: str, isolation: Isolation, message: str) -> None:
    with pytest.raises(EngineSpecError) as raised:
        WorkerEngine(spec, isolation)
    assert str(raised.value) == message


def test_an_engine_that_replaces_the_oracles_module_is_refused_in_one_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from conformance.isolation import open_engines; "
         "open_engines('tests.conformance.shadow_torch', 'torch')"],
        capture_output=True, text=True, cwd=REPO, check=False)
    assert "EngineSpecError: engine 'tests.conformance.shadow_torch' replaces the module " \
           "'torch' the oracle 'torch' uses: run it in a worker process" in done.stderr


def test_an_engine_beside_the_oracle_is_loaded_if_it_leaves_the_oracle_alone() -> None:
    assert load_beside("refgrad", "torch").name == "refgrad"


def _run_cli(tmp_path: Path, *arguments: str) -> tuple[int, dict[str, Any]]:
    code = main(["--profile", "quick", "--report", str(tmp_path), *arguments])
    return code, json.loads((tmp_path / "report.json").read_text())


def test_an_engine_shadowing_torch_is_checked_in_a_worker_against_the_real_torch(
        tmp_path: Path) -> None:
    code, report = _run_cli(tmp_path, "--isolate", "--engine", "tests.conformance.shadow_torch",
                            "--only", "values", "--max-examples", "20")
    assert code == 1
    assert report["engine"]["version"] == "0.0+shadow"
    assert report["oracle"]["version"] == TORCH.version
    assert report["findings"][0]["check"] == "value"  # its leaves are one off


@pytest.mark.slow
def test_a_crashing_engine_is_reported_with_a_shrunk_program(tmp_path: Path) -> None:
    code, report = _run_cli(tmp_path, "--engine", f"{MISBEHAVING}:Segfaults", "--timeout", "5",
                            "--only", "values", "--max-examples", "20")
    assert code == 1
    for finding in report["findings"]:  # one per op it crashed in, up to the profile's cap
        assert finding["actual"] == "broken: engine worker crashed (SIGSEGV)"
        assert len(finding["program"]["steps"]) == 2  # a leaf, and an op on it
        assert (tmp_path / finding["reproducer"]).exists()


@pytest.mark.slow
def test_a_hanging_engine_is_reported_after_the_timeout(tmp_path: Path) -> None:
    code, report = _run_cli(tmp_path, "--engine", f"{MISBEHAVING}:Hangs", "--timeout", "0.25",
                            "--only", "values", "--max-examples", "10")
    assert code == 1
    assert report["findings"][0]["actual"] == "broken: engine worker timed out after 0.25 s"


@pytest.mark.parametrize(("arguments", "message"), [
    (["--timeout", "0"], "--timeout must be a positive number of seconds"),
    (["--engine-python", "/no/such/python"],
     "cannot run engine python '/no/such/python': No such file or directory"),
])
def test_bad_isolation_options_exit_2_with_one_line(arguments: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(arguments) == 2
    assert capsys.readouterr().err == f"refgrad-conformance: error: {message}\n"


@pytest.fixture(scope="module")
def other_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second virtualenv, without packages of its own."""
    venv = tmp_path_factory.mktemp("other") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


def test_an_engine_python_without_numpy_is_a_one_line_error(other_venv: Path) -> None:
    with pytest.raises(EngineSpecError) as raised:
        WorkerEngine("refgrad", Isolation(python=str(other_venv / "bin" / "python")))
    assert str(raised.value) == ("engine worker for 'refgrad' failed to start: exited with "
                                 "status 1: ModuleNotFoundError: No module named 'numpy'")


def test_an_engine_installed_as_torch_in_another_venv_is_checked_against_the_real_one(
        other_venv: Path, tmp_path: Path) -> None:
    site = _site_packages(other_venv)
    # NumPy from this environment (after the venv's own packages), refgrad from the repo,
    # and a `torch` of the venv's own: refgrad under that name.
    (site / "zz_borrowed.pth").write_text(f"{_site_packages(Path(sys.prefix))}\n{REPO}\n")
    (site / "torch").mkdir(exist_ok=True)
    (site / "torch" / "__init__.py").write_text(
        "import refgrad\n"
        "globals().update({k: v for k, v in vars(refgrad).items() if k[:2] != '__'})\n"
        "__version__ = '0.0+other-venv'\n")
    code, report = _run_cli(tmp_path, "--engine", "torch", "--only", "values",
                            "--engine-python", str(other_venv / "bin" / "python"),
                            "--max-examples", "15")
    assert code in (0, 1)  # (refgrad may show a bug of its own)
    assert report["engine"]["version"] == "0.0+other-venv"
    assert report["oracle"]["version"] == TORCH.version
