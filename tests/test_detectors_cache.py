from __future__ import annotations

import numpy as np

from detectors.cache import DetectionCache, default_cache_dir, setup_hash
from detectors.types import Detections

DET = Detections(np.array([[1, 2, 3, 4]]), [0.5], ["dog"], ["dog"], (10, 10), {"detector": "x"})


def test_put_get_round_trip_atomic(tmp_path):
    cache = DetectionCache.at(tmp_path)
    assert cache.get("s", "ab" * 32, "p") is None
    path = cache.put("s", "ab" * 32, "p", DET)
    assert path.parent.name == "ab" and path.parent.parent.name == "s"
    assert cache.get("s", "ab" * 32, "p").equals(DET)
    assert not list(tmp_path.rglob(".tmp-*")) and cache.count() == 1 and cache.count("s") == 1
    path.write_text("{not json")  # a damaged entry is a miss, not a crash
    assert cache.get("s", "ab" * 32, "p") is None


def test_read_only_never_writes(tmp_path):
    cache = DetectionCache.at(tmp_path / "ro", read_only=True)
    assert cache.put("s", "cd" * 32, "p", DET) is None and not (tmp_path / "ro").exists()


def test_setup_hash_covers_model_and_options():
    base = setup_hash("grounding-dino", "m", "r1", {"box_threshold": 0.35})
    assert base == setup_hash("grounding-dino", "m", "r1", {"box_threshold": 0.35})
    assert base != setup_hash("grounding-dino", "m", "r2", {"box_threshold": 0.35})
    assert base != setup_hash("grounding-dino", "m", "r1", {"box_threshold": 0.3})
    assert base != setup_hash("owlv2", "m", "r1", {"box_threshold": 0.35})


def test_default_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "caption-audit" / "detections"
    assert DetectionCache.at(None).root == tmp_path / "caption-audit" / "detections"
