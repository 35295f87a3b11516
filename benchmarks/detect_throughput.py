"""Images/s of the batched DataLoader pipeline vs a naive per-image loop, same model and images.

Naive loop (what most hallucination repos do): open image -> processor -> model ->
post-process, one image at a time. Pipeline: :func:`detectors.run.detect_images` with loader
workers, same-shape batching and no cache (so both do the same model work).

    python benchmarks/detect_throughput.py                       # tiny random model, CPU
    python benchmarks/detect_throughput.py --model IDEA-Research/grounding-dino-tiny \\
        --device cuda --batch-size 16 --images /data/coco/val2017 --limit 2000

Writes ``benchmarks/results/detect_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROMPTS = ["person", "dog", "cat", "car", "dining table", "chair", "cup", "bottle", "bus", "pizza"]


def naive_loop(det, paths: list[Path], prompts: list[str]) -> float:
    """The baseline: everything per image with the stock HF processor. Returns seconds."""
    import torch
    from PIL import Image

    t = time.perf_counter()
    for p in paths:
        image = Image.open(p).convert("RGB")
        text = " . ".join(prompts) + " ."
        inputs = det.processor(images=image, text=text, return_tensors="pt").to(det.device)
        with torch.inference_mode(), det._autocast:
            out = det.model(**inputs)
        out.logits, out.pred_boxes = out.logits.float(), out.pred_boxes.float()
        det.processor.post_process_grounded_object_detection(
            out, inputs["input_ids"], threshold=det.box_threshold, text_threshold=det.text_threshold,
            target_sizes=[image.size[::-1]],
        )  # fmt: skip
    if det.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t


def pipeline(det, paths: list[Path], prompts: list[str], batch_size: int, workers: int) -> float:
    import torch

    from detectors.run import ImageItem, detect_images

    items = [ImageItem(p.stem, p) for p in paths]
    t = time.perf_counter()
    run = detect_images(items, {i.image_id: prompts for i in items}, det, None, batch_size, workers)
    if det.device.startswith("cuda"):
        torch.cuda.synchronize()
    assert run.images_computed == len(paths), run.failures
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="checkpoint dir or hub id (default: a tiny random model)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--num-workers", type=int, default=2)
    ap.add_argument("--images", type=Path, default=REPO.parent / "shared/data/coco_mini/train2017")
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=2, help="timed repeats; the best is reported")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/detect_throughput.json")
    args = ap.parse_args(argv)

    import torch

    from detectors.backends.grounding_dino import GroundingDinoDetector
    from detectors.tiny import build_tiny_grounding_dino

    paths = sorted(args.images.glob("*.jpg"))[: args.limit]
    if not paths:
        print(f"no .jpg images in {args.images}", file=sys.stderr)
        return 2
    model = args.model or str(build_tiny_grounding_dino(Path(tempfile.mkdtemp()) / "tiny-gd"))
    det = GroundingDinoDetector(model, device=args.device)
    warm = paths[: min(4, len(paths))]
    naive_loop(det, warm, PROMPTS)
    pipeline(det, warm, PROMPTS, args.batch_size, 0)
    naive = min(naive_loop(det, paths, PROMPTS) for _ in range(args.repeats))
    piped = min(pipeline(det, paths, PROMPTS, args.batch_size, args.num_workers) for _ in range(args.repeats))
    device_name = (
        torch.cuda.get_device_name(0) if det.device.startswith("cuda") else f"CPU ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads)"
    )
    rows = [("naive per-image loop", naive), (f"pipeline (batch {args.batch_size}, {args.num_workers} workers)", piped)]
    print(f"{len(paths)} images, model {args.model or 'tiny random Grounding DINO'}, {device_name}")
    print(f"{'method':<40} {'seconds':>8} {'images/s':>9}")
    for name, secs in rows:
        print(f"{name:<40} {secs:8.2f} {len(paths) / secs:9.1f}")
    print(f"speed-up: {naive / piped:.2f}x")
    result = {
        "images": len(paths), "model": args.model or "tiny-random-grounding-dino",
        "device": det.device, "device_name": device_name, "precision": det.precision,
        "batch_size": args.batch_size, "num_workers": args.num_workers,
        "naive_seconds": naive, "pipeline_seconds": piped,
        "naive_images_per_s": len(paths) / naive, "pipeline_images_per_s": len(paths) / piped,
        "speedup": naive / piped, "torch": torch.__version__, "python": platform.python_version(),
        "prompts": PROMPTS,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
