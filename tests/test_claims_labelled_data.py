"""Integrity of the hand-labelled claims set in tests/data/claims_labelled/.

These tests check the files, not any extractor or resolver: every label points at real words
of its caption, kinds and value encodings follow docs/claims.md, the set is big enough per kind
and label, the traps named in the README occur, and (where the shared data is present) every
image id is a coco_mini train2017 image with a photo.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import shared
from tests.test_labelled_data import COCO80

HERE = Path(__file__).resolve().parent
CLAIMS = HERE / "data" / "claims_labelled"

KINDS = ("object", "open_object", "count", "colour", "identity")
# basic colour categories used for `value` (docs/claims.md: categories joined by "+", sorted)
COLOURS = {"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey"}
IDENTITY_PARTS = {"gender:male", "gender:female", "age:child", "age:adult", "age:elderly", "age:baby"}
COUNT_VALUE = re.compile(r"^(\d+|\d+-\d+|\d+\+)$")
SOURCES = {"coco-style", "llava-style"}

# kind -> (min false, min true)
MINIMUMS = {"count": (25, 15), "colour": (25, 15), "identity": (25, 15), "object": (20, 15), "open_object": (15, 15)}

TRAPS = {
    "four-door": r"\bfour-door\b",
    "one ... another": r"\bone bowl holds\b.*\banother holds\b",
    "one of the": r"\bone of the \w+s\b",
    "black and white dog": r"\bblack and white dog\b",
    "a dog that is brown": r"\ba dog that is brown\b",
    "orange juice": r"\borange juice\b",
    "possibly": r"\bpossibly\b",
}


def _jsonl(name: str) -> list[dict]:
    lines = (CLAIMS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


CAPTIONS = _jsonl("captions.jsonl")
LABELS = _jsonl("labels.jsonl")
# real machine captions (POPE / OPERA) on coco_mini val2017 photos
REAL_CAPTIONS = _jsonl("real_captions.jsonl")
REAL_LABELS = _jsonl("real_labels.jsonl")
BY_ID = {c["caption_id"]: c for c in CAPTIONS + REAL_CAPTIONS}


def test_real_captions_have_unique_ids_and_fields():
    assert len(BY_ID) == len(CAPTIONS) + len(REAL_CAPTIONS)
    for c in REAL_CAPTIONS:
        assert set(c) == {"caption_id", "image_id", "source", "caption"}, c["caption_id"]
        assert c["caption_id"].endswith(f"-{c['image_id']}") and c["caption"].strip()


def test_captions_have_unique_ids_and_fields():
    for c in CAPTIONS:
        assert set(c) == {"caption_id", "image_id", "source", "caption"}, c["caption_id"]
        assert c["source"] in SOURCES
        assert c["image_id"].isdigit()
        assert c["caption_id"] == f"cl-{int(c['image_id']):06d}-{c['caption_id'].rsplit('-', 1)[1]}"


@pytest.mark.parametrize("row", LABELS + REAL_LABELS, ids=lambda r: f"{r['caption_id']}:{r['kind']}:{r['text']}")
def test_label_row(row):
    assert set(row) == {"caption_id", "kind", "span", "text", "subject", "value", "label", "note"}
    cap = BY_ID[row["caption_id"]]["caption"]
    s, e = row["span"]
    assert 0 <= s < e <= len(cap)
    assert cap[s:e] == row["text"], "span must cover exactly the claim words"
    assert (s == 0 or not cap[s - 1].isalnum()) and (e == len(cap) or not cap[e].isalnum()), "whole words"
    assert row["label"] in (True, False, "unclear")
    assert row["subject"] and row["subject"] == row["subject"].lower()
    kind, value = row["kind"], row["value"]
    assert kind in KINDS
    if kind == "object":
        assert row["subject"] in COCO80 and value == ""
    elif kind == "open_object":
        assert row["subject"] not in COCO80 and value == ""
    elif kind == "count":
        assert COUNT_VALUE.match(value), value
        assert any(ch.isdigit() for ch in row["text"]) or re.search(
            r"\b(one|two|three|four|five|six|seven|eight|nine|ten|several|second|more)\b|-door", row["text"], re.I
        ), "count span covers the number"
    elif kind == "colour":
        parts = value.split("+")
        assert parts == sorted(parts) and set(parts) <= COLOURS, value
    elif kind == "identity":
        parts = value.split("|")
        assert row["subject"] == "person"
        assert parts == sorted(parts) and set(parts) <= IDENTITY_PARTS, value


def test_no_duplicate_labels():
    keys = Counter((r["caption_id"], r["kind"], tuple(r["span"])) for r in LABELS + REAL_LABELS)
    assert [k for k, n in keys.items() if n > 1] == []


def test_every_caption_has_labels():
    assert {r["caption_id"] for r in LABELS} == {c["caption_id"] for c in CAPTIONS}
    assert {r["caption_id"] for r in REAL_LABELS} == {c["caption_id"] for c in REAL_CAPTIONS}


def test_size_and_per_kind_minimums():
    decided = [r for r in LABELS if r["label"] != "unclear"]
    assert len(decided) >= 200
    tally = Counter((r["kind"], r["label"]) for r in decided)
    for kind, (min_false, min_true) in MINIMUMS.items():
        assert tally[(kind, False)] >= min_false, (kind, tally[(kind, False)])
        assert tally[(kind, True)] >= min_true, (kind, tally[(kind, True)])


def test_unclear_rows_say_why():
    for r in LABELS + REAL_LABELS:
        if r["label"] == "unclear" or r["label"] is False:
            assert r["note"].strip(), r


@pytest.mark.parametrize("name", list(TRAPS))
def test_trap_present(name):
    pattern = re.compile(TRAPS[name], re.IGNORECASE)
    assert any(pattern.search(c["caption"]) for c in CAPTIONS), name


def test_readme_counts_match_the_labels():
    readme = (CLAIMS / "README.md").read_text(encoding="utf-8")
    tally = Counter((r["kind"], r["label"]) for r in LABELS)
    for kind in KINDS:
        row = f"| {kind} | {tally[(kind, True)]} | {tally[(kind, False)]} | {tally[(kind, 'unclear')]} |"
        assert row in readme, row


def test_image_ids_are_coco_mini_photos():
    ann = shared("coco_mini", "annotations", "instances_train2017.json")
    images = {str(im["id"]): im["file_name"] for im in json.loads(ann.read_text())["images"]}
    photos = ann.parent.parent / "train2017"
    for c in CAPTIONS:
        assert c["image_id"] in images, c["caption_id"]
        assert (photos / images[c["image_id"]]).is_file(), c["caption_id"]


def test_real_image_ids_are_coco_mini_val_photos():
    ann = shared("coco_mini", "annotations", "instances_val2017.json")
    images = {str(im["id"]): im["file_name"] for im in json.loads(ann.read_text())["images"]}
    photos = ann.parent.parent / "val2017"
    for c in REAL_CAPTIONS:
        assert c["image_id"] in images, c["caption_id"]
        assert (photos / images[c["image_id"]]).is_file(), c["caption_id"]
