"""Coverage against reference captions (the CAPTURE idea), with one-to-one soft matching.

CAPTURE (Dong et al., "Benchmarking and Improving Detail Image Caption", 2024) extracts
objects from a candidate and from reference captions, then matches them in three stages
(exact, synonym, soft embedding match) and reports an F1. Here:

- objects are COCO-80 classes (plus, when a mapper is given, open words it maps to COCO-80);
- exact matches pair first; the remaining candidate and reference objects are paired
  **one-to-one** by maximum total cosine (Hungarian algorithm,
  ``scipy.optimize.linear_sum_assignment``), and a pair counts only if its cosine is at least
  ``threshold``.

Deliberate differences from CAPTURE: no substring/partial word matching, and **no soft
partial credit**: a matched pair counts 1, an unmatched object counts 0 (CAPTURE adds the
similarity of sub-threshold pairs as partial credit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from caption_audit.types import ParsedCaption


def reference_objects(parsed_refs: Iterable[ParsedCaption], mapper: Any = None) -> set[str]:
    """COCO-80 classes asserted by any reference caption (negated and depicted ones excluded).

    Args:
        parsed_refs: the parser's output for the image's reference captions.
        mapper: optional :class:`~caption_audit.semantic.mapping.SemanticMapper`; open words it
            maps are rewritten in place first and count as their class.
    """
    parsed_refs = list(parsed_refs)
    if mapper is not None:
        mapper.map_mentions(parsed_refs)
    return {m.canonical for p in parsed_refs for m in p.mentions
            if m.vocab == "coco80" and not m.negated and not m.nonvisual}


@dataclass
class SoftMatch:
    """Result of :func:`soft_match`.

    Attributes:
        pairs: (candidate object, reference object, cosine) for every counted match.
        unmatched_candidate, unmatched_reference: objects left out.
        precision: matched / len(candidate); recall: matched / len(reference); f1.
    """

    pairs: list[tuple[str, str, float]] = field(default_factory=list)
    unmatched_candidate: list[str] = field(default_factory=list)
    unmatched_reference: list[str] = field(default_factory=list)
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None


def soft_match(candidate: Iterable[str], reference: Iterable[str], embedder: Any = None,
               threshold: float = 0.75) -> SoftMatch:
    """Match candidate objects to reference objects one-to-one.

    Exact name matches first; then the Hungarian assignment over cosine similarity of the rest
    (when ``embedder`` is given), keeping pairs with cosine >= ``threshold``.

    Returns:
        A :class:`SoftMatch`; precision/recall are ``None`` for an empty side.
    """
    cand = sorted(set(candidate))
    ref = sorted(set(reference))
    res = SoftMatch()
    exact = sorted(set(cand) & set(ref))
    res.pairs = [(c, c, 1.0) for c in exact]
    rest_c = [c for c in cand if c not in exact]
    rest_r = [r for r in ref if r not in exact]
    if embedder is not None and rest_c and rest_r:
        from scipy.optimize import linear_sum_assignment

        vc, vr = embedder.encode(rest_c), embedder.encode(rest_r)
        sim = np.asarray(vc @ vr.T, dtype=np.float64)
        rows, cols = linear_sum_assignment(sim, maximize=True)
        used_c, used_r = set(), set()
        for i, j in zip(rows, cols, strict=True):
            if sim[i, j] >= threshold:
                res.pairs.append((rest_c[i], rest_r[j], round(float(sim[i, j]), 4)))
                used_c.add(i)
                used_r.add(j)
        rest_c = [c for i, c in enumerate(rest_c) if i not in used_c]
        rest_r = [r for j, r in enumerate(rest_r) if j not in used_r]
    res.unmatched_candidate, res.unmatched_reference = rest_c, rest_r
    n = len(res.pairs)
    res.precision = n / len(cand) if cand else None
    res.recall = n / len(ref) if ref else None
    if res.precision is not None and res.recall is not None:
        res.f1 = 2 * res.precision * res.recall / (res.precision + res.recall) if n else 0.0
    return res
