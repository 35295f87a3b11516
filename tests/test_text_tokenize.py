"""The rule tokenizer gives exactly spaCy's tokens (text, offset, lower, is_space, is_punct)."""

from __future__ import annotations

import glob
import json

import pytest

from caption_audit.text.nlp import load_spacy
from caption_audit.text.tokenize import RULES_FILE, RuleTokenizer, export_rules, load_rule_tokenizer
from tests.conftest import shared


@pytest.fixture(scope="module")
def tokenizers():
    rt = load_rule_tokenizer()
    if rt is None:
        pytest.skip(f"{RULES_FILE} was exported from another spaCy/model version (spaCy tokenizes instead)")
    return rt, load_spacy()


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


def test_real_captions(tokenizers):
    rt, nlp = tokenizers
    texts = []
    for f in sorted(glob.glob(str(shared("opera", "chair_eval_results") / "*" / "*.jsonl"))):
        with open(f) as fh:
            texts += [json.loads(line)["caption"] for line in fh][:250]
    with open(shared("coco_val2017_captions", "captions_val2017.json")) as fh:
        texts += [a["caption"] for a in json.load(fh)["annotations"][:3000]]
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
