"""The detect stage wired into `caption-audit run`: real COCO images, tiny random Grounding DINO,
the annotations oracle, the cache, and per-image failures."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from caption_audit.cli import main
from tests._detectors_support import tiny_model
from tests.conftest import shared


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """12 coco_mini images with their captions and instances as generic files, plus an image folder
    where one file is missing and one is corrupt."""
    ann = shared("coco_mini", "annotations")
    caps = json.loads((ann / "captions_train2017.json").read_text())
    inst = json.loads((ann / "instances_train2017.json").read_text())
    cats = {c["id"]: c["name"] for c in inst["categories"]}
    ids = sorted({a["image_id"] for a in caps["annotations"]})[:12]
    d = tmp_path_factory.mktemp("mini")
    with open(d / "caps.jsonl", "w") as f:
        for a in caps["annotations"]:
            if a["image_id"] in ids:
                f.write(json.dumps({"image_id": a["image_id"], "caption": a["caption"], "source": "coco"}) + "\n")
    objs: dict[int, list] = {i: [] for i in ids}
    for a in inst["annotations"]:
        if a["image_id"] in ids:
            objs[a["image_id"]].append({"label": cats[a["category_id"]], "bbox": a["bbox"]})
    with open(d / "objects.jsonl", "w") as f:
        for i in ids:
            f.write(json.dumps({"image_id": i, "objects": objs[i]}) + "\n")
    images = d / "images"
    images.mkdir()
    for i in ids[:-2]:
        shutil.copy(shared("coco_mini", "train2017", f"{i:012d}.jpg"), images)
    (images / f"{ids[-1]:012d}.jpg").write_bytes(b"not a jpeg at all")  # corrupt; ids[-2] is missing
    return d, ids


def _run(d, out, *extra):
    return main(["run", "--captions", str(d / "caps.jsonl"), "--objects", str(d / "objects.jsonl"),
                 "--out", str(out), "--quiet", *extra])


def test_annotations_oracle_goes_through_the_detector_path(mini, tmp_path):
    d, ids = mini
    assert _run(d, tmp_path / "run", "--detector", "annotations") == 0
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["detector"]["name"] == "annotations" and s["detector"]["images_failed"] == 0
    objects = pd.read_parquet(tmp_path / "run" / "objects.parquet")
    det = objects[objects["origin"] == "detector:annotations"]
    assert len(det) > 0 and (det["score"] == 1.0).all()
    # the oracle agrees with GT: the verdicts equal a GT-only run
    assert _run(d, tmp_path / "gt") == 0
    a = pd.read_parquet(tmp_path / "run" / "mentions.parquet")
    b = pd.read_parquet(tmp_path / "gt" / "mentions.parquet")
    coco = a["vocab"] == "coco80"
    assert list(a[coco]["verdict"]) == list(b[coco]["verdict"])


def test_tiny_grounding_dino_cache_and_failures(mini, tmp_path, tmp_path_factory):
    d, ids = mini
    model = tiny_model("grounding-dino", tmp_path_factory)
    cache = tmp_path / "cache"
    args = ["--detector", "grounding-dino", "--images", str(d / "images"), "--model", str(model), "--device", "cpu", "--cache-dir", str(cache),
            "--detect-batch-size", "4", "--detect-workers", "0", "--detect-prompts", "mentions",
            "--box-threshold", "0.0", "--text-threshold", "0.0"]
    assert _run(d, tmp_path / "r1", *args) == 0
    s1 = json.loads((tmp_path / "r1" / "summary.json").read_text())["detector"]
    assert s1["name"] == "grounding-dino" and s1["model"] == str(model)
    assert s1["images_computed"] == 10 and s1["images_cached"] == 0 and s1["images_failed"] == 2
    assert any("not found" in r for r in s1["failures"].values())
    assert any("decode" in r for r in s1["failures"].values())
    ments = pd.read_parquet(tmp_path / "r1" / "mentions.parquet")
    judged_by_model = ments[ments["evidence"] == "grounding-dino"]
    assert len(judged_by_model) > 0  # open-vocabulary words judged by the detector
    assert judged_by_model["vocab"].eq("open").any()
    boxes = judged_by_model[judged_by_model["verdict"] == "supported"]["box"]
    assert boxes.map(lambda b: b is not None and len(b) == 4).all()
    # a second identical run does no model work, reads no image file, and gives the same verdicts
    import pathlib

    reads = []
    original = pathlib.Path.read_bytes

    def counting(self):
        if self.suffix == ".jpg":
            reads.append(self.name)
        return original(self)

    pathlib.Path.read_bytes = counting
    try:
        assert _run(d, tmp_path / "r2", *args) == 0
    finally:
        pathlib.Path.read_bytes = original
    assert reads == [ids[-1] and f"{ids[-1]:012d}.jpg"]  # only the corrupt file, which has no cached result
    s2 = json.loads((tmp_path / "r2" / "summary.json").read_text())["detector"]
    assert s2["images_computed"] == 0 and s2["images_cached"] == 10
    pd.testing.assert_frame_equal(ments, pd.read_parquet(tmp_path / "r2" / "mentions.parquet"))


def test_detector_needs_images(mini, tmp_path, capsys):
    d, _ = mini
    assert _run(d, tmp_path / "r", "--detector", "grounding-dino") == 2
    assert "--images" in capsys.readouterr().err


def test_detector_judges_images_without_ground_truth(mini, tmp_path, tmp_path_factory):
    """An image missing from the objects file is skipped without a detector, scored with one."""
    d, ids = mini
    model = tiny_model("grounding-dino", tmp_path_factory)
    lines = (d / "objects.jsonl").read_text().splitlines()
    partial = tmp_path / "objects_partial.jsonl"
    partial.write_text("\n".join(lines[1:]) + "\n")  # the first image has no ground truth now
    base = ["run", "--captions", str(d / "caps.jsonl"), "--objects", str(partial), "--quiet"]
    assert main([*base, "--out", str(tmp_path / "gt")]) == 0
    caps = pd.read_parquet(tmp_path / "gt" / "captions.parquet")
    first = caps[caps["image_id"] == str(ids[0])]
    assert first["status"].str.startswith("skipped: unknown image id").all()
    det = ["--detector", "grounding-dino", "--images", str(d / "images"), "--model", str(model), "--device", "cpu",
           "--cache-dir", str(tmp_path / "cache"), "--detect-workers", "0", "--detect-prompts", "mentions"]
    assert main([*base, "--out", str(tmp_path / "det"), *det]) == 0
    caps = pd.read_parquet(tmp_path / "det" / "captions.parquet")
    first = caps[caps["image_id"] == str(ids[0])]
    assert (first["status"] == "scored").all() and not first["gt_available"].any()
    ments = pd.read_parquet(tmp_path / "det" / "mentions.parquet")
    judged = ments[(ments["image_id"] == str(ids[0])) & (ments["verdict"] != "unverifiable")]
    assert len(judged) > 0 and set(judged["evidence"]) == {"grounding-dino"}


@pytest.mark.ray
@pytest.mark.slow
def test_detection_on_ray_matches_local(mini, tmp_path, tmp_path_factory):
    """--engine ray runs the detector in a Ray Data actor pool; the run folder's verdicts and
    detected boxes equal the local engine's (same cache keys, same batching)."""
    pytest.importorskip("ray")
    d, _ = mini
    model = tiny_model("grounding-dino", tmp_path_factory)
    det = ["--detector", "grounding-dino", "--images", str(d / "images"), "--model", str(model), "--device", "cpu",
           "--detect-workers", "0", "--detect-prompts", "mentions", "--box-threshold", "0.0", "--text-threshold", "0.0"]
    assert _run(d, tmp_path / "local", *det, "--cache-dir", str(tmp_path / "c1")) == 0
    assert _run(d, tmp_path / "ray", *det, "--cache-dir", str(tmp_path / "c2"), "--engine", "ray") == 0
    s = json.loads((tmp_path / "ray" / "summary.json").read_text())["detector"]
    assert s["engine"] == "ray" and s["images_computed"] == 10 and s["images_failed"] == 2
    for table in ("mentions", "objects"):
        a = pd.read_parquet(tmp_path / "local" / f"{table}.parquet")
        b = pd.read_parquet(tmp_path / "ray" / f"{table}.parquet")
        pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-4)


def test_hallucinated_mentions_keep_the_near_miss(mini, tmp_path, tmp_path_factory):
    """Asked and not found above threshold: the mention is hallucinated and still shows the best
    below-threshold box and score (the near miss)."""
    d, _ = mini
    model = tiny_model("grounding-dino", tmp_path_factory)
    det = ["--detector", "grounding-dino", "--images", str(d / "images"), "--model", str(model), "--device", "cpu",
           "--cache-dir", str(tmp_path / "c"), "--detect-workers", "0", "--detect-prompts", "mentions",
           "--box-threshold", "0.99", "--text-threshold", "0.0"]
    assert _run(d, tmp_path / "run", *det) == 0
    ments = pd.read_parquet(tmp_path / "run" / "mentions.parquet")
    missed = ments[ments["reason"] == "not_detected"]
    assert len(missed) > 0 and (missed["verdict"] == "hallucinated").all()
    near = missed[missed["score"].notna()]
    assert len(near) > 0
    assert (near["score"] < 0.99).all() and near["box"].map(lambda b: len(b) == 4).all()
