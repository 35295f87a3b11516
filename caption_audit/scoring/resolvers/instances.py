"""Object existence and counts from COCO instances (resolver ``instances``).

Object claims reuse the mention verdicts of :func:`caption_audit.scoring.verdicts.judge_mention`:
a COCO-80 class in the image's ground truth is *supported*, one missing from it is
*contradicted*.

Count claims compare the stated value (``"3"``, ``"3-7"``, ``"3+"``) with ``n``, the image's
non-crowd boxed instances of the class. Precision first; the rule below was measured on COCO
human captions (which are nearly always right) of coco_mini and LLaVA caps_boxes, 167 exact and
82 vague counts (``benchmarks/claims_counts.py``):

- ``n`` inside the stated range (exact: equal) -> *supported* (0.9). Paired classes (skis,
  scissors: one box is a pair) accept ``n`` or ``n`` pairs.
- stated above ``n``: COCO misses small and occluded objects, and boxes a bunch of bananas as
  one. *Contradicted* (0.8) only when the stated count (low end of a range) is at least
  ``2 n + 1`` (3 vs 1, 5 vs 2), the class is not a grouped one and has no crowd region: 2 of 167
  exact human counts (1.2%, both the "ten speed bike" parse) and 0 of 82 vague ones trip it.
  Otherwise *unverifiable* ("instances: 2 dog (annotations often miss small objects)").
- stated below ``n``: humans count the salient ones or a subset ("two men and a woman", "four
  people wait" with 12 boxed): 29 of 167 exact human counts (17%) are below ``n``, 6 (3.6%)
  even below ``(n - 1) / 2``. So a count below the boxes is *unverifiable* here ("instances: 5
  person (a caption may count only some)"); the references resolver can still contradict it.
- an ``iscrowd`` region makes ``n`` a lower bound: a stated count >= ``n`` is *unverifiable*.
- the class has no instance: *unverifiable*; the object claim judges existence (one error is
  not counted twice).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from caption_audit.scoring.resolvers.base import ImageEvidence
from caption_audit.scoring.verdicts import judge_mention
from caption_audit.types import Claim, ClaimKind, ClaimVerdict, Mention, Resolution, Verdict, Vocab

_RANGE = re.compile(r"^(\d+)(?:(\+)|-(\d+))?$")


def parse_count(value: str) -> tuple[int, int | None] | None:
    """``"3"`` -> ``(3, 3)``, ``"3-7"`` -> ``(3, 7)``, ``"3+"`` -> ``(3, None)``; ``None`` if
    the value is not a count encoding (see docs/claims.md)."""
    m = _RANGE.match(value.strip())
    if not m:
        return None
    lo = int(m.group(1))
    if m.group(2):
        return lo, None
    hi = int(m.group(3)) if m.group(3) else lo
    return (lo, hi) if hi >= lo else None


@cache
def count_rules() -> dict[str, Any]:
    """The class lists and thresholds of ``counts.yaml`` (read once)."""
    import yaml

    data = yaml.safe_load((Path(__file__).with_name("counts.yaml")).read_text())
    return {"paired": frozenset(data["paired"]), "grouped": frozenset(data["grouped"]),
            "over_factor": int(data["over_factor"]), "over_margin": int(data["over_margin"])}


def _fmt_range(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")


class InstancesResolver:
    """Judges object and count claims on the image's COCO instances."""

    name: ClassVar[str] = "instances"
    kinds: ClassVar[frozenset[str]] = frozenset({ClaimKind.OBJECT.value, ClaimKind.COUNT.value})

    def resolve(self, claim: Claim, caption_id: str, ev: ImageEvidence) -> Resolution | None:
        """Judge an object or count claim; ``None`` without ground truth for the image."""
        del caption_id
        if claim.kind == ClaimKind.OBJECT:
            return self._object(claim, ev)
        if claim.kind == ClaimKind.COUNT:
            return self._count(claim, ev)
        return None

    def _object(self, claim: Claim, ev: ImageEvidence) -> Resolution | None:
        if ev.gt_classes is None:
            return None
        m = Mention(claim.start, claim.end, claim.text, claim.subject, claim.subject, Vocab.COCO80.value,
                    hedged=claim.hedged)
        judge_mention(m, ev.gt_classes)
        if m.verdict == Verdict.SUPPORTED:
            n = (ev.gt_counts or {}).get(claim.subject)
            return Resolution(ClaimVerdict.SUPPORTED.value, self.name,
                              f"instances: {n} {claim.subject}" if n else f"gt: {claim.subject}", 0.95)
        if m.verdict == Verdict.HALLUCINATED:
            return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                              f"instances: no {claim.subject}", 0.9)
        return None

    def _count(self, claim: Claim, ev: ImageEvidence) -> Resolution | None:
        stated = parse_count(claim.value)
        if ev.gt_classes is None or ev.gt_counts is None or stated is None:
            return None
        subj = claim.subject
        crowd = subj in ev.crowd
        if subj not in ev.gt_classes:
            return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name,
                              f"instances: no {subj} (the object claim judges it)", 0.0)
        if subj not in ev.gt_counts and not crowd:
            return None  # named in GT without boxes (e.g. CHAIR tables): no count
        rules = count_rules()
        n = int(ev.gt_counts.get(subj, 0))
        lo, hi = stated
        seen = f"instances: {n} {subj}" + (" + a crowd region" if crowd else "")
        # paired classes: "two skis" may be one pair (one box); accept either reading
        readings = [(lo, hi)]
        if subj in rules["paired"]:
            readings.append(((lo + 1) // 2, None if hi is None else hi // 2))
        if not crowd and any(a <= n and (b is None or n <= b) for a, b in readings):
            return Resolution(ClaimVerdict.SUPPORTED.value, self.name, seen, 0.9)
        low = min(a for a, _ in readings)
        if crowd and (hi is None or max(b for _, b in readings if b is not None) >= n):
            return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name,
                              f"{seen} (a crowd region: the true count is at least {n})", 0.0)
        if low > n:
            if (not crowd and subj not in rules["grouped"] and n >= 1
                    and low >= rules["over_factor"] * n + rules["over_margin"]):
                return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                                  f"{seen}, stated {_fmt_range(lo, hi)}", 0.8)
            return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name,
                              f"{seen} (annotations often miss small objects)", 0.0)
        return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name,
                          f"{seen} (a caption may count only some of them)", 0.0)
