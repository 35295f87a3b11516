"""Guess a file's format from its name and its first record, without reading it whole."""

from __future__ import annotations

import re
from typing import Any

from caption_audit.errors import InputError
from caption_audit.ingest._io import (
    PathLike,
    describe_json_error,
    first_char,
    first_line_is_json_object,
    import_ijson,
    iter_jsonl,
    json_errors,
    open_binary,
    plain_name,
)

_SHAREGPT4V_NAME = re.compile(r"share-?gpt4v|share[-_]?captioner", re.IGNORECASE)
_SHAREGPT4V_ROOTS = {"sam", "wikiart", "web-celebrity", "web-landmark", "share_textvqa", "llava"}
_COCO_KEYS = {"images", "annotations", "categories", "info", "licenses"}
_RECORD_KEYS = _COCO_KEYS | {"objects", "captions", "instances", "conversations"}
_MAX_EVENTS = 20_000_000
# ijson's C backend crashes (segfault) on ~90k nesting levels; stop sniffing long before that
_MAX_PREFIX = 20_000


def _conversation_format(path: PathLike, rec: dict[str, Any]) -> str:
    name = plain_name(path)
    if _SHAREGPT4V_NAME.search(name):
        return "sharegpt4v"
    if "llava" in name.lower():
        return "llava_conversations"
    image = rec.get("image")
    if isinstance(image, str) and "/" in image and image.split("/", 1)[0].lower() in _SHAREGPT4V_ROOTS:
        return "sharegpt4v"
    return "llava_conversations"


def classify_record(path: PathLike, rec: object) -> str | None:
    """The format a first record belongs to, or ``None`` when unknown."""
    if not isinstance(rec, dict):
        return None
    keys = set(rec)
    if "conversations" in keys:
        return _conversation_format(path, rec)
    if {"captions", "instances"} <= keys:
        return "llava_caps_boxes"
    if {"instruction", "output", "type"} <= keys:
        return "llava_qa30x3"
    if {"question_id", "text", "category"} <= keys and not keys & {"image", "image_id"}:
        return "llava_bench"
    if {"question_id", "text", "label"} <= keys:
        raise InputError(str(path), "these look like yes/no probe questions (question_id, text, label; "
                         "e.g. POPE), not captions; pass a format to read them anyway")
    if {"question_id", "text", "category", "image"} <= keys:
        raise InputError(str(path), "this is a LLaVA-Bench questions file; load the answers file "
                         "(e.g. qa90_gpt4_answer.jsonl) with format 'llava_bench', which reads it")
    if keys & _COCO_KEYS and keys <= _COCO_KEYS | {"type"}:
        anns = rec.get("annotations") or [{}]
        first = anns[0] if isinstance(anns, list) and anns and isinstance(anns[0], dict) else {}
        return "coco_instances" if "categories" in keys or "bbox" in first else "coco_captions"
    if "objects" in keys and keys & {"image_id", "image"}:
        return "generic_objects"
    if keys & {"image_id", "image"} and keys & {"caption", "text"}:
        return "generic_captions"
    if keys and all(isinstance(v, list) for v in rec.values()):
        first = next((v[0] for v in rec.values() if v), None)
        return "generic_captions" if _looks_like_sentence(first) else "generic_objects"
    return None


def _looks_like_sentence(value: object) -> bool:
    """An object name has at most 3 words (``tennis racket``); a caption is longer or ends in a stop."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return len(text.split()) > 3 or text.endswith(".")


def _scan_object(path: PathLike) -> tuple[list[str], str | None, set[str], object]:
    """Top-level keys of the first JSON object, the event of its first value, the keys of its
    first ``annotations`` item, and the first item of its first value when that is an array,
    from ijson events (stops early; bounded memory)."""
    ijson = import_ijson()
    keys: list[str] = []
    first_value: str | None = None
    first_item: object = None
    ann_keys: set[str] = set()
    with open_binary(path) as f:
        try:
            for i, (prefix, event, value) in enumerate(ijson.parse(f, multiple_values=True)):
                if len(prefix) > _MAX_PREFIX:
                    raise InputError(str(path), "JSON nested too deeply (thousands of levels) to be a caption file")
                if prefix == "" and event == "map_key":
                    keys.append(str(value))
                    continue
                if len(keys) == 1 and first_value is None and prefix == keys[0]:
                    first_value = event
                if prefix == "annotations.item" and event == "map_key":
                    ann_keys.add(str(value))
                if (prefix == "" and event == "end_map") or (
                    prefix == "annotations.item" and event == "end_map"
                ):
                    break
                if first_value == "start_array" and keys[0] not in _RECORD_KEYS:
                    if prefix == f"{keys[0]}.item" and event == "map_key":
                        first_item = {str(value): None}
                        break
                    if prefix == f"{keys[0]}.item" and event not in ("start_map", "end_map"):
                        first_item = value
                        break  # {image_id: [objects or captions]}: the first entry says enough
                if i > _MAX_EVENTS:
                    break
        except json_errors() as exc:
            if not keys:
                raise InputError(str(path), f"invalid JSON: {describe_json_error(exc)}") from exc
    return keys, first_value, ann_keys, first_item


def detect_format(path: PathLike) -> str:
    """Sniff the loader name for ``path`` from its name and first record(s).

    Reads at most the first record (streamed with ijson); COCO files are told apart by name
    (``captions_*`` / ``instances_*``) or by the keys of their first annotation.

    Returns:
        One of the names in :data:`caption_audit.ingest.base.LOADERS`.

    Raises:
        InputError: unreadable file, or no format matches (the message says what was seen).
    """
    sp = str(path)
    from pathlib import Path

    if Path(sp).is_dir():
        from caption_audit.ingest.hf import is_hf_folder

        if is_hf_folder(sp):
            return "hf_dataset"
        raise InputError(sp, "is a directory, expected a file or a Hugging Face datasets folder (with state.json, "
                         "dataset_dict.json or Parquet files)")
    name = plain_name(path).lower()
    if name.endswith(".arrow"):
        return "hf_dataset"
    if name.endswith((".parquet", ".csv", ".tsv")):
        return "generic_captions"
    c = first_char(path)
    if c == "[":
        ijson = import_ijson()
        with open_binary(path) as f:
            try:
                rec = next(iter(ijson.items(f, "item", use_float=True)), None)
            except json_errors() as exc:
                raise InputError(sp, f"invalid JSON: {describe_json_error(exc)}") from exc
        if rec is None:
            raise InputError(sp, "empty JSON array: cannot detect the format")
        fmt = classify_record(path, rec)
        if fmt is None:
            raise InputError(sp, _unknown(rec))
        return fmt
    if c != "{":
        raise InputError(sp, f"cannot detect the format: not JSON, JSONL, CSV or Parquet (starts with '{c}')")
    if first_line_is_json_object(path):
        for _n, rec, _err in iter_jsonl(path):
            fmt = classify_record(path, rec)
            if fmt is None:
                raise InputError(sp, _unknown(rec))
            return fmt
    if name.startswith("captions_") and name.endswith(".json"):
        return "coco_captions"
    if name.startswith("instances_") and name.endswith(".json"):
        return "coco_instances"
    keys, first_value, ann_keys, first_item = _scan_object(path)
    if set(keys) & _COCO_KEYS:
        if "categories" in keys or ann_keys & {"bbox", "category_id"}:
            return "coco_instances"
        if "caption" in ann_keys:
            return "coco_captions"
        raise InputError(sp, "a COCO-like object, but cannot tell captions from instances; "
                         "pass format 'coco_captions' or 'coco_instances'")
    if keys and first_value == "start_array" and keys[0] not in _RECORD_KEYS:
        if isinstance(first_item, str):
            return "generic_captions" if _looks_like_sentence(first_item) else "generic_objects"
        if isinstance(first_item, dict) and set(first_item) & {"label", "category", "name"}:
            return "generic_objects"
        raise InputError(sp, f"cannot detect the format: a JSON object whose first entry {keys[0]!r} "
                         "is not a list of object names or captions; pass a format")
    fmt = classify_record(path, dict.fromkeys(keys, ""))
    if fmt is None or fmt == "generic_objects" and "objects" not in keys:
        raise InputError(sp, _unknown(dict.fromkeys(keys)))
    return fmt


def _unknown(rec: object) -> str:
    if isinstance(rec, dict):
        fields = ", ".join(list(map(str, rec))[:12])
        return f"cannot detect the format from the first record (fields: {fields}); pass a format"
    return f"cannot detect the format: first record is not an object ({type(rec).__name__})"
