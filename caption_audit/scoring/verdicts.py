"""Verdicts for mentions, and the per-caption statistics that metrics sum."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from caption_audit.types import ClaimVerdict, Mention, ParsedCaption, Verdict, Vocab


class Evidence(Protocol):
    """Image evidence besides ground truth (e.g. detector output), one object per image."""

    name: str

    def lookup(self, canonical: str) -> tuple[bool, float | None, tuple[float, float, float, float] | None] | None:
        """``(found, best score, best box xyxy)`` for a phrase the detector was asked about,
        ``None`` when it was not asked (then it cannot judge)."""

# Reason codes written to mentions.parquet are listed in docs/run-folder.md.


@dataclass(frozen=True, slots=True)
class MentionVerdict:
    """What the audit concludes about one mention (``ParsedCaption.mentions[i]``, same index).

    Attributes:
        verdict: supported / hallucinated / unverifiable.
        reason: the reason code (docs/run-folder.md), e.g. ``gt``, ``not_in_gt``, ``open_vocab``.
        evidence: what decided: ``gt``, the detector's name, ``+semantic`` for a mapped word.
        score, box: detector (or semantic-match) score and the best box, xyxy pixels.
        count_verdict: ``count_ok``/``count_wrong``/``count_unverifiable`` when a quantity is
            stated ("two dogs", "several cows"); ``count_stated`` the claim, ``count_true`` the
            image's instance count.
    """

    verdict: Verdict = Verdict.UNVERIFIABLE
    reason: str = ""
    evidence: str = ""
    score: float | None = None
    box: tuple[float, float, float, float] | None = None
    count_verdict: str | None = None
    count_stated: str | None = None
    count_true: int | None = None


def judge_mention(m: Mention, gt: set[str] | None, evidence: Evidence | None = None) -> MentionVerdict:
    """The verdict, reason and evidence of one mention from ground truth and detector evidence.

    ``gt`` is the image's set of canonical classes, or ``None`` when no ground truth covers
    the image. A mention is *supported* when GT or the detector finds it, *hallucinated* when
    GT lacks it (COCO-80 only: GT lists every COCO-80 object of the image) or the detector was
    asked and found nothing (and GT, where it exists, lacks it), else *unverifiable*. Hedged
    mentions are judged like plain ones (the caption still asserts them); the ``hedged`` flag
    stays on the row. The detector's best box and score are kept, also for a near miss.
    """
    if m.negated:
        return _NEGATED
    if m.nonvisual:
        return _DEPICTION
    if gt is not None and m.canonical in gt:
        return _IN_GT
    if evidence is None:  # the verdicts below, without detector evidence
        if m.vocab == Vocab.COCO80:
            return _NOT_IN_GT if gt is not None else _NO_GT
        return _OPEN_VOCAB
    hit = evidence.lookup(m.canonical)
    score = box = None
    if hit is not None:
        found, score, box = hit
        if found:
            return MentionVerdict(Verdict.SUPPORTED, "detector", evidence.name, score, box)
    if m.vocab == Vocab.COCO80 and gt is not None:
        return MentionVerdict(Verdict.HALLUCINATED, "not_in_gt", "gt", score, box)
    if hit is not None:
        return MentionVerdict(Verdict.HALLUCINATED, "not_detected", evidence.name, score, box)
    if m.vocab != Vocab.COCO80:
        return MentionVerdict(Verdict.UNVERIFIABLE, "open_vocab")
    return MentionVerdict(Verdict.UNVERIFIABLE, "no_ground_truth")


# the verdicts that carry no detector score: one shared (frozen) instance each
_NEGATED = MentionVerdict(Verdict.UNVERIFIABLE, "negated")
_DEPICTION = MentionVerdict(Verdict.UNVERIFIABLE, "depiction")
_IN_GT = MentionVerdict(Verdict.SUPPORTED, "gt", "gt")
_NOT_IN_GT = MentionVerdict(Verdict.HALLUCINATED, "not_in_gt", "gt")
_OPEN_VOCAB = MentionVerdict(Verdict.UNVERIFIABLE, "open_vocab")
_NO_GT = MentionVerdict(Verdict.UNVERIFIABLE, "no_ground_truth")


@dataclass
class CaptionScore:
    """Per-caption lists and statistics (one row of captions.parquet, minus identity)."""

    mentioned: list[str] = field(default_factory=list)
    hallucinated: list[str] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)
    gt_objects: list[str] = field(default_factory=list)
    open_mentioned: list[str] = field(default_factory=list)
    n_mentions: int = 0
    n_hallucinated: int = 0
    n_unverifiable: int = 0
    n_all_mentions: int = 0
    n_count_checked: int = 0
    n_count_wrong: int = 0
    n_claims: int = 0
    n_contradicted: int = 0
    claims_contradicted: list[str] = field(default_factory=list)
    claim_stats: dict[str, int] = field(default_factory=dict)


def score_caption(
    parsed: ParsedCaption,
    gt: set[str] | None,
    coco_classes: dict[str, int],
    evidence: Evidence | None = None,
) -> tuple[list[MentionVerdict], CaptionScore]:
    """Judge every mention of a parsed caption and collect its statistics (no claims).

    Args:
        parsed: the text stage's output.
        gt: the image's canonical classes, or None without ground truth.
        coco_classes: COCO-80 name -> index, to list ``gt_objects`` in COCO order.
        evidence: detector evidence for the image, if any.

    Returns:
        One verdict per ``parsed.mentions``, and the statistics.
    """
    verdicts = [judge_mention(m, gt, evidence) for m in parsed.mentions]
    return verdicts, caption_stats(parsed, verdicts, [], gt, coco_classes)


def caption_stats(
    parsed: ParsedCaption,
    verdicts: Sequence[MentionVerdict],
    claims: Sequence[Any],
    gt: set[str] | None,
    coco_classes: dict[str, int],
) -> CaptionScore:
    """The per-caption statistics of judged mentions and claims.

    Args:
        parsed: the judged caption.
        verdicts: one per ``parsed.mentions``.
        claims: one result per ``parsed.claims`` (``verdict`` a claim verdict value).
        gt: the image's canonical classes, or None without ground truth.
        coco_classes: COCO-80 name -> index, to list ``gt_objects`` in COCO order.
    """
    s = CaptionScore()
    seen: dict[str, None] = {}
    halluc: dict[str, None] = {}
    opened: dict[str, None] = {}
    for m, v in zip(parsed.mentions, verdicts, strict=True):
        s.n_all_mentions += 1
        if v.verdict == Verdict.UNVERIFIABLE:
            s.n_unverifiable += 1
        if m.negated or m.nonvisual:
            continue
        if m.vocab == Vocab.COCO80:
            seen[m.canonical] = None
            if v.verdict != Verdict.UNVERIFIABLE:
                s.n_mentions += 1
            if v.verdict == Verdict.HALLUCINATED:
                s.n_hallucinated += 1
                halluc[m.canonical] = None
        else:
            opened[m.canonical] = None
    s.mentioned = list(seen)
    s.hallucinated = list(halluc)
    s.open_mentioned = list(opened)
    if gt is not None:
        s.gt_objects = sorted((c for c in gt if c in coco_classes), key=coco_classes.__getitem__)
        s.covered = [c for c in s.mentioned if c in gt]
    _claim_stats(s, parsed, claims)
    return s


def _claim_stats(s: CaptionScore, parsed: ParsedCaption, results: Sequence[Any]) -> None:
    """Per claim kind ``k``: ``n_k``, ``n_k_checked`` (supported or contradicted), ``n_k_wrong``
    (contradicted) and ``n_k_unsupported`` (unsupported_by_refs); the contradicted claims as
    ``kind:subject``."""
    st = s.claim_stats
    get = st.get
    contradicted: dict[str, None] = {}
    for claim, r in zip(parsed.claims, results, strict=False):
        k = claim.kind
        n_k, checked, wrong, unsupported = _STAT_KEYS.get(k) or _stat_keys(k)
        st[n_k] = get(n_k, 0) + 1
        v = r.verdict
        if v == _SUPPORTED:
            st[checked] = get(checked, 0) + 1
        elif v == _CONTRADICTED:
            st[checked] = get(checked, 0) + 1
            st[wrong] = get(wrong, 0) + 1
            contradicted[f"{k}:{claim.subject}"] = None
        elif v == _UNSUPPORTED_BY_REFS:
            st[unsupported] = get(unsupported, 0) + 1
    s.n_claims = len(results)
    s.n_contradicted = sum(1 for r in results if r.verdict == _CONTRADICTED)
    s.claims_contradicted = list(contradicted)
    s.n_count_checked = st.get("n_count_checked", 0)
    s.n_count_wrong = st.get("n_count_wrong", 0)


_SUPPORTED = ClaimVerdict.SUPPORTED.value
_CONTRADICTED = ClaimVerdict.CONTRADICTED.value
_UNSUPPORTED_BY_REFS = ClaimVerdict.UNSUPPORTED_BY_REFS.value
_STAT_KEYS: dict[str, tuple[str, str, str, str]] = {}  # claim kind -> its claim_stats keys


def _stat_keys(kind: str) -> tuple[str, str, str, str]:
    keys = (f"n_{kind}", f"n_{kind}_checked", f"n_{kind}_wrong", f"n_{kind}_unsupported")
    _STAT_KEYS[kind] = keys
    return keys
