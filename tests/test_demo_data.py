"""Integrity of the bundled demo sample in caption_audit/demo/data/."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from caption_audit.demo import DATA_DIR
from caption_audit.ingest.ids import normalize_image_id

WIDTH, HEIGHT = 320, 240
IDS = list(range(900001, 900015))

# the official COCO category ids (they skip 12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
COCO_IDS = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}  # fmt: skip


def _load(name: str):
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def _words(text: str) -> int:
    return len(text.split())


def test_files_present():
    for name in ("coco_captions.json", "instances.json", "llava_detail.json", "sharegpt4v.json",
                 "README.md"):  # fmt: skip
        assert (DATA_DIR / name).is_file(), name


def _check_images(images: list[dict]) -> None:
    assert [i["id"] for i in images] == IDS
    for i in images:
        assert i["file_name"] == f"{i['id']:012d}.png"
        assert (i["width"], i["height"]) == (WIDTH, HEIGHT)


def test_coco_captions_shape():
    data = _load("coco_captions.json")
    _check_images(data["images"])
    ann_ids = [a["id"] for a in data["annotations"]]
    assert len(ann_ids) == len(set(ann_ids))
    per_image = {i: 0 for i in IDS}
    for a in data["annotations"]:
        assert set(a) == {"id", "image_id", "caption"}
        per_image[a["image_id"]] += 1
        assert 5 <= _words(a["caption"]) <= 16, a
    assert set(per_image.values()) == {5}


def test_instances_shape_and_boxes():
    data = _load("instances.json")
    _check_images(data["images"])
    for c in data["categories"]:
        assert COCO_IDS[c["id"]] == c["name"], c
        assert c["supercategory"]
    known = {c["id"] for c in data["categories"]}
    ann_ids = [a["id"] for a in data["annotations"]]
    assert len(ann_ids) == len(set(ann_ids))
    images_with_boxes = set()
    for a in data["annotations"]:
        assert a["image_id"] in IDS and a["category_id"] in known
        assert a["iscrowd"] == 0
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= WIDTH and y + h <= HEIGHT, a
        assert a["area"] == pytest.approx(w * h)
        images_with_boxes.add(a["image_id"])
    assert images_with_boxes == set(IDS)
    assert {c["id"] for c in data["categories"]} == {a["category_id"] for a in data["annotations"]}


@pytest.mark.parametrize(
    ("name", "prefix", "min_words", "max_words"),
    [("llava_detail.json", "", 80, 140), ("sharegpt4v.json", "coco/train2017/", 140, 210)],
)
def test_conversation_files(name, prefix, min_words, max_words):
    records = _load(name)
    assert [int(r["id"]) for r in records] == IDS
    for r in records:
        assert re.fullmatch(r"\d{12}", r["id"])
        assert r["image"] == f"{prefix}{r['id']}.png"
        assert normalize_image_id(r["image"]) == str(int(r["id"]))
        human, gpt = r["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n")
        assert gpt["from"] == "gpt"
        assert min_words <= _words(gpt["value"]) <= max_words, (r["id"], _words(gpt["value"]))


def test_pngs_exist_and_are_small():
    total = 0
    for image_id in IDS:
        path = DATA_DIR / "images" / f"{image_id:012d}.png"
        assert path.is_file(), path
        assert _png_size(path) == (WIDTH, HEIGHT)
        total += path.stat().st_size
    assert total < 400_000


def test_draw_is_deterministic(tmp_path):
    pytest.importorskip("PIL", reason="pillow is needed to redraw the demo images")
    import shutil

    from caption_audit.demo.draw import draw_all

    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        shutil.copy(DATA_DIR / "instances.json", folder / "instances.json")
        draw_all(folder)
    for image_id in IDS:
        name = f"{image_id:012d}.png"
        a, b = tmp_path / "a" / "images" / name, tmp_path / "b" / "images" / name
        assert _png_size(a) == (WIDTH, HEIGHT)
        assert a.read_bytes() == b.read_bytes(), name
