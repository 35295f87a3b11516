"""Generic captions (JSONL / JSON / CSV / TSV / Parquet) and generic ground-truth object lists.

``generic_captions`` reads records with ``image_id`` (alias ``image``) and ``caption`` (alias
``text``), plus optional ``source`` and ``caption_id``. It accepts JSONL, a JSON array, a stream
of concatenated pretty-printed JSON objects (as in POPE's ``Instruction1_llava.json``), CSV/TSV
with a header row, and Parquet.

``generic_objects`` reads ground truth either as JSONL / a JSON array of
``{"image_id": ..., "objects": [name | {"label": name, "bbox": [x, y, w, h]}]}`` or as one JSON
object ``{image_id: [names]}`` (the shape of CHAIR's ``imid_to_objects``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from caption_audit.errors import ConfigError, InputError
from caption_audit.ingest._io import (
    PathLike,
    first_char,
    first_line_is_json_object,
    image_id_or_error,
    iter_csv,
    iter_json_array,
    iter_json_object_items,
    iter_json_stream,
    iter_jsonl,
    iter_parquet,
    json_errors,
    parquet_columns,
    plain_name,
    sink_captions,
    stem,
    text_or_error,
    type_name,
)
from caption_audit.ingest.base import LoadResult
from caption_audit.ingest.cache import ObjectTableCache
from caption_audit.types import Caption, GTObject, ImageIds, ImageInfo, NamedObjects

IMAGE_FIELDS = ("image_id", "image")
_IMAGE_KEY = re.compile(r"^\s*(\d+|[\w./-]+\.(jpe?g|png|webp|gif|bmp))\s*$", re.IGNORECASE)
TEXT_FIELDS = ("caption", "text")


def layout(path: PathLike) -> str:
    """How a generic file is laid out: ``parquet``, ``csv``, ``jsonl``, ``json_array``, ``json_stream``
    (concatenated objects) or ``json_object`` (decided later by the caller)."""
    name = plain_name(path).lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    c = first_char(path)
    if c == "[":
        return "json_array"
    if c == "{":
        return "jsonl" if first_line_is_json_object(path) else "json_stream"
    raise InputError(str(path), f"not JSON, JSONL, CSV or Parquet (starts with '{c}')")


def _rows(path: PathLike, required: tuple[tuple[str, ...], ...]) -> Iterator[tuple[str, str, Any, str | None]]:
    """``(origin, position, record, error)`` for any generic layout."""
    sp = str(path)
    kind = layout(path)
    if kind == "jsonl":
        for n, rec, err in iter_jsonl(path):
            yield f"{sp}:line {n}", str(n), rec, err
    elif kind == "json_stream":
        for n, rec, err in iter_json_stream(path):
            yield f"{sp}:line {n}", str(n), rec, err
    elif kind == "json_array":
        for i, rec in iter_json_array(path):
            yield f"{sp}:record {i}", str(i), rec, None
    elif kind == "csv":
        checked = False
        for n, row, header in iter_csv(path):
            if not checked:
                _check_columns(path, header, required, line=1)
                checked = True
            yield f"{sp}:line {n}", str(n), {k: v for k, v in row.items() if k is not None}, None
    else:
        cols = parquet_columns(path)
        _check_columns(path, cols, required)
        wanted = [c for c in cols if c in {*IMAGE_FIELDS, *TEXT_FIELDS, "source", "caption_id", "objects"}]
        for i, row in iter_parquet(path, wanted):
            yield f"{sp}:row {i}", str(i), row, None


def _check_columns(path: PathLike, cols: list[str], required: tuple[tuple[str, ...], ...], line: int | None = None) -> None:
    for names in required:
        if not any(n in cols for n in names):
            alias = f" (or '{names[1]}')" if len(names) > 1 else ""
            raise InputError(str(path), f"missing column '{names[0]}'{alias}; columns are: {', '.join(cols)}",
                             line=line, field=names[0])


def _first(rec: dict[str, Any], names: tuple[str, ...]) -> tuple[bool, Any, str]:
    for n in names:
        if n in rec:
            return True, rec[n], n
    return False, None, names[0]


def iter_generic_captions(
    path: PathLike, *, source: str | None = None, warnings: list[str] | None = None, name: str | None = None
) -> Iterator[Caption]:
    """Stream captions from a generic JSONL / JSON / CSV / Parquet file.

    ``source`` precedence: the ``source`` argument, else the record's ``source`` field, else
    ``name`` (the file's name in the run; default: the file stem). ``caption_id``: the record's
    ``caption_id``, else ``"<prefix>:<line>"`` (JSONL, CSV, concatenated JSON: the line the record
    starts on), ``"<prefix>:<index>"`` (JSON array, Parquet row), where the prefix is ``name``,
    else ``source``, else the file stem (so ``--source`` gives clean, distinct ids).

    Raises:
        InputError: unreadable file, or the first record has neither an image nor a caption field
            (not a caption file); CSV/Parquet without an ``image_id`` or ``caption`` column.
    """
    prefix = name or source or stem(path)
    name = name or stem(path)
    sp = str(path)

    def mapping(entries: Iterator[tuple[str, Any]], origin_of: Any) -> Iterator[Caption]:
        for i, (key, value) in enumerate(entries):
            origin = origin_of(i)
            image_id, ierr = image_id_or_error(key, "image_id")
            texts = value if isinstance(value, list) else [value]
            if not texts:
                yield Caption(f"{image_id or name}#0", image_id, source or name, None, origin,
                              ierr or "empty caption")
            for k, txt in enumerate(texts):
                text, terr = text_or_error(txt)
                yield Caption(f"{image_id or key}#{k}", image_id, source or name, text, origin, ierr or terr)

    def gen() -> Iterator[Caption]:
        if layout(path) == "json_stream" and is_mapping_file(path):
            yield from mapping(iter_json_object_items(path), lambda i: f"{sp}:record {i}")
            return
        first = True
        for origin, pos, rec, err in _rows(path, (IMAGE_FIELDS, TEXT_FIELDS)):
            fallback = f"{prefix}:{pos}"
            if err is not None:
                yield Caption(fallback, "", source or name, None, origin, err)
                continue
            if not isinstance(rec, dict):
                yield Caption(fallback, "", source or name, None, origin,
                              f"expected an object, got {type_name(rec)}")
                continue
            if not any(k in rec for k in (*IMAGE_FIELDS, *TEXT_FIELDS)):
                if rec and all(isinstance(v, (list, str)) and _IMAGE_KEY.match(k) for k, v in rec.items()):
                    # {image_id: [captions]} on one line (pycocoevalcap's gts/res shape)
                    yield from mapping(iter(rec.items()), lambda _i, o=origin: o)
                    first = False
                    continue
                if first:
                    keys = ", ".join(list(map(str, rec))[:10])
                    raise InputError(sp, f"first record has no 'image_id' or 'caption'/'text' field "
                                     f"(fields: {keys}); not a generic caption file",
                                     field="image_id")
            first = False
            rsrc = rec.get("source")
            src = source or (rsrc if isinstance(rsrc, str) and rsrc else name)
            rcid = rec.get("caption_id")
            cid = str(rcid) if isinstance(rcid, (str, int)) and not isinstance(rcid, bool) and str(rcid) else fallback
            has_img, img, img_field = _first(rec, IMAGE_FIELDS)
            image_id, ierr = image_id_or_error(img, "image_id" if not has_img else img_field)
            has_txt, txt, txt_field = _first(rec, TEXT_FIELDS)
            text, terr = text_or_error(txt, present=has_txt, field="caption")
            image_file = img if isinstance(img, str) and img.strip() and not img.strip().isdigit() else None
            yield Caption(cid, image_id, src, text, origin, ierr or terr, image_file)

    yield from sink_captions(gen(), path, warnings)


def load_generic_captions(path: PathLike, *, source: str | None = None, name: str | None = None) -> LoadResult:
    """Load generic captions into a :class:`LoadResult` (see :func:`iter_generic_captions`)."""
    result = LoadResult(format="generic_captions", path=str(path))
    result.captions = list(iter_generic_captions(path, source=source, warnings=result.warnings, name=name))
    return result


# ----------------------------------------------------------------------------- objects


def _box(
    path: str, where: str, box: object, bbox_format: str, line: int | None
) -> tuple[float, float, float, float] | None:
    if box is None:
        return None
    if (
        not isinstance(box, (list, tuple))
        or len(box) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
    ):
        raise InputError(path, f"{where}: bbox must be 4 numbers [x, y, w, h], got {box!r}"[:300],
                         line=line, field="bbox")
    a, b, c, d = (float(v) for v in box)
    return (a, b, a + c, b + d) if bbox_format == "xywh" else (a, b, c, d)


def _objects(
    path: str, image_id: str, objs: object, *, bbox_format: str, origin: str, where: str, line: int | None
) -> list[GTObject]:
    if not isinstance(objs, list):
        raise InputError(path, f"{where}: 'objects' must be a list, got {type_name(objs)}",
                         line=line, field="objects")
    if all(type(o) is str and o for o in objs):  # fast path: CHAIR's imid_to_objects
        return [GTObject(image_id, o, None, False, origin) for o in objs]
    out = []
    for k, o in enumerate(objs):
        if isinstance(o, str) and o.strip():
            out.append(GTObject(image_id, o, None, False, origin))
            continue
        if isinstance(o, dict):
            _, label, _ = _first(o, ("label", "category", "name"))
            if isinstance(label, str) and label.strip():
                box = _box(path, f"{where} objects[{k}]", o.get("bbox"), bbox_format, line)
                out.append(GTObject(image_id, label, box, False, origin))
                continue
        raise InputError(path, f"{where} objects[{k}]: expected a name or {{'label', 'bbox'}}, got {o!r}"[:300],
                         line=line, field="objects")
    return out


def load_generic_objects(
    path: PathLike, *, source: str | None = None, bbox_format: str = "xywh", origin: str = "objects"
) -> LoadResult:
    """Load ground-truth object lists.

    Shapes: JSONL (or a JSON array) of ``{"image_id", "objects": [...]}``, or one JSON object
    ``{image_id: [objects]}``. An object is a name, or ``{"label", "bbox"}`` (``category`` /
    ``name`` accepted for ``label``). Every image listed becomes an :class:`ImageInfo`, even with
    no objects.

    Args:
        path: the file.
        source: unused (ground truth has no caption source).
        bbox_format: ``xywh`` (pixels, default, converted to xyxy) or ``xyxy`` (pixels).
        origin: the ``GTObject.origin`` to record (default ``objects``).

    Raises:
        InputError: any unreadable record (ground truth is never read in part), naming the line
            or image and the field.
    """
    del source
    if bbox_format not in ("xywh", "xyxy"):
        raise ConfigError(f"Unknown bbox_format '{bbox_format}'. Valid names: xywh, xyxy.")
    sp = str(path)
    result = LoadResult(format="generic_objects", path=sp)
    kind = layout(path)
    if kind in ("csv", "parquet"):
        raise InputError(sp, "generic_objects reads JSON or JSONL, not CSV or Parquet")
    if kind == "json_stream" and is_mapping_file(path):
        kind = "json_object"
    if kind == "json_object":
        cache = ObjectTableCache(path, "generic_objects", {"bbox_format": bbox_format, "origin": origin})
        hit = cache.get(origin)
        if hit is not None:
            result.objects, result.images, result.warnings = hit  # type: ignore[assignment]
            return result
        result.objects = NamedObjects(origin)  # type: ignore[assignment]  # a list once a box appears
        result.images = ImageIds()  # type: ignore[assignment]  # ids only: no ImageInfo per image
        for key, objs in iter_json_object_items(path):
            _add_mapping_entry(result, sp, key, objs, bbox_format, origin, line=None)
        if isinstance(result.objects, NamedObjects) and isinstance(result.images, ImageIds):
            cache.put(result.objects, result.images, result.warnings)
        return result
    for _origin, pos, rec, err in _rows(path, ()):
        line = int(pos) if kind != "json_array" else None
        loc = "" if line is not None else f"record {pos}"
        if err is not None:
            raise InputError(sp, err, line=line)
        if not isinstance(rec, dict):
            raise InputError(sp, f"{loc or 'record'}: expected an object, got {type_name(rec)}", line=line)
        if not any(k in rec for k in ("image_id", "image", "objects")):
            # {image_id: [objects]} written on one line (or one such object per line)
            for key, objs in rec.items():
                _add_mapping_entry(result, sp, key, objs, bbox_format, origin, line=line)
            continue
        image_id, ierr = image_id_or_error(rec.get("image_id", rec.get("image")), "image_id")
        if ierr:
            raise InputError(sp, f"{loc + ': ' if loc else ''}{ierr}", line=line, field="image_id")
        result.images.append(ImageInfo(image_id))
        result.objects.extend(_objects(sp, image_id, rec.get("objects", []), bbox_format=bbox_format,
                                       origin=origin, where=loc or "record", line=line))
    return result


def _add_mapping_entry(
    result: LoadResult, sp: str, key: str, objs: object, bbox_format: str, origin: str, line: int | None
) -> None:
    image_id, err = image_id_or_error(key, "image_id")
    if err:
        raise InputError(sp, f"key {key!r}: {err}", line=line, field="image_id")
    if isinstance(result.images, ImageIds):
        result.images.image_ids.append(image_id)
    else:
        result.images.append(ImageInfo(image_id))
    objects = result.objects
    if isinstance(objects, NamedObjects):
        if type(objs) is list and all(type(o) is str and o for o in objs):  # CHAIR's imid_to_objects
            objects.image_ids.extend([image_id] * len(objs))
            objects.labels.extend(objs)
            return
        result.objects = objects = list(objects)
    objects.extend(_objects(sp, image_id, objs, bbox_format=bbox_format, origin=origin,
                            where=f"image {key!r}", line=line))


def is_mapping_file(path: PathLike) -> bool:
    """Whether a non-JSONL ``{``-file is one ``{image_id: [...]}`` object rather than a stream of
    records: its first key is not a record field and its value is an array (read with ijson)."""
    key, event = _first_entry(path)
    return key not in (None, *IMAGE_FIELDS, *TEXT_FIELDS, "objects", "caption_id", "source") and (
        event == "start_array"
    )


def _first_entry(path: PathLike) -> tuple[str | None, str | None]:
    """The first key of the first top-level object and the ijson event that starts its value."""
    from caption_audit.ingest._io import import_ijson, open_binary

    ijson = import_ijson()

    key: str | None = None
    with open_binary(path) as f:
        try:
            for prefix, event, value in ijson.parse(f, multiple_values=True):
                if len(prefix) > 20_000:  # nested too deeply (ijson's C backend crashes near 90k levels)
                    return key, None
                if key is None and event == "map_key" and prefix == "":
                    key = str(value)
                elif key is not None:
                    return key, event
                elif event in ("end_map", "start_array") and prefix == "":
                    return None, None
        except json_errors():
            return key, None
    return key, None
