import json
import time

import pytest

from caption_audit.errors import ConfigError, InputError
from caption_audit.ingest import load
from caption_audit.ingest.generic import (
    iter_generic_captions,
    load_generic_captions,
    load_generic_objects,
)
from caption_audit.types import Caption, GTObject, ImageInfo, NamedObjects
from tests._ingest_data import fx, real

GJ = fx("generic_captions.jsonl")
GC = fx("generic_captions.csv")
POPE = fx("pope_stream_sample.json")


def test_jsonl_fixture():
    caps = load_generic_captions(GJ).captions
    assert caps[0] == Caption(
        "generic_captions:1", "391895", "generic_captions",
        "A man with a red helmet on a small moped on a dirt road.", f"{GJ}:line 1", None, None,
    )
    assert (caps[1].source, caps[1].image_id, caps[1].image_file) == ("human", "391895", "COCO_val2014_000000391895.jpg")
    assert (caps[2].caption_id, caps[2].text) == ("cats-1", "Two cats sleeping on a pink blanket next to remotes.")
    rows = [(c.caption_id, c.origin, c.error, c.text) for c in caps[3:]]
    assert rows == [
        ("generic_captions:5", f"{GJ}:line 5", "missing field 'image_id'", "A caption without an image."),
        ("generic_captions:6", f"{GJ}:line 6", "caption is not a string (got number)", None),
        ("generic_captions:7", f"{GJ}:line 7", "invalid JSON at line 7: Expecting ':' delimiter", None),
        ("generic_captions:8", f"{GJ}:line 8", "empty caption", "   "),
        ("cats-1~2", f"{GJ}:line 9", None, "A living room with a television and a vase of flowers."),
        ("generic_captions:10", f"{GJ}:line 10", "expected an object, got array", None),
    ]


def test_source_precedence():
    caps = load_generic_captions(GJ, source="opera").captions
    assert {c.source for c in caps} == {"opera"}  # the argument wins over the record's field


def test_csv_fixture():
    res = load(GC)
    assert res.format == "generic_captions"
    assert [(c.caption_id, c.image_id, c.text, c.error, c.origin) for c in res.captions] == [
        ("generic_captions:2", "391895", "A man riding a dirt bike, with hills behind him.", None, f"{GC}:line 2"),
        ("generic_captions:3", "39769", "Two cats\nasleep on a couch.", None, f"{GC}:line 3"),
        ("generic_captions:5", "", "No image id.", "missing field 'image_id'", f"{GC}:line 5"),
        ("generic_captions:6", "139", "", "empty caption", f"{GC}:line 6"),
    ]
    assert {c.source for c in res.captions} == {"opera"}


def test_csv_missing_column(tmp_path):
    p = tmp_path / "caps.csv"
    p.write_text("image,words\n1,hello\n")
    with pytest.raises(InputError) as e:
        load_generic_captions(p)
    assert str(e.value) == f"{p}:1 field 'caption': missing column 'caption' (or 'text'); columns are: image, words"


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "caps.parquet"
    pq.write_table(pa.table({"image_id": ["000000000009.jpg", None], "text": ["Food in trays.", "x"],
                             "caption_id": ["a", "b"], "other": [1, 2]}), p)
    caps = load(p).captions
    assert [(c.caption_id, c.image_id, c.text, c.origin, c.error) for c in caps] == [
        ("a", "9", "Food in trays.", f"{p}:row 0", None),
        ("b", "", "x", f"{p}:row 1", "missing field 'image_id'"),
    ]
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="cannot read Parquet"):
        load(bad)


def test_json_array_and_mapping(tmp_path):
    p = tmp_path / "caps.json"
    p.write_text(json.dumps([{"image_id": 9, "caption": "Bowls of food."}, {"image": "x/y.jpg", "text": "A dog."}]))
    caps = load(p).captions
    assert [(c.caption_id, c.image_id, c.origin) for c in caps] == [
        ("caps:0", "9", f"{p}:record 0"), ("caps:1", "x/y.jpg", f"{p}:record 1")
    ]
    m = tmp_path / "refs.json"
    m.write_text(json.dumps({"000000000009": ["Bowls of food on a table.", "Lunch boxes."], "25": "A giraffe by a tree."}, indent=2))
    caps = load(m).captions
    assert [(c.caption_id, c.image_id, c.text) for c in caps] == [
        ("9#0", "9", "Bowls of food on a table."), ("9#1", "9", "Lunch boxes."), ("25#0", "25", "A giraffe by a tree.")
    ]


def test_not_a_caption_file(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text('{"image": "1.jpg", "question": "What?"}\n'.replace('"image"', '"img"'))
    with pytest.raises(InputError) as e:
        load_generic_captions(p)
    assert str(e.value) == (
        f"{p} field 'image_id': first record has no 'image_id' or 'caption'/'text' field "
        "(fields: img, question); not a generic caption file"
    )


def test_concatenated_pretty_json_stream():
    res = load(POPE)
    assert res.format == "generic_captions"
    assert [(c.caption_id, c.image_id, c.origin, c.error) for c in res.captions] == [
        ("pope_stream_sample:1", "40468", f"{POPE}:line 1", None),
        ("pope_stream_sample:10", "10822", f"{POPE}:line 10", None),
        ("pope_stream_sample:19", "", f"{POPE}:line 19", "invalid JSON at line 23: Expecting ',' delimiter"),
        ("pope_stream_sample:25", "3845", f"{POPE}:line 25", None),
    ]
    assert res.captions[0].text.startswith("The image features a man sitting on a surfboard")


def test_objects_jsonl():
    p = fx("objects.jsonl")
    res = load(p)
    assert res.format == "generic_objects"
    assert res.objects == [
        GTObject("9", "bowl", None, False, "objects"),
        GTObject("9", "broccoli", pytest.approx((249.6, 229.27, 565.84, 474.35)), False, "objects"),
        GTObject("9", "orange", None, False, "objects"),
    ]
    assert res.images == [ImageInfo("9"), ImageInfo("30")]
    xyxy = load_generic_objects(p, bbox_format="xyxy").objects[1].bbox
    assert xyxy == (249.6, 229.27, 316.24, 245.08)
    with pytest.raises(ConfigError, match="Unknown bbox_format 'cxcywh'"):
        load_generic_objects(p, bbox_format="cxcywh")


def test_objects_mapping():
    res = load(fx("imid_to_objects_sample.json"))
    assert res.format == "generic_objects"
    assert [im.image_id for im in res.images] == ["9", "25", "30", "391895"]
    assert [(o.image_id, o.category) for o in res.objects][:3] == [("9", "bowl"), ("9", "broccoli"), ("9", "orange")]
    assert len(res.objects) == 7


def test_objects_errors(tmp_path):
    p = tmp_path / "o.jsonl"
    p.write_text('{"image_id": 1, "objects": ["dog"]}\n{"image_id": 2, "objects": [{"bbox": [1, 2, 3, 4]}]}\n')
    with pytest.raises(InputError) as e:
        load_generic_objects(p)
    assert str(e.value) == f"{p}:2 field 'objects': record objects[0]: expected a name or {{'label', 'bbox'}}, got {{'bbox': [1, 2, 3, 4]}}"
    p.write_text('{"objects": ["dog"]}\n')
    with pytest.raises(InputError, match=r":1 field 'image_id': missing field 'image_id'"):
        load_generic_objects(p)
    p.write_text('{"image_id": 1, "objects": ["dog"]}\n{"image_id": 2\n')
    with pytest.raises(InputError, match=r":2: invalid JSON at line 2: Expecting ',' delimiter"):
        load_generic_objects(p)
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"1": ["dog"], "2": "cat"}))
    with pytest.raises(InputError, match=r"field 'objects': image '2': 'objects' must be a list, got string"):
        load_generic_objects(m)


def test_iter_generic_is_lazy():
    it = iter_generic_captions(GJ)
    assert next(it).caption_id == "generic_captions:1"


def test_real_opera_and_pope():
    opera = load(real("opera/chair_eval_results/llava-1.5/greedy.jsonl"), source="llava-1.5")
    assert opera.format == "generic_captions" and len(opera.captions) == 500
    assert not any(c.error for c in opera.captions)
    pope = load(real("pope/caption_data/Instruction1_llava.json"))
    assert pope.format == "generic_captions" and len(pope.captions) == 2000
    assert not any(c.error for c in pope.captions)
    # keys of that stream: question_id, prompt, text, answer_id, model_id, metadata, image_id
    first = next(iter(pope.captions))
    assert first.image_id == "40468" and first.origin.endswith(":line 1")


@pytest.mark.slow
def test_real_chair_imid_to_objects_fast():
    p = real("chair_standalone/chair_imid_to_objects.json")
    t = time.perf_counter()
    res = load(p)
    elapsed = time.perf_counter() - t
    assert res.format == "generic_objects"
    assert len(res.images) == 123287
    assert len(res.objects) == 393178
    assert elapsed < 6.0, f"took {elapsed:.1f}s"


@pytest.mark.parametrize("text, columns, pairs", [
    ('{"9": ["bowl", "broccoli"], "25": [], "30": ["potted plant"]}', True,  # all names: columns
     [("9", "bowl"), ("9", "broccoli"), ("30", "potted plant")]),
    ('{"9": ["bowl"], "25": [{"label": "dog", "bbox": [1, 2, 3, 4]}], "30": ["cat"]}', False,  # a box: a list
     [("9", "bowl"), ("25", "dog"), ("30", "cat")]),
])
def test_objects_mapping_columns_same_ground_truth(tmp_path, text, columns, pairs):
    """Name-only mappings are held as columns (NamedObjects); the objects, and the ground truth
    built from them, equal those of one GTObject per name."""
    from caption_audit.scoring.groundtruth import GroundTruth
    from caption_audit.text.vocab import default_vocabulary

    p = tmp_path / "gt.json"
    p.write_text(json.dumps(json.loads(text), indent=1))  # over lines, as CHAIR's file
    res = load_generic_objects(p)
    as_list = list(res.objects)
    assert res.objects == as_list and len(res.objects) == len(as_list)
    assert all(isinstance(o, GTObject) and o.origin == "objects" for o in as_list)
    vocab = default_vocabulary()
    a, b = GroundTruth(), GroundTruth()
    a.add_objects(res.objects, vocab)
    b.add_objects(as_list, vocab)
    assert (a.classes, a.known, a.counts, a.unmapped) == (b.classes, b.known, b.counts, b.unmapped)
    assert [(o.image_id, o.category) for o in as_list] == pairs
    assert isinstance(res.objects, NamedObjects) is columns


def test_objects_mapping_images_as_id_column(tmp_path):
    """A ``{image_id: [...]}`` file's images are held as one id column (ImageIds): they read as
    the ImageInfo list they stand for, and ground truth and the run's images table built from
    them equal those built from that list (duplicates after id normalisation included)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from caption_audit.pipeline import _write_images_table
    from caption_audit.scoring.groundtruth import GroundTruth
    from caption_audit.store.layout import table_file
    from caption_audit.types import ImageIds

    p = tmp_path / "gt.json"
    p.write_text(json.dumps({"9": ["bowl"], "007": [], "7": ["cat"], "30": ["dog", "dog"]}, indent=1))  # as CHAIR
    res = load_generic_objects(p)
    assert isinstance(res.images, ImageIds)
    as_list = list(res.images)
    assert res.images == as_list and [im.image_id for im in as_list] == ["9", "7", "7", "30"]
    assert res.images[1] == ImageInfo("7") and res.images[:2] == as_list[:2]
    a, b = GroundTruth(), GroundTruth()
    a.add_images(res.images)
    b.add_images(as_list)
    assert a.known == b.known == {"9", "7", "30"}
    tables = []
    for name, images in (("columns", res.images), ("list", as_list)):
        out = tmp_path / name
        out.mkdir()
        pq.write_table(pa.table({"image_id": ["12", "9"]}), table_file(out, "captions"))  # "12": captions only
        _write_images_table(out, images, a)
        tables.append(pq.read_table(out / "images.parquet"))
    assert tables[0].equals(tables[1])
    assert tables[0].column("image_id").to_pylist() == ["9", "7", "30", "12"]
