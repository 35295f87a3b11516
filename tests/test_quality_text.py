"""The fast batch helpers of caption_audit/quality/text.py give exactly what the plain ones
give: :func:`words_many` = :func:`words` per text, :func:`sentences` = the texts of
:func:`sentence_spans`, on random texts built from the characters their rules turn on (end
marks, quotes, apostrophes, new lines, NUL, Greek capital sigma whose lower case depends on the
next character, a character that lower-cases to two)."""

from __future__ import annotations

import random
import zlib

import pytest

from caption_audit.quality import checks
from caption_audit.quality import text as text_mod
from caption_audit.quality.checks import (
    CaptionBatch,
    CaptionText,
    _maybe_repeated_sentences,
    _repeat_stats_many,
    _repeated_sentences,
    _repeated_words_at_least,
    repeat_stats,
)
from caption_audit.quality.text import (
    Words,
    normalise,
    sentence_spans,
    sentences,
    word_counts,
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


NO_NUL = [c for c in MIXED if c != "\x00"]  # mixed batches without NUL: the whole-buffer path


@pytest.mark.parametrize("alphabet", [ASCII, MIXED, NO_NUL], ids=["ascii", "mixed", "mixed-no-nul"])
@pytest.mark.parametrize("batch", [1, 5, 500])
def test_words_table_equals_words(alphabet, batch):
    texts = _texts(alphabet, 3000, seed=batch + 7) + ["It's the dogs' toy 'ball'", "ΟΔΟΣ. Σ", "", "  é  "]
    for b in range(0, len(texts), batch):
        chunk = texts[b:b + batch]
        w = Words.of_texts(chunk)
        want = [words(t) for t in chunk]
        assert [w[i] for i in range(len(chunk))] == want, chunk
        assert w.counts.tolist() == list(map(len, want))
        assert w.norms == [normalise(t) for t in chunk]
        flat = [x for ws in want for x in ws]
        assert w.crc32().tolist() == [zlib.crc32(x.encode("utf-8", "surrogatepass")) for x in flat]
        assert [w.buf[a:z].decode("utf-8", "surrogatepass") for a, z in zip(w.starts, w.ends, strict=True)] == flat
        sub = w.subset(list(range(len(chunk)))[::-2])
        assert [sub[i] for i in range(len(sub))] == want[::-2]


def test_words_crc32_exact_across_chunks_and_table_conflicts(monkeypatch):
    # tiny prefix-sum chunks (words longer than a chunk, spans cut between chunks) and a tiny
    # hash -> crc32 table (most slots in conflict): every crc32 stays zlib's
    monkeypatch.setattr(text_mod, "_POLY_CHUNK", 16)
    monkeypatch.setattr(text_mod, "_POLY_POW", [])
    monkeypatch.setattr(text_mod, "_CRC_BITS", 3)
    monkeypatch.setattr(text_mod, "_CRC_KEYS", [])
    rng = random.Random(3)
    texts = ["".join(rng.choice("abcé ") for _ in range(rng.randint(0, 60))) for _ in range(400)]
    texts += ["x" * 100 + " y " + "z" * 33]
    for _ in range(2):  # cold, then warm table
        w = Words.of_texts(texts)
        flat = [x for i in range(len(texts)) for x in w[i]]
        assert w.crc32().tolist() == [zlib.crc32(x.encode()) for x in flat]


def test_words_without_a_hash_get_zlib_crc32(monkeypatch):
    # a word whose polynomial hash is 0 (an over-long word, or chance) must not read an empty
    # table slot (key 0, crc 0) as its crc32, and equal zero-hash words must not share one
    import numpy as np

    monkeypatch.setattr(text_mod, "_CRC_KEYS", [])
    monkeypatch.setattr(text_mod, "_poly_spans", lambda a, s, e: np.zeros(s.size, dtype=np.uint64))
    texts = ["a dog", "the cat sat", "é dog"]
    w = Words.of_texts(texts)
    flat = [x for i in range(len(texts)) for x in w[i]]
    assert w.crc32().tolist() == [zlib.crc32(x.encode()) for x in flat]


def test_repeated_words_prefilter_counts_repeats_by_crc32():
    import numpy as np

    rng = random.Random(5)
    pool = ["a", "dog", "cat", "on", "the", "sofa", "red", "big", "x1", "é"]
    texts = [" ".join(rng.choice(pool[:rng.randint(2, 10)]) for _ in range(rng.randint(0, 14))) for _ in range(3000)]
    b = CaptionBatch(texts)
    idx = np.arange(0, len(texts), 2)
    for k in (1, 4, 8):
        got = _repeated_words_at_least(b, idx, k)
        truth = np.array([len(b.tokens[i]) - len(set(b.tokens[i])) >= k for i in idx.tolist()])
        assert (got == truth).all()  # (no two of these words share a crc32)


@pytest.mark.parametrize("alphabet", [ASCII, MIXED], ids=["ascii", "mixed"])
@pytest.mark.parametrize("batch", [1, 5, 500])
def test_word_counts_equal_words(alphabet, batch):
    texts = _texts(alphabet, 3000, seed=batch + 1) + ["It's the dogs' toy 'ball'", "ΟΔΟΣ. Σ", ""]
    for b in range(0, len(texts), batch):
        chunk = texts[b:b + batch]
        assert word_counts(chunk).tolist() == [len(words(t)) for t in chunk], chunk


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


def _loopy_batch(seed: int = 3) -> CaptionBatch:
    rng = random.Random(seed)
    vocab = ["a", "dog", "on", "the", "sofa", "cat", "red", "b"]
    texts = [" ".join(rng.choice(vocab[:rng.randint(2, 8)]) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    return CaptionBatch(texts)


def test_repeat_stats_many_equals_repeat_stats():
    b = _loopy_batch()
    idx = [i for i, t in enumerate(b.tokens) if len(t) > 4]
    want = {i: repeat_stats(b.tokens[i], 4) for i in idx}
    got = _repeat_stats_many(b, idx, 4)
    assert got == {i: s for i, s in want.items() if s != (0.0, 0)}
    assert 0 < len(got) < len(idx)  # both kinds occur
    few = idx[:20:3]  # a few captions of a batch whose word hashes are not computed yet
    assert _repeat_stats_many(CaptionBatch(b.texts), few, 4) == {i: want[i] for i in few if want[i] != (0.0, 0)}


def test_repeat_stats_many_survives_hash_collisions():
    # every word hashes alike: all n-grams share a key, the word-for-word test must decide
    b = _loopy_batch(5)
    idx = [i for i, t in enumerate(b.tokens) if len(t) > 4]
    b.words._crc = __import__("numpy").zeros(int(b.words.counts.sum()), dtype="uint32")
    got = _repeat_stats_many(b, idx[:10], 4)
    want = {i: repeat_stats(b.tokens[i], 4) for i in idx[:10]}
    assert got == {i: s for i, s in want.items() if s != (0.0, 0)}


def test_maybe_repeated_sentences_holds_every_caption_with_a_repeated_sentence():
    rng = random.Random(4)
    pool = ["A dog runs.", "a DOG runs.", "The cat sleeps on it.", "Red.", "The cat sleeps on it!", "It is."]
    sents = [[rng.choice(pool) for _ in range(rng.randint(0, 6))] for _ in range(3000)]
    idx = list(range(0, 3000, 2))
    maybe = _maybe_repeated_sentences(sents, idx)
    assert maybe <= set(idx)
    assert all(i in maybe for i in idx if _repeated_sentences(sents[i]))
    assert all(len({s.lower() for s in sents[i]}) < len(sents[i]) for i in maybe)  # salted hash, no collision here


GARBAGE = ASCII + list("<&`~{}[]#*()\x00\x01\x0b\x7f\ufffd\ud800é–") + ["http", "www.", "\n-", "\n -"]


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_garbage_suspects_hold_every_text_with_a_trigger(batch):
    """The batch pre-test of the ``garbage`` rule finds every text that holds one of its
    trigger characters or words (non-ASCII texts, NUL and lone surrogates included)."""
    texts = _texts(GARBAGE, 3000, seed=11)
    for b in range(0, len(texts), batch):
        chunk = texts[b:b + batch]
        got = checks._garbage_suspects(chunk)
        want = {i for i, t in enumerate(chunk)
                if checks._GARBAGE_SUSPECT_CHARS.search(t) or any(w in t for w in checks._GARBAGE_SUSPECT_WORDS)}
        assert want <= got <= set(range(len(chunk))), chunk
        # a hit across two texts (a word over the joining space) is the only extra
        assert all(i in want or chunk[i].endswith("\n") or chunk[i].endswith("\n ") for i in got - want)


@pytest.mark.parametrize("alphabet", [ASCII, MIXED], ids=["ascii", "mixed"])
def test_corpus_word_run_hashes_follow_the_normal_form(alphabet):
    """The corpus pass's stable hashes of a caption, its first / last sentence and 3-word prefixes
    are equal exactly when the normalised texts are (the rule they replace: Python's ``hash()`` of
    the normal form, salted per process)."""
    from caption_audit.quality.corpus import CorpusAccumulator

    vocab = ["a", "dog", "A dog.", "cat", "The", "the", ". ", "\n", " ", "!", "Σ", "é’s"]
    rng = random.Random(2)
    texts = ["".join(rng.choice(vocab) for _ in range(rng.randint(0, 9))) for _ in range(3000)]
    texts += _texts(alphabet, 2000, seed=5)
    b = CaptionBatch(texts)
    n = len(texts)
    rec = CorpusAccumulator().prepare(["s"] * n, ["1"] * n, [str(i) for i in range(n)], b)

    def join(toks):
        return " ".join(toks)

    def agree(keys, hashes):
        by_key, by_hash = {}, {}
        for k, h in zip(keys, hashes.tolist(), strict=True):
            assert by_key.setdefault(k, h) == h  # equal texts, equal hashes
            assert by_hash.setdefault(h, k) == k  # equal hashes, equal texts
        assert (hashes == 0).tolist() == [k == "" for k in keys]  # 0: nothing

    norms = [join(t) for t in b.tokens]
    agree(norms, rec.hash)
    first = [join(words(s[0])) if s else "" for s in b.sents]
    last = [join(words(s[-1])) if len(s) > 1 else "" for s in b.sents]
    agree(first, rec.first_h)
    agree(last, rec.last_h)
    agree([join(words(s[0])[:3]) if s else "" for s in b.sents], rec.pfirst)
    agree([join(words(s[-1])[:3]) if len(s) > 1 else "" for s in b.sents], rec.plast)
    assert rec.first_w.tolist() == [len(words(s[0])) if s else 0 for s in b.sents]
