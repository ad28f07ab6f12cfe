"""The recorded corpus: torch's traces, shipped with the kit, stand in for torch. They
agree with the live oracle, torch conforms to them, a faulty engine is caught by them
(with the recorded program, unshrunk), and the whole replay runs where torch cannot be
imported."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from conformance.behaviours import BEHAVIOURS
from conformance.check import EngineInfo
from conformance.cli import main
from conformance.corpus import (
    NOT_RECORDED,
    REPLAYED_ORACLE,
    CorpusError,
    default_corpus_path,
    read_corpus,
    record_corpus,
    replay_corpus,
    replay_plan,
    write_corpus,
)
from conformance.engines import load_engine
from conformance.program import ApplyOp, MakeLeaf, Program, Ref, Values
from conformance.run import run_program
from conformance.wire import encode_trace
from tests.conformance.faulty_engines import WrongTanhValue

REPO = Path(__file__).resolve().parents[2]
CORPUS = read_corpus(default_corpus_path())
TORCH = load_engine("torch")


def test_the_corpus_says_how_it_was_made_and_stays_small() -> None:
    assert CORPUS.oracle.name == "torch"
    assert CORPUS.oracle.version == torch.__version__  # re-record when the pin moves
    assert (CORPUS.seed, CORPUS.profile) == (0, "ci")
    assert dict(CORPUS.generator)["hypothesis"]
    assert {e.behaviour for e in CORPUS.entries} == {*BEHAVIOURS, None}
    assert default_corpus_path().stat().st_size < 3_000_000


def _sample(every: int = 25) -> list[tuple[Program, Any]]:
    """Each behaviour's first programs and then every `every`-th, with recorded traces."""
    oracle = CORPUS.oracle_runner()
    chosen = [p for b in BEHAVIOURS for i, p in enumerate(CORPUS.programs(b))
              if i < 5 or i % every == 0]
    return list(zip(chosen, oracle.run_programs(chosen), strict=True))


def test_the_recorded_traces_are_what_the_live_oracle_records_now() -> None:
    """Fails when the runner or torch changed since recording: record again with
    `nox -s corpus`."""
    stale = [program for program, recorded in _sample()
             if encode_trace(run_program(program, TORCH)) != encode_trace(recorded)]
    assert not stale, f"{len(stale)} stale traces, the first for:\n{stale[0]}"


def test_torch_conforms_to_its_recorded_traces() -> None:
    result = replay_corpus(TORCH, CORPUS, replay_plan(CORPUS, max_examples=40),
                           engine_spec="torch")
    assert result.findings == ()
    assert result.programs == 40 * len(BEHAVIOURS)
    assert result.oracle.spec == REPLAYED_ORACLE


def test_a_faulty_engine_is_caught_with_the_recorded_program_unshrunk() -> None:
    plan = replay_plan(CORPUS, only=["values"])
    result = replay_corpus(WrongTanhValue(), CORPUS, plan)
    finding = result.findings[0]
    assert (finding.behaviour, finding.check) == ("values", "value")
    assert "tanh" in finding.ops
    assert finding.program in CORPUS.programs("values")


def test_a_program_not_in_the_corpus_comes_back_not_applicable() -> None:
    unknown = Program((MakeLeaf("t0", Values((1,), (0.123,))),
                       ApplyOp(("t1",), "exp", (Ref("t0"),))))
    (trace,) = CORPUS.oracle_runner().run_programs([unknown])
    assert trace.not_applicable == NOT_RECORDED


def test_recording_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    info = EngineInfo("torch", TORCH.name, TORCH.version, tuple(sorted(TORCH.capabilities)))
    paths = []
    for name in ("first", "second"):
        corpus = record_corpus(TORCH, info, seed_value=3, programs_per_behaviour=6,
                               behaviours=("gradients", "hooks"))
        paths.append(tmp_path / f"{name}.jsonl.gz")
        write_corpus(corpus, paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    back = read_corpus(paths[0])
    assert back.programs("hooks") == corpus.programs("hooks")
    assert [len(p.steps) for p in back.programs("hooks")] == sorted(
        len(p.steps) for p in back.programs("hooks"))  # smallest first
    assert (back.seed, back.programs_per_behaviour, back.oracle) == (3, 6, info)


def _corrupt(tmp_path: Path, header: dict[str, Any] | None, body: bytes = b"") -> Path:
    path = tmp_path / "corpus.jsonl.gz"
    with gzip.open(default_corpus_path()) as original:
        real = json.loads(original.readline())
    with gzip.open(path, "wb") as out:
        out.write(json.dumps({**real, **(header or {})}).encode() + b"\n" + body)
    return path


def test_an_unusable_corpus_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="has corpus_version 0, this kit reads 1: record it "
                                          r"again \(nox -s corpus\)"):
        read_corpus(_corrupt(tmp_path, {"corpus_version": 0}))
    with pytest.raises(CorpusError, match="is unreadable: JSONDecodeError"):
        read_corpus(_corrupt(tmp_path, None, b"{broken\n"))
    with pytest.raises(CorpusError, match="no corpus file"):
        read_corpus(tmp_path / "nowhere.jsonl.gz")


@pytest.mark.parametrize(("arguments", "message"), [
    (["--corpus", "x.jsonl.gz"], "--corpus needs --oracle corpus"),
    (["--oracle", "corpus", "-n", "2"], "-n/--workers does not apply to --oracle corpus"),
    (["--oracle", "corpus", "--corpus", "/no/such.jsonl.gz"],
     "no corpus file '/no/such.jsonl.gz'"),
])
def test_bad_corpus_options_exit_2_with_one_line(arguments: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(arguments) == 2
    assert capsys.readouterr().err == f"refgrad-conformance: error: {message}\n"


# Installed as sitecustomize: any import of torch fails, and is logged.
_BLOCK_TORCH = """
import os, sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            with open(os.environ["TORCH_IMPORT_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoTorch())
"""


@pytest.fixture
def no_torch(tmp_path: Path) -> dict[str, str]:
    """An environment in which torch cannot be imported (by this or any child process)."""
    (tmp_path / "sitecustomize.py").write_text(_BLOCK_TORCH)
    return {**os.environ, "PYTHONPATH": str(tmp_path),
            "TORCH_IMPORT_LOG": str(tmp_path / "torch-imports.log")}


def _in(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True,
                          cwd=REPO, env=env, check=False)


@pytest.mark.parametrize("isolate", [[], ["--isolate"]], ids=["in-process", "isolated"])
def test_the_cli_replays_the_corpus_where_torch_cannot_be_imported(
        no_torch: dict[str, str], tmp_path: Path, isolate: list[str]) -> None:
    done = _in(no_torch, "-m", "conformance", "--oracle", "corpus", "--engine", "refgrad",
               "--only", "values", "--only", "gradients", "--max-examples", "30",
               "--report", str(tmp_path / "report"), *isolate)
    assert done.returncode in (0, 1), done.stderr
    assert not Path(no_torch["TORCH_IMPORT_LOG"]).exists()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["oracle"]["spec"] == "corpus"
    assert report["oracle"]["version"] == TORCH.version
    assert report["summary"]["programs"] == 60
    assert "findings are not shrunk" in (tmp_path / "report" / "report.md").read_text()


def test_without_torch_the_torch_oracle_points_to_the_corpus(no_torch: dict[str, str]) -> None:
    done = _in(no_torch, "-m", "conformance", "--only", "values")
    assert done.returncode == 2
    assert done.stderr == ("refgrad-conformance: error: cannot import engine module 'torch': "
                           "No module named 'torch' (without torch, check against its "
                           "recorded traces: --oracle corpus)\n")


def test_importing_the_kit_does_not_import_torch(no_torch: dict[str, str]) -> None:
    modules = ["conformance." + path.stem for path in (REPO / "conformance").glob("*.py")
               if path.stem != "__main__"]
    done = _in(no_torch, "-c", "; ".join(f"import {m}" for m in sorted(modules)))
    assert done.returncode == 0, done.stderr
    assert not Path(no_torch["TORCH_IMPORT_LOG"]).exists()
