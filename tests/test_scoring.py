"""Metrics, verdicts and the image-cluster bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from caption_audit.scoring.bootstrap import bootstrap_ci
from caption_audit.scoring.metrics import METRICS, metric_metadata
from caption_audit.scoring.verdicts import judge_mention, score_caption
from caption_audit.types import Mention, ParsedCaption, Verdict


def M(canonical, vocab="coco80", **kw):
    return Mention(0, 1, canonical, canonical, canonical, vocab, **kw)


VERDICTS = [
    # (mention, gt, evidence hit, verdict, reason)
    (M("dog"), {"dog"}, None, "supported", "gt"),  # in GT
    (M("cat"), {"dog"}, None, "hallucinated", "not_in_gt"),  # COCO class absent from GT
    (M("cat"), None, None, "unverifiable", "no_ground_truth"),  # no GT for the image
    (M("cat", negated=True), {"dog"}, None, "unverifiable", "negated"),  # "no cats"
    (M("horse", nonvisual=True), set(), None, "unverifiable", "depiction"),  # "a painting of a horse"
    (M("lamp", "open"), {"dog"}, None, "unverifiable", "open_vocab"),  # open word, no detector
    (M("cat", hedged=True), {"dog"}, None, "hallucinated", "not_in_gt"),  # hedged is still a claim
    (M("lamp", "open"), None, (True, 0.8, (1, 2, 3, 4)), "supported", "detector"),  # detector found it
    (M("lamp", "open"), None, (False, 0.1, (1, 2, 3, 4)), "hallucinated", "not_detected"),  # asked, not found
    (M("cat"), {"dog"}, (True, 0.9, (0, 0, 5, 5)), "supported", "detector"),  # GT lacks it, detector finds it
]


class _Ev:
    name = "grounding-dino"

    def __init__(self, hit):
        self.hit = hit

    def lookup(self, canonical):
        return self.hit


@pytest.mark.parametrize(("mention", "gt", "hit", "verdict", "reason"), VERDICTS)
def test_judge_mention(mention, gt, hit, verdict, reason):
    v = judge_mention(mention, gt, _Ev(hit) if hit else None)
    assert (v.verdict, v.reason) == (verdict, reason)
    assert isinstance(v.verdict, Verdict)
    if hit:
        assert v.score == hit[1] and v.box == hit[2]


def test_score_caption_counts_repeats_and_lists_distinct():
    parsed = ParsedCaption([M("dog"), M("cat"), M("dog"), M("cat"), M("person", negated=True), M("lamp", "open")], 10, 50)
    verdicts, s = score_caption(parsed, {"dog", "bench"}, {"person": 0, "dog": 16, "cat": 15, "bench": 13})
    assert [v.verdict for v in verdicts] == ["supported", "hallucinated", "supported", "hallucinated",
                                             "unverifiable", "unverifiable"]
    assert (s.n_mentions, s.n_hallucinated) == (4, 2)
    assert s.mentioned == ["dog", "cat"] and s.hallucinated == ["cat"] and s.covered == ["dog"]
    assert s.gt_objects == ["bench", "dog"]  # COCO order
    assert s.open_mentioned == ["lamp"] and s.n_unverifiable == 2 and s.n_all_mentions == 6


def test_metric_formulas_and_empty_denominators():
    assert METRICS["chair_i"].compute(2, 8) == 0.25
    assert METRICS["halluc_per_100w"].compute(3, 150) == 2.0
    assert METRICS["chair_i"].compute(0, 0) is None
    meta = metric_metadata()
    assert meta["coverage"]["higher_is_better"] and not meta["chair_s"]["higher_is_better"]
    assert "Rohrbach" in type(METRICS["chair_i"]).__doc__


def test_bootstrap_ci_covers_the_estimate_and_is_deterministic():
    rng = np.random.default_rng(1)
    den = rng.integers(1, 10, size=300).astype(float)
    num = rng.binomial(den.astype(int), 0.2).astype(float)
    per_image = np.column_stack([num, den])
    (ci,), used = bootstrap_ci(per_image, [(0, 1, 1.0)], n_resamples=500, seed=3)
    value = num.sum() / den.sum()
    assert used == 500 and ci[0] < value < ci[1] and ci[1] - ci[0] < 0.1
    assert bootstrap_ci(per_image, [(0, 1, 1.0)], n_resamples=500, seed=3)[0][0] == ci
    (none,), _ = bootstrap_ci(np.zeros((5, 2)), [(0, 1, 1.0)], n_resamples=50)
    assert none == (None, None)


def test_bootstrap_width_shrinks_with_more_images():
    rng = np.random.default_rng(0)

    def width(n):
        den = np.full(n, 5.0)
        num = rng.binomial(5, 0.3, size=n).astype(float)
        (ci,), _ = bootstrap_ci(np.column_stack([num, den]), [(0, 1, 1.0)], n_resamples=400)
        return ci[1] - ci[0]

    assert width(2000) < width(100) / 3


@pytest.mark.parametrize("n_images", [1, 7, 500, 4096, 4097, 6000])
def test_resample_counts_draws_as_row_by_row(n_images):
    """A chunk of resamples drawn at once (small image counts) counts exactly the images that
    one draw per resample gives: CIs do not depend on how the draws are made."""
    from caption_audit.scoring.bootstrap import resample_counts

    rng, ref = np.random.default_rng(11), np.random.default_rng(11)
    got = np.vstack(list(resample_counts(n_images, 150, rng)))
    want = np.stack([np.bincount(ref.integers(0, n_images, size=n_images), minlength=n_images)
                     for _ in range(150)]).astype(np.float32)
    assert got.dtype == np.float32 and np.array_equal(got, want)
