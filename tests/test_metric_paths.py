"""Every metric of the metric table, through every path that computes or reads it, on the
same real runs (bundled demo data with and without ground truth): equal values, None
(undefined) included. A new metric in ``METRIC_LIST`` is covered here automatically."""

from __future__ import annotations

import math

import pytest

from caption_audit.compare.paired import compare_sources
from caption_audit.gate.checks import run_absolute_checks
from caption_audit.gate.config import parse_config
from caption_audit.gate.runio import open_run
from caption_audit.scoring.metrics import CLASS_METRIC_LIST, METRIC_LIST, METRICS
from caption_audit.scoring.paired import compare_captions
from caption_audit.store.reader import RunFolder
from dashboards import queries as q
from tests._runs import demo_run

NAMES = [m.name for m in METRIC_LIST]


@pytest.fixture(scope="module", params=["with_gt", "without_gt"])
def run_dir(request, tmp_path_factory):
    return demo_run(tmp_path_factory, ground_truth=request.param == "with_gt")


def _same(a, b) -> bool:
    """Equal numbers (to float rounding of a different summation order), or both undefined."""
    undefined = [x is None or (isinstance(x, float) and math.isnan(x)) for x in (a, b)]
    if any(undefined):
        return all(undefined)
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def _summary(run_dir) -> dict[tuple[str, str], float | None]:
    s = RunFolder(run_dir).summary
    return {(src, m): block["metrics"][m]["value"] for src, block in s["sources"].items() for m in NAMES}


def test_summary_declares_every_metric(run_dir):
    s = RunFolder(run_dir).summary
    assert set(s["metrics"]) == set(NAMES)
    for block in s["sources"].values():
        assert set(block["metrics"]) == set(NAMES)


def test_without_ground_truth_metrics_are_undefined_not_zero(tmp_path_factory):
    summ = _summary(demo_run(tmp_path_factory, ground_truth=False))
    for src in {s for s, _ in summ}:
        for m in ("chair_i", "chair_s", "coverage", "mentions_per_caption", "halluc_per_100w"):
            assert summ[(src, m)] is None, (src, m)
        assert summ[(src, "n_words_mean")] > 0


def test_dashboard_sql_equals_summary(run_dir):
    summ = _summary(run_dir)
    comp = q.computed_metrics(q.open_run(run_dir)).set_index(["source", "metric"])["value"].to_dict()
    for key, v in summ.items():
        assert _same(comp[key], v), (key, comp[key], v)
    shown = q.source_metrics(q.open_run(run_dir)).set_index(["source", "metric"])["value"].to_dict()
    for key, v in summ.items():
        assert _same(shown[key], v), (key, shown[key], v)


def test_paired_bootstrap_point_estimate_equals_summary(run_dir):
    summ = _summary(run_dir)
    run = open_run(run_dir)
    for src in run.sources:
        caps = run.source_captions(src)
        diffs = compare_captions(caps, caps, NAMES, n_resamples=20)
        for m in NAMES:
            assert _same(diffs[m].value_a, summ[(src, m)]), (src, m, diffs[m].value_a, summ[(src, m)])
            assert _same(diffs[m].value_b, summ[(src, m)])
            if summ[(src, m)] is not None:
                assert diffs[m].diff == 0.0 and diffs[m].ci_low == diffs[m].ci_high == 0.0
            else:
                assert diffs[m].diff is None and diffs[m].status is not None


def test_compare_tables_equal_summary_on_shared_images(run_dir):
    """compare's values are on the images every side shares; the demo's sources describe the
    same images, so on scored captions they equal summary.json (skipped captions of images no
    side shares are outside, so ``skipped_share`` is compared on its own terms)."""
    run = open_run(run_dir)
    res = compare_sources(run, run.sources, metrics=NAMES, n_resamples=20)
    summ = _summary(run_dir)
    caps = run.captions()
    shared = set.intersection(*(set(caps[caps.source == s].image_id) for s in run.sources))
    for src in run.sources:
        own = caps[caps.source == src]
        assert set(own[own.status == "scored"].image_id) <= shared
        for m in NAMES:
            v = res["values"][src][m]
            if m == "skipped_share":
                sub = own[own.image_id.isin(shared)]
                assert _same(v, float((sub.status != "scored").mean())), (src, v)
            else:
                assert _same(v, summ[(src, m)]), (src, m, v, summ[(src, m)])


def test_gate_reads_the_summary_and_pools_overall_from_the_same_statistics(run_dir):
    run = open_run(run_dir)
    summ = RunFolder(run_dir).summary
    cfg = parse_config({"checks": [{"metric": m, "source": [*run.sources, "overall"], "max": 1e9} for m in NAMES]})
    got = {(r.source, r.metric): r.value for r in run_absolute_checks(cfg, run)}
    for m in NAMES:
        for src in run.sources:
            assert _same(got[(src, m)], summ["sources"][src]["metrics"][m]["value"]), (src, m)
        num = sum(b["metrics"][m]["numerator"] for b in summ["sources"].values())
        den = sum(b["metrics"][m]["denominator"] for b in summ["sources"].values())
        assert _same(got[("overall", m)], METRICS[m].compute(num, den)), (m, got[("overall", m)])


def test_class_metrics_classes_parquet_equals_compare(run_dir):
    """classes.parquet and compare's class table are one definition (CLASS_METRIC_LIST)."""
    run = open_run(run_dir)
    classes = RunFolder(run_dir).classes()
    res = compare_sources(run, run.sources, metrics=["chair_i"], n_resamples=20)
    by = {(c["side"], c["canonical"]): c for c in res["classes"]}
    assert len(by) == len(classes) > 0
    for row in classes.to_dict(orient="records"):
        c = by[(row["source"], row["canonical"])]
        for m in CLASS_METRIC_LIST:
            assert _same(c[m.name], None if row[m.name] != row[m.name] else row[m.name]), (row, c)
            assert c[m.numerator] == row[m.numerator] and c[m.denominator] == row[m.denominator]


def test_compare_extras_come_from_the_same_statistics(run_dir):
    """compare's length-normalised extras (COMPARE_EXTRA_LIST) equal their formula on stat_table."""
    from caption_audit.scoring.aggregate import stat_table
    from caption_audit.scoring.metrics import COMPARE_EXTRA_LIST

    run = open_run(run_dir)
    names = [m.name for m in COMPARE_EXTRA_LIST]
    res = compare_sources(run, run.sources, metrics=names, n_resamples=20)
    for src in run.sources:
        stats = stat_table(run.source_captions(src))
        for m in COMPARE_EXTRA_LIST:
            want = m.compute(float(stats[m.numerator].sum()), float(stats[m.denominator].sum()))
            assert _same(res["values"][src][m.name], want), (src, m.name)
            assert res["higher_is_better"][m.name] is m.higher_is_better


def test_stat_sql_equals_stat_table_per_caption(run_dir):
    """The SQL twin of every statistic column gives the same per-caption values."""
    import numpy as np

    from caption_audit.scoring.aggregate import stat_sql, stat_table
    from caption_audit.scoring.metrics import STAT_COLUMNS

    folder = RunFolder(run_dir)
    caps = folder.captions()
    con = folder.connect()
    exprs = stat_sql(caps.columns)
    select = ", ".join(f"{exprs[c]} AS {c}" for c in STAT_COLUMNS)
    got = con.execute(f"SELECT caption_id, {select} FROM captions").df().set_index("caption_id")
    want = stat_table(caps)
    order = caps["caption_id"].to_numpy()
    for c in STAT_COLUMNS:
        np.testing.assert_array_equal(got.loc[order, c].to_numpy(dtype=float), want[c], err_msg=c)
