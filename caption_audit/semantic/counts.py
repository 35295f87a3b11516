"""Count checks: does "two dogs" / "several people" match the image's COCO instance count?

Stated quantities come from :attr:`Mention.count` (the parser sets it for explicit numbers:
"two dogs" = 2, "a pair of" = 2) or from :func:`quantity_of`, which reads the words just before
the mention with the same look-back and tables as the text stage's count claims
(``text/vocab/claims.yaml``; ``ParsedCaption.claims`` of kind ``count`` carry the same reading,
encoded ``"3"`` / ``"3-7"`` / ``"3+"``, for the claim resolvers). Vague quantities are checked against inclusive ranges
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

from caption_audit.text.claims import claim_rules, default_extractor
from caption_audit.types import Mention

_RULES = claim_rules()
# vague word -> (min, max); max None = unbounded. Data: text/vocab/claims.yaml ("vague", "exact").
VAGUE_RANGES: dict[str, tuple[int, int | None]] = {k: (int(v[0]), None if v[1] is None else int(v[1]))
                                                   for k, v in _RULES["vague"].items()}
EXACT_WORDS: dict[str, int] = {k: int(v) for k, v in _RULES["exact"].items()}
_WORD = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")
# quantity phrases are at most a few words, at most max_gap words before the mention: a bounded
# window of text before the mention holds them, so each look-up is O(1) in the caption length
_WINDOW = 240

# classes whose one COCO instance is a pair ("a pair of skis" = 1 instance)
PAIRED_CLASSES = frozenset(_RULES["paired_classes"])

COUNT_OK, COUNT_WRONG, COUNT_UNVERIFIABLE = "count_ok", "count_wrong", "count_unverifiable"


def _quantity(text: str, mention: Mention) -> tuple[int | None, str | None, tuple[str, ...] | None]:
    lo = max(0, mention.start - _WINDOW)
    found = [(m.group().lower(), m.end()) for m in _WORD.finditer(text, lo, mention.start)]
    if lo > 0 and found:
        found = found[1:]  # may be cut mid-word
    words = [w for w, _ in found if w != "-"]
    ends = [e for w, e in found if w != "-"]
    hit = default_extractor().quantity_before(
        words, len(words), hyphen_after=lambda j: ends[j] < len(text) and text[ends[j]] == "-")
    if hit is None:  # read from the text like the count claims (Mention.count is the same reading)
        return None, None, None
    phrase = hit[2]
    key = " ".join(phrase)
    if key in VAGUE_RANGES:
        return None, key, phrase
    if phrase[0].isdigit():
        return int(phrase[0]), None, phrase
    return EXACT_WORDS[key], None, phrase


def quantity_of(text: str, mention: Mention) -> tuple[int | None, str | None]:
    """Read the quantity stated just before ``mention`` in ``text``.

    The same look-back as the text stage's count claims
    (:meth:`caption_audit.text.claims.ClaimExtractor.quantity_before`): at most ``max_gap``
    words within the clause, stopping at punctuation, "and", "with", prepositions, determiners
    and verbs of being; "a"/"the" end the search except as the first word of "a few", "a group
    of", ...; compounds ("a four-door truck", "a three piece suit") state no quantity. Reads a
    bounded window before the mention, so a caption's look-ups are linear in its length.

    Returns:
        ``(exact, vague)``: ``exact`` an int for "two"/"2"/"a pair of", ``vague`` the
        normalised vague phrase ("several", "a group of"); both ``None`` when nothing is stated.
    """
    exact, vague, _ = _quantity(text, mention)
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
    exact, vague, phrase = _quantity(text, mention) if text is not None else (mention.count, None, None)
    if exact is None and vague is None:
        return None, None, None
    if mention.canonical in PAIRED_CLASSES and exact == 2 and phrase is not None and phrase[-2:] == ("pair", "of"):
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
