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
  Exception, *singular references*: when exactly one instance is boxed (``n = 1``, no crowd
  region, not a grouped or paired class) and at least :data:`MIN_SINGULAR_REFS` (3) reference
  captions (``ImageEvidence.references``, the caption's own id left out) mention the class and
  every one of them speaks of a single one (one singular mention, "a dog", and no count of 2 or
  more), a stated count of 2 or more is *contradicted* (0.75): the boxes and the people who
  described the photo agree there is one. (On COCO human captions judged against the other four
  captions of their image: ``benchmarks/claims_counts.py``.)
  Exception, *one large box* (0.7): ``n = 1`` (same conditions) and the box's mask is at least
  ``large_area`` (96² px, COCO's "large") and no reference caption speaks of more than one (none
  speaking is allowed): a second one would rarely go unboxed (when COCO boxes two or more and the
  largest is large, the second is small in 4 of 85 cases on coco_mini). Needs the instances'
  geometry (kept when the ``pixels`` resolver runs).
  Exception, *exact references* (0.7): a stated exact count ``s > n`` (no crowd, not grouped) when
  at least ``exact_refs`` (1) reference captions count exactly ``n`` and none counts ``s``: the boxes
  and a person who counted agree ("a family of five", four boxed, "Four persons sit ..."). Neither
  exception adds a false alarm on the human captions of ``benchmarks/claims_counts.py``.
- stated below ``n``: humans count the salient ones or a subset ("two men and a woman", "four
  people wait" with 12 boxed): 29 of 167 exact human counts (17%) are below ``n``, 6 (3.6%)
  even below ``(n - 1) / 2``. So a count below the boxes is *unverifiable* here ("instances: 5
  person (a caption may count only some)"); the references resolver can still contradict it.
- an ``iscrowd`` region makes ``n`` a lower bound: a stated count >= ``n`` is *unverifiable*.
- a COCO-80 class with no instance (the image's ground truth covers every COCO-80 class): a count
  of something absent is wrong too, *contradicted* (0.85) with the object claim's evidence
  ("instances: no dog"). Per-kind rates are separate metrics, so this is not counted twice
  within a kind. A count of an open-vocabulary thing ("two plates") gets ``None`` (no evidence).

Identity claims: a person word on an image with no boxed or named person is *contradicted* (0.85,
"instances: no person"), as a count of an absent class is; otherwise ``None`` (boxes say nothing
of gender or age). 4 of 310 human identity claims trip it, each with its object claim.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from caption_audit.scoring.resolvers.base import ImageEvidence
from caption_audit.scoring.verdicts import judge_mention
from caption_audit.text.vocab import coco80_classes
from caption_audit.types import Claim, ClaimKind, ClaimVerdict, Mention, Resolution, Verdict, Vocab

_RANGE = re.compile(r"^(\d+)(?:(\+)|-(\d+))?$")
MIN_SINGULAR_REFS = 3


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
    from caption_audit.yamldata import load_yaml

    data = load_yaml((Path(__file__).with_name("counts.yaml")).read_bytes())
    return {"paired": frozenset(data["paired"]), "grouped": frozenset(data["grouped"]),
            "over_factor": int(data["over_factor"]), "over_margin": int(data["over_margin"]),
            "large_area": float(data["large_area"]), "exact_refs": int(data["exact_refs"])}


def _fmt_range(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")


def _is_plural(word: str) -> bool:
    """Whether ``word`` may be a plural (or same-in-both) form: the plural of some candidate
    singular (``dogs`` <- ``dog``, ``buses`` <- ``bus``, ``men`` <- ``man``). Errs towards
    plural ("bus" may be the plural of "bu"): a plural read as singular would be a false alarm."""
    from caption_audit.text.inflect import INVARIANT, IRREGULAR

    w = word.lower()
    if w in INVARIANT or w in IRREGULAR.values() or w.endswith("men"):
        return True
    cands = [w[:-1], w[:-2], w[:-3] + "y", w[:-3] + "f", w[:-3] + "fe"] if w.endswith("s") else []
    from caption_audit.text.inflect import pluralize

    # a word with an irregular plural may take the regular one too ("persons")
    return any(c and (pluralize(c) == w or (c in IRREGULAR and c + "s" == w)) for c in cands)


def _refs_of_one(subject: str, caption_id: str, ev: ImageEvidence) -> tuple[int, bool]:
    """How the reference captions (other than ``caption_id``) speak of ``subject``:
    ``(singular, more)``. ``singular`` is the number that speak of exactly one (one singular
    mention, "a dog"); ``more`` is whether any speaks of more than one (a plural, two mentions,
    a count of 2 or more)."""
    if not ev.references:
        return 0, False
    spans: dict[str, list[tuple[int, int, str]]] = {}
    counted = False
    for cid, c in ev.references:
        if cid == caption_id or c.subject != subject:
            continue
        if c.kind == ClaimKind.OBJECT:
            spans.setdefault(cid, []).append((c.start, c.end, c.text.split()[-1] if c.text.strip() else ""))
        elif c.kind == ClaimKind.COUNT and c.value != "1":
            counted = True
    singular = 0
    for got in spans.values():
        got.sort()
        # adjacent mentions of one class are one noun phrase ("panda bear"): its head is the last
        heads = [w for k, (_, e, w) in enumerate(got) if k + 1 == len(got) or got[k + 1][0] - e > 1]
        if len(heads) != 1 or not heads[0] or _is_plural(heads[0]):
            return 0, True
        singular += 1
    return (0, True) if counted else (singular, False)


def _singular_refs(subject: str, caption_id: str, ev: ImageEvidence) -> int:
    """Number of reference captions (other than ``caption_id``) that speak of exactly one
    ``subject``; 0 when any reference caption mentions it otherwise (a plural, two mentions,
    a count of 2 or more), or when none does."""
    return _refs_of_one(subject, caption_id, ev)[0]


def _exact_ref_counts(subject: str, caption_id: str, ev: ImageEvidence) -> list[int]:
    """The exact counts of ``subject`` that the reference captions (other than ``caption_id``)
    state ("Four persons sit ..." -> 4); vague ones ("a group of people") are left out."""
    out = []
    for cid, c in ev.references or ():
        if cid != caption_id and c.kind == ClaimKind.COUNT and c.subject == subject:
            r = parse_count(c.value)
            if r is not None and r[0] == r[1]:
                out.append(r[0])
    return out


def _large_single(subject: str, ev: ImageEvidence, min_area: float) -> float | None:
    """The mask area (pixels) of the one boxed ``subject`` when it is at least ``min_area``;
    ``None`` when there is not exactly one instance, its area is unknown (no geometry, or
    normalised boxes) or it is smaller."""
    inst = [g for g in ev.instances.get(subject, ()) if not g.get("iscrowd")]
    if len(inst) != 1 or inst[0].get("normalized") or inst[0].get("area") is None:
        return None
    area = float(inst[0]["area"])
    return area if area >= min_area else None


# enum values read once (``Enum.value`` is a property: slow in the per-claim loop)
_COCO80 = Vocab.COCO80.value
_SUPPORTED = ClaimVerdict.SUPPORTED.value
_CONTRADICTED = ClaimVerdict.CONTRADICTED.value


class InstancesResolver:
    """Judges object, count and identity claims on the image's COCO instances."""

    name: ClassVar[str] = "instances"
    kinds: ClassVar[frozenset[str]] = frozenset({ClaimKind.OBJECT.value, ClaimKind.COUNT.value,
                                                 ClaimKind.IDENTITY.value})

    def resolve(self, claim: Claim, caption_id: str, ev: ImageEvidence) -> Resolution | None:
        """Judge an object, count or identity claim; ``None`` without ground truth for the image."""
        if claim.kind == ClaimKind.OBJECT:
            return self._object(claim, ev)
        if claim.kind == ClaimKind.COUNT:
            return self._count(claim, caption_id, ev)
        if claim.kind == ClaimKind.IDENTITY:
            return self._identity(claim, ev)
        return None

    def _identity(self, claim: Claim, ev: ImageEvidence) -> Resolution | None:
        """A person word on an image whose ground truth has no person describes nobody there:
        *contradicted* (0.85), as a count of an absent class is. Otherwise no instance evidence
        (boxes say nothing of gender or age)."""
        if ev.gt_classes is None or claim.subject != "person" or "person" in ev.gt_classes:
            return None
        return Resolution(ClaimVerdict.CONTRADICTED.value, self.name, "instances: no person", 0.85)

    def _object(self, claim: Claim, ev: ImageEvidence) -> Resolution | None:
        if ev.gt_classes is None:
            return None
        m = Mention(claim.start, claim.end, claim.text, claim.subject, claim.subject, _COCO80, hedged=claim.hedged)
        v = judge_mention(m, ev.gt_classes)
        if v.verdict == Verdict.SUPPORTED:
            n = (ev.gt_counts or {}).get(claim.subject)
            return Resolution(_SUPPORTED, self.name, f"instances: {n} {claim.subject}" if n else f"gt: {claim.subject}",
                              0.95)
        if v.verdict == Verdict.HALLUCINATED:
            return Resolution(_CONTRADICTED, self.name, f"instances: no {claim.subject}", 0.9)
        return None

    def _count(self, claim: Claim, caption_id: str, ev: ImageEvidence) -> Resolution | None:
        stated = parse_count(claim.value)
        if ev.gt_classes is None or ev.gt_counts is None or stated is None:
            return None
        subj = claim.subject
        crowd = subj in ev.crowd
        if subj not in ev.gt_classes:
            if subj not in coco80_classes():
                return None  # an open-vocabulary thing ("two plates"): no instances to count
            return Resolution(ClaimVerdict.CONTRADICTED.value, self.name, f"instances: no {subj}", 0.85)
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
            simple = n == 1 and not crowd and subj not in rules["grouped"] and subj not in rules["paired"]
            singular, more = _refs_of_one(subj, caption_id, ev) if simple else (0, True)
            if singular >= MIN_SINGULAR_REFS:
                return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                                  f"{seen}, stated {_fmt_range(lo, hi)}; {singular} reference caption(s) speak of one",
                                  0.75)
            area = _large_single(subj, ev, rules["large_area"]) if simple and not more else None
            if area is not None:
                return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                                  f"{seen}, stated {_fmt_range(lo, hi)}; the one boxed is large ({area:.0f} px), "
                                  "no reference caption speaks of more", 0.7)
            exact = _exact_ref_counts(subj, caption_id, ev) if lo == hi and subj not in rules["grouped"] else []
            if exact.count(n) >= rules["exact_refs"] and lo not in exact:
                return Resolution(ClaimVerdict.CONTRADICTED.value, self.name,
                                  f"{seen}, stated {lo}; {exact.count(n)} reference caption(s) count {n}", 0.7)
            return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name,
                              f"{seen} (annotations often miss small objects)", 0.0)
        return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name,
                          f"{seen} (a caption may count only some of them)", 0.0)
