"""Text helpers shared by the quality checks: normal form, word tokens, sentence spans."""

from __future__ import annotations

import functools
import itertools
import re
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caption_audit.yamldata import load_yaml

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
    return load_yaml((Path(__file__).with_name("quality.yaml")).read_bytes())


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
    return list(map(str.split, _word_bytes(low.encode()).decode().split("\0")))


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

    a = np.frombuffer(_word_bytes(low.encode()), dtype=np.uint8)
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


class Words:
    """The words of many texts (:func:`words` of each, in order), column-wise, without a Python
    string per word: the texts' normal forms (``norms``: :func:`normalise`, the words joined by
    single spaces) joined by NUL as one UTF-8 buffer (``buf``), each word's byte span in it
    (``starts``, ``ends``: int64 arrays, text after text) and each text's number of words
    (``counts``). ``words[i]`` is ``words(texts[i])``, built on demand; :meth:`crc32` gives
    every word's ``zlib.crc32`` in numpy (:func:`word_crc32` without a look-up per word).

    Build it with :meth:`of_texts` (the tokenisation of :func:`words_many`: one byte
    translation for the ASCII texts, the regular expression for the others, then the spaces
    collapsed in numpy) or from normal forms (``Words(norms)``, e.g. a subset).

    >>> w = Words.of_texts(["It's a dog's 'toy'.", "", "Ein Hund_im Park"])
    >>> w.norms, w.counts.tolist(), w[2]
    (["it's a dog's toy", '', 'ein hund im park'], [4, 0, 4], ['ein', 'hund', 'im', 'park'])
    """

    __slots__ = ("norms", "buf", "starts", "ends", "counts", "first", "_crc")

    def __init__(self, norms: list[str], buf: bytes | None = None):
        import numpy as np

        self.norms = norms
        self.buf = "\0".join(norms).encode("utf-8", "surrogatepass") if buf is None else buf
        a = np.frombuffer(self.buf, dtype=np.uint8)
        word = np.empty(a.size + 2, dtype=np.int8)  # 1 on a word byte, padded by 0 on both sides
        word[0] = word[-1] = 0
        np.not_equal(a, 32, out=word[1:-1], casting="unsafe")
        word[1:-1] &= a != 0
        edge = np.diff(word)
        self.starts = np.flatnonzero(edge == 1)
        self.ends = np.flatnonzero(edge == -1)
        # words before each text's end (its NUL, or the buffer's end), then per text
        ends_at = np.empty(len(norms), dtype=np.int64)
        ends_at[:-1] = np.searchsorted(self.starts, np.flatnonzero(a == 0))
        ends_at[-1:] = self.starts.size
        self.counts = np.diff(ends_at, prepend=0)
        self.first = np.zeros(len(norms), dtype=np.int64)  # index of each text's first word
        np.cumsum(self.counts[:-1], out=self.first[1:])
        self._crc: Any = None

    @classmethod
    def of_texts(cls, texts: list[str]) -> Words:
        """The words of ``texts`` (identical to :func:`words_many`)."""
        import numpy as np

        if not texts:
            return cls([])
        joined = "\0".join(texts)
        if joined.count("\0") == len(texts) - 1:
            low = joined.lower()
            raw = _word_bytes(low.encode()) if low.isascii() else _raw_mixed(low)
        else:  # a text holds NUL: those texts one at a time (their words joined by spaces)
            raw = _raw_pieces(list(map(str.lower, texts)))
        # collapse white space: keep word bytes, NULs and the first space after a word, then
        # drop a space that ends a text
        a = np.frombuffer(raw, dtype=np.uint8)
        sep = a == 32
        keep = ~sep
        keep[1:] |= sep[1:] & (a[:-1] != 32) & (a[:-1] != 0)
        b = a[keep]
        sep = b == 32
        drop = np.zeros(b.size, dtype=bool)
        drop[-1:] = sep[-1:]
        drop[:-1] = sep[:-1] & (b[1:] == 0)
        buf = b[~drop].tobytes() if drop.any() else b.tobytes()
        return cls(buf.decode("utf-8", "surrogatepass").split("\0"), buf)

    def __len__(self) -> int:
        return len(self.norms)

    def __getitem__(self, i: int) -> list[str]:
        norm = self.norms[i]
        return norm.split(" ") if norm else []

    def subset(self, idx: list[int]) -> Words:
        """The words of the texts ``idx`` (in that order)."""
        return Words([self.norms[i] for i in idx])

    def crc32(self) -> np.ndarray:
        """``zlib.crc32`` of each word's UTF-8 bytes (uint32, word after word; the values of
        :func:`word_crc32`), without a Python look-up per word (:func:`_crc32_spans`)."""
        if self._crc is None:
            self._crc = _crc32_spans(self.buf, self.starts, self.ends)
        return self._crc


def _raw_mixed(low: str) -> bytes:
    """:func:`_raw_pieces` of the NUL-separated pieces of the lower-cased text ``low`` (no piece
    holds NUL; some are not ASCII): the whole buffer translated at once, then each piece that
    holds a non-ASCII byte replaced by its words (:func:`_words_one`) joined by spaces."""
    import numpy as np

    data = low.encode("utf-8", "surrogatepass")
    raw = _word_bytes(data)  # (the pieces it could misread, not ASCII, are replaced below)
    a = np.frombuffer(data, dtype=np.uint8)
    nul = np.flatnonzero(a == 0)
    bounds = np.concatenate([[-1], nul, [a.size]])  # piece p: bytes bounds[p] + 1 .. bounds[p + 1]
    parts: list[bytes] = []
    pos = 0
    for p in np.unique(np.searchsorted(nul, np.flatnonzero(a >= 128))).tolist():
        s, e = int(bounds[p]) + 1, int(bounds[p + 1])
        parts.append(raw[pos:s])
        parts.append(" ".join(_words_one(data[s:e].decode("utf-8", "surrogatepass"))).encode("utf-8", "surrogatepass"))
        pos = e
    parts.append(raw[pos:])
    return b"".join(parts)


def _raw_pieces(pieces: list[str]) -> bytes:
    """The lower-cased ``pieces`` (some hold NUL) as one NUL-joined buffer in which every byte
    that is not in a word is a space: the ASCII pieces without NUL translated together, the
    others' words (:func:`_words_one`) joined by spaces."""
    asc = [p.isascii() and "\0" not in p for p in pieces]
    done = iter(_word_bytes("\0".join(itertools.compress(pieces, asc)).encode()).decode().split("\0")) if any(asc) \
        else iter(())
    return "\0".join(next(done) if a else " ".join(_words_one(p)) for a, p in zip(asc, pieces, strict=True)
                     ).encode("utf-8", "surrogatepass")


def _word_bytes(data: bytes) -> bytes:
    """The lower-cased bytes ``data`` with every ASCII byte that is not in a word made a space
    (NUL kept): the byte translation, then the lone-apostrophe rule (what :func:`_ascii_words`
    splits; right for the ASCII texts in ``data``)."""
    flat = data.translate(_ASCII_SEP_NUL)
    return _LONE_APOSTROPHE_BYTES.sub(b" ", flat) if b"'" in flat else flat


# -- crc32 of many words without a look-up per word ------------------------------------------
# Each word gets a 64-bit polynomial hash of its bytes in numpy (prefix sums of byte x P**i,
# mod 2**64, a span's sum times P**-start); a direct-mapped table (2**20 slots, per process) maps
# that hash to the word's crc32; the words it does not hold get theirs from zlib, once per
# distinct word of a batch, and are stored. Two different words with one 64-bit hash (chance
# about n**2 / 2**65 for n distinct words) would share a crc32: the hash is only used where a
# collision is harmless (the repetition prefilter is checked word for word, the corpus hashes
# and sketches are hashes already).
_POLY_P = 0x100000001B3
_POLY_CHUNK = 1 << 19  # bytes hashed per prefix-sum pass (the power tables' length)
_POLY_POW: list[Any] = []  # [P**i, P**-i] for i < _POLY_CHUNK, built on first use
_CRC_BITS = 20
_CRC_KEYS: list[Any] = []  # [keys uint64, crc32 uint32]


def _poly_tables() -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    if not _POLY_POW:
        with np.errstate(over="ignore"):
            pw = np.full(_POLY_CHUNK, _POLY_P, dtype=np.uint64)
            pw[0] = 1
            np.multiply.accumulate(pw, out=pw)
            inv = np.full(_POLY_CHUNK, pow(_POLY_P, -1, 1 << 64), dtype=np.uint64)
            inv[0] = 1
            np.multiply.accumulate(inv, out=inv)
        _POLY_POW[:] = [pw, inv]
    return _POLY_POW[0], _POLY_POW[1]


def _poly_spans(a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The 64-bit polynomial hash ``sum(a[s + i] * P**i)`` of each span (uint64), in passes of at
    most :data:`_POLY_CHUNK` bytes; 0 for a span longer than that (its caller then asks zlib)."""
    import numpy as np

    pw, inv = _poly_tables()
    out = np.empty(starts.size, dtype=np.uint64)
    w0 = 0
    with np.errstate(over="ignore"):
        while w0 < starts.size:
            base = int(starts[w0])
            w1 = int(np.searchsorted(ends, base + _POLY_CHUNK, side="right"))
            if w1 == w0:  # one span longer than a chunk (rare): no hash, 0
                out[w0] = 0
                w0 += 1
                continue
            top = int(ends[w1 - 1])
            pre = np.zeros(top - base + 1, dtype=np.uint64)
            np.multiply(a[base:top], pw[:top - base], out=pre[1:])
            np.cumsum(pre, out=pre)
            s, e = starts[w0:w1] - base, ends[w0:w1] - base
            out[w0:w1] = (pre[e] - pre[s]) * inv[s]
            w0 = w1
    return out


def _crc32_spans(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``zlib.crc32(buf[s:e])`` of each span (non-empty, in order), as uint32, through the
    per-process table of polynomial hash -> crc32 (see above): numpy for the words it holds,
    zlib once per other distinct word."""
    import numpy as np

    if not starts.size:
        return np.zeros(0, dtype=np.uint32)
    if not _CRC_KEYS:
        _CRC_KEYS[:] = [np.zeros(1 << _CRC_BITS, dtype=np.uint64), np.zeros(1 << _CRC_BITS, dtype=np.uint32)]
    keys, vals = _CRC_KEYS
    h = _poly_spans(np.frombuffer(buf, dtype=np.uint8), starts, ends)
    with np.errstate(over="ignore"):
        slot = ((h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _CRC_BITS)).astype(np.int64)
    out = vals[slot]
    zero = h == 0  # no hash (an over-long word, or chance 2**-64): zlib each time, never stored
    miss = np.flatnonzero((keys[slot] != h) & ~zero)
    if miss.size:  # once per distinct word: its crc32 from zlib, stored
        hm, first, back = np.unique(h[miss], return_index=True, return_inverse=True)
        at = miss[first]
        crcs = np.fromiter((zlib.crc32(buf[s:e]) for s, e in zip(starts[at].tolist(), ends[at].tolist(),
                                                                   strict=True)), dtype=np.uint32, count=at.size)
        out[miss] = crcs[back.ravel()]
        sl = slot[at]
        keys[sl] = hm
        vals[sl] = crcs
    for w in np.flatnonzero(zero).tolist():
        out[w] = zlib.crc32(buf[starts[w]:ends[w]])
    return out


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
