"""Claim verdicts against the hand-labelled set (tests/data/claims_labelled/) on its held-out
half: the floors the rules actually reach, measured as `caption-audit evaluate --labels` does.

The split is by image (``benchmarks/claims_labelled_eval.py:split_of``); rules were tuned on
the dev half only. Runs the whole pipeline on 126 captions + coco_mini's human captions (~15 s).
"""

from __future__ import annotations

import importlib.util

import pytest

from caption_audit.cli import main
from caption_audit.semantic.evaluate_claims import evaluate_claims
from tests.conftest import REPO, shared

DATA = REPO / "tests" / "data" / "claims_labelled"


def _splitter():
    spec = importlib.util.spec_from_file_location("claims_labelled_eval", REPO / "benchmarks" / "claims_labelled_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    root = shared("coco_mini")
    out = tmp_path_factory.mktemp("claims") / "run"
    rc = main(["run", "--captions", str(DATA / "captions.jsonl"),
               "--coco-instances", str(root / "annotations" / "instances_train2017.json"),
               "--coco-captions", str(root / "annotations" / "captions_train2017.json"),
               "--images", str(root / "train2017"), "--out", str(out), "--quiet"])
    assert rc == 0
    labels = _splitter().split_labels(DATA / "labels.jsonl", "heldout", out.parent / "heldout.jsonl")
    return evaluate_claims(out, labels)


def test_split_is_by_image_and_balanced():
    mod = _splitter()
    ids = {line.split('"image_id": "')[1].split('"')[0] for line in (DATA / "captions.jsonl").read_text().splitlines()}
    halves = [mod.split_of(i) for i in sorted(ids)]
    assert halves.count("dev") == halves.count("heldout") == 21
    assert mod.image_of("cl-000790-2") == "790"


@pytest.mark.parametrize("kind, min_recall", [
    ("object", 0.90),     # floor met
    ("count", 0.75),      # floor 0.90 not met (0.80 measured: 12 of 15)
    ("colour", 0.35),     # floor 0.60 not met (0.37: most wrong colours are on things without masks)
    ("identity", 0.90),   # floor 0.60 met (0.93 measured: 13 of 14)
])
def test_heldout_floors(heldout, kind, min_recall):
    k = heldout["kinds"][kind]
    assert k["precision"] >= 0.90
    assert k["recall"] >= min_recall
