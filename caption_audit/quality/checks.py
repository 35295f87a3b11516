"""Per-caption quality checks: repetition loops, truncation, garbage/markup, non-English, empty.

Each check is registered in :data:`QUALITY_CHECKS` (a :class:`caption_audit.registry.Registry`)
under its flag name. A check takes a :class:`CaptionText` (the caption with its tokens and
sentences computed once) and returns a :class:`CheckOutcome`: whether it flags the caption,
the numbers behind the decision, and a short reason. Thresholds live in ``quality.yaml``.

Entry point for the batch scorer::

    >>> r = check_caption("A dog on a sofa. A dog on a sofa. A dog on a sofa. A dog on a sofa.")
    >>> r.quality_issues
    ['repetition']
    >>> r.values["longest_repeat"]
    15

Flags are descriptive: a flagged caption is still scored (hallucination metrics are reported with
and without flagged captions), never dropped here.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from caption_audit.gc_pause import gc_paused
from caption_audit.quality.text import (
    Words,
    sentence_spans,
    sentences,
    settings,
    words,
)
from caption_audit.registry import Registry

_UNKNOWN = object()
# the ``quality_issues`` / ``reasons`` of every clean caption in a :class:`QualityColumns`:
# one shared empty list and dict (read-only; a flagged caption gets its own)
_NO_ISSUES: list[str] = []
_NO_REASONS: dict[str, str] = {}

#: The numeric/text columns of :class:`QualityResult.values`, with their value when a check
#: did not run (empty caption) or had nothing to say.
VALUE_COLUMNS: dict[str, Any] = {
    "n_tokens": 0, "repeated_share": None, "longest_repeat": None, "repeated_sentences": None,
    "truncation": None, "unbalanced_brackets": None, "markup": None,
}


class CaptionText:
    """One caption with the views every check needs, computed once: ``tokens`` (lower-case
    words), ``sents`` (the sentence texts, :func:`~caption_audit.quality.text.sentences`) and
    ``norm`` (the tokens joined by spaces); ``sentences`` (character spans) on demand."""

    __slots__ = ("text", "problem", "tokens", "sents", "letters", "_norm", "_spans")

    def __init__(self, text: str | None, problem: str | None | object = _UNKNOWN):
        self.text = text or ""
        self.problem = problem  # text_problem(text) when the caller has it, else _UNKNOWN
        self.tokens = words(self.text)
        self.sents = sentences(self.text)
        # has a letter: a word token that is not all digits (tokens are letters/digits only)
        self.letters = not all(map(str.isdigit, self.tokens))
        self._norm: str | None = None
        self._spans: list[tuple[int, int]] | None = None

    @classmethod
    def from_parts(cls, text: str, tokens: list[str], sents: list[str],
                   problem: str | None | object = _UNKNOWN) -> CaptionText:
        """A :class:`CaptionText` from views already computed (by :class:`CaptionBatch`):
        ``sents`` are the sentence texts."""
        c = cls.__new__(cls)
        c.text, c.problem, c.tokens, c.sents = text, problem, tokens, sents
        c.letters = not all(map(str.isdigit, tokens))
        c._norm = None
        c._spans = None
        return c

    @property
    def sentences(self) -> list[tuple[int, int]]:
        """Character spans of the sentences (:func:`~caption_audit.quality.text.sentence_spans`)."""
        if self._spans is None:
            self._spans = sentence_spans(self.text)
        return self._spans

    @property
    def norm(self) -> str:
        """:func:`caption_audit.quality.text.normalise` of the text."""
        if self._norm is None:
            self._norm = " ".join(self.tokens)
        return self._norm


@dataclass(slots=True)
class CheckOutcome:
    """What one check says about one caption: ``flag``, its numbers, and why (when flagged)."""

    flag: bool
    values: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(slots=True)
class QualityResult:
    """All per-caption checks on one caption.

    Attributes:
        flags: check name -> flagged.
        quality_issues: names of the flagged checks, in registry order (the Parquet list column).
        values: numeric columns (``repeated_share``, ``longest_repeat``, ``repeated_sentences``,
            ``n_tokens``, ``unbalanced_brackets``), ``markup`` (kind or None) and the reasons.
        reasons: check name -> reason, for the flagged checks.
    """

    flags: dict[str, bool]
    quality_issues: list[str]
    values: dict[str, Any]
    reasons: dict[str, str]


Check = Callable[[CaptionText], CheckOutcome]
_CLEAN = CheckOutcome(False)  # shared "nothing found" outcome (never mutated): fewer allocations
_CFG: dict[str, dict[str, Any]] = {}


def _cfg(section: str) -> dict[str, Any]:
    """``quality.yaml``'s ``section`` (read once)."""
    got = _CFG.get(section)
    if got is None:
        got = _CFG[section] = settings()[section]
    return got
QUALITY_CHECKS: Registry[Check] = Registry("quality check")


@QUALITY_CHECKS.register("empty")
def check_empty(c: CaptionText) -> CheckOutcome:
    """Rule: the caption has no letters after stripping white space and punctuation."""
    return CheckOutcome(True, {}, "empty after stripping") if not c.letters else _CLEAN


@QUALITY_CHECKS.register("non_english")
def check_non_english(c: CaptionText) -> CheckOutcome:
    """Rule: :func:`caption_audit.text.checks.text_problem` (the text stage's own test): most
    letters outside the Latin script, or >= 5 words and not one English function/vocabulary word.
    Empty captions are left to ``empty``."""
    problem = c.problem
    if problem is _UNKNOWN:
        from caption_audit.text.checks import text_problem

        problem = text_problem(c.text)
    if problem is not None and problem.startswith("non-English"):
        return CheckOutcome(True, {}, problem)
    return _CLEAN


def repeat_stats(tokens: list[str], n: int) -> tuple[float, int]:
    """Share of tokens inside a word n-gram that already occurred earlier in the caption, and
    the longest repeated span in tokens (a run of consecutive repeated n-grams, plus n-1).

    >>> repeat_stats("the cat sat on the mat the cat sat on the mat".split(), 4)
    (0.5, 6)
    """
    if len(tokens) < 64 and len(tokens) - len(set(tokens)) < n:
        # an n-gram that occurred earlier puts n tokens that occurred earlier in a row: with fewer
        # than n repeated words (or fewer than n tokens) there is none. Decided in C. (A long
        # caption always repeats words, "the", "a": the n-gram test below decides it.)
        return 0.0, 0
    grams = list(zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False) if n == 4
                 else zip(*(tokens[k:] for k in range(n)), strict=False))
    m = len(grams)
    if len(set(grams)) == m:
        return 0.0, 0  # no n-gram occurs twice (the common case), decided in C
    first = dict(zip(reversed(grams), range(m - 1, -1, -1), strict=True))  # first index of each
    repeated = list(map(operator.ne, map(first.__getitem__, grams), range(m)))  # C-level loops
    fill = [True] * n
    marked = [False] * len(tokens)
    run = best = 0
    for i, rep in enumerate(repeated):
        if rep:
            marked[i:i + n] = fill
            run += 1
            if run + n - 1 > best:
                best = run + n - 1
        else:
            run = 0
    return sum(marked) / len(tokens), best


def repetition_values(toks: list[str], sents: list[str],
                      stats: tuple[float, int] | None = None) -> tuple[float, int, int, str | None]:
    """The ``repetition`` rule on a caption's parts (words, sentence texts): ``(repeated_share``
    (rounded to 4 places), ``longest_repeat, repeated_sentences, reason)``; ``reason`` is None
    when not flagged. ``stats``: :func:`repeat_stats` of the words when the caller already knows
    it (:func:`check_captions` does for a caption in which no n-gram repeats)."""
    cfg = _CFG.get("repetition") or _cfg("repetition")
    n = cfg["ngram"]
    if len(toks) <= n:  # too short to hold a repeated n-gram (most COCO captions stop here fast)
        return 0.0, 0, 0, None
    if len(sents) <= cfg["repeated_sentences"] and len(toks) - len(set(toks)) < n:
        return 0.0, 0, 0, None  # no repeated n-gram possible (see repeat_stats), no sentence test
    return _repetition_verdict(len(toks), sents, repeat_stats(toks, n) if stats is None else stats)


def _repetition_verdict(n_tok: int, sents: list[str], stats: tuple[float, int]) -> tuple[float, int, int, str | None]:
    """:func:`repetition_values` from a caption's number of words and its :func:`repeat_stats`
    (the batch path: no word list). A caption of few sentences and fewer than n repeated words
    has ``stats == (0.0, 0)`` (a repeated n-gram repeats n words), so its early exit above gives
    the same values."""
    cfg = _CFG.get("repetition") or _cfg("repetition")
    if n_tok <= cfg["ngram"]:
        return 0.0, 0, 0, None
    share, longest = stats
    rep_sents = 0 if len(sents) <= cfg["repeated_sentences"] else _repeated_sentences(sents)
    reason = None
    if n_tok >= cfg["min_tokens"] and (longest or rep_sents):
        if longest >= cfg["span_abs"] or (longest >= cfg["span_min"] and longest >= cfg["span_frac"] * n_tok):
            reason = f"a {longest}-token span repeats ({longest / n_tok:.0%} of the caption)"
        elif share >= cfg["share"]:
            reason = f"{share:.0%} of tokens are in repeated 4-grams"
        elif rep_sents >= cfg["repeated_sentences"]:
            reason = f"{rep_sents} sentences repeat an earlier one"
    return round(share, 4), longest, rep_sents, reason


def _repeated_sentences(sents: list[str]) -> int:
    """Sentences of >= 3 words (>= 2 spaces) identical (case aside) to an earlier one."""
    keys = list(map(str.lower, sents))
    if len(set(keys)) == len(keys):
        return 0  # no sentence repeats (the common case), decided in C
    keys = [k for k in keys if k.count(" ") >= 2]
    seen: set[str] = set()
    rep = 0
    for key in keys:
        if key in seen:
            rep += 1
        seen.add(key)
    return rep


@QUALITY_CHECKS.register("repetition")
def check_repetition(c: CaptionText) -> CheckOutcome:
    """Rule (``quality.yaml`` ``repetition``, calibrated on OPERA): a caption of >= 12 tokens is a
    repetition loop when its longest repeated span (consecutive word 4-grams that occurred
    earlier) is >= 30 tokens, or >= 12 tokens and >= 25% of the caption; or when >= 50% of its
    tokens lie in repeated 4-grams; or when >= 2 sentences (of >= 3 words) repeat an earlier
    sentence word for word. Normal long LVLM captions repeat short phrases ("on the left side of
    the") — spans of <= 10 tokens, under 15% of the caption — and are not flagged."""
    share, longest, rep_sents, reason = repetition_values(c.tokens, c.sents)
    values = {"repeated_share": share, "longest_repeat": longest,
              "repeated_sentences": rep_sents, "n_tokens": len(c.tokens)}
    return CheckOutcome(reason is not None, values, reason)


def truncation(text: str, toks: list[str], sents: list[str]) -> tuple[str, str] | None:
    """The ``truncated`` rule on a caption's parts (text, words, sentence texts): ``(kind,
    reason)``, or None when the caption is not cut."""
    text = text.rstrip()
    if not text or not toks:
        return None
    cfg = _CFG.get("truncated") or _cfg("truncated")
    body = text.rstrip(cfg["closing"])
    if body and body[-1] in cfg["terminal"]:
        return None
    last = toks[-1]
    if body and body[-1] in ",;:-–—(":
        return "punctuation", f"ends with {body[-1]!r}"
    if last in _dangling():
        return "dangling", f"ends mid-sentence on {last!r}"
    if len(sents) > 1:
        # a last sentence without a full stop that is shorter than every earlier sentence: cut
        # at a length limit. As long as one of them, it is usually complete (InstructBLIP greedy
        # leaves out the final full stop of complete 10-30-word sentences; docs/quality.md)
        n_last = len(sents[-1].split())
        if all(n_last < len(s.split()) for s in sents[:-1]):
            return "no_end_punct", "last sentence has no end punctuation"
    return None


@QUALITY_CHECKS.register("truncated")
def check_truncated(c: CaptionText) -> CheckOutcome:
    """Rule: the caption does not end in terminal punctuation (. ! ? …, optionally followed by a
    closing quote/bracket) and either it ends on a word that cannot end an English sentence
    (``the``, ``and``, ``of``, ... in ``quality.yaml``) or on a comma/colon/semicolon/hyphen, or
    another of its sentences ends in punctuation (so the source writes full stops) and the last
    sentence has fewer words than every earlier one. A one-sentence caption without a full stop
    that ends on a noun ("A man riding a wave") is COCO style, not truncation."""
    cut = truncation(c.text, c.tokens, c.sents)
    if cut is None:
        return _CLEAN
    return CheckOutcome(True, {"truncation": cut[0]}, cut[1])


def _dangling() -> frozenset[str]:
    global _DANGLING
    if _DANGLING is None:
        _DANGLING = frozenset(settings()["truncated"]["dangling_words"])
    return _DANGLING


_DANGLING: frozenset[str] | None = None

# (kind, pattern, substrings of which at least one must occur for the pattern to match: a cheap
# prefilter so that a plain caption runs no regular expression at all)
_MARKUP = [
    ("html", re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|&(?:amp|lt|gt|quot|nbsp|#\d+);"), ("<", "&")),
    ("code fence", re.compile(r"```|~~~"), ("```", "~~~")),
    ("json", re.compile(r"[{\[]\s*\"[^\"]{1,40}\"\s*:"), ('{"', '["', "{ ", "[ ", "{\n", "[\n")),
    ("url", re.compile(r"\bhttps?://|\bwww\.[a-z0-9-]+\.", re.IGNORECASE), ("http", "www.", "WWW.", "HTTP")),
    ("markdown", re.compile(r"(?m)^\s{0,3}#{1,6}\s|\*\*[^*\n]+\*\*|^\s*[-*]\s+\S.*\n\s*[-*]\s+\S"),
     ("#", "**", "\n-", "\n*", "\n -", "\n *")),
    ("special token", re.compile(r"<\|[a-z_]+\|>|\[/?INST\]|</s>|<s>|<image>|<unk>", re.IGNORECASE), ("<", "[")),
]
# every hint above except the url and "\n-" ones starts with one of these characters
_TRIGGERS = frozenset("<&`~{[#*")
_PAIRS = {")": "(", "]": "[", "}": "{"}
_BRACKETS = re.compile(r"[()\[\]{}]")
_GARBAGE_CLEAN = CheckOutcome(False, {"unbalanced_brackets": 0, "markup": None})
# List markers "1)", "a)" open no bracket; they are removed before counting.
_ENUM = re.compile(r"(?:(?<=\s)|^)(?:\d{1,2}|[a-zA-Z])\)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def unbalanced_brackets(text: str) -> int:
    """Number of unmatched ( ) [ ] { } in ``text``.

    >>> unbalanced_brackets("a dog (brown [small)")
    1
    """
    stack: list[str] = []
    bad = 0
    for ch in _BRACKETS.findall(text):  # the brackets only, in order
        if ch in "([{":
            stack.append(ch)
        elif ch in _PAIRS:
            if stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
            elif _PAIRS[ch] in stack:  # close an outer one, the inner ones are unmatched
                while stack[-1] != _PAIRS[ch]:
                    stack.pop()
                    bad += 1
                stack.pop()
            else:
                bad += 1
    return bad + len(stack)


@QUALITY_CHECKS.register("garbage")
def check_garbage(c: CaptionText) -> CheckOutcome:
    """Rule: the caption holds markup or code — an HTML tag or entity, a ``` fence, a JSON key
    (``{"key":``), a URL, Markdown headings/bold/bullet lists, a chat-template special token —
    control characters (U+0000-U+001F but tab/newline, U+FFFD), or an unmatched bracket
    ( ) [ ] { } (list markers such as ``1)`` and ``a)`` excepted). Only ASCII brackets count; a caption that was cut
    inside a parenthesis is flagged here and as ``truncated``."""
    return _garbage(c.text)


def _garbage(t: str) -> CheckOutcome:
    kinds: list[str] = []
    chars = set(t)
    if not chars.isdisjoint(_TRIGGERS) or "http" in t or "www." in t or "\n-" in t or "\n -" in t:
        for name, rx, hints in _MARKUP:
            if any(h in t for h in hints) and rx.search(t):
                kinds.append(name)
    if not t.isprintable() and _CONTROL.search(t):
        kinds.append("control characters")
    bad = 0
    if not chars.isdisjoint("()[]{}"):
        bad = unbalanced_brackets(_ENUM.sub(" ", t))
    if not kinds and not bad:
        return _GARBAGE_CLEAN
    values = {"unbalanced_brackets": bad, "markup": ",".join(kinds) or None}
    parts = ([f"markup: {', '.join(kinds)}"] if kinds else []) + ([f"{bad} unmatched bracket(s)"] if bad else [])
    return CheckOutcome(bool(parts), values, "; ".join(parts) or None)


def check_caption(text: str | CaptionText | None, checks: list[str] | None = None,
                  problem: str | None | object = _UNKNOWN) -> QualityResult:
    """Run the per-caption quality checks (all registered ones, or ``checks``) on one caption.

    ``text`` may be a :class:`CaptionText`, to share its tokens and sentences with
    :meth:`caption_audit.quality.corpus.CorpusAccumulator.add`. ``problem``: the text stage's
    :func:`caption_audit.text.checks.text_problem` for this text when the caller already has it
    (the batch scorer does), so it is not computed twice.

    >>> check_caption("The image features a dog sitting on the").quality_issues
    ['truncated']
    >>> check_caption("A man riding a wave on top of a surfboard").quality_issues
    []
    """
    if isinstance(text, CaptionText):
        c = text
        if problem is not _UNKNOWN:
            c.problem = problem
    else:
        c = CaptionText(text, problem)
    values: dict[str, Any] = dict(VALUE_COLUMNS)
    reasons: dict[str, str] = {}
    if checks is None:
        flags = dict.fromkeys(_ALL, False)
        pairs = _PAIRS_ALL if c.letters else _PAIRS_EMPTY  # empty caption: only ``empty`` means anything
    else:
        flags = dict.fromkeys(checks, False)
        pairs = [(n, _FUNCS.get(n) or QUALITY_CHECKS.get(n)) for n in checks if c.letters or n == "empty"]
    for name, fn in pairs:
        out = fn(c)
        if out.values:
            values.update(out.values)
        if out.flag:
            flags[name] = True
            if out.reason:
                reasons[name] = out.reason
    issues = [n for n in flags if flags[n]]
    return QualityResult(flags, issues, values, reasons)


_ALL = QUALITY_CHECKS.names()
_FUNCS = {n: QUALITY_CHECKS.get(n) for n in _ALL}
_PAIRS_ALL = [(n, _FUNCS[n]) for n in _ALL]
_PAIRS_EMPTY = [(n, f) for n, f in _PAIRS_ALL if n == "empty"]
# what check_captions inlines, in registry order (the order of ``quality_issues``)
_BATCH_CHECKS = ["empty", "garbage", "non_english", "repetition", "truncated"]


# -- many captions at once (the batch scorer, the benchmark) --------------------------------

# A caption without any of these runs no ``garbage`` rule: they are the rule's own prefilter
# (markup triggers, "http", "www.", a "-" bullet, brackets) plus its control characters.
_GARBAGE_SUSPECT_CHARS = re.compile(r"[<&`~{}\[\]#*()\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_GARBAGE_SUSPECT_WORDS = ("http", "www.", "\n-", "\n -")


_GARBAGE_SUSPECT_WORDS_ASCII = tuple(w.encode("ascii") for w in _GARBAGE_SUSPECT_WORDS)
# the ASCII trigger characters as a byte translation: trigger byte -> 1, any other -> 0
_GARBAGE_MASK = bytes(int(b < 128 and _GARBAGE_SUSPECT_CHARS.match(chr(b)) is not None) for b in range(256))


def _garbage_suspects(texts: list[str]) -> set[int]:
    """Indices of the texts that hold a trigger of the ``garbage`` rule (a superset of the
    texts it can flag): the texts joined by spaces, as ASCII bytes (a non-ASCII character becomes
    one ``?``, so byte offsets are character offsets), the trigger characters found by one byte
    translation and a search for its 1s, the trigger words (and U+FFFD, the one non-ASCII
    trigger) by ``find``; each hit is mapped to its text by the texts' offsets."""
    import bisect

    if not texts:
        return set()
    joined_s = " ".join(texts)
    joined = joined_s.encode("ascii", "replace")
    hits: list[int] = []
    marks = joined.translate(_GARBAGE_MASK)
    find = marks.find
    k = find(1)
    while k >= 0:
        hits.append(k)
        k = find(1, k + 1)
    newline = b"\n" in joined  # memchr: the words that start with one are rarely searched
    for w, find in (*((w, joined.find) for w in _GARBAGE_SUSPECT_WORDS_ASCII if newline or w[:1] != b"\n"),
                    ("\ufffd", joined_s.find)):
        k = find(w)
        while k >= 0:
            hits.append(k)
            k = find(w, k + 1)
    if not hits:
        return set()
    # start of each text in ``joined`` (C-level running sum of the lengths + separators)
    offsets = [0, *itertools.accumulate(map(operator.add, map(len, texts[:-1]), itertools.repeat(1)))]
    return {bisect.bisect_right(offsets, k) - 1 for k in hits}


def _repeat_stats_many(b: CaptionBatch, idx: list[int], n: int) -> dict[int, tuple[float, int]]:
    """:func:`repeat_stats` of the captions ``idx`` of ``b`` (each longer than ``n`` words),
    for those in which a word n-gram does repeat; every other caption of ``idx`` has
    ``(0.0, 0)``. Identical to :func:`repeat_stats` caption by caption, without its Python work
    per n-gram: one numpy pass over the batch's word hashes (:attr:`CaptionBatch.word_crc`)
    gives each n-gram a key that equal n-grams share (a mix of its words' crc32s) and finds,
    per caption, the n-grams whose key occurred earlier in the caption and where it first
    occurred; only those few are compared word for word (a hash collision sends the caption to
    :func:`repeat_stats`), and the share and longest span are counted from them."""
    import numpy as np

    if not idx:
        return {}
    tokens = b.tokens
    counts = b.words.counts
    c = _crc_of(b, idx)
    lens_i = counts[idx]
    starts = np.zeros(len(idx), dtype=np.int64)
    np.cumsum(lens_i[:-1], out=starts[1:])
    m = c.size - n + 1
    if m < 2:
        return {}
    owner = np.repeat(np.arange(len(idx), dtype=np.int64), lens_i)  # position in ``idx``
    with np.errstate(over="ignore"):
        key = c[:m] * np.uint64(0x9E3779B97F4A7C15)
        for k in range(1, n):
            key ^= (c[k:m + k] + np.uint64(k)) * _MULT[k % len(_MULT)]
            key ^= key >> np.uint64(29)
    # the caption's index in the low bits: equal keys only within one caption
    bits = np.uint64(max(1, len(idx).bit_length()))
    key = ((key >> bits) << bits) | owner[:m].astype(np.uint64)
    inside = np.flatnonzero(owner[:m] == owner[n - 1:])  # n-grams inside one caption only
    # only the n-grams whose key's bucket holds another key can repeat (a bucket per 4-8 keys,
    # by the key's top bits): those few are sorted, not all
    kin = key[inside]
    bits = np.uint64(max(10, (4 * kin.size).bit_length()))
    bucket = (kin >> (np.uint64(64) - bits)).astype(np.intp)
    inside = inside[np.bincount(bucket, minlength=1 << int(bits))[bucket] > 1]
    order = np.argsort(key[inside])
    srt = key[inside[order]]
    twice = srt[1:] == srt[:-1]
    if not twice.any():
        return {}
    # the few n-grams whose key occurs twice, in word order; then grouped by key (a stable
    # sort keeps each group in word order)
    member = np.zeros(srt.size, dtype=bool)
    member[1:] = twice
    member[:-1] |= twice
    pos = np.sort(inside[order[member]])
    ks = key[pos]
    order = np.argsort(ks, kind="stable")
    pos, ks = pos[order], ks[order]
    same = np.zeros(pos.size, dtype=bool)
    same[1:] = ks[1:] == ks[:-1]
    # the first n-gram of each group (where its key first occurs in the caption)
    first = pos[np.maximum.accumulate(np.where(same, 0, np.arange(pos.size)))]
    rep, first = pos[same], first[same]
    by_word = np.argsort(rep, kind="stable")  # caption after caption, in word order
    rep, first = rep[by_word], first[by_word]
    rep_owner = owner[rep]
    out: dict[int, tuple[float, int]] = {}
    edges = [0, *(np.flatnonzero(np.diff(rep_owner)) + 1).tolist(), rep.size]
    owners = rep_owner.tolist()
    rel_rep = (rep - starts[rep_owner]).tolist()  # word positions inside the caption
    # the word-for-word test on the batch's normal forms: n words and the single spaces between
    # them are one byte span of the buffer (words hold no space), so equal spans = equal n-grams
    w = b.words
    shift = w.first[np.asarray(idx, dtype=np.int64)] - starts  # selection position -> word index
    g_rep, g_first = rep + shift[rep_owner], first + shift[rep_owner]
    buf = w.buf
    spans = zip(w.starts[g_rep].tolist(), w.ends[g_rep + n - 1].tolist(),
                w.starts[g_first].tolist(), w.ends[g_first + n - 1].tolist(), strict=True)
    same_text = [buf[a:z] == buf[c:e] for a, z, c, e in spans]
    for a, z in itertools.pairwise(edges):
        i = idx[owners[a]]
        ps = rel_rep[a:z]
        if not all(same_text[a:z]):
            exact = repeat_stats(tokens[i], n)  # a hash collision: the exact test decides
            if exact != (0.0, 0):
                out[i] = exact
            continue
        # the repeated n-grams in word order: tokens they cover, longest run of consecutive ones
        covered, end, run, best, prev = 0, 0, 0, 0, -2
        for p in ps:
            covered += p + n - max(end, p)
            end = p + n
            run = run + 1 if p == prev + 1 else 1
            best = max(best, run)
            prev = p
        out[i] = (covered / int(counts[i]), best + n - 1)
    return out


def _maybe_repeated_sentences(sents: list[list[str]], idx: list[int]) -> set[int]:
    """The captions among ``idx`` in which a sentence may repeat case aside (a superset of those
    where :func:`_repeated_sentences` finds one): one hash per lower-cased sentence, sorted
    with its caption's index in numpy; a caption none of whose hashes occurs twice has no
    repeated sentence. Hash collisions only add captions."""
    import numpy as np

    if not idx:
        return set()
    per = list(map(sents.__getitem__, idx))
    counts = np.fromiter(map(len, per), dtype=np.int64, count=len(per))
    flat = itertools.chain.from_iterable(per)
    h = np.fromiter(map(hash, map(str.lower, flat)), dtype=np.int64, count=int(counts.sum()))
    owner = np.repeat(np.arange(len(idx), dtype=np.int64), counts)
    order = np.lexsort((h, owner))
    h, owner = h[order], owner[order]
    dup = (h[1:] == h[:-1]) & (owner[1:] == owner[:-1])
    return set(map(idx.__getitem__, np.unique(owner[1:][dup]).tolist()))


def _crc_of(b: CaptionBatch, idx: Any) -> Any:
    """The crc32s of the words of the captions ``idx`` of ``b`` (ascending), caption after
    caption, as uint64."""
    import numpy as np

    sel = np.zeros(len(b), dtype=bool)
    sel[idx] = True
    return b.word_crc[np.repeat(sel, b.words.counts)].astype(np.uint64)


def _last_word(norm: str) -> str:
    """The last word of a normal form (words joined by single spaces)."""
    return norm[norm.rfind(" ") + 1:]


def _repeated_words_at_least(b: CaptionBatch, idx: Any, k: int) -> Any:
    """For the captions ``idx`` of ``b`` (a numpy index array), whether they may hold at least
    ``k`` repeated word occurrences (``len(tokens) - len(set(tokens)) >= k``), with distinct
    words told apart by their crc32 (one sort of caption x crc32 keys, no set per caption):
    two different words of one caption with one crc32 count as one, so a caption is only ever
    marked in excess (rarely), never missed."""
    import numpy as np

    if not idx.size:
        return np.zeros(0, dtype=bool)
    counts = b.words.counts
    key = _crc_of(b, idx)
    key |= np.repeat(np.arange(idx.size, dtype=np.uint64), counts[idx]) << np.uint64(32)
    key.sort()
    new = np.ones(key.size, dtype=bool)
    new[1:] = key[1:] != key[:-1]
    distinct = np.bincount((key[new] >> np.uint64(32)).astype(np.intp), minlength=idx.size)
    return counts[idx] - distinct >= k


_MULT = [0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93, 0xC2B2AE3D27D4EB4F]
_MAYBE_MIN = 64  # fewer candidate captions in a batch: repeat_stats on each is cheaper


class CaptionBatch:
    """Many captions with the views of :class:`CaptionText` computed once, column-wise
    (``texts``; ``words``: their :class:`~caption_audit.quality.text.Words`, i.e. the tokens
    without a Python string per token, ``tokens[i]`` built on demand; ``sents`` = sentence
    texts; ``norms`` and ``sentences`` = character spans on demand): shared by
    :func:`check_captions` and
    :meth:`caption_audit.quality.corpus.CorpusAccumulator.add_batch`. ``batch[i]`` is the
    :class:`CaptionText` of caption ``i``."""

    __slots__ = ("texts", "problems", "words", "sents", "_spans")

    def __init__(self, texts: list[str | None], problems: list[str | None] | None = None):
        self.texts = [t or "" for t in texts]
        self.problems = problems  # text_problem(text) per caption when the caller has them
        with gc_paused():
            self.words = Words.of_texts(self.texts)
            self.sents = list(map(sentences, self.texts))
        self._spans: list[list[tuple[int, int]]] | None = None

    @classmethod
    def from_parts(cls, texts: list[str], words: Words, sents: list[list[str]],
                   problems: list[str | None] | None = None) -> CaptionBatch:
        """A batch from views already computed (nothing is tokenised again)."""
        b = cls.__new__(cls)
        b.texts, b.problems, b.words, b.sents, b._spans = texts, problems, words, sents, None
        return b

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> CaptionText:
        problem = _UNKNOWN if self.problems is None else self.problems[i]
        return CaptionText.from_parts(self.texts[i], self.words[i], self.sents[i], problem)

    def subset(self, idx: list[int]) -> CaptionBatch:
        """The captions ``idx`` (in that order) as a batch, sharing this batch's normal forms
        and sentence lists (nothing is tokenised again)."""
        b = CaptionBatch.from_parts([self.texts[i] for i in idx], self.words.subset(idx),
                                    [self.sents[i] for i in idx],
                                    None if self.problems is None else [self.problems[i] for i in idx])
        b._spans = None if self._spans is None else [self._spans[i] for i in idx]
        return b

    @property
    def tokens(self) -> Words:
        """The tokens of each caption: ``tokens[i]`` is caption ``i``'s word list (built on demand)."""
        return self.words

    @property
    def sentences(self) -> list[list[tuple[int, int]]]:
        """:func:`~caption_audit.quality.text.sentence_spans` of each text."""
        if self._spans is None:
            self._spans = list(map(sentence_spans, self.texts))
        return self._spans

    @property
    def norms(self) -> list[str]:
        """:func:`caption_audit.quality.text.normalise` of each text."""
        return self.words.norms

    @property
    def word_crc(self) -> Any:
        """:func:`~caption_audit.quality.text.word_crc32` of all tokens, caption after caption
        (a uint32 numpy array): a stable word hash, shared by the repetition filter of
        :func:`check_captions` and the MinHash sketches of the corpus pass."""
        return self.words.crc32()


@dataclass(slots=True)
class QualityColumns:
    """:func:`check_captions`'s result, column-wise: ``flags`` (check -> one bool per caption),
    ``quality_issues`` and ``reasons`` (one list/dict per caption), ``values`` (column of
    :data:`VALUE_COLUMNS` -> one value per caption). ``cols[i]`` is caption ``i``'s
    :class:`QualityResult`, equal to ``check_caption`` on it. Read-only: the clean captions
    share one empty ``quality_issues`` list and one empty ``reasons`` dict (no allocation, and
    nothing for the garbage collector to track, per clean caption)."""

    flags: dict[str, list[bool]]
    quality_issues: list[list[str]]
    values: dict[str, list[Any]]
    reasons: list[dict[str, str]]

    def __len__(self) -> int:
        return len(self.quality_issues)

    def __getitem__(self, i: int) -> QualityResult:
        return QualityResult({k: v[i] for k, v in self.flags.items()}, self.quality_issues[i],
                             {k: v[i] for k, v in self.values.items()}, self.reasons[i])


def check_batch(texts: list[str | None], problems: list[str | None] | None, *, corpus: Any = None,
                sources: list[str] | None = None, image_ids: list[str] | None = None,
                caption_ids: list[str] | None = None) -> QualityColumns:
    """The quality checks of one scoring batch, as the batch scorer runs them:
    :func:`check_captions` on every text, and, with ``corpus`` (a
    :class:`~caption_audit.quality.corpus.CorpusAccumulator`), the captions that are scored
    (``problems[i] is None``; every caption when ``problems`` is None) added to it in order, from
    the same tokenisation (``sources``,
    ``image_ids``, ``caption_ids``: one per text). The batch's word and sentence lists are built and
    dropped while the garbage collector is paused, so they never trigger a collection.

    >>> from caption_audit.quality.corpus import CorpusAccumulator
    >>> acc = CorpusAccumulator()
    >>> cols = check_batch(["A dog on a sofa.", ""], [None, "empty caption"], corpus=acc,
    ...                    sources=["s", "s"], image_ids=["1", "2"], caption_ids=["a", "b"])
    >>> cols.quality_issues, len(acc.finish().captions)
    ([[], ['empty']], 1)
    """
    if corpus is not None and (sources is None or image_ids is None or caption_ids is None):
        raise ValueError("check_batch: a corpus needs sources, image_ids and caption_ids")

    def run(b: CaptionBatch) -> QualityColumns:
        cols = _check_captions(b, problems)
        if corpus is not None:
            keep = list(range(len(b))) if problems is None else [i for i, p in enumerate(problems) if p is None]
            if keep:
                corpus.add_batch([sources[i] for i in keep], [image_ids[i] for i in keep],
                                 [caption_ids[i] for i in keep], b if len(keep) == len(b) else b.subset(keep))
        return cols

    return with_batch(texts, run, problems)


_T = TypeVar("_T")


def with_batch(texts: list[str | None] | CaptionBatch, fn: Callable[[CaptionBatch], _T],
               problems: list[str | None] | None = None) -> _T:
    """``fn(batch)``, ``batch`` being ``texts`` as a :class:`CaptionBatch` (``texts`` itself when
    it is one), with the garbage collector paused while the batch is built, used and dropped: its
    many small lists (words, sentences) are freed before a collection could scan them. ``fn``
    must not keep the batch."""
    with gc_paused():
        b = texts if isinstance(texts, CaptionBatch) else CaptionBatch(list(texts), problems)
        try:
            return fn(b)
        finally:
            del b


def check_captions(texts: list[str | None] | CaptionBatch,
                   problems: list[str | None] | None = None) -> QualityColumns:
    """All per-caption checks on many captions; caption ``i`` of the result equals
    ``check_caption(texts[i], problem=problems[i])`` (same rules, same order), at a fraction of
    the cost: tokens by :class:`~caption_audit.quality.text.Words`, the ``garbage`` rule only
    on captions that hold one of its trigger characters (one regular-expression scan of the whole
    batch), no per-check objects for a clean caption. ``problems``: the text stage's
    :func:`caption_audit.text.checks.text_problem` per caption when the caller has them.

    >>> cols = check_captions(["A dog on a sofa", "A cat on the", ""])
    >>> cols.quality_issues
    [[], ['truncated'], ['empty']]
    >>> cols[1].values["truncation"]
    'dangling'
    """
    with gc_paused():
        return _check_captions(texts, problems)


def _check_captions(texts: list[str | None] | CaptionBatch, problems: list[str | None] | None) -> QualityColumns:
    b = texts if isinstance(texts, CaptionBatch) else CaptionBatch(texts, problems)
    if problems is None:
        problems = b.problems
    n = len(b)
    if list(_ALL) != _BATCH_CHECKS:  # a check registered later: the general path
        rs = [check_caption(b[i]) for i in range(n)]
        return QualityColumns({k: [r.flags[k] for r in rs] for k in _ALL}, [r.quality_issues for r in rs],
                              {k: [r.values[k] for r in rs] for k in VALUE_COLUMNS}, [r.reasons for r in rs])
    import numpy as np

    txts, tokens, sentences = b.texts, b.tokens, b.sents
    norms, counts = b.words.norms, b.words.counts
    # column by column: each rule finds the captions it can flag (most pass its cheap test in
    # one C-level pass over the batch), then runs on those; issues and reasons in registry order
    f_empty, f_non, f_rep, f_trunc, f_garb = ([False] * n for _ in range(5))
    v_ntok: list[Any] = counts.tolist()
    v_share: list[Any] = [0.0] * n
    v_long: list[Any] = [0] * n
    v_rsent: list[Any] = [0] * n
    v_trunc: list[Any] = [None] * n
    v_unbal: list[Any] = [0] * n
    v_markup: list[Any] = [None] * n
    # a clean caption shares one empty list / dict (read-only, see QualityColumns); a flagged
    # one gets its own, filled by ``flag`` in the order the rules run (registry order)
    issues: list[list[str]] = [_NO_ISSUES] * n
    reasons: list[dict[str, str]] = [_NO_REASONS] * n

    def flag(i: int, name: str, reason: str | None) -> None:
        if issues[i] is _NO_ISSUES:
            issues[i], reasons[i] = [name], {}
        else:
            issues[i].append(name)
        if reason is not None:
            reasons[i][name] = reason

    isdigit = str.isdigit
    # no letters (no word, or digits only): only ``empty`` runs, through check_caption (rare)
    # (a normal form is words and single spaces: digits only when it is all digits but spaces)
    blank = [i for i, t in enumerate(norms) if not t or (isdigit(t[0]) and isdigit(t.replace(" ", "")))]
    for i in blank:
        r = check_caption(CaptionText.from_parts(txts[i], tokens[i], sentences[i],
                                                 _UNKNOWN if problems is None else problems[i]))
        for name, col in (("empty", f_empty), ("non_english", f_non), ("repetition", f_rep),
                          ("truncated", f_trunc), ("garbage", f_garb)):
            col[i] = r.flags[name]
        v = r.values
        v_ntok[i], v_share[i], v_long[i], v_rsent[i] = (v["n_tokens"], v["repeated_share"],
                                                        v["longest_repeat"], v["repeated_sentences"])
        v_trunc[i], v_unbal[i], v_markup[i] = v["truncation"], v["unbalanced_brackets"], v["markup"]
        if r.quality_issues:
            issues[i], reasons[i] = r.quality_issues, r.reasons
    skip = set(blank)
    for i in sorted(_garbage_suspects(txts) - skip):  # the captions the garbage rule can flag
        out = _garbage(txts[i])
        v_unbal[i], v_markup[i] = out.values["unbalanced_brackets"], out.values["markup"]
        if out.flag:
            f_garb[i] = True
            flag(i, "garbage", out.reason or None)
    if problems is None:
        from caption_audit.text.checks import text_problem

        problems = [None if i in skip else text_problem(t) for i, t in enumerate(txts)]
    for i in itertools.compress(range(n), map(operator.is_not, problems, itertools.repeat(None))):
        problem = problems[i]
        if i not in skip and problem.startswith("non-English"):
            f_non[i] = True
            flag(i, "non_english", problem)
    rep_cfg = _cfg("repetition")
    ngram, max_rsent = rep_cfg["ngram"], rep_cfg["repeated_sentences"]
    # repetition_values' own fast paths: <= n tokens, or few sentences and < n repeated words
    n_tok = counts
    n_sent = np.fromiter(map(len, sentences), dtype=np.int64, count=n)
    maybe = n_tok > ngram
    few = np.flatnonzero(maybe & (n_sent <= max_rsent))
    maybe[few] = _repeated_words_at_least(b, few, ngram)
    if skip:
        maybe[list(skip)] = False
    cand = np.flatnonzero(maybe).tolist()
    stats: dict[int, tuple[float, int]] | None = None
    if len(cand) >= _MAYBE_MIN:
        # many long captions: the numpy passes give each one's repeat_stats and find the few
        # whose sentences can repeat; the others keep (0.0, 0, 0) without running the rule
        stats = _repeat_stats_many(b, cand, ngram)
        rsent = _maybe_repeated_sentences(sentences, [i for i in cand if n_sent[i] > max_rsent])
        cand = sorted(rsent.union(stats))
    for i in cand:
        share, longest, rsent_i, reason = (
            repetition_values(tokens[i], sentences[i]) if stats is None
            else _repetition_verdict(v_ntok[i], sentences[i], stats.get(i, (0.0, 0))))
        v_share[i], v_long[i], v_rsent[i] = share, longest, rsent_i
        if reason is not None:
            f_rep[i] = True
            flag(i, "repetition", reason)
    # truncation's first test: a caption ending in terminal punctuation is not cut
    terminal = frozenset(_cfg("truncated")["terminal"]) - frozenset(_cfg("truncated")["closing"])
    dangling = _dangling()
    last = list(map(operator.itemgetter(slice(-1, None)), map(str.rstrip, txts)))  # "" when blank
    open_end = ~np.fromiter(map(terminal.__contains__, last), dtype=bool, count=n)
    if skip:
        open_end[list(skip)] = False  # (every blank caption: no words)
    at = np.flatnonzero(open_end)
    ats = at.tolist()
    # one sentence ending on a letter/digit (no punctuation to strip or test) whose last word
    # can end a sentence: ``truncation`` has nothing to say (COCO style, most of them)
    plain = ((n_sent[at] <= 1)
             & np.fromiter(map(str.isalnum, map(last.__getitem__, ats)), dtype=bool, count=at.size)
             & ~np.fromiter(map(dangling.__contains__, map(_last_word, map(norms.__getitem__, ats))),
                            dtype=bool, count=at.size))
    for i in at[~plain].tolist():
        cut = truncation(txts[i], tokens[i], sentences[i])
        if cut is not None:
            f_trunc[i] = True
            v_trunc[i] = cut[0]
            flag(i, "truncated", cut[1])
    flags = {"empty": f_empty, "non_english": f_non, "repetition": f_rep, "truncated": f_trunc, "garbage": f_garb}
    values = {"n_tokens": v_ntok, "repeated_share": v_share, "longest_repeat": v_long,
              "repeated_sentences": v_rsent, "truncation": v_trunc, "unbalanced_brackets": v_unbal,
              "markup": v_markup}
    return QualityColumns({name: flags[name] for name in _ALL}, issues, values, reasons)
