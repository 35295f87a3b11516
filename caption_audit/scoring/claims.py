"""Judge a caption's claims by combining the resolvers' answers (docs/claims.md).

Precision first. For each claim, the resolutions with confidence >= :data:`MIN_CONFIDENCE`
decide (the rest only add to the evidence text):

1. some say *contradicted* and none says *supported* -> **contradicted**;
2. some say *supported* and none says *contradicted* -> **supported**;
3. none decides, no resolution says *supported* at any confidence, and *weak* contradictions
   (confidence >= :data:`~caption_audit.scoring.resolvers.base.WEAK_CONFIDENCE`) from at least
   two different resolvers have a noisy-OR ``1 - prod(1 - c)`` >= :data:`MIN_CONFIDENCE` ->
   **contradicted** with that confidence (two independent weak signals: "the mask shows almost
   no red" and "the reference captions call the car blue");
4. strong ones both ways -> **unverifiable**, evidence ``"evidence disagrees: ..."``;
5. none, and an open_object claim whose reference captions do not mention it (and no detector
   found it, else rule 2 applied) -> **unsupported_by_refs**;
6. otherwise **unverifiable**, with the reason in the evidence.

Example::

    from caption_audit.scoring.claims import build_resolvers, judge_claims
    from caption_audit.scoring.resolvers import ImageEvidence
    from caption_audit.types import Claim

    ev = ImageEvidence("139", gt_classes={"giraffe"}, gt_counts={"giraffe": 1})
    claims = [Claim("object", 6, 14, "giraffe", ""), Claim("count", 0, 14, "giraffe", "3")]
    for r in judge_claims(claims, "cap-1", ev, build_resolvers(["instances"])):
        print(r.index, r.verdict, r.evidence)   # 0 supported ..., 1 contradicted ...

For a real image, build ``ev`` with :func:`caption_audit.scoring.evidence.build_image_evidence`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from caption_audit.scoring.resolvers import RESOLVERS, ImageEvidence, Resolver
from caption_audit.scoring.resolvers.base import WEAK_CONFIDENCE
from caption_audit.types import Claim, ClaimKind, ClaimVerdict, Resolution

MIN_CONFIDENCE = 0.5
# verdicts that decide a claim alone (rules 1 and 2) -> their ClaimResult value
_DECISIVE = {ClaimVerdict.CONTRADICTED: ClaimVerdict.CONTRADICTED.value,
             ClaimVerdict.SUPPORTED: ClaimVerdict.SUPPORTED.value}
_UNVERIFIABLE = ClaimVerdict.UNVERIFIABLE.value
DEFAULT_RESOLVERS = ("instances", "pixels", "references", "detector")


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """The verdict on one claim of a caption.

    Attributes:
        index: the claim's index in ``ParsedCaption.claims``.
        verdict: a :class:`~caption_audit.types.ClaimVerdict` value.
        resolver: the resolver(s) that decided, comma-joined (``""`` when none spoke).
        evidence: the deciding evidence, then the rest, ``"; "``-joined; or the reason.
        confidence: the strongest deciding confidence; ``None`` when nothing decided.
    """

    index: int
    verdict: str
    resolver: str
    evidence: str
    confidence: float | None


def build_resolvers(names: Iterable[str] = DEFAULT_RESOLVERS,
                    options: Mapping[str, Mapping[str, Any]] | None = None) -> list[Resolver]:
    """Instantiate resolvers by registered name (``options[name]`` are their keyword
    arguments, e.g. ``{"references": {"embedder": Embedder()}}``).

    Raises:
        ConfigError: an unknown resolver name (lists the known ones).
    """
    options = options or {}
    return [RESOLVERS.get(n)(**dict(options.get(n, {}))) for n in names]


def _no_evidence_reason(claim: Claim, names: set[str]) -> str:
    facet = claim.value.split(":")[0] if claim.kind == ClaimKind.IDENTITY else ""
    return _reason(claim.kind, claim.subject, facet, "pixels" in names)


@functools.lru_cache(maxsize=4096)
def _reason(kind: str, s: str, facet: str, pixels: bool) -> str:
    if kind == ClaimKind.COLOUR:
        return f"no instances of {s} have a mask" if pixels else "no colour evidence (pixels resolver off)"
    if kind == ClaimKind.COUNT:
        return f"no instance counts of {s}"
    if kind == ClaimKind.OBJECT:
        return "no ground truth or detector for the image"
    if kind == ClaimKind.OPEN_OBJECT:
        return f"no reference captions or detector to check {s}"
    if kind == ClaimKind.IDENTITY:
        return f"no reference caption speaks of the {s}'s {facet}"
    return f"no resolver judges {kind} claims"


def _join(rs: Sequence[Resolution]) -> str:
    return "; ".join(r.evidence for r in rs if r.evidence)


def _weak_contradiction(resolutions: Sequence[Resolution]) -> tuple[list[Resolution], float] | None:
    """Rule 3: weak contradictions of >= 2 resolvers, no support at all -> (them, noisy-OR)."""
    if any(r.verdict == ClaimVerdict.SUPPORTED for r in resolutions):
        return None
    best: dict[str, Resolution] = {}
    for r in resolutions:
        weak = r.verdict == ClaimVerdict.CONTRADICTED and r.confidence >= WEAK_CONFIDENCE
        if weak and (r.resolver not in best or r.confidence > best[r.resolver].confidence):
            best[r.resolver] = r
    if len(best) < 2:
        return None
    miss = 1.0
    for r in best.values():
        miss *= 1.0 - r.confidence
    conf = round(1.0 - miss, 4)
    return (sorted(best.values(), key=lambda r: -r.confidence), conf) if conf >= MIN_CONFIDENCE else None


def combine(claim: Claim, index: int, resolutions: Sequence[Resolution], names: set[str]) -> ClaimResult:
    """Apply the combination rule (module doc) to one claim's resolutions."""
    if not resolutions:  # no resolver spoke (rule 6)
        return ClaimResult(index, _UNVERIFIABLE, "", _no_evidence_reason(claim, names), None)
    if len(resolutions) == 1:  # the common case: one resolver spoke, strongly (rules 1 and 2)
        r = resolutions[0]
        if r.confidence >= MIN_CONFIDENCE and r.verdict in _DECISIVE:
            return ClaimResult(index, _DECISIVE[r.verdict], r.resolver, r.evidence or "", r.confidence)
    strong = [r for r in resolutions if r.confidence >= MIN_CONFIDENCE]
    sup = sorted((r for r in strong if r.verdict == ClaimVerdict.SUPPORTED), key=lambda r: -r.confidence)
    con = sorted((r for r in strong if r.verdict == ClaimVerdict.CONTRADICTED), key=lambda r: -r.confidence)
    rest = [r for r in resolutions if r not in sup and r not in con]
    if con and not sup:
        return ClaimResult(index, ClaimVerdict.CONTRADICTED.value, ",".join(r.resolver for r in con),
                           _join([*con, *rest]), con[0].confidence)
    if sup and not con:
        return ClaimResult(index, ClaimVerdict.SUPPORTED.value, ",".join(r.resolver for r in sup),
                           _join([*sup, *rest]), sup[0].confidence)
    weak = _weak_contradiction(resolutions) if not sup and not con else None
    if weak is not None:
        ws, conf = weak
        return ClaimResult(index, ClaimVerdict.CONTRADICTED.value, ",".join(r.resolver for r in ws),
                           _join([*ws, *(r for r in resolutions if r not in ws)]), conf)
    if sup and con:
        return ClaimResult(index, ClaimVerdict.UNVERIFIABLE.value, ",".join(r.resolver for r in [*sup, *con]),
                           "evidence disagrees: " + _join([*sup, *con]), None)
    unref = [r for r in resolutions if r.verdict == ClaimVerdict.UNSUPPORTED_BY_REFS]
    if claim.kind == ClaimKind.OPEN_OBJECT and unref:
        return ClaimResult(index, ClaimVerdict.UNSUPPORTED_BY_REFS.value, unref[0].resolver,
                           _join([*unref, *(r for r in resolutions if r not in unref)]), None)
    spoke = [r for r in resolutions if r.verdict != ClaimVerdict.UNSUPPORTED_BY_REFS]
    return ClaimResult(index, ClaimVerdict.UNVERIFIABLE.value, ",".join(r.resolver for r in spoke),
                       _join(spoke) or _no_evidence_reason(claim, names), None)


def judge_claims(claims: Sequence[Claim], caption_id: str, ev: ImageEvidence,
                 resolvers: Sequence[Resolver]) -> list[ClaimResult]:
    """Judge every claim of one caption on its image's evidence.

    Args:
        claims: ``ParsedCaption.claims`` of the caption (text order).
        caption_id: the caption's id (a reference caption never judges its own claims).
        ev: the image's evidence (:func:`caption_audit.scoring.evidence.build_image_evidence`).
        resolvers: from :func:`build_resolvers`; each is asked about the kinds it judges.

    Returns:
        One :class:`ClaimResult` per claim, in order.
    """
    for r in resolvers:
        prepare = getattr(r, "prepare", None)
        if prepare is not None:
            prepare(list(claims), caption_id, ev)
    names = {r.name for r in resolvers}
    out = []
    for i, claim in enumerate(claims):
        got = []
        for r in resolvers:
            if claim.kind in r.kinds:
                res = r.resolve(claim, caption_id, ev)
                if res is not None:
                    got.append(res)
        out.append(combine(claim, i, got, names))
    return out
