"""Paired image bootstrap (caption_audit.scoring.paired)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from caption_audit.errors import ConfigError
from caption_audit.scoring.paired import (
    compare_captions,
    image_sums,
    paired_bootstrap,
    ratio_value,
)


def _reference(num_a, den_a, num_b, den_b, n_resamples, confidence, seed):
    """Plain-loop paired bootstrap drawing the same image indices (the reference)."""
    rng = np.random.default_rng(seed)
    n = len(num_a)
    diffs = []
    for _ in range(n_resamples):
        idx = rng.integers(0, n, size=n)
        diffs.append(num_b[idx].sum() / den_b[idx].sum() - num_a[idx].sum() / den_a[idx].sum())
    a = (1 - confidence) / 2
    return np.quantile(diffs, [a, 1 - a])


def _data(n=200, seed=1):
    rng = np.random.default_rng(seed)
    den_a = rng.integers(1, 12, n).astype(float)
    den_b = rng.integers(1, 12, n).astype(float)
    return rng.binomial(den_a.astype(int), 0.1).astype(float), den_a, rng.binomial(den_b.astype(int), 0.2).astype(float), den_b


def test_matches_plain_loop_reference():
    na, da, nb, db = _data()
    r = paired_bootstrap(na, da, nb, db, n_resamples=300, confidence=0.9, seed=7)
    lo, hi = _reference(na, da, nb, db, 300, 0.9, 7)
    assert r["ci_low"][0] == pytest.approx(lo)
    assert r["ci_high"][0] == pytest.approx(hi)
    assert r["diff"][0] == pytest.approx(nb.sum() / db.sum() - na.sum() / da.sum())


@pytest.mark.parametrize(
    ("sides", "expect_diff", "expect_ci"),
    [
        ((np.array([1.0, 0, 1]), np.ones(3), np.array([1.0, 1, 1]), np.ones(3)), 1 / 3, None),  # simple
        ((np.array([2.0, 1]), np.array([4.0, 4]), np.array([2.0, 1]), np.array([4.0, 4])), 0.0, (0.0, 0.0)),  # identical
        ((np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)), None, None),  # no images
        ((np.array([1.0]), np.array([0.0]), np.array([1.0]), np.array([2.0])), None, None),  # den 0 on a
    ],
)
def test_table(sides, expect_diff, expect_ci):
    r = paired_bootstrap(*sides, n_resamples=200)
    if expect_diff is None:
        assert np.isnan(r["diff"][0])
    else:
        assert r["diff"][0] == pytest.approx(expect_diff)
    if expect_ci is not None:
        assert (r["ci_low"][0], r["ci_high"][0]) == pytest.approx(expect_ci)


def test_seed_determinism_and_vectorised_metrics():
    na, da, nb, db = _data()
    one = paired_bootstrap(na, da, nb, db, seed=3)
    again = paired_bootstrap(na, da, nb, db, seed=3)
    assert one["ci_low"][0] == again["ci_low"][0]
    two = paired_bootstrap(np.c_[na, na], np.c_[da, da], np.c_[nb, na], np.c_[db, da], seed=3)
    assert two["ci_low"][0] == pytest.approx(one["ci_low"][0])
    assert two["ci_low"][1] == two["ci_high"][1] == 0.0  # same side twice: no difference at all
    other = paired_bootstrap(na, da, nb, db, seed=4)
    assert other["ci_low"][0] != one["ci_low"][0]


def test_pairing_is_narrower_than_independent_intervals():
    """Shared image difficulty cancels: paired CI width << width of independent CIs."""
    rng = np.random.default_rng(0)
    n = 300
    difficulty = rng.uniform(0, 0.6, n)  # some images are much harder for both sides
    den = np.full(n, 10.0)
    na = rng.binomial(10, difficulty).astype(float)
    nb = rng.binomial(10, np.clip(difficulty + 0.02, 0, 1)).astype(float)
    paired = paired_bootstrap(na, den, nb, den, seed=0)
    zero = np.zeros(n)
    ia = paired_bootstrap(zero, np.ones(n), na, den, seed=1)
    ib = paired_bootstrap(zero, np.ones(n), nb, den, seed=2)
    w_paired = paired["ci_high"][0] - paired["ci_low"][0]
    w_indep = np.hypot(ia["ci_high"][0] - ia["ci_low"][0], ib["ci_high"][0] - ib["ci_low"][0])
    assert w_paired < 0.6 * w_indep


def test_interval_covers_true_shift_usually():
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(40):
        den = rng.integers(1, 8, 150).astype(float)
        na = rng.binomial(den.astype(int), 0.1).astype(float)
        nb = rng.binomial(den.astype(int), 0.15).astype(float)
        r = paired_bootstrap(na, den, nb, den, n_resamples=400, seed=int(rng.integers(1e9)))
        hits += r["ci_low"][0] <= 0.05 <= r["ci_high"][0]
    assert hits >= 33  # nominal 95%: 38/40; allow bootstrap's known undercoverage


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"n_resamples": 0}, "n_resamples"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap(np.ones(2), np.ones(2), np.ones(2), np.ones(2), **kwargs)


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(np.ones(2), np.ones(3), np.ones(2), np.ones(2))


def _caps(rows):
    cols = ["caption_id", "image_id", "source", "status", "n_mentions", "n_hallucinated", "n_words",
            "covered", "gt_objects", "has_hallucination", "gt_available"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


A = _caps(
    [
        ("a1", "1", "x", "scored", 4, 1, 10, ["dog"], ["dog", "cat"], True, True),
        ("a2", "1", "x", "scored", 2, 0, 8, ["cat"], ["dog", "cat"], False, True),
        ("a3", "2", "x", "scored", 3, 0, 5, [], ["car"], False, True),
        ("a4", "3", "x", "skipped: empty caption", 0, 0, 0, [], [], None, True),  # image only in A
    ]
)
B = _caps(
    [
        ("b1", "1", "y", "scored", 5, 3, 50, ["dog", "cat"], ["dog", "cat"], True, True),
        ("b2", "2", "y", "scored", 2, 1, 20, ["car"], ["car"], True, True),
        ("b3", "9", "y", "scored", 9, 9, 9, [], ["car"], True, True),  # image only in B
    ]
)


def test_ratio_metrics_by_hand():
    assert ratio_value(A, "chair_i") == pytest.approx(1 / 9)
    assert ratio_value(A, "chair_s") == pytest.approx(1 / 3)
    assert ratio_value(A, "coverage") == pytest.approx(2 / 5)
    assert ratio_value(A, "halluc_per_100w") == pytest.approx(100 * 1 / 23)
    assert ratio_value(A, "skipped_share") == pytest.approx(1 / 4)
    sums = image_sums(A, ["chair_i"])
    assert list(sums.index) == ["1", "2", "3"]
    assert sums.loc["1", "chair_i__den"] == 6


def test_compare_captions_uses_shared_images_only():
    d = compare_captions(A, B, ["chair_i", "coverage"], n_resamples=200)
    assert d["chair_i"].n_images == 2
    assert (d["chair_i"].n_a, d["chair_i"].n_b) == (3, 2)
    assert d["chair_i"].value_a == pytest.approx(1 / 9)
    assert d["chair_i"].value_b == pytest.approx(4 / 7)
    assert d["chair_i"].diff == pytest.approx(4 / 7 - 1 / 9)
    assert d["coverage"].value_b == pytest.approx(1.0)
    none = compare_captions(A[A.image_id == "3"], B, ["chair_i"])
    assert none["chair_i"].status == "no_shared_images" and none["chair_i"].diff is None


def test_compare_unknown_metric_lists_names():
    with pytest.raises(ConfigError, match=r"Unknown metric 'chair_x'.*chair_i.*Valid names"):
        compare_captions(A, B, ["chair_x"])


def test_recomputation_matches_the_pipeline_summary():
    """The gate recomputes every summary metric from captions.parquet exactly as the core does."""
    from tests.gate_runs import have_shared, real_run

    if not have_shared():
        pytest.skip("shared data (/work/shared/data) not available")
    from caption_audit.gate.runio import open_run

    for name in ("bench", "opera_greedy"):
        run = open_run(real_run(name))
        for source, entry in run.summary["sources"].items():
            caps = run.source_captions(source)
            for metric, m in entry["metrics"].items():
                assert ratio_value(caps, metric) == pytest.approx(m["value"]), (name, source, metric)
