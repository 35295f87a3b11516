"""Steady-state throughput of the text stage (parse + verdicts + metrics), models loaded.

Workloads (from ../shared/data):
  (a) long:  the 6,000 LVLM captions of opera/chair_eval_results/*/*.jsonl
  (b) short: the 25,014 COCO captions of coco_val2017_captions/captions_val2017.json
Ground truth: CHAIR's object table (chair_standalone/chair_imid_to_objects.json).

Rows: our text stage (one process), with --workers 2 through the local engine, the lexical
pass alone, and, on the same texts, spaCy's tokenizer alone and spaCy's full pipeline minus
NER. The reference CHAIR implementation's figures on this machine type (measured by the issue
author: 198 captions/s on (a), 1,388 on the first 5,000 of (b)) are printed for comparison.
Median of --repeats runs. Prints a table and writes benchmarks/results/text_throughput.json.

    python benchmarks/text_throughput.py [--repeats 3] [--limit-short 25014] [--semantic]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
REFERENCE_CHAIR = {"long": 198.0, "short": 1388.0}


def load_workloads(limit_short: int) -> dict[str, list[tuple[str, str]]]:
    longs = []
    for f in sorted(glob.glob(str(SHARED / "opera" / "chair_eval_results" / "*" / "*.jsonl"))):
        with open(f) as fh:
            for line in fh:
                r = json.loads(line)
                longs.append((str(r["image_id"]), r["caption"]))
    coco = json.loads((SHARED / "coco_val2017_captions" / "captions_val2017.json").read_text())
    shorts = [(str(a["image_id"]), a["caption"]) for a in coco["annotations"]][:limit_short]
    return {"long": longs, "short": shorts}


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit-short", type=int, default=25014)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--skip-spacy-full", action="store_true", help="skip the slow spaCy full-pipeline row")
    ap.add_argument("--no-semantic", action="store_true", help="skip the --semantic row (needs the [semantic] extra)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "text_throughput.json")
    args = ap.parse_args(argv)
    if not SHARED.exists():
        print(f"shared data not found at {SHARED}; set CAPTION_AUDIT_SHARED_DATA", file=sys.stderr)
        return 2

    import pandas as pd

    from caption_audit.engine.batch import BatchScorer, ScoreContext
    from caption_audit.engine.local import run_local
    from caption_audit.ingest import load
    from caption_audit.scoring.aggregate import per_source
    from caption_audit.scoring.groundtruth import GroundTruth
    from caption_audit.text.nlp import load_spacy
    from caption_audit.text.parse import CaptionParser
    from caption_audit.types import Caption

    work = load_workloads(args.limit_short)
    gt_res = load(SHARED / "chair_standalone" / "chair_imid_to_objects.json", "generic_objects")
    parser = CaptionParser()
    gt = GroundTruth()
    gt.add_objects(gt_res.objects, parser.vocab)
    gt.add_images(gt_res.images)
    ctx = ScoreContext(gt=gt)
    scorer = BatchScorer(ctx, parser)
    sem_ctx = ScoreContext(gt=gt, semantic={})
    sem_scorer = None if args.no_semantic else BatchScorer(sem_ctx, parser)
    cand_ctx = ScoreContext(gt=gt, semantic={"candidates": True})
    cand_scorer = None if args.no_semantic else BatchScorer(cand_ctx, parser)
    nlp = load_spacy()
    lexical = CaptionParser(nlp=nlp, use_parser=False)

    results = []
    for name, rows in work.items():
        caps = [Caption(f"{name}:{i}", img, name, text) for i, (img, text) in enumerate(rows)]
        texts = [t for _, t in rows]
        batches = [caps[i : i + args.batch_size] for i in range(0, len(caps), args.batch_size)]
        scorer.score(batches[0][:50])  # warm-up: models loaded, caches filled
        if sem_scorer is not None:
            sem_scorer.score(batches[0])  # loads MiniLM and the class prototypes (one-off, not timed)

        if cand_scorer is not None:
            cand_scorer.caption_scorer._mapper = sem_scorer.caption_scorer.mapper  # share the loaded model
            cand_scorer.score(batches[0])

        def semantic_stage(batches=batches, ctx=sem_ctx, scorer=sem_scorer) -> None:
            frames = []
            run_local(iter(enumerate(batches)), ctx, scorer=scorer,
                      on_result=lambda r, n: frames.append(pd.DataFrame(r[1])))
            per_source(pd.concat(frames, ignore_index=True), n_resamples=200)

        def text_stage(workers: int = 1, caps=caps, batches=batches) -> None:
            frames = []
            run_local(iter(enumerate(batches)), ctx, workers=workers, scorer=scorer if workers == 1 else None,
                      on_result=lambda r, n: frames.append(pd.DataFrame(r[1])))
            per_source(pd.concat(frames, ignore_index=True), n_resamples=200)

        def lexical_only(texts=texts) -> None:
            for i in range(0, len(texts), args.batch_size):
                lexical.parse(texts[i : i + args.batch_size])

        def tokenizer_only(texts=texts) -> None:
            for _ in nlp.tokenizer.pipe(texts, batch_size=1000):
                pass

        def spacy_full(texts=texts) -> None:
            for _ in nlp.pipe(texts, batch_size=256):
                pass

        n = len(texts)
        rows_out = [
            ("caption-audit text stage (1 process)", lambda: text_stage(1), args.repeats),
            ("caption-audit text stage (--workers 2)", lambda: text_stage(2), args.repeats),
            *([("caption-audit text stage + --semantic", semantic_stage, args.repeats),
               ("  ... + --semantic-candidates", lambda: semantic_stage(ctx=cand_ctx, scorer=cand_scorer),
                args.repeats)] if sem_scorer else []),
            ("caption-audit lexical pass only", lexical_only, args.repeats),
            ("spaCy tokenizer only", tokenizer_only, args.repeats),
        ]
        if not args.skip_spacy_full:
            rows_out.append(("spaCy full pipeline minus NER", spacy_full, 1))
        for label, fn, reps in rows_out:
            sec = timed(fn, reps)
            results.append({"workload": name, "captions": n, "row": label, "seconds": round(sec, 3),
                            "captions_per_s": round(n / sec, 1), "repeats": reps})
            print(f"{name:5s} {label:42s} {n / sec:10,.0f} captions/s  ({sec:.2f} s)", flush=True)
        results.append({"workload": name, "captions": n, "row": "reference CHAIR (issue figure)",
                        "captions_per_s": REFERENCE_CHAIR[name], "seconds": None, "repeats": None})
        del caps, batches
    print()
    print(f"{'workload':8s} {'row':42s} {'captions/s':>12s} {'x CHAIR':>8s}")
    for r in results:
        ratio = r["captions_per_s"] / REFERENCE_CHAIR[r["workload"]]
        print(f"{r['workload']:8s} {r['row']:42s} {r['captions_per_s']:12,.0f} {ratio:8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                                "platform": platform.platform()},
                                    "results": results}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
