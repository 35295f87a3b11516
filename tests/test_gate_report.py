"""Gate reports: JUnit XML, Markdown (+ $GITHUB_STEP_SUMMARY) and JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from caption_audit.cli import main
from tests.demo_run import demo_run
from tests.gate_runs import have_shared, real_run


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict:
    if not have_shared():
        pytest.skip("shared data (/work/shared/data) not available")
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
    if not have_shared():
        pytest.skip("shared data (/work/shared/data) not available")
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


# ----------------------------------------------------------------------------- ERROR status (issues #11, #14)


@pytest.fixture(scope="module")
def undefined_run(tmp_path_factory) -> Path:
    """The demo run with chair_i of llava undefined (as when no mention was judged)."""
    import shutil

    root = tmp_path_factory.mktemp("undefined")
    run = root / "run"
    shutil.copytree(demo_run(root / "demo"), run)
    s = json.loads((run / "summary.json").read_text())
    s["sources"]["llava"]["metrics"]["chair_i"] = {"value": None, "status": "no_mentions"}
    (run / "summary.json").write_text(json.dumps(s))
    return run


def test_undefined_metric_is_error_in_every_output(undefined_run: Path, tmp_path: Path, capsys):
    code = main(["gate", str(undefined_run), "--max", "chair_i=0.5", "--junit", str(tmp_path / "g.xml"),
                 "--markdown", str(tmp_path / "g.md"), "--json", str(tmp_path / "g.json")])
    out = capsys.readouterr().out
    assert code == 2
    assert "ERROR chair_i[llava] = n/a" in out and "metric undefined (no_mentions)" in out
    assert out.strip().splitlines()[-1].startswith("gate: ERROR (3 checks: 2 passed, 0 warnings, 0 failed, 1 errors")
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["status"] == "error" and doc["exit_code"] == 2 and doc["totals"]["errors"] == 1
    assert [c["status"] for c in doc["checks"] if c["source"] == "llava"] == ["ERROR"]
    suite = ET.parse(tmp_path / "g.xml").getroot().find("testsuite")
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    assert len(suite.findall("testcase/error")) == 1 and not suite.findall("testcase/failure")
    assert "| ⛔ ERROR | chair_i | llava |" in (tmp_path / "g.md").read_text()


def test_warn_severity_does_not_hide_an_error(undefined_run: Path, capsys):
    assert main(["gate", str(undefined_run), "--max", "chair_i=0.5", "--severity", "warn"]) == 2


def test_baseline_with_no_source_in_common_is_exit_2(tmp_path: Path, capsys):
    import shutil

    run = demo_run(tmp_path / "demo")
    other = tmp_path / "other"
    shutil.copytree(run, other)
    s = json.loads((other / "summary.json").read_text())
    s["sources"] = {f"renamed_{k}": v for k, v in s["sources"].items()}
    (other / "summary.json").write_text(json.dumps(s))
    code = main(["gate", str(run), "--baseline", str(other)])
    err = capsys.readouterr().err
    assert code == 2 and "no source in common with the baseline run" in err and "PASS" not in err


@pytest.mark.parametrize("flag", ["--json", "--markdown", "--junit", "step_summary"])
def test_report_path_that_is_a_folder_is_exit_2(tmp_path: Path, monkeypatch, capsys, flag):
    run = demo_run(tmp_path / "demo")
    args = ["gate", str(run), "--max", "chair_i=0.9"]
    if flag == "step_summary":
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))
    else:
        monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
        args += [flag, str(tmp_path)]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and err == f"caption-audit: error: {tmp_path}: is a folder; give a file name for the report\n"


def test_markdown_escapes_run_strings():
    from caption_audit.gate.checks import CheckResult
    from caption_audit.gate.report import to_markdown

    r = CheckResult(id="x", kind="absolute", metric="chair_i", source="[click](http://evil.example)|x",
                    status="FAIL", severity="fail", value=0.5, threshold=0.1, op="<=",
                    message="<img src=http://127.0.0.1:9/t.png>")
    md = to_markdown([r], 1, run="runs/`new`")
    import re

    live = re.sub(r"\\.", "", md)  # what is left after backslash escapes
    assert "click](" not in live and "<img" not in live and "`" not in live
    assert not re.search(r"https?:/|www\.", md.replace("\\", ""))  # autolinks broken by a word joiner
    assert "\\[click\\]\\(http\u2060\\://evil.example\\)\\|x" in md
