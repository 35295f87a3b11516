"""Hallucination and coverage metrics as ratios of sums of per-caption statistics.

Every metric is ``scale * sum(numerator) / sum(denominator)`` over a set of captions. Keeping
sufficient statistics (torchmetrics' ``add_state(..., "sum")``) makes per-source, per-shard and
bootstrap computations exact and cheap, and an empty denominator gives ``None`` with a status
instead of a division by zero (the lmms-eval CHAIR bug).

Per-caption statistic columns (``captions.parquet``): ``n_mentions``, ``n_hallucinated``,
``has_hallucination``, ``n_covered`` (len(covered)), ``n_gt`` (len(gt_objects)), ``n_words``,
``n_chars``, ``n_unverifiable``, ``n_all_mentions``, plus the indicator columns ``scored``,
``judged`` (scored and the image has ground truth) and ``one`` (every input caption).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RatioMetric:
    """``value = scale * Σ numerator / Σ denominator`` over captions.

    Attributes:
        name: metric id used in summary.json, the gate and the dashboard.
        numerator, denominator: per-caption statistic columns.
        higher_is_better: direction, read by the gate (never hard-coded there).
        unit: ``fraction``, ``per_100_words``, ``words``, ``chars`` or ``count``.
        description: one line for reports.
        empty_status: status string when the denominator is zero.
    """

    name: str
    numerator: str
    denominator: str
    higher_is_better: bool
    unit: str
    description: str
    scale: float = 1.0
    empty_status: str = "empty"

    def compute(self, num: float, den: float) -> float | None:
        """The metric from summed statistics; ``None`` when ``den`` is 0."""
        return None if den == 0 else self.scale * num / den

    def sql(self, num: str, den: str) -> str:
        """:meth:`compute` as SQL over the summed-statistic expressions ``num`` and ``den``."""
        scale = "" if self.scale == 1 else f"{float(self.scale)!r} * "
        return f"(CASE WHEN {den} = 0 OR {den} IS NULL THEN NULL ELSE {scale}{num} / {den} END)"


class ChairI(RatioMetric):
    r"""CHAIR-i, instance-level hallucination rate (Rohrbach et al., EMNLP 2018, "Object
    Hallucination in Image Captioning").

    .. math:: \mathrm{CHAIR_i} = \frac{|\{\text{hallucinated COCO-80 mentions}\}|}{|\{\text{COCO-80 mentions}\}|}

    Pooled over all captions; repeated mentions count each time. Negated, depicted and
    unverifiable mentions are left out of both counts. Lower is better.
    """


class ChairS(RatioMetric):
    r"""CHAIR-s, sentence/caption-level hallucination rate (Rohrbach et al., EMNLP 2018).

    .. math:: \mathrm{CHAIR_s} = \frac{|\{\text{captions with} \ge 1 \text{ hallucinated mention}\}|}{|\{\text{captions judged}\}|}

    "Judged" captions are scored captions whose image has ground truth. Grows with caption
    length; read it next to ``halluc_per_100w`` and ``coverage``. Lower is better.
    """


class Coverage(RatioMetric):
    r"""Coverage (object recall): ground-truth classes the caption mentions.

    .. math:: \mathrm{Coverage} = \frac{\sum_c |\mathrm{GT}(c) \cap \mathrm{mentioned}(c)|}{\sum_c |\mathrm{GT}(c)|}

    Distinct classes per caption, pooled over captions (the "Recall" of the CHAIR forks used
    by OPERA and lmms-eval; AMBER's "Cover", Wang et al. 2023, averages per response instead).
    Higher is better.
    """


class HallucPer100Words(RatioMetric):
    r"""Hallucinated mentions per 100 caption words: a length-fair hallucination rate.

    .. math:: 100 \cdot \frac{\sum_c \mathrm{hallucinated}(c)}{\sum_c \mathrm{words}(c)}

    Sums run over judged captions (scored, image with ground truth): without ground truth the
    rate is undefined (``None``), never 0.

    Long GPT-4V captions mention more objects, which inflates CHAIR-s; this rate does not
    reward saying less per word. Lower is better.
    """


class ClaimErrorRate(RatioMetric):
    r"""Share of checkable claims of one kind that the evidence contradicts.

    .. math:: \mathrm{err}_k = \frac{|\{\text{claims of kind } k \text{ contradicted}\}|}
              {|\{\text{claims of kind } k \text{ supported or contradicted}\}|}

    Claims the evidence cannot judge (*unverifiable*, *unsupported_by_refs*) are left out of
    both counts, so read it next to the number of claims checked. Per-kind faithfulness as in
    VALOR-Eval (Qiu et al. 2024, "VALOR-EVAL: Holistic Coverage and Faithfulness Evaluation of
    Large Vision-Language Models") and FaithScore (Jing et al., Findings of EMNLP 2024), with
    deterministic evidence (instances, mask pixels, reference captions, detectors) instead of an
    LLM judge. Lower is better.
    """


class QualityShare(RatioMetric):
    r"""Share of scored captions a quality check flags (or, for ``boilerplate_share``, the mean
    per-caption share of boilerplate words); the checks and thresholds are documented in
    docs/quality.md (issue #12).

    .. math:: \mathrm{share}_f = \frac{|\{\text{scored captions flagged } f\}|}{|\{\text{scored captions}\}|}

    Degenerate-output rates in the sense of Holtzman et al. (ICLR 2020, "The Curious Case of
    Neural Text Degeneration"): repetition loops, truncation, garbage. Lower is better.
    """


class MeanOf(RatioMetric):
    """A per-caption mean: ``Σ column / number of captions``."""


METRIC_LIST: tuple[RatioMetric, ...] = (
    ChairI("chair_i", "n_hallucinated", "n_mentions", False, "fraction",
           "hallucinated COCO-80 mentions / all COCO-80 mentions (CHAIR-i)", empty_status="no_mentions"),
    ChairS("chair_s", "has_hallucination", "judged", False, "fraction",
           "captions with >= 1 hallucinated object / captions judged (CHAIR-s)", empty_status="no_judged_captions"),
    Coverage("coverage", "n_covered", "n_gt", True, "fraction",
             "ground-truth classes mentioned / ground-truth classes, per caption, pooled",
             empty_status="no_ground_truth_objects"),
    HallucPer100Words("halluc_per_100w", "n_hallucinated", "n_words_judged", False, "per_100_words",
                      "hallucinated mentions per 100 words", scale=100.0, empty_status="no_words"),
    MeanOf("n_words_mean", "n_words", "scored", True, "words", "mean caption length in words",
           empty_status="no_scored_captions"),
    MeanOf("n_chars_mean", "n_chars", "scored", True, "chars", "mean caption length in characters",
           empty_status="no_scored_captions"),
    MeanOf("mentions_per_caption", "n_mentions", "judged", True, "count",
           "COCO-80 mentions judged per caption", empty_status="no_judged_captions"),
    RatioMetric("unverifiable_share", "n_unverifiable", "n_all_mentions", False, "fraction",
                "mentions no evidence could judge / all mentions", empty_status="no_mentions"),
    ClaimErrorRate("claim_error_rate", "n_claims_wrong", "n_claims_checked", False, "fraction",
                   "contradicted claims / claims the evidence could judge (all kinds)",
                   empty_status="no_checked_claims"),
    ClaimErrorRate("claims_s", "has_contradiction", "claims_judged", False, "fraction",
                   "captions with >= 1 contradicted claim / captions with >= 1 checked claim",
                   empty_status="no_checked_claims"),
    ClaimErrorRate("object_error_rate", "n_object_wrong", "n_object_checked", False, "fraction",
                   "contradicted COCO-80 object claims / object claims checked", empty_status="no_object_claims"),
    ClaimErrorRate("open_object_error_rate", "n_open_object_wrong", "n_open_object_checked", False, "fraction",
                   "contradicted open-vocabulary object claims / open object claims checked",
                   empty_status="no_open_object_claims"),
    RatioMetric("open_unsupported_share", "n_open_object_unsupported", "n_open_object", False, "fraction",
                "open-vocabulary things no reference caption or detector supports / open object claims",
                empty_status="no_open_object_claims"),
    ClaimErrorRate("count_error_rate", "n_count_wrong", "n_count_checked", False, "fraction",
                   "contradicted count claims / count claims checked", empty_status="no_count_claims"),
    ClaimErrorRate("colour_error_rate", "n_colour_wrong", "n_colour_checked", False, "fraction",
                   "contradicted colour claims / colour claims checked", empty_status="no_colour_claims"),
    ClaimErrorRate("identity_error_rate", "n_identity_wrong", "n_identity_checked", False, "fraction",
                   "contradicted person words (gender, age) / person-word claims checked",
                   empty_status="no_identity_claims"),
    RatioMetric("skipped_share", "skipped", "one", False, "fraction",
                "input captions skipped / input captions", empty_status="no_input"),
    QualityShare("repetition_share", "n_repetition", "scored", False, "fraction",
                 "scored captions in a repetition loop / scored captions", empty_status="no_scored_captions"),
    QualityShare("truncated_share", "n_truncated", "scored", False, "fraction",
                 "scored captions cut off mid-sentence / scored captions", empty_status="no_scored_captions"),
    QualityShare("garbage_share", "n_garbage", "scored", False, "fraction",
                 "scored captions with markup, code, control characters or unmatched brackets / scored captions",
                 empty_status="no_scored_captions"),
    QualityShare("degenerate_share", "n_degenerate", "scored", False, "fraction",
                 "scored captions with any per-caption quality flag / scored captions",
                 empty_status="no_scored_captions"),
    QualityShare("duplicate_share", "n_duplicate", "scored", False, "fraction",
                 "scored captions whose exact text the source uses on another image / scored captions",
                 empty_status="no_scored_captions"),
    QualityShare("near_duplicate_share", "n_near_duplicate", "scored", False, "fraction",
                 "scored captions near-identical to a caption of another image / scored captions",
                 empty_status="no_scored_captions"),
    QualityShare("boilerplate_share", "boilerplate_sum", "scored", False, "fraction",
                 "mean share of a caption's words in the source's boilerplate opening/closing sentences",
                 empty_status="no_scored_captions"),
)
METRICS: dict[str, RatioMetric] = {m.name: m for m in METRIC_LIST}

COMPARE_EXTRA_LIST: tuple[RatioMetric, ...] = (
    RatioMetric("mentions_per_100w", "n_mentions", "n_words_judged", True, "per_100_words",
                "COCO-80 mentions judged per 100 words", scale=100.0, empty_status="no_words"),
    RatioMetric("covered_per_100w", "n_covered", "n_words_judged", True, "per_100_words",
                "ground-truth classes covered per 100 words", scale=100.0, empty_status="no_words"),
)
"""Length-normalised rates that ``compare`` shows next to the per-caption rates (not in
summary.json), from the same statistics."""

CLASS_METRIC_LIST: tuple[RatioMetric, ...] = (
    ChairI("hallucination_rate", "n_hallucinated", "n_mentions", False, "fraction",
           "judged mentions of the class that are hallucinated / judged mentions of the class "
           "(CHAIR-i restricted to one class)", empty_status="no_mentions"),
    Coverage("coverage", "n_covered", "n_gt_captions", True, "fraction",
             "captions that mention the class when their image has it / captions whose image has it",
             empty_status="no_ground_truth_objects"),
)
"""Per (source, COCO class) metrics: ``classes.parquet`` and ``compare``'s class tables.
Their statistics come from :data:`caption_audit.scoring.aggregate.CLASS_STATS_SQL`."""

STAT_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(c for m in METRIC_LIST for c in (m.numerator, m.denominator))
)


def metric_metadata() -> dict[str, dict]:
    """The ``metrics`` block of summary.json: direction, unit and description per metric."""
    return {
        m.name: {
            "higher_is_better": m.higher_is_better,
            "unit": m.unit,
            "description": m.description,
            "formula": f"{m.scale:g} * sum({m.numerator}) / sum({m.denominator})"
            if m.scale != 1
            else f"sum({m.numerator}) / sum({m.denominator})",
        }
        for m in METRIC_LIST
    }
