"""Checking behaviours in worker processes (`refgrad-conformance -n N`).

Each worker loads the engines from their specs (engines are not picklable, and a fresh
interpreter keeps them apart) and checks whole behaviours; the parent assembles the
same `CheckResult` the sequential driver would, since behaviours are independent. For a
progress display that takes program counts, workers send them over a queue.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing.queues import Queue
from typing import Any

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
from conformance.progress import ProgramCounts
from conformance.run import AnyEngine

# Per worker process; an isolated engine's own worker lives as long as this process.
_LOADED: dict[tuple[str, str], tuple[AnyEngine, Engine]] = {}
_COUNTS: Queue[Any] | None = None  # per worker: where program counts go, if anywhere


def _start_worker(counts: Queue[Any] | None) -> None:
    global _COUNTS
    _COUNTS = counts


class _CountSender:
    """Sends one behaviour's program count to the parent, at most five times a second."""

    def __init__(self, queue: Queue[Any], behaviour: str) -> None:
        self.queue, self.behaviour, self.sent = queue, behaviour, 0.0

    def __call__(self, count: int) -> None:
        now = time.monotonic()
        if now - self.sent >= 0.2:
            self.queue.put((self.behaviour, count))
            self.sent = now


def _check_in_worker(plan: CheckPlan, behaviour: str, engine_spec: str, oracle_spec: str,
                     isolation: Isolation | None) -> BehaviourResult:
    engines = _LOADED.get((engine_spec, oracle_spec))
    if engines is None:
        engines = _LOADED[engine_spec, oracle_spec] = open_engines(engine_spec, oracle_spec,
                                                                   isolation)
        gc.collect()
        gc.freeze()  # as in the CLI: the engines' heap is permanent
    counts = None if _COUNTS is None else _CountSender(_COUNTS, behaviour)
    return plan.check(behaviour, *engines, on_program=counts)


def run_check_in_workers(engine_spec: str, oracle_spec: str, workers: int, plan: CheckPlan,
                         progress: Progress | None = None,
                         isolation: Isolation | None = None) -> CheckResult:
    """`run_check` over `workers` processes, one behaviour per task."""
    started = time.perf_counter()
    # Loaded here too: bad specs fail before any worker starts, and the report needs them.
    engine, oracle = open_engines(engine_spec, oracle_spec, isolation)
    shut_down(engine)  # (its name, version and capabilities are all the report needs)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch
    counts: Queue[Any] | None = context.Queue() \
        if isinstance(progress, ProgramCounts) else None
    relay = threading.Thread(target=_relay_counts, args=(counts, progress), daemon=True)
    if counts is not None:
        relay.start()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_start_worker, initargs=(counts,)) as pool:
        futures = {pool.submit(_check_in_worker, plan, behaviour, engine_spec, oracle_spec,
                               isolation): behaviour for behaviour in plan.behaviours}
        done: dict[str, BehaviourResult] = {}
        for future in as_completed(futures):
            result = done[futures[future]] = future.result()
            if progress:
                progress(describe_done(result))
    if counts is not None:
        counts.put(None)
        relay.join()
    return plan.result(EngineInfo.of(engine_spec, engine), EngineInfo.of(oracle_spec, oracle),
                       [done[b] for b in plan.behaviours], time.perf_counter() - started)


def _relay_counts(counts: Queue[Any], progress: ProgramCounts) -> None:
    """Hand the workers' program counts to the display, until a None arrives."""
    while (item := counts.get()) is not None:
        progress.programs(*item)
