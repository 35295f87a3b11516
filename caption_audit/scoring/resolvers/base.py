"""The resolver interface and the per-image evidence bundle it reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from caption_audit.types import Claim, Resolution

# A resolution whose evidence alone is too weak to decide, but that points one way, carries this
# confidence (below the combiner's MIN_CONFIDENCE, 0.5): two such contradictions from different
# resolvers decide together (their noisy-OR, 1 - 0.7 * 0.7 = 0.51; scoring/claims.py rule 3).
WEAK_CONFIDENCE = 0.3


@dataclass
class ImageEvidence:
    """Everything known about one image, for the resolvers (built once per image).

    Attributes:
        image_id: normalised image id.
        gt_classes: canonical classes in the image's ground truth, or ``None`` without GT.
        gt_counts: canonical -> number of boxed instances (non-crowd), or ``None``.
        crowd: canonical classes that have an ``iscrowd`` region (counts are then a lower
            bound only).
        instances: canonical -> list of instances, each a dict with ``bbox`` (xyxy pixels),
            ``segmentation`` (COCO polygons in pixels, or ``None``), ``area``, ``iscrowd``.
        image_path: the image file when ``--images`` was given and the file exists.
        references: reference claims of this image from the reference source, as
            ``(caption_id, Claim)`` pairs; ``None`` when no reference source covers the image.
        reference_captions: number of reference captions of the image (0 = no references).
        detector: detector evidence for the image (``lookup(canonical)``), or ``None``.
        extra: room for future resolvers.
    """

    image_id: str
    gt_classes: set[str] | None = None
    gt_counts: dict[str, int] | None = None
    crowd: set[str] = field(default_factory=set)
    instances: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    image_path: str | None = None
    references: list[tuple[str, Claim]] | None = None
    reference_captions: int = 0
    detector: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class Resolver(Protocol):
    """Judges claims of some kinds from one kind of evidence.

    Class attributes:
        name: registered name, written to claims.parquet's ``resolver`` column.
        kinds: the claim kinds it can judge.
    """

    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]

    def resolve(self, claim: Claim, caption_id: str, ev: ImageEvidence) -> Resolution | None:
        """Judge ``claim`` (of the caption ``caption_id``) on ``ev``; ``None`` when this
        resolver's evidence says nothing about it (not the same as *unverifiable*)."""
        ...
