"""Open-vocabulary detector boxes as evidence (resolver ``detector``).

Wraps the per-image detector evidence of :mod:`caption_audit.detect_stage`
(``lookup(canonical) -> (found, score, box)`` or ``None`` when the detector was not asked).

- **object** (COCO-80): only when the image has no ground truth (ground truth lists every
  COCO-80 object and wins, as in :func:`caption_audit.scoring.verdicts.judge_mention`, which
  this reuses). Found -> *supported* (0.8); asked and not found -> *contradicted* (0.6:
  detectors miss small, occluded and unusual objects, so this is moderate).
- **open_object**: the same, at any time.
- **count**: from ``boxes(canonical) -> [(score, box), ...]`` (``DetectorEvidence.boxes``:
  the class's boxes above the detector's threshold, overlapping duplicates removed by NMS), and
  only where the ground truth does not count the class (an image without ground truth, or an
  open-vocabulary thing such as "six plates"): boxed instances are better evidence. Boxes scoring
  >= :data:`CONFIDENT_SCORE` are "confident": ``n`` of them inside the stated range ->
  *supported* (0.6); a stated count at most a third of ``n`` (``3 * hi <= n``: "two dogs" with
  6 confident boxes) -> *contradicted* (0.6; people often count a subset, "two men" of five,
  so a count merely below ``n`` is not evidence); else *unverifiable* (detectors both over- and
  under-count, and miss small objects, so a count above ``n`` is never contradicted).
"""

from __future__ import annotations

from typing import ClassVar

from caption_audit.scoring.resolvers.base import ImageEvidence
from caption_audit.scoring.resolvers.instances import parse_count
from caption_audit.scoring.verdicts import judge_mention
from caption_audit.text.vocab import coco80_classes
from caption_audit.types import Claim, ClaimKind, ClaimVerdict, Mention, Resolution, Verdict, Vocab

CONFIDENT_SCORE = 0.5
UNDERCOUNT_FACTOR = 3


class DetectorResolver:
    """Judges existence and counts from detector output."""

    name: ClassVar[str] = "detector"
    kinds: ClassVar[frozenset[str]] = frozenset({ClaimKind.OBJECT.value, ClaimKind.OPEN_OBJECT.value,
                                                 ClaimKind.COUNT.value})

    def resolve(self, claim: Claim, caption_id: str, ev: ImageEvidence) -> Resolution | None:
        """Judge ``claim`` on the detector's boxes; ``None`` when the detector was not asked."""
        del caption_id
        det = ev.detector
        if det is None:
            return None
        if claim.kind == ClaimKind.COUNT:
            if ev.gt_counts is not None and claim.subject in (ev.gt_classes or ()):
                return None  # boxed instances count it (resolver "instances")
            if ev.gt_classes is not None and claim.subject not in ev.gt_classes and claim.subject in coco80_classes():
                return None  # ground truth lists every COCO-80 class: "instances" says it is absent
            return self._count(claim, det)
        if claim.kind == ClaimKind.OBJECT and ev.gt_classes is not None:
            return None  # ground truth decides COCO-80 existence
        if claim.kind not in (ClaimKind.OBJECT, ClaimKind.OPEN_OBJECT):
            return None
        vocab = Vocab.COCO80 if claim.kind == ClaimKind.OBJECT else Vocab.OPEN
        m = Mention(claim.start, claim.end, claim.text, claim.subject, claim.subject, vocab.value,
                    hedged=claim.hedged)
        v = judge_mention(m, None, det)
        name = getattr(det, "name", self.name)
        score = f" {v.score:.2f}" if v.score is not None else ""
        if v.verdict == Verdict.SUPPORTED:
            return Resolution(ClaimVerdict.SUPPORTED.value, self.name, f"{name}: {claim.subject}{score}", 0.8)
        if v.verdict == Verdict.HALLUCINATED:
            best = f" (best{score})" if score else ""
            return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                              f"{name}: no {claim.subject} above threshold{best}; detectors miss things", 0.6)
        return None

    def _count(self, claim: Claim, det: object) -> Resolution | None:
        boxes_of = getattr(det, "boxes", None)
        stated = parse_count(claim.value)
        if boxes_of is None or stated is None:
            return None
        boxes = boxes_of(claim.subject)
        if boxes is None:
            return None
        n = sum(1 for score, _ in boxes if score is not None and score >= CONFIDENT_SCORE)
        lo, hi = stated
        text = f"{getattr(det, 'name', self.name)}: {n} {claim.subject} box(es) >= {CONFIDENT_SCORE}"
        if n and lo <= n and (hi is None or n <= hi):
            return Resolution(ClaimVerdict.SUPPORTED.value, self.name, text, 0.6)
        if hi is not None and n >= UNDERCOUNT_FACTOR * max(hi, 1):
            return Resolution(ClaimVerdict.CONTRADICTED.value, self.name, text, 0.6)
        return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name,
                          text + " (detectors over- and under-count)", 0.0)
