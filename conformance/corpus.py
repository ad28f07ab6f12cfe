"""An oracle that needs no torch: programs with the oracle's traces, recorded once.

`record_corpus` samples programs for each behaviour from the kit's strategies (a fixed
seed), runs them on the live oracle and keeps its traces; `write_corpus` and
`read_corpus` store that as gzipped JSON lines; `replay_corpus` checks an engine against
it, the usual run and compare stages with the recorded traces standing in for the
oracle (`RecordedTraces`). `refgrad-conformance --oracle corpus` does the last, in an
environment without torch; `nox -s corpus` (``python -m conformance.corpus``) records.

Nothing is shrunk against a corpus: there is no oracle to ask about smaller programs.
A finding carries the whole recorded program that showed it (its reproducer replays
that program). Programs are stored smallest first, so the first program showing a bug
is the smallest of the corpus that does. Besides the programs of each behaviour, the
corpus holds the traces of their float64 versions, which the comparison asks for to
tell float32 rounding from bugs (compare.py); any other program asked of the recorded
oracle comes back not applicable.

File format (`CORPUS_VERSION`): line 1 is a header (the oracle, its version and
capabilities, the generating seed, profile and programs per behaviour, the versions of
the kit's formats and of hypothesis); every further line is one program:
``{"behaviour": name or null, "program": {...}, "trace": "{...}"}`` (program as in
program.py; trace as in wire.py, held as JSON text so that reading a corpus parses only
its programs, and a trace when the replay asks for it; a null behaviour marks a float64
version, kept for lookups only). The gzip stream has no timestamp: the same recording
gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from conformance.behaviours import BEHAVIOURS
from conformance.check import (
    CheckPlan,
    CheckResult,
    EngineInfo,
    Progress,
    check_programs,
    describe_done,
)
from conformance.compare import in_float64
from conformance.engines import EngineSpecError
from conformance.profiles import PROFILES
from conformance.program import SCHEMA_VERSION as PROGRAM_SCHEMA_VERSION
from conformance.program import Program
from conformance.run import AnyEngine, StepOutcome, Trace, run_program, run_programs
from conformance.wire import WIRE_VERSION, WireError, decode_trace, encode_trace

CORPUS_VERSION = 1
DATA = Path(__file__).resolve().parent / "data"
NOT_RECORDED = "program not in the recorded corpus"
REPLAYED_ORACLE = "corpus"  # the oracle spec of a replay (`--oracle corpus`)


class CorpusError(EngineSpecError):
    """A corpus file that cannot serve as the oracle (one line saying why)."""


@dataclass(frozen=True, eq=False)
class CorpusEntry:
    """A recorded program and the oracle's trace of it, kept as their JSON data and
    decoded when asked for (a replay of a few behaviours needs few of them)."""

    behaviour: str | None  # None: the float64 version of a program, kept for lookups
    program: dict[str, Any]  # Program.to_data()
    trace: str  # wire.encode_trace(), as JSON text

    @staticmethod
    def of(behaviour: str | None, program: Program, trace: Trace) -> CorpusEntry:
        return CorpusEntry(behaviour, program.to_data(), _compact(encode_trace(trace)))

    @property
    def key(self) -> str:
        return _compact(self.program)


@dataclass(frozen=True)
class Corpus:
    """Programs and the oracle's traces of them, with how they were made."""

    oracle: EngineInfo
    seed: int
    profile: str
    programs_per_behaviour: int
    entries: tuple[CorpusEntry, ...]
    generator: tuple[tuple[str, str], ...] = ()  # versions of the tools that recorded it

    def __repr__(self) -> str:
        return (f"Corpus({self.oracle.name} {self.oracle.version}, seed {self.seed}, "
                f"profile {self.profile!r}, {len(self.entries)} entries)")

    def programs(self, behaviour: str) -> tuple[Program, ...]:
        """The behaviour's programs, smallest first."""
        try:
            return tuple(Program.from_data(e.program) for e in self.entries
                         if e.behaviour == behaviour)
        except (ValueError, KeyError, TypeError) as error:
            raise CorpusError(f"corpus program unreadable ({type(error).__name__}: {error}): "
                              "record the corpus again (nox -s corpus)") from None

    def oracle_runner(self) -> RecordedTraces:
        """The recorded oracle: a program's trace if recorded, else not applicable."""
        capabilities = frozenset(self.oracle.capabilities)
        recorded = {e.key: e.trace for e in self.entries}

        def lookup(program: Program) -> Trace | None:
            text = recorded.get(_compact(program.to_data()))
            if text is None:
                return None
            try:
                return decode_trace(json.loads(text), self.oracle.name, capabilities)
            except (ValueError, WireError) as error:
                raise CorpusError(f"corpus trace unreadable: {error}") from None

        return RecordedTraces(self.oracle.name, self.oracle.version, capabilities, lookup)


def _compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


class RecordedTraces:
    """A `ProgramRunner` answering from traces recorded earlier (`lookup`). A program
    without one is run on `fallback` if there is one, else comes back not applicable
    (`NOT_RECORDED`)."""

    def __init__(self, name: str, version: str, capabilities: frozenset[str],
                 lookup: Callable[[Program], Trace | None],
                 fallback: AnyEngine | None = None) -> None:
        self.name, self.version, self.capabilities = name, version, capabilities
        self.lookup, self.fallback = lookup, fallback

    def run_programs(self, programs: Sequence[Program]) -> list[Trace]:
        return [self._trace(program) for program in programs]

    def _trace(self, program: Program) -> Trace:
        trace = self.lookup(program)
        if trace is not None:
            return trace
        if self.fallback is not None:
            return run_program(program, self.fallback)
        missing = StepOutcome("not_applicable", detail=NOT_RECORDED)
        return Trace(self.name, self.capabilities, (missing,), missing)


# --------------------------------------------------------------------------- recording


def sample_programs(behaviour: str, seed_value: int, count: int) -> list[Program]:
    """Up to `count` distinct programs of a behaviour, the same for the same seed,
    smallest first."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

    from conformance.strategies import programs, seed_only

    drawn: dict[Program, None] = {}  # a dict keeps the first-drawn order of equal sizes

    @settings(max_examples=count, phases=(Phase.generate,), database=None, deadline=None,
              verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck))
    @seed(zlib.crc32(f"corpus:{seed_value}:{behaviour}".encode()))
    @given(programs(behaviour))
    def draw(program: Program) -> None:
        drawn[program] = None

    with seed_only():
        draw()
    return sorted(drawn, key=lambda program: len(program.steps))


def record_corpus(oracle: AnyEngine, oracle_info: EngineInfo, *, seed_value: int = 0,
                  profile: str = "ci", programs_per_behaviour: int | None = None,
                  behaviours: Sequence[str] = (), progress: Progress | None = None) -> Corpus:
    """Sample programs per behaviour and record the oracle's traces of them (and of their
    float64 versions)."""
    import hypothesis
    import numpy

    count = programs_per_behaviour or PROFILES[profile].max_examples
    entries: list[CorpusEntry] = []
    recorded: set[Program] = set()
    for behaviour in behaviours or tuple(BEHAVIOURS):
        chosen = sample_programs(behaviour, seed_value, count)
        entries.extend(CorpusEntry.of(behaviour, program, trace)
                       for program, trace in zip(chosen, run_programs(chosen, oracle),
                                                 strict=True))
        recorded.update(chosen)
        wide = [w for w in dict.fromkeys(map(in_float64, chosen))
                if w is not None and w not in recorded]
        entries.extend(CorpusEntry.of(None, program, trace)
                       for program, trace in zip(wide, run_programs(wide, oracle), strict=True))
        recorded.update(wide)
        if progress:
            progress(f"{behaviour}: {len(chosen)} programs, {len(wide)} float64 versions")
    generator = (("hypothesis", hypothesis.__version__), ("numpy", numpy.__version__),
                 ("python", platform.python_version()))
    return Corpus(oracle_info, seed_value, profile, count, tuple(entries), generator)


# --------------------------------------------------------------------------- files


def write_corpus(corpus: Corpus, path: Path) -> None:
    header = {
        "corpus_version": CORPUS_VERSION, "wire_version": WIRE_VERSION,
        "program_schema_version": PROGRAM_SCHEMA_VERSION,
        "oracle": {"spec": corpus.oracle.spec, "name": corpus.oracle.name,
                   "version": corpus.oracle.version,
                   "capabilities": list(corpus.oracle.capabilities)},
        "seed": corpus.seed, "profile": corpus.profile,
        "programs_per_behaviour": corpus.programs_per_behaviour,
        "generator": dict(corpus.generator),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                               filename="") as out:
        out.write(_line(header))
        for entry in corpus.entries:
            out.write(_line({"behaviour": entry.behaviour, "program": entry.program,
                             "trace": entry.trace}))


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def read_corpus(path: Path) -> Corpus:
    """The corpus in a file; `CorpusError` (one line) if it is not a usable one."""
    try:
        with gzip.open(path, "rb") as lines:
            header = json.loads(lines.readline())
            _check_versions(header, path)
            described = header["oracle"]
            oracle = EngineInfo(str(described["spec"]), str(described["name"]),
                                str(described["version"]), tuple(described["capabilities"]))
            entries = tuple(_entry(json.loads(line)) for line in lines)
    except FileNotFoundError:
        raise CorpusError(f"no corpus file {str(path)!r}") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise CorpusError(f"corpus {str(path)!r} is unreadable: {type(error).__name__}: "
                          f"{error}") from None
    return Corpus(oracle, int(header["seed"]), str(header["profile"]),
                  int(header["programs_per_behaviour"]), entries,
                  tuple((str(k), str(v)) for k, v in header.get("generator", {}).items()))


def _check_versions(header: dict[str, Any], path: Path) -> None:
    expected = {"corpus_version": CORPUS_VERSION, "wire_version": WIRE_VERSION,
                "program_schema_version": PROGRAM_SCHEMA_VERSION}
    for key, version in expected.items():
        if header.get(key) != version:
            raise CorpusError(f"corpus {str(path)!r} has {key} {header.get(key)!r}, this kit "
                              f"reads {version}: record it again (nox -s corpus)")


def _entry(data: dict[str, Any]) -> CorpusEntry:
    behaviour, program, trace = data["behaviour"], data["program"], data["trace"]
    if not (isinstance(program, dict) and isinstance(trace, str)):
        raise TypeError("an entry's program must be an object, its trace a string")
    return CorpusEntry(None if behaviour is None else str(behaviour), program, trace)


def default_corpus_path() -> Path:
    """The corpus shipped with the kit (conformance/data/corpus-*.jsonl.gz)."""
    found = sorted(DATA.glob("corpus-*.jsonl.gz"))
    if len(found) != 1:
        raise CorpusError(f"expected one corpus in {DATA}, found {len(found)}: pass --corpus "
                          "FILE, or record one with nox -s corpus")
    return found[0]


def corpus_file_name(oracle: EngineInfo) -> str:
    """corpus-torch-2.13.0.jsonl.gz (a local version suffix such as +cpu dropped)."""
    return f"corpus-{oracle.name}-{oracle.version.split('+')[0]}.jsonl.gz"


# --------------------------------------------------------------------------- replaying


def replay_corpus(engine: AnyEngine, corpus: Corpus, plan: CheckPlan, *,
                  engine_spec: str = "", progress: Progress | None = None) -> CheckResult:
    """Check an engine against a corpus: each behaviour's recorded programs (up to
    `plan.max_examples`, smallest first) run on the engine in one batch, then compared
    with the recorded traces. The plan's profile and seed are not used (the corpus has
    its own); its `max_findings` caps distinct findings per behaviour."""
    started = time.perf_counter()
    oracle = corpus.oracle_runner()
    results = []
    for behaviour in plan.behaviours:
        chosen = corpus.programs(behaviour)[: plan.max_examples]
        if progress:
            progress(f"{behaviour}: replaying {len(chosen)} recorded programs")
        traces = dict(zip(chosen, run_programs(chosen, engine), strict=True))  # one batch
        ran = RecordedTraces(engine.name, engine.version, frozenset(engine.capabilities),
                             traces.get, fallback=engine)
        results.append(check_programs(behaviour, chosen, ran, oracle,
                                      max_findings=plan.max_findings))
        if progress:
            progress(describe_done(results[-1]))
    return plan.result(EngineInfo.of(engine_spec or engine.name, engine),
                       replace(corpus.oracle, spec=REPLAYED_ORACLE), results,
                       time.perf_counter() - started)


def replay_plan(corpus: Corpus, profile: str = "ci", max_examples: int | None = None,
                only: Sequence[str] = ()) -> CheckPlan:
    """The plan of a replay: the corpus's seed, "corpus" as its profile, up to
    `max_examples` programs per behaviour, the profile's cap on findings."""
    return CheckPlan("corpus", corpus.seed, max_examples or corpus.programs_per_behaviour,
                     PROFILES[profile].max_findings, tuple(only) or tuple(BEHAVIOURS))


# --------------------------------------------------------------------------- command


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance.corpus``: record a corpus from the live oracle."""
    parser = argparse.ArgumentParser(prog="python -m conformance.corpus",
                                     description="Record programs with the oracle's traces.")
    parser.add_argument("--oracle", default="torch", metavar="SPEC")
    parser.add_argument("--profile", default="ci", choices=tuple(PROFILES),
                        help="programs per behaviour: the profile's max_examples")
    parser.add_argument("--programs", type=int, metavar="N",
                        help="programs per behaviour (overrides the profile)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="default: conformance/data/corpus-<oracle>-<version>.jsonl.gz")
    args = parser.parse_args(argv)
    from conformance.engines import load_engine

    try:
        oracle = load_engine(args.oracle)
    except EngineSpecError as error:
        print(f"conformance.corpus: error: {error}", file=sys.stderr)
        return 2
    info = EngineInfo.of(args.oracle, oracle)
    corpus = record_corpus(oracle, info, seed_value=args.seed, profile=args.profile,
                           programs_per_behaviour=args.programs,
                           progress=lambda message: print(f"  {message}", file=sys.stderr))
    path = args.out or DATA / corpus_file_name(info)
    write_corpus(corpus, path)
    print(f"{corpus!r} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
