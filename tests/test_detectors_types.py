from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from detectors.types import Detections

BOXES = np.array([[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4]], np.float32)
SCORES = np.array([0.9, 0.4, 0.7], np.float32)
DET = Detections(BOXES, SCORES, ["dog", "a cat", "dog"], ["dog", "cat", "dog"], (64, 48), {"detector": "x"})
ok = contextlib.nullcontext()


@pytest.mark.parametrize(
    ("args", "expectation"),
    [
        ((BOXES, SCORES, ["a"] * 3, ["a"] * 3, (1, 1)), ok),  # valid
        ((np.zeros((0, 4)), [], [], [], (1, 1)), ok),  # empty
        (([], [], [], [], (1, 1)), ok),  # empty from plain lists
        ((BOXES[:, :3], SCORES, ["a"] * 3, ["a"] * 3, (1, 1)), pytest.raises(ValueError, match="xyxy")),  # 3 cols
        ((BOXES, SCORES[:2], ["a"] * 3, ["a"] * 3, (1, 1)), pytest.raises(ValueError, match="scores")),  # short
        ((BOXES, SCORES, ["a"] * 2, ["a"] * 3, (1, 1)), pytest.raises(ValueError, match="phrases")),  # short
        ((BOXES, SCORES, ["a"] * 3, ["a"] * 4, (1, 1)), pytest.raises(ValueError, match="canonical")),  # long
        ((BOXES, SCORES, ["a"] * 3, ["a"] * 3, (1, 1, 1)), pytest.raises(ValueError, match="image_size")),
    ],
)
def test_construction_validates_shapes(args, expectation):
    with expectation:
        d = Detections(*args)
        assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (len(d), 4)
        assert d.phrases.dtype == object


@pytest.mark.parametrize(
    ("index", "expected_phrases"),
    [
        (0, ["dog"]),  # int
        (slice(1, None), ["a cat", "dog"]),  # slice
        ([2, 0], ["dog", "dog"]),  # index list keeps order
        (DET.scores > 0.5, ["dog", "dog"]),  # boolean mask
        (DET.canonical == "cat", ["a cat"]),  # mask on an object array
        (np.zeros(3, bool), []),  # empty mask
    ],
)
def test_indexing(index, expected_phrases):
    sub = DET[index]
    assert sub.phrases.tolist() == expected_phrases
    assert sub.image_size == DET.image_size and sub.metadata == DET.metadata
    assert len(sub.xyxy) == len(sub.scores) == len(expected_phrases)


@pytest.mark.parametrize(
    ("canonical", "expected"),
    [
        ("dog", (pytest.approx(0.9), (0.0, 0.0, 10.0, 10.0))),  # best of two
        ("cat", (pytest.approx(0.4), (5.0, 5.0, 20.0, 30.0))),  # single
        ("zebra", None),  # absent
    ],
)
def test_best_for(canonical, expected):
    assert DET.best_for(canonical) == expected


def test_empty_merge_and_classes():
    e = Detections.empty((64, 48))
    assert len(e) == 0 and e.is_empty() and e.xyxy.shape == (0, 4)
    m = Detections.merge([DET[:1], e, DET[1:]])
    assert m.equals(DET)
    assert m.classes() == ["dog", "cat"]
    np.testing.assert_allclose(DET.area, [100, 375, 4])
    with pytest.raises(ValueError, match="different image sizes"):
        Detections.merge([DET, Detections.empty((1, 1))])
    with pytest.raises(ValueError, match="at least one"):
        Detections.merge([])


def test_dict_round_trip_is_exact_and_json_safe():
    d = Detections(BOXES + 0.123456, SCORES / 3, DET.phrases, DET.canonical, (64, 48), {"k": 1})
    back = Detections.from_dict(json.loads(json.dumps(d.to_dict())))
    assert np.array_equal(back.xyxy, d.xyxy) and np.array_equal(back.scores, d.scores)
    assert back.phrases.tolist() == d.phrases.tolist() and back.metadata == {"k": 1}
    assert Detections.from_dict(Detections.empty((3, 4)).to_dict()).image_size == (3, 4)
