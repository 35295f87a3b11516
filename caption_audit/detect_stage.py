"""The detect stage: ask a detector about every object any caption names, per image.

Prompts per image are the union of the objects mentioned by all caption sources of that image
(from a fast lexical pass) plus the 80 COCO class names, each as ``(phrase, canonical)``; the
backend chunks them to its text encoder's limit. Results come from / go to the detection cache
(content-addressed, so a rerun or a new caption source on the same images does no model work).
Each image's :class:`DetectorEvidence` then lets the scorer judge mentions the ground truth
cannot (open-vocabulary words, images without annotations).
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from caption_audit.errors import ConfigError
from caption_audit.types import Caption, GTObject, ImageInfo


@dataclass(frozen=True)
class DetectorSettings:
    """Detector options of a run (see ``detectors/cli_options.py`` for the CLI flags)."""

    name: str = "grounding-dino"
    images_dir: str | Path | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 8
    num_workers: int = 2
    cache_dir: str | Path | None = None
    include_coco80: bool = True
    engine: str = "local"
    workers: int = 1
    ray_address: str | None = None


NMS_IOU = 0.5


def _nms(xyxy: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[int]:
    """Indices kept by greedy non-maximum suppression (highest score first): a box overlapping
    a kept one with IoU >= ``iou`` is the same object seen twice (open-vocabulary detectors
    often box one object once per matching phrase)."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    area = np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)
    for i in order:
        if keep:
            k = np.asarray(keep)
            w = np.clip(np.minimum(xyxy[k, 2], xyxy[i, 2]) - np.maximum(xyxy[k, 0], xyxy[i, 0]), 0, None)
            h = np.clip(np.minimum(xyxy[k, 3], xyxy[i, 3]) - np.maximum(xyxy[k, 1], xyxy[i, 1]), 0, None)
            inter = w * h
            union = area[k] + area[i] - inter
            if np.any(inter >= iou * np.where(union > 0, union, np.inf)):
                continue
        keep.append(int(i))
    return keep


class DetectorEvidence:
    """One image's detections, answering :meth:`lookup` (existence) and :meth:`boxes` (counts)
    for the verdicts.

    Attributes:
        name: the detector name, written to ``mentions.parquet`` as evidence.
        asked: canonical names the detector was prompted with for this image.
    """

    __slots__ = ("name", "asked", "best", "near", "per_class")

    def __init__(self, name: str, asked: Iterable[str], detections: Any):
        self.name = name
        self.asked = frozenset(asked)
        self.best: dict[str, tuple[float, tuple[float, float, float, float]]] = {}
        # every detection of a class after class-wise NMS, best first: (score, xyxy)
        self.per_class: dict[str, list[tuple[float, tuple[float, float, float, float]]]] = {}
        for c in dict.fromkeys(detections.canonical.tolist()) if len(detections) else ():
            hit = detections.best_for(c)
            if hit is not None:
                self.best[c] = hit
            sel = np.flatnonzero(detections.canonical == c)
            xyxy, scores = detections.xyxy[sel], detections.scores[sel]
            self.per_class[c] = [(float(scores[i]), tuple(float(v) for v in xyxy[i]))  # type: ignore[misc]
                                 for i in _nms(xyxy, scores)]
        # best below-threshold box per asked class, where the backend reports one
        self.near = {c: (v[0], tuple(v[1:5])) for c, v in (detections.metadata.get("near_miss") or {}).items()}

    def lookup(self, canonical: str) -> tuple[bool, float | None, tuple[float, float, float, float] | None] | None:
        if canonical not in self.asked:
            return None
        hit = self.best.get(canonical)
        if hit is None:
            miss = self.near.get(canonical)  # asked, nothing above threshold: the near miss, if any
            return (False, miss[0], miss[1]) if miss else (False, None, None)
        return True, hit[0], hit[1]

    def boxes(self, canonical: str) -> list[tuple[float, tuple[float, float, float, float]]] | None:
        """Every detection of ``canonical`` above the detector's threshold as ``(score, xyxy)``,
        best first, overlapping duplicates removed (class-wise NMS at IoU :data:`NMS_IOU`);
        ``[]`` when asked and nothing was found, ``None`` when the detector was not asked."""
        if canonical not in self.asked:
            return None
        return list(self.per_class.get(canonical, []))


@dataclass
class DetectResult:
    evidence: dict[str, DetectorEvidence]
    objects: dict[str, list]  # objects.parquet columns for the detected boxes
    info: dict[str, Any]


def collect_prompts(captions: Iterable[Caption], parser: Any) -> tuple[dict[str, set[tuple[str, str]]], dict[str, str]]:
    """(image_id -> {(phrase, canonical)} mentioned by any caption, image_id -> file name)."""
    prompts: dict[str, set[tuple[str, str]]] = defaultdict(set)
    files: dict[str, str] = {}
    batch: list[Caption] = []

    def flush() -> None:
        for c, p in zip(batch, parser.parse([c.text for c in batch]), strict=True):
            for m in p.mentions:
                if m.canonical and not m.nonvisual:
                    prompts[c.image_id].add((m.canonical, m.canonical))
        batch.clear()

    for c in captions:
        if c.image_file and c.image_id not in files:
            files[c.image_id] = c.image_file
        if c.error or not c.text:
            continue
        batch.append(c)
        if len(batch) >= 2000:
            flush()
    if batch:
        flush()
    return prompts, files


def run_detection(
    settings: DetectorSettings,
    captions: Iterable[Caption],
    images: list[ImageInfo],
    objects: list[GTObject],
    vocab: Any,
    *,
    progress: bool = True,
) -> DetectResult:
    """Detect, per image, the objects its captions name (plus COCO-80), using the cache."""
    from caption_audit.text.parse import CaptionParser
    from detectors.base import get_detector
    from detectors.cache import DetectionCache
    from detectors.run import ImageItem, detect_images, find_image, index_images

    lexical = CaptionParser(vocab=vocab, use_parser=False)
    prompts, caption_files = collect_prompts(captions, lexical)
    if settings.include_coco80:
        base = {(c, c) for c in vocab.classes}
        for image_id in list(prompts):
            prompts[image_id] |= base
    prompt_lists = {k: sorted(v) for k, v in prompts.items()}
    info_by_id = {im.image_id: im for im in images}

    if settings.name == "annotations":
        from detectors.backends.annotations import AnnotationDetector

        # annotations know the COCO-80 classes only: asking them about "lamp" proves nothing
        coco = set(vocab.classes)
        prompt_lists = {k: [pc for pc in v if pc[1] in coco] for k, v in prompt_lists.items()}
        det = AnnotationDetector(objects, canonicalize=lambda s: vocab.canonical_of(s) or s.strip().lower())
        ids = list(prompt_lists)
        sizes = [(info_by_id[i].width or 1, info_by_id[i].height or 1) if i in info_by_id else (1, 1) for i in ids]
        results = dict(zip(ids, det.detect_ids(ids, sizes, [prompt_lists[i] for i in ids]), strict=True))
        failures: dict[str, str] = {}
        computed, cached = len(ids), 0
        detector_desc = {"name": det.name, "model": "annotations", "revision": None}
    else:
        if not settings.images_dir:
            raise ConfigError(f"--detector {settings.name} needs --images DIR (the folder with the image files).")
        missing = [m for m in ("torch", "transformers", "PIL") if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(f"--detector {settings.name} needs {', '.join(missing)}: "
                              "pip install 'caption-audit[detect]'")
        root = Path(settings.images_dir)
        if not root.is_dir():
            raise ConfigError(f"--images {root}: no such folder.")
        # on Ray each actor builds its own detector: never load weights on the driver
        det = get_detector(settings.name, **settings.kwargs) if settings.engine != "ray" else None
        index = index_images(root)
        items, failures = [], {}
        for image_id in prompt_lists:
            name = (info_by_id[image_id].file_name if image_id in info_by_id else None) or caption_files.get(image_id)
            path = find_image(root, image_id, name, index=index)
            if path is None:
                failures[image_id] = f"image file not found under {root} (tried {name or 'COCO names'})"
            else:
                items.append(ImageItem(image_id, path))
        cache = DetectionCache.at(settings.cache_dir)
        if settings.engine == "ray":
            from detectors.ray_run import detect_images_ray

            run = detect_images_ray(items, prompt_lists, settings.name, settings.kwargs,
                                    cache_root=str(cache.root), batch_size=settings.batch_size,
                                    workers=settings.workers, address=settings.ray_address)
        else:
            run = detect_images(items, prompt_lists, det, cache=cache, batch_size=settings.batch_size,
                                num_workers=settings.num_workers, progress=progress)
        results = run.results
        failures.update(run.failures)
        computed, cached = run.images_computed, run.images_cached
        detector_desc = {"name": settings.name, "model": getattr(det, "model_id", settings.kwargs.get("model")),
                         "revision": getattr(det, "revision", None), "engine": settings.engine}

    evidence = {}
    cols: dict[str, list] = defaultdict(list)
    for image_id, d in results.items():
        evidence[image_id] = DetectorEvidence(detector_desc["name"], (c for _, c in prompt_lists[image_id]), d)
        for k in range(len(d)):
            cols["image_id"].append(image_id)
            cols["category"].append(str(d.canonical[k]))
            cols["label"].append(str(d.phrases[k]))
            cols["bbox"].append([float(v) for v in d.xyxy[k]])
            cols["normalized"].append(False)
            cols["origin"].append(f"detector:{detector_desc['name']}")
            cols["score"].append(float(d.scores[k]))
    thresholds = {k: v for k, v in settings.kwargs.items() if "threshold" in k}
    info = {**detector_desc, "images_computed": computed, "images_cached": cached,
            "images_failed": len(failures), "images_with_detections": len(results),
            "failures": dict(list(failures.items())[:100]), "thresholds": thresholds,
            "prompts": "caption mentions of all sources" + (" + COCO-80 names" if settings.include_coco80 else "")}
    return DetectResult(evidence, dict(cols), info)
