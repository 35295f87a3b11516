from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests._detectors_support import coco_images, prompts_for, tiny_model

pytest.importorskip("torch")
pytest.importorskip("transformers")

from detectors.backends.grounding_dino import GroundingDinoDetector  # noqa: E402
from detectors.cache import DetectionCache  # noqa: E402
from detectors.run import ImageItem, detect_images, find_image, index_images  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gd(tmp_path_factory):
    return GroundingDinoDetector(str(tiny_model("grounding-dino", tmp_path_factory)), device="cpu",
                                 box_threshold=0.2, text_threshold=0.1)  # fmt: skip


def _items(paths):
    return [ImageItem(p.stem, p) for p in paths]


def _same(a, b):
    assert list(a.results) == list(b.results)
    for k in a.results:
        assert a.results[k].equals(b.results[k], atol=1e-4), k


def test_rerun_is_all_cache_hits_with_identical_results(gd, tmp_path):
    paths = coco_images(12)
    cache = DetectionCache.at(tmp_path / "cache")
    first = detect_images(_items(paths), prompts_for(paths), gd, cache, batch_size=4, num_workers=2)
    assert (first.images_computed, first.images_cached, first.failures) == (12, 0, {})
    second = detect_images(_items(paths), prompts_for(paths), gd, cache, batch_size=4, num_workers=2)
    assert (second.images_computed, second.images_cached) == (0, 12)
    _same(first, second)


def test_cache_key_ignores_batch_size_workers_and_file_location(gd, tmp_path):
    paths = coco_images(8)
    a = DetectionCache.at(tmp_path / "a")
    r1 = detect_images(_items(paths), prompts_for(paths), gd, a, batch_size=1, num_workers=0)
    files = sorted(p.relative_to(a.root) for p in a.root.rglob("*.json"))
    assert len(files) == 8
    # same bytes elsewhere, other batch size and workers: every image is a cache hit
    moved = tmp_path / "moved"
    moved.mkdir()
    for p in paths:
        (moved / f"renamed-{p.name}").write_bytes(p.read_bytes())
    items = [ImageItem(p.stem, moved / f"renamed-{p.name}") for p in paths]
    r2 = detect_images(items, prompts_for(paths), gd, a, batch_size=5, num_workers=2)
    assert (r2.images_computed, r2.images_cached) == (0, 8)
    _same(r1, r2)
    # and an uncached run with another batch size writes the very same entries
    b = DetectionCache.at(tmp_path / "b")
    r3 = detect_images(_items(paths), prompts_for(paths), gd, b, batch_size=3, num_workers=0)
    assert sorted(p.relative_to(b.root) for p in b.root.rglob("*.json")) == files
    _same(r1, r3)


def test_cache_key_changes_with_thresholds_and_prompts(gd, tmp_path):
    paths = coco_images(2)
    cache = DetectionCache.at(tmp_path)
    detect_images(_items(paths), prompts_for(paths), gd, cache, batch_size=2, num_workers=0)
    other = GroundingDinoDetector(gd.model_id, device="cpu", box_threshold=0.3, text_threshold=0.1)
    r = detect_images(_items(paths), prompts_for(paths), other, cache, batch_size=2, num_workers=0)
    assert r.images_computed == 2
    more = {k: [*v, "zebra"] for k, v in prompts_for(paths).items()}
    r = detect_images(_items(paths), more, gd, cache, batch_size=2, num_workers=0)
    assert r.images_computed == 2
    shuffled = {k: list(reversed(v)) for k, v in prompts_for(paths).items()}
    r = detect_images(_items(paths), shuffled, gd, cache, batch_size=2, num_workers=0)
    assert r.images_computed == 0  # the prompt *set* is the key, not its order


def test_missing_and_corrupt_files_are_recorded_and_the_run_goes_on(gd, tmp_path):
    paths = coco_images(3)
    bad = tmp_path / "000000000001.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" * 10)
    truncated = tmp_path / "000000000002.jpg"
    truncated.write_bytes(paths[0].read_bytes()[:2000])
    items = [*_items(paths[:1]), ImageItem("1", bad), ImageItem("404", tmp_path / "gone.jpg"),
             ImageItem("2", truncated), *_items(paths[1:])]  # fmt: skip
    prompts = {**prompts_for(paths), "1": ["dog"], "404": ["dog"], "2": ["dog"]}
    run = detect_images(items, prompts, gd, DetectionCache.at(tmp_path / "c"), batch_size=2, num_workers=2)
    assert list(run.results) == [p.stem for p in paths]
    assert set(run.failures) == {"1", "404", "2"}
    assert "cannot decode image" in run.failures["1"] and str(bad) in run.failures["1"]
    assert "cannot read image file" in run.failures["404"] and "gone.jpg" in run.failures["404"]
    assert "cannot decode image" in run.failures["2"]
    assert run.images_computed == 3


_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r}); sys.path.insert(0, {tests!r})
    from detectors.backends.grounding_dino import GroundingDinoDetector
    from detectors.cache import DetectionCache
    from detectors.run import ImageItem, detect_images
    from _detectors_support import prompts_for

    class SlowDetector(GroundingDinoDetector):
        # the real model, slowed down so the parent can kill it mid-run
        def detect_prepared(self, items, prompts):
            out = super().detect_prepared(items, prompts)
            time.sleep(0.4)
            return out

    paths = [Path(p) for p in {paths!r}]
    det = SlowDetector({model!r}, device="cpu", box_threshold=0.2, text_threshold=0.1)
    Path({ready!r}).write_text("ready")
    detect_images([ImageItem(p.stem, p) for p in paths], prompts_for(paths), det,
                  DetectionCache.at({cache!r}), batch_size=2, num_workers=0)
    """
)


@pytest.mark.slow
def test_resume_after_sigkill_redoes_only_the_unfinished_images(gd, tmp_path):
    paths = coco_images(12)
    cache_dir, ready = tmp_path / "cache", tmp_path / "ready"
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(repo=str(REPO), tests=str(REPO / "tests"), paths=[str(p) for p in paths],
                                    model=gd.model_id, cache=str(cache_dir), ready=str(ready)))  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, env={**os.environ})
    cache = DetectionCache.at(cache_dir)
    deadline = time.monotonic() + 120
    try:
        while cache.count() < 4:  # two batches of 2 written
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "child wrote nothing in time"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = cache.count()
    assert 4 <= done < 12, f"kill came too late ({done} cached)"

    resumed = detect_images(_items(paths), prompts_for(paths), gd, cache, batch_size=2, num_workers=0)
    assert resumed.images_computed == 12 - done
    assert resumed.images_computed <= (12 - 4) + 2  # at most the remaining images + one batch
    fresh = detect_images(_items(paths), prompts_for(paths), gd, None, batch_size=5, num_workers=0)
    _same(resumed, fresh)


@pytest.mark.parametrize(
    ("layout", "image_id", "file_name"),
    [
        ("000000391895.jpg", "391895", None),  # COCO 2017 name, top level
        ("val2014/COCO_val2014_000000391895.jpg", "391895", None),  # COCO 2014 val, one level down
        ("a/train2014/COCO_train2014_000000391895.jpg", "391895", None),  # two levels down
        ("sam/images/sa_1.jpg", "sam/images/sa_1.jpg", "sam/images/sa_1.jpg"),  # file_name as given
        ("x/custom.png", "7", "custom.png"),  # file_name basename found one level down
    ],
)
def test_find_image(tmp_path, layout, image_id, file_name):
    target = tmp_path / layout
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x")
    assert find_image(tmp_path, image_id, file_name) == target
    assert find_image(tmp_path, image_id, file_name, index=index_images(tmp_path)) == target
    assert find_image(tmp_path, "999", None) is None
