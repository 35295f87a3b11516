"""Ground truth per image: which COCO-80 classes (and other labels) are present.

Two modes (``--gt``):

- ``instances`` (default): the image's annotated objects only. Reference (COCO) captions are
  scored like any other source.
- ``chair``: annotated objects plus every COCO-80 object asserted by the image's reference
  captions, as in CHAIR (Rohrbach et al. 2018, ``get_annotations``). This reproduces published
  CHAIR numbers, and makes the reference captions hallucination-free by construction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from caption_audit.text.vocab import Vocabulary
from caption_audit.types import GTObject, ImageIds, ImageInfo, NamedObjects

GT_MODES = ("instances", "chair")


@dataclass
class GroundTruth:
    """Per-image sets of canonical classes and instance counts.

    Attributes:
        classes: image_id -> set of canonical names (COCO-80 where mappable, else the label).
        counts: image_id -> Counter of canonical names, from boxed instances only (a name-only
            table such as CHAIR's lists each class once and says nothing about counts).
            Crowd regions are included here (one each); see :meth:`instance_counts`.
        known: images known to some ground-truth file (possibly with zero objects).
        unmapped: labels that no vocabulary entry covers, with counts (reported).
        crowd: image_id -> Counter of canonical names with ``iscrowd`` regions (their true
            count is then only bounded below).
        keep_geometry: keep every boxed instance's box and polygons in ``geometry`` (for the
            colour checks of ``scoring/resolvers/pixels.py``); off by default, so a run
            without a pixel resolver holds no polygons.
        geometry: image_id -> canonical -> instances, each a dict with ``bbox`` (xyxy),
            ``normalized``, ``segmentation``, ``area``, ``iscrowd`` (only with ``keep_geometry``).
    """

    classes: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, Counter] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    unmapped: Counter = field(default_factory=Counter)
    crowd: dict[str, Counter] = field(default_factory=dict)
    keep_geometry: bool = False
    geometry: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return bool(self.known)

    def has_image(self, image_id: str) -> bool:
        return image_id in self.known

    def of(self, image_id: str) -> set[str]:
        return self.classes.get(image_id, set())

    def add_objects(self, objects: Iterable[GTObject], vocab: Vocabulary) -> None:
        """Add ground-truth objects: each label's canonical class to its image's ``classes``, and
        boxed instances to ``counts`` (``crowd``, ``geometry``)."""
        if isinstance(objects, NamedObjects):
            self._add_named(objects, vocab)
            return
        cache: dict[str, str] = {}
        for obj in objects:
            label = obj.category
            canon = cache.get(label)
            if canon is None:
                canon = vocab.canonical_of(label) or label.strip().lower()
                if canon not in vocab.synonyms:
                    self.unmapped[label] += 1
                cache[label] = canon
            self.known.add(obj.image_id)
            self.classes.setdefault(obj.image_id, set()).add(canon)
            if obj.bbox is not None:
                self.counts.setdefault(obj.image_id, Counter())[canon] += 1
                if obj.iscrowd:
                    self.crowd.setdefault(obj.image_id, Counter())[canon] += 1
                if self.keep_geometry:
                    self.geometry.setdefault(obj.image_id, {}).setdefault(canon, []).append({
                        "bbox": obj.bbox, "normalized": obj.normalized, "segmentation": obj.segmentation,
                        "area": obj.area, "iscrowd": obj.iscrowd,
                    })

    def _add_named(self, objects: NamedObjects, vocab: Vocabulary) -> None:
        """:meth:`add_objects` for name-only objects (no boxes: classes only), same result."""
        cache: dict[str, str] = {}
        known, classes, unmapped = self.known, self.classes, self.unmapped
        prev, cls = None, set()
        for image_id, label in zip(objects.image_ids, objects.labels, strict=True):
            canon = cache.get(label)
            if canon is None:
                canon = vocab.canonical_of(label) or label.strip().lower()
                if canon not in vocab.synonyms:
                    unmapped[label] += 1
                cache[label] = canon
            if image_id != prev:
                known.add(image_id)
                cls = classes.setdefault(image_id, set())
                prev = image_id
            cls.add(canon)

    def instance_counts(self, image_id: str) -> dict[str, int] | None:
        """Non-crowd boxed instances per canonical class of an image (``None`` when no ground
        truth covers the image). A class with only crowd regions maps to 0."""
        if image_id not in self.known:
            return None
        counts = self.counts.get(image_id, Counter())
        crowd = self.crowd.get(image_id, Counter())
        return {c: n - crowd.get(c, 0) for c, n in counts.items()}

    def crowd_classes(self, image_id: str) -> set[str]:
        """Classes of an image that have an ``iscrowd`` region."""
        return set(self.crowd.get(image_id, ()))

    def add_images(self, images: Iterable[ImageInfo]) -> None:
        if isinstance(images, ImageIds):  # the id column itself
            self.known.update(images.image_ids)
        else:
            self.known.update(img.image_id for img in images)

    def add_caption_objects(self, image_id: str, classes: Iterable[str]) -> None:
        """CHAIR mode: union in the classes asserted by a reference caption."""
        self.known.add(image_id)
        self.classes.setdefault(image_id, set()).update(classes)
