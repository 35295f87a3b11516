"""Paired comparison of caption sources (or of two runs) on the images they share.

Per metric, the difference between two sides comes with a paired image-bootstrap interval
(:mod:`caption_audit.scoring.paired`). Rates normalised by length (hallucinations and
covered GT classes per 100 words, hallucinations per mention = CHAIR-i) sit next to the
per-caption rates, so a source cannot look better only by saying less. Per COCO class, the
metrics of ``classes.parquet`` (:data:`caption_audit.scoring.metrics.CLASS_METRIC_LIST`, same
SQL) are given per side on the shared images.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pandas as pd

from caption_audit.errors import ConfigError, unknown_name
from caption_audit.gate.runio import NothingScoredError, Run
from caption_audit.scoring.paired import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    EXTRA_DIRECTIONS,
    RATIO_METRICS,
    compare_captions,
    ratio_value,
)

DEFAULT_METRICS = (
    "chair_i", "chair_s", "coverage", "halluc_per_100w", "covered_per_100w", "mentions_per_100w",
    "mentions_per_caption", "n_words_mean", "unverifiable_share", "skipped_share",
)  # fmt: skip


def _metrics(run: Run, metrics: list[str] | None) -> list[str]:
    valid = [m for m in RATIO_METRICS if m in run.metric_info or m in EXTRA_DIRECTIONS]
    chosen = list(metrics) if metrics else [m for m in DEFAULT_METRICS if m in valid]
    for m in chosen:
        if m not in valid:
            raise unknown_name("metric", m, valid)
    return chosen


def class_rates(captions: pd.DataFrame, mentions: pd.DataFrame, label: str) -> pd.DataFrame:
    """Per COCO class statistics and rates of one side, by the definition of ``classes.parquet``
    (:func:`caption_audit.scoring.aggregate.class_stats`) on these captions and their mentions.

    Returns:
        Columns ``side, canonical, n_mentions, n_hallucinated, n_gt_images, n_covered,
        n_gt_captions, hallucination_rate, coverage``, most-mentioned classes first.
    """
    import duckdb

    from caption_audit.scoring.aggregate import class_stats

    ments = mentions[mentions["caption_id"].isin(captions["caption_id"])]
    con = duckdb.connect(":memory:")
    try:
        con.register("captions", captions[["source", "image_id", "status", "gt_objects", "covered"]])
        con.register("mentions", ments)
        cols = class_stats(con)
    finally:
        con.close()
    df = pd.DataFrame(cols).drop(columns="source")
    df.insert(0, "side", label)
    return df.sort_values(["n_mentions", "canonical"], ascending=[False, True], ignore_index=True)


def _verdict(diff: dict, higher_is_better: bool) -> str:
    lo, hi = diff.get("ci_low"), diff.get("ci_high")
    if lo is None or hi is None:
        return "n/a"
    if lo > 0:
        return "better" if higher_is_better else "worse"
    if hi < 0:
        return "worse" if higher_is_better else "better"
    return "no clear difference"


def _compare(
    sides: list[tuple[str, pd.DataFrame, pd.DataFrame]],
    pairs: list[tuple[int, int]],
    directions: dict[str, bool],
    metrics: list[str],
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    image_sets = [set(df["image_id"].astype(str)) for _, df, _ in sides]
    shared = set.intersection(*image_sets) if image_sets else set()
    if not shared:
        names = ", ".join(label for label, _, _ in sides)
        raise NothingScoredError(f"no image has captions from every side ({names}); nothing to compare")
    restricted = [(label, df[df["image_id"].astype(str).isin(shared)]) for label, df, _ in sides]
    values = {
        label: {m: ratio_value(df, m) for m in metrics} for label, df in restricted
    }
    counts = {
        label: {"captions": len(df), "scored": int((df["status"] == "scored").sum())}
        for label, df in restricted
    }
    out_pairs = []
    for i, j in pairs:
        (la, a), (lb, b) = restricted[i], restricted[j]
        diffs = compare_captions(
            a, b, metrics, n_resamples=n_resamples, confidence=confidence, seed=seed, images=shared
        )
        rows = {}
        for m, d in diffs.items():
            row = d.to_dict()
            row["higher_is_better"] = directions[m]
            row["verdict"] = _verdict(row, directions[m])
            rows[m] = row
        out_pairs.append({"a": la, "b": lb, "metrics": rows})
    classes = pd.concat([class_rates(df, ments, label)
                         for (label, df), (_, _, ments) in zip(restricted, sides, strict=True)], ignore_index=True)
    return {
        "sides": [label for label, _, _ in sides],
        "n_shared_images": len(shared),
        "metrics": metrics,
        "higher_is_better": {m: directions[m] for m in metrics},
        "values": values,
        "counts": counts,
        "pairs": out_pairs,
        "classes": classes.astype(object).where(classes.notna(), None).to_dict(orient="records"),
        "bootstrap": {"n_resamples": n_resamples, "confidence": confidence, "seed": seed, "unit": "image"},
    }


def compare_sources(
    run: Run,
    sources: list[str],
    *,
    metrics: list[str] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare every pair of ``sources`` of one run on the images all of them describe.

    Differences are ``second - first`` in the order given (e.g. ``llava - coco``).

    Raises:
        ConfigError: an unknown source or metric, or fewer than two sources.
        NothingScoredError: the sources share no image (exit 3).
    """
    for s in sources:
        if s not in run.sources:
            raise unknown_name("source", s, run.sources)
    if len(set(sources)) < 2:
        raise ConfigError(f"compare needs at least two different sources, got {', '.join(sources)}")
    chosen = _metrics(run, metrics)
    directions = {m: run.higher_is_better(m) for m in chosen}
    sides = [(s, run.source_captions(s), run.mentions()) for s in sources]
    res = _compare(
        sides, list(combinations(range(len(sides)), 2)), directions, chosen,
        n_resamples=n_resamples, confidence=confidence, seed=seed,
    )  # fmt: skip
    res.update(mode="sources", run=str(run.path), baseline=None)
    return res


def compare_runs(
    baseline: Run,
    run: Run,
    sources: list[str] | None = None,
    *,
    metrics: list[str] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare the same sources across two runs (``run - baseline``), each on shared images.

    Raises:
        ConfigError: a source missing from either run, or no source in common.
        NothingScoredError: a source shares no image between the runs (exit 3).
    """
    common = [s for s in run.sources if s in baseline.sources]
    if sources is None:
        sources = common
    for s in sources:
        if s not in common:
            raise unknown_name("source (present in both runs)", s, common)
    if not sources:
        raise ConfigError(
            f"runs share no source: {run.path} has {', '.join(run.sources)}; "
            f"{baseline.path} has {', '.join(baseline.sources)}"
        )
    chosen = _metrics(run, metrics)
    directions = {m: run.higher_is_better(m) for m in chosen}
    per_source = []
    for s in sources:
        sides = [(f"baseline:{s}", baseline.source_captions(s), baseline.mentions()),
                 (f"run:{s}", run.source_captions(s), run.mentions())]
        per_source.append(
            _compare(sides, [(0, 1)], directions, chosen, n_resamples=n_resamples, confidence=confidence, seed=seed)
        )
    res = {
        "mode": "runs",
        "run": str(run.path),
        "baseline": str(baseline.path),
        "sides": [side for p in per_source for side in p["sides"]],
        "n_shared_images": {s: p["n_shared_images"] for s, p in zip(sources, per_source, strict=True)},
        "metrics": chosen,
        "higher_is_better": directions,
        "values": {k: v for p in per_source for k, v in p["values"].items()},
        "counts": {k: v for p in per_source for k, v in p["counts"].items()},
        "pairs": [pair for p in per_source for pair in p["pairs"]],
        "classes": [c for p in per_source for c in p["classes"]],
        "bootstrap": per_source[0]["bootstrap"],
    }
    return res
