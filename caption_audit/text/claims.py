"""Claim extraction: a parsed caption's tokens and mentions -> checkable claims, in text order.

One pass over the caption's tokens (no re-tokenising, no statistical parse), driven by the
tables in ``text/vocab/claims.yaml``. The kinds and encodings are fixed in docs/claims.md; the
rules (what counts as a count, colour or identity claim, and the traps) are documented there
under "Extraction rules":

- ``object`` / ``open_object``: every asserted (not negated, not depicted) mention.
- ``count``: a number or vague quantity read backwards from a mention ("three giraffes",
  "several cows" -> ``"3-7"``); not compounds ("a four-door truck"), not partitives ("one of
  the dogs"), and "one"/"single" only where the caption does not go on to enumerate; "a family
  of five" (a collective, "of", a number, no noun after) is ``count:person 5``.
- ``colour``: basic colour terms (Berlin & Kay 1969) bound to the noun they modify ("a black and
  white dog" -> ``"black+white"``) or predicated of it ("the bus is blue"); never of a person.
- ``identity``: gender/age facets of a person word ("an old man" -> ``"age:elderly|gender:male"``).

Berlin, B. & Kay, P., "Basic Color Terms: Their Universality and Evolution", 1969.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, Protocol

from caption_audit.types import Claim, ClaimKind, Mention
from caption_audit.yamldata import load_yaml

_DIGIT = re.compile(r"\d")
_OBJECT, _OPEN, _COUNT = ClaimKind.OBJECT.value, ClaimKind.OPEN_OBJECT.value, ClaimKind.COUNT.value
_COLOUR, _IDENTITY = ClaimKind.COLOUR.value, ClaimKind.IDENTITY.value
# "a family of five [gathers]": a mention this many words after the number counts that instead
_COLLECTIVE_LOOKAHEAD = 2
_KIND_ORDER = {_COUNT: 0, _COLOUR: 1, _IDENTITY: 2, _OBJECT: 3, _OPEN: 3, ClaimKind.RELATION.value: 4}


class Token(Protocol):
    """What the extractor needs of a token (``text.parse._Tok``)."""

    word: str
    start: int
    end: int
    sent: int


@functools.lru_cache(maxsize=1)
def claim_rules() -> dict[str, Any]:
    """The packaged ``text/vocab/claims.yaml``, parsed once per process."""
    raw = resources.files("caption_audit.text").joinpath("vocab", "claims.yaml").read_bytes()
    return load_yaml(raw)


def range_value(lo: int, hi: int | None) -> str:
    """Encode a vague count range: ``(3, 7)`` -> ``"3-7"``, ``(3, None)`` -> ``"3+"``."""
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


class ClaimExtractor:
    """Find claims in one parsed caption (see the module docstring).

    Args:
        rules: the parsed ``claims.yaml`` (default: the packaged one).
    """

    def __init__(self, rules: dict[str, Any] | None = None) -> None:
        r = rules if rules is not None else claim_rules()
        self.exact: dict[tuple[str, ...], int] = {tuple(k.split()): int(v) for k, v in r["exact"].items()}
        self.vague: dict[tuple[str, ...], tuple[int, int | None]] = {
            tuple(k.split()): (int(v[0]), None if v[1] is None else int(v[1])) for k, v in r["vague"].items()}
        # quantity phrases keyed by their last word, longest first
        self._qty: dict[str, list[tuple[str, ...]]] = {}
        for key in sorted({*self.exact, *self.vague}, key=len, reverse=True):
            self._qty.setdefault(key[-1], []).append(key)
        self._enum = frozenset(r["enumeration_words"])
        self._units = frozenset(r["compound_units"])
        self._count_break = frozenset(r["count_break"])
        self._max_gap = int(r["max_gap"])
        self._paired = frozenset(r["paired_classes"])
        self._partial = frozenset(r.get("count_partial", []))
        self._more = frozenset(r.get("count_more", []))
        self._capacity = frozenset(r.get("count_capacity", []))
        self._count_names = {tuple(p.split()) for p in r.get("count_names", [])}
        self._collectives = {str(k): str(v) for k, v in (r.get("count_collectives") or {}).items()}
        self._colour_of = {v: cat for cat, variants in r["colours"].items() for v in variants}
        self._colour_mod = frozenset(r["colour_modifiers"])
        self._joiners = frozenset(r["colour_joiners"])
        self._colour_gap = int(r["colour_max_gap"])
        self._colour_break = frozenset(r["colour_break"])
        self._colour_names = {tuple(p.split()) for p in r["colour_names"]}
        self._copulas = frozenset(r["colour_copulas"])
        self._relatives = frozenset(r["colour_relatives"])
        self._identity = {k: tuple(v) for k, v in r["identity"].items()}
        self._id_mod = {k: (v["facet"], frozenset(v.get("words") or ())) for k, v in r["identity_modifiers"].items()}

    # ------------------------------------------------------------------ entry point
    def extract(self, text: str, toks: Sequence[Token], spans: Sequence[tuple[int, int]],
                mentions: Sequence[Mention]) -> list[Claim]:
        """Claims of one caption, in text order.

        Args:
            text: the caption text.
            toks: its tokens (hyphens and spaces left out).
            spans: per mention, its token range ``(i, j)`` (first token, one past the last).
            mentions: the caption's mentions (``ParsedCaption.mentions``), aligned with ``spans``.
        """
        if not mentions:
            return []
        words = [t.word for t in toks]
        wordset = set(words)
        out: list[Claim] = []
        for a, m in enumerate(mentions):
            if m.negated or m.nonvisual:
                continue
            out.append(Claim(_OBJECT if m.vocab == "coco80" else _OPEN, m.start, m.end, m.canonical, "", a, m.text, m.hedged))
        n_objects = len(out)
        # each rule runs only where its trigger words occur (most short captions have none)
        if not wordset.isdisjoint(self._qty) or _DIGIT.search(text):
            out.extend(self._counts(text, toks, words, spans, mentions))
        if not wordset.isdisjoint(self._colour_of):
            start_of = {i: a for a, (i, _) in enumerate(spans)}
            covered: dict[int, int] = {}
            for a, (i, j) in enumerate(spans):
                for k in range(i, j):
                    covered[k] = a
            out.extend(self._colours(text, toks, words, spans, mentions, start_of, covered))
        if any(m.canonical == "person" for m in mentions):
            out.extend(self._identities(text, toks, words, spans, mentions))
        if len(out) > n_objects:  # object claims alone are in text order already
            out.sort(key=lambda c: (c.start, _KIND_ORDER.get(c.kind, 9), c.end))
        return out

    # ------------------------------------------------------------------ counts
    def quantity_before(self, words: Sequence[str], i: int, toks: Sequence[Token] | None = None,
                        hyphen_after: Any = None, *, more: bool = False) -> tuple[int, int, tuple[str, ...]] | None:
        """The quantity phrase stated before token ``i``: ``(first, last, phrase)`` or ``None``.

        Looks back at most ``max_gap`` words (stops at ``count_break`` words and, given the
        tokens ``toks``, at the start of the sentence); ``hyphen_after(j)`` says whether token ``j``
        is joined to the next by a hyphen. A quantity right before a compound unit ("four door"),
        hyphenated to the next word ("four-door"), or of a part ("two other dogs") is no quantity
        of the mention; with ``more``, a quantity before ``count_more`` words ("two more dogs")
        is returned with the marker ``"+more"`` appended to its phrase.
        """
        j, gap = i - 1, 0
        sent = toks[i].sent if toks is not None else 0
        while j >= 0 and gap <= self._max_gap and (toks is None or toks[j].sent == sent):
            w = words[j]
            hit = None
            if w.isdigit() and len(w) < 5:
                hit = (w,)
            else:
                for key in self._qty.get(w, ()):
                    k = len(key)
                    if j - k + 1 >= 0 and tuple(words[j - k + 1 : j + 1]) == key:
                        hit = key
                        break
            if hit is not None:
                if (hyphen_after is not None and hyphen_after(j)) or (j + 1 < i and words[j + 1] in self._units):
                    return None
                if tuple(words[j - len(hit) + 1 : j + 2]) in self._count_names:
                    return None
                between = set(words[j + 1 : i])
                if not self._partial.isdisjoint(between):
                    if more and between & self._partial <= self._more:
                        return j - len(hit) + 1, j, (*hit, "+more")
                    return None  # "several other motorcycles": a part, not the total
                return j - len(hit) + 1, j, hit
            if w in self._count_break and not self._colour_join(words, j):
                return None
            j -= 1
            gap += 1
        return None

    def _colour_join(self, words: Sequence[str], j: int) -> bool:
        """Whether ``words[j]`` joins two colour words ("two black and white cows": the "and"
        belongs to the colours, so the count look-back goes on past it)."""
        return (words[j] in self._joiners and 0 < j < len(words) - 1
                and words[j - 1] in self._colour_of and words[j + 1] in self._colour_of)

    def value_of(self, phrase: tuple[str, ...]) -> str:
        """Encoded count of a quantity phrase: ``"3"``, ``"3-7"`` or ``"3+"``."""
        if phrase in self.vague:
            return range_value(*self.vague[phrase])
        if len(phrase) == 1 and phrase[0].isdigit():
            return str(int(phrase[0]))
        return str(self.exact[phrase])

    def _counts(self, text: str, toks: Sequence[Token], words: list[str], spans: Sequence[tuple[int, int]],
                mentions: Sequence[Mention]) -> list[Claim]:
        out = []
        n_text = len(text)
        last_enum = max((k for k, w in enumerate(words) if w in self._enum), default=-1)
        per_class: dict[str, int] = {}
        for m in mentions:
            if not (m.negated or m.nonvisual):
                per_class[m.canonical] = per_class.get(m.canonical, 0) + 1

        def hyphen_after(q: int) -> bool:
            return toks[q].end < n_text and text[toks[q].end] == "-"

        for a, ((i, j), m) in enumerate(zip(spans, mentions, strict=True)):
            if m.negated or m.nonvisual or i == 0:
                continue
            hit = self.quantity_before(words, i, toks, hyphen_after, more=True)
            if hit is None:
                continue
            q0, q1, phrase = hit
            if q0 > 0 and words[q0 - 1] in self._capacity:
                continue  # "settings for 7 people": a capacity, not a count of what is there
            if phrase[-1] == "+more":  # "two more dogs": at least one more than the number, in all
                value = self.value_of(phrase[:-1])
                if not value.isdigit():
                    continue  # "several other motorcycles": no total to state
                start = toks[q0].start
                out.append(Claim(_COUNT, start, m.end, m.canonical, f"{int(value) + 1}+", a,
                                 text[start : m.end], m.hedged))
                continue
            value = self.value_of(phrase)
            if value == "1" and phrase[-1] in ("one", "single", "lone") and (
                    j <= last_enum or per_class.get(m.canonical, 0) > 1 or (q0 + 1 < len(words) and words[q0 + 1] == "of")):
                continue  # "One bowl holds rice, another ..." enumerates; it states no total
            if m.canonical in self._paired and phrase[-2:] == ("pair", "of"):
                value = "1"  # COCO boxes a pair of skis as one instance
            start = toks[q0].start
            out.append(Claim(_COUNT, start, m.end, m.canonical, value, a, text[start : m.end], m.hedged))
        if self._collectives and not self._collectives.keys().isdisjoint(words):
            out.extend(self._collective_counts(text, toks, words, spans, mentions))
        return out

    def _collective_counts(self, text: str, toks: Sequence[Token], words: list[str],
                           spans: Sequence[tuple[int, int]], mentions: Sequence[Mention]) -> list[Claim]:
        """"a family of five" (a ``count_collectives`` word, "of", a number and no noun after
        it) -> ``count:person 5``; "a family of five elephants" is left to the look-back."""
        out = []
        n = len(words)
        start_of = {i: a for a, (i, _) in enumerate(spans)}
        for k in range(n - 2):
            subject = self._collectives.get(words[k])
            if subject is None or words[k + 1] != "of" or toks[k + 2].sent != toks[k].sent:
                continue
            w = words[k + 2]
            value = str(int(w)) if w.isdigit() and len(w) < 5 else (
                str(self.exact[(w,)]) if (w,) in self.exact and w not in ("one", "single", "lone") else None)
            if value is None or int(value) < 2:
                continue
            noun_after = False
            for q in range(k + 3, min(k + 3 + _COLLECTIVE_LOOKAHEAD, n)):
                if toks[q].sent != toks[k].sent or words[q] in self._count_break:
                    break
                if q in start_of:
                    noun_after = True
                    break
            if noun_after:
                continue  # "a family of five elephants", "a team of four young players"
            a = start_of.get(k, -1)
            m = mentions[a] if a >= 0 else None
            if m is not None and (m.negated or m.nonvisual):
                continue
            s0, e0 = toks[k].start, toks[k + 2].end
            out.append(Claim(_COUNT, s0, e0, subject, value, a, text[s0:e0], bool(m and m.hedged)))
        return out

    # ------------------------------------------------------------------ colours
    def _colour_at(self, words: list[str], k: int) -> str | None:
        w = words[k]
        cat = self._colour_of.get(w)
        if cat is None:
            return None
        if k + 1 < len(words) and (w, words[k + 1]) in self._colour_names:
            return None
        if k + 2 < len(words) and (w, words[k + 1], words[k + 2]) in self._colour_names:
            return None
        return cat

    def _colours(self, text: str, toks: Sequence[Token], words: list[str], spans: Sequence[tuple[int, int]],
                 mentions: Sequence[Mention], start_of: dict[int, int], covered: dict[int, int]) -> list[Claim]:
        out = []
        n = len(words)
        end_of = {j - 1: a for a, (_, j) in enumerate(spans)}
        colour_of = self._colour_of
        nxt = 0  # the words of a colour list found are not read again
        for k in [k for k, w in enumerate(words) if w in colour_of]:  # only colour words can start one
            if k < nxt or k in covered or self._colour_at(words, k) is None:
                continue
            # a list of colours: "black and white", "red-and-blue", "red, white and blue", "dark red"
            cats, last = [self._colour_at(words, k)], k
            q = k + 1
            while q < n and toks[q].sent == toks[k].sent:
                if words[q] in self._joiners:
                    r = q + 1
                    while r < n and words[r] in self._colour_mod:
                        r += 1
                    if r < n and r not in covered and self._colour_at(words, r):
                        cats.append(self._colour_at(words, r))
                        last = q = r
                        q += 1
                        continue
                break
            value = "+".join(sorted(set(cats)))  # type: ignore[arg-type]
            subject = self._colour_subject_after(toks, words, spans, last, start_of, covered)
            if subject is None:
                subject = self._colour_subject_before(toks, words, k, end_of)
            if subject is not None:
                m = mentions[subject]
                if not (m.negated or m.nonvisual or m.canonical == "person"):
                    s, e = toks[k].start, toks[last].end
                    out.append(Claim(_COLOUR, s, e, m.canonical, value, subject, text[s:e], m.hedged))
            nxt = last + 1
        return out

    def _colour_subject_after(self, toks: Sequence[Token], words: list[str], spans: Sequence[tuple[int, int]],
                              last: int, start_of: dict[int, int], covered: dict[int, int]) -> int | None:
        """Attributive: the mention the colour modifies ("a red double decker bus")."""
        n = len(words)
        q, gap = last + 1, 0
        while q < n and gap <= self._colour_gap and toks[q].sent == toks[last].sent:
            if q in start_of:
                a = start_of[q]
                # noun compounds: the colour goes with the last of adjacent mentions
                while spans[a][1] in start_of and toks[spans[a][1]].sent == toks[q].sent:
                    a = start_of[spans[a][1]]
                return a
            if q in covered or words[q] in self._colour_break or self._colour_of.get(words[q]):
                return None
            q += 1
            gap += 1
        return None

    def _colour_subject_before(self, toks: Sequence[Token], words: list[str], k: int,
                               end_of: dict[int, int]) -> int | None:
        """Predicative: "<mention> [that|which] is [dark] <colour>" ("the bus is blue")."""
        q = k - 1
        while q >= 0 and words[q] in self._colour_mod:
            q -= 1
        if q < 0 or words[q] not in self._copulas:
            return None
        q -= 1
        if q >= 0 and words[q] in self._relatives:
            q -= 1
        if q >= 0 and toks[q].sent == toks[k].sent and q in end_of:
            return end_of[q]
        return None

    # ------------------------------------------------------------------ identity
    def _identities(self, text: str, toks: Sequence[Token], words: list[str], spans: Sequence[tuple[int, int]],
                    mentions: Sequence[Mention]) -> list[Claim]:
        out = []
        for a, ((i, _j), m) in enumerate(zip(spans, mentions, strict=True)):
            if m.canonical != "person" or m.negated or m.nonvisual:
                continue
            facets = set(self._identity.get(m.lemma, ()))
            start = m.start
            if i > 0 and words[i - 1] in self._id_mod and toks[i - 1].sent == toks[i].sent:
                facet, only = self._id_mod[words[i - 1]]
                if facets and (not only or m.lemma in only):
                    facets = {f for f in facets if not f.startswith("age:")} | {facet}
                    start = toks[i - 1].start
            if facets:
                out.append(Claim(_IDENTITY, start, m.end, "person", "|".join(sorted(facets)), a,
                                 text[start : m.end], m.hedged))
        return out


@functools.lru_cache(maxsize=1)
def default_extractor() -> ClaimExtractor:
    """The extractor over the packaged rules, built once per process."""
    return ClaimExtractor()
