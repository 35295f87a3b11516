"""The fast batch helpers of caption_audit/quality/text.py give exactly what the plain ones
give: :func:`words_many` = :func:`words` per text, :func:`sentences` = the texts of
:func:`sentence_spans`, on random texts built from the characters their rules turn on (end
marks, quotes, apostrophes, new lines, NUL, Greek capital sigma whose lower case depends on the
next character, a character that lower-cases to two)."""

from __future__ import annotations

import random
import zlib

import pytest

from caption_audit.quality.checks import CaptionBatch, CaptionText, _maybe_repeated, repeat_stats
from caption_audit.quality.text import (
    sentence_spans,
    sentences,
    word_crc32,
    words,
    words_many,
)

ASCII = list("ab Z1'.-_\n\t") + ["'s", ". ", "?) "]
MIXED = ASCII + list("ΑΣσé’…”\x00\u2028İ") + [".” ", "e.g. "]


def _texts(alphabet: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))) for _ in range(n)]


@pytest.mark.parametrize("alphabet", [ASCII, MIXED], ids=["ascii", "mixed"])
@pytest.mark.parametrize("batch", [1, 5, 500])
def test_words_many_equals_words(alphabet, batch):
    texts = _texts(alphabet, 3000, seed=batch)
    for b in range(0, len(texts), batch):
        chunk = texts[b:b + batch]
        assert words_many(chunk) == [words(t) for t in chunk], chunk


def test_words_many_apostrophes_and_sigma():
    texts = ["It's the dogs' toy 'ball'", "''a''b'' c'", "ΟΔΟΣ. Σ", "rock'n'roll"]
    assert words_many(texts) == [words(t) for t in texts]
    assert words_many(texts)[0] == ["it's", "the", "dogs", "toy", "ball"]
    assert words_many([]) == []


@pytest.mark.parametrize("alphabet", [ASCII, MIXED], ids=["ascii", "mixed"])
def test_sentences_equal_span_texts(alphabet):
    for t in _texts(alphabet, 20000, seed=7) + ["A dog. A cat!\n\nA bird ", " . . ", "3.5 m. Next", ""]:
        assert sentences(t) == [t[s:e] for s, e in sentence_spans(t)], t


def test_batch_views_match_one_caption():
    texts = ["A dog. A cat on a mat.", "", "One sentence", "Line one\nline two. "]
    b = CaptionBatch(texts)
    for i, t in enumerate(texts):
        c = CaptionText(t)
        assert (b.tokens[i], b.sents[i], b.sentences[i]) == (c.tokens, c.sents, c.sentences)
        assert b[i].sentences == c.sentences


def test_word_crc32_is_zlib_crc32():
    toks = ["a", "dog", "a", "é", "ΟΔΟΣ", ""]
    assert word_crc32(toks).tolist() == [zlib.crc32(t.encode()) for t in toks]
    assert word_crc32(["x"]).tolist() == [zlib.crc32(b"x")] and word_crc32([]).size == 0


def test_maybe_repeated_holds_every_caption_with_a_repeated_ngram():
    rng = random.Random(3)
    vocab = ["a", "dog", "on", "the", "sofa", "cat", "red", "b"]
    texts = [" ".join(rng.choice(vocab[:rng.randint(2, 8)]) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    b = CaptionBatch(texts)
    idx = [i for i, t in enumerate(b.tokens) if len(t) > 4]
    maybe = _maybe_repeated(b, idx, 4)
    assert maybe <= set(idx)
    for i in idx:
        if repeat_stats(b.tokens[i], 4) != (0.0, 0):
            assert i in maybe, texts[i]
    assert len(maybe) < len(idx)  # it does filter
