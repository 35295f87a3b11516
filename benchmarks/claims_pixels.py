"""Cost of the ``pixels`` colour resolver: milliseconds per object on real COCO photos.

Workload: every (image, class) of coco_mini train2017 (80 real photos,
../shared/data/coco_mini/train2017 with annotations/instances_train2017.json), judged once
as a colour claim with an empty cache (cold: decode + rasterise + name every pixel), then
again (warm: the per-(image, class) cache). An "object" is one non-crowd instance. Target:
<= 20 ms per object.

Precision (``--no-human`` skips it): the claim extractor's colour claims on COCO-80 objects in
the COCO human captions of these photos (and of coco_mini val2017), judged by the pixels resolver
alone on COCO polygons (``keep_segmentation``). Human captions are nearly always right, so every
*contradicted* is a false alarm; "weak contradicted" (confidence < 0.5: it decides only with a
second resolver, docs/claims.md) is counted apart. Prints a table and writes
benchmarks/results/claims_pixels.json.

    python benchmarks/claims_pixels.py [--repeats 3] [--no-human]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-human", action="store_true", help="skip the precision check on human captions")
    args = ap.parse_args()

    from caption_audit.ingest.coco import load_coco_instances
    from caption_audit.scoring.evidence import build_image_evidence
    from caption_audit.scoring.groundtruth import GroundTruth
    from caption_audit.scoring.resolvers.colours import name_pixels
    from caption_audit.scoring.resolvers.pixels import PixelsResolver
    from caption_audit.text.vocab import default_vocabulary
    from caption_audit.types import Claim

    root = SHARED / "coco_mini"
    res = load_coco_instances(root / "annotations" / "instances_train2017.json", keep_segmentation=True)
    gt = GroundTruth(keep_geometry=True)
    gt.add_objects(res.objects, default_vocabulary())
    gt.add_images(res.images)
    names = {im.image_id: im.file_name for im in res.images}
    evs = [build_image_evidence(i, gt, images_dir=root / "train2017", file_name=names[i]) for i in sorted(gt.known)]
    evs = [ev for ev in evs if ev.image_path]
    jobs = [(ev, cls) for ev in evs for cls in sorted(ev.instances)]
    n_obj = sum(sum(not i["iscrowd"] for i in ev.instances[cls]) for ev, cls in jobs)
    name_pixels(__import__("numpy").zeros((1, 3), "uint8"))  # build the colour table once

    cold, warm = [], []
    for _ in range(args.repeats):
        px = PixelsResolver()
        t = time.perf_counter()
        for ev, cls in jobs:
            px.resolve(Claim("colour", 0, 1, cls, "red"), "bench", ev)
        cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        for ev, cls in jobs:
            px.resolve(Claim("colour", 0, 1, cls, "blue"), "bench", ev)
        warm.append(time.perf_counter() - t)
    c, w = statistics.median(cold), statistics.median(warm)
    out = {
        "images": len(evs), "classes": len(jobs), "objects": n_obj, "repeats": args.repeats,
        "cold_s": round(c, 3), "warm_s": round(w, 4),
        "ms_per_object_cold": round(1000 * c / n_obj, 2), "ms_per_claim_warm": round(1000 * w / len(jobs), 3),
        "target_ms_per_object": 20.0, "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    print(f"{'workload':34s} {'value':>10s}")
    for k in ("images", "classes", "objects", "ms_per_object_cold", "ms_per_claim_warm", "target_ms_per_object"):
        print(f"{k:34s} {out[k]:>10}")
    if not args.no_human:
        out["human_colour_claims"] = human_colours()
        for k, v in out["human_colour_claims"].items():
            if k != "contradicted_cases":
                print(f"human colour claims: {k:15s} {v:>10}")
    dest = REPO / "benchmarks" / "results" / "claims_pixels.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {dest}")


def human_colours() -> dict:
    """Verdicts of the pixels resolver on the colour claims of COCO human captions."""
    from collections import Counter

    from caption_audit.ingest.coco import load_coco_captions, load_coco_instances
    from caption_audit.scoring.claims import MIN_CONFIDENCE
    from caption_audit.scoring.evidence import build_image_evidence
    from caption_audit.scoring.groundtruth import GroundTruth
    from caption_audit.scoring.resolvers.pixels import PixelsResolver
    from caption_audit.text.parse import CaptionParser

    parser, px = CaptionParser(), PixelsResolver()
    tally: Counter = Counter()
    alarms = []
    for split in ("train2017", "val2017"):
        root = SHARED / "coco_mini"
        res = load_coco_instances(root / "annotations" / f"instances_{split}.json", keep_segmentation=True)
        gt = GroundTruth(keep_geometry=True)
        gt.add_objects(res.objects, parser.vocab)
        gt.add_images(res.images)
        names = {im.image_id: im.file_name for im in res.images}
        caps = [c for c in load_coco_captions(root / "annotations" / f"captions_{split}.json").captions if c.text]
        for c, parsed in zip(caps, parser.parse([c.text for c in caps]), strict=True):
            ev = build_image_evidence(c.image_id, gt, images_dir=root / split, file_name=names.get(c.image_id))
            if not ev.image_path:
                continue
            for claim in parsed.claims:
                if claim.kind != "colour" or parsed.mentions[claim.mention].vocab != "coco80":
                    continue
                r = px.resolve(claim, c.caption_id, ev)
                tally["claims"] += 1
                weak = r is not None and r.verdict == "contradicted" and r.confidence < MIN_CONFIDENCE
                tally["weak contradicted" if weak else r.verdict if r else "no evidence"] += 1
                if r and r.verdict == "contradicted" and not weak:
                    alarms.append({"image_id": c.image_id, "caption": c.text.strip(), "subject": claim.subject,
                                   "claim": claim.value, "evidence": r.evidence})
    judged = tally["claims"]
    return {**dict(tally), "false_alarm_rate": round(tally["contradicted"] / judged, 4) if judged else None,
            "contradicted_cases": alarms}


if __name__ == "__main__":
    main()
