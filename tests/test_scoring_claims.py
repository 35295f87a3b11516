"""Combining resolutions into claim verdicts (scoring/claims.py), the per-image evidence
builder (scoring/evidence.py) and the ground truth it reads (crowd, geometry)."""

from __future__ import annotations

import pytest

from caption_audit.errors import ConfigError
from caption_audit.scoring.claims import ClaimResult, build_resolvers, combine, judge_claims
from caption_audit.scoring.evidence import build_image_evidence, image_file
from caption_audit.scoring.groundtruth import GroundTruth
from caption_audit.scoring.resolvers import ImageEvidence
from caption_audit.text.vocab import default_vocabulary
from caption_audit.types import Claim, GTObject, Resolution
from tests.conftest import shared

S, C, U, R = "supported", "contradicted", "unverifiable", "unsupported_by_refs"


def res(verdict, resolver, conf, evidence=None):
    return Resolution(verdict, resolver, evidence or f"{resolver}: {verdict}", conf)


@pytest.mark.parametrize("kind, resolutions, verdict, resolver, evidence, conf", [
    # 1. contradicted when some contradict (conf >= 0.5) and none supports
    ("count", [res(C, "instances", 0.8), res(U, "references", 0.0)], C, "instances",
     "instances: contradicted; references: unverifiable", 0.8),
    # a weak support (< 0.5) does not block, it only adds to the evidence
    ("colour", [res(C, "pixels", 0.8), res(S, "detector", 0.4)], C, "pixels",
     "pixels: contradicted; detector: supported", 0.8),
    # 2. supported
    ("object", [res(S, "instances", 0.95), res(S, "detector", 0.8)], S, "instances,detector",
     "instances: supported; detector: supported", 0.95),
    ("count", [res(S, "instances", 0.9), res(C, "references", 0.3)], S, "instances",
     "instances: supported; references: contradicted", 0.9),
    # 3. two weak contradictions (0.3) from different resolvers: noisy-OR 0.51 decides
    ("colour", [res(C, "pixels", 0.3, "mask: little red (4%)"), res(C, "references", 0.3, "refs: blue x1")], C,
     "pixels,references", "mask: little red (4%); refs: blue x1", 0.51),
    # ... not from one resolver, nor against any support, however weak
    ("colour", [res(C, "pixels", 0.3), res(C, "pixels", 0.3)], U, "pixels,pixels",
     "pixels: contradicted; pixels: contradicted", None),
    ("colour", [res(C, "pixels", 0.3), res(C, "references", 0.3), res(S, "detector", 0.4)], U,
     "pixels,references,detector", "pixels: contradicted; references: contradicted; detector: supported", None),
    # 4. both -> unverifiable, evidence disagrees
    ("colour", [res(S, "pixels", 0.85), res(C, "references", 0.7)], U, "pixels,references",
     "evidence disagrees: pixels: supported; references: contradicted", None),
    # 5. open object nobody else mentions, no detector found it
    ("open_object", [res(R, "references", 0.7, "refs: no fence in the other caption(s)")], R, "references",
     "refs: no fence in the other caption(s)", None),
    ("open_object", [res(R, "references", 0.7), res(S, "detector", 0.8)], S, "detector",
     "detector: supported; references: unsupported_by_refs", 0.8),
    ("open_object", [res(R, "references", 0.7), res(C, "detector", 0.6)], C, "detector",
     "detector: contradicted; references: unsupported_by_refs", 0.6),
    # 6. otherwise unverifiable with the reason
    ("count", [res(U, "instances", 0.0, "instances: 2 dog (annotations often miss small objects)")], U,
     "instances", "instances: 2 dog (annotations often miss small objects)", None),
    ("colour", [], U, "", "no instances of bus have a mask", None),
    ("identity", [], U, "", "no reference caption speaks of the bus's gender", None),
])
def test_combination_rule(kind, resolutions, verdict, resolver, evidence, conf):
    claim = Claim(kind, 0, 3, "bus", "gender:male" if kind == "identity" else "")
    out = combine(claim, 4, resolutions, {"instances", "pixels", "references", "detector"})
    assert out == ClaimResult(4, verdict, resolver, evidence, conf)


def test_build_resolvers_and_unknown_name():
    rs = build_resolvers(["instances", "references"], {"references": {"threshold": 0.7}})
    assert [r.name for r in rs] == ["instances", "references"] and rs[1].threshold == 0.7
    assert [r.name for r in build_resolvers()] == ["instances", "pixels", "references", "detector"]
    with pytest.raises(ConfigError):
        build_resolvers(["colourz"])


def test_judge_claims_docstring_example():
    ev = ImageEvidence("139", gt_classes={"giraffe"}, gt_counts={"giraffe": 1})
    claims = [Claim("object", 6, 14, "giraffe", ""), Claim("count", 0, 14, "giraffe", "3"),
              Claim("colour", 0, 3, "giraffe", "brown"), Claim("open_object", 20, 25, "fence", "")]
    out = judge_claims(claims, "cap-1", ev, build_resolvers())
    assert [(r.index, r.verdict) for r in out] == [(0, S), (1, C), (2, U), (3, U)]
    assert out[1].evidence == "instances: 1 giraffe, stated 3"
    assert out[3].evidence == "no reference captions or detector to check fence"


@pytest.fixture(scope="module")
def coco():
    from caption_audit.ingest.coco import load_coco_instances

    root = shared("coco_mini")
    res = load_coco_instances(root / "annotations" / "instances_train2017.json", keep_segmentation=True)
    gt = GroundTruth(keep_geometry=True)
    gt.add_objects(res.objects, default_vocabulary())
    gt.add_images(res.images)
    return gt, root / "train2017", {im.image_id: im.file_name for im in res.images}


def test_judge_claims_on_a_coco_mini_photo(coco):
    """coco_mini 332078: "A dog is sitting on top of a white truck." and four more captions."""
    gt, images, names = coco
    refs = [("287250", Claim("colour", 0, 1, "truck", "white")), ("401973", Claim("colour", 0, 1, "truck", "white")),
            ("403239", Claim("colour", 0, 1, "truck", "white")), ("403371", Claim("colour", 0, 1, "truck", "white")),
            ("285513", Claim("colour", 0, 1, "truck", "green")), ("401973", Claim("open_object", 0, 1, "parking lot", ""))]
    ev = build_image_evidence("332078", gt, images_dir=images, file_name=names["332078"], references=refs,
                              reference_captions=5)
    claims = [Claim("object", 2, 5, "dog", ""), Claim("colour", 30, 35, "truck", "green"),
              Claim("count", 0, 3, "dog", "3"), Claim("object", 0, 3, "cat", ""),
              Claim("open_object", 0, 3, "parking lot", ""), Claim("open_object", 0, 3, "lamp post", "")]
    out = judge_claims(claims, "285513", ev, build_resolvers())
    assert [r.verdict for r in out] == [S, C, C, C, S, R]
    assert out[1].resolver == "references" and "white x4" in out[1].evidence  # pixels: grey in shade
    assert "mask: little green (2%); grey 51%" in out[1].evidence
    # the same "green" claim from an outside caption: caption 285513 now speaks and agrees, so
    # the references no longer contradict it (none may agree), and the pixels alone cannot
    out = judge_claims(claims[1:2], "llava-1", ev, build_resolvers())
    assert out[0].verdict == U and "white x4, green x1" in out[0].evidence


def test_groundtruth_crowd_and_geometry():
    objs = [GTObject("1", "person", (0, 0, 10, 10)), GTObject("1", "person", (5, 5, 20, 20), iscrowd=True),
            GTObject("1", "dog", (1, 1, 4, 4), segmentation=((1.0, 1.0, 4.0, 1.0, 4.0, 4.0),), area=4.5),
            GTObject("2", "cat", None)]
    gt = GroundTruth()
    gt.add_objects(objs, default_vocabulary())
    assert gt.counts["1"] == {"person": 2, "dog": 1}          # unchanged: crowd regions count once
    assert gt.instance_counts("1") == {"person": 1, "dog": 1}
    assert gt.crowd_classes("1") == {"person"} and gt.crowd_classes("2") == set()
    assert gt.instance_counts("2") == {} and gt.instance_counts("9") is None
    assert gt.geometry == {}                                   # no polygons kept by default
    gt = GroundTruth(keep_geometry=True)
    gt.add_objects(objs, default_vocabulary())
    assert gt.geometry["1"]["dog"] == [{"bbox": (1, 1, 4, 4), "normalized": False, "area": 4.5, "iscrowd": False,
                                       "segmentation": ((1.0, 1.0, 4.0, 1.0, 4.0, 4.0),)}]
    ev = build_image_evidence("1", gt)
    assert (ev.gt_classes, ev.gt_counts, ev.crowd) == ({"person", "dog"}, {"person": 1, "dog": 1}, {"person"})
    assert ev.references is None and ev.reference_captions == 0 and ev.image_path is None
    assert build_image_evidence("9", gt).gt_classes is None


def test_image_file_stays_inside_the_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "000000000139.jpg").write_bytes(b"x")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    root = tmp_path / "imgs"
    assert image_file(root, "139", None) == str(root / "000000000139.jpg")
    assert image_file(root, "139", "../secret.jpg") == str(root / "000000000139.jpg")  # falls back
    assert image_file(root, "abc", "../secret.jpg") is None
    assert image_file(None, "139", None) is None
