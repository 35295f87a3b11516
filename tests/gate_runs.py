"""Run folders for gate/compare tests, built from /work/shared/data.

Until the core pipeline (``caption_audit.pipeline``) is available, runs are scored here by a
small CHAIR-style word matcher (Rohrbach et al. 2018 synonyms, ``chair/synonyms.txt``) and
written exactly per docs/run-folder.md (captions.parquet + summary.json). When the core is
importable, :func:`build_run` uses the real pipeline instead.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from caption_audit.scoring.paired import image_sums, paired_bootstrap

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))

METRICS_META = {
    "chair_i": (False, "fraction", "hallucinated / all judged coco80 mentions"),
    "chair_s": (False, "fraction", "captions with any hallucination"),
    "coverage": (True, "fraction", "GT classes mentioned / GT classes"),
    "halluc_per_100w": (False, "per_100_words", "hallucinated mentions per 100 words"),
    "n_words_mean": (True, "words", "mean words per caption"),
    "n_chars_mean": (True, "chars", "mean characters per caption"),
    "mentions_per_caption": (True, "mentions", "coco80 mentions per caption"),
    "unverifiable_share": (False, "fraction", "unverifiable share of mentions"),
    "skipped_share": (False, "fraction", "captions that could not be scored"),
}
SUMMARY_METRICS = list(METRICS_META)

GIRAFFE = " A giraffe stands nearby."


def have_shared() -> bool:
    return (SHARED / "llava" / "caps_boxes_coco2014_val_80.jsonl").is_file()


# --------------------------------------------------------------------------- mini CHAIR


def _synonyms() -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {}
    for line in (SHARED / "chair" / "synonyms.txt").read_text().splitlines():
        words = [w.strip() for w in line.split(",") if w.strip()]
        if words:
            for w in words:
                table[tuple(w.lower().split())] = words[0]
    return table


_WORD = re.compile(r"[a-z]+")


def _singular(w: str) -> str:
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "sses", "xes")):
        return w[:-2]
    return w[:-1] if w.endswith("s") and not w.endswith("ss") else w


def mini_score(text: str | None, gt: set[str] | None, syn: dict) -> dict:
    """CHAIR-style per-caption columns for one caption (repeats count)."""
    if text is None or not text.strip():
        return {"status": "skipped: empty caption"}
    words = _WORD.findall(text.lower())
    found: list[str] = []
    i = 0
    while i < len(words):
        for n in (3, 2, 1):
            gram = words[i : i + n]
            if len(gram) < n:
                continue
            keys = [tuple(gram), (*gram[:-1], _singular(gram[-1]))]
            hit = next((syn[k] for k in keys if k in syn), None)
            if hit:
                found.append(hit)
                i += n
                break
        else:
            i += 1
    has_gt = gt is not None
    gt = gt or set()
    mentioned = list(dict.fromkeys(found))
    n_hall = sum(1 for c in found if has_gt and c not in gt)
    return {
        "status": "scored",
        "mentioned": mentioned,
        "hallucinated": [c for c in mentioned if has_gt and c not in gt],
        "covered": [c for c in mentioned if c in gt],
        "gt_objects": sorted(gt),
        "open_mentioned": [],
        "n_mentions": len(found) if has_gt else 0,
        "n_hallucinated": n_hall,
        "n_unverifiable": 0 if has_gt else len(found),
        "n_words": len(words),
        "n_chars": len(text),
        "chair_i": (n_hall / len(found)) if has_gt and found else None,
        "has_hallucination": (n_hall > 0) if has_gt else None,
        "coverage": (len([c for c in mentioned if c in gt]) / len(gt)) if gt else None,
        "halluc_per_100w": 100.0 * n_hall / len(words) if words else None,
        "gt_available": has_gt,
    }


# --------------------------------------------------------------------------- run writer


def summarize(df: pd.DataFrame, seed: int = 0, n_resamples: int = 1000) -> dict:
    """summary.json per docs/run-folder.md, metrics recomputed from per-caption columns."""
    sources = {}
    for src, part in df.groupby("source", sort=True):
        sums = image_sums(part, SUMMARY_METRICS)
        num = sums[[f"{m}__num" for m in SUMMARY_METRICS]].to_numpy()
        den = sums[[f"{m}__den" for m in SUMMARY_METRICS]].to_numpy()
        z = np.zeros_like(num)
        r = paired_bootstrap(z, np.ones_like(z), num, den, n_resamples=n_resamples, seed=seed)
        metrics = {}
        for j, m in enumerate(SUMMARY_METRICS):
            v = r["value_b"][j]
            entry = {"value": None if np.isnan(v) else float(v), "n": int(den[:, j].sum())}
            entry["ci_low"] = None if np.isnan(r["ci_low"][j]) else float(r["ci_low"][j])
            entry["ci_high"] = None if np.isnan(r["ci_high"][j]) else float(r["ci_high"][j])
            if entry["value"] is None:
                entry["status"] = "no_denominator"
            metrics[m] = entry
        scored = int((part["status"] == "scored").sum())
        sources[src] = {
            "counts": {"input": len(part), "scored": scored, "skipped": len(part) - scored,
                       "images": int(part["image_id"].nunique())},
            "metrics": metrics,
        }  # fmt: skip
    scored = int((df["status"] == "scored").sum())
    skipped = Counter(s.split(": ", 1)[-1] for s in df["status"] if s != "scored")
    return {
        "schema_version": 1,
        "tool": {"name": "caption-audit", "version": "0.1.0"},
        "created": "2026-11-25T10:00:00Z",
        "gt_mode": "test-fixture",
        "counts": {"input": len(df), "scored": scored, "skipped": len(df) - scored,
                   "skipped_by_reason": dict(skipped)},
        "metrics": {m: {"higher_is_better": h, "unit": u, "description": d}
                    for m, (h, u, d) in METRICS_META.items()},
        "sources": sources,
        "bootstrap": {"n_resamples": n_resamples, "confidence": 0.95, "unit": "image", "seed": seed},
    }  # fmt: skip


def write_run(path: Path, records: list[tuple[str, str, str, str | None]], gt: dict[str, set[str]]) -> Path:
    """Score ``(caption_id, image_id, source, text)`` records and write a run folder."""
    syn = _synonyms()
    rows = []
    for cid, iid, src, text in records:
        row = {"caption_id": cid, "image_id": iid, "source": src, "caption": text, "origin": "test"}
        row.update(mini_score(text, gt.get(iid), syn))
        rows.append(row)
    cols = ["mentioned", "hallucinated", "covered", "gt_objects", "open_mentioned", "n_mentions",
            "n_hallucinated", "n_unverifiable", "n_words", "n_chars", "chair_i", "has_hallucination",
            "coverage", "halluc_per_100w", "gt_available"]  # fmt: skip
    df = pd.DataFrame(rows)
    df = df.reindex(columns=[*dict.fromkeys([*df.columns, *cols])])
    for c in ("mentioned", "hallucinated", "covered", "gt_objects", "open_mentioned"):
        df[c] = df[c].apply(lambda v: v if isinstance(v, list) else [])
    for c in ("n_mentions", "n_hallucinated", "n_unverifiable", "n_words", "n_chars"):
        df[c] = df[c].fillna(0).astype("int32")
    df["gt_available"] = df["gt_available"].fillna(False).astype(bool)
    path.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path / "captions.parquet", index=False)
    (path / "summary.json").write_text(json.dumps(summarize(df), indent=2))
    return path


# --------------------------------------------------------------------------- real data


def _jsonl(p: Path) -> list[dict]:
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def llava_bench() -> tuple[list[tuple], dict[str, set[str]]]:
    """COCO captions (5 per image, 80 images) + LLaVA GPT-4 detail answers (30 images)."""
    gt: dict[str, set[str]] = {}
    recs = []
    for r in _jsonl(SHARED / "llava" / "caps_boxes_coco2014_val_80.jsonl"):
        iid = str(int(r["id"]))
        gt[iid] = {i["category"] for i in r["instances"]}
        recs += [(f"coco-{iid}-{k}", iid, "coco", c) for k, c in enumerate(r["captions"])]
    qs = {q["question_id"]: q for q in _jsonl(SHARED / "llava" / "qa90_questions.jsonl")}
    for a in _jsonl(SHARED / "llava" / "qa90_gpt4_answer.jsonl"):
        if a["category"] == "detail":
            iid = str(int(qs[a["question_id"]]["image"].split(".")[0]))
            recs.append((f"llava-{a['question_id']}", iid, "llava", a["text"]))
    return recs, gt


_CHAIR_GT: dict[str, set[str]] | None = None


def chair_gt() -> dict[str, set[str]]:
    global _CHAIR_GT
    if _CHAIR_GT is None:
        raw = json.loads((SHARED / "chair_standalone" / "chair_imid_to_objects.json").read_text())
        _CHAIR_GT = {k: set(v) for k, v in raw.items()}
    return _CHAIR_GT


def opera(name: str, model: str = "llava-1.5", source: str = "llava15") -> list[tuple]:
    p = SHARED / "opera" / "chair_eval_results" / model / f"{name}.jsonl"
    return [(f"{name}-{i}", str(int(r["image_id"])), source, r["caption"]) for i, r in enumerate(_jsonl(p))]


def inject(records: list[tuple], share: float = 0.3, seed: int = 0, text: str = GIRAFFE) -> list[tuple]:
    """Append a hallucinated sentence to ``share`` of the captions (deterministic)."""
    rng = random.Random(seed)
    picks = set(rng.sample(range(len(records)), round(share * len(records))))
    return [(c, i, s, (t or "") + text if k in picks else t) for k, (c, i, s, t) in enumerate(records)]


def coco_halves(records: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Split the COCO captions of every image into two halves (same images, other captions)."""
    a, b = [], []
    for r in records:
        if r[2] == "coco":
            (a if int(r[0].rsplit("-", 1)[1]) % 2 == 0 else b).append(r)
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
    ``opera_greedy`` / ``opera_ours``: OPERA LLaVA-1.5 captions (source ``llava15``), CHAIR GT.
    ``opera_both``: both as sources ``greedy`` and ``opera`` of one run.
    ``empty``: bench images, every caption empty (nothing scored).
    """
    if name in _BUILT:
        return _BUILT[name]
    out = _tmp() / name
    if name in ("bench", "bench_injected", "half_a", "half_b", "empty"):
        recs, gt = llava_bench()
        if name == "bench_injected":
            recs = inject(recs, 0.3, seed=1)
        elif name in ("half_a", "half_b"):
            recs = coco_halves(recs)[name == "half_b"]
        elif name == "empty":
            recs = [(c, i, s, "  ") for c, i, s, _ in recs]
        write_run(out, recs, gt)
    elif name in ("opera_greedy", "opera_ours"):
        write_run(out, opera(name.split("_")[1]), chair_gt())
    elif name == "opera_both":
        recs = opera("greedy", source="greedy") + opera("ours", source="opera")
        write_run(out, recs, chair_gt())
    else:
        raise KeyError(name)
    _BUILT[name] = out
    return out
