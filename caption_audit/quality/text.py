"""Text helpers shared by the quality checks: normal form, word tokens, sentence spans."""

from __future__ import annotations

import functools
import itertools
import re
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import numpy as np

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# A sentence ends at . ! ? … (plus closing quotes/brackets) followed by white space, or at a
# blank/new line. Decimal numbers ("3.5") and "e.g." style abbreviations mid-word do not split.
_SENT_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n+")
_MARK_OR_NL = re.compile(r"[.!?…\n]")
# The same split as one regular expression that matches each sentence (C-level ``findall``):
# white space skipped, then runs of characters up to the first end mark that the rule above
# would split at (a run of marks + closing quotes/brackets followed by white space, taken into
# the sentence) or a new line (left out). Possessive quantifiers: no backtracking.
_SENT_END_MARK = r"""[.!?…]+["'”’)\]]*(?=\s)"""
_SENTENCE = re.compile(r"\s*+(?=\S)((?:[^.!?…\n]++|(?!" + _SENT_END_MARK + r")[.!?…])*+(?:" + _SENT_END_MARK + r")?)")


@functools.lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    """The thresholds and word lists of ``caption_audit/quality/quality.yaml``."""
    return yaml.safe_load((Path(__file__).with_name("quality.yaml")).read_text(encoding="utf-8"))


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters/digits, inner apostrophes kept): ``"It's a dog."`` ->
    ``["it's", "a", "dog"]``."""
    return _WORD.findall(text.lower())


# ASCII fast path of :func:`words`: every ASCII byte that is neither a letter, a digit nor an
# apostrophe becomes a space, then ``split`` (about 2x faster than the regular expression)
_ASCII_SEP = bytes(c if (chr(c).isalnum() or c == 39) else 32 for c in range(256))


# the same table keeping NUL: texts of a batch are joined by NUL and translated at once
_ASCII_SEP_NUL = b"\0" + _ASCII_SEP[1:]


def words_many(texts: list[str]) -> list[list[str]]:
    """:func:`words` of each text (identical output), faster: the texts are lower-cased and, when
    ASCII, split by one byte translation of the whole batch (joined by NUL, which no text holds,
    and which ends a word and a lower-casing context like the end of a text); only pieces that
    hold an apostrophe, and non-ASCII texts, go through the regular expression.

    >>> words_many(["It's a dog's 'toy'.", "Ein Hund_im Park"])
    [["it's", 'a', "dog's", 'toy'], ['ein', 'hund', 'im', 'park']]
    """
    if not texts:
        return []
    joined = "\0".join(texts)
    if joined.count("\0") == len(texts) - 1:
        low = joined.lower()
        if low.isascii():
            return _ascii_words(low)
        pieces = low.split("\0")
        asc = list(map(str.isascii, pieces))
    else:  # a text holds NUL: those texts one at a time, the others joined as usual
        pieces = list(map(str.lower, texts))
        asc = [a and "\0" not in p for a, p in zip(map(str.isascii, pieces), pieces, strict=True)]
    out: list[list[str]] = list(map(_words_one, itertools.compress(pieces, [not a for a in asc])))
    if len(out) == len(pieces):
        return out
    done = iter(_ascii_words("\0".join(itertools.compress(pieces, asc))))
    rest = iter(out)
    return [next(done) if a else next(rest) for a in asc]


# an apostrophe that is not between two letters/digits ends a word (ASCII, lower case)
# (each branch starts with the apostrophe itself: the scan jumps from one to the next)
_LONE_APOSTROPHE = re.compile(r"'(?:(?![a-z0-9])|(?<![a-z0-9]'))")


def _ascii_words(low: str) -> list[list[str]]:
    """:func:`words` of each NUL-separated piece of the lower-cased ASCII text ``low``: every
    byte but a letter, digit, apostrophe or NUL becomes a space, then so does every apostrophe
    that is not inside a word; a split on white space leaves the words."""
    flat = low.encode().translate(_ASCII_SEP_NUL).decode()
    if "'" in flat:
        flat = _LONE_APOSTROPHE.sub(" ", flat)
    return list(map(str.split, flat.split("\0")))


def word_counts(texts: list[str]) -> np.ndarray:
    """``len(words(t))`` for each text (an int64 array), without building the words: the ASCII
    texts are lower-cased and translated as in :func:`words_many`, all at once, and the word
    starts counted per text in numpy; the others (non-ASCII, holding NUL) by :func:`words`.

    >>> word_counts(["It's a dog's 'toy'.", "", "Ein Hund_im Park"]).tolist()
    [4, 0, 4]
    """
    import numpy as np

    n = len(texts)
    out = np.zeros(n, dtype=np.int64)
    if not n:
        return out
    joined = "\0".join(texts)
    if joined.count("\0") == n - 1:
        low = joined.lower()
        if low.isascii():
            return _ascii_word_counts(low, n)
        pieces = low.split("\0")
        asc = list(map(str.isascii, pieces))
    else:
        pieces = list(map(str.lower, texts))
        asc = [a and "\0" not in p for a, p in zip(map(str.isascii, pieces), pieces, strict=True)]
    other = [i for i, a in enumerate(asc) if not a]
    out[other] = [len(_words_one(pieces[i])) for i in other]
    if len(other) < n:
        ok = np.flatnonzero(np.array(asc, dtype=bool))
        out[ok] = _ascii_word_counts("\0".join(itertools.compress(pieces, asc)), ok.size)
    return out


_LONE_APOSTROPHE_BYTES = re.compile(_LONE_APOSTROPHE.pattern.encode())  # the same rule on bytes


def _ascii_word_counts(low: str, n: int) -> np.ndarray:
    """The number of words of each of the ``n`` NUL-separated pieces of the lower-cased ASCII
    text ``low`` (the words of :func:`_ascii_words`, counted, not built)."""
    import numpy as np

    flat = low.encode().translate(_ASCII_SEP_NUL)
    if b"'" in flat:
        flat = _LONE_APOSTROPHE_BYTES.sub(b" ", flat)
    a = np.frombuffer(flat, dtype=np.uint8)
    word = (a != 32) & (a != 0)
    first = word.copy()  # the first byte of each word
    first[1:] &= ~word[:-1]
    piece = np.searchsorted(np.flatnonzero(a == 0), np.flatnonzero(first))
    return np.bincount(piece, minlength=n)


def _words_one(low: str) -> list[str]:
    """:func:`words` of a lower-cased text."""
    if low.isascii():
        toks = low.encode().translate(_ASCII_SEP).decode().split()
        if "'" in low:
            findall = _WORD.findall
            toks = [w for piece in toks for w in (findall(piece) if "'" in piece else (piece,))]
        return toks
    return _WORD.findall(low)


class _Crc32Cache(dict):
    """token -> ``zlib.crc32`` of its UTF-8 bytes, one per process, filled once per distinct
    token on its first lookup (cleared when it holds ``_CRC_MAX`` tokens: bounded on untrusted
    text)."""

    def __missing__(self, key: str) -> int:
        if len(self) >= _CRC_MAX:
            self.clear()
        v = self[key] = zlib.crc32(key.encode())
        return v


_CRC_MAX = 500_000
_CRC = _Crc32Cache()


def word_crc32(tokens: Iterable[str], count: int | None = None) -> np.ndarray:
    """``zlib.crc32`` of the UTF-8 bytes of each token, as a uint32 array: a stable (unsalted)
    word hash, computed once per distinct word and process (a bounded cache). ``tokens`` may be
    any iterable when ``count`` (its length) is given.

    >>> word_crc32(["a", "dog", "a"]).tolist() == [zlib.crc32(b"a"), zlib.crc32(b"dog"), zlib.crc32(b"a")]
    True
    """
    import numpy as np  # lazy: ``import caption_audit.quality`` stays without numpy

    if count is None:
        count = len(tokens)  # type: ignore[arg-type]
    return np.fromiter(map(_CRC.__getitem__, tokens), dtype=np.uint32, count=count)


def normalise(text: str) -> str:
    """The :func:`words` of ``text`` joined by single spaces (case, punctuation and white space
    removed).

    >>> normalise("  The image features a DOG!\\n")
    'the image features a dog'
    """
    return " ".join(_WORD.findall(text.lower()))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text`` (white space trimmed).

    >>> sentence_spans("A dog. A cat!\\n\\nA bird")
    [(0, 6), (7, 13), (15, 21)]
    >>> sentence_spans("  ")
    []
    """
    body = text.rstrip()
    # fast path: one sentence (no end mark or new line before its very last character)
    if _MARK_OR_NL.search(body, 0, len(body) - 1) is None:
        start = len(body) - len(body.lstrip())
        return [(start, len(body))] if start < len(body) else []
    spans: list[tuple[int, int]] = []
    append = spans.append
    pos = 0
    for m in _SENT_END.finditer(text):
        ms, me = m.span()
        end = ms if text[ms] == "\n" else me
        seg = text[pos:end].lstrip()
        if seg:
            start = end - len(seg)
            append((start, start + len(seg.rstrip())))
        pos = me
    seg = text[pos:].lstrip()
    if seg:
        start = len(text) - len(seg)
        append((start, start + len(seg.rstrip())))
    return spans


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (white space trimmed): ``[text[s:e] for s, e in
    sentence_spans(text)]``, about 4x faster on long captions (one regular-expression
    ``findall``, no Python loop per sentence).

    >>> sentences("A dog. A cat!\\n\\nA bird ")
    ['A dog.', 'A cat!', 'A bird']
    """
    body = text.rstrip()
    if _MARK_OR_NL.search(body, 0, len(body) - 1) is None:  # one sentence (or none)
        body = body.lstrip()
        return [body] if body else []
    found = _SENTENCE.findall(body)
    # a sentence ended by a new line keeps the white space before it: trim (rare)
    return list(map(str.rstrip, found)) if "\n" in body else found


def sentence_index(spans: list[tuple[int, int]], offset: int, starts: list[int] | None = None) -> int | None:
    """Index of the sentence holding character ``offset`` (the next one when it falls between
    sentences); None when ``spans`` is empty or the offset lies after the last sentence.
    ``starts``: the spans' first offsets, when the caller looks up many offsets of one text."""
    import bisect

    if not spans or offset >= spans[-1][1]:
        return None
    i = bisect.bisect_right([s for s, _ in spans] if starts is None else starts, offset) - 1
    if i < 0:
        return 0
    return i if offset < spans[i][1] else i + 1
