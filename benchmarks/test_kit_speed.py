"""The conformance kit's throughput (run: nox -s bench): programs checked per second.

A program checked is the whole pipeline: hypothesis generates it, both engines run it,
the traces are compared (and findings shrunk). Measured on the `ci` profile, torch
against itself (the kit alone: no findings, so no shrinking) and refgrad against torch
(the real job), in one process (`-n 1`) and over two worker processes (`-n 2`, spawn
and engine loading included). A stage benchmark times run + compare alone on fixed
programs, without hypothesis.

Targets (issue 3): at least 300 programs/s per core; the ci profile checks 10,000
programs in at most 2 minutes on 2 cores. The numbers are printed at the end, never
asserted: they depend on the machine and on what else runs on it. "Per core" divides by
the CPU seconds of this process and its workers, which a busy machine inflates less
than the wall clock.
"""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from conformance.behaviours import BEHAVIOURS
from conformance.check import CheckPlan, CheckResult, check_program, run_check
from conformance.engines import load_engine
from conformance.parallel import run_check_in_workers
from conformance.program import Program
from conformance.strategies import programs


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _measure(benchmark: Any, record_rate: Any, case: str,
             check: Callable[[], CheckResult]) -> None:
    outcome: dict[str, Any] = {}

    def run() -> None:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        outcome["result"] = check()
        outcome["wall"] = time.perf_counter() - wall
        outcome["cpu"] = _cpu_seconds() - cpu

    benchmark.pedantic(run, rounds=1, iterations=1)
    result: CheckResult = outcome["result"]
    record_rate(case, result.programs, outcome["wall"], outcome["cpu"])
    benchmark.extra_info.update(programs=result.programs, findings=len(result.findings),
                                cpu_seconds=round(outcome["cpu"], 2))


@pytest.mark.parametrize("engine", ["torch", "refgrad"])
def test_ci_profile_in_one_process(benchmark: Any, record_rate: Any, engine: str) -> None:
    tested, oracle = load_engine(engine), load_engine("torch")
    gc.collect()
    gc.freeze()  # as the CLI does
    _measure(benchmark, record_rate, f"ci, {engine} vs torch, -n 1",
             lambda: run_check(tested, oracle, CheckPlan.of("ci")))


@pytest.mark.parametrize("max_examples", [None, 800])
def test_ci_profile_on_two_workers(benchmark: Any, record_rate: Any,
                                   max_examples: int | None) -> None:
    plan = CheckPlan.of("ci", max_examples=max_examples)
    label = "" if max_examples is None else f" ({max_examples} per behaviour)"
    _measure(benchmark, record_rate, f"ci{label}, torch vs torch, -n 2",
             lambda: run_check_in_workers("torch", "torch", 2, plan))


def _sample(behaviour: str, count: int) -> list[Program]:
    collected: list[Program] = []

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @seed(0)
    @given(programs(behaviour))
    def collect(program: Program) -> None:
        collected.append(program)

    collect()
    return collected


def test_run_and_compare_without_hypothesis(benchmark: Any, record_rate: Any) -> None:
    sample = [p for behaviour in BEHAVIOURS for p in _sample(behaviour, 100)]
    torch = load_engine("torch")

    def check_all() -> None:
        for program in sample:
            check_program(program, torch, torch)

    wall, cpu = time.perf_counter(), time.process_time()
    benchmark.pedantic(check_all, rounds=3, iterations=1)
    record_rate("run + compare only, torch vs torch", 3 * len(sample),
                time.perf_counter() - wall, time.process_time() - cpu)
