"""The content-addressed cache of parsed ``{image_id: [names]}`` ground truth (ingest/cache.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from caption_audit.errors import InputError
from caption_audit.ingest import cache as ingest_cache
from caption_audit.ingest.generic import load_generic_objects
from caption_audit.types import ImageIds, NamedObjects
from tests.conftest import shared

NAMES = ["person", "dining table", "cup", "chair", "car", "traffic light", "dog", "teddy bear", "cell phone",
         "potted plant", "wine glass", "fire hydrant"]


@pytest.fixture
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.delenv(ingest_cache.DISABLE_ENV, raising=False)
    monkeypatch.setenv("CAPTION_AUDIT_CACHE", str(root))
    return root / "ingest"


def _write_table(path: Path, n_images: int = 30_000, seed: int = 0) -> Path:
    """A CHAIR-shaped ``{image_id: [names]}`` table over 1 MB: repeated names, empty lists, unicode."""
    rng = random.Random(seed)
    table: dict[str, list[str]] = {}
    for k in range(n_images):
        image_id = str(100_000 + rng.randrange(10**7)) if k % 7 else f"{k:012d}"
        table[image_id] = [rng.choice(NAMES) for _ in range(rng.randrange(0, 9))]
    table["1"] = ["café table", "person"]
    path.write_text(json.dumps(table, indent=None, ensure_ascii=False))
    assert path.stat().st_size > ingest_cache.MIN_BYTES
    return path


def _uncached(path: Path, monkeypatch: pytest.MonkeyPatch, **kw):
    with monkeypatch.context() as m:
        m.setenv(ingest_cache.DISABLE_ENV, "1")
        return load_generic_objects(path, **kw)


def _same(a, b) -> None:
    assert isinstance(a.objects, NamedObjects) and isinstance(b.objects, NamedObjects)
    assert isinstance(a.images, ImageIds) and isinstance(b.images, ImageIds)
    assert a.objects.image_ids == b.objects.image_ids
    assert a.objects.labels == b.objects.labels
    assert a.objects.origin == b.objects.origin
    assert a.images.image_ids == b.images.image_ids
    assert a.warnings == b.warnings
    assert (a.format, a.path) == (b.format, b.path)


def test_cached_equals_uncached(tmp_path, cache_root, monkeypatch):
    path = _write_table(tmp_path / "objects.json")
    expected = _uncached(path, monkeypatch)
    assert not cache_root.exists()
    first = load_generic_objects(path)  # miss: parses and writes
    entries = list(cache_root.glob("*.arrow"))
    assert len(entries) == 1 and not list(cache_root.glob(".tmp-*"))
    second = load_generic_objects(path)  # hit
    _same(first, expected)
    _same(second, expected)
    assert list(second.objects) == list(expected.objects)  # the same GTObjects, in order
    assert ImageIds(x.image_id for x in second.images) == expected.images
    other = load_generic_objects(path, origin="gt2")  # an option that changes the result: its own entry
    assert other.objects.origin == "gt2" and len(list(cache_root.glob("*.arrow"))) == 2


def test_small_files_are_not_cached(tmp_path, cache_root):
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"1": ["dog"], "2": []}))
    assert load_generic_objects(path).objects == _expected_small()
    assert not cache_root.exists()


def _expected_small():
    objs = NamedObjects("objects")
    objs.image_ids, objs.labels = ["1"], ["dog"]
    return objs


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other_key"])
def test_damaged_entry_falls_back_to_the_json(tmp_path, cache_root, monkeypatch, damage):
    path = _write_table(tmp_path / "objects.json")
    expected = _uncached(path, monkeypatch)
    load_generic_objects(path)
    (entry,) = cache_root.glob("*.arrow")
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"\x00garbage" * 100)
    elif damage == "empty":
        entry.write_bytes(b"")
    else:  # a valid entry of another table under this key
        other = _write_table(tmp_path / "other.json", n_images=29_000, seed=1)
        load_generic_objects(other)
        (other_entry,) = [e for e in cache_root.glob("*.arrow") if e != entry]
        entry.write_bytes(other_entry.read_bytes())
    _same(load_generic_objects(path), expected)
    _same(load_generic_objects(path), expected)
    assert entry.read_bytes() == data  # the damaged entry was rewritten from the JSON


def test_content_change_invalidates(tmp_path, cache_root, monkeypatch):
    path = _write_table(tmp_path / "objects.json")
    load_generic_objects(path)
    table = json.loads(path.read_text())
    table["1"] = ["zebra"]
    path.write_text(json.dumps(table))
    got = load_generic_objects(path)
    _same(got, _uncached(path, monkeypatch))
    assert got.objects.labels.count("zebra") >= 1
    assert len(list(cache_root.glob("*.arrow"))) == 2


def test_disabled_cache_writes_nothing(tmp_path, cache_root, monkeypatch):
    path = _write_table(tmp_path / "objects.json")
    monkeypatch.setenv(ingest_cache.DISABLE_ENV, "1")
    load_generic_objects(path)
    load_generic_objects(path)
    assert not cache_root.parent.exists()


def test_unwritable_cache_dir_still_loads(tmp_path, monkeypatch):
    path = _write_table(tmp_path / "objects.json")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.delenv(ingest_cache.DISABLE_ENV, raising=False)
    monkeypatch.setenv("CAPTION_AUDIT_CACHE", str(blocker))
    _same(load_generic_objects(path), _uncached(path, monkeypatch))


def test_bad_table_still_raises_and_caches_nothing(tmp_path, cache_root):
    path = _write_table(tmp_path / "objects.json")
    text = path.read_text()
    path.write_text(text[:-1] + ', "5": 7}')
    for _ in range(2):
        with pytest.raises(InputError, match="must be a list"):
            load_generic_objects(path)
    assert not cache_root.exists() or not list(cache_root.glob("*.arrow"))


def test_boxed_tables_are_not_cached(tmp_path, cache_root, monkeypatch):
    table = {str(i): [{"label": "dog", "bbox": [1, 2, 3, 4]}] * 3 for i in range(20_000)}
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(table))
    assert path.stat().st_size > ingest_cache.MIN_BYTES
    got = load_generic_objects(path)
    assert got.objects == _uncached(path, monkeypatch).objects
    assert not cache_root.exists() or not list(cache_root.glob("*.arrow"))


def test_real_chair_table(cache_root, monkeypatch):
    path = shared("chair_standalone", "chair_imid_to_objects.json")
    expected = _uncached(path, monkeypatch)
    load_generic_objects(path)
    got = load_generic_objects(path)
    assert len(list(cache_root.glob("*.arrow"))) == 1
    _same(got, expected)
    assert len(got.images) == 123_287
