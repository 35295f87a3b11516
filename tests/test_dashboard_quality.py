"""Caption quality in the dashboard (issue #12): the Overview's "Caption quality" section, the
Explorer's quality filters and columns, and the pandas-free Overview (issue #13).

The run is built by the real pipeline from the bundled demo data plus the authored quality
captions of tests/data/quality/captions.jsonl (a repetition loop, one caption reused on three
images, boilerplate openers, a truncated one, one with HTML markup) and a hostile caption reused
on two images, so it lands in the "top reused captions" list as raw text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboards import charts  # noqa: E402
from dashboards import queries as q  # noqa: E402
from dashboards import render as rd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "dashboards" / "app.py")
QUALITY = REPO / "tests" / "data" / "quality" / "captions.jsonl"
HOSTILE = 'Two dogs <img src=x onerror="window.__pwned=1"> on a [lawn](http://evil.example/x).'


@pytest.fixture(scope="module")
def quality_run(tmp_path_factory) -> Path:
    from caption_audit.demo import data_dir
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    root = tmp_path_factory.mktemp("dq")
    hostile = root / "hostile.jsonl"
    hostile.write_text("".join(json.dumps({"image_id": iid, "caption_id": f"h-{iid}", "caption": HOSTILE,
                                           "source": "authored"}) + "\n" for iid in ("900013", "900014")))
    captions = root / "authored.jsonl"
    captions.write_text(QUALITY.read_text() + hostile.read_text())
    d = data_dir()
    return Path(audit(AuditConfig(inputs=[
        InputSpec(d / "coco_captions.json", "captions", "coco_captions", "coco"),
        InputSpec(d / "instances.json", "ground_truth", "coco_instances"),
        InputSpec(captions, "captions", "generic_captions", "authored"),
    ], out=root / "run", n_resamples=100, progress=False)))


@pytest.fixture(scope="module")
def old_run(quality_run, tmp_path_factory) -> Path:
    """The same run as an older tool wrote it: no quality columns, no quality/position/
    metrics_clean blocks and no quality metrics in summary.json."""
    import pyarrow.parquet as pq

    out = tmp_path_factory.mktemp("old") / "run"
    out.mkdir()
    for f in quality_run.iterdir():
        if f.suffix == ".parquet":
            t = pq.read_table(f)
            keep = [c for c in t.column_names if c not in q.CAPTION_COLUMNS[-9:] and not c.startswith("q_")]
            pq.write_table(t.select(keep), out / f.name)
    s = json.loads((quality_run / "summary.json").read_text())
    s.pop("quality", None)
    s.pop("position", None)
    for block in s["sources"].values():
        block.pop("metrics_clean", None)
        for m, _ in q.QUALITY_METRICS:
            block["metrics"].pop(m, None)
    for m, _ in q.QUALITY_METRICS:
        s.get("metrics", {}).pop(m, None)
    (out / "summary.json").write_text(json.dumps(s))
    return out


def app(monkeypatch, run: Path, page: str | None = None) -> AppTest:
    monkeypatch.setenv("CAPTION_AUDIT_RUN", str(run))
    monkeypatch.delenv("CAPTION_AUDIT_BASELINE", raising=False)
    monkeypatch.delenv("CAPTION_AUDIT_IMAGES", raising=False)
    at = AppTest.from_file(APP, default_timeout=90)
    if page:
        at.session_state["page"] = page
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def html_bodies(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


# ----------------------------------------------------------------------------- queries


def test_quality_records_follow_summary(quality_run):
    run = q.open_run(quality_run)
    s = json.loads((quality_run / "summary.json").read_text())
    recs = {(r["source"], r["metric"]): r for r in q.quality_records(run)}
    for src in ("coco", "authored"):
        for m, _ in q.QUALITY_METRICS:
            want = s["sources"][src]["metrics"][m]
            assert recs[(src, m)]["value"] == pytest.approx(want["value"]), (src, m)
            assert recs[(src, m)]["ci_low"] == pytest.approx(want["ci_low"]), (src, m)
    # the authored captions hold a repetition loop, a truncated and a garbage caption
    assert recs[("authored", "degenerate_share")]["value"] > 0
    assert recs[("coco", "degenerate_share")]["value"] == 0


def test_clean_records_exclude_degenerate(quality_run):
    run = q.open_run(quality_run)
    s = json.loads((quality_run / "summary.json").read_text())
    rows = {(r["source"], r["metric"]): r for r in q.clean_records(run)}
    a = rows[("authored", "chair_i")]
    clean = s["sources"]["authored"]["metrics_clean"]
    assert a["clean_value"] == pytest.approx(clean["metrics"]["chair_i"]["value"]) if a["clean_value"] is not None \
        else clean["metrics"]["chair_i"]["value"] is None
    assert a["n_scored"] - a["n_clean"] == s["quality"]["sources"]["authored"]["flag_counts"]["degenerate"] > 0


def test_position_records_gaps_are_none_and_segmented(quality_run):
    run = q.open_run(quality_run)
    rows = q.position_records(run)
    s = json.loads((quality_run / "summary.json").read_text())
    want = s["position"]["sources"]["authored"]["mentions"]["sentence"]
    got = [r for r in rows if (r["source"], r["kind"], r["axis"]) == ("authored", "mentions", "sentence")]
    assert [r["bin"] for r in got] == [b["bin"] for b in want]
    for r, b in zip(got, want, strict=True):
        assert r["rate"] == (None if b["n_judged"] == 0 else pytest.approx(b["rate"]))
        assert (r["segment"] is None) == (r["rate"] is None)
    # segments change exactly where a gap interrupts the curve
    segs = [r["segment"] for r in got]
    for prev, cur in zip(segs, segs[1:], strict=False):
        if prev is not None and cur is not None:
            assert cur == prev


def test_position_segments_on_a_gap():
    class R:
        path = Path(".")
        summary = {"position": {"sources": {"m": {"mentions": {"decile": [
            {"bin": 0, "n_judged": 4, "n_bad": 1, "rate": 0.25},
            {"bin": 1, "n_judged": 0, "n_bad": 0, "rate": None},
            {"bin": 2, "n_judged": 2, "n_bad": 0, "rate": 0.0},
            {"bin": 3, "n_judged": 2, "n_bad": 2, "rate": 1.0}]}}}}}
    rows = q.position_records(R())  # type: ignore[arg-type]
    assert [(r["rate"], r["segment"]) for r in rows] == [(0.25, 1), (None, None), (0.0, 2), (1.0, 2)]


@pytest.mark.parametrize("filters, expect", [
    (q.Filters(issues=("duplicate",)), {"q-dup-1", "q-dup-2", "q-dup-3", "h-900013", "h-900014"}),
    (q.Filters(issues=("repetition",)), {"q-loop"}),
    (q.Filters(issues=("truncated", "garbage")), {"q-trunc", "q-garbage", "h-900013", "h-900014"}),
    (q.Filters(only_degenerate=True), {"q-loop", "q-trunc", "q-garbage", "h-900013", "h-900014"}),
])
def test_quality_filters(quality_run, filters, expect):
    run = q.open_run(quality_run)
    df = q.page(run, "captions", filters, page_size=100)
    flagged = set(df["caption_id"])
    # the hostile caption has markup (garbage) and is reused on two images (duplicate)
    assert flagged == expect
    assert q.count_rows(run, "captions", filters) == len(expect)
    for row in df.to_dict("records"):
        issues = set(row["quality_issues"])
        assert (issues & set(filters.issues)) if filters.issues else row["degenerate"]
    # mentions follow their captions
    ments = q.page(run, "mentions", filters, page_size=500)
    assert set(ments["caption_id"]) <= expect


def test_quality_columns_in_page_and_csv(quality_run, old_run):
    run = q.open_run(quality_run)
    cols = list(q.page(run, "captions", page_size=5).columns)
    for c in ("quality_issues", "degenerate", "repeated_share", "longest_repeat", "dup_group_size",
              "near_dup_of", "boilerplate_share"):
        assert c in cols
    csv = q.export_csv(run, "captions", q.Filters(issues=("duplicate",))).decode()
    assert "quality_issues" in csv.splitlines()[0] and "duplicate" in csv
    old = q.open_run(old_run)
    assert not q.has_quality(old)
    assert "quality_issues" not in q.page(old, "captions", page_size=5).columns
    assert q.quality_records(old) == [] and q.clean_records(old) == [] and q.position_records(old) == []
    assert q.quality_lists(old) == {}


def test_top_texts_html_escapes():
    out = rd.top_texts_html([{"text": HOSTILE, "n_captions": 2, "n_images": 2, "share": 0.1},
                             {"text": None, "n_captions": 3, "share": None}],
                            count_key="n_captions", images_key="n_images")
    assert "<img" not in out and "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in out
    assert "(text not kept)" in out and "—" in out
    assert rd.top_texts_html([]) == ""


# ----------------------------------------------------------------------------- app


def test_overview_quality_section(monkeypatch, quality_run):
    at = app(monkeypatch, quality_run)
    no_exception(at)
    assert "Caption quality" in [s.value for s in at.subheader]
    shares = at.dataframe[0].value
    assert list(shares["source"]) == ["coco", "authored"]
    assert shares.set_index("source").loc["coco", "degenerate"].startswith("0.0%")
    clean = at.dataframe[1].value
    assert {"all captions", "without degenerate", "degenerate excluded"} <= set(clean.columns)
    assert (clean[clean["source"] == "authored"]["degenerate excluded"] > 0).all()
    body = html_bodies(at)
    assert "Top reused captions" in body and "a room with some furniture and a window in it" in body.lower()
    assert "onerror=&quot;" in body and '<img src=x' not in body and "window.__pwned=1\"" not in body
    assert "Top openers" in body
    # the position curves: decile and sentence index, drawn from Arrow data
    charts = at.get("vega_lite_chart")
    specs = [json.loads(c.proto.spec) for c in charts]
    pos = [sp for sp in specs if "caption decile" in json.dumps(sp) or "sentence index" in json.dumps(sp)]
    assert len(pos) == 2
    assert all("isValid(datum.rate)" in json.dumps(sp) for sp in pos)
    at.radio(key="pos_kind").set_value("claims").run()
    no_exception(at)


def test_old_run_hides_quality(monkeypatch, old_run):
    at = app(monkeypatch, old_run)
    no_exception(at)
    assert "Caption quality" not in [s.value for s in at.subheader]
    at.sidebar.radio(key="page").set_value("Explorer").run()
    no_exception(at)
    assert not [w for w in at.multiselect if w.key == "f_issues"]
    assert "repeated_share" not in at.selectbox(key="sort_captions").options


def test_explorer_quality_filter(monkeypatch, quality_run):
    at = app(monkeypatch, quality_run, page="Explorer")
    no_exception(at)
    assert "quality_issues" in at.dataframe[0].value.columns
    at.multiselect(key="f_issues").set_value(["repetition"]).run()
    no_exception(at)
    assert at.dataframe[0].value["caption_id"].tolist() == ["q-loop"]
    at.multiselect(key="f_issues").set_value([]).run()
    at.checkbox(key="f_degen").check().run()
    no_exception(at)
    assert set(at.dataframe[0].value["caption_id"]) == {"q-loop", "q-trunc", "q-garbage", "h-900013", "h-900014"}
    at.radio(key="ex_table").set_value("mentions").run()
    no_exception(at)
    assert set(at.dataframe[0].value["caption_id"]) <= {"q-loop", "q-trunc", "q-garbage", "h-900013", "h-900014"}
    at.radio(key="ex_table").set_value("captions").run()
    assert "repeated_share" in at.selectbox(key="sort_captions").options


def test_overview_does_not_import_pandas(quality_run):
    """The Overview's first load renders without pandas (~2 s of import) or Altair (~1 s), issue #13."""
    code = ("import os, sys\nfrom streamlit.testing.v1 import AppTest\n"
            f"os.environ['CAPTION_AUDIT_RUN'] = {str(quality_run)!r}\n"
            f"at = AppTest.from_file({APP!r}, default_timeout=90).run()\n"
            "assert not at.exception, [e.value for e in at.exception]\n"
            "print('altair' in sys.modules, 'pandas' in sys.modules, 'Caption quality' in [s.value for s in at.subheader])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         cwd=REPO, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["False", "False", "True"]


@pytest.mark.parametrize("spec, fields", [
    (charts.metrics_bars(), {"source", "label", "value", "ci_low", "ci_high"}),
    (charts.length_histogram(), {"source", "bin_start", "bin_end", "captions"}),
    (charts.class_heatmap(), {"source", "canonical", "n_mentions", "n_hallucinated", "hallucination_rate",
                              "coverage"}),
    (charts.position_curve("decile"), {"source", "bin", "rate", "n_judged", "n_bad", "segment"}),
])
def test_chart_specs_name_only_known_fields(spec, fields):
    """The specs are plain JSON (no data inside) and read only the columns their tables have."""
    text = json.dumps(spec)
    used = set(re.findall(r'"field": "([a-z_0-9]+)"', text))
    assert used == fields
    assert "values" not in spec and "data" not in spec


def test_position_curve_breaks_lines_at_gaps():
    spec = charts.position_curve("x")
    assert spec["transform"] == [{"filter": "isValid(datum.rate)"}]
    line = spec["layer"][0]
    assert line["mark"] == "line" and line["encoding"]["detail"]["field"] == "segment"
