"""Cost of the caption-quality checks (issue #12) against the text stage, and what they find on
the 12 OPERA caption files.

Workloads (from ../shared/data):
  (a) long:  the 6,000 LVLM captions of opera/chair_eval_results/*/*.jsonl (12 sources)
  (b) short: the 25,014 COCO captions of coco_val2017_captions/captions_val2017.json (1 source)

Rows per workload: the text stage as the batch scorer runs it (``text_problem`` on every text,
then ``CaptionParser().parse`` on those it lets through; model loaded and one untimed parse of
the whole workload first; the parser's cache of parsed sentences is emptied before each timed
parse, so that each distinct sentence is parsed once per repeat, as once per run), then the quality checks and the corpus pass as a run calls them
(:func:`run_quality`), per batch of 1,000 with the text stage's ``text_problem`` reused:
``share`` = their time over the text stage's in one process (``--workers 1``: ``check_batch``
feeds the corpus from the checks' tokenisation), ``workers`` = the same as ``--workers N`` runs
them (the checks in the workers, each batch's corpus record prepared there from the checks'
tokenisation and pickled; the parent unpickles and absorbs the records in batch order, then
``finish``; both sides summed against one process's text stage; ``parent s`` = the parent's
side alone; Ray's actors do the same since 2026-12-02 08:00: the records' hashes are stable
across processes). Resumed batches (``resumed`` column, since 2026-12-02 12:30; before, a resumed
run read every caption back): their checks ran in the run that scored them; the resuming run's
parent prepares their corpus records from their captions shards in their turn
(``BatchOrder.put_shard``, here from the texts: the Parquet read left out) -- its cost, as if every
batch were resumed, over the text stage the scoring run paid for them. Target: <= 10%. Each repeat times the text
stage and then the checks, so that both see the same machine load; the share reported is the
median of the per-repeat shares (also shown over the parse alone, the definition used before
2026-12-02 06:00, which leaves out ``text_problem``: the checks reuse its result, so its cost
belongs to the text stage that produces it). One untimed warm-up run of each first. CPU-time
shares (``time.process_time``) are written too: they move less when other processes share the
machine; so is the load average (1 min) at start and end.
Prints a table plus, for each OPERA file, its repetition loops (count + an example) and its
most common openers, and writes benchmarks/results/quality_cost.json.

    python benchmarks/quality_cost.py [--repeats 3] [--limit-short 25014]
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
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def load(limit_short: int) -> dict[str, list[tuple[str, str, str, str]]]:
    """workload -> [(source, image_id, caption_id, text)]."""
    longs = []
    for f in sorted(glob.glob(str(SHARED / "opera" / "chair_eval_results" / "*" / "*.jsonl"))):
        src = f"{Path(f).parent.name}/{Path(f).stem}"
        with open(f) as fh:
            for i, line in enumerate(fh):
                r = json.loads(line)
                longs.append((src, str(r["image_id"]), f"{src}:{i}", r["caption"]))
    coco = json.loads((SHARED / "coco_val2017_captions" / "captions_val2017.json").read_text())
    shorts = [("coco", str(a["image_id"]), str(a["id"]), a["caption"]) for a in coco["annotations"]][:limit_short]
    return {"opera (long)": longs, "coco (short)": shorts}


def run_quality(rows, problems=None, batch=1000, *, one_process=True, resumed=False):
    """The quality checks and the corpus pass over ``rows`` in batches of ``batch``, exactly as a
    run calls them. ``one_process`` (``--workers 1``): ``check_batch`` with the run's
    ``CorpusAccumulator``, so the corpus is fed from the checks' tokenisation (``checks_s`` then
    holds both; ``corpus_s`` is ``finish``). Otherwise (``--workers N``): ``check_batch`` in the
    scorer with a ``CorpusRecorder`` (each batch's record prepared from the checks' tokenisation)
    and the record pickled as a worker sends it (``checks_s``); the parent unpickles and absorbs
    the records in batch order, then ``finish`` (``corpus_s``); Ray's actors and driver do the
    same. ``resumed``: no checks (they ran in the run that scored the batches); the parent
    prepares each batch's record from its scored texts (``CorpusRecorder``, as
    ``BatchOrder.put_shard``) and absorbs it in order, then ``finish`` (all in ``corpus_s``).
    Returns (times, (quality_issues, reasons) per caption, corpus)."""
    import pickle

    from caption_audit.quality.checks import check_batch
    from caption_audit.quality.corpus import CorpusAccumulator, CorpusRecorder

    t0, c0 = time.perf_counter(), time.process_time()
    acc = CorpusAccumulator()
    issues: list[list[str]] = []
    reasons: list[dict[str, str]] = []
    t_checks = t_corpus = 0.0
    feed = None if resumed else acc if one_process else CorpusRecorder()
    sent = []  # the workers' pickled records, in batch order
    for b in range(0, len(rows) if not resumed else 0, batch):
        chunk = rows[b:b + batch]
        a = time.perf_counter()
        probs = None if problems is None else problems[b:b + batch]
        cols = check_batch([r[3] for r in chunk], probs, corpus=feed, sources=[r[0] for r in chunk],
                           image_ids=[r[1] for r in chunk], caption_ids=[r[2] for r in chunk])
        if feed is not acc:
            sent.append(pickle.dumps(feed.take(), protocol=pickle.HIGHEST_PROTOCOL))
        issues.extend(cols.quality_issues)  # what the scorer keeps: columns, not objects
        reasons.extend(cols.reasons)
        t_checks += time.perf_counter() - a
    a = time.perf_counter()
    for raw in sent:  # the parent: records absorbed in batch order
        for rec in pickle.loads(raw):
            acc.absorb(rec)
    if resumed:  # the parent: each resumed batch's record prepared from its scored texts, in order
        for b in range(0, len(rows), batch):
            chunk = [r for k, r in enumerate(rows[b:b + batch], b) if problems is None or problems[k] is None]
            rec = CorpusRecorder()
            if chunk:
                rec.add_batch([r[0] for r in chunk], [r[1] for r in chunk], [r[2] for r in chunk], [r[3] for r in chunk])
            for r in rec.take():
                acc.absorb(r)
    corpus = acc.finish()
    t_corpus += time.perf_counter() - a
    times = {"checks_s": t_checks, "corpus_s": t_corpus, "total_s": time.perf_counter() - t0,
             "cpu_s": time.process_time() - c0}
    return times, (issues, reasons), corpus


def position_report(rows, parsed, issues) -> dict:
    """Hallucination rate by caption decile and sentence index on the OPERA captions, with a
    CHAIR-style verdict computed here (not the scorer's): a COCO-80 mention that is not negated,
    hedged or non-visual is hallucinated when its class is not in CHAIR's object table for the
    image. Also CHAIR-i with and without the captions that a quality check flags."""
    import pandas as pd

    from caption_audit.quality.position import mention_positions, position_curves

    gt = json.loads((SHARED / "chair_standalone" / "chair_imid_to_objects.json").read_text())
    men = []
    for (src, img, cid, _text), p in zip(rows, parsed, strict=True):
        objs = gt.get(str(img))
        for m in p.mentions:
            if objs is None or m.vocab != "coco80" or m.negated or m.hedged or m.nonvisual:
                continue
            men.append({"caption_id": cid, "source": src.split("/")[0], "start": m.start,
                        "verdict": "supported" if m.canonical in objs else "hallucinated"})
    men_df = pd.DataFrame(men)
    caps = pd.DataFrame({"caption_id": [r[2] for r in rows], "caption": [r[3] for r in rows]})
    curves = position_curves(mention_positions(men_df, caps))
    pooled = {}
    for kind, df in curves.items():
        g = df.groupby("bin")[["n_judged", "n_bad"]].sum()
        pooled[kind] = [{"bin": int(b), "n_judged": int(r.n_judged), "n_bad": int(r.n_bad),
                         "rate": round(r.n_bad / r.n_judged, 4) if r.n_judged else None} for b, r in g.iterrows()]
    print("\nOPERA, all 12 files pooled: hallucination rate (CHAIR-style) by position")
    print("  decile:   " + " ".join(f"{d['rate']:.3f}" if d["rate"] is not None else "  —  " for d in pooled["decile"]))
    print("  sentence: " + " ".join(f"{d['bin']}{'+' if d['bin'] == 7 else ''}:{d['rate']:.3f}(n={d['n_judged']})"
                                   if d["rate"] is not None else f"{d['bin']}:—" for d in pooled["sentence"]))
    flagged = {r[2] for r, iss in zip(rows, issues, strict=True) if iss}
    per_src = {}
    for src in sorted({r[0] for r in rows}):
        ids = {r[2] for r in rows if r[0] == src}
        sub = men_df[men_df.caption_id.isin(ids)]
        clean = sub[~sub.caption_id.isin(flagged)]
        per_src[src] = {"chair_i": round(float((sub.verdict == "hallucinated").mean()), 4),
                        "chair_i_without_flagged": round(float((clean.verdict == "hallucinated").mean()), 4),
                        "flagged_captions": len(ids & flagged)}
    print("\nCHAIR-i (CHAIR-style verdict) with / without quality-flagged captions")
    for src, v in per_src.items():
        print(f"  {src:<20} {v['chair_i']:.4f} / {v['chair_i_without_flagged']:.4f}  ({v['flagged_captions']} flagged)")
    return {"pooled": pooled, "by_model": {k: v.to_dict("records") for k, v in curves.items()}, "chair_i": per_src}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit-short", type=int, default=25014)
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"real data not found at {SHARED} (set CAPTION_AUDIT_SHARED_DATA)")
    from caption_audit.text.checks import text_problem
    from caption_audit.text.parse import CaptionParser

    work = load(args.limit_short)
    parser = CaptionParser()
    parser.parse([t for *_, t in work["opera (long)"][:50]])  # load + warm up
    out = {"machine": platform.platform(), "python": platform.python_version(),
           "load_average_1min": {"start": round(os.getloadavg()[0], 2)}, "workloads": {}}
    print(f"{'workload':<14} {'n':>6} {'parse s':>8} {'text stage s':>12} {'checks s':>9} {'corpus s':>9} "
          f"{'all s':>7} {'share':>7} {'of parse':>9} {'cpu share':>9} {'workers':>8} {'parent s':>8} "
          f"{'resumed':>9} {'parent s':>8}")
    kept = {}
    parsed_opera = None
    for name, rows in work.items():
        texts = [t for *_, t in rows]
        parsed = parser.parse(texts)  # warm-up, untimed (the tokenizer's chunk cache fills)
        if name.startswith("opera"):
            parsed_opera = parsed
        problems = [text_problem(x) for x in texts]
        run_quality(rows, problems)  # warm-ups, untimed
        run_quality(rows, problems, one_process=False)
        run_quality(rows, problems, resumed=True)
        reps = []
        for _ in range(args.repeats):  # text stage and checks side by side, so each share sees one load
            t, c = time.perf_counter(), time.process_time()
            problems = [text_problem(x) for x in texts]
            t_prob, c_prob = time.perf_counter() - t, time.process_time() - c
            # a run parses each distinct sentence once: keep the parser's sentence cache from
            # answering the timed repeat with the warm-up's parses (it would time no statistical pass)
            parser._parsed_sents.clear()
            t, c = time.perf_counter(), time.process_time()
            parser.parse([x for x, pr in zip(texts, problems, strict=True) if pr is None])
            t_parse, c_parse = time.perf_counter() - t, time.process_time() - c
            q = run_quality(rows, problems)[0]
            qw = run_quality(rows, problems, one_process=False)[0]
            qr = run_quality(rows, problems, resumed=True)[0]
            t_text = t_prob + t_parse
            reps.append({**q, "parse_s": t_parse, "parse_cpu_s": c_parse, "text_problem_s": t_prob,
                         "text_s": t_text, "text_cpu_s": c_prob + c_parse,
                         "share": q["total_s"] / t_text, "share_of_parse": q["total_s"] / t_parse,
                         "cpu_share": q["cpu_s"] / (c_prob + c_parse),
                         "workers_total_s": qw["total_s"], "share_workers": qw["total_s"] / t_text,
                         "workers_parent_s": qw["corpus_s"], "resumed_parent_s": qr["corpus_s"],
                         "share_resumed": qr["total_s"] / t_text})
        med = {k: statistics.median(r[k] for r in reps) for k in reps[0]}
        _times, results, corpus = run_quality(rows, problems)
        kept[name] = (rows, results, corpus)
        out["workloads"][name] = {
            "n_captions": len(rows), "text_stage_s": round(med["text_s"], 3), "parse_s": round(med["parse_s"], 3),
            "text_problem_s": round(med["text_problem_s"], 3),
            "checks_s": round(med["checks_s"], 3), "corpus_s": round(med["corpus_s"], 3),
            "quality_total_s": round(med["total_s"], 3),
            "share_of_text_stage": round(med["share"], 4),
            "share_of_text_stage_per_repeat": [round(r["share"], 4) for r in reps],
            "share_of_parse": round(med["share_of_parse"], 4),
            "text_stage_cpu_s": round(med["text_cpu_s"], 3), "quality_cpu_s": round(med["cpu_s"], 3),
            "cpu_share_of_text_stage": round(med["cpu_share"], 4),
            "us_per_caption": round(med["total_s"] / len(rows) * 1e6, 1),
            "workers_quality_total_s": round(med["workers_total_s"], 3),
            "workers_share_of_text_stage": round(med["share_workers"], 4),
            "workers_parent_s": round(med["workers_parent_s"], 3),
            "resumed_parent_s": round(med["resumed_parent_s"], 3),
            "resumed_share_of_text_stage": round(med["share_resumed"], 4),
        }
        print(f"{name:<14} {len(rows):>6} {med['parse_s']:>8.2f} {med['text_s']:>12.2f} {med['checks_s']:>9.2f} "
              f"{med['corpus_s']:>9.2f} {med['total_s']:>7.2f} {med['share']:>7.1%} {med['share_of_parse']:>9.1%} "
              f"{med['cpu_share']:>9.1%} {med['share_workers']:>8.1%} {med['workers_parent_s']:>8.2f} "
              f"{med['share_resumed']:>9.1%} {med['resumed_parent_s']:>8.2f}")
    print("share = quality checks + corpus pass over the text stage (text_problem + parse, as the batch scorer runs")
    print("them), one process (the corpus fed from the checks' tokenisation; 'checks s' holds both, 'corpus s' is")
    print("finish), median of the per-repeat shares; 'of parse' = over the parse alone; 'workers' = as --workers N")
    print("and Ray run them (checks + corpus records prepared in the workers / actors; the parent absorbs the")
    print("records in batch order and finishes: 'parent s'); 'resumed' = every batch resumed: the parent prepares")
    print("each batch's corpus record from its scored captions (their checks ran in the run that scored them)")

    rows, (issues, reasons), corpus = kept["opera (long)"]
    print("\nOPERA files: repetition loops, other flags, most common openers")
    findings = {}
    by_src: dict[str, list[int]] = {}
    for k, (src, *_rest) in enumerate(rows):
        by_src.setdefault(src, []).append(k)
    op = corpus.openers
    for src, ks in by_src.items():
        loops = [k for k in ks if "repetition" in issues[k]]
        counts = {f: sum(f in issues[k] for k in ks) for f in ("truncated", "garbage", "non_english", "empty")}
        firsts = op[(op.source == src) & (op.position == "first") & (op.kind == "prefix")].head(3)
        lasts = op[(op.source == src) & (op.position == "last") & (op.kind == "prefix")].head(2)
        ex = rows[loops[0]][3] if loops else None
        findings[src] = {
            "n": len(ks), "loops": len(loops),
            "loop_example": None if ex is None else {"caption_id": rows[loops[0]][2], "reason": reasons[loops[0]]["repetition"], "tail": ex[-160:]},
            **counts,
            "openers": [{"text": r.text, "share": round(r.share, 3)} for r in firsts.itertuples()],
            "closers": [{"text": r.text, "share": round(r.share, 3)} for r in lasts.itertuples()],
        }
        print(f"\n{src}: {len(loops)} loop(s); truncated {counts['truncated']}, garbage {counts['garbage']}")
        if ex is not None:
            print(f"   loop e.g. {rows[loops[0]][2]} ({reasons[loops[0]]['repetition']}): ...{ex[-110:]!r}")
        print("   openers: " + "; ".join(f"{r.text!r} {r.share:.0%}" for r in firsts.itertuples()))
        print("   closers: " + "; ".join(f"{r.text!r} {r.share:.0%}" for r in lasts.itertuples()))
    out["opera"] = findings
    out["position"] = position_report(rows, parsed_opera, issues)
    c_rows, (c_issues, _), c_corpus = kept["coco (short)"]
    out["coco_flags"] = {f: sum(f in r for r in c_issues) for f in ("repetition", "truncated", "garbage", "non_english", "empty")}
    out["coco_corpus"] = {f: int(sum(f in i for i in c_corpus.captions.corpus_issues)) for f in ("duplicate", "near_duplicate", "boilerplate")}
    out["coco_top_reused"] = c_corpus.reused.head(5).to_dict("records")
    print("\nCOCO flags:", out["coco_flags"], out["coco_corpus"])
    print("COCO top reused:", [(r["text"], r["n_images"]) for r in out["coco_top_reused"]])
    out["load_average_1min"]["end"] = round(os.getloadavg()[0], 2)
    dest = REPO / "benchmarks" / "results" / "quality_cost.json"
    dest.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"\nwrote {dest.relative_to(REPO)}")


if __name__ == "__main__":
    main()
