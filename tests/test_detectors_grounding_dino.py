from __future__ import annotations

import pytest
from PIL import Image

from caption_audit.errors import ConfigError
from tests._detectors_support import coco_images, prompts_for, tiny_model

pytest.importorskip("torch")
pytest.importorskip("transformers")

from detectors.backends.grounding_dino import GroundingDinoDetector  # noqa: E402
from detectors.base import get_detector  # noqa: E402


@pytest.fixture(scope="module")
def gd(tmp_path_factory):
    return GroundingDinoDetector(str(tiny_model("grounding-dino", tmp_path_factory)), device="cpu",
                                 box_threshold=0.2, text_threshold=0.1)  # fmt: skip


def test_batched_equals_one_by_one_on_real_images(gd):
    paths = coco_images(6)
    images = [Image.open(p).convert("RGB") for p in paths]
    prompts = list(prompts_for(paths).values())
    batched = gd.detect(images, prompts)
    single = [gd.detect([im], [p])[0] for im, p in zip(images, prompts, strict=True)]
    assert sum(len(d) for d in batched) > 0, "the random model should fire at threshold 0.2"
    for b, s, p in zip(batched, single, prompts, strict=True):
        assert b.equals(s, atol=1e-4)
        assert set(b.canonical) <= set(p)
        assert ((b.xyxy >= 0) & (b.xyxy <= [*b.image_size, *b.image_size])).all()


def test_prompt_chunks_fit_the_text_encoder_and_map_back(gd):
    phrases = ["person", "dog", "hot dog", "dining table", "traffic light", "teddy bear", "cell phone",
               "fire hydrant", "stop sign", "parking meter", "wine glass", "baseball bat", "car"]  # fmt: skip
    chunks = gd.chunk_prompts(phrases + [("man", "person"), "Dog"])
    assert len(chunks) > 1  # tiny max_text_len = 32 forces several chunks
    for chunk in chunks:
        assert 2 + sum(len(ids) + 1 for _, _, ids in chunk) <= gd.max_text_len
    flat = [(ph, can) for chunk in chunks for ph, can, _ in chunk]
    assert [ph for ph, _ in flat] == phrases + ["man"]  # order kept, "Dog" deduplicated
    assert dict(flat)["man"] == "person"
    image = Image.open(coco_images(1)[0]).convert("RGB")
    [det] = gd.detect([image], [phrases + [("man", "person")]])
    assert set(det.canonical) <= set(phrases)  # "man" reported as its canonical "person"
    assert det.metadata["detector"] == "grounding-dino" and det.metadata["precision"] == "float32"


def test_class_threshold_override_and_no_prompts(gd):
    image = Image.open(coco_images(1)[0]).convert("RGB")
    prompts = ["person", "dog", "car"]
    [base] = gd.detect([image], [prompts])
    strict = GroundingDinoDetector(gd.model_id, device="cpu", box_threshold=0.2, text_threshold=0.1,
                                   class_thresholds={c: 1.0 for c in base.classes()[:1]})  # fmt: skip
    [got] = strict.detect([image], [prompts])
    assert base.classes() and base.classes()[0] not in got.classes()
    assert got.equals(base[base.canonical != base.classes()[0]])
    [none] = gd.detect([image], [[]])
    assert none.is_empty() and none.image_size == image.size


def test_registry_builds_it_and_loading_a_saved_directory_works(gd, tmp_path):
    det = get_detector("grounding-dino", model=gd.model_id, device="cpu")
    assert det.revision == gd.revision and det.revision.startswith("sha256:")
    assert (det.box_threshold, det.text_threshold) == (0.35, 0.25)


def test_hub_id_offline_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    with pytest.raises(ConfigError) as err:
        GroundingDinoDetector(model="IDEA-Research/grounding-dino-tiny", device="cpu")
    msg = str(err.value)
    assert "huggingface-cli download IDEA-Research/grounding-dino-tiny" in msg
    assert "--model DIR" in msg and "HF_HOME" in msg and "save_pretrained" in msg


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "/no/such/dir"}, "no such directory"),
        ({"box_threshold": 1.5}, "box_threshold"),
        ({"class_thresholds": {"dog": -0.1}}, "class_thresholds"),
        ({"device": "tpu"}, "--device"),
    ],
)
def test_bad_options_are_config_errors(kwargs, match, tmp_path_factory):
    kwargs = {"model": str(tiny_model("grounding-dino", tmp_path_factory)), "device": "cpu", **kwargs}
    with pytest.raises(ConfigError, match=match):
        GroundingDinoDetector(**kwargs)


def test_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        GroundingDinoDetector(model=str(tmp_path), device="cpu")


def test_hub_id_resolves_from_the_local_hf_cache_offline(monkeypatch, tmp_path, tmp_path_factory):
    """A hub id found in $HF_HOME/hub loads offline; its revision is the snapshot commit."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-gd"
    shutil.copytree(tiny_model("grounding-dino", tmp_path_factory), repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    det = GroundingDinoDetector("acme/tiny-gd", device="cpu")
    assert det.revision == commit and det.model_id == "acme/tiny-gd"
