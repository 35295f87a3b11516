"""Ground-truth objects exposed as a detector (score 1.0), so the oracle goes down the same
path as the models (prompts, Detections, cache, run loop).

Example:
    >>> from caption_audit.types import GTObject
    >>> det = AnnotationDetector([GTObject("1", "dog", (10, 10, 50, 40))])
    >>> det.detect_ids(["1"], [(100, 80)], [["dog", "cat"]])[0].classes()
    ['dog']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from caption_audit.errors import ConfigError
from detectors.base import BaseDetector, Prepared, Prompt, normalize_prompts
from detectors.types import Detections

if TYPE_CHECKING:
    from PIL import Image

    from caption_audit.types import GTObject


class AnnotationDetector(BaseDetector):
    """Answer prompts from ground-truth objects.

    Args:
        objects: ground-truth objects (``caption_audit.types.GTObject``) of any images.
        canonicalize: maps an annotation's category to a canonical name (default: lower-case,
            whitespace collapsed). Detections keep the category as given in ``phrases``.
        only_prompted: return only objects whose canonical name is prompted (default), like a
            model would; ``False`` returns every object of the image.

    Objects without a box get a NaN box; normalised boxes are scaled to the image size.
    """

    name = "annotations"

    def __init__(
        self,
        objects: Iterable[GTObject] = (),
        *,
        canonicalize: Callable[[str], str] | None = None,
        only_prompted: bool = True,
        **_ignored: Any,
    ):
        self.canonicalize = canonicalize or (lambda s: " ".join(s.lower().split()))
        self.only_prompted = only_prompted
        self.by_image: dict[str, list[GTObject]] = {}
        for o in objects:
            self.by_image.setdefault(str(o.image_id), []).append(o)
        blob = json.dumps(
            sorted(
                [o.image_id, o.category, list(o.bbox) if o.bbox else None, o.normalized]
                for objs in self.by_image.values() for o in objs
            ),
            default=str,
        )  # fmt: skip
        self.model_id = "gt"
        self.revision = "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:16]

    def cache_fields(self) -> dict[str, Any]:
        return {"only_prompted": self.only_prompted}

    def detect_ids(
        self,
        image_ids: Sequence[str],
        image_sizes: Sequence[tuple[int, int]],
        prompts: Sequence[Sequence[Prompt]],
    ) -> list[Detections]:
        """Detections for images known by id and ``(width, height)`` (no pixels needed)."""
        out = []
        for iid, (w, h), plist in zip(image_ids, image_sizes, prompts, strict=True):
            wanted: dict[str, str] = {}
            for phrase, canonical in normalize_prompts(plist):
                wanted.setdefault(self.canonicalize(canonical), canonical)
                wanted.setdefault(self.canonicalize(phrase), canonical)
            xyxy, ph, can = [], [], []
            for o in self.by_image.get(str(iid), []):
                c = self.canonicalize(o.category)
                if self.only_prompted and c not in wanted:
                    continue
                if o.bbox is None:
                    box = [np.nan] * 4
                else:
                    box = list(o.bbox)
                    if o.normalized:
                        box = [box[0] * w, box[1] * h, box[2] * w, box[3] * h]
                xyxy.append(box)
                ph.append(o.category)
                can.append(wanted.get(c, c))
            out.append(
                Detections(np.array(xyxy, np.float32).reshape(-1, 4), np.ones(len(ph), np.float32),
                           ph, can, (w, h), self.describe())  # fmt: skip
            )
        return out

    def preprocessor(self) -> _SizeOnly:
        return _SizeOnly()

    def detect_prepared(
        self, items: list[Prepared], prompts: list[Sequence[Prompt]]
    ) -> list[Detections]:
        return self.detect_ids([it.image_id for it in items], [it.image_size for it in items], prompts)

    def detect(
        self, images: list[Image.Image], prompts: list[Sequence[Prompt]]
    ) -> list[Detections]:
        """Images must carry their id in ``image.info["image_id"]`` (the run loop sets it)."""
        ids = []
        for i, im in enumerate(images):
            if "image_id" not in im.info:
                raise ConfigError(
                    f"annotations detector: image {i} has no info['image_id']; "
                    "use detect_ids() or detectors.run.detect_images()"
                )
            ids.append(str(im.info["image_id"]))
        return self.detect_ids(ids, [im.size for im in images], prompts)


class _SizeOnly:
    """Worker-side: keep only the image size (no pixels travel back to the main process)."""

    def __call__(self, image_id: str, image: Image.Image) -> Prepared:
        return Prepared(image_id, image.size, None, None)
