"""Fuzzing every loader with hypothesis: truncated files, wrong types, huge strings, odd Unicode,
duplicate ids. A loader either returns or raises a CaptionAuditError (never KeyError, TypeError,
ijson errors or UnicodeDecodeError), and never drops a caption record silently."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from caption_audit.errors import CaptionAuditError
from caption_audit.ingest import iter_load, load
from caption_audit.ingest._io import image_id_or_error

HUGE = "<huge-int>"  # written as a 5,000-digit integer literal (past Python's int-string limit)
# random examples on a developer's machine (to find new failures), a fixed set in CI (never flaky)
SETTINGS = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 25)), deadline=None, suppress_health_check=list(HealthCheck),
                    derandomize=bool(os.environ.get("CI")))

ODD = st.sampled_from(["", " ", "\u0000", "\ufeff", "\u202egnp.1", "😀🐶", "e\u0301", "\ud83d", "\udc00x",
                       "a" * 70_000, "000000000139.jpg", "coco/train2017/000000000139.jpg", "sam/images/sa_1.jpg",
                       "-1", "1e400", "ⅷ", "١٢٣"])
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
                   st.sampled_from([HUGE, -0.0, 1e308, 2.5]), st.floats(allow_nan=False), st.text(max_size=30), ODD)
ANY = st.recursive(SCALAR, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=3)),
                   max_leaves=6)
IMAGE = st.one_of(st.integers(0, 50), st.sampled_from(["coco/train2017/000000000001.jpg", "sam/images/sa_7.jpg",
                                                       "COCO_val2014_000000000002.jpg"]), ANY)
TEXT = st.one_of(st.text(min_size=1, max_size=200), ODD, ANY)
ID = st.one_of(st.sampled_from(["a", "b", "1", 1]), ANY)  # small pool: duplicate ids


def maybe(value: st.SearchStrategy) -> st.SearchStrategy:
    """A field that is sometimes missing (None means: leave it out)."""
    return st.one_of(st.none(), value)


def record(**fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=fields)


TURN = st.one_of(st.fixed_dictionaries({"from": st.sampled_from(["human", "gpt", "assistant", 3]), "value": TEXT}), ANY)
CONV = st.one_of(record(id=ID, image=IMAGE, conversations=st.one_of(st.lists(TURN, max_size=4), ANY)), ANY)
COCO_ANN = st.one_of(record(id=ID, image_id=IMAGE, caption=TEXT), ANY)
GENERIC = st.fixed_dictionaries({"caption": TEXT}, optional={"image_id": IMAGE, "caption_id": ID, "source": ANY})
QA = st.one_of(record(id=ID, image=IMAGE, instruction=TEXT, output=TEXT, type=st.sampled_from(["detail", "conv"])), ANY)
ANSWER = st.one_of(record(question_id=st.one_of(st.integers(0, 5), ANY), text=TEXT, category=st.just("detail")), ANY)
CAPS_BOXES = st.one_of(record(image=IMAGE, captions=st.one_of(st.lists(TEXT, max_size=3), ANY),
                              instances=st.one_of(st.lists(ANY, max_size=2), ANY)), ANY)
OBJECTS = st.one_of(record(image_id=IMAGE, objects=st.one_of(st.lists(st.one_of(st.text(max_size=10), ANY), max_size=3), ANY)), ANY)
INSTANCES = st.fixed_dictionaries({"images": st.lists(ANY, max_size=3), "annotations": st.lists(
    st.one_of(record(image_id=IMAGE, category_id=st.integers(0, 3), bbox=ANY), ANY), max_size=3),
    "categories": st.one_of(st.just([{"id": 1, "name": "dog"}]), ANY)})

# how a file is damaged: (kind, fraction)
DAMAGE = st.one_of(st.just(("none", 0.0)), st.tuples(st.sampled_from(["truncate", "garbage", "bad_utf8", "bom"]),
                                                    st.floats(0, 1)))


def damage(data: bytes, how: tuple[str, float]) -> bytes:
    kind, frac = how
    at = int(len(data) * frac)
    if kind == "truncate":
        return data[:at]
    if kind == "garbage":
        return data[:at] + b"}{\x00]," + data[at:]
    if kind == "bad_utf8":
        return data[:at] + b"\xff\xc3(" + data[at:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    return data


def dump(value: object) -> bytes:
    text = json.dumps(value)  # ensure_ascii: lone surrogates travel as \ud83d escapes
    return text.replace(json.dumps(HUGE), "9" * 5000).encode()


def has_huge(value: object) -> bool:
    """What ijson's C backend cannot read: integers past 64 bits (and -2**63), lone ``\\udc00`` escapes and
    non-finite floats (Python writes them as ``Infinity``/``NaN``, which is not JSON). Such a JSON
    (not JSONL) file is refused whole, with a clear InputError ("integer overflow", "invalid UTF-8
    or a lone \\u surrogate escape", "invalid char in json text"); JSONL files lose only that line."""
    if json.dumps(HUGE) in json.dumps(value):
        return True
    if str(-(2**63)) in json.dumps(value):
        return True  # yajl (ijson's C backend) overflows on the most negative int64 too
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return True
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def jsonl(records: list) -> bytes:
    return b"".join(dump(r) + b"\n" for r in records)


def check(path: Path, fmt: str | None, **options: object) -> list | None:
    """Load ``path``; returns the captions, or None when a clear error was raised."""
    try:
        caps = load(path, fmt, **options).captions if fmt else list(iter_load(path))
    except CaptionAuditError as exc:
        assert str(path) in str(exc) or "format" in str(exc), f"error without the file name: {exc}"
        return None
    ids = [c.caption_id for c in caps]
    assert len(ids) == len(set(ids)), "caption ids must be unique"
    for c in caps:
        assert (c.text is None) == (c.error is not None) or c.error, c
        for v in (c.caption_id, c.image_id, c.source, c.text, c.origin):
            if isinstance(v, str):
                v.encode("utf-8")  # writable to Parquet
    return caps


def write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def conv_count(records: list) -> int:
    n = 0
    for r in records:
        if not isinstance(r, dict) or image_id_or_error(r.get("image"), "image")[1] or not isinstance(r.get("conversations"), list):
            n += 1
            continue
        n += max(1, sum(1 for t in r["conversations"] if isinstance(t, dict) and t.get("from") in ("gpt", "assistant")))
    return n


@SETTINGS
@given(records=st.lists(CONV, max_size=6), how=DAMAGE, as_jsonl=st.booleans(), name=st.sampled_from(["sharegpt4v", "llava"]))
def test_conversations(records: list, how: tuple[str, float], as_jsonl: bool, name: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        raw = jsonl(records) if as_jsonl else dump(records)
        p = write(Path(d), f"{name}_x.{'jsonl' if as_jsonl else 'json'}", damage(raw, how))
        fmt = "sharegpt4v" if name == "sharegpt4v" else "llava_conversations"
        caps = check(p, fmt)
        check(p, None)
        if how[0] in ("none", "bom") and not (has_huge(records) and not as_jsonl):
            assert caps is not None and len(caps) == conv_count(records)


@SETTINGS
@given(anns=st.lists(COCO_ANN, max_size=6), images=st.lists(ANY, max_size=2), how=DAMAGE)
def test_coco_captions(anns: list, images: list, how: tuple[str, float]) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = write(Path(d), "captions_x.json", damage(dump({"images": images, "annotations": anns}), how))
        caps = check(p, "coco_captions")
        check(p, None)
        if how[0] in ("none", "bom") and caps is not None:
            assert len(caps) == len(anns)


@SETTINGS
@given(records=st.lists(GENERIC, min_size=1, max_size=6), how=DAMAGE, layout=st.sampled_from(["jsonl", "json", "csv"]))
def test_generic_captions(records: list, how: tuple[str, float], layout: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        if layout == "csv":
            import csv
            import io

            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["image_id", "caption"])
            for r in records:
                w.writerow([str(r.get("image_id", "")), str(r["caption"])])
            raw = buf.getvalue().encode("utf-8", "surrogatepass")
        else:
            raw = jsonl(records) if layout == "jsonl" else dump(records)
        p = write(Path(d), f"preds.{layout}", damage(raw, how))
        caps = check(p, "generic_captions")
        check(p, None)
        if how[0] in ("none", "bom") and (layout == "jsonl" or (layout == "json" and not has_huge(records))):
            assert caps is not None and len(caps) == len(records)


@SETTINGS
@given(records=st.lists(QA, max_size=5), answers=st.lists(ANSWER, max_size=5), how=DAMAGE)
def test_llava_jsonl_formats(records: list, answers: list, how: tuple[str, float]) -> None:
    with tempfile.TemporaryDirectory() as d:
        qa = write(Path(d), "qa30x3.jsonl", damage(jsonl(records), how))
        caps = check(qa, "llava_qa30x3", categories="all")
        if how[0] in ("none", "bom") and records and not isinstance(records[0], list):  # empty or "[" file: InputError
            assert caps is not None and len(caps) == len(records)
        write(Path(d), "qa90_questions.jsonl", jsonl([{"question_id": i, "image": f"COCO_val2014_{i:012d}.jpg",
                                                       "text": "Describe.", "category": "detail"} for i in range(4)]))
        ans = write(Path(d), "qa90_gpt4_answer.jsonl", damage(jsonl(answers), how))
        caps = check(ans, "llava_bench", categories="all")
        if how[0] in ("none", "bom") and answers and not isinstance(answers[0], list):
            assert caps is not None and len(caps) == len(answers)


@SETTINGS
@given(records=st.lists(CAPS_BOXES, max_size=4), objects=st.lists(OBJECTS, max_size=4),
       mapping=st.dictionaries(st.text(max_size=6), ANY, max_size=3), inst=INSTANCES, how=DAMAGE)
def test_ground_truth_loaders(records: list, objects: list, mapping: dict, inst: dict, how: tuple[str, float]) -> None:
    with tempfile.TemporaryDirectory() as d:
        check(write(Path(d), "caps_boxes_x.jsonl", damage(jsonl(records), how)), "llava_caps_boxes")
        check(write(Path(d), "objects.jsonl", damage(jsonl(objects), how)), "generic_objects")
        check(write(Path(d), "objects_map.json", damage(dump(mapping), how)), "generic_objects")
        p = write(Path(d), "instances_x.json", damage(dump(inst), how))
        check(p, "coco_instances")
        check(p, None)


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(records=st.lists(CONV, min_size=1, max_size=5))
def test_audit_writes_one_row_per_caption(records: list) -> None:
    """Whatever the loader yields, the run folder has exactly one captions row for it."""
    assume(not has_huge(records))
    import pyarrow.parquet as pq

    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    with tempfile.TemporaryDirectory() as d:
        p = write(Path(d), "sharegpt4v_x.json", dump(records))
        n = len(list(iter_load(p, "sharegpt4v")))
        out = audit(AuditConfig(inputs=[InputSpec(p, format="sharegpt4v")], out=Path(d) / "run", n_resamples=10, progress=False,
                                batch_size=2))
        assert pq.read_metadata(out / "captions.parquet").num_rows == n == conv_count(records)
