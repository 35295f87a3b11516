"""The attribute ruler's look-up match (caption_audit/text/ruler.py) hands back exactly the
matches of spaCy's ``Matcher``: on every pattern of the installed English pipeline, on the
project's labelled captions and on real COCO and OPERA captions."""

from __future__ import annotations

import itertools
import re

import pytest
import spacy
from spacy.tokens import Doc

from caption_audit.text.nlp import load_spacy
from caption_audit.text.ruler import RulerMatch, compile_ruler, use_compiled_match
from tests.conftest import local_captions, real_captions


@pytest.fixture(scope="module")
def exact():
    """spaCy's own pipeline (blis products, the ruler's Matcher) and its attribute ruler."""
    nlp = load_spacy(fast=False)
    ruler = nlp.get_pipe("attribute_ruler")
    assert not isinstance(ruler.match, RulerMatch)
    compiled = compile_ruler(ruler)
    assert compiled is not None, "the installed pipeline's patterns should all compile"
    return nlp, ruler, compiled


def _values(patterns: list[dict], attr: str) -> list[str]:
    out: list[str] = []
    for entry in patterns:
        for pattern in entry["patterns"]:
            for token in pattern:
                v = token.get(attr)
                if isinstance(v, str):
                    out.append(v)
                elif isinstance(v, dict):
                    out += [x for x in v.get("IN", []) + v.get("NOT_IN", []) if isinstance(x, str)]
    return list(dict.fromkeys(out))


def test_every_pattern_as_spacy(exact):
    """Every tag x dependency label the patterns name, on a Doc of every word they name (the
    two-token patterns' words side by side, words the regexes do and do not match, spaces)."""
    nlp, ruler, compiled = exact
    pats = ruler.patterns
    words = _values(pats, "LOWER")
    regex_samples = ["n't", "nt", "n'", "y'", "y", "ya", "nothin'", "nuthin'", "nthin'", "y'all", "nothing"]
    pairs = ["gon", "na", "got", "ta", "let", "'s", "c'm", "on", "y'", "all", "ai", "n't", "ai", "nt", "y", "all"]
    words = pairs + regex_samples + words + ["cat", "Cat", "CAT", "I", "But"]
    tags = _values(pats, "TAG") + ["NN", "XX"]
    deps = _values(pats, "DEP") + ["ROOT", "det"]
    assert len(tags) > 40 and len(words) > 100
    words += [" ", "\n"]
    n_matches, matched = 0, set()
    for tag, dep in itertools.product(tags, deps):
        doc = Doc(nlp.vocab, words=words, tags=[tag] * len(words), deps=[dep] * len(words),
                  heads=list(range(len(words))))
        want = ruler.match(doc)
        assert compiled(doc) == want, (tag, dep)
        n_matches += len(want)
        matched.update(a for a, *_ in want)
    assert n_matches > 10_000
    spaces = Doc(nlp.vocab, words=["a", " ", "b"], tags=["_SP", "_SP", "NN"], deps=["", "dep", ""],
                 heads=[0, 1, 2])
    matched.update(a for a, *_ in compiled(spaces))
    assert compiled(spaces) == ruler.match(spaces)
    assert matched == set(range(len(pats)))


def _assert_same_matches(nlp, ruler, compiled, texts):
    n = 0
    for doc in nlp.pipe(texts, batch_size=64, disable=["attribute_ruler", "lemmatizer"]):
        assert compiled(doc) == ruler.match(doc), doc.text
        n += len(doc)
    return n


def test_labelled_captions_as_spacy(exact):
    assert _assert_same_matches(*exact, local_captions()) > 10_000


def test_real_captions_as_spacy(exact):
    texts = real_captions(40, 800)
    assert _assert_same_matches(*exact, texts) > 40_000


def test_alternatives_match_once():
    """A pattern two of whose alternatives match the same tokens matches them once, as in spaCy."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("attribute_ruler")
    ruler.add([[{"LOWER": "cat"}], [{"TAG": "NN"}]], {"LEMMA": "x"})
    ruler.add([[{"LOWER": "cat"}, {"LOWER": "food"}], [{"LOWER": "cat"}, {"TAG": "NN"}], [{"LOWER": "cat"}]],
              {"LEMMA": "y"}, index=0)
    ruler.add([[{"LOWER": {"REGEX": "^fo+d$"}, "TAG": {"NOT_IN": ["VB"]}}]], {"LEMMA": "z"})
    doc = Doc(nlp.vocab, words=["the", "cat", "food", "cat"], tags=["DT", "NN", "NN", "NN"])
    compiled = compile_ruler(ruler)
    assert compiled(doc) == ruler.match(doc)
    assert len(compiled(doc)) == 7  # x: 3 tokens; y: "cat" twice and "cat food" once; z: "food"


@pytest.mark.parametrize("pattern", [
    [{"LOWER": "cat", "OP": "+"}],  # an operator
    [{"POS": "NOUN"}],  # another attribute
    [{"LOWER": {"FUZZY": "cat"}}],  # another predicate
    [{"LOWER": "a"}, {"LOWER": "b"}, {"LOWER": "c"}],  # three tokens
])
def test_other_patterns_keep_the_matcher(pattern):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("attribute_ruler")
    ruler.add([pattern], {"LEMMA": "x"})
    assert compile_ruler(ruler) is None
    original = ruler.match
    assert use_compiled_match(nlp) is False
    assert ruler.match == original


def test_load_spacy_uses_it():
    nlp = load_spacy()
    assert isinstance(nlp.get_pipe("attribute_ruler").match, RulerMatch)
    # and the annotations it sets are spaCy's (set_annotations is spaCy's own)
    doc = nlp("She wasn't gonna let 's see it, y'all.")
    assert [t.lemma_ for t in doc][:4] == ["she", "be", "not", "go"]
    assert re.search("PronType=Prs", str(doc[0].morph))


def test_table_stays_bounded(exact, monkeypatch):
    import caption_audit.text.ruler as ruler_module

    nlp, ruler, _ = exact
    compiled = compile_ruler(ruler)
    monkeypatch.setattr(ruler_module, "_TABLE_MAX", 50)
    docs = list(nlp.pipe(local_captions()[:60], disable=["attribute_ruler", "lemmatizer"]))
    for doc in docs:
        assert compiled(doc) == ruler.match(doc)
        assert len(compiled._table) <= 50
