from __future__ import annotations

import numpy as np
import pytest

from caption_audit.errors import ConfigError
from caption_audit.types import GTObject
from detectors.backends.annotations import AnnotationDetector
from detectors.base import DETECTORS, get_detector

OBJECTS = [
    GTObject("1", "dog", (10.0, 20.0, 50.0, 60.0)),
    GTObject("1", "Dining  Table", (0.5, 0.5, 1.0, 1.0), normalized=True, origin="caps_boxes"),
    GTObject("1", "person", None, origin="chair_captions"),
    GTObject("2", "cat", (1.0, 1.0, 2.0, 2.0)),
]


@pytest.mark.parametrize(
    ("prompts", "only_prompted", "expected"),
    [
        (["dog", "cat"], True, ["dog"]),  # cat is another image's object
        (["dining table"], True, ["dining table"]),  # case/space-insensitive match
        ([("man", "person")], True, ["person"]),  # phrase mapped to its canonical
        ([], True, []),  # nothing asked, nothing returned
        ([], False, ["dog", "dining table", "person"]),  # every GT object of the image
    ],
)
def test_prompted_objects(prompts, only_prompted, expected):
    det = AnnotationDetector(OBJECTS, only_prompted=only_prompted)
    [d] = det.detect_ids(["1"], [(200, 100)], [prompts])
    assert d.canonical.tolist() == expected
    assert (d.scores == 1.0).all()


def test_boxes_are_pixels_and_missing_boxes_nan():
    [d] = AnnotationDetector(OBJECTS, only_prompted=False).detect_ids(["1"], [(200, 100)], [[]])
    np.testing.assert_allclose(d.xyxy[0], [10, 20, 50, 60])
    np.testing.assert_allclose(d.xyxy[1], [100, 50, 200, 100])  # normalised -> pixels
    assert np.isnan(d.xyxy[2]).all()
    assert d.phrases.tolist()[1] == "Dining  Table"  # as given
    assert d.best_for("dog") == (1.0, (10.0, 20.0, 50.0, 60.0))


def test_registry_and_revision_tracks_content():
    assert "annotations" in DETECTORS.names()
    a = get_detector("annotations", objects=OBJECTS)
    b = AnnotationDetector(list(reversed(OBJECTS)))
    c = AnnotationDetector(OBJECTS[:2])
    assert a.revision == b.revision != c.revision


def test_detect_needs_image_ids(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    im = pil.new("RGB", (20, 10))
    with pytest.raises(ConfigError, match="image_id"):
        AnnotationDetector(OBJECTS).detect([im], [["dog"]])
    im.info["image_id"] = "2"
    [d] = AnnotationDetector(OBJECTS).detect([im], [["cat"]])
    assert d.classes() == ["cat"] and d.image_size == (20, 10)


def test_through_the_run_loop_with_real_images(tmp_path):
    pytest.importorskip("torch")
    from detectors.cache import DetectionCache
    from detectors.run import ImageItem, detect_images
    from tests._detectors_support import coco_images

    paths = coco_images(3)
    objs = [GTObject(paths[0].stem, "dog", (0.0, 0.0, 0.5, 0.5), normalized=True)]
    det = AnnotationDetector(objs)
    items = [ImageItem(p.stem, p) for p in paths]
    prompts = {p.stem: ["dog"] for p in paths}
    run = detect_images(items, prompts, det, DetectionCache.at(tmp_path), batch_size=2, num_workers=0)
    first = run.results[paths[0].stem]
    w, h = first.image_size
    assert first.classes() == ["dog"] and first.xyxy[0].tolist() == [0, 0, w / 2, h / 2]
    assert all(run.results[p.stem].is_empty() for p in paths[1:])
    again = detect_images(items, prompts, det, DetectionCache.at(tmp_path), batch_size=2, num_workers=0)
    assert again.images_cached == 3
