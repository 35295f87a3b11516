"""The detector protocol, a base class with the batched-pipeline hooks, and the registry.

A detector turns images plus per-image prompts (object names) into :class:`Detections`.
Backends are registered lazily by ``"module:Class"`` so importing this module never imports
torch or transformers::

    from detectors.base import get_detector
    det = get_detector("grounding-dino", model="IDEA-Research/grounding-dino-tiny", device="cpu")
    [dets] = det.detect([pil_image], [["dog", "hot dog", "dining table"]])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from caption_audit.registry import Registry
from detectors.types import Detections

if TYPE_CHECKING:
    from PIL import Image

Prompt = str | tuple[str, str]
"""A prompt item: a phrase that is its own canonical name (``"dog"``), or ``(phrase, canonical)``
(``("man", "person")``) so several phrases can map back to one class."""


def normalize_prompts(prompts: Sequence[Prompt]) -> list[tuple[str, str]]:
    """``[(phrase, canonical), ...]``, phrases stripped and lower-cased, duplicates dropped.

    Raises:
        ValueError: for an empty phrase or an item that is neither str nor a 2-tuple.
    """
    out: dict[str, str] = {}
    for item in prompts:
        if isinstance(item, str):
            phrase, canonical = item, item
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            phrase, canonical = str(item[0]), str(item[1])
        else:
            raise ValueError(f"prompt must be a str or (phrase, canonical), got {item!r}")
        phrase = " ".join(phrase.lower().split())
        if not phrase:
            raise ValueError(f"empty prompt phrase in {list(prompts)!r}")
        out.setdefault(phrase, canonical)
    return list(out.items())


def prompt_hash(prompts: Sequence[Prompt]) -> str:
    """Order-insensitive sha256 of a prompt set (after :func:`normalize_prompts`)."""
    items = sorted(normalize_prompts(prompts))
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


@dataclass
class Prepared:
    """One image after the worker-side part of a detector (decode + preprocess).

    Attributes:
        image_id: id of the image.
        image_size: original ``(width, height)``.
        payload: backend-specific, picklable (e.g. a pixel tensor); ``None`` for backends
            that need no pixels.
        group: batches are formed only from items with equal ``group`` (e.g. the padded
            tensor shape), which is what makes batched results equal one-by-one results.
    """

    image_id: str
    image_size: tuple[int, int]
    payload: Any = None
    group: Hashable = None


@runtime_checkable
class Detector(Protocol):
    """What every backend provides.

    Attributes:
        name: registry name (``grounding-dino``, ``owlv2``, ``annotations``).
        model_id: hub id or local path of the weights (``"gt"`` for annotations).
        revision: content identity of the weights (commit hash or file hash).
    """

    name: str
    model_id: str
    revision: str

    def detect(
        self, images: list[Image.Image], prompts: list[Sequence[Prompt]]
    ) -> list[Detections]:
        """Detect ``prompts[i]`` in ``images[i]`` for every i, as one batch."""
        ...

    def cache_fields(self) -> dict[str, Any]:
        """Everything besides the image and prompts that changes the output (thresholds...)."""
        ...


class BaseDetector:
    """Shared behaviour: the split into a worker-side ``preprocess`` and a batched
    ``detect_prepared``, used by :func:`detectors.run.detect_images`.

    Subclasses implement :meth:`preprocessor` (a picklable callable ``PIL.Image -> Prepared``
    payload) and :meth:`detect_prepared`.
    """

    name: str = ""
    model_id: str = ""
    revision: str = ""

    def cache_fields(self) -> dict[str, Any]:
        return {}

    def preprocessor(self) -> Any:
        """A picklable callable ``(image_id, PIL.Image) -> Prepared`` run in loader workers."""
        return _IdentityPreprocessor()

    def detect_prepared(
        self, items: list[Prepared], prompts: list[Sequence[Prompt]]
    ) -> list[Detections]:
        raise NotImplementedError

    def detect(
        self, images: list[Image.Image], prompts: list[Sequence[Prompt]]
    ) -> list[Detections]:
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompt lists")
        pre = self.preprocessor()
        items = [
            pre(str(im.info.get("image_id", i)), im.convert("RGB") if im.mode != "RGB" else im)
            for i, im in enumerate(images)
        ]
        return self.detect_prepared(items, prompts)

    def describe(self) -> dict[str, Any]:
        """Provenance for run summaries and Detections metadata."""
        return {"detector": self.name, "model_id": self.model_id, "revision": self.revision}


class _IdentityPreprocessor:
    def __call__(self, image_id: str, image: Image.Image) -> Prepared:
        return Prepared(image_id, image.size, image, None)


DETECTORS: Registry = Registry("detector")
DETECTORS.register("grounding-dino", "detectors.backends.grounding_dino:GroundingDinoDetector")
DETECTORS.register("owlv2", "detectors.backends.owl:OwlDetector")
DETECTORS.register("annotations", "detectors.backends.annotations:AnnotationDetector")


def get_detector(name: str, **kwargs: Any) -> Detector:
    """Build the detector registered as ``name`` with ``kwargs``.

    Raises:
        caption_audit.errors.ConfigError: unknown name (with suggestions) or unusable model.
    """
    return DETECTORS.get(name)(**kwargs)
