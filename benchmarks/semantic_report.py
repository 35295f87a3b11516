"""Numbers for docs/semantic.md: COCO captions vs GPT-4 detail descriptions on LLaVA-Bench (COCO).

Data (read-only, not in the repo): ``shared/data/llava/caps_boxes_coco2014_val_80.jsonl`` (80 COCO
val2014 images, 5 COCO captions each, COCO instances), ``qa90_questions.jsonl`` +
``qa90_gpt4_answer.jsonl`` (text-only GPT-4 "detail" descriptions of 30 of those images).

Usage::

    python benchmarks/semantic_report.py [--data ../shared/data] [--json out.json]

Reports, per source, on the 30 images that have a GPT-4 description:
CHAIR-i / CHAIR-s / coverage with the lexical vocabulary only, then with semantic matching
(open words mapped to COCO-80 by MiniLM, plus broad terms judged by their groups), CAPTURE-style
object F1 of GPT-4 against the COCO captions' objects, and count-error rates (all 80 images
for COCO captions).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load(data: Path):
    boxes = [json.loads(line) for line in (data / "llava" / "caps_boxes_coco2014_val_80.jsonl").open()]
    qs = {json.loads(line)["question_id"]: json.loads(line) for line in (data / "llava" / "qa90_questions.jsonl").open()}
    answers = [json.loads(line) for line in (data / "llava" / "qa90_gpt4_answer.jsonl").open()]
    gpt4 = {}
    for a in answers:
        q = qs[a["question_id"]]
        if q["category"] == "detail":
            gpt4[q["image"].rsplit(".", 1)[0]] = a["text"]
    return boxes, gpt4


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from caption_audit.scoring.verdicts import score_caption
    from caption_audit.semantic.counts import caption_count_verdicts, count_summary, count_verdict
    from caption_audit.semantic.coverage import reference_objects, soft_match
    from caption_audit.semantic.embedder import Embedder
    from caption_audit.semantic.hypernyms import broader_verdict, find_broad_mentions
    from caption_audit.semantic.mapping import SemanticMapper
    from caption_audit.text.parse import CaptionParser

    boxes, gpt4 = load(args.data)
    parser = CaptionParser()
    vocab = parser.vocab
    coco_index = {c: i for i, c in enumerate(vocab.classes)}
    gt_cls, gt_cnt = {}, {}
    for b in boxes:
        cnt = Counter(vocab.canonical_of(i["category"]) or i["category"] for i in b["instances"])
        gt_cls[b["id"]], gt_cnt[b["id"]] = set(cnt), cnt

    records = []  # (source, image_id, text)
    for b in boxes:
        records += [("coco", b["id"], c) for c in b["captions"]]
    records += [("gpt4", img, t) for img, t in gpt4.items()]
    texts = [r[2] for r in records]

    def parse_all():
        return parser.parse(texts)

    emb = Embedder(cache_dir=False)
    mapper = SemanticMapper(emb)
    out: dict = {"images_gt": len(boxes), "images_gpt4": len(gpt4), "n_captions": Counter(r[0] for r in records)}

    for mode in ("lexical", "semantic"):
        parsed = parse_all()
        if mode == "semantic":
            t = time.perf_counter()
            matches = mapper.map_mentions(parsed)
            for (_src, _img, text), p in zip(records, parsed, strict=True):
                p.mentions.extend(find_broad_mentions(text, p))
            out["semantic_mapped"] = Counter(f"{m.phrase}->{m.cls}" for m in matches).most_common()
            out["semantic_seconds"] = round(time.perf_counter() - t, 2)
        stats: dict = {}
        for (src, img, _text), p in zip(records, parsed, strict=True):
            if src == "coco" and img not in gpt4:
                continue  # compare on the same 30 images
            _, s = score_caption(p, gt_cls[img], coco_index)
            n_m, n_h = s.n_mentions, s.n_hallucinated
            broad = Counter()
            if mode == "semantic":
                for m in p.mentions:
                    if m.vocab == "open" and not m.negated and not m.nonvisual:
                        v = broader_verdict(m.lemma or m.canonical, gt_cls[img])
                        if v:
                            broad[v] += 1
                n_m += broad["supported"] + broad["hallucinated"]
                n_h += broad["hallucinated"]
            a = stats.setdefault(src, Counter())
            a["captions"] += 1
            a["mentions"] += n_m
            a["hallucinated"] += n_h
            a["has_h"] += int(n_h > 0)
            a["covered"] += len(s.covered)
            a["gt"] += len(s.gt_objects)
            a["broad_supported"] += broad["supported"]
            a["broad_hallucinated"] += broad["hallucinated"]
            a["open_mentions"] += sum(1 for m in p.mentions if m.vocab == "open" and not m.negated)
        out[mode] = {src: {"chair_i": a["hallucinated"] / a["mentions"], "chair_s": a["has_h"] / a["captions"],
                           "coverage": a["covered"] / a["gt"], **a} for src, a in stats.items()}
        if mode == "semantic":
            # CAPTURE-style: GPT-4's objects vs the union of the image's 5 COCO captions' objects
            by_img: dict = {}
            for (src, img, _text), p in zip(records, parsed, strict=True):
                by_img.setdefault(img, {}).setdefault(src, []).append(p)
            tp = nc = nr = 0
            for img in gpt4:
                ref = reference_objects(by_img[img]["coco"])
                cand = reference_objects(by_img[img]["gpt4"])
                r = soft_match(cand, ref, emb, threshold=0.75)
                tp, nc, nr = tp + len(r.pairs), nc + len(cand), nr + len(ref)
            p_, r_ = tp / nc, tp / nr
            out["capture_gpt4_vs_coco_refs"] = {"precision": p_, "recall": r_, "f1": 2 * p_ * r_ / (p_ + r_),
                                                "matched": tp, "candidate": nc, "reference": nr}

    # counts: every COCO caption of the 80 images, and the 30 GPT-4 descriptions
    rows = []
    parsed = parse_all()
    examples: dict = {"coco": [], "gpt4": []}
    for (src, img, text), p in zip(records, parsed, strict=True):
        for m in p.mentions:
            v, stated, true = count_verdict(m, gt_cnt[img], text)
            if v:
                rows.append({"source": src, "count_verdict": v})
                if v == "count_wrong" and len(examples[src]) < 8:
                    examples[src].append(f"{img}: '{text[max(0, m.start - 20):m.end]}' stated={stated} coco={true}")
    out["counts_per_mention"] = count_summary(rows)
    rows = []
    for (src, img, text), p in zip(records, parsed, strict=True):
        for _cls, (v, _stated, _true) in caption_count_verdicts(text, p.mentions, gt_cnt[img]).items():
            rows.append({"source": src, "count_verdict": v})
    out["counts"] = count_summary(rows)
    out["count_wrong_examples"] = examples
    return out


def _print(out: dict) -> None:
    print(f"images: {out['images_gt']} with COCO captions+instances, {out['images_gpt4']} with a GPT-4 description")
    print("source  mode      CHAIR-i  CHAIR-s  coverage  mentions  broad(+/-)")
    for mode in ("lexical", "semantic"):
        for src, a in out[mode].items():
            print(f"{src:<7} {mode:<9} {a['chair_i']:.3f}    {a['chair_s']:.3f}    {a['coverage']:.3f}     "
                  f"{a['mentions']:<8}  {a['broad_supported']}/{a['broad_hallucinated']}")
    print("semantic mappings:", out["semantic_mapped"], f"({out['semantic_seconds']} s)")
    c = out["capture_gpt4_vs_coco_refs"]
    print(f"CAPTURE-style GPT-4 vs COCO-caption objects: P={c['precision']:.3f} R={c['recall']:.3f} F1={c['f1']:.3f}")
    for key in ("counts_per_mention", "counts"):
      print(key)
      for src, c in out[key].items():
        rate = "n/a" if c["count_error_rate"] is None else f"{c['count_error_rate']:.3f}"
        print(f"  counts {src:<5} ok={c['count_ok']} wrong={c['count_wrong']} unverifiable={c['count_unverifiable']} "
              f"error rate={rate}")
    for src, ex in out["count_wrong_examples"].items():
        for e in ex:
            print(f"  {src} wrong: {e}")


if __name__ == "__main__":
    args = sys.argv[1:]
    result = main(args)
    _print(result)
    if "--json" in args:
        Path(args[args.index("--json") + 1]).write_text(json.dumps(result, indent=2, default=str))
