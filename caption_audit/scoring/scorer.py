"""The one scorer: registered verdict rules applied to a parsed caption and its image's evidence.

A :class:`CaptionScorer` is built once per worker. :meth:`CaptionScorer.score` runs the rules
of :data:`RULES` in their fixed order (like a spaCy pipeline), each reading and extending one
:class:`CaptionResult`:

1. ``objects`` - every mention against ground truth and detector evidence
   (:func:`caption_audit.scoring.verdicts.judge_mention`);
2. ``broader_terms`` - with ``--semantic``: the embedding score of mapped words, and a verdict for
   broad terms ("animal", "vehicle", :func:`caption_audit.semantic.hypernyms.broader_verdict`);
3. ``claims`` - every claim through the claim resolvers (:func:`caption_audit.scoring.claims.judge_claims`);
4. ``counts`` - the count claims' verdicts onto their subject mentions (``count_verdict``);
5. ``caption_stats`` - the per-caption statistics that metrics sum (:class:`CaptionScore`).

Example::

    scorer = CaptionScorer(parser.vocab, resolvers=("instances",))
    parsed = parser.parse([text])
    scores = scorer.expand([text], parsed)          # semantic mentions (no-op without --semantic)
    result = scorer.score(parsed[0], build_image_evidence("139", gt), caption_id="c1",
                          semantic_scores=scores[0])
    result.stats.n_hallucinated, result.claims
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from caption_audit.scoring.claims import ClaimResult, build_resolvers, judge_claims
from caption_audit.scoring.resolvers.base import ImageEvidence
from caption_audit.scoring.verdicts import (
    CaptionScore,
    MentionVerdict,
    caption_stats,
    judge_mention,
)
from caption_audit.semantic.settings import SemanticSettings
from caption_audit.types import ClaimKind, ClaimVerdict, ParsedCaption, Verdict, Vocab


@dataclass
class CaptionResult:
    """Everything the scorer concludes about one caption.

    Attributes:
        parsed: the text stage's output the verdicts refer to.
        mentions: one :class:`~caption_audit.scoring.verdicts.MentionVerdict` per
            ``parsed.mentions``, same index.
        stats: the per-caption statistics (one row of captions.parquet, minus identity).
        claims: one :class:`~caption_audit.scoring.claims.ClaimResult` per ``parsed.claims``.
    """

    parsed: ParsedCaption
    mentions: list[MentionVerdict] = field(default_factory=list)
    stats: CaptionScore = field(default_factory=CaptionScore)
    claims: list[ClaimResult] = field(default_factory=list)


@dataclass
class _Work:
    """One caption's inputs while the rules run."""

    parsed: ParsedCaption
    ev: ImageEvidence
    caption_id: str
    semantic_scores: Mapping[int, float] | None
    result: CaptionResult


Rule = Callable[["CaptionScorer", _Work], None]


def _objects(scorer: CaptionScorer, w: _Work) -> None:
    w.result.mentions = [judge_mention(m, w.ev.gt_classes, w.ev.detector) for m in w.parsed.mentions]


def _broader_terms(scorer: CaptionScorer, w: _Work) -> None:
    """Mapped words keep their similarity; broad terms ("animal", "vehicle") get a verdict."""
    if scorer.semantic is None:
        return
    from caption_audit.semantic.hypernyms import broader_verdict

    scores = w.semantic_scores or {}
    verdicts = w.result.mentions
    for i, m in enumerate(w.parsed.mentions):
        v = verdicts[i]
        if i in scores:
            v = replace(v, score=scores[i], evidence=f"{v.evidence}+semantic" if v.evidence else "semantic")
        if not (m.vocab != Vocab.OPEN or m.negated or m.nonvisual or v.verdict != Verdict.UNVERIFIABLE):
            broad = broader_verdict(m.lemma or m.canonical, w.ev.gt_classes)
            if broad is not None:
                v = replace(v, verdict=broad, reason="broader_term", evidence="gt")
        verdicts[i] = v


def _claims(scorer: CaptionScorer, w: _Work) -> None:
    claims = w.parsed.claims
    w.result.claims = judge_claims(claims, w.caption_id, w.ev, scorer.resolvers) if claims else []


_COUNT_VERDICTS = {ClaimVerdict.SUPPORTED: "count_ok", ClaimVerdict.CONTRADICTED: "count_wrong"}


def _counts(scorer: CaptionScorer, w: _Work) -> None:
    """A count claim's verdict onto its subject mention, with the stated and the true count."""
    p = w.parsed
    verdicts = w.result.mentions
    counts = w.ev.gt_counts
    for claim, r in zip(p.claims, w.result.claims, strict=True):
        if claim.kind == ClaimKind.COUNT and 0 <= claim.mention < len(p.mentions):
            i = claim.mention
            verdicts[i] = replace(verdicts[i], count_verdict=_COUNT_VERDICTS.get(r.verdict, "count_unverifiable"),
                                  count_stated=claim.value,
                                  count_true=counts.get(claim.subject, 0) if counts is not None else None)


def _caption_stats(scorer: CaptionScorer, w: _Work) -> None:
    w.result.stats = caption_stats(w.parsed, w.result.mentions, w.result.claims, w.ev.gt_classes, scorer.coco_index)


RULES: tuple[tuple[str, Rule], ...] = (
    ("objects", _objects),
    ("broader_terms", _broader_terms),
    ("claims", _claims),
    ("counts", _counts),
    ("caption_stats", _caption_stats),
)
"""The verdict rules, in the order :meth:`CaptionScorer.score` applies them."""


class CaptionScorer:
    """Apply the verdict rules of :data:`RULES` to parsed captions (one per worker).

    Args:
        vocab: the parser's vocabulary (``classes``: the COCO-80 names in COCO order).
        resolvers: names of the claim resolvers (``caption_audit.scoring.resolvers``).
        semantic: ``None``, or the ``--semantic`` settings
            (:class:`~caption_audit.semantic.settings.SemanticSettings`, or a mapping of them).
    """

    def __init__(self, vocab: Any, *, resolvers: Sequence[str] = ("instances",),
                 semantic: SemanticSettings | Mapping[str, Any] | None = None):
        self.vocab = vocab
        self.coco_index = {c: i for i, c in enumerate(vocab.classes)}
        self.resolver_names = tuple(resolvers)
        self.semantic = SemanticSettings.coerce(semantic)
        self.rules = RULES
        self._mapper: Any = None
        self._resolvers: list[Any] | None = None

    @property
    def mapper(self) -> Any:
        """The semantic mapper, loaded on first use (sentence-transformers is heavy)."""
        if self._mapper is None:
            from caption_audit.semantic.embedder import Embedder
            from caption_audit.semantic.mapping import DEFAULT_THRESHOLD, SemanticMapper

            opts = self.semantic or SemanticSettings()
            self._mapper = SemanticMapper(Embedder(opts.embedder), self.vocab, opts.threshold or DEFAULT_THRESHOLD)
        return self._mapper

    @property
    def resolvers(self) -> list[Any]:
        """The claim resolvers, built on first use (the pixels resolver keeps an image cache)."""
        if self._resolvers is None:
            options: dict[str, dict[str, Any]] = {}
            if self.semantic is not None and "references" in self.resolver_names:
                options["references"] = {"embedder": self.mapper.embedder}
            self._resolvers = build_resolvers(self.resolver_names, options)
        return self._resolvers

    def expand(self, texts: Sequence[str], parsed: list[ParsedCaption]) -> list[dict[int, float]] | None:
        """With ``--semantic``: add semantic mentions to a batch of parsed captions, in place.

        Unknown nouns ("a telly") become candidates with ``candidates`` on (those the mapper
        rejects are dropped again), open words that map onto a COCO class are rewritten (one
        batched embedding call), and broad terms ("animal") are added. Returns, per caption,
        mention index -> similarity of the mapped mentions; ``None`` without ``--semantic``.
        """
        if self.semantic is None:
            return None
        if not parsed:
            return []
        from caption_audit.semantic.candidates import noun_candidates
        from caption_audit.semantic.hypernyms import find_broad_mentions

        candidates: set[int] = set()
        use_candidates = bool(self.semantic.candidates)
        for p, text in zip(parsed, texts, strict=True):
            extra = noun_candidates(text, p, self.vocab) if use_candidates else None
            if extra:
                candidates.update(id(m) for m in extra)
                p.mentions = sorted(p.mentions + extra, key=lambda m: m.start)
        by_mention: dict[int, float] = {}
        for match in self.mapper.map_mentions(parsed):
            by_mention[id(parsed[match.caption].mentions[match.mention])] = match.score
        out: list[dict[int, float]] = []
        for p, text in zip(parsed, texts, strict=True):
            if candidates:
                p.mentions = [m for m in p.mentions if id(m) not in candidates or id(m) in by_mention]
            extra = find_broad_mentions(text, p)
            if extra:
                p.mentions = sorted(p.mentions + extra, key=lambda m: m.start)
            out.append({i: by_mention[id(m)] for i, m in enumerate(p.mentions) if id(m) in by_mention})
        return out

    def score(self, parsed: ParsedCaption, ev: ImageEvidence, *, caption_id: str = "",
              semantic_scores: Mapping[int, float] | None = None) -> CaptionResult:
        """Apply every rule to one caption.

        Args:
            parsed: the text stage's output (after :meth:`expand` for ``--semantic``).
            ev: the image's evidence (:func:`caption_audit.scoring.evidence.build_image_evidence`):
                ground-truth classes and counts, detector evidence, references.
            caption_id: the caption's id (a reference caption never judges its own claims).
            semantic_scores: this caption's entry of :meth:`expand`'s result.
        """
        w = _Work(parsed, ev, caption_id, semantic_scores, CaptionResult(parsed))
        for _name, rule in self.rules:
            rule(self, w)
        return w.result
