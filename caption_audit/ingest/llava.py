"""LLaVA files: instruction conversations, LLaVA-Bench (COCO) answers, and caps+boxes.

* ``llava_conversations``: ``detail_23k.json``, ``llava_instruct_150k.json``,
  ``complex_reasoning_77k.json``: a JSON array (or JSONL) of
  ``{"id", "image", "conversations": [{"from": "human"|"gpt", "value": ...}, ...]}``.
* ``llava_bench``: ``qa90_gpt4_answer.jsonl`` joined with ``qa90_questions.jsonl`` on ``question_id``.
* ``llava_qa30x3``: ``coco2014_val_gpt4_qa_30x3.jsonl`` (``id, image, instruction, output, type``).
* ``llava_caps_boxes``: ``caps_boxes_coco2014_val_80.jsonl``, the GPT-4 input of LLaVA: 5 COCO
  captions and the COCO boxes (normalised ``[x1, y1, x2, y2]``) per image.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from caption_audit.errors import ConfigError, InputError
from caption_audit.ingest._io import (
    PathLike,
    first_char,
    first_line_is_json_object,
    image_id_or_error,
    iter_json_array,
    iter_jsonl,
    plain_name,
    sink_captions,
    stem,
    text_or_error,
    type_name,
)
from caption_audit.ingest.base import LoadResult
from caption_audit.types import Caption, GTObject, ImageInfo

_IMAGE_TOKEN = re.compile(r"<image>")
_GPT = {"gpt", "assistant"}


def clean_turn(text: str) -> str:
    """Remove ``<image>`` tokens and surrounding whitespace from a conversation turn."""
    return _IMAGE_TOKEN.sub("", text).strip()


def _records(path: PathLike) -> Iterator[tuple[int, str, Any, str | None]]:
    """``(position, origin, record, error)`` from a JSON array, or JSONL for ``*.jsonl``."""
    sp = str(path)
    if plain_name(path).lower().endswith(".jsonl") or first_line_is_json_object(path):
        for n, rec, err in iter_jsonl(path):
            yield n, f"{sp}:line {n}", rec, err
    else:
        for i, rec in iter_json_array(path, "a JSON array of conversation records"):
            yield i, f"{sp}:record {i}", rec, None


def iter_conversations(path: PathLike, *, source: str, warnings: list[str] | None = None) -> Iterator[Caption]:
    """Stream captions from LLaVA/ShareGPT4V-style conversation records.

    The caption is the text of each ``gpt`` turn with ``<image>`` tokens and surrounding
    whitespace removed. A record with one gpt turn gives ``caption_id = id``; a multi-turn record
    gives one caption per gpt turn, ``caption_id = "<id>#<turn index>"`` where the index is the
    turn's position in ``conversations`` (so ``#1``, ``#3``, … for alternating turns).
    Records without ``id`` get ``"<file stem>:<position>"``. Bad records become captions with
    ``error`` set (``"no gpt turn"``, ``"empty caption"``, ``"missing field 'image'"``, …).
    """
    name = stem(path)

    def gen() -> Iterator[Caption]:
        for pos, origin, rec, err in _records(path):
            fallback = f"{name}:{pos}"
            if err is not None:
                yield Caption(fallback, "", source, None, origin, err)
                continue
            if not isinstance(rec, dict):
                yield Caption(fallback, "", source, None, origin, f"expected an object, got {type_name(rec)}")
                continue
            rid = rec.get("id")
            base = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid) else fallback
            image = rec.get("image")
            image_file = image if isinstance(image, str) else None
            image_id, ierr = image_id_or_error(image, "image")
            convs = rec.get("conversations")
            if ierr:
                yield Caption(base, image_id, source, None, origin, ierr, image_file)
                continue
            if not isinstance(convs, list):
                msg = "missing field 'conversations'" if convs is None else (
                    f"'conversations' is not a list (got {type_name(convs)})")
                yield Caption(base, image_id, source, None, origin, msg, image_file)
                continue
            turns = [(k, t) for k, t in enumerate(convs) if isinstance(t, dict) and t.get("from") in _GPT]
            if not turns:
                yield Caption(base, image_id, source, None, origin, "no gpt turn", image_file)
                continue
            for k, turn in turns:
                cid = base if len(turns) == 1 else f"{base}#{k}"
                value = turn.get("value")
                text, terr = text_or_error(value, present="value" in turn, field="value")
                if text is not None and terr is None:
                    text = clean_turn(text)
                    if not text:
                        text, terr = value, "empty caption"
                yield Caption(cid, image_id, source, text, origin, terr, image_file)

    yield from sink_captions(gen(), path, warnings)


def iter_llava_conversations(
    path: PathLike, *, source: str = "llava", warnings: list[str] | None = None
) -> Iterator[Caption]:
    """Stream captions from ``detail_23k.json`` / ``llava_instruct_*.json`` (see :func:`iter_conversations`)."""
    return iter_conversations(path, source=source, warnings=warnings)


def load_llava_conversations(path: PathLike, *, source: str | None = None) -> LoadResult:
    """Load LLaVA instruction data (``detail_23k.json``, ``llava_instruct_150k.json``, …).

    Streams the JSON array with ijson; ``source`` defaults to ``llava``.
    """
    result = LoadResult(format="llava_conversations", path=str(path))
    result.captions = list(iter_conversations(path, source=source or "llava", warnings=result.warnings))
    return result


# ----------------------------------------------------------------------------- LLaVA-Bench


def _categories(value: str | Iterable[str] | None, default: tuple[str, ...]) -> set[str] | None:
    """Parse the ``categories=`` option: ``"detail"``, ``"detail,complex"``, a list, or ``"all"``."""
    if value is None:
        return set(default)
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v).strip() for v in value]
    items = [v for v in items if v]
    if not items:
        raise ConfigError("Option 'categories' is empty; use e.g. 'detail' or 'all'.")
    return None if "all" in items else set(items)


def _jsonl_objects(path: PathLike) -> Iterator[tuple[int, str, dict[str, Any] | None, str | None]]:
    sp = str(path)
    if first_char(path) == "[":
        raise InputError(sp, "expected JSONL (one JSON object per line), got a JSON array")
    for n, rec, err in iter_jsonl(path):
        if err is None and not isinstance(rec, dict):
            err = f"expected an object at line {n}, got {type_name(rec)}"
        yield n, f"{sp}:line {n}", (rec if err is None else None), err


def find_questions_file(answers: PathLike) -> Path | None:
    """The LLaVA-Bench questions file beside an answers file, or ``None``."""
    p = Path(answers)
    names = [p.name.replace("_gpt4_answer", "_questions").replace("_answer", "_questions"),
             "qa90_questions.jsonl", "questions.jsonl"]
    for n in names:
        cand = p.with_name(n)
        if cand != p and cand.is_file():
            return cand
    others = sorted(q for q in p.parent.glob("*question*.jsonl") if q != p)
    return others[0] if len(others) == 1 else None


def _warn_left_out(result: LoadResult, sp: str, left_out: Counter[str], what: str) -> None:
    """A file-level warning for records filtered out by ``categories=`` (never a silent drop)."""
    if left_out:
        cats = ", ".join(f"{k} ({v})" for k, v in sorted(left_out.items()))
        result.warnings.append(f"{sp}: {sum(left_out.values())} {what} left out: {cats}; "
                               "pass categories= to keep them")


def load_llava_bench(
    path: PathLike,
    *,
    source: str | None = None,
    questions: PathLike | None = None,
    categories: str | Iterable[str] | None = None,
) -> LoadResult:
    """Load LLaVA-Bench (COCO) GPT-4 answers (``qa90_gpt4_answer.jsonl``).

    Answers carry no image; each is joined on ``question_id`` with the questions file
    (``qa90_questions.jsonl`` beside the answers, or ``questions=``), which gives the image.

    Args:
        path: the answers JSONL.
        source: caption source name (default ``llava``).
        questions: the questions JSONL; found automatically beside ``path`` when omitted.
        categories: answer categories to keep: ``detail`` (default; the detailed descriptions),
            ``conv``, ``complex``, a comma list, or ``all``. Others are left out with a warning.

    Returns:
        Captions with ``caption_id = "<answers stem>:<question_id>"``.

    Raises:
        InputError: the questions file is missing or unreadable.
    """
    sp = str(path)
    keep = _categories(categories, ("detail",))
    qpath = Path(questions) if questions is not None else find_questions_file(path)
    if qpath is None:
        raise InputError(sp, "cannot find the questions file beside the answers (looked for "
                         "qa90_questions.jsonl); pass questions=PATH", field="question_id")
    qmap: dict[Any, dict[str, Any]] = {}
    for n, _origin, rec, err in _jsonl_objects(qpath):
        if err:
            raise InputError(str(qpath), err, line=n)
        assert rec is not None
        if "question_id" not in rec:
            raise InputError(str(qpath), "missing field 'question_id'", line=n, field="question_id")
        qmap[rec["question_id"]] = rec
    src = source or "llava"
    name = stem(path)
    result = LoadResult(format="llava_bench", path=sp)
    left_out: Counter[str] = Counter()

    def gen() -> Iterator[Caption]:
        for n, origin, rec, err in _jsonl_objects(path):
            if err is not None or rec is None:
                yield Caption(f"{name}:{n}", "", src, None, origin, err)
                continue
            qid = rec.get("question_id")
            q = qmap.get(qid) if isinstance(qid, (int, str)) else None
            cat = rec.get("category") or (q or {}).get("category")
            if keep is not None and cat not in keep:
                left_out[str(cat)] += 1
                continue
            cid = f"{name}:{qid}" if qid is not None else f"{name}:{n}"
            if qid is None:
                yield Caption(cid, "", src, None, origin, "missing field 'question_id'")
                continue
            if q is None:
                yield Caption(cid, "", src, None, origin,
                              f"no question with question_id {qid!r} in {qpath.name}")
                continue
            image = q.get("image")
            image_id, ierr = image_id_or_error(image, "image")
            text, terr = text_or_error(rec.get("text"), present="text" in rec, field="text")
            yield Caption(cid, image_id, src, text, origin, ierr or terr,
                          image if isinstance(image, str) else None)

    result.captions = list(sink_captions(gen(), path, result.warnings))
    _warn_left_out(result, sp, left_out, "answers of other categories")
    return result


def load_llava_qa30x3(
    path: PathLike, *, source: str | None = None, categories: str | Iterable[str] | None = None
) -> LoadResult:
    """Load ``coco2014_val_gpt4_qa_30x3.jsonl`` (records ``id, image, instruction, output, type``).

    Args:
        path: the JSONL file.
        source: caption source name (default ``llava``).
        categories: ``type`` values to keep (default ``detail``; ``all`` keeps every record).

    Returns:
        Captions with text = ``output`` and ``caption_id = "<id>#<type>"``.
    """
    sp = str(path)
    keep = _categories(categories, ("detail",))
    src = source or "llava"
    name = stem(path)
    result = LoadResult(format="llava_qa30x3", path=sp)
    left_out: Counter[str] = Counter()

    def gen() -> Iterator[Caption]:
        for n, origin, rec, err in _jsonl_objects(path):
            if err is not None or rec is None:
                yield Caption(f"{name}:{n}", "", src, None, origin, err)
                continue
            kind = rec.get("type")
            if keep is not None and kind not in keep:
                left_out[str(kind)] += 1
                continue
            rid = rec.get("id")
            cid = f"{rid}#{kind}" if rid is not None else f"{name}:{n}"
            image = rec.get("image")
            image_id, ierr = image_id_or_error(image, "image")
            text, terr = text_or_error(rec.get("output"), present="output" in rec, field="output")
            yield Caption(cid, image_id, src, text, origin, ierr or terr,
                          image if isinstance(image, str) else None)

    result.captions = list(sink_captions(gen(), path, result.warnings))
    _warn_left_out(result, sp, left_out, "records of other types")
    return result


# ----------------------------------------------------------------------------- caps + boxes


def _norm_box(path: str, line: int, k: int, box: object) -> tuple[float, float, float, float] | None:
    if box is None:
        return None
    if (
        not isinstance(box, list)
        or len(box) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
    ):
        raise InputError(path, f"instances[{k}]: bbox must be 4 numbers [x1, y1, x2, y2], got {box!r}"[:300],
                         line=line, field="bbox")
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def load_llava_caps_boxes(path: PathLike, *, source: str | None = None) -> LoadResult:
    """Load ``caps_boxes_coco2014_val_80.jsonl``: COCO captions and boxes, one image per line.

    Each line ``{"id", "image", "captions": [5 strings], "instances": [{"category", "bbox"}]}``
    gives one :class:`ImageInfo`, one :class:`Caption` per caption (``source`` default ``coco``,
    ``caption_id = "<image id>#<k>"``) and one :class:`GTObject` per instance (bbox normalised
    ``[x1, y1, x2, y2]``, ``normalized=True``, ``origin="caps_boxes"``).

    Raises:
        InputError: an instance without a category or with a malformed bbox (the ground truth of
            an image is never read in part). A line that is not valid JSON becomes an error
            caption instead, and its image stays unknown to the ground truth.
    """
    sp = str(path)
    src = source or "coco"
    name = stem(path)
    result = LoadResult(format="llava_caps_boxes", path=sp)

    def gen() -> Iterator[Caption]:
        for n, origin, rec, err in _jsonl_objects(path):
            if err is not None or rec is None:
                yield Caption(f"{name}:{n}", "", src, None, origin, err)
                continue
            image = rec.get("image", rec.get("id"))
            image_id, ierr = image_id_or_error(image, "image")
            image_file = image if isinstance(image, str) else None
            if ierr:
                yield Caption(f"{name}:{n}", "", src, None, origin, ierr)
                continue
            instances = rec.get("instances", [])
            if not isinstance(instances, list):
                raise InputError(sp, f"'instances' must be a list, got {type_name(instances)}",
                                 line=n, field="instances")
            objs = []
            for k, inst in enumerate(instances):
                cat = inst.get("category") if isinstance(inst, dict) else None
                if not isinstance(cat, str) or not cat.strip():
                    raise InputError(sp, f"instances[{k}] has no category", line=n, field="category")
                objs.append(GTObject(image_id, cat, _norm_box(sp, n, k, inst.get("bbox")), True, "caps_boxes"))
            result.objects.extend(objs)
            result.images.append(ImageInfo(image_id, image_file))
            caps = rec.get("captions")
            if not isinstance(caps, list):
                msg = "missing field 'captions'" if caps is None else f"'captions' is not a list (got {type_name(caps)})"
                yield Caption(f"{image_id}#0", image_id, src, None, origin, msg, image_file)
                continue
            for k, cap in enumerate(caps):
                text, terr = text_or_error(cap)
                yield Caption(f"{image_id}#{k}", image_id, src, text, origin, terr, image_file)

    result.captions = list(sink_captions(gen(), path, result.warnings))
    return result
