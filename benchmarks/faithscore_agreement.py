"""Answer-level agreement of caption-audit with FaithScore's human hallucination labels.

Data (from ../shared/data, see its SOURCES.md):
  faithscore/annotation.jsonl: 180 LVLM answers on the 30 LLaVA-Bench (COCO) images, each with
    human labels for its atomic facts (`stage 2`; 1 = faithful, 0 = hallucinated, read from the
    data; the FAITHSCORE README says the opposite).
  llava/caps_boxes_coco2014_val_80.jsonl: COCO instances (and 5 COCO captions) of those images,
    the ground truth (`llava_caps_boxes` loader).

The script writes the answers as a JSONL captions file (caption_id = answer index, image_id from
`id`, source `faithscore`), runs `caption-audit run` on it through the CLI with the caps_boxes
file as ground truth, and compares, per answer:

  human:  "has a hallucinated fact" = any stage-2 fact labelled 0
          (and, as a second target, "has a hallucinated existence fact" = a fact of the form
          "There is a/an X." with at most three words for X, labelled 0)
  tool:   `has_hallucination` (a COCO object mention not in ground truth) and, where
          captions.parquet has it, `n_contradicted > 0` (any contradicted claim, issue #10),
          and their union.

Precision / recall / F1 of the tool flag against the human flag (positive = hallucinated);
undefined values print as "—" and are null in the JSON. Prints a table and writes
benchmarks/results/faithscore_agreement.json.

    PYTHONPATH=. python benchmarks/faithscore_agreement.py [--out-run DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
ANNOTATION = SHARED / "faithscore" / "annotation.jsonl"
CAPS_BOXES = SHARED / "llava" / "caps_boxes_coco2014_val_80.jsonl"
RESULT = REPO / "benchmarks" / "results" / "faithscore_agreement.json"
SOURCE = "faithscore"
# "There is a red bus." -- an existence fact: at most three words after the article
OBJECT_FACT = re.compile(r"^\s*there (is|are) (a |an |some |two |three |several )?[\w-]+( [\w-]+){0,2}\.?\s*$",
                         re.IGNORECASE)


def load_answers(path: Path = ANNOTATION) -> list[dict]:
    """The FaithScore answers with their human flags (one dict per answer, in file order)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for idx, line in enumerate(f):
            if not line.strip():
                continue
            rec = json.loads(line)
            facts = rec.get("stage 2") or {}
            rows.append({
                "caption_id": str(idx),
                "image_id": str(int(rec["id"])),
                "caption": rec["answer"],
                "n_facts": len(facts),
                "human_any": any(v == 0 for v in facts.values()),
                "human_existence": any(v == 0 and OBJECT_FACT.match(k) for k, v in facts.items()),
            })
    return rows


def run_audit(answers: list[dict], workdir: Path) -> Path:
    """Write the answers as captions JSONL and run the CLI on them; returns the run folder."""
    caps = workdir / "faithscore_answers.jsonl"
    with open(caps, "w", encoding="utf-8") as f:
        for a in answers:
            f.write(json.dumps({"caption_id": a["caption_id"], "image_id": a["image_id"], "source": SOURCE,
                                "caption": a["caption"]}) + "\n")
    out = workdir / "run"
    cmd = [sys.executable, "-m", "caption_audit.cli", "run", "--captions", str(caps),
           "--coco-instances", str(CAPS_BOXES), "--out", str(out), "--quiet", "--bootstrap", "50", "--no-resume"]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run(cmd, check=True, cwd=REPO, env=env)
    return out


def prf(human: list[bool], tool: list[bool]) -> dict:
    """Precision, recall and F1 of `tool` against `human` (positive = hallucinated); None where
    undefined (no tool positives / no human positives)."""
    tp = sum(h and t for h, t in zip(human, tool, strict=True))
    fp = sum(t and not h for h, t in zip(human, tool, strict=True))
    fn = sum(h and not t for h, t in zip(human, tool, strict=True))
    tn = len(human) - tp - fp - fn
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": p, "recall": r, "f1": f1,
            "agreement": (tp + tn) / len(human) if human else None}


def compare(answers: list[dict], run: Path) -> dict:
    """Agreement rows for every tool flag available in the run's captions.parquet."""
    import pandas as pd

    caps = pd.read_parquet(run / "captions.parquet")
    caps = caps[caps["source"] == SOURCE].set_index("caption_id")
    missing = [a["caption_id"] for a in answers if a["caption_id"] not in caps.index]
    if missing:
        raise SystemExit(f"{len(missing)} answers missing from the run (e.g. {missing[:3]})")
    scored = [a for a in answers if caps.loc[a["caption_id"], "status"] == "scored"]
    skipped = len(answers) - len(scored)
    answers = scored
    flags: dict[str, list[bool]] = {
        "has_hallucination": [bool(caps.loc[a["caption_id"], "has_hallucination"]) for a in answers]}
    if "n_contradicted" in caps.columns:
        flags["any_contradicted_claim"] = [bool((caps.loc[a["caption_id"], "n_contradicted"] or 0) > 0)
                                           for a in answers]
        flags["either"] = [x or y for x, y in zip(flags["has_hallucination"],
                                                      flags["any_contradicted_claim"], strict=True)]
    targets = {"any_fact": [a["human_any"] for a in answers], "existence_fact": [a["human_existence"] for a in answers]}
    rows = [{"human": tname, "tool": fname, **prf(human, tool)}
            for tname, human in targets.items() for fname, tool in flags.items()]
    return {"n_answers": len(answers), "n_skipped": skipped, "n_images": len({a["image_id"] for a in answers}),
            "human_positive": {k: sum(v) for k, v in targets.items()},
            "tool_positive": {k: sum(v) for k, v in flags.items()}, "rows": rows}


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-run", type=Path, help="keep the run folder here (default: a temporary folder)")
    ap.add_argument("--result", type=Path, default=RESULT)
    args = ap.parse_args(argv)
    for p in (ANNOTATION, CAPS_BOXES):
        if not p.exists():
            print(f"missing data: {p} (set CAPTION_AUDIT_SHARED_DATA)", file=sys.stderr)
            return 2
    answers = load_answers()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out_run or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        run = run_audit(answers, work)
        res = compare(answers, run)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                       text=True).stdout.strip() or None
    print(f"FaithScore answers: {res['n_answers']} on {res['n_images']} images; human positives "
          f"{res['human_positive']}; tool positives {res['tool_positive']} ({res['seconds']} s)")
    print(f"{'human target':<14} {'tool flag':<24} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} "
          f"{'P':>6} {'R':>6} {'F1':>6} {'agree':>6}")
    for r in res["rows"]:
        print(f"{r['human']:<14} {r['tool']:<24} {r['tp']:>4} {r['fp']:>4} {r['fn']:>4} {r['tn']:>4} "
              f"{_fmt(r['precision']):>6} {_fmt(r['recall']):>6} {_fmt(r['f1']):>6} {_fmt(r['agreement']):>6}")
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
