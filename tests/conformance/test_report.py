"""The reports: report.json (versioned), report.md, report.html (self-contained, escaped),
junit.xml (valid, one test case per behaviour and per finding); all the same for the same
seed apart from timing."""

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.baseline import Baseline, KnownFinding, judge
from conformance.check import BehaviourResult, CheckPlan, CheckResult, EngineInfo, Tally, run_check
from conformance.compare import Finding
from conformance.engines import load_engine
from conformance.program import ApplyOp, Backward, MakeLeaf, Program, Ref, Values
from conformance.report import REPORT_SCHEMA_VERSION, write_report
from conformance.report_html import render_html
from conformance.report_junit import render_junit
from tests.conformance.faulty_engines import WrongGradFnName

TORCH = load_engine("torch")


@pytest.fixture(scope="module")
def faulty_result() -> CheckResult:
    plan = CheckPlan.of("quick", max_examples=40, only=("values", "metadata"))
    return run_check(WrongGradFnName(), TORCH, plan, engine_spec="faulty")


def test_report_files_describe_engines_counts_and_findings(tmp_path: Path,
                                                           faulty_result: CheckResult) -> None:
    files = write_report(faulty_result, tmp_path)
    report = json.loads(files.json.read_text())
    assert report["schema_version"] == REPORT_SCHEMA_VERSION == 3
    assert report["engine"]["spec"] == "faulty"
    assert report["oracle"]["name"] == "torch"
    assert report["behaviours"]["values"]["findings"] == 0
    assert report["behaviours"]["metadata"]["findings"] >= 1
    assert report["behaviours"]["values"]["programs"] == 40
    assert report["behaviours"]["values"]["rounding"] == 0
    assert report["behaviours"]["values"]["ops"]["add"]["programs"] > 0
    assert (report["conformant"], report["passed"], report["baseline"]) == (False, False, None)
    finding = report["findings"][0]
    assert finding["check"] == "grad_fn" and finding["expected"] == "MulBackward0"
    assert "baseline" not in finding
    assert set(report["timing"]) == {"seconds", "programs_per_second", "behaviours"}
    markdown = files.markdown.read_text()
    metadata_row = next(line for line in markdown.splitlines() if line.startswith("| metadata |"))
    assert "❌" in metadata_row
    assert "### F1 · metadata · grad_fn of" in markdown
    assert [p.name for p in files.reproducers] == [f"F{i + 1}.py"
                                                   for i in range(len(report["findings"]))]
    html = files.html.read_text()
    assert 'id="F1"' in html and "MulBackward0" in html and "def program(torch, out):" in html
    assert ET.fromstring(files.junit.read_text().encode()).tag == "testsuites"


def test_the_same_run_gives_the_same_reports_apart_from_timing(tmp_path: Path) -> None:
    plan = CheckPlan.of("quick", seed_value=5, max_examples=30, only=("values", "metadata"))
    texts = []
    for run in ("first", "second"):
        result = run_check(WrongGradFnName(), TORCH, plan, engine_spec="faulty")
        files = write_report(result, tmp_path / run)
        report = json.loads(files.json.read_text())
        del report["timing"]
        html = re.sub(r'<section id="run">.*?</section>', "", files.html.read_text(),
                      flags=re.DOTALL)
        junit = re.sub(r' time="[0-9.]+"', "", files.junit.read_text())
        texts.append((report, files.markdown.read_text(), html, junit,
                      [p.read_text() for p in files.reproducers]))
    assert texts[0] == texts[1]


# --------------------------------------------------------------------------- hostile text

HOSTILE = "<script>alert(\"x\")</script> & 'q' ]]> \x00 \x1b[31m </pre><img src=x onerror=y>"


def hostile_result() -> CheckResult:
    program = Program((
        MakeLeaf("t0", Values((2,), (1.0, 2.0))),
        ApplyOp(("t1",), HOSTILE, (Ref("t0"),)),
        Backward("t1"),
    ))
    finding = Finding("gradients", "value", 2, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE,
                      program)
    behaviour = BehaviourResult("gradients", Tally(3, 1, 0, 1, 1),
                                ((HOSTILE, Tally(3, 1, 0, 1, 1)),), (finding,),
                                ((HOSTILE, 1),), 1.0)
    info = EngineInfo(HOSTILE, HOSTILE, HOSTILE, ())
    return CheckResult(info, info, "ci", 0, 10, (behaviour,), 2.0)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.extend(attrs)


def test_html_escapes_everything_and_needs_nothing_else() -> None:
    result = hostile_result()
    verdict = judge(Baseline((KnownFinding("gradients", "value", "op", (), HOSTILE, HOSTILE),)),
                    result.findings, ["gradients"], HOSTILE)
    html = render_html(result, verdict)
    parser = _Tags()
    parser.feed(html)
    assert parser.tags <= {"html", "head", "meta", "title", "style", "body", "header", "h1",
                           "h2", "h3", "h4", "span", "p", "code", "nav", "a", "main",
                           "section", "table", "thead", "tbody", "tr", "th", "td", "br", "em",
                           "article", "div", "pre", "mark", "details", "summary", "ul", "li",
                           "footer"}
    names = {name for name, _ in parser.attributes}
    assert names <= {"lang", "charset", "name", "content", "class", "href", "id", "title"}
    assert all(value.startswith("#") for name, value in parser.attributes
               if name == "href" and value is not None)
    for external in ("http:", "https:", "url(", "@import", "<script", "<img"):
        assert external not in html.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count("<pre") == html.count("</pre>")


def test_junit_holds_hostile_text_as_valid_xml() -> None:
    root = ET.fromstring(render_junit(hostile_result()).encode())
    failure = root.find("testsuite/testcase/failure[@type='value']")
    assert failure is not None
    assert "<script>" in failure.get("message", "")  # escaped in the file, intact when read
    assert "\\x00" in failure.get("message", "")  # XML cannot hold NUL at all


# --------------------------------------------------------------------------- junit structure


def test_junit_has_a_case_per_behaviour_and_per_finding(faulty_result: CheckResult) -> None:
    root = ET.fromstring(render_junit(faulty_result).encode())
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["conformance.values", "conformance.metadata"]
    findings = len(faulty_result.findings)
    for element in (root, *suites):  # counts agree with the cases below them
        cases = element.findall(".//testcase")
        assert element.get("tests") == str(len(cases))
        assert element.get("failures") == str(len(element.findall(".//failure")))
        assert element.get("skipped") == str(len(element.findall(".//skipped")))
        assert element.get("errors") == "0"
        assert float(element.get("time", "x")) >= 0
    assert root.get("tests") == str(2 + findings)
    values, metadata = suites
    assert [c.get("name") for c in values.findall("testcase")] == ["values"]
    assert values.find("testcase/failure") is None
    assert "40 programs" in (values.findtext("testcase/system-out") or "")
    behaviour_case, *finding_cases = metadata.findall("testcase")
    assert behaviour_case.get("name") == "metadata"
    assert behaviour_case.find("failure") is not None
    assert len(finding_cases) == findings
    for case in finding_cases:
        assert case.get("classname") == "conformance.metadata"
        assert (case.get("name") or "").startswith("F")
        failure = case.find("failure")
        assert failure is not None and failure.get("type") == "grad_fn"
        assert "def program(torch, out):" in (failure.text or "")  # the reproducer
    properties = {p.get("name"): p.get("value") for p in metadata.iter("property")}
    assert properties["oracle"].startswith("torch ")


def test_reports_mark_known_findings_and_list_stale_entries(tmp_path: Path,
                                                            faulty_result: CheckResult) -> None:
    known = KnownFinding.of(faulty_result.findings[0])
    stale = KnownFinding("values", "value", "op", ("tanh",), "a tensor's value", "fixed in #3")
    verdict = judge(Baseline((known, stale)), faulty_result.findings,
                    ["values", "metadata"], "known.json")
    assert verdict.stale == (stale,)
    files = write_report(faulty_result, tmp_path, verdict)
    report = json.loads(files.json.read_text())
    assert report["findings"][0]["baseline"] == "known"
    assert report["baseline"]["file"] == "known.json"
    assert report["baseline"]["stale"] == [stale.to_data()]
    assert report["passed"] is not bool(verdict.new)
    assert "## Stale baseline entries" in files.markdown.read_text()
    assert "fixed in #3" in files.html.read_text()
    root = ET.fromstring(files.junit.read_text().encode())
    assert root.find("testsuite/testcase/skipped") is not None  # the known finding
    stale_suite = root.find("testsuite[@name='conformance.baseline']")
    assert stale_suite is not None and stale_suite.find("testcase/skipped") is not None
