"""report.html: the report as one self-contained page (inline CSS, no script, no external
asset), for a person to read.

Sections: the verdict; behaviours; programs per op and behaviour (a matrix); each
finding with expected and actual side by side, its minimal program (the differing step
marked) and its reproducer script; what was not checked; stale baseline entries; and
last, apart from the rest, the run and its timing (the only part that changes between
two runs with the same seed). Every piece of text from a run is escaped.
"""

from __future__ import annotations

from html import escape

from conformance.baseline import BaselineVerdict, KnownFinding
from conformance.behaviours import BEHAVIOURS
from conformance.check import CheckResult, Tally
from conformance.compare import Finding
from conformance.report import (
    baseline_status,
    conformant,
    finding_id,
    not_applicable_reasons,
    op_matrix,
    passed,
    programs_per_second,
    replay_note,
    reproducer_path,
    total_tally,
    undeclared_capabilities,
    verdict_line,
    where,
)
from conformance.reproducer import reproducer_script

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --line: #d1d9e0;
  --bad: #cf222e; --bad-bg: #ffebe9; --good: #1a7f37; --good-bg: #dafbe1; --warn: #9a6700;
  --warn-bg: #fff8c5; --mark: #fff1a8; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23; --line: #3d444d;
    --bad: #ff7b72; --bad-bg: #3c1618; --good: #3fb950; --good-bg: #12261e; --warn: #d29922;
    --warn-bg: #2e2410; --mark: #4d3f00; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
header, main { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h1 .vs { color: var(--muted); font-weight: 400; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 10px; }
h4 { font-size: 13px; margin: 14px 0 6px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { margin: 0; padding: 10px 12px; background: var(--panel); border: 1px solid var(--line);
  border-radius: 6px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.meta, .note { color: var(--muted); }
.badge { display: inline-block; padding: 2px 12px; border-radius: 999px; font-weight: 600; }
.badge.good { color: var(--good); background: var(--good-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
nav { margin: 14px 0 0; display: flex; gap: 18px; flex-wrap: wrap; }
nav a { color: var(--muted); }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { position: sticky; top: 0; background: var(--bg); }
td.bad { color: var(--bad); background: var(--bad-bg); font-weight: 600; }
td.good { color: var(--good); }
td.na { color: var(--muted); font-style: italic; }
td.none { color: var(--line); }
.matrix-wrap { overflow-x: auto; max-height: 70vh; border: 1px solid var(--line);
  border-radius: 6px; }
.matrix th { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left;
  padding: 8px 4px; font-weight: 500; }
.matrix th:first-child { writing-mode: horizontal-tb; transform: none; vertical-align: bottom; }
.matrix td { font-variant-numeric: tabular-nums; }
.finding { border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px;
  margin: 0 0 18px; }
.finding.known { opacity: .8; }
.tag { font-size: 12px; padding: 1px 8px; border-radius: 999px; margin-left: 8px;
  vertical-align: middle; }
.tag.new { color: var(--bad); background: var(--bad-bg); }
.tag.known { color: var(--muted); background: var(--panel); border: 1px solid var(--line); }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
@media (max-width: 760px) { .sides { grid-template-columns: 1fr; } }
.side.expected pre { border-left: 4px solid var(--good); }
.side.actual pre { border-left: 4px solid var(--bad); }
.program mark { background: var(--mark); color: inherit; display: inline-block;
  width: 100%; }
details { margin-top: 10px; }
summary { cursor: pointer; color: var(--muted); }
footer { max-width: 1180px; margin: 40px auto; padding: 0 24px; color: var(--muted); }
"""


def render_html(result: CheckResult, verdict: BaselineVerdict | None = None) -> str:
    """The whole page (see the module docstring)."""
    engine, oracle = result.engine, result.oracle
    title = f"Conformance: {engine.name} {engine.version} against {oracle.name} {oracle.version}"
    count = len(result.findings)
    ok = passed(result, verdict)
    badge = "good" if conformant(result, verdict) else ("warn" if ok else "bad")
    nav = [("behaviours", "Behaviours"), ("matrix", "Programs per op"),
           ("findings", f"Findings ({count})"), ("not-checked", "Not checked"),
           ("run", "Run and timing")]
    if verdict is not None:
        nav.insert(4, ("baseline", "Baseline"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(engine.name)} {_e(engine.version)} <span class=\"vs\">against</span> "
        f"{_e(oracle.name)} {_e(oracle.version)}</h1>",
        f'<p><span class="badge {badge}">{_e(verdict_line(result, verdict))}</span></p>',
        f'<p class="meta">{result.programs} programs · profile <code>{_e(result.profile)}'
        f"</code> · seed {result.seed} · up to {result.max_examples} programs per behaviour "
        f"and round · engine spec <code>{_e(engine.spec)}</code></p>",
        f'<p class="note">{_e(replay_note(result))}</p>' if replay_note(result) else "",
        "<nav>" + "".join(f'<a href="#{anchor}">{_e(text)}</a>' for anchor, text in nav)
        + "</nav>",
        "</header>",
        "<main>",
        _behaviours(result),
        _matrix(result),
        _findings(result, verdict),
        _not_checked(result),
        _baseline(verdict),
        _run(result),
        "</main>",
        '<footer>Written by refgrad-conformance. Every finding has a reproducer script in '
        "<code>reproducers/</code>; report.json has the same data for machines.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _behaviours(result: CheckResult) -> str:
    first_finding: dict[str, str] = {}
    for number, finding in enumerate(result.findings):
        first_finding.setdefault(finding.behaviour, finding_id(number))
    # Programs showing only baseline-known findings (a column only when there are any).
    known = {b.behaviour: sum(n for _, n in b.known_seen) for b in result.behaviours}
    with_known = any(known.values())
    rows = []
    for b in result.behaviours:
        t = b.total
        name = _e(b.behaviour)
        if b.behaviour in first_finding:  # the behaviour's first finding, a click away
            name = f'<a href="#{first_finding[b.behaviour]}">{name}</a>'
        rows.append(
            f"<tr><td>{name}<br><span class=\"note\">"
            f"{_e(BEHAVIOURS.get(b.behaviour, ''))}</span></td><td>{t.programs}</td>"
            f"{_count_cell(t.findings, bad=True)}"
            + (_count_cell(known[b.behaviour]) if with_known else "")
            + f"{_count_cell(t.not_applicable)}{_count_cell(t.ambiguous)}"
            f"{_count_cell(t.rounding)}</tr>")
    total = total_tally(result)
    rows.append(f"<tr><th>all</th><th>{total.programs}</th><th>{total.findings}</th>"
                + (f"<th>{sum(known.values())}</th>" if with_known else "")
                + f"<th>{total.not_applicable}</th><th>{total.ambiguous}</th>"
                f"<th>{total.rounding}</th></tr>")
    return (
        '<section id="behaviours"><h2>Behaviours</h2>'
        "<table><thead><tr><th>behaviour</th><th>programs</th><th>findings</th>"
        + ("<th>known (baseline)</th>" if with_known else "")
        + "<th>not applicable</th><th>ambiguous</th><th>rounding</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
        '<p class="note">A behaviour is checked by programs that exercise it; a bug is '
        "reported under the first behaviour that shows it. <em>Not applicable</em>: the "
        "program needs a capability the engine does not declare. <em>Ambiguous</em>: values "
        "were not compared past a discontinuity (relu at 0, ties, clamp bounds) that rounding "
        "could have moved. <em>Rounding</em>: differed slightly in float32 and agreed when "
        "re-run in float64 (not a finding)."
        + (" <em>Known</em>: programs showing only findings the baseline lists, passed over."
           if with_known else "") + "</p></section>")


def _count_cell(count: int, *, bad: bool = False) -> str:
    if bad:
        return f'<td class="bad">{count}</td>' if count else '<td class="good">0</td>'
    return f"<td>{count}</td>" if count else '<td class="none">0</td>'


def _matrix(result: CheckResult) -> str:
    header = "".join(f"<th>{_e(b.behaviour)}</th>" for b in result.behaviours)
    rows = []
    # Ops with findings first (most first), then the rest by name.
    matrix = sorted(op_matrix(result), key=lambda row: -sum(t.findings for t in row[1] if t))
    for op, tallies in matrix:
        cells = "".join(_matrix_cell(op, b.behaviour, t)
                        for b, t in zip(result.behaviours, tallies, strict=True))
        rows.append(f"<tr><td><code>{_e(op)}</code></td>{cells}</tr>")
    return (
        '<section id="matrix"><h2>Programs per op and behaviour</h2>'
        '<p class="note">Each cell counts the programs using the op that the engine could run; '
        "red cells have findings blamed on the op, and their ops come first (hover a cell "
        "for all its counts).</p>"
        '<div class="matrix-wrap"><table class="matrix"><thead><tr><th>op</th>'
        f"{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>")


def _matrix_cell(op: str, behaviour: str, tally: Tally | None) -> str:
    if tally is None:
        return '<td class="none">·</td>'
    title = (f"{op} in {behaviour}: {tally.programs} programs, {tally.findings} findings, "
             f"{tally.not_applicable} not applicable, {tally.ambiguous} ambiguous, "
             f"{tally.rounding} rounding")
    if tally.not_applicable == tally.programs:
        return f'<td class="na" title="{_e(title)}">n/a</td>'
    ran = tally.programs - tally.not_applicable
    if tally.findings:
        return f'<td class="bad" title="{_e(title)}">{ran} ✗{tally.findings}</td>'
    return f'<td title="{_e(title)}">{ran}</td>'


def _findings(result: CheckResult, verdict: BaselineVerdict | None) -> str:
    if not result.findings:
        return ('<section id="findings"><h2>Findings</h2><p>None: the engine agreed with '
                "the oracle on every program.</p></section>")
    articles = [_finding(number, finding, result, verdict)
                for number, finding in enumerate(result.findings)]
    return '<section id="findings"><h2>Findings</h2>' + "".join(articles) + "</section>"


def _finding(number: int, finding: Finding, result: CheckResult,
             verdict: BaselineVerdict | None) -> str:
    ident = finding_id(number)
    status = baseline_status(number, verdict)
    tag = "" if status is None else f'<span class="tag {status}">{status}</span>'
    detail = f'<p class="note">{_e(finding.detail)}</p>' if finding.detail else ""
    script = reproducer_script(finding, result.engine.spec)
    return (
        f'<article class="finding {status or ""}" id="{ident}">'
        f"<h3>{ident} · {_e(finding.behaviour)} · {_e(finding.check)} of "
        f"<code>{_e(finding.subject)}</code> ({_e(where(finding))}){tag}</h3>"
        f'<p class="note">at <code>{_e(finding.step)}</code></p>'
        '<div class="sides">'
        f'<div class="side expected"><h4>expected ({_e(result.oracle.name)}, the oracle)</h4>'
        f"<pre>{_e(finding.expected)}</pre></div>"
        f'<div class="side actual"><h4>actual ({_e(result.engine.name)})</h4>'
        f"<pre>{_e(finding.actual)}</pre></div>"
        "</div>"
        f"{detail}"
        "<h4>Minimal program</h4>"
        f'<pre class="program">{_program(finding)}</pre>'
        f"<details><summary>Reproducer script <code>{_e(reproducer_path(number))}</code> "
        "(runs the program on both engines and marks where they differ)</summary>"
        f"<pre>{_e(script)}</pre></details>"
        "</article>")


def _program(finding: Finding) -> str:
    """The program's lines (one per step), the step that differed marked."""
    lines = str(finding.program).splitlines()
    return "\n".join(f"<mark>{_e(line)}</mark>" if index == finding.step_index else _e(line)
                     for index, line in enumerate(lines))


def _not_checked(result: CheckResult) -> str:
    undeclared = undeclared_capabilities(result)
    reasons = not_applicable_reasons(result)
    if not undeclared and not reasons:
        body = "<p>Nothing: the engine declares every capability and ran every program.</p>"
    else:
        body = ""
        if undeclared:
            body += ("<p>The engine does not declare: "
                     + ", ".join(f"<code>{_e(c)}</code>" for c in undeclared)
                     + ". Programs needing them count as not applicable.</p>")
        if reasons:
            body += "<ul>" + "".join(f"<li>{_e(reason)}: {count}</li>"
                                     for reason, count in reasons) + "</ul>"
    return f'<section id="not-checked"><h2>Not checked</h2>{body}</section>'


def _baseline(verdict: BaselineVerdict | None) -> str:
    if verdict is None:
        return ""

    def links(numbers: tuple[int, ...]) -> str:
        return ", ".join(f'<a href="#{finding_id(i)}">{finding_id(i)}</a>'
                         for i in numbers) or "none"

    def entries(listed: list[tuple[KnownFinding, str]]) -> str:
        return "<ul>" + "".join(
            f"<li><code>{_e(entry)}</code>{_e(extra)}"
            + (f' <span class="note">— {_e(entry.comment)}</span>' if entry.comment else "")
            + "</li>" for entry, extra in listed) + "</ul>"

    seen = [(entry, f": {count} programs") for entry, count in verdict.seen]
    stale = [(entry, "") for entry in verdict.stale]
    return (
        f'<section id="baseline"><h2>Baseline</h2><p>Against <code>{_e(verdict.file)}</code>: '
        f"new findings {links(verdict.new)}; known {links(verdict.known)}.</p>"
        + ("<h4>Known findings the search saw and passed over</h4>" + entries(seen)
           if seen else "")
        + ("<h4>Stale entries: shown by no program of this run (fixed? then delete "
           "them; or not reached: rare ops need more programs)</h4>"
           + entries(stale) if stale else "<p>No stale entries.</p>")
        + "</section>")


def _run(result: CheckResult) -> str:
    rows = "".join(
        f"<tr><td>{_e(b.behaviour)}</td><td>{b.total.programs}</td><td>{b.seconds:.2f}</td>"
        f"<td>{_rate(b.total.programs, b.seconds)}</td></tr>" for b in result.behaviours)
    return (
        '<section id="run"><h2>Run and timing</h2>'
        f"<p>{result.programs} programs in {result.seconds:.1f} s "
        f"({_rate(result.programs, result.seconds)} programs/s, both engines and the "
        "comparison, shrinking included).</p>"
        "<table><thead><tr><th>behaviour</th><th>programs</th><th>seconds</th>"
        f"<th>programs/s</th></tr></thead><tbody>{rows}</tbody></table></section>")


def _rate(programs: int, seconds: float) -> str:
    rate = programs_per_second(programs, seconds)
    return "-" if rate is None else f"{rate:.0f}"
