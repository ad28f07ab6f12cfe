"""The driver: for each behaviour, let hypothesis search for programs where the engine
and the oracle differ, shrink each discrepancy to a minimal program, and count what was
checked.

Finding several distinct bugs: a search round stops at the first *new* discrepancy
(the test raises, so hypothesis shrinks it); the minimal finding joins the known ones,
and the next round (another seed) ignores discrepancies a known finding explains (same
check at the same kind of step and op, in a program exercising the known program's ops).
Rounds stop at the profile's cap, when a search finds nothing new, or when shrinking
lands on an already-known finding. Behaviours are searched independently (in one process
or several, see parallel.py) and their findings deduplicated afterwards (`CheckPlan`).

Shrinking: hypothesis shrinks the choices a finding's program was drawn from, then
reduce.py the program itself (deleting steps hypothesis cannot: see there).

Counting: programs are counted while hypothesis generates, not while it shrinks.
"""

from __future__ import annotations

import functools
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis.errors import Flaky
from hypothesis.strategies import SearchStrategy

from conformance.baseline import KnownFinding, listed
from conformance.behaviours import BEHAVIOURS
from conformance.compare import Comparison, Finding, compare_traces
from conformance.profiles import PROFILES
from conformance.program import Program
from conformance.progress import ProgramCounts
from conformance.reduce import reduce_program
from conformance.run import AnyEngine, Trace, run_pair
from conformance.strategies import programs, seed_only


@dataclass(frozen=True)
class EngineInfo:
    spec: str
    name: str
    version: str
    capabilities: tuple[str, ...]

    @staticmethod
    def of(spec: str, engine: AnyEngine) -> EngineInfo:
        return EngineInfo(spec, engine.name, engine.version, tuple(sorted(engine.capabilities)))


@dataclass(frozen=True)
class Tally:
    """Programs checked, by outcome (for one behaviour, or one behaviour and op)."""

    programs: int = 0
    not_applicable: int = 0
    ambiguous: int = 0
    findings: int = 0
    rounding: int = 0  # differed in float32 only (compare.py: no finding)


@dataclass(frozen=True)
class BehaviourResult:
    behaviour: str
    total: Tally
    per_op: tuple[tuple[str, Tally], ...]
    findings: tuple[Finding, ...]
    not_applicable_reasons: tuple[tuple[str, int], ...]
    seconds: float
    # (index of a baseline entry, programs passed over for showing only what it lists)
    known_seen: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class CheckResult:
    engine: EngineInfo
    oracle: EngineInfo
    profile: str
    seed: int
    max_examples: int
    behaviours: tuple[BehaviourResult, ...]
    seconds: float = 0.0
    # Stopped (Ctrl-C) before every planned behaviour was checked: `behaviours` holds the
    # finished ones, so a long run interrupted half-way still reports what it found.
    interrupted: bool = False

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for b in self.behaviours for f in b.findings)

    @property
    def programs(self) -> int:
        return sum(b.total.programs for b in self.behaviours)


def check_program(program: Program, engine: AnyEngine, oracle: AnyEngine,
                  behaviour: str = "unspecified") -> Comparison:
    """Run a program on both engines and compare (slight value differences are re-run in
    float64, see compare.py)."""
    def run_both(program: Program) -> tuple[Trace, Trace]:
        return run_pair(program, engine, oracle)

    return compare_traces(program, *run_both(program), behaviour=behaviour, rerun=run_both)


class _NewFinding(Exception):
    """Raised inside the hypothesis test so that hypothesis shrinks the program."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        super().__init__(findings[0].check)
        self.findings = tuple(findings)


@dataclass
class _Counts:
    total: Counter[str] = field(default_factory=Counter)
    per_op: dict[str, Counter[str]] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    known: Counter[int] = field(default_factory=Counter)  # per baseline entry
    on_program: Callable[[int], None] | None = None  # told the count after each program

    def add(self, program: Program, comparison: Comparison) -> None:
        kinds = ["programs"]
        if comparison.not_applicable:
            kinds.append("not_applicable")
            self.reasons[comparison.not_applicable] += 1
        if comparison.ambiguous:
            kinds.append("ambiguous")
        if comparison.rounding:
            kinds.append("rounding")
        for op in program.ops() or ("(no op)",):
            self.per_op.setdefault(op, Counter()).update(kinds)
        self.total.update(kinds)
        if self.on_program:
            self.on_program(self.total["programs"])


def _tally(counter: Counter[str], findings: int = 0) -> Tally:
    return Tally(counter["programs"], counter["not_applicable"], counter["ambiguous"], findings,
                 counter["rounding"])


class _SearchRound:
    """One hypothesis search: counts programs while generating, raises on a new finding."""

    def __init__(self, behaviour: str, engine: AnyEngine, oracle: AnyEngine,
                 known: Sequence[Finding], counts: _Counts,
                 baseline: Sequence[KnownFinding] = ()) -> None:
        self.behaviour, self.engine, self.oracle = behaviour, engine, oracle
        self.known, self.counts, self.baseline = known, counts, baseline
        self.first: tuple[Finding, ...] = ()  # set when hypothesis stops generating

    def probe(self, program: Program) -> None:
        comparison, new, entries = self._compare(program)
        if not self.first:
            self.counts.add(program, comparison)
            self.counts.known.update({i for indices in entries.values() for i in indices})
        if new:
            self.first = self.first or tuple(new)
            raise _NewFinding(new)

    def _compare(self, program: Program
                 ) -> tuple[Comparison, list[Finding], dict[Finding, list[int]]]:
        """The comparison, its new findings, and the baseline entries listing the others."""
        comparison = check_program(program, self.engine, self.oracle, self.behaviour)
        new = [f for f in comparison.findings
               if not any(f.explained_by(k) for k in self.known)]
        entries = {f: listed(self.baseline, f) for f in new} if self.baseline else {}
        new = [f for f in new if not entries.get(f)]  # (a baseline's are known: go on)
        return comparison, new, entries

    def reduced(self, findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
        """`findings` (of one program) from the smallest program reduce.py derives from
        theirs that still shows the first one's bug (same signature, still new)."""
        target = findings[0].signature
        best = findings

        def shows(program: Program) -> bool:
            nonlocal best
            new = self._compare(program)[1]
            same = [f for f in new if f.signature == target]
            if not same:
                return False
            best = (same[0], *(f for f in new if f is not same[0]))
            return True

        reduce_program(findings[0].program, shows)
        return best

    def run(self, strategy: SearchStrategy[Program], seed_value: int,
            max_examples: int) -> tuple[Finding, ...]:
        """The minimal new findings, or () if none turned up."""
        search = _search(strategy, seed_value, max_examples, self.probe)
        try:
            search()
        except _NewFinding as minimal:
            return self.reduced(minimal.findings)
        except Flaky:  # the engine did not reproduce its own discrepancy: report the first
            return self.first
        return ()


def _search(strategy: SearchStrategy[Program], seed_value: int, max_examples: int,
            probe: Callable[[Program], None]) -> Callable[[], None]:
    """A hypothesis search calling `probe` with each program (shrinking what it raises),
    drawing the same programs for the same seed in any process (`seed_only`)."""
    test: Callable[[], None] = settings(
        max_examples=max_examples, deadline=None, database=None,
        report_multiple_bugs=False, verbosity=Verbosity.quiet, print_blob=False,
        phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
    )(seed(seed_value)(given(strategy)(probe)))

    def search() -> None:
        with seed_only():
            test()

    return search


def searched_programs(behaviour: str, *, seed_value: int = 0,
                      max_examples: int = 100) -> list[Program]:
    """The programs `check_behaviour` checks, in order, when it finds nothing: its first
    round's search, which draws the same programs whatever the engines as long as none
    shows a finding. Checking several engines on them with `check_programs` (and one
    oracle run) is checking each with `check_behaviour` for such a behaviour, without
    drawing the programs again."""
    drawn: list[Program] = []

    def probe(program: Program) -> None:  # (hypothesis wants a function, not a method)
        drawn.append(program)

    _search(programs(behaviour), _stable_seed(seed_value, behaviour, 0), max_examples,
            probe)()
    return drawn


def check_behaviour(behaviour: str, engine: AnyEngine, oracle: AnyEngine, *,
                    seed_value: int = 0, max_examples: int = 100, max_findings: int = 3,
                    known: Sequence[Finding] = (), baseline: Sequence[KnownFinding] = (),
                    on_program: Callable[[int], None] | None = None) -> BehaviourResult:
    """Search one behaviour for findings (see the module docstring), passing over those
    a baseline lists (baseline.py); `on_program` is told the count of programs checked
    after each one (for progress displays)."""
    started = time.perf_counter()
    counts = _Counts(on_program=on_program)
    known_findings = list(known)
    found: list[Finding] = []
    strategy = programs(behaviour)
    for round_number in range(max_findings):
        new = _SearchRound(behaviour, engine, oracle, known_findings, counts, baseline).run(
            strategy, _stable_seed(seed_value, behaviour, round_number), max_examples)
        if not new:
            break  # a full search found nothing new
        if any(f.explained_by(k) for f in new for k in known_findings):
            break  # shrinking led back to a known finding: further rounds would too
        found.extend(new)
        known_findings.extend(new)
    return _behaviour_result(behaviour, counts, found, time.perf_counter() - started)


def check_programs(behaviour: str, programs: Iterable[Program], engine: AnyEngine,
                   oracle: AnyEngine, *, max_findings: int = 3) -> BehaviourResult:
    """Check fixed programs as they are (a recorded corpus): no search, no shrinking, so
    a finding carries the whole program that showed it. Every program is counted; the
    first `max_findings` distinct findings are kept."""
    started = time.perf_counter()
    counts = _Counts()
    found: list[Finding] = []
    for program in programs:
        comparison = check_program(program, engine, oracle, behaviour)
        counts.add(program, comparison)
        for finding in comparison.findings:
            if len(found) < max_findings and not any(finding.explained_by(k) for k in found):
                found.append(finding)
    return _behaviour_result(behaviour, counts, found, time.perf_counter() - started)


def _behaviour_result(behaviour: str, counts: _Counts, found: Sequence[Finding],
                      seconds: float) -> BehaviourResult:
    per_op_findings = Counter(op for f in found for op in _finding_ops(f))
    return BehaviourResult(
        behaviour, _tally(counts.total, len(found)),
        tuple((op, _tally(c, per_op_findings[op])) for op, c in sorted(counts.per_op.items())),
        tuple(found), tuple(sorted(counts.reasons.items())), seconds,
        tuple(sorted(counts.known.items())))


def _finding_ops(finding: Finding) -> tuple[str, ...]:
    """The ops a finding is blamed on: the op of its step, else its (minimal) program's."""
    op = finding.signature[2]
    return (op,) if op else finding.ops


def _stable_seed(seed_value: int, behaviour: str, round_number: int) -> int:
    # hash() of a str changes between processes; crc32 does not.
    return zlib.crc32(f"{seed_value}:{behaviour}:{round_number}".encode())


Progress = Callable[[str], None]


def run_check(engine: AnyEngine, oracle: AnyEngine, plan: CheckPlan, *,
              engine_spec: str = "", oracle_spec: str = "",
              progress: Progress | None = None) -> CheckResult:
    """Check an engine against the oracle over the plan's behaviours, in this process."""
    started = time.perf_counter()
    results = []
    try:
        for behaviour in plan.behaviours:
            if progress:
                progress(f"{behaviour}: checking up to {plan.max_examples} programs")
            on_program = functools.partial(progress.programs, behaviour) \
                if isinstance(progress, ProgramCounts) else None
            results.append(plan.check(behaviour, engine, oracle, on_program))
            if progress:
                progress(describe_done(results[-1]))
    except KeyboardInterrupt:
        interrupted = True  # report the finished behaviours (the current one is lost)
    else:
        interrupted = False
    return plan.result(EngineInfo.of(engine_spec or engine.name, engine),
                       EngineInfo.of(oracle_spec or oracle.name, oracle), results,
                       time.perf_counter() - started, interrupted=interrupted)


def describe_done(result: BehaviourResult) -> str:
    return (f"{result.behaviour}: {result.total.programs} programs, "
            f"{len(result.findings)} findings ({result.seconds:.1f}s)")


@dataclass(frozen=True)
class CheckPlan:
    """What to check, shared by the sequential and the parallel driver.

    Behaviours are searched independently (so the result does not depend on how they are
    spread over processes); afterwards a finding already explained by one of an earlier
    behaviour is dropped, so the report lists each bug once, under its first behaviour.
    """

    profile: str
    seed_value: int
    max_examples: int
    max_findings: int
    behaviours: tuple[str, ...]
    baseline: tuple[KnownFinding, ...] = ()  # known findings the search passes over

    @staticmethod
    def of(profile: str = "ci", seed_value: int = 0, max_examples: int | None = None,
           only: Sequence[str] = (), baseline: Sequence[KnownFinding] = ()) -> CheckPlan:
        chosen = PROFILES[profile]
        return CheckPlan(profile, seed_value,
                         max_examples if max_examples is not None else chosen.max_examples,
                         chosen.max_findings, tuple(only) or tuple(BEHAVIOURS),
                         tuple(baseline))

    def check(self, behaviour: str, engine: AnyEngine, oracle: AnyEngine,
              on_program: Callable[[int], None] | None = None) -> BehaviourResult:
        return check_behaviour(behaviour, engine, oracle, seed_value=self.seed_value,
                               max_examples=self.max_examples, max_findings=self.max_findings,
                               baseline=self.baseline, on_program=on_program)

    def result(self, engine: EngineInfo, oracle: EngineInfo,
               results: Sequence[BehaviourResult], seconds: float, *,
               interrupted: bool = False) -> CheckResult:
        kept: list[Finding] = []
        deduplicated = []
        for result in results:
            new = tuple(f for f in result.findings if not any(f.explained_by(k) for k in kept))
            kept.extend(new)
            deduplicated.append(_with_findings(result, new))
        return CheckResult(engine, oracle, self.profile, self.seed_value, self.max_examples,
                           tuple(deduplicated), seconds, interrupted)


def _with_findings(result: BehaviourResult, findings: tuple[Finding, ...]) -> BehaviourResult:
    """`result` keeping only `findings` (and counting them again)."""
    if findings == result.findings:
        return result
    per_op = Counter(op for f in findings for op in _finding_ops(f))
    return replace(result, findings=findings,
                   total=replace(result.total, findings=len(findings)),
                   per_op=tuple((op, replace(t, findings=per_op[op])) for op, t in result.per_op))
