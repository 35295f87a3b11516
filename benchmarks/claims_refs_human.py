"""False alarms of the ``references`` resolver on COCO human captions (nearly always right).

Workload: the 25,014 human captions of COCO val2017 (``coco_val2017_captions``, 5,000 images,
5 captions each). Every count and identity claim (``ParsedCaption.claims``) is judged by
:class:`~caption_audit.scoring.resolvers.references.ReferencesResolver` against the claims of the
image's other four captions, as the pipeline's reference pass gives them (the caption itself
left out). A *contradicted* verdict on a human caption is a false alarm (up to the rare wrong
human caption, or two people who saw the photo differently). Prints the rates and every alarm
of a kind when asked; writes benchmarks/results/claims_refs_human.json.

    python benchmarks/claims_refs_human.py [--show count identity] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
KINDS = ("count", "identity")


def main() -> None:
    from caption_audit.ingest.coco import load_coco_captions
    from caption_audit.scoring.resolvers.base import ImageEvidence
    from caption_audit.scoring.resolvers.references import ReferencesResolver
    from caption_audit.text.parse import CaptionParser

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show", nargs="*", default=[], choices=KINDS, help="print the alarms of these kinds")
    ap.add_argument("--limit", type=int, default=None, help="only the first N captions (a quick look)")
    args = ap.parse_args()

    caps = load_coco_captions(SHARED / "coco_val2017_captions" / "captions_val2017.json").captions
    caps = [c for c in caps if c.text][: args.limit]
    parsed = CaptionParser().parse([c.text for c in caps])
    refs: dict[str, list] = {}
    ncaps: Counter = Counter()
    for c, p in zip(caps, parsed, strict=True):
        ncaps[c.image_id] += 1
        refs.setdefault(c.image_id, []).extend((c.caption_id, cl) for cl in p.claims
                                               if cl.kind in (*KINDS, "object"))
    resolver = ReferencesResolver()
    tally: Counter = Counter()
    alarms: list[dict] = []
    for c, p in zip(caps, parsed, strict=True):
        ev = ImageEvidence(c.image_id, references=refs[c.image_id], reference_captions=ncaps[c.image_id])
        for cl in p.claims:
            if cl.kind not in KINDS:
                continue
            r = resolver.resolve(cl, c.caption_id, ev)
            tally[cl.kind, "all"] += 1
            tally[cl.kind, r.verdict if r else "none"] += 1
            if r and r.verdict == "contradicted":
                alarms.append({"kind": cl.kind, "image_id": c.image_id, "caption": c.text.strip(),
                               "claim": f"{cl.text} -> {cl.value}", "evidence": r.evidence})
    out = {f"{k}: {v}": n for (k, v), n in sorted(tally.items())}
    for kind in KINDS:
        total = tally[kind, "all"]
        out[f"{kind}: false alarm rate"] = round(tally[kind, "contradicted"] / total, 4) if total else None
    for k, v in out.items():
        print(f"{k:34s} {v}")
    for a in alarms:
        if a["kind"] in args.show:
            print("  contradicted:", a)
    if args.limit is None:
        dest = REPO / "benchmarks" / "results" / "claims_refs_human.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps({"tally": out, "contradicted": alarms}, indent=2) + "\n")
        print(f"wrote {dest}")


if __name__ == "__main__":
    main()
