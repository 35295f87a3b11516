"""Dashboard load benchmark on a synthetic 1M-caption run.

Builds (once; reused when present) a run folder per docs/run-folder.md with 1,000,000
captions (200k images x 3 COCO + 1 LLaVA + 1 ShareGPT4V-style captions, realistic lengths)
and about 3M mention rows, then times:

* the query functions behind each view (wall time, fresh DuckDB connection = cold), and
* Streamlit ``AppTest`` runs of the Overview and the Explorer (script run time, with
  streamlit/altair already imported, caches empty).

Prints a table and writes benchmarks/results/dashboard_load.json. Target: <= 3 s to first
render of the overview and of one explorer page.

Usage: python benchmarks/dashboard_load.py [--dir DIR] [--captions N] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from caption_audit.scoring.metrics import metric_metadata  # noqa: E402
from dashboards import queries as q  # noqa: E402

CLASSES = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
           "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
           "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
           "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
           "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
           "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
           "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
           "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
           "scissors", "teddy bear", "hair drier", "toothbrush"]
FILLER = ["a", "the", "on", "in", "with", "near", "of", "and", "is", "are", "sitting", "standing", "next", "to", "large", "small", "red", "blue", "green", "white", "black", "wooden", "old", "young", "man", "woman", "people", "table", "street", "room", "field", "water", "sky", "background", "front"]
SOURCES = (("coco", 3, 10, 0.08), ("llava", 1, 110, 0.25), ("sharegpt4v", 1, 160, 0.30))  # name, per image, words, halluc rate
VERSION = 1


def _texts(rng, n_pool: int, words: int) -> list[str]:
    out = []
    for _ in range(n_pool):
        k = max(3, int(rng.normal(words, words * 0.25)))
        w = rng.choice(FILLER, size=k)
        cls = rng.choice(CLASSES, size=max(1, k // 12))
        w[rng.choice(k, size=len(cls), replace=False)] = cls
        out.append(" ".join(w).capitalize() + ".")
    return out


def _list_array(lengths: np.ndarray, values: np.ndarray) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.string()))


def build(out: Path, n_captions: int, seed: int = 0) -> None:
    """Write the synthetic run folder (vectorised; ~1 minute for 1M captions on 2 cores)."""
    rng = np.random.default_rng(seed)
    per_image = sum(s[1] for s in SOURCES)
    n_images = n_captions // per_image
    out.mkdir(parents=True, exist_ok=True)
    classes = np.array(CLASSES)
    # images and GT: 1-8 classes per image, 1-3 boxes per class
    image_ids = np.array([str(i) for i in rng.choice(600_000, size=n_images, replace=False) + 1])
    n_gt = rng.integers(1, 9, size=n_images)
    gt_cls = classes[rng.integers(0, 80, size=int(n_gt.sum()))]
    w = rng.integers(320, 641, size=n_images).astype(np.int32)
    h = rng.integers(240, 481, size=n_images).astype(np.int32)
    pq.write_table(pa.table({
        "image_id": image_ids, "file_name": pa.array([f"{int(i):012d}.jpg" for i in image_ids]),
        "width": w, "height": h, "gt_available": np.ones(n_images, bool)}), out / "images.parquet")
    n_obj = int(n_gt.sum())
    obj_img = np.repeat(image_ids, n_gt)
    x1 = rng.uniform(0, 300, n_obj)
    y1 = rng.uniform(0, 200, n_obj)
    boxes = np.stack([x1, y1, x1 + rng.uniform(10, 300, n_obj), y1 + rng.uniform(10, 200, n_obj)], 1)
    pq.write_table(pa.table({
        "image_id": obj_img, "category": gt_cls, "label": gt_cls,
        "bbox": pa.FixedSizeListArray.from_arrays(pa.array(boxes.ravel()), 4).cast(pa.list_(pa.float64())),
        "normalized": np.zeros(n_obj, bool), "origin": np.full(n_obj, "instances"),
        "score": pa.nulls(n_obj, pa.float64())}), out / "objects.parquet")
    gt_lists = _list_array(n_gt, gt_cls)

    cap_tables, men_tables, summary_sources = [], [], {}
    for src, k, words, hrate in SOURCES:
        n = n_images * k
        img_idx = np.repeat(np.arange(n_images), k)
        pool = _texts(rng, 20_000, words)
        choice = rng.integers(0, len(pool), size=n)
        prefix = pa.array([f"[{i}] " for i in range(n)])
        text = pc.binary_join_element_wise(prefix, pa.array(pool).take(pa.array(choice)), "")
        n_words = np.array([len(t.split()) for t in pool], dtype=np.int32)[choice] + 1
        n_chars = pc.utf8_length(text).to_numpy().astype(np.int32)
        n_m = np.clip(rng.poisson(1.5 + words / 60, size=n), 0, 40).astype(np.int32)  # ~3 per caption overall
        n_h = rng.binomial(n_m, hrate).astype(np.int32)
        n_u = rng.binomial(2, 0.2, size=n).astype(np.int32)
        m_len = np.minimum(n_m, 6)
        mentioned = classes[rng.integers(0, 80, size=int(m_len.sum()))]
        h_len = np.minimum(n_h, m_len)
        starts = np.zeros(n, np.int64)
        np.cumsum(m_len[:-1], out=starts[1:])
        h_take = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, h_len, strict=True) if c]) if h_len.sum() else np.array([], int)
        cov_len = np.minimum(m_len - h_len, n_gt[img_idx])
        cov_take = np.concatenate([np.arange(s + hh, s + hh + c) for s, hh, c in zip(starts, h_len, cov_len, strict=True) if c]) if cov_len.sum() else np.array([], int)
        caption_ids = pc.binary_join_element_wise(pa.array(np.full(n, src + ":")), pa.array(np.arange(n).astype(str)), "")
        chair = np.where(n_m > 0, n_h / np.maximum(n_m, 1), np.nan)
        cap_tables.append(pa.table({
            "caption_id": caption_ids, "image_id": image_ids[img_idx], "source": np.full(n, src),
            "caption": text, "status": np.full(n, "scored"),
            "origin": pc.binary_join_element_wise(pa.array(np.full(n, f"{src}.json:record ")), pa.array(np.arange(n).astype(str)), ""),
            "mentioned": _list_array(m_len, mentioned), "hallucinated": _list_array(h_len, mentioned[h_take]),
            "covered": _list_array(cov_len, mentioned[cov_take]), "gt_objects": gt_lists.take(pa.array(img_idx)),
            "open_mentioned": _list_array(np.zeros(n, np.int32), np.array([], str)),
            "n_mentions": n_m, "n_hallucinated": n_h, "n_unverifiable": n_u, "n_words": n_words, "n_chars": n_chars,
            "chair_i": pa.array(chair, from_pandas=True), "has_hallucination": n_h > 0,
            "coverage": cov_len / n_gt[img_idx], "halluc_per_100w": 100.0 * n_h / n_words,
            "gt_available": np.ones(n, bool)}))
        # mentions: n_m + n_u rows per caption
        per = n_m + n_u
        tot = int(per.sum())
        cap_of = np.repeat(np.arange(n), per)
        first = np.zeros(n, np.int64)
        np.cumsum(per[:-1], out=first[1:])
        idx = (np.arange(tot) - first[cap_of]).astype(np.int32)
        is_u = idx >= n_m[cap_of]
        is_h = (~is_u) & (idx < n_h[cap_of])
        verdict = np.where(is_u, "unverifiable", np.where(is_h, "hallucinated", "supported"))
        start = (idx * 7 + 2).astype(np.int32)
        canon = classes[rng.integers(0, 80, size=tot)]
        men_tables.append(pa.table({
            "caption_id": caption_ids.take(pa.array(cap_of)), "image_id": image_ids[img_idx][cap_of],
            "source": np.full(tot, src), "idx": idx, "start": start, "end": start + 5, "text": canon,
            "lemma": canon, "canonical": canon, "vocab": np.where(is_u, "open", "coco80"),
            "count": pa.nulls(tot, pa.int32()), "negated": np.zeros(tot, bool), "hedged": np.zeros(tot, bool),
            "nonvisual": np.zeros(tot, bool), "verdict": verdict,
            "reason": np.where(is_u, "open_vocab", np.where(is_h, "not_in_gt", "gt")),
            "evidence": np.where(is_u, "", "gt"), "score": pa.nulls(tot, pa.float64()),
            "box": pa.nulls(tot, pa.list_(pa.float64()))}))
        summary_sources[src] = {"counts": {"input": n, "scored": n, "skipped": 0, "images": n_images}}
    pq.write_table(pa.concat_tables(cap_tables), out / "captions.parquet", row_group_size=100_000)
    pq.write_table(pa.concat_tables(men_tables), out / "mentions.parquet", row_group_size=250_000)
    import duckdb

    con = duckdb.connect()
    p = str(out).replace("'", "''")
    con.execute(f"""COPY (
        WITH m AS (SELECT source, canonical, count(*) FILTER (WHERE verdict <> 'unverifiable') AS n_mentions,
                          count(*) FILTER (WHERE verdict = 'hallucinated') AS n_hallucinated
                   FROM '{p}/mentions.parquet' GROUP BY ALL),
             u AS (SELECT source, image_id, unnest(gt_objects) AS canonical FROM '{p}/captions.parquet'),
             g AS (SELECT source, canonical, count(*) AS n_gt_captions,
                          count(DISTINCT image_id) AS n_gt_images FROM u GROUP BY ALL)
        SELECT m.source, m.canonical, m.n_mentions, m.n_hallucinated, coalesce(g.n_gt_images, 0) AS n_gt_images,
               (coalesce(g.n_gt_captions, 0) * 0.4)::BIGINT AS n_covered, coalesce(g.n_gt_captions, 0) AS n_gt_captions,
               m.n_hallucinated / nullif(m.n_mentions, 0) AS hallucination_rate, 0.4 AS coverage
        FROM m LEFT JOIN g USING (source, canonical)) TO '{p}/classes.parquet' (FORMAT parquet)""")
    summary = {"schema_version": 1, "tool": {"name": "caption-audit", "version": "0.1.0"},
               "created": "synthetic", "gt_mode": "instances", "synthetic": {"version": VERSION, "seed": seed},
               "counts": {"input": n_images * per_image, "scored": n_images * per_image, "skipped": 0},
               "metrics": metric_metadata(), "sources": summary_sources}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))  # no per-source metrics: computed
    (out / ".complete").write_text(str(VERSION))


def timed(fn, *a, **kw):
    t = time.perf_counter()
    r = fn(*a, **kw)
    return r, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "caption-audit-bench" / "dashboard_1m")
    ap.add_argument("--captions", type=int, default=1_000_000)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dashboard_load.json")
    args = ap.parse_args()
    run_dir = args.dir
    marker = run_dir / ".complete"
    build_s = None
    if args.rebuild or not marker.is_file() or marker.read_text() != str(VERSION):
        shutil.rmtree(run_dir, ignore_errors=True)
        _, build_s = timed(build, run_dir, args.captions)
    rows: list[tuple[str, float, str]] = []

    run, t_open = timed(q.open_run, run_dir)
    rows.append(("open_run (views over Parquet)", t_open, ""))
    t0 = time.perf_counter()
    _, t = timed(q.sources, run)
    rows.append(("overview: sources", t, ""))
    _, t = timed(q.source_metrics, run)
    rows.append(("overview: source_metrics (summary + DuckDB)", t, ""))
    _, t = timed(q.source_counts, run)
    rows.append(("overview: source_counts", t, ""))
    _, t = timed(q.length_histogram, run)
    rows.append(("overview: length_histogram", t, ""))
    _, t = timed(q.class_rates, run, 25)
    rows.append(("overview: class_rates heatmap", t, ""))
    overview_q = time.perf_counter() - t0
    rows.append(("OVERVIEW queries total", overview_q, "sum of the above, cold"))

    n, t1 = timed(q.count_rows, run, "captions")
    df, t2 = timed(q.page, run, "captions", page_size=50)
    rows.append(("explorer: count + first page (50, no filter)", t1 + t2, f"{n:,} rows"))
    f = q.Filters(sources=("llava",), text="zebra", min_chair_i=0.2)
    n, t1 = timed(q.count_rows, run, "captions", f)
    _, t2 = timed(q.page, run, "captions", f, sort_by="chair_i", descending=True, page_number=3, page_size=50)
    rows.append(("explorer: text+source+min CHAIR-i, sorted, page 4", t1 + t2, f"{n:,} rows match"))
    f = q.Filters(verdicts=("hallucinated",), classes=("dog", "cat"))
    n, t1 = timed(q.count_rows, run, "mentions", f)
    _, t2 = timed(q.page, run, "mentions", f, sort_by="canonical", page_number=100, page_size=50)
    rows.append(("explorer: mentions verdict+class, page 101", t1 + t2, f"{n:,} rows match"))
    data, t = timed(q.export_csv, run, "captions", q.Filters(sources=("coco",)))
    rows.append(("export: CSV of 100,000 captions", t, f"{len(data) / 1e6:.1f} MB"))
    _, t = timed(run.ensure_image_index)
    rows.append(("image browser: build image index (once)", t, ""))
    t0 = time.perf_counter()
    iid = q.image_at(run, 12_345)
    caps = q.image_captions(run, iid)
    q.caption_mentions(run, caps["caption_id"].tolist())
    q.image_objects(run, iid)
    rows.append(("image browser: one image (captions, mentions, boxes)", time.perf_counter() - t0, f"image {iid}"))

    # AppTest: time to first render (script run), caches empty; streamlit already imported
    from streamlit.testing.v1 import AppTest

    _, t = timed(__import__, "altair")
    rows.append(("process start: import altair (once per server)", t, "not part of a page render"))
    os.environ["CAPTION_AUDIT_RUN"] = str(run_dir)
    app = str(REPO / "dashboards" / "app.py")
    at = AppTest.from_file(app, default_timeout=120)
    _, t = timed(at.run)
    ok = not at.exception
    rows.append(("AppTest: first render of Overview", t, "ok" if ok else f"EXCEPTION {at.exception[0].value}"))
    _, t = timed(at.run)
    rows.append(("AppTest: Overview rerun (cached)", t, ""))
    at2 = AppTest.from_file(app, default_timeout=120)
    at2.session_state["page"] = "Explorer"
    _, t = timed(at2.run)
    rows.append(("AppTest: first render of Explorer page", t, "ok" if not at2.exception else "EXCEPTION"))
    at3 = AppTest.from_file(app, default_timeout=120)
    at3.session_state["page"] = "Image browser"
    _, t = timed(at3.run)
    rows.append(("AppTest: first render of Image browser", t, "ok" if not at3.exception else "EXCEPTION"))

    sizes = {p.name: p.stat().st_size for p in run_dir.glob("*.parquet")}
    counts = {t: int(run.cursor().execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in run.tables}
    width = max(len(r[0]) for r in rows)
    print(f"dashboard load benchmark: {run_dir}")
    print(f"rows: {counts}  parquet MB: { {k: round(v / 1e6, 1) for k, v in sizes.items()} }")
    if build_s is not None:
        print(f"built synthetic run in {build_s:.1f} s")
    print(f"{'step':<{width}}  {'seconds':>8}  note")
    for name, secs, note in rows:
        print(f"{name:<{width}}  {secs:8.3f}  {note}")
    target = 3.0
    first_overview = next(s for n_, s, _ in rows if n_.startswith("AppTest: first render of Overview"))
    first_explorer = next(s for n_, s, _ in rows if n_.startswith("AppTest: first render of Explorer"))
    verdict = "PASS" if max(first_overview, first_explorer) <= target else "MISS"
    print(f"target <= {target:.0f} s for first render of overview and explorer: {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "run_dir": str(run_dir), "rows": counts, "parquet_bytes": sizes, "build_seconds": build_s,
        "steps": [{"step": a, "seconds": round(b, 4), "note": c} for a, b, c in rows],
        "target_seconds": target, "verdict": verdict,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "note": "query times are wall time of the dashboards.queries functions on a fresh DuckDB connection; "
                "AppTest times are script-run time with streamlit and altair already imported (altair import timed separately), "
                "caches empty, excluding browser rendering and websocket transfer.",
    }, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
