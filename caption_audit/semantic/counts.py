"""Count checks: does "two dogs" / "several people" match the image's COCO instance count?

Stated quantities come from :attr:`Mention.count` (the parser sets it for explicit numbers:
"two dogs" = 2, "a pair of" = 2) or from :func:`quantity_of`, which reads the words just before
the mention (no parser change needed). Vague quantities are checked against inclusive ranges
(:data:`VAGUE_RANGES`, documented in docs/semantic.md):

=================================================  ============
quantity                                           true count
=================================================  ============
a couple of, a pair of, pair of, both, twin        2 (exact numbers: ``Mention.count``)
a few, few                                         2-4
several                                            3-7
a group of, a herd of, a flock of, a crowd of, ...  >= 3
many, numerous, lots of, a lot of, a bunch of, ...  >= 4
multiple, various, a number of, a variety of, ...   >= 2
dozens of                                          >= 20
=================================================  ============

"a"/"an"/"some"/a bare plural are not count claims. Exact numbers must match exactly.

Known bias (report it with the numbers): COCO instances miss small and heavily occluded
objects and label dense groups as one ``iscrowd`` region, so true counts of people, books,
cars and birds are often *lower* than what a careful caption says.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from caption_audit.types import Mention

# vague word -> (min, max); max None = unbounded
VAGUE_RANGES: dict[str, tuple[int, int | None]] = {
    "a few": (2, 4), "few": (2, 4),
    "several": (3, 7),
    "a group of": (3, None), "group of": (3, None), "groups of": (3, None), "a herd of": (3, None),
    "herd of": (3, None), "a flock of": (3, None), "flock of": (3, None), "a crowd of": (3, None),
    "a pack of": (3, None), "a team of": (3, None), "a fleet of": (3, None), "a line of": (3, None),
    "a row of": (3, None), "rows of": (3, None), "a pile of": (3, None), "a stack of": (3, None),
    "a cluster of": (3, None), "a collection of": (3, None),
    "many": (4, None), "numerous": (4, None), "lots of": (4, None), "a lot of": (4, None),
    "a bunch of": (4, None), "plenty of": (4, None), "countless": (4, None), "a large number of": (4, None),
    "multiple": (2, None), "various": (2, None), "a number of": (2, None), "a variety of": (2, None),
    "an assortment of": (2, None), "assorted": (2, None),
    "dozens of": (20, None),
}
EXACT_WORDS: dict[str, int] = {
    "one": 1, "single": 1, "lone": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "both": 2, "twin": 2, "a pair of": 2, "pair of": 2, "a couple of": 2, "couple of": 2,
    "a dozen": 12, "dozen": 12,
}
_PHRASES = sorted(set(VAGUE_RANGES) | set(EXACT_WORDS), key=lambda p: -len(p.split()))
_WORD = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")
# words that may sit between a quantity and its noun ("two small brown dogs", "a few of the cups")
_BREAK = {".", ",", ";", ":", "!", "?", "and", "or", "with", "on", "in", "at", "near", "next", "to",
          "a", "an", "the", "this", "that", "is", "are", "was", "were", "while", "by", "from"}
_MAX_GAP = 4

# classes whose one COCO instance is a pair ("a pair of skis" = 1 instance)
PAIRED_CLASSES = frozenset({"skis", "scissors"})

COUNT_OK, COUNT_WRONG, COUNT_UNVERIFIABLE = "count_ok", "count_wrong", "count_unverifiable"


def quantity_of(text: str, mention: Mention) -> tuple[int | None, str | None]:
    """Read the quantity stated just before ``mention`` in ``text``.

    Looks back at most four words within the clause (stops at punctuation, "and", "with",
    prepositions and verbs of being) for a number word, a digit string, or a vague quantity.
    "a"/"the" end the search, except as the first word of "a few", "a group of", ...

    Returns:
        ``(exact, vague)``: ``exact`` an int for "two"/"2"/"a pair of", ``vague`` the
        normalised vague phrase ("several", "a group of"); both ``None`` when nothing is stated.
        ``Mention.count``, when set, wins for ``exact``.
    """
    before = [w.lower() for w in _WORD.findall(text[: mention.start])]
    exact, vague = mention.count, None
    for gap in range(_MAX_GAP + 1):
        end = len(before) - gap
        if end <= 0:
            break
        hit = None
        for phrase in _PHRASES:
            k = len(phrase.split())
            if end - k >= 0 and " ".join(before[end - k : end]) == phrase:
                hit = phrase
                break
        if hit is None and before[end - 1].isdigit() and len(before[end - 1]) < 5:
            return int(before[end - 1]), None
        if hit is not None:
            if hit in VAGUE_RANGES:
                return exact, hit
            return EXACT_WORDS[hit] if exact is None else exact, None
        if before[end - 1] in _BREAK:
            break
    return exact, vague


def count_verdict(mention: Mention, gt_counts: Counter | Mapping[str, int] | None,
                  text: str | None = None) -> tuple[str | None, int | str | None, int | None]:
    """Check a mention's stated quantity against the image's instance count of its class.

    Args:
        mention: a COCO-80 mention (``vocab == "coco80"``).
        gt_counts: the image's ``GroundTruth.counts[image_id]`` (class -> instances), or
            ``None`` without ground truth.
        text: the caption text, to read vague quantities with :func:`quantity_of`; without it
            only ``mention.count`` is used.

    Returns:
        ``(verdict, stated, true)``. ``verdict`` is ``None`` when the mention states no
        quantity (or is negated, depicted, or open-vocabulary); ``count_unverifiable`` when
        there is no ground truth, or the class has no instance (an absent object is a
        hallucination, not a count error); else ``count_ok`` / ``count_wrong``. ``stated`` is
        the number or the vague phrase; ``true`` the instance count (``None`` without GT).
    """
    if mention.negated or mention.nonvisual or mention.vocab != "coco80":
        return None, None, None
    exact, vague = quantity_of(text, mention) if text is not None else (mention.count, None)
    if exact is None and vague is None:
        return None, None, None
    if mention.canonical in PAIRED_CLASSES and text is not None and exact == 2 and \
            re.search(r"\bpair of\s+(?:\w+\s+){0,3}$", text[: mention.start], re.IGNORECASE):
        exact = 1  # COCO boxes a pair of skis as one "skis" instance
    stated: int | str = exact if exact is not None else vague  # type: ignore[assignment]
    if gt_counts is None:
        return COUNT_UNVERIFIABLE, stated, None
    true = int(gt_counts.get(mention.canonical, 0))
    if true == 0:
        return COUNT_UNVERIFIABLE, stated, 0
    if exact is not None:
        return (COUNT_OK if true == exact else COUNT_WRONG), stated, true
    lo, hi = VAGUE_RANGES[vague]  # type: ignore[index]
    ok = true >= lo and (hi is None or true <= hi)
    return (COUNT_OK if ok else COUNT_WRONG), stated, true


def count_summary(rows: Iterable[Mapping[str, Any]] | Any) -> dict[str, dict[str, Any]]:
    """Per-source count statistics.

    Args:
        rows: mappings (or a pandas DataFrame) with ``source`` and ``count_verdict`` (values
            from :func:`count_verdict`; ``None`` rows are ignored).

    Returns:
        ``{source: {"count_ok", "count_wrong", "count_unverifiable", "count_error_rate"}}``
        where ``count_error_rate = count_wrong / (count_ok + count_wrong)`` (``None`` when no
        claim could be checked).
    """
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    acc: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        v = r.get("count_verdict")
        acc[r["source"]]  # every source appears, even with no count claims
        if v:
            acc[r["source"]][v] += 1
    out = {}
    for src, c in acc.items():
        judged = c[COUNT_OK] + c[COUNT_WRONG]
        out[src] = {COUNT_OK: c[COUNT_OK], COUNT_WRONG: c[COUNT_WRONG], COUNT_UNVERIFIABLE: c[COUNT_UNVERIFIABLE],
                    "count_error_rate": c[COUNT_WRONG] / judged if judged else None}
    return out


def caption_count_verdicts(text: str, mentions: Iterable[Mention],
                           gt_counts: Counter | Mapping[str, int] | None) -> dict[str, tuple[str, list, int | None]]:
    """One count verdict per class per caption: ``{class: (verdict, stated claims, true)}``.

    Captions often split a class into parts ("Two smaller pizzas ... One pizza is larger", "one
    giraffe eats while another ..."). Judging each part against the image total calls every
    part wrong. Here a class's claims in one caption are combined: ``count_ok`` when the true
    count equals any exact claim or the sum of the exact claims, or satisfies any vague claim;
    else ``count_wrong``. ``count_unverifiable`` as in :func:`count_verdict`.
    """
    claims: dict[str, list] = {}
    true_of: dict[str, int | None] = {}
    verdicts: dict[str, list[str]] = {}
    for m in mentions:
        v, stated, true = count_verdict(m, gt_counts, text)
        if v is None:
            continue
        claims.setdefault(m.canonical, []).append(stated)
        verdicts.setdefault(m.canonical, []).append(v)
        true_of[m.canonical] = true
    out = {}
    for cls, vs in verdicts.items():
        true = true_of[cls]
        if COUNT_UNVERIFIABLE in vs:
            out[cls] = (COUNT_UNVERIFIABLE, claims[cls], true)
            continue
        exact = [s for s in claims[cls] if isinstance(s, int)]
        ok = COUNT_OK in vs or (len(exact) > 1 and sum(exact) == true)
        out[cls] = (COUNT_OK if ok else COUNT_WRONG, claims[cls], true)
    return out
