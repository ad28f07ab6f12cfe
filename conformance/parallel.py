"""Checking behaviours in worker processes (`refgrad-conformance -n N`).

Each worker loads the engines from their specs (engines are not picklable, and a fresh
interpreter keeps them apart) and checks whole behaviours; the parent assembles the
same `CheckResult` the sequential driver would, since behaviours are independent.
"""

from __future__ import annotations

import gc
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from conformance.check import (
    BehaviourResult,
    CheckPlan,
    CheckResult,
    EngineInfo,
    Progress,
    describe_done,
)
from conformance.engines import Engine
from conformance.isolation import Isolation, open_engines, shut_down
from conformance.run import AnyEngine

# Per worker process; an isolated engine's own worker lives as long as this process.
_LOADED: dict[tuple[str, str], tuple[AnyEngine, Engine]] = {}


def _check_in_worker(plan: CheckPlan, behaviour: str, engine_spec: str, oracle_spec: str,
                     isolation: Isolation | None) -> BehaviourResult:
    engines = _LOADED.get((engine_spec, oracle_spec))
    if engines is None:
        engines = _LOADED[engine_spec, oracle_spec] = open_engines(engine_spec, oracle_spec,
                                                                   isolation)
        gc.collect()
        gc.freeze()  # as in the CLI: the engines' heap is permanent
    return plan.check(behaviour, *engines)


def run_check_in_workers(engine_spec: str, oracle_spec: str, workers: int, plan: CheckPlan,
                         progress: Progress | None = None,
                         isolation: Isolation | None = None) -> CheckResult:
    """`run_check` over `workers` processes, one behaviour per task."""
    started = time.perf_counter()
    # Loaded here too: bad specs fail before any worker starts, and the report needs them.
    engine, oracle = open_engines(engine_spec, oracle_spec, isolation)
    shut_down(engine)  # (its name, version and capabilities are all the report needs)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_check_in_worker, plan, behaviour, engine_spec, oracle_spec,
                               isolation): behaviour for behaviour in plan.behaviours}
        done: dict[str, BehaviourResult] = {}
        for future in as_completed(futures):
            result = done[futures[future]] = future.result()
            if progress:
                progress(describe_done(result))
    return plan.result(EngineInfo.of(engine_spec, engine), EngineInfo.of(oracle_spec, oracle),
                       [done[b] for b in plan.behaviours], time.perf_counter() - started)
