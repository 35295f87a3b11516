"""Broader terms: judge "animal", "vehicle", "cutlery" ... against the COCO classes they cover.

The groups are data (``caption_audit/semantic/data/hypernyms.yaml``). A broad term is
``supported`` when the image holds any class of its group; ``hallucinated`` when ground truth
exists, holds none of them, and the group is *closed* (COCO covers what the word means:
cutlery, vehicle, person, luggage); otherwise no verdict. See docs/semantic.md.

The lexical pass yields only the broad words that are in ``open.yaml`` ("animal", "fruit",
"vegetable"); :func:`find_broad_mentions` finds the rest in the caption text without spaCy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from caption_audit.text.inflect import phrase_forms
from caption_audit.types import Mention, ParsedCaption, Verdict
from caption_audit.yamldata import load_yaml


@dataclass(frozen=True, slots=True)
class Group:
    """One broad concept: its surface terms, the COCO classes it covers, and closedness."""

    name: str
    terms: tuple[str, ...]
    classes: frozenset[str]
    closed: bool


@functools.lru_cache(maxsize=1)
def load_groups() -> dict[str, Group]:
    """Groups from the packaged ``hypernyms.yaml``, keyed by group name."""
    raw = load_yaml(resources.files("caption_audit.semantic").joinpath("data", "hypernyms.yaml").read_bytes())
    out = {}
    for name, g in raw["groups"].items():
        out[name] = Group(name, tuple(g["terms"]), frozenset(g["classes"]), bool(g.get("closed", False)))
    return out


@functools.lru_cache(maxsize=1)
def _term_index() -> dict[str, Group]:
    index: dict[str, Group] = {}
    for g in load_groups().values():
        for term in g.terms:  # not the group name: "person", "luggage" are COCO words
            for form in phrase_forms(term):
                index.setdefault(" ".join(form.lower().replace("-", " ").split()), g)
    return index


def broad_terms() -> frozenset[str]:
    """Every broad term in every generated form (lower case)."""
    return frozenset(_term_index())


def group_of(word: str) -> Group | None:
    """The group a broad term belongs to (any number, any case), else None."""
    return _term_index().get(" ".join(word.lower().replace("-", " ").split()))


def broader_verdict(word: str, gt_classes: set[str] | frozenset[str] | None, *,
                    strict: bool = False) -> Verdict | None:
    """Judge a broad term against the image's ground-truth classes.

    Args:
        word: the mention's lemma or surface text ("animals", "Cutlery").
        gt_classes: canonical classes of the image, or ``None`` without ground truth.
        strict: treat every group as closed (CHAIR-style closed world): absence of all its COCO
            classes is then a hallucination even for "food" or "animal".

    Returns:
        :attr:`Verdict.SUPPORTED` when any class of the group is in ``gt_classes``;
        :attr:`Verdict.HALLUCINATED` when ``gt_classes`` is given, holds none of them, and the
        group is closed (or ``strict``); ``None`` when ``word`` is not a broad term, there is no ground truth, or the
        open group's absence proves nothing.
    """
    g = group_of(word)
    if g is None or gt_classes is None:
        return None
    if g.classes & set(gt_classes):
        return Verdict.SUPPORTED
    if g.closed or strict:
        return Verdict.HALLUCINATED
    return None


def _pattern() -> re.Pattern[str]:
    terms = sorted(_term_index(), key=len, reverse=True)
    alts = "|".join(r"[\s\-]+".join(re.escape(w) for w in t.split()) for t in terms)
    return re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.IGNORECASE)


_PATTERN: re.Pattern[str] | None = None


def find_broad_mentions(text: str, parsed: ParsedCaption) -> list[Mention]:
    """Broad terms in ``text`` that the lexical pass did not already report.

    Returns new :class:`Mention` objects (``vocab="open"``, ``canonical`` = the group name,
    ``lemma`` = the singular term) for spans that overlap no existing mention. Negation and
    hedges are not re-derived here: a caller that needs them should run the parser's cue rules,
    or append these mentions before scoring and accept that "no vehicles" counts as asserted
    (documented limitation).
    """
    global _PATTERN
    if _PATTERN is None:
        _PATTERN = _pattern()
    taken = [(m.start, m.end) for m in parsed.mentions]
    out = []
    for hit in _PATTERN.finditer(text or ""):
        s, e = hit.span()
        if any(s < te and ts < e for ts, te in taken):
            continue
        g = group_of(hit.group(0))
        if g is None:
            continue
        surface = " ".join(hit.group(0).lower().replace("-", " ").split())
        lemma = next((t for t in g.terms if surface in {" ".join(f.lower().split()) for f in phrase_forms(t)}), surface)
        out.append(Mention(start=s, end=e, text=hit.group(0), lemma=lemma, canonical=g.name, vocab="open"))
    return out


def judge_broad(parsed: Iterable[ParsedCaption], gts: Iterable[set[str] | None], *,
                strict: bool = False) -> list[tuple[int, int, Verdict]]:
    """(caption index, mention index, verdict) for every broad mention that gets a verdict.

    Negated, depicted (nonvisual) mentions are skipped, as in :func:`judge_mention`.
    """
    out = []
    for ci, (p, gt) in enumerate(zip(parsed, gts, strict=True)):
        for mi, m in enumerate(p.mentions):
            if m.vocab != "open" or m.negated or m.nonvisual:
                continue
            v = broader_verdict(m.lemma or m.canonical, gt, strict=strict)
            if v is not None:
                out.append((ci, mi, v))
    return out
