"""Broad terms ("animal", "cutlery", "vehicle") judged against the COCO classes they cover."""

from __future__ import annotations

import pytest

from caption_audit.semantic.hypernyms import (
    broad_terms,
    broader_verdict,
    find_broad_mentions,
    group_of,
    judge_broad,
)
from caption_audit.text.vocab import default_vocabulary
from caption_audit.types import Mention, ParsedCaption


@pytest.mark.parametrize("word,gt,expected", [
    ("animals", {"dog"}, "supported"),
    ("animal", {"car"}, None),             # open group: a deer is an animal outside COCO-80
    ("Cutlery", {"fork", "pizza"}, "supported"),
    ("silverware", {"pizza"}, "hallucinated"),   # closed group
    ("vehicles", {"truck"}, "supported"),
    ("vehicle", {"person"}, "hallucinated"),
    ("fruit", {"banana"}, "supported"),
    ("kitchen appliances", {"oven"}, "supported"),
    ("electronics", {"laptop"}, "supported"),
    ("baggage", {"backpack"}, "supported"),
    ("dog", {"dog"}, None),                # not a broad term
    ("vehicle", None, None),               # no ground truth
])
def test_broader_verdict(word, gt, expected):
    assert broader_verdict(word, gt) == expected


def test_strict_makes_every_group_closed():
    assert broader_verdict("food", {"person"}) is None
    assert broader_verdict("food", {"person"}, strict=True) == "hallucinated"


def test_groups_name_only_coco_classes_and_do_not_shadow_synonyms():
    vocab = default_vocabulary()
    for term in broad_terms():
        g = group_of(term)
        assert g.classes <= set(vocab.classes), g
        # a COCO synonym is matched lexically first, so a broad term that is one would be dead data
        assert vocab.canonical_of(term) not in vocab.synonyms, term


def test_find_broad_mentions_skips_existing_spans(parser):
    text = "Two vehicles, some kitchen-appliances and an animal near a dog."
    parsed = parser.parse([text])[0]
    found = find_broad_mentions(text, parsed)
    assert [(m.text, m.canonical) for m in found] == [("vehicles", "vehicle"), ("kitchen-appliances", "appliance")]
    assert all(text[m.start:m.end] == m.text for m in found)


def test_judge_broad_skips_negated():
    p = ParsedCaption([Mention(0, 7, "vehicle", "vehicle", "vehicle", "open"),
                       Mention(9, 16, "vehicle", "vehicle", "vehicle", "open", negated=True)])
    assert judge_broad([p], [{"person"}]) == [(0, 0, "hallucinated")]
