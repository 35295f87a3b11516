"""Gate reports: JUnit XML, Markdown (+ $GITHUB_STEP_SUMMARY) and JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from caption_audit.cli import main
from tests.gate_runs import have_shared, real_run

pytestmark = pytest.mark.skipif(not have_shared(), reason="shared data (/work/shared/data) not available")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reports")
    summary = out / "step_summary.md"
    summary.write_text("# earlier step\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("GITHUB_STEP_SUMMARY", str(summary))
    try:
        code = main([
            "gate", str(real_run("bench_injected")), "--baseline", str(real_run("bench")),
            "--max-regression", "chair_i=0.02", "--max", "chair_i=0.2", "--severity", "warn",
            "--junit", str(out / "sub" / "gate.xml"), "--markdown", str(out / "gate.md"), "--json", str(out / "gate.json"),
        ])  # fmt: skip
    finally:
        mp.undo()
    return {"code": code, "dir": out, "summary": summary}


def test_all_warn_exit_0(reports):
    assert reports["code"] == 0


def test_junit_parses_one_testcase_per_check(reports):
    doc = json.loads((reports["dir"] / "gate.json").read_text())
    root = ET.parse(reports["dir"] / "sub" / "gate.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(doc["checks"]) == 4
    names = [c.get("name") for c in cases]
    assert names == [c["id"] for c in doc["checks"]]
    assert "chair_i[coco] vs baseline" in names
    assert not root.findall(".//failure")  # WARN is not a JUnit failure
    outs = [c.find("system-out").text for c in cases]
    assert any(o.startswith("WARN chair_i[coco] vs baseline") for o in outs)
    props = {p.get("name"): p.get("value") for p in cases[0].find("properties")}
    assert props["metric"] == "chair_i" and props["kind"] in ("absolute", "baseline")


def test_junit_failures_and_junitparser(tmp_path: Path):
    xml = tmp_path / "g.xml"
    code = main(["gate", str(real_run("opera_greedy")), "--max", "chair_i=0.1", "--min", "coverage=0.5", "--junit", str(xml)])
    assert code == 1
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = suite.find("./testcase/failure")
    assert failure is not None and "chair_i[llava15]" in failure.get("message")
    junitparser = pytest.importorskip("junitparser")  # optional second parser
    parsed = junitparser.JUnitXml.fromfile(str(xml))
    cases = [c for s in parsed for c in s]
    assert len(cases) == 2
    assert sum(1 for c in cases if not c.is_passed) == 1


def test_markdown_and_step_summary(reports):
    md = (reports["dir"] / "gate.md").read_text()
    assert md.startswith("## caption-audit gate")
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 4  # header + one row per check
    assert "| ⚠️ WARN | chair_i regression vs baseline | coco |" in md
    doc = json.loads((reports["dir"] / "gate.json").read_text())
    coco = next(c for c in doc["checks"] if c["kind"] == "baseline" and c["source"] == "coco")
    assert f"{coco['baseline_value']:.4g} → {coco['candidate_value']:.4g}" in md
    summary = reports["summary"].read_text()
    assert summary.startswith("# earlier step\n") and md in summary  # appended, not overwritten


def test_json_document(reports):
    doc = json.loads((reports["dir"] / "gate.json").read_text())
    assert doc["status"] == "pass" and doc["exit_code"] == 0
    assert doc["totals"] == {"checks": 4, "passed": 2, "warnings": 2, "failed": 0, "errors": 0}
    base = [c for c in doc["checks"] if c["kind"] == "baseline"]
    assert {c["source"] for c in base} == {"coco", "llava"}
    coco = next(c for c in base if c["source"] == "coco")
    assert coco["higher_is_better"] is False and coco["ci_low"] > coco["threshold"]
    assert coco["n_images"] == 80 and coco["confidence"] == 0.95
