"""Baseline regression checks: real regressions are caught, sampling noise is not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from caption_audit.cli import main
from caption_audit.gate.baseline import run_baseline_checks
from caption_audit.gate.config import apply_flags, parse_config
from caption_audit.gate.runio import open_run
from tests.gate_runs import have_shared, real_run

pytestmark = pytest.mark.skipif(not have_shared(), reason="shared data (/work/shared/data) not available")


def _gate(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["gate", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _results(run: Path, baseline: Path, **regs: float):
    cfg = apply_flags(parse_config({}), baseline=baseline, max_regression=regs or None)
    return {(r.source, r.metric): r for r in run_baseline_checks(cfg, open_run(run))}


def test_injected_hallucinations_are_detected(capsys):
    """30% of captions get " A giraffe stands nearby." appended: CHAIR-i rises well beyond noise."""
    code, out, _ = _gate(
        capsys, str(real_run("bench_injected")), "--baseline", str(real_run("bench")),
        "--max-regression", "chair_i=0.02", "--max-regression", "coverage=0.03",
    )  # fmt: skip
    assert code == 1, out
    assert "FAIL chair_i[coco] vs baseline" in out
    # only 6 of the 30 long LLaVA descriptions got a giraffe: +0.018, significant but within 0.02
    assert "PASS chair_i[llava] vs baseline" in out
    assert "PASS coverage[coco] vs baseline" in out  # giraffes add no GT classes: coverage unchanged
    res = _results(real_run("bench_injected"), real_run("bench"), chair_i=0.02)
    r = res[("coco", "chair_i")]
    assert r.ci_low > 0.02 and r.value > 0.05
    assert r.candidate_value > r.baseline_value and r.n_images == 80
    strict = _results(real_run("bench_injected"), real_run("bench"), chair_i=0.0)
    assert strict[("llava", "chair_i")].status == "FAIL"
    assert strict[("llava", "chair_i")].ci_low > 0


NOISE_TOLERANCE = ["chair_i=0.02", "chair_s=0.05", "coverage=0.03", "halluc_per_100w=0.5"]  # as docs/ci


def test_noise_between_caption_halves_is_not_flagged(capsys):
    """Two disjoint halves of the 5 COCO captions of the same 80 images (even/odd caption index):
    the point differences are as large as the tolerances, but their intervals reach below them."""
    a, b = real_run("half_a"), real_run("half_b")
    flags = [x for t in NOISE_TOLERANCE for x in ("--max-regression", t)]
    for run, base in ((a, b), (b, a)):
        code, out, _ = _gate(capsys, str(run), "--baseline", str(base), *flags)
        assert code == 0, out
        assert out.count("PASS") == 4 + 1  # 4 checks + totals line
    res = _results(a, b, chair_i=0.02, chair_s=0.05, coverage=0.03, halluc_per_100w=0.5)
    for r in res.values():
        assert r.n_images == 80
        assert r.ci_low < r.threshold < r.ci_high or r.ci_high <= r.threshold, r
    # the same tolerances catch the injected hallucinations
    code, out, _ = _gate(capsys, str(real_run("bench_injected")), "--baseline", str(real_run("bench")), *flags)
    assert code == 1 and "FAIL chair_i[coco] vs baseline" in out and "FAIL chair_s[coco] vs baseline" in out


def test_noise_chair_i_not_flagged_even_with_zero_tolerance():
    for run, base in (("half_a", "half_b"), ("half_b", "half_a")):
        r = _results(real_run(run), real_run(base), chair_i=0.0)[("coco", "chair_i")]
        assert r.status == "PASS" and r.ci_low < 0 < r.ci_high, r


def test_identical_runs_pass_with_zero_width_interval():
    res = _results(real_run("bench"), real_run("bench"))
    r = res[("llava", "chair_i")]
    assert r.status == "PASS" and r.value == 0 and (r.ci_low, r.ci_high) == (0, 0)
    assert str(r.value) == "0.0"  # no "-0.0" for higher-is-better metrics either
    assert str(res[("llava", "coverage")].value) == "0.0"


def test_opera_decoding_vs_greedy_baseline():
    """OPERA vs greedy decoding on the same 500 images: per OPERA, no worse on CHAIR."""
    res = _results(real_run("opera_ours"), real_run("opera_greedy"), chair_i=0.0)
    r = res[("llava15", "chair_i")]
    assert r.status == "PASS" and r.n_images == 500
    assert r.ci_low < 0.01


def test_direction_is_read_from_the_run(tmp_path: Path):
    """Flip chair_i's declared direction: the same increase is now an improvement."""
    runs = {}
    for name in ("bench", "bench_injected"):
        runs[name] = tmp_path / name
        shutil.copytree(real_run(name), runs[name])
        sp = runs[name] / "summary.json"
        s = json.loads(sp.read_text())
        s["metrics"]["chair_i"]["higher_is_better"] = True
        sp.write_text(json.dumps(s))
    r = _results(runs["bench_injected"], runs["bench"], chair_i=0.0)[("coco", "chair_i")]
    assert r.higher_is_better is True
    assert r.status == "PASS" and r.value < -0.05  # regression = baseline - candidate < 0


def test_per_source_overrides(tmp_path: Path, capsys):
    cfg = tmp_path / "g.yaml"
    cfg.write_text(
        f"baseline:\n  run: {real_run('bench')}\n  max_regression: {{chair_i: 0.02}}\n"
        f"  per_source:\n    llava: {{severity: warn, max_regression: {{chair_i: 0.5}}}}\n"
        f"    coco: {{severity: warn}}\n"
    )
    code, out, _ = _gate(capsys, str(real_run("bench_injected")), "--config", str(cfg))
    assert code == 0, out
    assert "WARN chair_i[coco] vs baseline" in out
    assert "PASS chair_i[llava] vs baseline" in out and "allowed <= +0.5" in out


def test_baseline_override_run_per_source(tmp_path: Path, capsys):
    cfg = tmp_path / "g.yaml"
    cfg.write_text(
        f"baseline:\n  run: {real_run('bench')}\n  sources: [coco, overall]\n"
        f"  max_regression: {{chair_i: 0.02}}\n"
        f"  per_source:\n    coco: {{run: {real_run('bench_injected')}}}\n"
    )
    code, out, _ = _gate(capsys, str(real_run("bench_injected")), "--config", str(cfg))
    assert code == 1
    assert "PASS chair_i[coco] vs baseline" in out  # compared with itself
    assert "FAIL chair_i[overall] vs baseline" in out  # pooled over coco + llava, vs clean bench


def test_empty_baseline_exit_3(capsys):
    code, _, err = _gate(capsys, str(real_run("bench")), "--baseline", str(real_run("empty")))
    assert code == 3 and "baseline run scored no captions" in err


def test_new_source_without_baseline_is_skipped(capsys):
    code, out, _ = _gate(capsys, str(real_run("bench")), "--baseline", str(real_run("half_a")), "--max-regression", "chair_i=1")
    assert code == 0
    assert "chair_i[coco] vs baseline" in out and "[llava] vs baseline" not in out
