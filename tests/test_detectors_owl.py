from __future__ import annotations

import pytest
from PIL import Image

from caption_audit.errors import ConfigError
from tests._detectors_support import coco_images, prompts_for, tiny_model

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("scipy", reason="the OWLv2 image processor needs scipy")

from detectors.backends.owl import OwlDetector  # noqa: E402


@pytest.fixture(scope="module")
def owl(tmp_path_factory):
    return OwlDetector(str(tiny_model("owlv2", tmp_path_factory)), device="cpu", box_threshold=0.05)


def test_batched_equals_one_by_one_with_padded_queries(owl):
    paths = coco_images(6)
    images = [Image.open(p).convert("RGB") for p in paths]
    prompts = list(prompts_for(paths).values())
    prompts[2] = []  # an image with no prompt in the middle of the batch
    batched = owl.detect(images, prompts)
    single = [owl.detect([im], [p])[0] for im, p in zip(images, prompts, strict=True)]
    assert sum(len(d) for d in batched) > 0
    for b, s, p in zip(batched, single, prompts, strict=True):
        assert b.equals(s, atol=1e-4)
        assert set(b.canonical) <= set(p)  # padded queries never win a box
    assert batched[2].is_empty()


def test_owl_offline_hub_id_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="huggingface-cli download google/owlv2"):
        OwlDetector(device="cpu")
