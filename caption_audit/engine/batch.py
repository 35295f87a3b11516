"""Scoring one batch of captions: the unit of work of every engine."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from caption_audit.gc_pause import gc_paused
from caption_audit.quality.checks import check_batch
from caption_audit.quality.position import POSITION_COLUMNS, caption_positions
from caption_audit.quality.run import CORPUS_COLUMNS, QUALITY_FLAG_COLUMNS
from caption_audit.scoring.groundtruth import GroundTruth
from caption_audit.scoring.metrics import METRICS
from caption_audit.scoring.scorer import CaptionScorer
from caption_audit.scoring.verdicts import MentionVerdict
from caption_audit.semantic.settings import SemanticSettings
from caption_audit.text.checks import text_problem
from caption_audit.types import Caption, Verdict


@dataclass
class ScoreContext:
    """What a worker needs besides the captions (picklable; sent once per worker).

    Attributes:
        gt: ground truth (may be empty).
        use_parser: spaCy statistical pass on the sentences that need it.
        evidence: optional extra evidence per image (detector results), image_id -> object with
            ``lookup(canonical)``; see :mod:`caption_audit.detect_stage`.
        semantic: ``None``, or the ``--semantic`` settings
            (:class:`~caption_audit.semantic.settings.SemanticSettings`).
    """

    gt: GroundTruth
    use_parser: bool = True
    evidence: dict[str, Any] | None = None
    semantic: SemanticSettings | None = None
    resolvers: tuple[str, ...] = ("instances",)
    references: dict[str, list[tuple[str, Any]]] | None = None
    reference_counts: dict[str, int] | None = None
    images_dir: str | None = None
    image_files: dict[str, str] | None = None


class BatchScorer:
    """Parse and score batches of captions with one parser (spaCy is loaded once).

    ``reuse``: parses kept by the reference pass in this process
    (:class:`~caption_audit.engine.references.ParseReuse`; in a pool worker, the batch's own, set
    per batch), taken instead of parsing again. ``corpus``: a
    :class:`~caption_audit.quality.corpus.CorpusRecorder` that prepares each batch's corpus
    record from the quality checks' tokenisation, taken by whoever gathers the run's corpus
    (:func:`~caption_audit.engine.local.run_local` in one process, the pool's parent, Ray's
    driver), so the run's corpus pass needs no second reading of the captions; or a
    :class:`~caption_audit.quality.corpus.CorpusAccumulator` that every scored caption is
    added to directly.
    """

    def __init__(self, ctx: ScoreContext, parser: Any = None, reuse: Any = None, corpus: Any = None):
        from caption_audit.text.parse import CaptionParser

        self.ctx = ctx
        self.corpus = corpus
        self.parser = parser or CaptionParser(use_parser=ctx.use_parser)
        self.reuse = reuse
        self.caption_scorer = CaptionScorer(self.parser.vocab, resolvers=ctx.resolvers, semantic=ctx.semantic)

    def _image_evidence(self, image_id: str, gt_ok: bool, detector: Any) -> Any:
        from caption_audit.scoring.evidence import build_image_evidence

        ctx = self.ctx
        refs = ctx.references
        return build_image_evidence(
            image_id, ctx.gt if gt_ok else None, images_dir=ctx.images_dir,
            file_name=(ctx.image_files or {}).get(image_id), detector=detector,
            references=None if refs is None else refs.get(image_id, []),
            reference_captions=(ctx.reference_counts or {}).get(image_id, 0))

    def problem(self, c: Caption) -> str | None:
        """Why a caption is skipped, or None."""
        if c.error:
            return c.error
        gt = self.ctx.gt
        # an image no ground-truth file knows is skipped, unless a detector can judge it
        known_to_detector = bool(self.ctx.evidence) and c.image_id in self.ctx.evidence
        if gt.available and not gt.has_image(c.image_id) and not known_to_detector:
            return f"unknown image id '{c.image_id}' (not in any ground-truth file)"
        return text_problem(c.text)

    def score(self, batch: list[Caption]) -> tuple[dict[str, list], dict[str, list], dict[str, list]]:
        """Column dicts (captions, mentions, claims) for one batch, rows in input order.

        The cyclic garbage collector is paused meanwhile (:func:`~caption_audit.gc_pause.gc_paused`):
        a batch allocates many small acyclic objects (verdicts, claim results, row tuples), and the
        collections they trigger scan the whole heap (spaCy, ground truth, references): 3208
        collections, about a fifth of the run's CPU, on 20,000 long synthetic captions.
        """
        with gc_paused():
            return self._score(batch)

    def _score(self, batch: list[Caption]) -> tuple[dict[str, list], dict[str, list], dict[str, list]]:
        gt = self.ctx.gt
        have_gt = gt.available
        problems = [self.problem(c) for c in batch]
        texts = [c.text for c, p in zip(batch, problems, strict=True) if p is None]
        parsed_list = self.parser.parse(texts) if self.reuse is None else self.reuse.parse(self.parser, texts)
        semantic_scores = self.caption_scorer.expand(texts, parsed_list)
        parsed = iter(enumerate(parsed_list))
        crow: dict[str, list] = defaultdict(list)
        mrow: list[tuple] = []  # rows as tuples, turned into columns once per batch
        evidence = self.ctx.evidence
        lrow: list[tuple] = []
        image_ev: dict[str, Any] = {}
        # quality checks (issue #12) on every caption with a text, the whole batch at once; the
        # text stage's text_problem result is reused for the non_english check; read column by
        # column per caption (no per-caption result object)
        quality = check_batch([c.text for c in batch], problems, corpus=self.corpus,
                              sources=[c.source for c in batch], image_ids=[c.image_id for c in batch],
                              caption_ids=[c.caption_id for c in batch])
        for k_q, (c, problem) in enumerate(zip(batch, problems, strict=True)):
            gt_ok = have_gt and gt.has_image(c.image_id)
            q = None if c.error else (quality, k_q)
            if problem is not None:
                _caption_row(crow, c, f"skipped: {problem}", None, 0, 0, gt_ok, q)
                continue
            k, p = next(parsed)
            if c.image_id not in image_ev:
                image_ev[c.image_id] = self._image_evidence(
                    c.image_id, gt_ok, evidence.get(c.image_id) if evidence else None)
            r = self.caption_scorer.score(p, image_ev[c.image_id], caption_id=c.caption_id,
                                          semantic_scores=None if semantic_scores is None else semantic_scores[k])
            _caption_row(crow, c, "scored", r.stats, p.n_words, p.n_chars, gt_ok, q)
            # where in the caption each mention / claim sits (docs/quality.md#position-of-errors):
            # computed here, in the worker, so the run's position block is one group-by
            pos = caption_positions(c.text, [m.start for m in p.mentions] + [cl.start for cl in p.claims])
            n_m = len(p.mentions)
            _mention_rows(mrow, c, p, r.mentions, pos[:n_m])
            _claim_rows(lrow, c, p, r.claims, pos[n_m:])
        return dict(crow), _columns(MENTION_COLUMNS, mrow), _columns(CLAIM_COLUMNS, lrow)


def _caption_row(rows: dict, c: Caption, status: str, s: Any, n_words: int, n_chars: int, gt_ok: bool,
                 q: Any = None) -> None:
    rows["caption_id"].append(c.caption_id)
    rows["image_id"].append(c.image_id)
    rows["source"].append(c.source)
    rows["caption"].append(c.text)
    rows["status"].append(status)
    rows["origin"].append(c.origin)
    scored = s is not None
    judged = scored and gt_ok
    rows["mentioned"].append(s.mentioned if scored else [])
    rows["hallucinated"].append(s.hallucinated if scored else [])
    rows["covered"].append(s.covered if scored else [])
    rows["gt_objects"].append(s.gt_objects if scored else [])
    rows["open_mentioned"].append(s.open_mentioned if scored else [])
    rows["n_mentions"].append(s.n_mentions if scored else 0)
    rows["n_hallucinated"].append(s.n_hallucinated if scored else 0)
    rows["n_unverifiable"].append(s.n_unverifiable if scored else 0)
    rows["n_all_mentions"].append(s.n_all_mentions if scored else 0)
    rows["n_count_checked"].append(s.n_count_checked if scored else 0)
    rows["n_count_wrong"].append(s.n_count_wrong if scored else 0)
    rows["n_words"].append(n_words)
    rows["n_chars"].append(n_chars)
    # per-caption values of the metric table's metrics (caption_audit.scoring.metrics)
    rows["chair_i"].append(METRICS["chair_i"].compute(s.n_hallucinated, s.n_mentions) if judged else None)
    rows["has_hallucination"].append(s.n_hallucinated > 0 if judged else None)
    rows["coverage"].append(METRICS["coverage"].compute(len(s.covered), len(s.gt_objects)) if judged else None)
    rows["halluc_per_100w"].append(METRICS["halluc_per_100w"].compute(s.n_hallucinated, n_words) if judged else None)
    rows["gt_available"].append(gt_ok)
    rows["n_claims"].append(s.n_claims if scored else 0)
    rows["n_contradicted"].append(s.n_contradicted if scored else 0)
    rows["claims_contradicted"].append(s.claims_contradicted if scored else [])
    stats = s.claim_stats if scored else {}
    for col in _CLAIM_STAT_COLUMNS:
        rows[col].append(stats.get(col, 0))
    _quality_columns(rows, q)


def _quality_columns(rows: dict, q: tuple[Any, int] | None) -> None:
    """The per-caption quality columns (docs/quality.md, docs/run-folder.md); ``q`` is the
    batch's :class:`caption_audit.quality.checks.QualityColumns` and the caption's row in it,
    None for a caption without a text. The corpus columns are filled later, by
    :func:`caption_audit.quality.run.quality_pass`."""
    if q is None:
        for col in QUALITY_FLAG_COLUMNS.values():
            rows[col].append(None)
        rows["quality_issues"].append([])
        rows["degenerate"].append(None)
        rows["repeated_share"].append(None)
        rows["longest_repeat"].append(None)
    else:
        cols, k = q
        flags = cols.flags
        for name, col in QUALITY_FLAG_COLUMNS.items():
            rows[col].append(flags[name][k] if name in flags else False)
        issues = cols.quality_issues[k]  # read-only (clean captions share one empty list)
        rows["quality_issues"].append(issues)
        rows["degenerate"].append(bool(issues))
        values = cols.values
        rows["repeated_share"].append(values["repeated_share"][k] if "repeated_share" in values else None)
        rows["longest_repeat"].append(values["longest_repeat"][k] if "longest_repeat" in values else None)
    for col in CORPUS_COLUMNS:
        rows[col].append(None)


_CLAIM_STAT_COLUMNS = ("n_object_checked", "n_object_wrong", "n_open_object_checked", "n_open_object_wrong",
                       "n_open_object_unsupported", "n_open_object", "n_colour_checked", "n_colour_wrong",
                       "n_identity_checked", "n_identity_wrong")


def _columns(names: tuple[str, ...], rows: list[tuple]) -> dict[str, list]:
    """Row tuples -> ``{column: values}`` (``{}`` for no rows)."""
    if not rows:
        return {}
    return {name: list(col) for name, col in zip(names, zip(*rows, strict=True), strict=True)}


#: the claims shard's columns, in the order :func:`_claim_rows` fills them
CLAIM_COLUMNS = ("caption_id", "image_id", "source", "idx", "kind", "start", "end", "text", "subject", "value",
                 "hedged", "mention_idx", "verdict", "resolver", "evidence", "confidence", *POSITION_COLUMNS)


def _claim_rows(rows: list[tuple], c: Caption, p: Any, results: list[Any], positions: list[tuple]) -> None:
    cid, iid, src = c.caption_id, c.image_id, c.source
    rows.extend((cid, iid, src, r.index, claim.kind, claim.start, claim.end, claim.text, claim.subject, claim.value,
                 claim.hedged, claim.mention, r.verdict, r.resolver, r.evidence, r.confidence, *at)
                for claim, r, at in zip(p.claims, results, positions, strict=True))


_VERDICT_VALUE = {v: v.value for v in Verdict}  # (``Enum.value`` is a property: slow per row)

#: the mentions shard's columns, in the order :func:`_mention_rows` fills them
MENTION_COLUMNS = ("caption_id", "image_id", "source", "idx", "start", "end", "text", "lemma", "canonical", "vocab",
                   "count", "negated", "hedged", "nonvisual", "verdict", "reason", "evidence", "score", "box",
                   "count_verdict", "count_stated", "count_true", *POSITION_COLUMNS)


def _mention_rows(rows: list[tuple], c: Caption, p: Any, verdicts: list[MentionVerdict],
                  positions: list[tuple]) -> None:
    cid, iid, src = c.caption_id, c.image_id, c.source
    rows.extend((cid, iid, src, i, m.start, m.end, m.text, m.lemma, m.canonical, m.vocab, m.count, m.negated,
                 m.hedged, m.nonvisual, _VERDICT_VALUE[v.verdict], v.reason, v.evidence, v.score,
                 list(v.box) if v.box else None, v.count_verdict, v.count_stated, v.count_true, *at)
                for i, (m, v, at) in enumerate(zip(p.mentions, verdicts, positions, strict=True)))
