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

from caption_audit.text.vocab import Vocabulary
from caption_audit.types import GTObject, ImageInfo

GT_MODES = ("instances", "chair")


@dataclass
class GroundTruth:
    """Per-image sets of canonical classes and instance counts.

    Attributes:
        classes: image_id -> set of canonical names (COCO-80 where mappable, else the label).
        counts: image_id -> Counter of canonical names, from boxed instances only (a name-only
            table such as CHAIR's lists each class once and says nothing about counts).
        known: images known to some ground-truth file (possibly with zero objects).
        unmapped: labels that no vocabulary entry covers, with counts (reported).
    """

    classes: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, Counter] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    unmapped: Counter = field(default_factory=Counter)

    @property
    def available(self) -> bool:
        return bool(self.known)

    def has_image(self, image_id: str) -> bool:
        return image_id in self.known

    def of(self, image_id: str) -> set[str]:
        return self.classes.get(image_id, set())

    def add_objects(self, objects: Iterable[GTObject], vocab: Vocabulary) -> None:
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

    def add_images(self, images: Iterable[ImageInfo]) -> None:
        for img in images:
            self.known.add(img.image_id)

    def add_caption_objects(self, image_id: str, classes: Iterable[str]) -> None:
        """CHAIR mode: union in the classes asserted by a reference caption."""
        self.known.add(image_id)
        self.classes.setdefault(image_id, set()).update(classes)
