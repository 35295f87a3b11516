"""The quality pass wired into the audit (caption_audit/quality/run.py, issue #12): a real run of
the pipeline on the bundled demo data plus authored captions (tests/data/quality/captions.jsonl:
a repetition loop, one caption reused on three images, six captions opening with the same
boilerplate sentence, a truncated one, one with HTML markup, six plain ones), and a real-data
run on two OPERA files whose repetition loops were read by hand (docs/quality.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from caption_audit.cli import main
from tests.conftest import shared

DATA = Path(__file__).parent / "data" / "quality" / "captions.jsonl"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from caption_audit.demo import data_dir
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    d = data_dir()
    out = tmp_path_factory.mktemp("quality") / "run"
    inputs = [InputSpec(d / "coco_captions.json", "captions", "coco_captions", "coco"),
              InputSpec(d / "instances.json", "ground_truth", "coco_instances"),
              InputSpec(DATA, "captions", "generic_captions", "authored")]
    return audit(AuditConfig(inputs=inputs, out=out, progress=False, n_resamples=200))


@pytest.fixture(scope="module")
def captions(run_dir) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "captions.parquet").set_index("caption_id")


@pytest.fixture(scope="module")
def summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize("caption_id, issues", [
    ("q-loop", ["repetition"]),
    ("q-dup-1", ["duplicate"]), ("q-dup-2", ["duplicate"]), ("q-dup-3", ["duplicate"]),
    ("q-trunc", ["truncated"]),
    ("q-garbage", ["garbage"]),
    *[(f"q-boiler-{i}", ["boilerplate"]) for i in range(6)],
    *[(f"q-plain-{i}", []) for i in range(6)],
])
def test_quality_issues_column(captions, caption_id, issues):
    row = captions.loc[caption_id]
    assert list(row["quality_issues"]) == issues
    for check in ("repetition", "truncated", "garbage", "duplicate", "boilerplate"):
        assert bool(row[f"q_{check}"]) == (check in issues), check
    assert bool(row["degenerate"]) == bool({"repetition", "truncated", "garbage"} & set(issues))


def test_numeric_quality_columns(captions):
    loop = captions.loc["q-loop"]
    assert loop["longest_repeat"] >= 30 and loop["repeated_share"] >= 0.5
    dup = captions.loc["q-dup-2"]
    assert (dup["dup_group_size"], dup["dup_images"]) == (3, 3)
    assert captions.loc["q-boiler-0"]["boilerplate_share"] >= 0.5
    plain = captions.loc["q-plain-0"]
    assert (plain["dup_group_size"], plain["longest_repeat"], plain["boilerplate_share"]) == (1, 0, 0.0)
    # the COCO demo captions (short, human) are clean
    coco = captions[captions["source"] == "coco"]
    assert coco["quality_issues"].map(len).sum() == 0


def test_summary_shares(summary):
    m = summary["sources"]["authored"]["metrics"]
    n = 18  # authored captions, all scored
    expect = {"repetition_share": 1 / n, "truncated_share": 1 / n, "garbage_share": 1 / n,
              "degenerate_share": 3 / n, "duplicate_share": 3 / n, "near_duplicate_share": 0.0}
    for key, value in expect.items():
        assert m[key]["value"] == pytest.approx(value), key
        assert m[key]["ci_low"] <= m[key]["value"] <= m[key]["ci_high"], key
    assert 6 * 0.5 / n <= m["boilerplate_share"]["value"] <= 6 / n
    assert summary["sources"]["coco"]["metrics"]["degenerate_share"]["value"] == 0.0


def test_summary_equals_sql_path(run_dir, summary):
    """The corpus metrics folded into the batch statistics equal the SQL over the rewritten table."""
    import duckdb

    from caption_audit.scoring.aggregate import metric_sql

    con = duckdb.connect()
    cols = [r[0] for r in con.execute("describe select * from read_parquet(?)",
                                      [str(run_dir / "captions.parquet")]).fetchall()]
    exprs = metric_sql(cols)
    names = [k for k in exprs if k.endswith("_share")]
    rows = con.execute(f"select source, {', '.join(exprs[k] for k in names)} from read_parquet(?) group by 1",
                       [str(run_dir / "captions.parquet")]).fetchall()
    for source, *values in rows:
        for k, v in zip(names, values, strict=True):
            got = summary["sources"][source]["metrics"][k]["value"]
            assert (got is None and v is None) or math.isclose(got, v, abs_tol=1e-12), (source, k)


def test_rewrite_streams_in_small_batches(run_dir, tmp_path, monkeypatch):
    """The captions pass (merge + corpus columns, issue #15) streams: read in batches of 5 rows
    and cut into row groups of 12 rows or 2 KB of Arrow data, it writes the same table, the same
    clean sums and flag counts as with the default sizes, in more and smaller row groups; with
    the defaults the demo run's table is one row group with the run's corpus columns."""
    import shutil

    import numpy as np
    import pyarrow.parquet as pq

    from caption_audit.quality import run as qrun

    class NoStats:  # the corpus statistics are folded elsewhere in a run; here only the table
        sources: dict = {}

    src = run_dir / "captions.parquet"
    values = qrun._corpus_values(qrun._corpus([src]).captions)
    outs = {}
    for name, rows, group_rows, group_bytes in (("default", None, qrun._GROUP_ROWS, qrun._GROUP_BYTES),
                                                ("rows", 5, 12, qrun._GROUP_BYTES), ("bytes", 5, 12, 2048)):
        monkeypatch.setattr(qrun, "_GROUP_ROWS", group_rows)
        monkeypatch.setattr(qrun, "_GROUP_BYTES", group_bytes)
        part = tmp_path / f"{name}-part.parquet"
        shutil.copy(src, part)
        out = tmp_path / name / "captions.parquet"
        out.parent.mkdir()
        clean, flags = qrun._rewrite([part], out, values, NoStats(), rows=rows)
        meta = pq.ParquetFile(out).metadata
        outs[name] = (pq.read_table(out), clean, flags,
                      [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
    table, clean, flags, groups = outs["default"]
    before = pq.read_table(src)
    for col in ("dup_group_size", "dup_images", "near_dup_of", "near_dup_images", "boilerplate_share",
                *qrun.CORPUS_FLAG_COLUMNS.values()):
        assert table.column(col).equals(before.column(col)), col
    assert groups == [table.num_rows]
    assert outs["rows"][3][:-1] == [15] * (len(outs["rows"][3]) - 1)  # 3 batches of 5: the first >= 12
    assert len(outs["bytes"][3]) > len(outs["rows"][3])
    for name in ("rows", "bytes"):
        t, c, f, g = outs[name]
        assert t.equals(table) and f == flags and sum(g) == table.num_rows
        assert c.keys() == clean.keys()
        for source, sums in clean.items():
            (a, ids_a), (b, ids_b) = sums.table(), c[source].table()
            assert list(ids_a) == list(ids_b)
            assert all(np.array_equal(a[k], b[k]) for k in a)


def test_metrics_clean(summary):
    src = summary["sources"]["authored"]
    clean = src["metrics_clean"]
    assert clean["counts"]["scored"] == src["counts"]["scored"] - 3
    assert set(clean["metrics"]) == {"chair_i", "chair_s", "coverage", "halluc_per_100w", "claim_error_rate"}
    coco = summary["sources"]["coco"]
    assert coco["metrics_clean"]["metrics"]["chair_i"]["value"] == coco["metrics"]["chair_i"]["value"]


def test_quality_block(summary):
    q = summary["quality"]["sources"]["authored"]
    assert q["flag_counts"]["duplicate"] == 3 and q["flag_counts"]["boilerplate"] == 6
    assert q["reused"][0]["text"] == "A room with some furniture and a window in it."
    assert q["reused"][0]["n_images"] == 3
    top = q["openers"]["sentence"][0]
    assert (top["text"], top["count"], top["boilerplate"]) == ("This photograph was taken with a digital camera.", 6, True)


def test_position_block(summary):
    pos = summary["position"]["sources"]["coco"]["mentions"]
    assert [e["bin"] for e in pos["decile"]] == list(range(10))
    assert [e["bin"] for e in pos["sentence"]] == list(range(8))
    judged = sum(e["n_judged"] for e in pos["decile"])
    assert judged == sum(e["n_judged"] for e in pos["sentence"]) > 0
    for e in pos["decile"]:
        assert e["rate"] is None if e["n_judged"] == 0 else e["rate"] == e["n_bad"] / e["n_judged"]


def test_position_columns_match_the_pandas_path(run_dir, summary):
    """The position columns the batch scorer writes, and the block grouped from them, equal
    what mention_positions / position_curves compute from the caption texts afterwards."""
    from caption_audit.quality.position import mention_positions, position_curves

    caps = pd.read_parquet(run_dir / "captions.parquet", columns=["caption_id", "caption"])
    for kind, bad in (("mentions", "hallucinated"), ("claims", "contradicted")):
        table = pd.read_parquet(run_dir / f"{kind}.parquet")
        assert len(table) > 0
        ref = mention_positions(table.drop(columns=["char_frac", "decile", "sentence_idx", "n_sentences"]), caps)
        for col in ("char_frac", "decile", "sentence_idx", "n_sentences"):
            assert table[col].astype("Float64").equals(ref[col].astype("Float64")), (kind, col)
        judged = ref[ref["verdict"].isin({"supported", bad})]
        if kind == "mentions":
            judged = judged[(judged["vocab"] == "coco80") & ~judged["negated"] & ~judged["nonvisual"]]
        curves = position_curves(judged)
        for source, block in summary["position"]["sources"].items():
            for curve, frame in curves.items():
                sel = frame[frame["source"] == source]
                want = [{"bin": int(b), "n_judged": int(n), "n_bad": int(k), "rate": None if pd.isna(r) else float(r)}
                        for b, n, k, r in zip(sel["bin"], sel["n_judged"], sel["n_bad"], sel["rate"], strict=True)]
                assert block.get(kind, {}).get(curve, []) == want, (source, kind, curve)


@pytest.mark.parametrize("limit, code", [("0.05", 1), ("0.10", 0)])
def test_gate_max_on_quality_metric(run_dir, limit, code, capsys):
    assert main(["gate", str(run_dir), "--max", f"repetition_share={limit}"]) == code
    out = capsys.readouterr().out
    assert "repetition_share[authored]" in out


def test_report_lines(run_dir, capsys, tmp_path):
    md, page = tmp_path / "r.md", tmp_path / "r.html"
    assert main(["report", str(run_dir), "--width", "160", "--markdown", str(md), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "caption quality" in out
    assert "authored: without 3 degenerate caption(s): CHAIR-i" in out
    assert "coco: hallucination rate by caption decile:" in out
    for text in (md.read_text(), page.read_text()):
        assert "Caption quality" in text and "without 3 degenerate caption(s)" in text


def test_real_opera_loops_flagged(tmp_path):
    """minigpt4/greedy has six repetition loops, instructblip/beam5 one (read by hand,
    docs/quality.md); the other 994 captions are not loops."""
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    base = shared("opera", "chair_eval_results")
    inputs = [InputSpec(base / "minigpt4" / "greedy.jsonl", "captions", "generic_captions", "minigpt4"),
              InputSpec(base / "instructblip" / "beam5.jsonl", "captions", "generic_captions", "instructblip")]
    out = audit(AuditConfig(inputs=inputs, out=tmp_path / "run", progress=False, n_resamples=50))
    caps = pd.read_parquet(out / "captions.parquet", columns=["source", "q_repetition", "longest_repeat"])
    loops = caps[caps["q_repetition"].fillna(False).astype(bool)]
    assert loops.groupby("source").size().to_dict() == {"minigpt4": 6, "instructblip": 1}
    assert (loops["longest_repeat"] >= 19).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sources"]["minigpt4"]["metrics"]["repetition_share"]["value"] == pytest.approx(6 / 500)
