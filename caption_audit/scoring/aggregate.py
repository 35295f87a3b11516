"""From per-caption rows to per-source metrics (with CIs) and per-class rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from caption_audit.scoring.bootstrap import bootstrap_ci
from caption_audit.scoring.metrics import CLASS_METRIC_LIST, METRIC_LIST, STAT_COLUMNS

# quality statistics (issue #12): statistic column -> captions.parquet bool column
QUALITY_BOOL_STATS = {"n_repetition": "q_repetition", "n_truncated": "q_truncated", "n_garbage": "q_garbage",
                      "n_degenerate": "degenerate", "n_duplicate": "q_duplicate",
                      "n_near_duplicate": "q_near_duplicate"}
# claim kinds with per-caption checked/wrong columns (count has its own, older names)
CLAIM_STAT_KINDS = ("object", "open_object", "colour", "identity")
# columns of captions.parquet needed to rebuild every statistic
CAPTION_COLUMNS = ["source", "image_id", "status", "gt_available", "n_mentions", "n_hallucinated",
                   "covered", "gt_objects", "n_words", "n_chars", "n_unverifiable", "n_all_mentions",
                   "n_count_checked", "n_count_wrong", *(f"n_{k}_{x}" for k in CLAIM_STAT_KINDS
                                                         for x in ("checked", "wrong")),
                   "n_open_object_unsupported", "n_open_object", *QUALITY_BOOL_STATS.values(),
                   "boilerplate_share"]


def stat_table(captions: Any) -> dict[str, np.ndarray]:
    """Per-caption statistic columns (``STAT_COLUMNS``) from a captions DataFrame.

    Works on a ``pandas.DataFrame`` with :data:`CAPTION_COLUMNS`, or on a dict of such columns
    as lists (a scored batch's columns: no DataFrame built per batch); a missing value reads as 0.
    """
    scored = np.asarray(_values(captions, "status"), dtype=object) == "scored"
    gt = _col(captions, "gt_available").astype(bool) if "gt_available" in captions else scored
    judged = scored & gt
    nh = np.where(judged, _col(captions, "n_hallucinated"), 0.0)
    all_m = (_col(captions, "n_all_mentions") if "n_all_mentions" in captions
             else _col(captions, "n_mentions") + _col(captions, "n_unverifiable"))  # runs before schema v1.1
    cols = {
        "n_hallucinated": nh,
        "n_mentions": np.where(judged, _col(captions, "n_mentions"), 0.0),
        "has_hallucination": (nh > 0).astype(np.float64),
        "judged": judged.astype(np.float64),
        "n_covered": np.where(judged, _lens(captions, "covered"), 0.0),
        "n_gt": np.where(judged, _lens(captions, "gt_objects"), 0.0),
        "n_words": np.where(scored, _col(captions, "n_words"), 0.0),
        "n_words_judged": np.where(judged, _col(captions, "n_words"), 0.0),
        "n_chars": np.where(scored, _col(captions, "n_chars"), 0.0),
        "scored": scored.astype(np.float64),
        "n_unverifiable": np.where(scored, _col(captions, "n_unverifiable"), 0.0),
        "n_all_mentions": np.where(scored, all_m, 0.0),
        "n_count_checked": np.where(scored, _col(captions, "n_count_checked"), 0.0),
        "n_count_wrong": np.where(scored, _col(captions, "n_count_wrong"), 0.0),
        "n_open_object_unsupported": np.where(scored, _col(captions, "n_open_object_unsupported"), 0.0),
        "n_open_object": np.where(scored, _col(captions, "n_open_object"), 0.0),
        "skipped": (~scored).astype(np.float64),
        "one": np.ones(len(scored)),
    }
    checked = cols["n_count_checked"].copy()
    wrong = cols["n_count_wrong"].copy()
    for k in CLAIM_STAT_KINDS:
        cols[f"n_{k}_checked"] = np.where(scored, _col(captions, f"n_{k}_checked"), 0.0)
        cols[f"n_{k}_wrong"] = np.where(scored, _col(captions, f"n_{k}_wrong"), 0.0)
        checked += cols[f"n_{k}_checked"]
        wrong += cols[f"n_{k}_wrong"]
    cols["n_claims_checked"], cols["n_claims_wrong"] = checked, wrong
    cols["has_contradiction"] = (wrong > 0).astype(np.float64)
    cols["claims_judged"] = (checked > 0).astype(np.float64)
    for stat, c in QUALITY_BOOL_STATS.items():
        cols[stat] = np.where(scored, _col(captions, c), 0.0)
    cols["boilerplate_sum"] = np.where(scored, _col(captions, "boilerplate_share"), 0.0)
    assert set(cols) == set(STAT_COLUMNS), set(STAT_COLUMNS) ^ set(cols)
    return cols


def stat_sql(columns: Any) -> dict[str, str]:
    """The statistic columns of :func:`stat_table` as DuckDB expressions over ``captions``.

    The SQL twin of :func:`stat_table` (keep them side by side: a new statistic goes in both;
    ``tests/test_metric_paths.py`` demands equal metrics through both). ``columns`` are the
    captions table's columns; a missing one reads as 0, as in :func:`stat_table`.
    """
    have = set(columns)

    def col(c: str) -> str:
        return f"coalesce(CAST({c} AS DOUBLE), 0.0)" if c in have else "0.0"

    def lens(c: str) -> str:
        return f"coalesce(CAST(len({c}) AS DOUBLE), 0.0)" if c in have else "0.0"

    def when(cond: str, expr: str) -> str:
        return f"(CASE WHEN {cond} THEN {expr} ELSE 0.0 END)"

    scored = "coalesce(status = 'scored', false)"
    judged = f"({scored} AND coalesce(gt_available, false))" if "gt_available" in have else scored
    nh = when(judged, col("n_hallucinated"))
    all_m = col("n_all_mentions") if "n_all_mentions" in have else f"({col('n_mentions')} + {col('n_unverifiable')})"
    cols = {
        "n_hallucinated": nh,
        "n_mentions": when(judged, col("n_mentions")),
        "has_hallucination": f"(CASE WHEN {nh} > 0 THEN 1.0 ELSE 0.0 END)",
        "judged": when(judged, "1.0"),
        "n_covered": when(judged, lens("covered")),
        "n_gt": when(judged, lens("gt_objects")),
        "n_words": when(scored, col("n_words")),
        "n_words_judged": when(judged, col("n_words")),
        "n_chars": when(scored, col("n_chars")),
        "scored": when(scored, "1.0"),
        "n_unverifiable": when(scored, col("n_unverifiable")),
        "n_all_mentions": when(scored, all_m),
        "n_count_checked": when(scored, col("n_count_checked")),
        "n_count_wrong": when(scored, col("n_count_wrong")),
        "n_open_object_unsupported": when(scored, col("n_open_object_unsupported")),
        "n_open_object": when(scored, col("n_open_object")),
        "skipped": when(f"NOT {scored}", "1.0"),
        "one": "1.0",
    }
    checked, wrong = [cols["n_count_checked"]], [cols["n_count_wrong"]]
    for k in CLAIM_STAT_KINDS:
        cols[f"n_{k}_checked"] = when(scored, col(f"n_{k}_checked"))
        cols[f"n_{k}_wrong"] = when(scored, col(f"n_{k}_wrong"))
        checked.append(cols[f"n_{k}_checked"])
        wrong.append(cols[f"n_{k}_wrong"])
    cols["n_claims_checked"] = "(" + " + ".join(checked) + ")"
    cols["n_claims_wrong"] = "(" + " + ".join(wrong) + ")"
    cols["has_contradiction"] = f"(CASE WHEN {cols['n_claims_wrong']} > 0 THEN 1.0 ELSE 0.0 END)"
    cols["claims_judged"] = f"(CASE WHEN {cols['n_claims_checked']} > 0 THEN 1.0 ELSE 0.0 END)"
    for stat, c in QUALITY_BOOL_STATS.items():
        cols[stat] = when(scored, col(c))
    cols["boilerplate_sum"] = when(scored, col("boilerplate_share"))
    assert set(cols) == set(STAT_COLUMNS), set(STAT_COLUMNS) ^ set(cols)
    return cols


def metric_sql(columns: Any) -> dict[str, str]:
    """Every metric of :data:`METRIC_LIST` as one DuckDB aggregate over ``captions``:
    ``scale * sum(numerator) / sum(denominator)``, ``NULL`` (None) when the denominator is 0."""
    stats = stat_sql(columns)
    return {m.name: m.sql(f"sum({stats[m.numerator]})", f"sum({stats[m.denominator]})") for m in METRIC_LIST}


def _values(captions: Any, name: str) -> Any:
    """Column ``name`` of a DataFrame (a numpy array) or of a dict of lists (the list)."""
    col = captions[name]
    return col.to_numpy() if hasattr(col, "to_numpy") else col


def _n_rows(captions: Any) -> int:
    return len(captions) if hasattr(captions, "columns") else len(captions["status"])


def _col(captions: Any, name: str) -> np.ndarray:
    """A numeric column, missing values as 0; zeros when an older run folder lacks it."""
    if name not in captions:
        return np.zeros(_n_rows(captions))
    col = captions[name]
    if hasattr(col, "fillna"):
        return col.fillna(0).to_numpy(dtype=np.float64)
    return np.array([0.0 if v is None else v for v in col], dtype=np.float64)


def _lens(captions: Any, name: str) -> np.ndarray:
    """Lengths of a list column (0 for missing values or a missing column)."""
    n = _n_rows(captions)
    if name not in captions:
        return np.zeros(n)
    return np.fromiter((len(v) if v is not None and not isinstance(v, float) else 0 for v in captions[name]),
                       dtype=np.float64, count=n)


def metrics_with_ci(
    stats: dict[str, np.ndarray],
    image_ids: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, dict], int]:
    """Every metric of :data:`METRIC_LIST` with its image-cluster bootstrap CI.

    Returns:
        ``({metric: {value, ci_low, ci_high, numerator, denominator[, status]}}, resamples used)``.
    """
    cols = list(STAT_COLUMNS)
    index = {c: i for i, c in enumerate(cols)}
    data = np.column_stack([stats[c] for c in cols]) if len(image_ids) else np.zeros((0, len(cols)))
    _, inverse = np.unique(np.asarray(image_ids, dtype=str), return_inverse=True)
    per_image = np.zeros((int(inverse.max()) + 1 if len(inverse) else 0, len(cols)))
    np.add.at(per_image, inverse, data)
    totals = data.sum(axis=0)
    ratios = [(index[m.numerator], index[m.denominator], m.scale) for m in METRIC_LIST]
    cis, used = bootstrap_ci(per_image, ratios, n_resamples=n_resamples, confidence=confidence, seed=seed)
    out: dict[str, dict] = {}
    for m, (lo, hi) in zip(METRIC_LIST, cis, strict=True):
        num, den = float(totals[index[m.numerator]]), float(totals[index[m.denominator]])
        value = m.compute(num, den)
        entry: dict[str, Any] = {"value": value, "ci_low": lo, "ci_high": hi, "numerator": num, "denominator": den}
        if value is None:
            entry["status"] = m.empty_status
        out[m.name] = entry
    return out, used


def source_block(stats: dict[str, np.ndarray], image_ids: np.ndarray, *, n_resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0) -> tuple[dict[str, Any], int]:
    """One source's entry of summary.json's ``sources`` block: counts, metrics with CIs and the
    small-sample mark. ``stats`` rows are captions or per-image sums (``image_ids`` aligned)."""
    metrics, used = metrics_with_ci(stats, image_ids, n_resamples=n_resamples, confidence=confidence, seed=seed)
    n_in = int(stats["one"].sum())
    n_scored = int(stats["scored"].sum())
    n_images = len(np.unique(np.asarray(image_ids, dtype=str)))
    block: dict[str, Any] = {
        "counts": {"input": n_in, "scored": n_scored, "skipped": n_in - n_scored,
                   "judged": int(stats["judged"].sum()), "images": n_images},
        "metrics": metrics,
    }
    if n_images < SMALL_SAMPLE_IMAGES:  # report shows these CIs as unreliable (n/a for one image)
        block["small_sample"] = True
        block["warning"] = (f"only {n_images} image(s) (< {SMALL_SAMPLE_IMAGES}): confidence intervals are "
                            + ("undefined" if n_images < 2 else "wide and unreliable"))
    return block, used


def per_source(captions: Any, *, n_resamples: int = 1000, confidence: float = 0.95,
               seed: int = 0) -> tuple[dict[str, Any], int]:
    """The ``sources`` block of summary.json from a captions DataFrame."""
    stats = stat_table(captions)
    sources = captions["source"].to_numpy()
    images = captions["image_id"].to_numpy()
    out: dict[str, Any] = {}
    used = 0
    for name in dict.fromkeys(sources.tolist()):
        mask = sources == name
        out[name], used = source_block({k: v[mask] for k, v in stats.items()}, images[mask],
                                       n_resamples=n_resamples, confidence=confidence, seed=seed)
    return out, used


#: Below this many images a source is marked ``small_sample`` in summary.json.
SMALL_SAMPLE_IMAGES = 30


#: Per (source, COCO class) statistics over relations ``captions`` and ``mentions`` (the run
#: folder's views, or any frames registered under those names): judged mentions and
#: hallucinated mentions of the class (COCO-80, not negated, not non-visual), captions and
#: images whose ground truth has it, and captions that cover it.
CLASS_STATS_SQL = """
with m as (
  select source, canonical,
         count(*) filter (where verdict <> 'unverifiable') as n_mentions,
         count(*) filter (where verdict = 'hallucinated') as n_hallucinated
  from mentions where vocab = 'coco80' and not negated and not nonvisual group by 1, 2),
g as (
  select source, cls as canonical, count(*) as n_gt_captions, count(distinct image_id) as n_gt_images
  from (select source, image_id, unnest(gt_objects) as cls from captions where status = 'scored')
  group by 1, 2),
c as (
  select source, cls as canonical, count(*) as n_covered
  from (select source, unnest(covered) as cls from captions where status = 'scored')
  group by 1, 2)
select coalesce(m.source, g.source, c.source) as source,
       coalesce(m.canonical, g.canonical, c.canonical) as canonical,
       coalesce(n_mentions, 0) as n_mentions, coalesce(n_hallucinated, 0) as n_hallucinated,
       coalesce(n_gt_images, 0) as n_gt_images, coalesce(n_covered, 0) as n_covered,
       coalesce(n_gt_captions, 0) as n_gt_captions
from m full outer join g using (source, canonical) full outer join c using (source, canonical)
order by 1, 2
"""
CLASS_COUNT_COLUMNS = ("n_mentions", "n_hallucinated", "n_gt_images", "n_covered", "n_gt_captions")


def class_stats(con: Any) -> dict[str, list]:
    """:data:`CLASS_STATS_SQL` on ``con`` plus every metric of :data:`CLASS_METRIC_LIST`
    (``None`` where the denominator is 0), as columns."""
    rows = con.execute(CLASS_STATS_SQL).fetchall()
    names = ("source", "canonical", *CLASS_COUNT_COLUMNS)
    cols: dict[str, list] = {k: [r[i] for r in rows] for i, k in enumerate(names)}
    for m in CLASS_METRIC_LIST:
        cols[m.name] = [m.compute(n, d) for n, d in zip(cols[m.numerator], cols[m.denominator], strict=True)]
    return cols


def class_table(run_dir: Path) -> dict[str, list]:
    """Per (source, COCO class) counts and rates (``classes.parquet``), from captions.parquet
    and mentions.parquet read through the store (called while the run is written, before
    summary.json exists)."""
    from caption_audit.store.reader import RunFolder

    con = RunFolder(run_dir, summary={}).connect()
    try:
        return class_stats(con)
    finally:
        con.close()
