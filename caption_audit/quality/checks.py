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

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from caption_audit.quality.text import sentence_spans, settings, words
from caption_audit.registry import Registry

_UNKNOWN = object()

#: The numeric/text columns of :class:`QualityResult.values`, with their value when a check
#: did not run (empty caption) or had nothing to say.
VALUE_COLUMNS: dict[str, Any] = {
    "n_tokens": 0, "repeated_share": None, "longest_repeat": None, "repeated_sentences": None,
    "truncation": None, "unbalanced_brackets": None, "markup": None,
}


class CaptionText:
    """One caption with the views every check needs, computed once: ``tokens`` (lower-case
    words), ``sentences`` (character spans) and ``norm`` (the tokens joined by spaces)."""

    __slots__ = ("text", "problem", "tokens", "sentences", "letters", "_norm")

    def __init__(self, text: str | None, problem: str | None | object = _UNKNOWN):
        self.text = text or ""
        self.problem = problem  # text_problem(text) when the caller has it, else _UNKNOWN
        self.tokens = words(self.text)
        self.sentences = sentence_spans(self.text)
        # has a letter: a word token that is not all digits (tokens are letters/digits only)
        self.letters = not all(map(str.isdigit, self.tokens))
        self._norm: str | None = None

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
    if len(tokens) < n or len(set(tokens)) == len(tokens):
        return 0.0, 0  # too short, or no word occurs twice (so no n-gram can): decided in C
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


@QUALITY_CHECKS.register("repetition")
def check_repetition(c: CaptionText) -> CheckOutcome:
    """Rule (``quality.yaml`` ``repetition``, calibrated on OPERA): a caption of >= 12 tokens is a
    repetition loop when its longest repeated span (consecutive word 4-grams that occurred
    earlier) is >= 30 tokens, or >= 12 tokens and >= 25% of the caption; or when >= 50% of its
    tokens lie in repeated 4-grams; or when >= 2 sentences (of >= 3 words) repeat an earlier
    sentence word for word. Normal long LVLM captions repeat short phrases ("on the left side of
    the") — spans of <= 10 tokens, under 15% of the caption — and are not flagged."""
    cfg = _cfg("repetition")
    toks = c.tokens
    n = cfg["ngram"]
    if len(toks) <= n:  # too short to hold a repeated n-gram (most COCO captions stop here fast)
        return CheckOutcome(False, {"repeated_share": 0.0, "longest_repeat": 0,
                                    "repeated_sentences": 0, "n_tokens": len(toks)})
    share, longest = repeat_stats(toks, n)
    seen: set[str] = set()
    rep_sents = 0
    for s, e in (c.sentences if len(c.sentences) > cfg["repeated_sentences"] else ()):
        key = c.text[s:e].lower()
        if key.count(" ") >= 2:
            if key in seen:
                rep_sents += 1
            seen.add(key)
    values = {"repeated_share": round(share, 4), "longest_repeat": longest,
              "repeated_sentences": rep_sents, "n_tokens": len(toks)}
    reason = None
    if len(toks) >= cfg["min_tokens"] and (longest or rep_sents):
        if longest >= cfg["span_abs"] or (longest >= cfg["span_min"] and longest >= cfg["span_frac"] * len(toks)):
            reason = f"a {longest}-token span repeats ({longest / len(toks):.0%} of the caption)"
        elif share >= cfg["share"]:
            reason = f"{share:.0%} of tokens are in repeated 4-grams"
        elif rep_sents >= cfg["repeated_sentences"]:
            reason = f"{rep_sents} sentences repeat an earlier one"
    return CheckOutcome(reason is not None, values, reason)


@QUALITY_CHECKS.register("truncated")
def check_truncated(c: CaptionText) -> CheckOutcome:
    """Rule: the caption does not end in terminal punctuation (. ! ? …, optionally followed by a
    closing quote/bracket) and either another of its sentences does (so the source writes full
    stops), or it ends on a word that cannot end an English sentence (``the``, ``and``, ``of``,
    ... in ``quality.yaml``) or on a comma/colon/semicolon/hyphen. A one-sentence caption without
    a full stop that ends on a noun ("A man riding a wave") is COCO style, not truncation."""
    cfg = _cfg("truncated")
    text = c.text.rstrip()
    if not text or not c.tokens:
        return _CLEAN
    body = text.rstrip(cfg["closing"])
    if body and body[-1] in cfg["terminal"]:
        return _CLEAN
    last = c.tokens[-1]
    if body and body[-1] in ",;:-–—(":
        return CheckOutcome(True, {"truncation": "punctuation"}, f"ends with {body[-1]!r}")
    if last in _dangling():
        return CheckOutcome(True, {"truncation": "dangling"}, f"ends mid-sentence on {last!r}")
    if len(c.sentences) > 1:
        return CheckOutcome(True, {"truncation": "no_end_punct"}, "last sentence has no end punctuation")
    return _CLEAN


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
    for ch in text:
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
    t = c.text
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
