"""Small synthetic caption files for the scale tests (resume, engines): seeded, written to tmp."""

from __future__ import annotations

import json
import random
from pathlib import Path

CLASSES = ["dog", "cat", "person", "car", "bicycle", "bench", "umbrella", "cup", "chair", "pizza",
           "horse", "clock", "bowl", "laptop", "kite", "boat", "bus", "train", "sink", "bed"]
OPEN = ["tree", "grass", "window", "wall", "sky", "fence", "lamp", "plate", "hat", "road"]
FORMS = ("A {a} sits next to a {b} near the {o}.",
         "There is no {a} in the picture, only a {b}.",
         "Two {a}s are standing in front of a {o}, possibly with a {b}.",
         "The {o} behind the {a} is bright, and a {b} lies on the ground.",
         "It is a calm scene with a {a} and a {o}.")


def write_inputs(folder: Path, n_images: int = 300, per_image: int = 4, seed: int = 0,
                 sentences: int = 3) -> tuple[Path, Path]:
    """A generic captions JSONL (``n_images * per_image`` captions, a few bad records) and a GT
    objects JSON ``{image_id: [names]}``; returns ``(captions, objects)``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    gt = {str(i): rng.sample(CLASSES, rng.randint(1, 5)) for i in range(1, n_images + 1)}
    caps, objs = folder / "preds.jsonl", folder / "objects.json"
    with open(caps, "w", encoding="utf-8") as f:
        for i in range(1, n_images + 1):
            for _ in range(per_image):
                text = " ".join(rng.choice(FORMS).format(a=rng.choice(CLASSES), b=rng.choice(CLASSES),
                                                         o=rng.choice(OPEN)) for _ in range(sentences))
                f.write(json.dumps({"image_id": i, "caption": text}) + "\n")
        f.write(json.dumps({"image_id": 99999, "caption": "A dog on a bed."}) + "\n")  # unknown image
        f.write(json.dumps({"image_id": 1, "caption": ""}) + "\n")  # empty caption
        f.write("{not json\n")  # invalid JSON line
    objs.write_text(json.dumps(gt))
    return caps, objs


def read_run(run: Path) -> dict:
    """The comparable content of a run folder: tables as pyarrow tables, summary minus timing."""
    import pyarrow.parquet as pq

    summary = json.loads((run / "summary.json").read_text())
    summary.pop("created", None)
    run_block = summary.pop("run", {})
    for k in ("seconds", "resumed_captions", "engine", "workers"):
        run_block.pop(k, None)
    summary["run"] = run_block
    tables = {t: pq.read_table(run / f"{t}.parquet")
              for t in ("captions", "mentions", "claims", "objects", "images", "classes")}
    return {"summary": summary, **tables}


def assert_same_run(a: Path, b: Path) -> None:
    ra, rb = read_run(a), read_run(b)
    for t in ("captions", "mentions", "claims", "objects", "images", "classes"):
        assert ra[t].num_rows == rb[t].num_rows, t
        assert ra[t].equals(rb[t]), f"{t}.parquet differs"
    assert ra["summary"] == rb["summary"]


class Stopped(RuntimeError):
    """Raised by :func:`interrupted_run` to stop a run part-way, as if it had been killed."""


def interrupted_run(argv: list[str], after: int = 3) -> None:
    """Run ``caption-audit`` with ``argv`` in this process and stop it once ``after`` batches
    are done (their shards stay in the run folder, as after a kill)."""
    from unittest import mock

    from caption_audit.cli import build_parser
    from caption_audit.commands.run import config_from_args
    from caption_audit.engine.stats import RunStats
    from caption_audit.pipeline import audit

    real = RunStats.add_batch
    seen: list[int] = []

    def stop_after(self: RunStats, batch_id: int, batch: object) -> None:
        seen.append(batch_id)
        if len(seen) > after:
            raise Stopped("stopped, as if killed")
        real(self, batch_id, batch)

    with mock.patch.object(RunStats, "add_batch", stop_after):
        try:
            audit(config_from_args(build_parser().parse_args(argv)))
        except Stopped:
            return
    raise AssertionError(f"the run ended before {after} batches were done")
