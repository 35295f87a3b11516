"""False alarms of the ``instances`` count rule on COCO human captions (nearly always right).

Workload: the human captions of coco_mini (train2017 + val2017, official instances with
``iscrowd``) and of LLaVA caps_boxes_coco2014_val_80 (80 val2014 images, boxes without
``iscrowd``). The count claims are the claim extractor's (``ParsedCaption.claims``), also of
classes the image has no box of; the object and count claims of the image's other captions are
the references (as the pipeline's reference pass gives them, the caption itself left out).
Each is judged by :class:`~caption_audit.scoring.resolvers.instances.InstancesResolver`; prints
how the stated count relates to the boxed one and how many each rule calls contradicted
(= false alarms, up to the rare wrong human caption). Writes benchmarks/results/claims_counts.json.

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
    from caption_audit.scoring.resolvers.instances import InstancesResolver, parse_count
    from caption_audit.text.parse import CaptionParser

    parser = CaptionParser()
    resolver = InstancesResolver()
    tally: Counter = Counter()
    alarms: list[dict] = []

    def run(captions, gt) -> None:
        caps = [c for c in captions if c.text and gt.has_image(c.image_id)]
        parsed_all = parser.parse([c.text for c in caps])
        # every caption's object and count claims: the other captions of its image are its references
        refs: dict[str, list] = {}
        for c, parsed in zip(caps, parsed_all, strict=True):
            refs.setdefault(c.image_id, []).extend((c.caption_id, cl) for cl in parsed.claims
                                                   if cl.kind in ("object", "count"))
        for c, parsed in zip(caps, parsed_all, strict=True):
            ev = build_image_evidence(c.image_id, gt, references=refs.get(c.image_id, []),
                                      reference_captions=5)
            for claim in parsed.claims:
                if claim.kind == "identity":  # person words: only "no person boxed" is judged here
                    r = resolver.resolve(claim, c.caption_id, ev)
                    tally["identity", "all"] += 1
                    tally["identity", r.verdict if r else "none"] += 1
                    if r and r.verdict == "contradicted":
                        alarms.append({"image_id": c.image_id, "caption": c.text.strip(), "claim": claim.value,
                                       "subject": "identity", "evidence": r.evidence})
                    continue
                if claim.kind != "count":
                    continue
                lo, hi = parse_count(claim.value) or (0, 0)
                kind = "exact" if lo == hi else "vague"
                present = claim.subject in ev.gt_counts or claim.subject in ev.crowd
                n = ev.gt_counts.get(claim.subject, 0)
                r = resolver.resolve(claim, c.caption_id, ev)
                rel = "absent" if not present else ("equal" if lo == n else ("below" if lo < n else "above"))
                tally[kind, "all"] += 1
                tally[kind, "stated " + rel + " boxed"] += 1
                tally[kind, r.verdict if r else "none"] += 1
                if r and r.verdict == "contradicted":
                    rule = ("absent class" if not present else
                            "singular references" if "speak of one" in r.evidence else
                            "one large box" if "is large" in r.evidence else
                            "exact references" if "reference caption(s) count" in r.evidence else "stated >= 2n+1")
                    tally[kind, "contradicted by rule: " + rule] += 1
                    alarms.append({"image_id": c.image_id, "caption": c.text.strip(), "claim": claim.value,
                                   "subject": claim.subject, "evidence": r.evidence})

    root = SHARED / "coco_mini" / "annotations"
    for split in ("train2017", "val2017"):
        gt = GroundTruth(keep_geometry=True)  # mask areas, as the pipeline keeps them for "pixels"
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
    for kind in ("exact", "vague", "identity"):
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
