"""caption-audit compare: paired source comparison and run-vs-baseline on real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caption_audit.cli import main
from caption_audit.compare.cli import to_markdown
from caption_audit.compare.paired import class_rates, compare_runs, compare_sources
from caption_audit.gate.runio import open_run
from tests.gate_runs import have_shared, real_run

pytestmark = pytest.mark.skipif(not have_shared(), reason="shared data (/work/shared/data) not available")


@pytest.fixture(scope="module")
def bench_cmp() -> dict:
    return compare_sources(open_run(real_run("bench")), ["coco", "llava"], n_resamples=500)


def test_sources_compared_on_shared_images(bench_cmp):
    assert bench_cmp["n_shared_images"] == 30  # LLaVA-Bench detail answers cover 30 of the 80 images
    assert bench_cmp["counts"]["coco"]["captions"] == 150 and bench_cmp["counts"]["llava"]["captions"] == 30
    pair = bench_cmp["pairs"][0]
    assert (pair["a"], pair["b"]) == ("coco", "llava")
    d = pair["metrics"]["n_words_mean"]
    assert d["diff"] == pytest.approx(bench_cmp["values"]["llava"]["n_words_mean"] - bench_cmp["values"]["coco"]["n_words_mean"])
    assert d["verdict"] == "better" and d["ci_low"] > 50  # GPT-4 descriptions are ~7x longer
    assert d["n_images"] == 30


def test_length_normalised_rates_tell_a_different_story(bench_cmp):
    """LLaVA's long descriptions hallucinate in more captions (CHAIR-s), but not per word."""
    m = bench_cmp["pairs"][0]["metrics"]
    assert m["chair_s"]["diff"] > 0
    assert m["halluc_per_100w"]["diff"] < m["chair_s"]["diff"] * 100 / 10
    for name in ("halluc_per_100w", "covered_per_100w", "mentions_per_100w", "chair_i", "coverage"):
        assert name in m and m[name]["ci_low"] is not None
    assert bench_cmp["higher_is_better"]["coverage"] is True and bench_cmp["higher_is_better"]["chair_i"] is False


def test_class_rates_match_caption_lists(bench_cmp):
    run = open_run(real_run("bench"))
    caps = run.captions()
    shared = set(caps[caps.source == "llava"].image_id)
    coco = caps[(caps.source == "coco") & caps.image_id.isin(shared)]
    person = next(c for c in bench_cmp["classes"] if c["side"] == "coco" and c["canonical"] == "person")
    ments = run.mentions()
    judged = ments[ments.caption_id.isin(coco.caption_id) & (ments.canonical == "person") & (ments.vocab == "coco80")
                   & ~ments.negated & ~ments.nonvisual & (ments.verdict != "unverifiable")]
    assert person["n_mentions"] == len(judged) > 0  # mentions, as in classes.parquet (one definition)
    assert person["n_hallucinated"] == (judged.verdict == "hallucinated").sum()
    assert person["hallucination_rate"] == pytest.approx(person["n_hallucinated"] / person["n_mentions"])
    assert person["n_gt_captions"] == sum("person" in list(x) for x in coco.gt_objects)
    assert person["coverage"] == pytest.approx(person["n_covered"] / person["n_gt_captions"])
    table = class_rates(coco, ments, "coco")
    assert list(table.columns)[:2] == ["side", "canonical"]
    assert table["n_mentions"].is_monotonic_decreasing


def test_runs_mode_flags_injected_hallucinations():
    res = compare_runs(open_run(real_run("bench")), open_run(real_run("bench_injected")), ["coco"], n_resamples=500)
    assert res["mode"] == "runs" and res["sides"] == ["baseline:coco", "run:coco"]
    m = res["pairs"][0]["metrics"]
    assert m["chair_i"]["verdict"] == "worse" and m["chair_i"]["ci_low"] > 0
    assert m["coverage"]["verdict"] == "no clear difference"
    giraffe = [c for c in res["classes"] if c["canonical"] == "giraffe"]
    run_g = next(c for c in giraffe if c["side"] == "run:coco")
    base_g = next(c for c in giraffe if c["side"] == "baseline:coco")
    assert run_g["n_hallucinated"] > base_g["n_hallucinated"] + 50


def test_opera_vs_greedy_runs():
    """OPERA decoding vs greedy, LLaVA-1.5, 500 shared images: no clear CHAIR-i change at this size."""
    res = compare_runs(open_run(real_run("opera_greedy")), open_run(real_run("opera_ours")), n_resamples=500)
    assert res["n_shared_images"] == {"llava15": 500}
    m = res["pairs"][0]["metrics"]
    assert m["chair_i"]["ci_low"] < 0.02 and m["n_words_mean"]["diff"] < 0  # OPERA captions are shorter


def test_cli_outputs(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    js, md = tmp_path / "c.json", tmp_path / "c.md"
    code = main(["compare", str(real_run("bench")), "--sources", "coco,llava", "--n-resamples", "200",
                 "--json", str(js), "--markdown", str(md)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "llava − coco (CI)" in out and "chair_i" in out and "Per COCO class" in out
    doc = json.loads(js.read_text())
    assert doc["sides"] == ["coco", "llava"] and doc["bootstrap"]["n_resamples"] == 200
    text = md.read_text()
    assert text.startswith("## caption-audit compare") and "| chair_i | lower |" in text
    assert text == to_markdown(doc)


def test_cli_baseline_mode(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code = main(["compare", str(real_run("half_b")), "--baseline", str(real_run("half_a")), "--n-resamples", "200"])
    assert code == 0
    assert "run:coco − baseline:coco (CI)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (["--sources", "coco,lava"], 2, "Unknown source 'lava'. Did you mean 'llava'?"),
        (["--sources", "coco"], 2, "at least two different sources"),
        (["--sources", "coco,llava", "--metrics", "chair_x"], 2, "Unknown metric 'chair_x'"),
        (["--baseline", "RUN_OPERA"], 2, "runs share no source"),
        (["--confidence", "2"], 2, "--confidence must be between 0 and 1"),
    ],
)
def test_cli_errors(capsys, argv, code, fragment):
    argv = [a.replace("RUN_OPERA", str(real_run("opera_greedy"))) for a in argv]
    assert main(["compare", str(real_run("bench")), *argv]) == code
    assert fragment in capsys.readouterr().err


def test_no_shared_images_exit_3(capsys):
    """Two runs sharing a source but no image give exit 3 (and the same run twice works)."""
    assert main(["compare", str(real_run("opera_greedy")), "--baseline", str(real_run("opera_greedy"))]) == 0
    capsys.readouterr()
    import shutil
    import tempfile

    import pandas as pd

    tmp = Path(tempfile.mkdtemp())
    try:
        other = tmp / "run"
        shutil.copytree(real_run("opera_greedy"), other)
        caps = pd.read_parquet(other / "captions.parquet")
        caps["image_id"] = "x" + caps["image_id"].astype(str)
        caps.to_parquet(other / "captions.parquet")
        assert main(["compare", str(other), "--baseline", str(real_run("opera_greedy"))]) == 3
        assert "no image has captions from every side" in capsys.readouterr().err
    finally:
        shutil.rmtree(tmp)
