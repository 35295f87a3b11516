"""False alarms of the ``instances`` count rule on COCO human captions (nearly always right).

Workload: the human captions of coco_mini (train2017 + val2017, official instances with
``iscrowd``) and of LLaVA caps_boxes_coco2014_val_80 (80 val2014 images, boxes without
``iscrowd``). Count claims are built from the parser's COCO-80 mentions and the quantity words
before them (:func:`caption_audit.semantic.counts.quantity_of`; "a pair of skis" = 2, left to
the resolver's paired-class rule), only for classes the image has boxes of. Each is judged by
:class:`~caption_audit.scoring.resolvers.instances.InstancesResolver`; prints how the stated
count relates to the boxed one and how many the rule calls contradicted (= false alarms, up to
the rare wrong human caption). Writes benchmarks/results/claims_counts.json.

    python benchmarks/claims_counts.py
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def main() -> None:
    from caption_audit.ingest import load
    from caption_audit.ingest.coco import load_coco_captions, load_coco_instances
    from caption_audit.scoring.evidence import build_image_evidence
    from caption_audit.scoring.groundtruth import GroundTruth
    from caption_audit.scoring.resolvers.instances import InstancesResolver
    from caption_audit.semantic.counts import VAGUE_RANGES, quantity_of
    from caption_audit.text.parse import CaptionParser
    from caption_audit.types import Claim

    parser = CaptionParser()
    resolver = InstancesResolver()
    tally: Counter = Counter()
    alarms: list[dict] = []

    def run(captions, gt) -> None:
        caps = [c for c in captions if c.text and gt.has_image(c.image_id)]
        for c, parsed in zip(caps, parser.parse([c.text for c in caps]), strict=True):
            ev = build_image_evidence(c.image_id, gt)
            for m in parsed.mentions:
                if m.vocab != "coco80" or m.negated or m.nonvisual:
                    continue
                exact, vague = quantity_of(c.text, m)
                if exact is None and vague is None:
                    continue
                if m.canonical not in ev.gt_counts and m.canonical not in ev.crowd:
                    continue
                if exact is not None:
                    value, kind = str(exact), "exact"
                else:
                    lo, hi = VAGUE_RANGES[vague]
                    value, kind = (f"{lo}+" if hi is None else f"{lo}-{hi}"), "vague"
                claim = Claim("count", m.start, m.end, m.canonical, value, text=c.text[m.start:m.end])
                r = resolver.resolve(claim, c.caption_id, ev)
                n = ev.gt_counts.get(m.canonical, 0)
                rel = "equal" if exact == n else ("below" if exact is not None and exact < n else "above")
                tally[kind, "all"] += 1
                if kind == "exact":
                    tally[kind, "stated " + rel + " boxed"] += 1
                tally[kind, r.verdict if r else "none"] += 1
                if r and r.verdict == "contradicted":
                    alarms.append({"image_id": c.image_id, "caption": c.text.strip(), "claim": value,
                                   "subject": m.canonical, "evidence": r.evidence})

    root = SHARED / "coco_mini" / "annotations"
    for split in ("train2017", "val2017"):
        gt = GroundTruth()
        res = load_coco_instances(root / f"instances_{split}.json")
        gt.add_objects(res.objects, parser.vocab)
        gt.add_images(res.images)
        run(load_coco_captions(root / f"captions_{split}.json").captions, gt)
    res = load(SHARED / "llava" / "caps_boxes_coco2014_val_80.jsonl")
    gt = GroundTruth()
    gt.add_objects(res.objects, parser.vocab)
    gt.add_images(res.images)
    run(res.captions, gt)

    out = {f"{k}: {v}": n for (k, v), n in sorted(tally.items())}
    for kind in ("exact", "vague"):
        total = tally[kind, "all"]
        out[f"{kind}: false alarm rate"] = round(tally[kind, "contradicted"] / total, 4) if total else None
    for k, v in out.items():
        print(f"{k:40s} {v}")
    for a in alarms:
        print("  contradicted:", a)
    dest = REPO / "benchmarks" / "results" / "claims_counts.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"tally": out, "contradicted": alarms}, indent=2) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
