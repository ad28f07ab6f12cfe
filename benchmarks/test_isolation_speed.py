"""What isolation costs (run: nox -s bench, or pytest benchmarks/test_isolation_speed.py
--benchmark-only -p no:xdist): programs per second with the engine in process and in a
worker process (`--isolate`), and replaying the recorded corpus (`--oracle corpus`).

Fixed programs (40 per behaviour, seed 0), refgrad as the engine, torch as the oracle;
"run + compare" is `check_program` (both traces, then the comparison; an isolated engine
runs while the oracle runs here), "run only" the engine's traces alone. CPU seconds
include the worker's (read from /proc). Printed at the end, never asserted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.behaviours import BEHAVIOURS
from conformance.check import check_program
from conformance.corpus import (
    default_corpus_path,
    read_corpus,
    replay_corpus,
    replay_plan,
    sample_programs,
)
from conformance.engines import load_engine
from conformance.isolation import WorkerEngine
from conformance.run import AnyEngine, run_programs

PROGRAMS = [p for behaviour in BEHAVIOURS for p in sample_programs(behaviour, 0, 40)]


def _worker_cpu(engine: AnyEngine) -> float:
    """CPU seconds of the engine's worker process so far (0 in process, or off Linux)."""
    if not isinstance(engine, WorkerEngine):
        return 0.0
    try:
        fields = Path(f"/proc/{engine.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _measure(benchmark: Any, record_rate: Any, case: str, engine: AnyEngine, programs: int,
             work: Callable[[], object]) -> None:
    wall, cpu = time.perf_counter(), time.process_time() + _worker_cpu(engine)
    benchmark.pedantic(work, rounds=3, iterations=1)
    record_rate(case, 3 * programs, time.perf_counter() - wall,
                time.process_time() + _worker_cpu(engine) - cpu)


@pytest.fixture(params=["in process", "isolated"])
def refgrad(request: pytest.FixtureRequest) -> Any:
    if request.param == "in process":
        yield load_engine("refgrad")
        return
    with WorkerEngine("refgrad") as worker:
        yield worker


def test_run_and_compare(benchmark: Any, record_rate: Any, refgrad: AnyEngine) -> None:
    torch = load_engine("torch")
    where = "isolated" if isinstance(refgrad, WorkerEngine) else "in process"
    _measure(benchmark, record_rate, f"run + compare, refgrad {where}", refgrad,
             len(PROGRAMS), lambda: [check_program(p, refgrad, torch) for p in PROGRAMS])


def test_run_only(benchmark: Any, record_rate: Any, refgrad: AnyEngine) -> None:
    where = "isolated (batches)" if isinstance(refgrad, WorkerEngine) else "in process"
    _measure(benchmark, record_rate, f"run only, refgrad {where}", refgrad, len(PROGRAMS),
             lambda: run_programs(PROGRAMS, refgrad))


def test_corpus_replay(benchmark: Any, record_rate: Any, refgrad: AnyEngine) -> None:
    corpus = read_corpus(default_corpus_path())
    plan = replay_plan(corpus, max_examples=100)
    where = "isolated" if isinstance(refgrad, WorkerEngine) else "in process"
    _measure(benchmark, record_rate, f"corpus replay, refgrad {where}", refgrad,
             100 * len(BEHAVIOURS), lambda: replay_corpus(refgrad, corpus, plan))
