"""Run a detector over image files: DataLoader decoding, batching, per-image caching, resume.

The loader workers do all per-image work that needs no model: read the bytes, hash them,
look the result up in the cache, decode (PIL, RGB) and preprocess. The main process only
batches the cache misses through the model and writes each image's result to the cache as
soon as its batch finishes, so a killed run loses at most the batches in flight, and a
rerun does no model work for images already done.

A missing or undecodable file is recorded in ``failures`` with a reason; the run goes on.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.base import Prepared, Prompt, prompt_hash
from detectors.cache import DetectionCache, image_sha256, setup_hash
from detectors.types import Detections


@dataclass(frozen=True)
class ImageItem:
    """An image to run: its id and where its file is."""

    image_id: str
    path: str | Path


@dataclass
class DetectionRun:
    """What :func:`detect_images` did.

    Attributes:
        results: image id -> detections, for every image that did not fail.
        failures: image id -> reason (missing file, undecodable image, ...).
        images_computed: images that went through the model in this call.
        images_cached: images answered from the cache.
    """

    results: dict[str, Detections] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    images_computed: int = 0
    images_cached: int = 0


# -- worker side ----------------------------------------------------------------------------
@dataclass
class _Loaded:
    kind: str  # "cached" | "todo" | "fail"
    image_id: str
    image_sha: str = ""
    prompts_hash: str = ""
    detections: Detections | None = None
    prepared: Prepared | None = None
    reason: str = ""


class _ImageDataset:
    """Map-style dataset: index -> _Loaded. Holds no model, only a picklable preprocessor."""

    def __init__(self, items, prompts, preprocessor, cache, setup):
        self.items, self.prompts, self.preprocessor = items, prompts, preprocessor
        self.cache, self.setup = cache, setup

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> _Loaded:
        from PIL import Image

        item = self.items[index]
        iid = item.image_id
        try:
            data = Path(item.path).read_bytes()
        except OSError as exc:
            return _Loaded("fail", iid, reason=f"cannot read image file {item.path}: {exc.strerror or exc}")
        sha = image_sha256(data)
        phash = prompt_hash(self.prompts.get(iid, ()))
        if self.cache is not None:
            hit = self.cache.get(self.setup, sha, phash)
            if hit is not None:
                return _Loaded("cached", iid, sha, phash, detections=hit)
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                rgb = im.convert("RGB")
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for bad files
            return _Loaded("fail", iid, sha, phash, reason=f"cannot decode image {item.path}: {exc}")
        rgb.info["image_id"] = iid
        return _Loaded("todo", iid, sha, phash, prepared=self.preprocessor(iid, rgb))


def _identity(x: Any) -> Any:
    return x


def _worker_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)


# -- main side ------------------------------------------------------------------------------
def detect_images(
    items: Sequence[ImageItem],
    prompts: Mapping[str, Sequence[Prompt]],
    detector: Any,
    cache: DetectionCache | None = None,
    batch_size: int = 8,
    num_workers: int = 2,
    progress: bool | Callable[[int, int], None] = False,
) -> DetectionRun:
    """Detect ``prompts[image_id]`` in every image, using and filling ``cache``.

    Args:
        items: images to run (duplicate ids are run once).
        prompts: image id -> phrases (``str`` or ``(phrase, canonical)``); absent -> none.
        detector: a :class:`detectors.base.BaseDetector` (or any object with ``detect``).
        cache: where results are read from and written to; ``None`` disables caching.
        batch_size: images per model batch (only same-shape images share a batch).
        num_workers: DataLoader workers decoding images (0 = in the main process).
        progress: ``True`` for a stderr counter, or a callback ``(done, total)``.

    Returns:
        DetectionRun with results, failures and counts.
    """
    import torch
    from torch.utils.data import DataLoader

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    seen: dict[str, ImageItem] = {}
    for it in items:
        seen.setdefault(str(it.image_id), it)
    todo_items = list(seen.values())
    setup = setup_hash(detector.name, detector.model_id, detector.revision, detector.cache_fields())
    pre = detector.preprocessor() if hasattr(detector, "preprocessor") else None
    if pre is None:
        from detectors.base import _IdentityPreprocessor

        pre = _IdentityPreprocessor()
    run = DetectionRun()
    # files seen before (same path, size and mtime) are answered from the cache without reading them
    memo = cache.load_memo() if cache is not None else {}
    identity: dict[str, tuple[str, int, int]] = {}
    to_load: list[ImageItem] = []
    for it in todo_items:
        try:
            st = os.stat(it.path)
        except OSError:
            to_load.append(it)  # the loader reports the missing file
            continue
        ident = (str(Path(it.path).resolve()), st.st_size, st.st_mtime_ns)
        identity[it.image_id] = ident
        sha = memo.get(ident)
        hit = cache.get(setup, sha, prompt_hash(prompts.get(it.image_id, ()))) if sha and cache is not None else None
        if hit is not None:
            run.results[it.image_id] = hit
            run.images_cached += 1
        else:
            to_load.append(it)
    new_hashes: list[tuple[str, int, int, str]] = []
    dataset = _ImageDataset(to_load, dict(prompts), pre, cache, setup)
    workers = max(0, int(num_workers))
    loader = DataLoader(
        dataset, batch_size=None, shuffle=False, num_workers=workers, collate_fn=_identity,
        worker_init_fn=_worker_init if workers else None,
        prefetch_factor=max(2, batch_size) if workers else None,
    )  # fmt: skip
    total = len(todo_items)
    report = _progress_fn(progress)
    pending: dict[Any, list[_Loaded]] = {}
    n_pending = 0

    def flush(group: Any) -> None:
        nonlocal n_pending
        batch = pending.pop(group)
        n_pending -= len(batch)
        preps = [b.prepared for b in batch]
        plist = [list(prompts.get(b.image_id, ())) for b in batch]
        if hasattr(detector, "detect_prepared"):
            dets = detector.detect_prepared(preps, plist)
        else:
            dets = detector.detect([p.payload for p in preps], plist)
        for b, d in zip(batch, dets, strict=True):
            if cache is not None:
                cache.put(setup, b.image_sha, b.prompts_hash, d)
            run.results[b.image_id] = d
        run.images_computed += len(batch)
        report(len(run.results) + len(run.failures), total)

    with torch.inference_mode():
        for loaded in loader:
            if loaded.image_sha and loaded.image_id in identity:
                new_hashes.append((*identity[loaded.image_id], loaded.image_sha))
            if loaded.kind == "fail":
                run.failures[loaded.image_id] = loaded.reason
            elif loaded.kind == "cached":
                run.results[loaded.image_id] = loaded.detections
                run.images_cached += 1
            else:
                g = loaded.prepared.group
                pending.setdefault(g, []).append(loaded)
                n_pending += 1
                if len(pending[g]) >= batch_size:
                    flush(g)
                elif n_pending >= 2 * batch_size:  # bound the work a kill can lose
                    flush(max(pending, key=lambda k: len(pending[k])))
            report(len(run.results) + len(run.failures), total)
        while pending:
            flush(max(pending, key=lambda k: len(pending[k])))
    if cache is not None:
        cache.remember(new_hashes)
    # keep input order
    run.results = {i.image_id: run.results[i.image_id] for i in todo_items if i.image_id in run.results}
    return run


def _progress_fn(progress: bool | Callable[[int, int], None]) -> Callable[[int, int], None]:
    if callable(progress):
        return progress
    if not progress:
        return lambda done, total: None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\rdetect: {done}/{total} images", end=end, file=sys.stderr, flush=True)

    return show


# -- finding files --------------------------------------------------------------------------
def candidate_names(image_id: str, file_name: str | None = None) -> list[str]:
    """File names an image may have: the given name, then the COCO 2017 / 2014 patterns."""
    names: list[str] = []
    if file_name:
        names += [file_name.replace("\\", "/"), os.path.basename(file_name)]
    if str(image_id).isdigit():
        n = int(image_id)
        names += [f"{n:012d}.jpg", f"COCO_val2014_{n:012d}.jpg", f"COCO_train2014_{n:012d}.jpg"]
    else:
        names.append(str(image_id))
    return list(dict.fromkeys(names))


def index_images(images_dir: str | Path, depth: int = 2) -> dict[str, Path]:
    """Map file name (and relative path) -> path for files in ``images_dir`` and up to
    ``depth`` levels of subfolders (first found wins)."""
    root = Path(images_dir)
    index: dict[str, Path] = {}
    level = [root]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                if e.is_dir():
                    nxt.append(Path(e.path))
                else:
                    p = Path(e.path)
                    index.setdefault(e.name, p)
                    index.setdefault(p.relative_to(root).as_posix(), p)
        level = nxt
    return index


def find_image(
    images_dir: str | Path,
    image_id: str,
    file_name: str | None = None,
    index: Mapping[str, Path] | None = None,
) -> Path | None:
    """The file of ``image_id`` under ``images_dir`` (or one/two folder levels below), or None.

    Tries ``file_name`` as given, then ``%012d.jpg``, ``COCO_val2014_%012d.jpg`` and
    ``COCO_train2014_%012d.jpg``. Pass ``index=index_images(dir)`` when looking up many images.
    """
    root = Path(images_dir)
    names = candidate_names(image_id, file_name)
    if index is not None:
        return next((index[n] for n in names if n in index), None)
    for n in names:
        for pattern in (n, f"*/{n}", f"*/*/{n}"):
            hit = next(iter(sorted(root.glob(pattern))), None)
            if hit is not None and hit.is_file():
                return hit
    return None
