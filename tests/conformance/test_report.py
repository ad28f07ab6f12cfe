"""report.json (versioned, deterministic apart from timing) and report.md."""

import json
from pathlib import Path

from conformance.check import CheckPlan, run_check
from conformance.engines import load_engine
from conformance.report import REPORT_SCHEMA_VERSION, write_report
from tests.conformance.faulty_engines import WrongGradFnName

TORCH = load_engine("torch")


def test_report_files_describe_engines_counts_and_findings(tmp_path: Path) -> None:
    plan = CheckPlan.of("quick", max_examples=40, only=("values", "metadata"))
    result = run_check(WrongGradFnName(), TORCH, plan, engine_spec="faulty")
    files = write_report(result, tmp_path)
    report = json.loads(files.json.read_text())
    assert report["schema_version"] == REPORT_SCHEMA_VERSION
    assert report["engine"]["spec"] == "faulty"
    assert report["oracle"]["name"] == "torch"
    assert report["behaviours"]["values"]["findings"] == 0
    assert report["behaviours"]["metadata"]["findings"] >= 1
    assert report["behaviours"]["values"]["programs"] == 40
    assert report["behaviours"]["values"]["ops"]["add"]["programs"] > 0
    finding = report["findings"][0]
    assert finding["check"] == "grad_fn" and finding["expected"] == "MulBackward0"
    assert set(report["timing"]) == {"seconds", "programs_per_second", "behaviours"}
    markdown = files.markdown.read_text()
    metadata_row = next(line for line in markdown.splitlines() if line.startswith("| metadata |"))
    assert "❌" in metadata_row
    assert "### F1 · metadata · grad_fn of" in markdown
    assert [p.name for p in files.reproducers] == [f"F{i + 1}.py"
                                                   for i in range(len(report["findings"]))]
