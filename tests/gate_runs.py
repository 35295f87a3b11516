"""Real run folders for gate/compare tests, built with the core pipeline from /work/shared/data.

Every run is built at most once per test session (the spaCy model loads once; later runs
take well under a second each). Caption variants (injected hallucinations, caption halves,
empty captions) are written as generic captions JSONL and scored against the same ground truth.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.conftest import SHARED  # one definition of the real-data folder

REPO = Path(__file__).resolve().parents[1]

CAPS_BOXES = SHARED / "llava" / "caps_boxes_coco2014_val_80.jsonl"
QA90 = SHARED / "llava" / "qa90_gpt4_answer.jsonl"
OPERA = SHARED / "opera" / "chair_eval_results" / "llava-1.5"
CHAIR_OBJECTS = SHARED / "chair_standalone" / "chair_imid_to_objects.json"

GIRAFFE = " A giraffe stands nearby."


def have_shared() -> bool:
    return all(p.exists() for p in (CAPS_BOXES, QA90, OPERA / "greedy.jsonl", CHAIR_OBJECTS))


def _audit(out: Path, inputs: list) -> Path:
    from caption_audit.pipeline import AuditConfig, audit

    audit(AuditConfig(inputs=inputs, out=out, progress=False))
    return out


def bench_captions() -> list[tuple[str, str, str, str | None]]:
    """(caption_id, image_id, source, text) of the LLaVA-Bench run, read with the real loaders."""
    from caption_audit.ingest.base import LOADERS

    caps = LOADERS.get("llava_caps_boxes")(CAPS_BOXES).captions + LOADERS.get("llava_bench")(QA90, source="llava").captions
    return [(c.caption_id, c.image_id, c.source, c.text) for c in caps]


def _write_captions(path: Path, records: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for cid, iid, src, text in records:
            fh.write(json.dumps({"caption_id": cid, "image_id": iid, "source": src, "caption": text}) + "\n")
    return path


def inject(records: list[tuple], share: float = 0.3, seed: int = 0, text: str = GIRAFFE) -> list[tuple]:
    """Append a hallucinated sentence to ``share`` of the captions (deterministic)."""
    rng = random.Random(seed)
    picks = set(rng.sample(range(len(records)), round(share * len(records))))
    return [(c, i, s, (t or "") + text if k in picks else t) for k, (c, i, s, t) in enumerate(records)]


def coco_halves(records: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Split the 5 COCO captions of every image in two (even / odd caption index): same images,
    different captions."""
    a, b = [], []
    for r in records:
        if r[2] == "coco":
            (a if int(r[0].rsplit("#", 1)[1]) % 2 == 0 else b).append(r)
    return a, b


# --------------------------------------------------------------------------- cached runs

_TMP: Path | None = None
_BUILT: dict[str, Path] = {}


def _tmp() -> Path:
    global _TMP
    if _TMP is None:
        import atexit
        import shutil
        import tempfile

        _TMP = Path(tempfile.mkdtemp(prefix="caption-audit-gate-"))
        atexit.register(shutil.rmtree, _TMP, True)
    return _TMP


def real_run(name: str) -> Path:
    """Build (once per test session) and return one of the named real runs.

    ``bench``: LLaVA-Bench images, sources coco (5 captions/image) + llava (GPT-4 detail).
    ``bench_injected``: ``bench`` with " A giraffe stands nearby." appended to 30% of captions.
    ``half_a`` / ``half_b``: COCO captions of the bench images split per image (even/odd index).
    ``opera_greedy`` / ``opera_ours``: OPERA LLaVA-1.5 captions (source ``llava15``) with the
    CHAIR oracle objects as ground truth.
    ``empty``: 20 captions of bench images, all blank (nothing scored).
    """
    if name in _BUILT:
        return _BUILT[name]
    if not have_shared():
        import pytest

        pytest.skip(f"real data not available: {SHARED} (set CAPTION_AUDIT_SHARED_DATA to the shared/data folder)")
    from caption_audit.pipeline import InputSpec

    out = _tmp() / name
    gt_bench = InputSpec(CAPS_BOXES, role="ground_truth", format="llava_caps_boxes")
    if name == "bench":  # the real loaders end to end
        _audit(out, [InputSpec(CAPS_BOXES, role="both", format="llava_caps_boxes"),
                     InputSpec(QA90, format="llava_bench", source="llava")])  # fmt: skip
    elif name in ("bench_injected", "half_a", "half_b", "empty"):
        recs = bench_captions()
        if name == "bench_injected":
            recs = inject(recs, 0.3, seed=1)
        elif name in ("half_a", "half_b"):
            recs = coco_halves(recs)[name == "half_b"]
        else:
            recs = [(c, i, s, "   ") for c, i, s, _ in recs[:20]]
        caps = _write_captions(_tmp() / "inputs" / f"{name}.jsonl", recs)
        _audit(out, [InputSpec(caps, format="generic_captions"), gt_bench])
    elif name in ("opera_greedy", "opera_ours"):
        objects = _tmp() / "inputs" / "opera_objects.json"
        if not objects.exists():  # only the 500 images' entries of the CHAIR oracle (faster)
            ids = {str(json.loads(line)["image_id"]) for line in (OPERA / "greedy.jsonl").open()}
            table = json.loads(CHAIR_OBJECTS.read_text())
            objects.parent.mkdir(parents=True, exist_ok=True)
            objects.write_text(json.dumps({k: v for k, v in table.items() if k in ids}))
        caps = OPERA / f"{name.split('_')[1]}.jsonl"
        _audit(out, [InputSpec(caps, format="generic_captions", source="llava15"),
                     InputSpec(objects, role="ground_truth", format="generic_objects")])  # fmt: skip
    else:
        raise KeyError(name)
    _BUILT[name] = out
    return out
