"""The rule tokenizer gives exactly spaCy's tokens (text, offset, lower, is_space, is_punct), and
the pipeline that tokenizes with it (``load_spacy()``'s ``RulesTokenizer``) gives exactly the Docs
of the pipeline with spaCy's own tokenizer (``load_spacy(rule_tokenizer=False)``)."""

from __future__ import annotations

import json

import pytest

from caption_audit.text.nlp import load_spacy
from caption_audit.text.tokenize import RULES_FILE, RuleTokenizer, export_rules, load_rule_tokenizer
from tests.conftest import real_captions


@pytest.fixture(scope="module")
def tokenizers():
    rt = load_rule_tokenizer()
    if rt is None:
        pytest.skip(f"{RULES_FILE} was exported from another spaCy/model version (spaCy tokenizes instead)")
    return rt, load_spacy(rule_tokenizer=False)


def _spacy(nlp, text):
    return [(t.text, t.idx, t.lower_, t.is_space, t.is_punct) for t in nlp.tokenizer(text)]


@pytest.mark.parametrize("text", [
    "", " ", "\n", "  leading spaces", "trailing space ", "two  spaces\n\nand a blank line",
    "A man riding a wave on top of a surfboard.",
    "There's a hot-dog, isn't there? Don't know; can't say.",
    "I'm at 5 a.m., in the U.S., e.g. with Mr. Smith's dog (etc.).",
    "Visit http://example.com/a?b=1 or e-mail me@example.org!",
    "“Quoted” — dash… and ‘single’ quotes, 1,000.5$ 12th 3x4 1990s '90s",
    ":-) <3 :( ^_^ (:) a. b.", "tab\tseparated \t text\r\nand CRLF",
    "non\u00a0breaking\u2009thin space\u200bzero width", "Ölgemälde naïve café",
])
def test_same_tokens_as_spacy(tokenizers, text):
    rt, nlp = tokenizers
    got = rt.tokens(text)
    if got is None:  # a multi-token special case: the caller must use spaCy for this text
        assert any(len(p) > 1 for ps in rt._patterns.values() for p in ps) or rt._single_patterns
        return
    assert got == _spacy(nlp, text)


def test_special_case_matcher_texts_are_handed_back(tokenizers):
    rt, nlp = tokenizers
    # "a." is a special case the affix rules split into "a" "."; spaCy's matcher re-joins it
    text = "There is a. cat"
    ref = _spacy(nlp, text)
    if [t[0] for t in ref][2:4] == ["a.", "cat"] or "a." in [t[0] for t in ref]:
        assert rt.tokens(text) is None or rt.tokens(text) == ref


def testreal_captions(tokenizers):
    rt, nlp = tokenizers
    texts = real_captions(250, 3000)
    handed_back = 0
    for text in texts:
        got = rt.tokens(text)
        if got is None:
            handed_back += 1
            continue
        assert got == _spacy(nlp, text), text
    assert handed_back <= len(texts) // 100


def test_packaged_rules_are_current(tokenizers):
    _, nlp = tokenizers
    from importlib import resources

    packaged = json.loads(resources.files("caption_audit.text").joinpath("vocab", RULES_FILE).read_text())
    assert export_rules(nlp) == packaged, "re-export with: python -m caption_audit.text.tokenize"


def test_other_versions_are_refused(tmp_path):
    from importlib import resources

    rules = json.loads(resources.files("caption_audit.text").joinpath("vocab", RULES_FILE).read_text())
    rules["spacy_version"] = "0.0.1"
    p = tmp_path / RULES_FILE
    p.write_text(json.dumps(rules))
    assert load_rule_tokenizer(str(p)) is None
    assert load_rule_tokenizer(str(tmp_path / "missing.json")) is None
    assert isinstance(RuleTokenizer(rules), RuleTokenizer)  # the rules themselves still compile


def test_load_spacy_keeps_a_paused_garbage_collector_paused():
    """Loading the weights (srsly) switches the cyclic collector on; a caller that paused it
    (``gc_pause.gc_paused``, e.g. a batch being scored) finds it still paused."""
    import gc

    from caption_audit.text.nlp import load_spacy

    gc.disable()
    try:
        load_spacy.__wrapped__()  # not the cached pipeline: a real load
        assert not gc.isenabled()
    finally:
        gc.enable()


# ------------------------------------------------------------------ the pipeline's RulesTokenizer
def _doc_signature(doc):
    return [(t.text, t.whitespace_, t.norm_, t.tag_, t.pos_, t.dep_, t.head.i, t.lemma_, str(t.morph),
             t.is_sent_start) for t in doc]


@pytest.fixture(scope="module")
def pipelines(tokenizers):
    from caption_audit.text.nlp import RulesTokenizer

    _, spacy_nlp = tokenizers
    nlp = load_spacy()
    assert isinstance(nlp.tokenizer, RulesTokenizer)
    assert type(spacy_nlp.tokenizer).__name__ == "Tokenizer"
    return spacy_nlp, nlp


def _assert_same_docs(pipelines, texts):
    spacy_nlp, nlp = pipelines
    for text, want, got in zip(texts, spacy_nlp.pipe(texts), nlp.pipe(texts), strict=True):
        assert got.text == text
        assert _doc_signature(got) == _doc_signature(want), text


def test_rules_tokenizer_special_cases_give_spacys_docs(pipelines):
    """Every tokenizer special case, alone and in a sentence: same tokens, norms ("'Cause" ->
    "because": a norm the special case sets on the token, which a Doc built from words would
    not have) and so the same tags, parse and lemmas."""
    spacy_nlp, nlp = pipelines
    specials = sorted(spacy_nlp.tokenizer.rules)
    texts = specials + [f"I said {s} twice." for s in specials]
    _assert_same_docs(pipelines, texts)
    handed_back = sum(nlp.tokenizer.rules.tokens(t) is None for t in texts)  # ("a.": the matcher's)
    assert handed_back < len(texts) // 10


def test_rules_tokenizer_real_sentences_give_spacys_docs(pipelines):
    _assert_same_docs(pipelines, real_captions(8, 400))


def test_rules_tokenizer_hands_matcher_texts_to_spacys_tokenizer(pipelines):
    spacy_nlp, nlp = pipelines
    # the last two match spaCy's multi-token special cases (": 1" and "' s", as in 5 OPERA captions)
    matcher = ["There are three in total: 1) towards the left side.", "the dog' s bone"]
    assert all(nlp.tokenizer.rules.tokens(t) is None for t in matcher)
    _assert_same_docs(pipelines, ["", " ", "two  spaces\n\nand a blank line ", "Smile :) and :-) please.", *matcher])
    assert nlp.tokenizer._spacy is not None  # built from the model folder for those texts


def test_rule_tokenizer_norms():
    rt = load_rule_tokenizer()
    if rt is None:
        pytest.skip(f"{RULES_FILE} was exported from another spaCy/model version")
    text = "'Cause I don't know, y'all."
    toks = rt.tokens(text)
    norms = rt.norms(text)
    assert len(norms) == len(toks)
    got = {t[0]: n for t, n in zip(toks, norms, strict=True) if n is not None}
    assert got.get("'Cause") == "because" and got.get("n't") == "not"
    assert rt.norms("a plain caption") == [None, None, None]


def test_rules_tokenizer_only_for_the_model_its_rules_came_from():
    from caption_audit.text.nlp import _rules_for, installed_model_name

    assert _rules_for("some_other_model") is None
    if load_rule_tokenizer() is not None:
        assert _rules_for(installed_model_name()) is not None


def test_rules_tokenizer_fallback_is_spacys_tokenizer(pipelines):
    """The fallback (spaCy's tokenizer built with the rules' compiled affix regexes, the model's
    special cases loaded last) tokenizes like the model's own tokenizer."""
    spacy_nlp, nlp = pipelines
    want, got = spacy_nlp.tokenizer, nlp.tokenizer.spacy_tokenizer
    for attr in ("prefix_search", "suffix_search", "infix_finditer", "token_match", "url_match"):
        a, b = getattr(want, attr), getattr(got, attr)
        assert (a is None) == (b is None) and (a is None or a.__self__.pattern == b.__self__.pattern), attr
    assert got.rules == want.rules and got.faster_heuristics == want.faster_heuristics
    specials = sorted(want.rules)
    for text in specials + [f"I said {s} twice." for s in specials] + ["total: 1) left; there's a pot.", "a. b"]:
        assert [(t.text, t.whitespace_, t.norm_) for t in got(text)] == \
               [(t.text, t.whitespace_, t.norm_) for t in want(text)], text


def test_rules_tokenizer_serialises_as_spacys(pipelines):
    """``to_bytes`` (as ``nlp.to_bytes`` calls it) gives a tokenizer that tokenizes like the
    model's; after ``from_bytes`` spaCy's tokenizer answers everything."""
    from spacy.tokenizer import Tokenizer

    spacy_nlp, nlp = pipelines
    restored = Tokenizer(spacy_nlp.vocab).from_bytes(nlp.tokenizer.to_bytes())
    text = "I don't know 'cause it's 5 p.m. in the U.S. :)"
    assert [t.text for t in restored(text)] == [t.text for t in spacy_nlp.tokenizer(text)]
