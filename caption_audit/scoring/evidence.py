"""Build the per-image :class:`~caption_audit.scoring.resolvers.base.ImageEvidence` bundle.

Example (the whole claim path for one caption)::

    from caption_audit.ingest.coco import load_coco_instances
    from caption_audit.scoring.claims import build_resolvers, judge_claims
    from caption_audit.scoring.evidence import build_image_evidence
    from caption_audit.scoring.groundtruth import GroundTruth
    from caption_audit.types import Claim

    res = load_coco_instances("annotations/instances_val2017.json")
    gt = GroundTruth(keep_geometry=True)          # geometry only when "pixels" is used
    gt.add_objects(res.objects, vocab)
    gt.add_images(res.images)
    resolvers = build_resolvers(["instances", "pixels", "references"])
    ev = build_image_evidence("139", gt, images_dir="val2017",
                              file_name="000000000139.jpg",
                              references=[("ref-1", Claim("count", 2, 7, "person", "2"))],
                              reference_captions=5)
    results = judge_claims(parsed.claims, "cap-1", ev, resolvers)   # list[ClaimResult]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from caption_audit.scoring.groundtruth import GroundTruth
from caption_audit.scoring.resolvers.base import ImageEvidence
from caption_audit.types import Claim


def image_file(images_dir: str | Path | None, image_id: str, file_name: str | None) -> str | None:
    """The image file for ``image_id`` inside ``images_dir``, or ``None``.

    ``file_name`` (from the input; untrusted) is only used when it resolves to a file inside
    ``images_dir``; otherwise the COCO names ``%012d.jpg`` / ``COCO_val2014_%012d.jpg`` are
    tried for numeric ids.
    """
    if not images_dir:
        return None
    root = Path(images_dir).resolve()
    names = [file_name] if file_name else []
    if image_id.isdigit():
        n = int(image_id)
        names += [f"{n:012d}.jpg", f"COCO_val2014_{n:012d}.jpg", f"COCO_train2014_{n:012d}.jpg"]
    for name in names:
        p = (root / name).resolve()
        if p.is_relative_to(root) and p.is_file():
            return str(p)
    return None


def build_image_evidence(
    image_id: str,
    gt: GroundTruth | None,
    *,
    images_dir: str | Path | None = None,
    file_name: str | None = None,
    detector: Any = None,
    references: list[tuple[str, Claim]] | None = None,
    reference_captions: int = 0,
) -> ImageEvidence:
    """Collect what is known about one image for the resolvers.

    Args:
        image_id: normalised image id.
        gt: ground truth of the run (``None`` or an image it does not know: no GT evidence).
            Build it with ``keep_geometry=True`` for the ``pixels`` resolver.
        images_dir: the ``--images`` folder; the file must lie inside it.
        file_name: the image's file name from the input, if any.
        detector: the image's ``DetectorEvidence`` (``lookup(canonical)``), if a detector ran.
        references: the reference source's claims of this image as ``(caption_id, Claim)``;
            ``None`` when no reference source covers the image.
        reference_captions: number of reference captions of the image.
    """
    has_gt = gt is not None and gt.has_image(image_id)
    return ImageEvidence(
        image_id=image_id,
        gt_classes=set(gt.of(image_id)) if has_gt else None,
        gt_counts=gt.instance_counts(image_id) if has_gt else None,
        crowd=gt.crowd_classes(image_id) if has_gt else set(),
        instances=dict(gt.geometry.get(image_id, {})) if has_gt else {},
        image_path=image_file(images_dir, image_id, file_name),
        references=references,
        reference_captions=reference_captions if references is not None else 0,
        detector=detector,
    )
