"""Gate absolute checks and exit codes on real runs (LLaVA-Bench, OPERA)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from caption_audit.cli import main
from caption_audit.gate.checks import run_absolute_checks
from caption_audit.gate.config import parse_config
from caption_audit.gate.runio import open_run
from tests.gate_runs import have_shared, real_run

pytestmark = pytest.mark.skipif(not have_shared(), reason="shared data (/work/shared/data) not available")


def _gate(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["gate", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_llava_bench_gate_passes(capsys):
    run = real_run("bench")
    s = json.loads((run / "summary.json").read_text())
    chair_llava = s["sources"]["llava"]["metrics"]["chair_i"]["value"]
    code, out, _ = _gate(capsys, str(run), "--max", f"chair_i={chair_llava + 0.05}", "--min", "coverage=0.3")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 5  # 2 metrics x 2 sources + totals
    assert all(line.startswith("PASS") for line in lines[:-1])
    assert f"chair_i[llava] = {chair_llava:.4g}" in out and "95% CI [" in out
    assert lines[-1].startswith("gate: PASS (4 checks: 4 passed, 0 warnings, 0 failed; exit 0)")


def test_opera_gate_fails(capsys):
    """LLaVA-1.5 greedy captions hallucinate ~13% of COCO mentions (OPERA's own CHAIR-i is ~12-15%)."""
    code, out, _ = _gate(capsys, str(real_run("opera_greedy")), "--max", "chair_i=0.10", "--max", "chair_s=0.9")
    assert code == 1
    assert "FAIL chair_i[llava15] = 0.1" in out
    assert "PASS chair_s[llava15]" in out
    assert "1 failed" in out.splitlines()[-1]


def test_warn_severity_does_not_fail(capsys):
    code, out, _ = _gate(capsys, str(real_run("opera_greedy")), "--max", "chair_i=0.10", "--severity", "warn")
    assert code == 0
    assert out.startswith("WARN chair_i[llava15]")
    assert "1 warnings" in out


def test_mixed_severities_from_config(tmp_path: Path, capsys):
    cfg = tmp_path / "g.yaml"
    cfg.write_text(
        "checks:\n"
        "  - {metric: chair_s, source: llava, max: 0.10, severity: warn}\n"
        "  - {metric: chair_s, source: coco, max: 0.20}\n"
        "  - {metric: coverage, source: overall, min: 0.3, max: 0.99}\n"
    )
    code, out, _ = _gate(capsys, str(real_run("bench")), "--config", str(cfg))
    assert code == 0, out
    assert "WARN chair_s[llava]" in out and "PASS chair_s[coco]" in out
    assert "coverage[overall]" in out and "n=431 captions" in out  # pooled over both sources


def test_overall_is_pooled_over_sources():
    run = open_run(real_run("bench"))
    cfg = parse_config({"checks": [{"metric": "chair_i", "source": ["coco", "llava", "overall"], "max": 1}]})
    res = {r.source: r for r in run_absolute_checks(cfg, run)}
    s = run.summary["sources"]
    num = sum(s[x]["metrics"]["chair_i"]["numerator"] for x in ("coco", "llava"))
    den = sum(s[x]["metrics"]["chair_i"]["denominator"] for x in ("coco", "llava"))
    pooled = num / den
    assert res["overall"].value == pytest.approx(pooled)
    assert res["coco"].value == s["coco"]["metrics"]["chair_i"]["value"]  # read, not recomputed
    assert min(res["coco"].value, res["llava"].value) <= pooled <= max(res["coco"].value, res["llava"].value)
    assert res["overall"].ci_low < pooled < res["overall"].ci_high


def test_min_captions_fails_small_sources(capsys):
    code, out, _ = _gate(capsys, str(real_run("bench")), "--max", "chair_i=0.5", "--min-captions", "100")
    assert code == 1
    assert "FAIL chair_i[llava]" in out and "only 30 scored captions (min_captions 100)" in out
    assert "PASS chair_i[coco]" in out


def test_nothing_scored_exit_3(capsys):
    code, out, err = _gate(capsys, str(real_run("empty")), "--max", "chair_i=0.1")
    assert code == 3
    assert "nothing was scored" in err


def test_undefined_metric_is_an_error(tmp_path: Path, capsys):
    """An undefined metric is not a failure of the caption source but a check that could not
    be evaluated: status ERROR, exit 2 (issue #11)."""
    run = tmp_path / "run"
    shutil.copytree(real_run("bench"), run)
    s = json.loads((run / "summary.json").read_text())
    s["sources"]["llava"]["metrics"]["chair_i"] = {"value": None, "status": "no_mentions"}
    (run / "summary.json").write_text(json.dumps(s))
    code, out, _ = _gate(capsys, str(run), "--max", "chair_i=0.5", "--source", "llava")
    assert code == 2 and "metric undefined (no_mentions)" in out
    assert out.splitlines()[0].startswith("ERROR chair_i[llava]")
    assert "gate: ERROR (1 checks: 0 passed, 0 warnings, 0 failed, 1 errors; exit 2)" in out


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        ("missing_dir", "run folder does not exist"),
        ("no_summary", "summary.json: missing"),
        ("bad_json", "summary.json:1: not valid JSON"),
        ("no_sources", "field 'sources': expected an object"),
    ],
)
def test_unreadable_run_exit_2(tmp_path: Path, capsys, damage: str, fragment: str):
    run = tmp_path / "run"
    if damage != "missing_dir":
        shutil.copytree(real_run("bench"), run)
        sp = run / "summary.json"
        if damage == "no_summary":
            sp.unlink()
        elif damage == "bad_json":
            sp.write_text("{not json")
        else:
            sp.write_text(json.dumps({"schema_version": 1, "tool": {"name": "caption-audit"}, "metrics": {}}))
    code, _, err = _gate(capsys, str(run), "--max", "chair_i=0.1")
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_missing_captions_parquet_exit_2(tmp_path: Path, capsys):
    run = tmp_path / "run"
    shutil.copytree(real_run("bench"), run)
    (run / "captions.parquet").unlink()
    code, _, err = _gate(capsys, str(run), "--min", "coverage=0.1", "--source", "overall")
    assert code == 2 and "captions.parquet: missing" in err


def test_quiet_prints_only_problems(capsys):
    code, out, _ = _gate(capsys, str(real_run("bench")), "--max", "chair_i=0.5", "--max", "n_words_mean=50", "-q")
    assert code == 1
    assert "PASS" not in out.replace("gate: PASS", "")
    assert "FAIL n_words_mean[llava]" in out
