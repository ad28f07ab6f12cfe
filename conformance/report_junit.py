"""junit.xml: the run as JUnit test results, which CI systems display.

One `<testsuite>` per behaviour, named `conformance.<behaviour>`. In it, one test case
for the behaviour itself (it fails when the behaviour has new findings) and one per
finding: a `<failure>` whose message is the finding's headline and whose text is the
finding, its minimal program and its reproducer script. A finding the baseline knows
is `<skipped>` instead; baseline entries the search saw, and stale ones, are skipped test
cases of a "baseline" suite. Times are the only attributes that change between runs
with the same seed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from conformance.baseline import BaselineVerdict
from conformance.check import BehaviourResult, CheckResult
from conformance.compare import Finding
from conformance.report import baseline_status, finding_id, reproducer_path, where
from conformance.reproducer import reproducer_script

# Characters XML 1.0 cannot hold at all, even escaped.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def render_junit(result: CheckResult, verdict: BaselineVerdict | None = None) -> str:
    """The XML document (see the module docstring)."""
    root = ET.Element("testsuites", name="refgrad-conformance")
    numbered = list(enumerate(result.findings))
    for behaviour in result.behaviours:
        mine = [(n, f) for n, f in numbered if f.behaviour == behaviour.behaviour]
        _suite(root, result, behaviour, mine, verdict)
    if verdict is not None and (verdict.seen or verdict.stale):
        suite = ET.SubElement(root, "testsuite", name="conformance.baseline")
        listed = [(f"known: {entry}", f"known finding, seen in {count} programs")
                  for entry, count in verdict.seen]
        listed += [(f"stale: {entry}", f"listed in {verdict.file}, shown by no program")
                   for entry in verdict.stale]
        comments = [entry.comment for entry, _ in verdict.seen] + \
            [entry.comment for entry in verdict.stale]
        for (name, message), comment in zip(listed, comments, strict=True):
            case = ET.SubElement(suite, "testcase", classname="conformance.baseline",
                                 name=_text(name), time="0")
            ET.SubElement(case, "skipped",
                          message=_text(message + (f" ({comment})" if comment else "")))
    _count(root)
    for suite in root:
        _count(suite)
    root.set("time", f"{result.seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"


def _suite(root: ET.Element, result: CheckResult, behaviour: BehaviourResult,
           findings: list[tuple[int, Finding]], verdict: BaselineVerdict | None) -> None:
    name = behaviour.behaviour
    suite = ET.SubElement(root, "testsuite", name=f"conformance.{name}",
                          time=f"{behaviour.seconds:.3f}")
    properties = ET.SubElement(suite, "properties")
    for key, value in (("engine", f"{result.engine.name} {result.engine.version}"),
                       ("oracle", f"{result.oracle.name} {result.oracle.version}"),
                       ("profile", result.profile), ("seed", str(result.seed))):
        ET.SubElement(properties, "property", name=key, value=_text(value))
    case = ET.SubElement(suite, "testcase", classname=f"conformance.{name}", name=name,
                         time=f"{behaviour.seconds:.3f}")
    t = behaviour.total
    new = [finding_id(n) for n, _ in findings if baseline_status(n, verdict) != "known"]
    if new:
        ET.SubElement(case, "failure", type="findings", message=_text(
            f"{len(new)} new finding{'s' if len(new) != 1 else ''}: {', '.join(new)}"))
    known = sum(n for _, n in behaviour.known_seen)
    ET.SubElement(case, "system-out").text = _text(
        f"{t.programs} programs: {t.findings} findings, {t.not_applicable} not applicable, "
        f"{t.ambiguous} ambiguous, {t.rounding} rounding"
        + (f", {known} showing only known findings (baseline)" if known else ""))
    for number, finding in findings:
        _finding_case(suite, number, finding, result, verdict)


def _finding_case(suite: ET.Element, number: int, finding: Finding, result: CheckResult,
                  verdict: BaselineVerdict | None) -> None:
    headline = (f"{finding.check} of {finding.subject} differs at {where(finding)}: "
                f"expected {finding.expected}, got {finding.actual}")
    case = ET.SubElement(suite, "testcase", classname=f"conformance.{finding.behaviour}",
                         name=_text(f"{finding_id(number)}: {finding.check} of "
                                    f"{finding.subject} ({where(finding)})"), time="0")
    if baseline_status(number, verdict) == "known":
        ET.SubElement(case, "skipped", message=_text(f"known finding (baseline "
                                                     f"{verdict.file if verdict else ''})"))
        return
    failure = ET.SubElement(case, "failure", type=finding.check, message=_text(headline))
    failure.text = _text(
        f"{finding}\n\nReproducer ({reproducer_path(number)}; save it as a .py file and run "
        f"it):\n\n{reproducer_script(finding, result.engine.spec)}")


def _count(element: ET.Element) -> None:
    """tests / failures / errors / skipped attributes from the test cases below."""
    cases = list(element.iter("testcase"))
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    element.set("errors", "0")
    element.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
