"""Other captions of the same image as evidence (resolver ``references``).

Any caption source can serve as reference for the others (``--reference-source``, by default
the COCO human captions). :attr:`ImageEvidence.references` holds the reference source's claims
of the image as ``(caption_id, Claim)`` pairs; a claim never judges itself: references with the
claim's own ``caption_id`` are skipped (a source is not its own reference).

Claims are matched to reference claims of the same kind by subject (already canonical; the
text stage maps synonyms). Each reference *caption* that has such claims "speaks" once, with
the union of its values. Thresholds (precision first; human captions often name a subset of
what is there, so one dissenting reference never decides):

- **count, colour, identity**: *contradicted* (0.7) when at least :data:`MIN_SPEAKERS` (2)
  references speak, none agrees with the claim, and at least :data:`AGREE_SHARE` (75%) of them
  agree on one other value ("a woman" vs four references saying "a man"). *Supported* (0.7)
  when at least 2 speakers agree with it, or one does and none disagrees. Otherwise
  *unverifiable* with the tally. Agreement: counts overlap as ranges ("3" agrees with
  "3-7"), colours share a category ("black+white" agrees with "white"), identities share the
  value in each dimension the claim states (gender, age). Identity only: a baby is a child
  (``age:baby`` agrees with ``age:child``), and one dissenting reference (at most
  :data:`OUTVOTE_MAX_AGREE`) does not save a claim that at least :data:`OUTVOTE_MIN` (3) others
  outvote with the same 75% share ("a woman" where three references say "a man" and one "a
  woman"). Measured on 7,227 human identity claims of COCO val2017, each judged against its
  image's other captions (``benchmarks/claims_refs_human.py``): 1.67% contradicted before, 1.31%
  after (baby/child removed 26 alarms; the outvote rule added none).
- **colour**, further: the references must agree among themselves to contradict — every speaker
  names the top colour or one people confuse with it (:func:`~caption_audit.scoring.resolvers.colours.near`:
  red ~ orange, white ~ grey, ...); "white x4, green x1" about a truck may be two trucks, so it is
  *unverifiable* "(the references disagree)". Speakers that agree so, none naming the claim's
  colour or one near it, but too few for a contradiction (one caption: "a blue car" against "a
  red car") are a *weak* contradiction (:data:`~caption_audit.scoring.resolvers.base.WEAK_CONFIDENCE`,
  0.3), which decides only with a weak contradiction of the pixels (``scoring/claims.py`` rule 3).
- **open_object**: *supported* (0.7) when another reference caption has any claim about the
  subject (or, with an embedder, a reference subject matched to it one-to-one by MiniLM
  cosine >= ``threshold``, Hungarian assignment over the caption's open objects); else
  ``unsupported_by_refs`` (never contradicted: references describe only part of an image).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from caption_audit.scoring.resolvers.base import WEAK_CONFIDENCE, ImageEvidence
from caption_audit.scoring.resolvers.colours import near
from caption_audit.scoring.resolvers.instances import parse_count
from caption_audit.types import Claim, ClaimKind, ClaimVerdict, Resolution

MIN_SPEAKERS = 2
AGREE_SHARE = 0.75
CONFIDENCE = 0.7
# identity: one dissenting reference does not save a claim that at least OUTVOTE_MIN others outvote
OUTVOTE_MIN = 3
OUTVOTE_MAX_AGREE = 1
# identity values that agree although they differ: a baby is a child (people call one either)
_SAME_IDENTITY = {"age:baby": frozenset({"age:baby", "age:child"}), "age:child": frozenset({"age:baby", "age:child"})}


def _parts(claim: Claim) -> frozenset[str]:
    sep = "|" if claim.kind == ClaimKind.IDENTITY else "+"
    return frozenset(v for v in claim.value.split(sep) if v)


def _count_overlap(a: str, b: str) -> bool:
    ra, rb = parse_count(a), parse_count(b)
    if ra is None or rb is None:
        return a == b
    lo = max(ra[0], rb[0])
    hi = min(x for x in (ra[1], rb[1], 1 << 30) if x is not None)
    return lo <= hi


class ReferencesResolver:
    """Judges count, colour, identity and open-object claims on reference captions.

    Args:
        embedder: optional :class:`caption_audit.semantic.embedder.Embedder` (or anything with
            ``encode(list[str]) -> L2-normalised array``) to match open-object subjects that
            differ in words ("puppy" / "dog"); ``None`` matches exact subjects only.
        threshold: the cosine a semantic match needs.
    """

    name: ClassVar[str] = "references"
    kinds: ClassVar[frozenset[str]] = frozenset({ClaimKind.COUNT.value, ClaimKind.COLOUR.value,
                                                 ClaimKind.IDENTITY.value, ClaimKind.OPEN_OBJECT.value})

    def __init__(self, embedder: Any = None, threshold: float = 0.6):
        self.embedder = embedder
        self.threshold = threshold
        self._matches: dict[tuple[str, str], dict[str, tuple[str, float]]] = {}

    # ------------------------------------------------------------ open objects
    def prepare(self, claims: list[Claim], caption_id: str, ev: ImageEvidence) -> None:
        """Match the caption's open-object subjects to reference subjects one-to-one (only
        with an embedder; called by :func:`caption_audit.scoring.claims.judge_claims`)."""
        if self.embedder is None or not ev.references:
            return
        refs = sorted({c.subject for cid, c in ev.references if cid != caption_id and c.kind != ClaimKind.OBJECT})
        mine = sorted({c.subject for c in claims if c.kind == ClaimKind.OPEN_OBJECT} - set(refs))
        key = (ev.image_id, caption_id)
        self._matches[key] = {}
        if not mine or not refs:
            return
        from scipy.optimize import linear_sum_assignment

        vecs = self.embedder.encode(mine + refs)
        sim = vecs[: len(mine)] @ vecs[len(mine):].T
        rows, cols = linear_sum_assignment(-sim)
        for r, c in zip(rows, cols, strict=True):
            if sim[r, c] >= self.threshold:
                self._matches[key][mine[r]] = (refs[c], float(sim[r, c]))

    def _open_object(self, claim: Claim, caption_id: str, ev: ImageEvidence, others: list) -> Resolution:
        by = sorted({cid for cid, c in others if c.subject == claim.subject and c.kind != ClaimKind.OBJECT})
        if by:
            return Resolution(ClaimVerdict.SUPPORTED.value, self.name,
                              f"refs: {claim.subject} in {len(by)} caption(s)", CONFIDENCE)
        hit = self._matches.get((ev.image_id, caption_id), {}).get(claim.subject)
        if hit is not None:
            return Resolution(ClaimVerdict.SUPPORTED.value, self.name,
                              f"refs: {hit[0]} ~ {claim.subject} (cosine {hit[1]:.2f})", CONFIDENCE)
        return Resolution(ClaimVerdict.UNSUPPORTED_BY_REFS.value, self.name,
                          f"refs: no {claim.subject} in the other caption(s)", CONFIDENCE)

    # ------------------------------------------------------------------ values
    def resolve(self, claim: Claim, caption_id: str, ev: ImageEvidence) -> Resolution | None:
        """Judge ``claim`` on the other captions' claims; ``None`` without references."""
        if ev.references is None or claim.kind not in self.kinds:
            return None
        others = [(cid, c) for cid, c in ev.references if cid != caption_id]
        if not others and ev.reference_captions <= 1:
            return None  # no reference caption other than (perhaps) this one
        if claim.kind == ClaimKind.OPEN_OBJECT:
            return self._open_object(claim, caption_id, ev, others)
        speak: dict[str, set[str]] = {}
        for cid, c in others:
            if c.kind == claim.kind and c.subject == claim.subject and c.value:
                speak.setdefault(cid, set()).update(_parts(c) if c.kind != ClaimKind.COUNT else {c.value})
        if claim.kind == ClaimKind.IDENTITY:
            return self._identity(claim, speak)
        if not speak:
            return None
        mine = _parts(claim) if claim.kind == ClaimKind.COLOUR else frozenset({claim.value})
        if claim.kind == ClaimKind.COUNT:
            agrees = {cid for cid, vs in speak.items() if any(_count_overlap(claim.value, v) for v in vs)}
        else:
            agrees = {cid for cid, vs in speak.items() if vs & mine}
        if claim.kind == ClaimKind.COLOUR:
            return self._colour(claim, speak, agrees)
        return self._decide(speak, agrees, claim.subject)

    def _colour(self, claim: Claim, speak: dict[str, set[str]], agrees: set[str]) -> Resolution:
        """Colour: :meth:`_decide`, but the references must agree among themselves to contradict
        (every speaker names the top colour or one :func:`near` it), and one speaker, or a
        minority vote, that names only colours far from the claim's is a weak contradiction."""
        res = self._decide(speak, agrees, claim.subject)
        if res.verdict == ClaimVerdict.SUPPORTED or agrees:
            return res
        tally = Counter(v for vs in speak.values() for v in vs)
        top = min(tally.items(), key=lambda vk: (-vk[1], vk[0]))[0]
        if not all(vs & ({top} | near(top)) for vs in speak.values()):
            return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name,
                              res.evidence + " (the references disagree)", 0.0)
        if res.verdict == ClaimVerdict.CONTRADICTED:
            return res
        close = frozenset().union(*(near(c) for c in _parts(claim)))
        if any(vs & close for vs in speak.values()):
            return res  # a reference names a colour people confuse with the claim's
        return Resolution(ClaimVerdict.CONTRADICTED.value, self.name, res.evidence, WEAK_CONFIDENCE)

    def _identity(self, claim: Claim, speak: dict[str, set[str]]) -> Resolution | None:
        dims: dict[str, set[str]] = {}
        for v in _parts(claim):
            dim, _, val = v.partition(":")
            dims.setdefault(dim, set()).add(v)
        out = []
        for dim, mine in sorted(dims.items()):
            sp = {cid: {v for v in vs if v.startswith(dim + ":")} for cid, vs in speak.items()}
            sp = {cid: vs for cid, vs in sp.items() if vs}
            if sp:
                ok = frozenset(x for v in mine for x in _SAME_IDENTITY.get(v, (v,)))
                out.append(self._decide(sp, {cid for cid, vs in sp.items() if vs & ok}, claim.subject,
                                        outvote=True))
        if not out:
            return None
        for verdict in (ClaimVerdict.CONTRADICTED, ClaimVerdict.UNVERIFIABLE):
            hit = [r for r in out if r.verdict == verdict]
            if hit:
                return hit[0]
        return out[0]

    def _decide(self, speak: dict[str, set[str]], agrees: set[str], subject: str,
                outvote: bool = False) -> Resolution:
        tally = Counter(v for vs in speak.values() for v in vs)
        n = len(speak)
        ranked = sorted(tally.items(), key=lambda vk: (-vk[1], vk[0]))  # ties by value: deterministic
        text = f"refs on {subject} ({n} caption(s)): " + ", ".join(f"{v} x{k}" for v, k in ranked[:4])
        top_share = ranked[0][1] / n
        if not agrees and n >= MIN_SPEAKERS and top_share >= AGREE_SHARE:
            return Resolution(ClaimVerdict.CONTRADICTED.value, self.name, text, CONFIDENCE)
        if (outvote and len(agrees) <= OUTVOTE_MAX_AGREE and ranked[0][1] >= OUTVOTE_MIN
                and top_share >= AGREE_SHARE and all(ranked[0][0] not in speak[cid] for cid in agrees)):
            return Resolution(ClaimVerdict.CONTRADICTED.value, self.name, text, CONFIDENCE)
        if len(agrees) >= 2 or (agrees and len(agrees) == n):
            return Resolution(ClaimVerdict.SUPPORTED.value, self.name, text, CONFIDENCE)
        return Resolution(ClaimVerdict.UNVERIFIABLE.value, self.name, text, 0.0)
