"""Official COCO annotation files: ``captions_*.json`` and ``instances_*.json`` (2014 and 2017).

Both are one JSON object ``{"images": [...], "annotations": [...], "categories": [...]}``; the
real ``instances_train2017.json`` is 448 MB, so the lists are streamed with ijson (one pass per
list), and memory holds the results plus an ``image id -> file name`` table, never the document.
"""

from __future__ import annotations

from collections.abc import Iterator

from caption_audit.errors import InputError
from caption_audit.ingest._io import (
    PathLike,
    first_char,
    image_id_or_error,
    iter_json_prefix,
    sink_captions,
    stem,
    text_or_error,
    type_name,
)
from caption_audit.ingest.base import LoadResult
from caption_audit.types import Caption, GTObject, ImageInfo


def _check_object(path: PathLike, kind: str) -> None:
    c = first_char(path)
    if c != "{":
        got = "an array" if c == "[" else f"'{c}'"
        raise InputError(
            str(path), f"expected a COCO {kind} JSON object with 'images' and 'annotations', got {got}"
        )


def _int_or_none(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _images(path: PathLike) -> Iterator[ImageInfo]:
    for i, rec in enumerate(iter_json_prefix(path, "images.item")):
        if not isinstance(rec, dict):
            raise InputError(str(path), f"images[{i}]: expected an object, got {type_name(rec)}")
        image_id, err = image_id_or_error(rec.get("id"), "id")
        if err:
            raise InputError(str(path), f"images[{i}]: {err}", field="id")
        fn = rec.get("file_name")
        yield ImageInfo(
            image_id,
            fn if isinstance(fn, str) else None,
            _int_or_none(rec.get("width")),
            _int_or_none(rec.get("height")),
        )


def iter_coco_captions(
    path: PathLike,
    *,
    source: str = "coco",
    warnings: list[str] | None = None,
    file_names: dict[str, str] | None = None,
) -> Iterator[Caption]:
    """Stream the captions of a COCO ``captions_*.json``.

    Args:
        path: the annotation file.
        source: caption source name.
        warnings: file-level notes are appended here when the stream ends.
        file_names: optional ``image id -> file name`` table for ``Caption.image_file``.

    Yields:
        One :class:`Caption` per item of ``annotations`` (``caption_id`` = the annotation id).
    """
    _check_object(path, "captions")
    file_names = file_names or {}
    sp, name = str(path), stem(path)

    def gen() -> Iterator[Caption]:
        for i, ann in enumerate(iter_json_prefix(path, "annotations.item")):
            origin = f"{sp}:record {i}"
            if not isinstance(ann, dict):
                yield Caption(f"{name}:{i}", "", source, None, origin,
                              f"expected an object, got {type_name(ann)}")
                continue
            if i == 0 and "caption" not in ann and ("bbox" in ann or "category_id" in ann):
                raise InputError(
                    sp, "annotations have no 'caption' but have boxes: this looks like a COCO "
                    "instances file; use format 'coco_instances'", field="caption"
                )
            cid = ann.get("id")
            caption_id = str(cid) if cid is not None and not isinstance(cid, (dict, list)) else f"{name}:{i}"
            image_id, err = image_id_or_error(ann.get("image_id"), "image_id")
            text, terr = text_or_error(ann.get("caption"), present="caption" in ann)
            yield Caption(caption_id, image_id, source, text, origin, err or terr,
                          file_names.get(image_id))

    yield from sink_captions(gen(), path, warnings)


def load_coco_captions(path: PathLike, *, source: str | None = None) -> LoadResult:
    """Load an official COCO captions file (``captions_train2014.json``, ``captions_val2017.json``…).

    Returns:
        ``images`` from the ``images`` list (id, file_name, width, height) and one caption per
        annotation, ``source`` defaulting to ``coco``.

    Raises:
        InputError: not a COCO captions object, or broken JSON.
    """
    _check_object(path, "captions")
    result = LoadResult(format="coco_captions", path=str(path))
    result.images = list(_images(path))
    names = {im.image_id: im.file_name for im in result.images if im.file_name}
    result.captions = list(
        iter_coco_captions(path, source=source or "coco", warnings=result.warnings, file_names=names)
    )
    if not result.images and not result.captions:
        raise InputError(str(path), "no 'images' or 'annotations' found: not a COCO captions file",
                         field="annotations")
    return result


def _bbox_xyxy(path: PathLike, i: int, bbox: object) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
    ):
        raise InputError(str(path), f"annotations[{i}]: bbox must be [x, y, width, height], got {bbox!r}"[:300],
                         field="bbox")
    x, y, w, h = (float(v) for v in bbox)
    return (x, y, x + w, y + h)


def _segmentation(path: PathLike, i: int, seg: object) -> tuple[tuple[float, ...], ...] | None:
    """COCO polygons as tuples of floats; ``None`` for none or an RLE mask (crowd regions)."""
    if seg is None or isinstance(seg, dict):
        return None
    if isinstance(seg, list):
        polys = []
        for poly in seg:
            if (
                not isinstance(poly, list)
                or len(poly) % 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in poly)
            ):
                break
            if len(poly) >= 6:  # fewer than 3 points draws nothing
                polys.append(tuple(float(v) for v in poly))
        else:
            return tuple(polys) or None
    raise InputError(str(path), f"annotations[{i}]: segmentation must be a list of polygons "
                     f"[x1, y1, x2, y2, ...] or an RLE object, got {seg!r}"[:300], field="segmentation")


def _tail_categories(path: PathLike, size: int = 1 << 20) -> list | None:
    """``categories`` read from the end of the file when it is the document's last key (as in
    every official ``instances_*.json``), which saves one streaming pass over a 448 MB file.
    ``None`` when the tail does not end with ``"categories": [...]}``."""
    import json

    from caption_audit.ingest._io import open_binary

    if str(path).lower().endswith(".gz"):
        return None
    with open_binary(path) as f:
        f.seek(0, 2)
        end = f.tell()
        f.seek(max(0, end - size))
        tail = f.read().decode("utf-8", errors="replace")
    at = tail.rfind('"categories"')
    if at < 0:
        return None
    rest = tail[at + len('"categories"') :].lstrip()
    if not rest.startswith(":"):
        return None
    rest = rest[1:].lstrip()
    try:
        value, stop = json.JSONDecoder().raw_decode(rest)
    except (ValueError, RecursionError):  # JSONDecodeError, huge ints, deep nesting
        return None
    if not isinstance(value, list) or rest[stop:].strip() != "}":
        return None
    return value


def load_coco_instances(path: PathLike, *, source: str | None = None,
                        keep_segmentation: bool = False) -> LoadResult:
    """Load an official COCO ``instances_*.json`` as ground truth.

    Each annotation becomes a :class:`GTObject` with the category *name* and its box converted
    from COCO ``[x, y, w, h]`` pixels to ``(x1, y1, x2, y2)`` pixels (``normalized=False``,
    ``origin="instances"``), its ``iscrowd`` flag and ``area``, and its polygons
    (``segmentation``, for the colour checks of ``scoring/resolvers/pixels.py``; RLE masks of
    crowd regions are not kept). Crowd annotations are kept, as in CHAIR. Every entry of
    ``images`` becomes an :class:`ImageInfo`, so images without any annotation are still known.

    Args:
        path: the annotation file.
        source: unused (ground truth has no caption source); accepted for a uniform signature.
        keep_segmentation: keep the polygons (about 1.5 GB of Python floats for all of
            ``instances_train2017.json``; pass ``False`` when no colour check needs them).

    Raises:
        InputError: wrong shape, broken JSON, or an annotation with an unknown ``category_id``,
            a missing ``image_id`` or a malformed ``bbox`` (ground truth is never partly read).
    """
    del source
    _check_object(path, "instances")
    sp = str(path)
    result = LoadResult(format="coco_instances", path=sp)
    cats: dict[int, str] = {}
    for i, cat in enumerate(_tail_categories(path) or iter_json_prefix(path, "categories.item")):
        if not isinstance(cat, dict) or not isinstance(cat.get("name"), str) or cat.get("id") is None:
            raise InputError(sp, f"categories[{i}]: expected an object with 'id' and 'name'", field="categories")
        cats[cat["id"]] = cat["name"]
    result.images = list(_images(path))
    known = {im.image_id for im in result.images}
    extra: dict[str, None] = {}
    n = -1
    for n, ann in enumerate(iter_json_prefix(path, "annotations.item")):
        if not isinstance(ann, dict):
            raise InputError(sp, f"annotations[{n}]: expected an object, got {type_name(ann)}")
        if n == 0 and "category_id" not in ann and "caption" in ann:
            raise InputError(sp, "annotations have captions, not objects: this looks like a COCO "
                             "captions file; use format 'coco_captions'", field="category_id")
        image_id, err = image_id_or_error(ann.get("image_id"), "image_id")
        if err:
            raise InputError(sp, f"annotations[{n}]: {err}", field="image_id")
        cid = ann.get("category_id")
        if cid not in cats:
            raise InputError(sp, f"annotations[{n}]: unknown category_id {cid!r}"
                             + ("" if cats else " (the file has no 'categories')"), field="category_id")
        area = ann.get("area")
        result.objects.append(GTObject(
            image_id, cats[cid], _bbox_xyxy(path, n, ann.get("bbox")), False, "instances",
            _segmentation(path, n, ann.get("segmentation")) if keep_segmentation else None,
            ann.get("iscrowd") in (1, True),
            float(area) if isinstance(area, (int, float)) and not isinstance(area, bool) else None,
        ))
        if image_id not in known:
            extra[image_id] = None
    if n < 0 and not result.images:
        raise InputError(sp, "no 'images' or 'annotations' found: not a COCO instances file",
                         field="annotations")
    if extra:
        result.images.extend(ImageInfo(i) for i in extra)
        result.warnings.append(f"{sp}: {len(extra)} annotated image(s) are missing from 'images'")
    return result
