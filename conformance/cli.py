"""`refgrad-conformance`: check an engine against PyTorch and write a report.

Exit status: 0 conformant (with --baseline: no finding the baseline does not list), 1
findings (new ones), 2 usage or configuration error (one line on stderr, no traceback),
130 interrupted (Ctrl-C): the reports cover the behaviours finished by then. On a
terminal, progress per behaviour goes to stderr (progress.py); otherwise it is quiet.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.behaviours import BEHAVIOURS
from conformance.engines import EngineSpecError

if TYPE_CHECKING:
    from conformance.baseline import Baseline, BaselineVerdict, KnownFinding
    from conformance.check import CheckResult, Progress
    from conformance.isolation import Isolation

PROFILE_NAMES = ("quick", "ci", "thorough")
EXIT_INTERRUPTED = 130  # as a shell reports a process stopped by SIGINT


class UsageError(Exception):
    """A bad command line (reported in one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="refgrad-conformance",
                     description="Check an autograd engine against PyTorch with generated "
                                 "programs; write report.json, report.md and reproducers.")
    parser.add_argument("--engine", default="refgrad", metavar="SPEC",
                        help="engine under test: refgrad, torch, pkg.module (torch-like) or "
                             "pkg.module:attr (an adapter object); default refgrad")
    parser.add_argument("--oracle", default="torch", metavar="SPEC",
                        help="the reference engine (default torch), or 'corpus': torch's "
                             "recorded traces, replayed without torch (no shrinking)")
    parser.add_argument("--corpus", type=Path, metavar="FILE",
                        help="the recorded corpus for --oracle corpus (default: the kit's)")
    parser.add_argument("--isolate", action="store_true",
                        help="run the engine in a worker process: a crash or hang becomes a "
                             "finding and the run goes on")
    parser.add_argument("--engine-python", metavar="PATH",
                        help="run the engine in a worker under this Python interpreter "
                             "(another venv; implies --isolate)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="time limit per program for the engine worker (default "
                             "30; implies --isolate)")
    parser.add_argument("--profile", default="ci", choices=PROFILE_NAMES,
                        help="how hard to search (default ci)")
    parser.add_argument("--max-examples", type=int, metavar="N",
                        help="programs per behaviour and search round (overrides the profile)")
    parser.add_argument("--seed", type=int, default=0, metavar="N",
                        help="hypothesis seed (same seed, same report apart from timing)")
    parser.add_argument("--report", type=Path, default=Path("reports"), metavar="DIR",
                        help="directory for report.json, report.md, reproducers/ "
                             "(default reports/)")
    parser.add_argument("-n", "--workers", type=int, default=1, metavar="N",
                        help="check behaviours in N worker processes (default 1: in process)")
    parser.add_argument("--only", action="append", choices=tuple(BEHAVIOURS), metavar="BEHAVIOUR",
                        help="check only this behaviour (repeatable): "
                             + ", ".join(tuple(BEHAVIOURS)))
    parser.add_argument("--baseline", type=Path, metavar="FILE",
                        help="known findings (JSON): exit 1 only on findings it does not list; "
                             "entries no program showed are warned about as stale")
    parser.add_argument("--write-baseline", type=Path, metavar="FILE",
                        help="write this run's findings to FILE as the baseline (keeping the "
                             "comments of entries already there) and exit 0")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except (UsageError, EngineSpecError) as error:
        print(f"refgrad-conformance: error: {error}", file=sys.stderr)
        return 2


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_examples is not None and args.max_examples < 1:
        raise UsageError("--max-examples must be at least 1")
    if args.workers < 1:
        raise UsageError("-n/--workers must be at least 1")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError("--timeout must be a positive number of seconds")
    replay = args.oracle == "corpus"
    if args.corpus is not None and not replay:
        raise UsageError("--corpus needs --oracle corpus")
    if replay and args.workers > 1:
        raise UsageError("-n/--workers does not apply to --oracle corpus")
    # Heavy imports (hypothesis, numpy, the engines) only once the command line is valid.
    from conformance.report import passed, verdict_line, write_report

    baseline = _read_baselines(args)
    with _progress_display(len(args.only or BEHAVIOURS)) as progress:
        # With --baseline, the search passes over the findings it lists (baseline.py).
        known = baseline.entries if baseline is not None and args.baseline else ()
        result = _replay(args, progress) if replay else _check(args, progress, known)
    verdict = _judge(args, baseline, result)
    files = write_report(result, args.report, verdict)
    for entry in verdict.stale if verdict else ():
        print(f"refgrad-conformance: warning: stale baseline entry (no program showed it): "
              f"{entry}", file=sys.stderr)
    print(f"{result.engine.name} against {result.oracle.name}: "
          f"{verdict_line(result, verdict)} ({result.programs} programs, "
          f"{result.seconds:.1f}s); report: {files.markdown}")
    if result.interrupted:
        return EXIT_INTERRUPTED
    return 0 if passed(result, verdict) else 1


def _read_baselines(args: argparse.Namespace) -> Baseline | None:
    """The baseline to judge by (--baseline), else the one --write-baseline will replace;
    read before the run, so that a bad file fails fast."""
    from conformance.baseline import BaselineError, load_baseline

    path = args.baseline or (args.write_baseline if args.write_baseline
                             and args.write_baseline.exists() else None)
    try:
        return None if path is None else load_baseline(path)
    except BaselineError as error:
        raise UsageError(str(error)) from None


def _judge(args: argparse.Namespace, baseline: Baseline | None,
           result: CheckResult) -> BaselineVerdict | None:
    """The run against the baseline; with --write-baseline, first write the new one."""
    from conformance.baseline import BaselineError, baseline_of, judge, write_baseline

    checked = [b.behaviour for b in result.behaviours]
    seen: Counter[KnownFinding] = Counter()
    if baseline is not None:  # (the search passes entries over only with --baseline)
        for behaviour in result.behaviours:
            seen.update({baseline.entries[i]: n for i, n in behaviour.known_seen})
    if args.write_baseline:
        baseline = baseline_of(result.findings, checked, baseline, seen)
        try:
            write_baseline(args.write_baseline, baseline)
        except BaselineError as error:
            raise UsageError(str(error)) from None
        return judge(baseline, result.findings, checked, str(args.write_baseline), seen)
    if baseline is None:
        return None
    return judge(baseline, result.findings, checked, str(args.baseline), seen)


def _check(args: argparse.Namespace, progress: Progress | None,
           known: Sequence[KnownFinding] = ()) -> CheckResult:
    """Search with hypothesis against a live oracle."""
    from conformance.check import CheckPlan, run_check
    from conformance.isolation import open_engines, shut_down
    from conformance.parallel import run_check_in_workers

    plan = CheckPlan.of(args.profile, args.seed, args.max_examples, args.only or (), known)
    isolation = _isolation(args)
    if args.workers > 1:
        return run_check_in_workers(args.engine, args.oracle, args.workers, plan, progress,
                                    isolation)
    engine, oracle = open_engines(args.engine, args.oracle, isolation)
    # The engines' modules (torch: a very large heap) never become garbage; keeping
    # them out of the collector's generations makes every later collection cheaper.
    gc.collect()
    gc.freeze()
    try:
        return run_check(engine, oracle, plan, engine_spec=args.engine,
                         oracle_spec=args.oracle, progress=progress)
    finally:
        shut_down(engine)


def _replay(args: argparse.Namespace, progress: Progress | None) -> CheckResult:
    """Replay the recorded corpus (no torch, no search)."""
    from conformance.corpus import default_corpus_path, read_corpus, replay_corpus, replay_plan
    from conformance.isolation import open_engine, shut_down

    corpus = read_corpus(args.corpus or default_corpus_path())
    plan = replay_plan(corpus, args.profile, args.max_examples, args.only or ())
    engine = open_engine(args.engine, _isolation(args))
    try:
        return replay_corpus(engine, corpus, plan, engine_spec=args.engine, progress=progress)
    finally:
        shut_down(engine)


def _isolation(args: argparse.Namespace) -> Isolation | None:
    if not (args.isolate or args.engine_python or args.timeout):
        return None
    from conformance.isolation import DEFAULT_TIMEOUT, Isolation

    return Isolation(python=args.engine_python or sys.executable,
                     timeout=args.timeout or DEFAULT_TIMEOUT)


@contextlib.contextmanager
def _progress_display(behaviours: int) -> Iterator[Progress | None]:
    """Progress per behaviour on stderr when it is a terminal (progress.py), else none."""
    if not sys.stderr.isatty():
        yield None
        return
    from conformance.progress import TerminalProgress

    with TerminalProgress(sys.stderr, behaviours) as display:
        yield display
