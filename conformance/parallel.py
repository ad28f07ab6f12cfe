"""Checking behaviours in worker processes (`refgrad-conformance -n N`).

Each worker loads the engines from their specs (engines are not picklable, and a fresh
interpreter keeps them apart) and checks whole behaviours; the parent assembles the
same `CheckResult` the sequential driver would, since behaviours are independent. For a
progress display that takes program counts, workers send their messages over a queue:
a behaviour's start, its program counts, and its end, in that order (one queue per run,
read by one thread, so the display never hears of a behaviour's end before its counts).
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
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
    # Ctrl-C is the parent's to handle: it reports the finished behaviours and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _CountSender:
    """Sends one behaviour's program count to the parent, at most five times a second."""

    def __init__(self, queue: Queue[Any], behaviour: str) -> None:
        self.queue, self.behaviour, self.sent = queue, behaviour, 0.0

    def __call__(self, count: int) -> None:
        now = time.monotonic()
        if now - self.sent >= 0.2:
            self.queue.put(("programs", self.behaviour, count))
            self.sent = now


def _check_in_worker(plan: CheckPlan, behaviour: str, engine_spec: str, oracle_spec: str,
                     isolation: Isolation | None) -> BehaviourResult:
    engines = _LOADED.get((engine_spec, oracle_spec))
    if engines is None:
        engines = _LOADED[engine_spec, oracle_spec] = open_engines(engine_spec, oracle_spec,
                                                                   isolation)
        gc.collect()
        gc.freeze()  # as in the CLI: the engines' heap is permanent
    if _COUNTS is None:
        return plan.check(behaviour, *engines)
    # Start and end go through the queue too (not the end through the pool's result):
    # a count sent just before the end may otherwise reach the display after it.
    _COUNTS.put(("message", f"{behaviour}: checking up to {plan.max_examples} programs"))
    result = plan.check(behaviour, *engines, on_program=_CountSender(_COUNTS, behaviour))
    _COUNTS.put(("message", describe_done(result)))
    return result


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
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_start_worker, initargs=(counts,))
    futures = {pool.submit(_check_in_worker, plan, behaviour, engine_spec, oracle_spec,
                           isolation): behaviour for behaviour in plan.behaviours}
    done: dict[str, BehaviourResult] = {}
    interrupted = False
    try:
        for future in as_completed(futures):
            result = done[futures[future]] = future.result()
            if progress and counts is None:  # (else the worker said so through `counts`)
                progress(describe_done(result))
    except KeyboardInterrupt:
        interrupted = True
        _stop_workers(pool)
    pool.shutdown(wait=True, cancel_futures=True)
    if counts is not None:
        # The workers have exited, so what they put is in the queue, ahead of this None.
        counts.put(None)
        relay.join(timeout=5)
    return plan.result(EngineInfo.of(engine_spec, engine), EngineInfo.of(oracle_spec, oracle),
                       [done[b] for b in plan.behaviours if b in done],
                       time.perf_counter() - started, interrupted=interrupted)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's processes mid-task (the executor has no public way to)."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()


def _relay_counts(counts: Queue[Any], progress: ProgramCounts) -> None:
    """Hand the workers' messages and program counts to the display, until a None."""
    while (item := counts.get()) is not None:
        if item[0] == "message":
            progress(item[1])
        else:
            progress.programs(item[1], item[2])
