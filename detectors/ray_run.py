"""Detection on Ray (``caption-audit run --engine ray``): one detector per actor, GPUs per actor.

Images are split into chunks; Ray Data's ``map_batches`` sends each chunk to an actor pool whose
actors load the detector once (``num_gpus`` each on a GPU cluster) and run the same batched
:func:`detectors.run.detect_images` loop on their chunk, writing every image's result into the
shared content-addressed cache as its batch finishes. The driver then reads the results from the
cache, so the outcome is the same as a local run (same cache keys, same padding-based batching),
and a killed cluster job resumes from the cache. The cache directory must be reachable from every
node (a shared filesystem) on a multi-node cluster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from detectors.run import DetectionRun, ImageItem


class _DetectActor:
    """Ray Data callable class: builds the detector once per actor."""

    def __init__(self, name: str, kwargs: dict[str, Any], cache_root: str):
        from detectors.base import get_detector
        from detectors.cache import DetectionCache, setup_hash

        self.detector = get_detector(name, **kwargs)
        self.cache = DetectionCache.at(cache_root)
        d = self.detector
        self.setup = setup_hash(d.name, d.model_id, d.revision, d.cache_fields())

    def __call__(self, rows: dict[str, Any]) -> dict[str, Any]:
        import json

        from detectors.run import detect_images

        items = [ImageItem(str(i), str(p)) for i, p in zip(rows["image_id"], rows["path"], strict=True)]
        prompts = {str(i): [tuple(x) for x in json.loads(p)] for i, p in zip(rows["image_id"], rows["prompts"],
                                                                               strict=True)}
        batch_size = int(rows["batch_size"][0])
        run = detect_images(items, prompts, self.detector, cache=self.cache, batch_size=batch_size, num_workers=0)
        ids = [it.image_id for it in items]
        return {
            "image_id": ids,
            "failure": [run.failures.get(i, "") for i in ids],
            "computed": [run.images_computed] + [0] * (len(ids) - 1),
            "cached": [run.images_cached] + [0] * (len(ids) - 1),
            "setup": [self.setup] * len(ids),
        }


def detect_images_ray(
    items: Sequence[ImageItem],
    prompts: Mapping[str, Sequence[Any]],
    name: str,
    kwargs: dict[str, Any],
    *,
    cache_root: str | None = None,
    batch_size: int = 8,
    workers: int = 1,
    num_gpus: float | None = None,
    address: str | None = None,
    chunk: int = 64,
) -> DetectionRun:
    """Run :func:`detectors.run.detect_images` on a Ray actor pool; results via the cache.

    Args:
        items, prompts: as for ``detect_images``.
        name, kwargs: the detector backend and its options (each actor builds its own).
        cache_root: the detection cache folder (default: the user cache dir).
        batch_size: images per model batch inside an actor.
        workers: actors in the pool.
        num_gpus: GPUs per actor (default: 1 when the cluster has GPUs, else 0).
        address: an existing Ray cluster; default starts a local Ray.
        chunk: images per Ray Data row batch handed to an actor.
    """
    import json

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        from caption_audit.errors import ConfigError

        raise ConfigError("--engine ray needs Ray: pip install 'caption-audit[ray]'") from None
    from detectors.cache import DetectionCache

    cache = DetectionCache.at(cache_root)
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(2, workers + 1), include_dashboard=False, log_to_driver=False)
        started = True
    try:
        if num_gpus is None:
            num_gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        rows = [{"image_id": it.image_id, "path": str(it.path), "batch_size": batch_size,
                 "prompts": json.dumps([list(p) if isinstance(p, tuple | list) else [p, p]
                                        for p in prompts.get(it.image_id, ())])}
                for it in items]
        run = DetectionRun()
        setup = None
        if rows:
            ds = ray.data.from_items(rows).map_batches(
                _DetectActor,
                fn_constructor_args=(name, kwargs, str(cache.root)),
                batch_size=chunk,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=max(1, workers)),
                num_gpus=num_gpus,
                num_cpus=0 if num_gpus else 0.5,
            )
            for row in ds.iter_rows():
                setup = str(row["setup"])
                if row["failure"]:
                    run.failures[str(row["image_id"])] = str(row["failure"])
                run.images_computed += int(row["computed"])
                run.images_cached += int(row["cached"])
        # read every result back from the cache (the keys a local run uses)
        from pathlib import Path

        from detectors.base import prompt_hash
        from detectors.cache import image_sha256

        memo = cache.load_memo()
        for it in items:
            if it.image_id in run.failures:
                continue
            det = None
            if setup is not None:
                st = Path(it.path).stat()
                sha = memo.get((str(Path(it.path).resolve()), st.st_size, st.st_mtime_ns))
                sha = sha or image_sha256(Path(it.path).read_bytes())
                det = cache.get(setup, sha, prompt_hash(list(prompts.get(it.image_id, ()))))
            if det is None:
                run.failures[it.image_id] = "no result in the detection cache after the Ray run"
            else:
                run.results[it.image_id] = det
        return run
    finally:
        if started:
            ray.shutdown()

