"""Findings to files: report.json (versioned), report.md (fits a CI step summary),
report.html (one self-contained page, report_html.py), junit.xml (report_junit.py) and
one reproducer script per finding.

Everything but the timing (report.json's "timing", report.html's "Run and timing"
section, junit's `time` attributes) depends only on the engine, oracle, profile, seed,
example count and baseline, so two runs with the same seed give the same reports apart
from timing.

report.json, schema version 3 (2 had no "interrupted"; 1 no "rounding" counts, "passed"
or "baseline"):
`summary` and each of `behaviours` count programs by outcome (programs, not_applicable,
ambiguous, findings, rounding); `findings` lists each finding with its id (F1, F2, ...),
minimal program, reproducer path and, when a baseline was given, "known" or "new";
`baseline` is null or lists the file, the known and new finding ids, the entries the
search passed over ("seen", each with its count of programs) and the stale entries;
`passed` is what the exit status says (no findings, or none new); `interrupted` is true
when the run was stopped (Ctrl-C) and `behaviours` holds only the finished ones.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from conformance.baseline import BaselineVerdict
from conformance.behaviours import BEHAVIOURS
from conformance.check import BehaviourResult, CheckResult, EngineInfo, Tally
from conformance.compare import Finding
from conformance.corpus import REPLAYED_ORACLE
from conformance.engines.protocol import ALL_CAPABILITIES
from conformance.program import SCHEMA_VERSION as PROGRAM_SCHEMA_VERSION
from conformance.reproducer import reproducer_script

REPORT_SCHEMA_VERSION = 3


@dataclass(frozen=True)
class ReportFiles:
    json: Path
    markdown: Path
    html: Path
    junit: Path
    reproducers: tuple[Path, ...]


def finding_id(number: int) -> str:
    return f"F{number + 1}"


def reproducer_path(number: int) -> str:
    return f"reproducers/{finding_id(number)}.py"


def passed(result: CheckResult, verdict: BaselineVerdict | None) -> bool:
    """What the exit status says: no findings, or (with a baseline) none new; and every
    behaviour checked."""
    if result.interrupted:
        return False
    return verdict.passed if verdict is not None else not result.findings


def baseline_status(number: int, verdict: BaselineVerdict | None) -> str | None:
    """"known" or "new" with a baseline, else None."""
    if verdict is None:
        return None
    return "known" if number in verdict.known else "new"


def conformant(result: CheckResult, verdict: BaselineVerdict | None) -> bool:
    """No findings, and no known ones seen either, over every behaviour planned."""
    return (not result.interrupted and not result.findings
            and not (verdict is not None and verdict.seen))


def verdict_line(result: CheckResult, verdict: BaselineVerdict | None) -> str:
    """"conformant", "3 findings" or, with a baseline, "1 new finding, 2 known"; prefixed
    "interrupted after 4 behaviours: " when the run was stopped."""
    prefix = ""
    if result.interrupted:
        done = len(result.behaviours)
        prefix = f"interrupted after {done} behaviour{'s' if done != 1 else ''}: "
    count = len(result.findings)
    if not result.findings and not (verdict is not None and verdict.seen):
        return prefix + "conformant"
    if verdict is None:
        return prefix + f"{count} finding{'s' if count != 1 else ''}"
    new = len(verdict.new)
    return prefix + (f"{new} new finding{'s' if new != 1 else ''}, "
                     f"{len(verdict.known) + len(verdict.seen)} known")


# --------------------------------------------------------------------------- JSON


def report_data(result: CheckResult, verdict: BaselineVerdict | None = None) -> dict[str, Any]:
    """The JSON document (see the module docstring)."""
    findings = []
    for number, finding in enumerate(result.findings):
        entry = {"id": finding_id(number), **finding.to_data(),
                 "reproducer": reproducer_path(number)}
        status = baseline_status(number, verdict)
        if status is not None:
            entry["baseline"] = status
        findings.append(entry)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "kit": {"name": "refgrad-conformance", "program_schema_version": PROGRAM_SCHEMA_VERSION},
        "engine": _engine_data(result.engine),
        "oracle": _engine_data(result.oracle),
        "profile": result.profile,
        "seed": result.seed,
        "max_examples": result.max_examples,
        "conformant": conformant(result, verdict),
        "interrupted": result.interrupted,
        "passed": passed(result, verdict),
        "summary": asdict(total_tally(result)),
        "behaviours": {b.behaviour: _behaviour_data(b) for b in result.behaviours},
        "findings": findings,
        "baseline": None if verdict is None else {
            "file": verdict.file,
            "known": [finding_id(i) for i in verdict.known],
            "new": [finding_id(i) for i in verdict.new],
            "seen": [{**entry.to_data(), "programs": count} for entry, count in verdict.seen],
            "stale": [entry.to_data() for entry in verdict.stale],
        },
        "timing": {
            "seconds": round(result.seconds, 3),
            "programs_per_second": programs_per_second(result.programs, result.seconds),
            "behaviours": {b.behaviour: round(b.seconds, 3) for b in result.behaviours},
        },
    }


def programs_per_second(programs: int, seconds: float) -> float | None:
    return round(programs / seconds, 1) if seconds else None


def _engine_data(info: EngineInfo) -> dict[str, Any]:
    return {"spec": info.spec, "name": info.name, "version": info.version,
            "capabilities": list(info.capabilities)}


def _behaviour_data(result: BehaviourResult) -> dict[str, Any]:
    return {"description": BEHAVIOURS.get(result.behaviour, ""), **asdict(result.total),
            "not_applicable_reasons": dict(result.not_applicable_reasons),
            "ops": {op: asdict(tally) for op, tally in result.per_op}}


def total_tally(result: CheckResult) -> Tally:
    return _sum_tallies(b.total for b in result.behaviours)


def _sum_tallies(tallies: Iterable[Tally]) -> Tally:
    totals = Counter[str]()
    for tally in tallies:
        totals.update(asdict(tally))
    return Tally(**totals)


# --------------------------------------------------------------------------- shared views


def op_matrix(result: CheckResult) -> list[tuple[str, list[Tally | None]]]:
    """Rows of (op, one tally per behaviour of the result, None where the op was unused)."""
    per_op: dict[str, dict[str, Tally]] = {}
    for b in result.behaviours:
        for op, tally in b.per_op:
            per_op.setdefault(op, {})[b.behaviour] = tally
    return [(op, [per_op[op].get(b.behaviour) for b in result.behaviours])
            for op in sorted(per_op)]


def undeclared_capabilities(result: CheckResult) -> list[str]:
    return sorted(ALL_CAPABILITIES - set(result.engine.capabilities))


def not_applicable_reasons(result: CheckResult) -> list[tuple[str, int]]:
    reasons: Counter[str] = Counter()
    for b in result.behaviours:
        for reason, count in b.not_applicable_reasons:
            reasons[reason] += count
    return sorted(reasons.items())


def where(finding: Finding) -> str:
    return "end of program" if finding.step_index >= len(finding.program.steps) \
        else f"step {finding.step_index}"


# --------------------------------------------------------------------------- files


def write_report(result: CheckResult, directory: Path,
                 verdict: BaselineVerdict | None = None) -> ReportFiles:
    """Write report.json, report.md, report.html, junit.xml and reproducers/F<n>.py."""
    from conformance.report_html import render_html  # (these import this module)
    from conformance.report_junit import render_junit

    directory.mkdir(parents=True, exist_ok=True)
    reproducers = directory / "reproducers"
    for stale in reproducers.glob("F*.py"):  # from an earlier run into the same directory
        stale.unlink()
    paths = []
    for number, finding in enumerate(result.findings):
        reproducers.mkdir(exist_ok=True)
        path = directory / reproducer_path(number)
        path.write_text(reproducer_script(finding, result.engine.spec), encoding="utf-8")
        paths.append(path)
    files = ReportFiles(directory / "report.json", directory / "report.md",
                        directory / "report.html", directory / "junit.xml", tuple(paths))
    files.json.write_text(json.dumps(report_data(result, verdict), indent=2) + "\n",
                          encoding="utf-8")
    files.markdown.write_text(render_markdown(result, verdict), encoding="utf-8")
    files.html.write_text(render_html(result, verdict), encoding="utf-8")
    files.junit.write_text(render_junit(result, verdict), encoding="utf-8")
    return files


# --------------------------------------------------------------------------- markdown


def render_markdown(result: CheckResult, verdict: BaselineVerdict | None = None) -> str:
    """A summary for humans (and `$GITHUB_STEP_SUMMARY`); report.html has more."""
    engine, oracle = result.engine, result.oracle
    lines = [
        f"# Conformance: {engine.name} {engine.version} against {oracle.name} {oracle.version}",
        "",
        f"**{verdict_line(result, verdict)}** ({result.programs} programs; profile "
        f"`{result.profile}`, seed {result.seed}, up to {result.max_examples} programs per "
        "behaviour and round)",
        "",
        *([replay_note(result), ""] if replay_note(result) else []),
        "| behaviour | programs | findings | known | not applicable | ambiguous | rounding |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for b in result.behaviours:
        t = b.total
        known = sum(n for _, n in b.known_seen)
        lines.append(f"| {b.behaviour} | {t.programs} | {_mark(t.findings)} | {known or ''} | "
                     f"{t.not_applicable or ''} | {t.ambiguous or ''} | {t.rounding or ''} |")
    lines += ["", "*Known*: programs showing only findings the baseline lists; *ambiguous*: "
              "values not compared past a discontinuity hit by rounding; *rounding*: differed "
              "in float32 only, agreed in float64 (neither is a finding).", "",
              *_op_matrix(result), *_gaps(result), *_findings_section(result, verdict),
              *_stale_section(verdict)]
    return "\n".join(lines).rstrip() + "\n"


def replay_note(result: CheckResult) -> str:
    """What a reader must know when the oracle was a recorded corpus, else ""."""
    if result.oracle.spec != REPLAYED_ORACLE:
        return ""
    return (f"The oracle is {result.oracle.name}'s recorded traces (`--oracle corpus`): "
            "recorded programs are replayed as they are, so findings are not shrunk; each "
            "carries the whole recorded program that showed it.")


def _mark(count: int) -> str:
    return f"❌ {count}" if count else "✅"


def _op_matrix(result: CheckResult) -> list[str]:
    behaviours = [b.behaviour for b in result.behaviours]
    lines = ["## Programs per op and behaviour", "",
             "Each cell: programs using the op (❌ n: findings blamed on it; "
             "n/a: not applicable on the engine).", "",
             "| op | " + " | ".join(behaviours) + " |",
             "|---|" + "---:|" * len(behaviours)]
    for op, tallies in op_matrix(result):
        lines.append(f"| `{op}` | " + " | ".join(_cell(t) for t in tallies) + " |")
    return [*lines, ""]


def _cell(tally: Tally | None) -> str:
    if tally is None:
        return ""
    if tally.not_applicable == tally.programs:
        return "n/a"
    text = str(tally.programs - tally.not_applicable)
    return f"{text} ❌ {tally.findings}" if tally.findings else text


def _gaps(result: CheckResult) -> list[str]:
    """What was not checked: undeclared capabilities and not-applicable programs."""
    lines = []
    undeclared = undeclared_capabilities(result)
    if undeclared:
        lines += ["## Not checked", "",
                  f"The engine does not declare: {', '.join(f'`{c}`' for c in undeclared)}.",
                  "Programs needing them count as not applicable; checks of them are skipped.",
                  ""]
    reasons = not_applicable_reasons(result)
    if reasons:
        lines += ["### Not applicable programs", ""]
        lines += [f"- {reason}: {count}" for reason, count in reasons]
        lines.append("")
    return lines


def _code(text: str) -> str:
    # Double backticks let torch messages that contain backticks stay inline code.
    return f"`` {text} ``"


def _findings_section(result: CheckResult, verdict: BaselineVerdict | None) -> list[str]:
    if not result.findings:
        return []
    lines = ["## Findings", ""]
    for number, finding in enumerate(result.findings):
        status = baseline_status(number, verdict)
        tag = "" if status is None else f" · {status}"
        lines += [
            f"### {finding_id(number)} · {finding.behaviour} · {finding.check} of "
            f"`{finding.subject}` ({where(finding)}){tag}", "",
            f"- expected (oracle): {_code(finding.expected)}",
            f"- actual (engine): {_code(finding.actual)}",
        ]
        if finding.detail:
            lines.append(f"- {finding.detail}")
        lines += ["", "```python", str(finding.program), "```", "",
                  f"Reproducer: `{reproducer_path(number)}`", ""]
    return lines


def _stale_section(verdict: BaselineVerdict | None) -> list[str]:
    if verdict is None or not (verdict.stale or verdict.seen):
        return []
    lines = ["## Baseline", ""]
    if verdict.seen:
        lines += [f"Known findings (`{verdict.file}`) the search saw and passed over:", ""]
        lines += [f"- {_code(str(entry))}: {count} programs" for entry, count in verdict.seen]
        lines.append("")
    if verdict.stale:
        lines += ["### Stale baseline entries", "",
                  f"Listed in `{verdict.file}` but shown by no program of this run: fixed "
                  "(then delete them), or not reached (rare ops need more programs):", ""]
        for entry in verdict.stale:
            comment = f" — {entry.comment}" if entry.comment else ""
            lines.append(f"- {_code(str(entry))}{comment}")
        lines.append("")
    return lines
