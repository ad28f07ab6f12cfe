"""Findings to files: report.json (versioned), report.md (fits a CI step summary), and
one reproducer script per finding.

Everything but the "timing" section of report.json depends only on the engine, oracle,
profile, seed and example count, so two runs with the same seed give the same report
apart from timing. (HTML and junit renderers belong here too, reading the same data.)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from conformance.behaviours import BEHAVIOURS
from conformance.check import BehaviourResult, CheckResult, EngineInfo, Tally
from conformance.compare import Finding
from conformance.engines.protocol import ALL_CAPABILITIES
from conformance.program import SCHEMA_VERSION as PROGRAM_SCHEMA_VERSION
from conformance.reproducer import reproducer_script

REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ReportFiles:
    json: Path
    markdown: Path
    reproducers: tuple[Path, ...]


def finding_id(number: int) -> str:
    return f"F{number + 1}"


def report_data(result: CheckResult) -> dict[str, Any]:
    """The JSON document (see the module docstring)."""
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "kit": {"name": "refgrad-conformance", "program_schema_version": PROGRAM_SCHEMA_VERSION},
        "engine": _engine_data(result.engine),
        "oracle": _engine_data(result.oracle),
        "profile": result.profile,
        "seed": result.seed,
        "max_examples": result.max_examples,
        "conformant": not result.findings,
        "summary": asdict(_sum_tallies(b.total for b in result.behaviours)),
        "behaviours": {b.behaviour: _behaviour_data(b) for b in result.behaviours},
        "findings": [{"id": finding_id(i), **finding.to_data(),
                      "reproducer": f"reproducers/{finding_id(i)}.py"}
                     for i, finding in enumerate(result.findings)],
        "timing": {
            "seconds": round(result.seconds, 3),
            "programs_per_second": round(result.programs / result.seconds, 1)
            if result.seconds else None,
            "behaviours": {b.behaviour: round(b.seconds, 3) for b in result.behaviours},
        },
    }


def _engine_data(info: EngineInfo) -> dict[str, Any]:
    return {"spec": info.spec, "name": info.name, "version": info.version,
            "capabilities": list(info.capabilities)}


def _behaviour_data(result: BehaviourResult) -> dict[str, Any]:
    return {"description": BEHAVIOURS[result.behaviour], **asdict(result.total),
            "not_applicable_reasons": dict(result.not_applicable_reasons),
            "ops": {op: asdict(tally) for op, tally in result.per_op}}


def _sum_tallies(tallies: Iterable[Tally]) -> Tally:
    totals = Counter[str]()
    for tally in tallies:
        totals.update(asdict(tally))
    return Tally(**totals)


def write_report(result: CheckResult, directory: Path) -> ReportFiles:
    """Write report.json, report.md and reproducers/F<n>.py into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    reproducers = directory / "reproducers"
    for stale in reproducers.glob("F*.py"):  # from an earlier run into the same directory
        stale.unlink()
    paths = []
    for number, finding in enumerate(result.findings):
        reproducers.mkdir(exist_ok=True)
        path = reproducers / f"{finding_id(number)}.py"
        path.write_text(reproducer_script(finding, result.engine.spec))
        paths.append(path)
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(report_data(result), indent=2) + "\n")
    markdown_path = directory / "report.md"
    markdown_path.write_text(render_markdown(result))
    return ReportFiles(json_path, markdown_path, tuple(paths))


# --------------------------------------------------------------------------- markdown


def render_markdown(result: CheckResult) -> str:
    """A summary for humans (and `$GITHUB_STEP_SUMMARY`)."""
    engine, oracle = result.engine, result.oracle
    findings = result.findings
    verdict = "conformant" if not findings else \
        f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
    lines = [
        f"# Conformance: {engine.name} {engine.version} against {oracle.name} {oracle.version}",
        "",
        f"**{verdict}** ({result.programs} programs; profile `{result.profile}`, "
        f"seed {result.seed}, up to {result.max_examples} programs per behaviour and round)",
        "",
        "| behaviour | programs | findings | not applicable | ambiguous |",
        "|---|---:|---:|---:|---:|",
    ]
    for b in result.behaviours:
        t = b.total
        lines.append(f"| {b.behaviour} | {t.programs} | {_mark(t.findings)} | "
                     f"{t.not_applicable or ''} | {t.ambiguous or ''} |")
    lines += ["", *_op_matrix(result), *_gaps(result), *_findings_section(findings)]
    return "\n".join(lines).rstrip() + "\n"


def _mark(count: int) -> str:
    return f"❌ {count}" if count else "✅"


def _op_matrix(result: CheckResult) -> list[str]:
    behaviours = [b.behaviour for b in result.behaviours]
    per_op: dict[str, dict[str, Tally]] = {}
    for b in result.behaviours:
        for op, tally in b.per_op:
            per_op.setdefault(op, {})[b.behaviour] = tally
    lines = ["## Programs per op and behaviour", "",
             "Each cell: programs using the op (❌ n: findings blamed on it; "
             "n/a: not applicable on the engine).", "",
             "| op | " + " | ".join(behaviours) + " |",
             "|---|" + "---:|" * len(behaviours)]
    for op in sorted(per_op):
        cells = [_cell(per_op[op].get(b)) for b in behaviours]
        lines.append(f"| `{op}` | " + " | ".join(cells) + " |")
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
    undeclared = sorted(ALL_CAPABILITIES - set(result.engine.capabilities))
    if undeclared:
        lines += ["## Not checked", "",
                  f"The engine does not declare: {', '.join(f'`{c}`' for c in undeclared)}.",
                  "Programs needing them count as not applicable; checks of them are skipped.",
                  ""]
    reasons: dict[str, int] = {}
    for b in result.behaviours:
        for reason, count in b.not_applicable_reasons:
            reasons[reason] = reasons.get(reason, 0) + count
    if reasons:
        lines += ["### Not applicable programs", ""]
        lines += [f"- {reason}: {count}" for reason, count in sorted(reasons.items())]
        lines.append("")
    return lines


def _code(text: str) -> str:
    # Double backticks let torch messages that contain backticks stay inline code.
    return f"`` {text} ``"


def _findings_section(findings: tuple[Finding, ...]) -> list[str]:
    if not findings:
        return []
    lines = ["## Findings", ""]
    for number, finding in enumerate(findings):
        where = "end of program" if finding.step_index >= len(finding.program.steps) \
            else f"step {finding.step_index}"
        lines += [
            f"### {finding_id(number)} · {finding.behaviour} · {finding.check} of "
            f"`{finding.subject}` ({where})", "",
            f"- expected (oracle): {_code(finding.expected)}",
            f"- actual (engine): {_code(finding.actual)}",
        ]
        if finding.detail:
            lines.append(f"- {finding.detail}")
        lines += ["", "```python", str(finding.program), "```", "",
                  f"Reproducer: `reproducers/{finding_id(number)}.py`", ""]
    return lines
