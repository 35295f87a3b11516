"""Reference coverage: objects of reference captions, one-to-one soft matching (Hungarian)."""

from __future__ import annotations

import pytest

from caption_audit.semantic.coverage import reference_objects, soft_match
from tests._semantic import embedder


def test_reference_objects_skip_negated_and_depicted(parser):
    refs = parser.parse(["A man with a dog and no cars.", "A painting of a horse above a couch."])
    assert reference_objects(refs) == {"person", "dog", "couch"}


def test_exact_matching_without_embedder():
    r = soft_match(["dog", "cat", "couch"], ["dog", "couch", "person", "tv"])
    assert [p[0] for p in r.pairs] == ["couch", "dog"]
    assert r.precision == 2 / 3 and r.recall == 0.5
    assert r.unmatched_candidate == ["cat"]


def test_empty_sides():
    r = soft_match([], ["dog"])
    assert r.precision is None and r.recall == 0.0 and r.f1 is None


@pytest.mark.slow
def test_soft_pairs_are_one_to_one_and_thresholded():
    emb = embedder()
    r = soft_match(["sofa", "puppy", "kitten"], ["couch", "dog"], emb, threshold=0.6)
    pairs = {(c, ref) for c, ref, _ in r.pairs}
    assert pairs == {("sofa", "couch"), ("puppy", "dog")}  # kitten cannot take "dog" as well
    assert r.unmatched_candidate == ["kitten"]
    strict = soft_match(["sofa", "puppy"], ["couch", "dog"], emb, threshold=0.99)
    assert strict.pairs == [] and strict.f1 == 0.0  # no partial credit below the threshold
