import json
from pathlib import Path

import pytest

from caption_audit.errors import InputError
from caption_audit.ingest import load
from caption_audit.ingest.coco import iter_coco_captions, load_coco_captions, load_coco_instances
from caption_audit.types import Caption, ImageInfo
from tests._ingest_data import fx, real

CAPS = fx("captions_val2017_sample.json")
INST = fx("instances_val2017_sample.json")


def test_captions_fixture():
    res = load_coco_captions(CAPS)
    assert res.format == "coco_captions"
    assert res.images == [
        ImageInfo("9", "000000000009.jpg", 640, 480),
        ImageInfo("25", "000000000025.jpg", 640, 426),
        ImageInfo("30", "000000000030.jpg", 640, 428),
    ]
    assert res.captions[0] == Caption(
        "661611", "9", "coco", "Closeup of bins of food that include broccoli and bread.",
        f"{CAPS}:record 0", None, "000000000009.jpg",
    )
    # text is kept as read, trailing whitespace included
    assert res.captions[3].text == "A giraffe standing up nearby a tree \n"
    assert [c.caption_id for c in res.captions] == [
        "661611", "661977", "122312", "127076", "127238", "661611~2", "999001"
    ]


def test_captions_bad_records_kept_with_error():
    res = load_coco_captions(CAPS)
    bad = {c.caption_id: c for c in res.captions if c.error}
    assert bad["127238"].error == "empty caption"
    assert bad["127238"].text == ""
    assert bad["999001"].error == "missing field 'image_id'"
    assert bad["999001"].origin == f"{CAPS}:record 6"
    assert res.warnings == [
        f"{CAPS}: 1 duplicate caption_id(s) made unique with a '~N' suffix (first: '661611' at {CAPS}:record 5)",
        f"{CAPS}: 2 of 7 captions cannot be scored: empty caption (1), missing field 'image_id' (1)",
    ]


def test_captions_source_override_and_iter():
    assert {c.source for c in load(CAPS, "coco_captions", source="coco2017").captions} == {"coco2017"}
    warnings: list[str] = []
    caps = list(iter_coco_captions(CAPS, warnings=warnings))
    assert len(caps) == 7 and caps[0].image_file is None  # no file-name table when streamed
    assert len(warnings) == 2


def test_instances_fixture():
    res = load_coco_instances(INST)
    assert res.format == "coco_instances"
    assert res.captions == []
    assert [im.image_id for im in res.images] == ["9", "25", "30"]  # 30 has no annotation but is known
    o = res.objects[0]
    assert o.bbox == pytest.approx((1.08, 187.69, 612.67, 473.53))
    assert (o.image_id, o.category, o.normalized, o.origin) == ("9", "bowl", False, "instances")
    assert [o.category for o in res.objects] == ["bowl", "bowl", "broccoli", "orange", "giraffe"]
    x1, y1, x2, y2 = res.objects[2].bbox
    assert (x1, y1) == (249.6, 229.27) and x2 == pytest.approx(249.6 + 316.24) and y2 == pytest.approx(229.27 + 245.08)
    assert res.objects[4].image_id == "25"  # crowd annotation kept
    assert res.warnings == []


def test_instances_keep_polygons_crowd_and_area():
    res = load_coco_instances(real("coco_mini/annotations/instances_train2017.json"), keep_segmentation=True)
    first = res.objects[0]  # 535506 person, a 39-point polygon
    assert first.area == pytest.approx(52634.3678) and not first.iscrowd
    assert first.segmentation[0][:4] == (150.59, 622.31, 176.63, 566.15) and len(first.segmentation[0]) == 78
    crowd = [o for o in res.objects if o.iscrowd]
    assert len(crowd) == 8 and all(o.segmentation is None for o in crowd)  # RLE masks are not kept
    lean = load_coco_instances(real("coco_mini/annotations/instances_train2017.json"), keep_segmentation=False)
    assert all(o.segmentation is None for o in lean.objects) and sum(o.iscrowd for o in lean.objects) == 8


@pytest.mark.parametrize("seg", [[[1, 2, "x", 4, 5, 6]], [[1, 2, 3]], "abc", [[True, 1, 2, 3, 4, 5]]])
def test_instances_bad_segmentation(tmp_path, seg):
    doc = json.loads(Path(INST).read_text())
    doc["annotations"][0]["segmentation"] = seg
    with pytest.raises(InputError) as e:
        load_coco_instances(_write(tmp_path, "instances_x.json", doc), keep_segmentation=True)
    assert e.value.field == "segmentation" and "annotations[0]" in str(e.value)


def _write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(p)


def test_instances_errors(tmp_path):
    doc = json.loads(Path(INST).read_text())
    doc["annotations"][1]["category_id"] = 999
    p = _write(tmp_path, "instances_x.json", doc)
    with pytest.raises(InputError) as e:
        load_coco_instances(p)
    assert str(e.value) == f"{p} field 'category_id': annotations[1]: unknown category_id 999"

    doc = json.loads(Path(INST).read_text())
    doc["annotations"][0]["bbox"] = [1, 2, 3]
    p = _write(tmp_path, "instances_y.json", doc)
    with pytest.raises(InputError, match=r"field 'bbox': annotations\[0\]: bbox must be \[x, y, width, height\], got \[1, 2, 3\]"):
        load_coco_instances(p)


def test_wrong_shapes(tmp_path):
    p = _write(tmp_path, "captions_arr.json", [{"image_id": 1, "caption": "x"}])
    with pytest.raises(InputError) as e:
        load_coco_captions(p)
    assert str(e.value) == f"{p}: expected a COCO captions JSON object with 'images' and 'annotations', got an array"
    with pytest.raises(InputError, match="this looks like a COCO instances file; use format 'coco_instances'"):
        load_coco_captions(INST)
    with pytest.raises(InputError, match="this looks like a COCO captions file; use format 'coco_captions'"):
        load_coco_instances(CAPS)
    p = _write(tmp_path, "captions_other.json", {"foo": 1})
    with pytest.raises(InputError, match="no 'images' or 'annotations' found: not a COCO captions file"):
        load_coco_captions(p)
    p = _write(tmp_path, "captions_broken.json", '{"images": [{"id": 1}, {"id": 2,, }]}')
    with pytest.raises(InputError, match=r"invalid JSON in 'images' after record 0: parse error"):
        load_coco_captions(p)
    with pytest.raises(InputError, match="file not found"):
        load_coco_captions(str(tmp_path / "nope.json"))
    with pytest.raises(InputError, match="file is empty"):
        load_coco_captions(_write(tmp_path, "empty.json", "  \n"))


def test_real_coco_mini():
    caps = load(real("coco_mini/annotations/captions_train2017.json"))
    inst = load(real("coco_mini/annotations/instances_train2017.json"))
    assert (caps.format, inst.format) == ("coco_captions", "coco_instances")
    assert len(caps.images) == 80 and len(caps.captions) == 400
    assert not any(c.error for c in caps.captions)
    assert len(inst.images) == 80 and len(inst.objects) == 739
    assert all(o.bbox[2] >= o.bbox[0] and o.bbox[3] >= o.bbox[1] for o in inst.objects)
    sizes = {im.image_id: (im.width, im.height) for im in inst.images}
    assert all(o.bbox[2] <= sizes[o.image_id][0] + 1 for o in inst.objects)  # xyxy pixels inside the image
    assert {c.image_id for c in caps.captions} == {im.image_id for im in inst.images}


def test_real_val2017_captions():
    res = load(real("coco_val2017_captions/captions_val2017.json"))
    assert len(res.captions) == 25014 and len(res.images) == 5000
    assert len({c.caption_id for c in res.captions}) == 25014
    assert not any(c.error for c in res.captions)


def test_categories_anywhere(tmp_path):
    """``categories`` is read from the file's tail when last, else by a streaming pass."""
    from caption_audit.ingest.coco import _tail_categories

    doc = json.loads(Path(INST).read_text())
    assert [c["name"] for c in _tail_categories(INST)] == ["bowl", "orange", "broccoli", "giraffe"]
    first = {"categories": doc["categories"], **{k: v for k, v in doc.items() if k != "categories"}}
    p = _write(tmp_path, "instances_first.json", first)
    assert _tail_categories(p) is None
    assert load_coco_instances(p).objects == load_coco_instances(INST).objects
