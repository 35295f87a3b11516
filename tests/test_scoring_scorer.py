"""The one scorer: its rules, their order, and typed verdicts aligned with the mentions."""

from __future__ import annotations

import dataclasses

import pytest

from caption_audit.scoring.resolvers import ImageEvidence
from caption_audit.scoring.scorer import RULES, CaptionScorer
from caption_audit.scoring.verdicts import MentionVerdict
from caption_audit.types import Mention, Verdict


@pytest.fixture(scope="module")
def parser():
    from caption_audit.text.parse import CaptionParser

    return CaptionParser(use_parser=False)


def test_rules_run_in_a_fixed_visible_order():
    assert [name for name, _ in RULES] == ["objects", "broader_terms", "claims", "counts", "caption_stats"]


CASES = [
    # (caption, gt classes, gt counts, expected (text, verdict, reason, count_verdict) per mention,
    #  n_hallucinated, n_count_wrong)
    ("Three giraffes stand near a car.", {"giraffe"}, {"giraffe": 1},
     [("giraffes", "supported", "gt", "count_wrong"), ("car", "hallucinated", "not_in_gt", None)], 1, 1),
    ("A dog lies on a couch, no cats.", {"dog", "couch"}, {"dog": 1, "couch": 1},
     [("dog", "supported", "gt", None), ("couch", "supported", "gt", None),
      ("cats", "unverifiable", "negated", None)], 0, 0),
    ("Two dogs on a rug.", None, None,
     [("dogs", "unverifiable", "no_ground_truth", "count_unverifiable"), ("rug", "unverifiable", "open_vocab", None)],
     0, 0),
]


@pytest.mark.parametrize(("text", "gt", "counts", "want", "n_halluc", "n_count_wrong"), CASES)
def test_score_gives_typed_verdicts_aligned_with_mentions(parser, text, gt, counts, want, n_halluc, n_count_wrong):
    scorer = CaptionScorer(parser.vocab)
    parsed = parser.parse([text])[0]
    before = [dataclasses.replace(m) for m in parsed.mentions]
    r = scorer.score(parsed, ImageEvidence("1", gt_classes=gt, gt_counts=counts), caption_id="c1")
    assert len(r.mentions) == len(parsed.mentions)
    got = [(m.text, v.verdict, v.reason, v.count_verdict) for m, v in zip(parsed.mentions, r.mentions, strict=True)]
    assert got == want
    assert all(isinstance(v, MentionVerdict) and isinstance(v.verdict, Verdict) for v in r.mentions)
    assert r.stats.n_hallucinated == n_halluc and r.stats.n_count_wrong == n_count_wrong
    assert len(r.claims) == len(parsed.claims)
    assert parsed.mentions == before  # the text types are not written to


def test_text_types_carry_no_scoring_fields_and_verdicts_are_frozen():
    fields = {f.name for f in dataclasses.fields(Mention)}
    assert fields == {"start", "end", "text", "lemma", "canonical", "vocab", "count", "negated", "hedged", "nonvisual"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        MentionVerdict().verdict = Verdict.SUPPORTED  # type: ignore[misc]
