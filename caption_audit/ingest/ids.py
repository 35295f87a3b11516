"""Image id normalisation: one image, one id, whatever file it came from.

``COCO_val2014_000000391895.jpg``, ``000000391895.jpg``, ``coco/train2017/000000391895.jpg``,
``"391895"`` and ``391895`` all become ``"391895"``. Paths into non-COCO collections keep
their path (``sam/images/sa_1.jpg`` stays ``sam/images/sa_1.jpg``) so that a GQA or VG image
whose file name is also a number never collides with a COCO id.
"""

from __future__ import annotations

import re

_COCO_NAME = re.compile(r"^(?:COCO_[A-Za-z]+\d{4}_)?(\d+)(?:\.(?:jpe?g|png))?$", re.IGNORECASE)


def normalize_image_id(value: object) -> str:
    """Return the canonical string id for an image reference.

    Raises:
        ValueError: for ``None``, booleans, empty strings and non-scalar values.
    """
    if value is None or isinstance(value, bool):
        raise ValueError(f"not an image id: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative image id: {value!r}")
        return str(value)
    if isinstance(value, float):
        if not value.is_integer() or value < 0:
            raise ValueError(f"not an image id: {value!r}")
        return str(int(value))
    if not isinstance(value, str):
        raise ValueError(f"not an image id: {value!r}")
    text = value.strip().replace("\\", "/")
    if not text:
        raise ValueError("empty image id")
    parts = [p for p in text.split("/") if p and p != "."]
    base = parts[-1]
    dirs = parts[:-1]
    m = _COCO_NAME.match(base)
    if m and (not dirs or any("coco" in d.lower() for d in dirs)):
        return str(int(m.group(1)))
    return "/".join(parts)
