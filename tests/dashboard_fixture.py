"""Test-only writer of run folders that follow docs/run-folder.md (schema version 1).

Used by the dashboard tests until the core pipeline lands. It builds runs from the real
files in shared/data with a deliberately simple lexical matcher (COCO class names and
their plurals, word-bounded), so the dashboard is exercised on real captions, real images
and real boxes. It is not the audit: verdicts are "class in the image's GT" or not.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import SHARED as SHARED_DATA  # one definition of the real-data folder

REPO = Path(__file__).resolve().parents[1]

EVIL_SCRIPT = "A cat on a sofa <script>window.__pwned=1</script> next to a dog."
EVIL_IMG = 'Two dogs <img src=x onerror="window.__pwned=1"> and a frisbee & "quotes".'

L = pa.list_(pa.string())
SCHEMAS: dict[str, pa.Schema] = {
    "captions": pa.schema([
        ("caption_id", pa.string()), ("image_id", pa.string()), ("source", pa.string()),
        ("caption", pa.string()), ("status", pa.string()), ("origin", pa.string()),
        ("mentioned", L), ("hallucinated", L), ("covered", L), ("gt_objects", L), ("open_mentioned", L),
        ("n_mentions", pa.int32()), ("n_hallucinated", pa.int32()), ("n_unverifiable", pa.int32()),
        ("n_words", pa.int32()), ("n_chars", pa.int32()), ("chair_i", pa.float64()),
        ("has_hallucination", pa.bool_()), ("coverage", pa.float64()), ("halluc_per_100w", pa.float64()),
        ("gt_available", pa.bool_()),
    ]),
    "mentions": pa.schema([
        ("caption_id", pa.string()), ("image_id", pa.string()), ("source", pa.string()),
        ("idx", pa.int32()), ("start", pa.int32()), ("end", pa.int32()), ("text", pa.string()),
        ("lemma", pa.string()), ("canonical", pa.string()), ("vocab", pa.string()),
        ("count", pa.int32()), ("negated", pa.bool_()), ("hedged", pa.bool_()), ("nonvisual", pa.bool_()),
        ("verdict", pa.string()), ("reason", pa.string()), ("evidence", pa.string()),
        ("score", pa.float64()), ("box", pa.list_(pa.float64())),
    ]),
    "objects": pa.schema([
        ("image_id", pa.string()), ("category", pa.string()), ("label", pa.string()),
        ("bbox", pa.list_(pa.float64())), ("normalized", pa.bool_()), ("origin", pa.string()),
        ("score", pa.float64()),
    ]),
    "images": pa.schema([
        ("image_id", pa.string()), ("file_name", pa.string()), ("width", pa.int32()),
        ("height", pa.int32()), ("gt_available", pa.bool_()),
    ]),
    "classes": pa.schema([
        ("source", pa.string()), ("canonical", pa.string()), ("n_mentions", pa.int64()),
        ("n_hallucinated", pa.int64()), ("n_gt_images", pa.int64()), ("n_covered", pa.int64()),
        ("n_gt_captions", pa.int64()), ("hallucination_rate", pa.float64()), ("coverage", pa.float64()),
    ]),
}


def _matcher(classes: list[str]) -> re.Pattern[str]:
    alts = []
    for c in sorted(classes, key=len, reverse=True):
        alts.append(re.escape(c) + r"(?:es|s)?")
    return re.compile(r"\b(" + "|".join(alts) + r")\b", re.IGNORECASE)


def _canonical(word: str, classes: set[str]) -> str:
    w = word.lower()
    for cand in (w, w[:-2] if w.endswith("es") else w, w[:-1] if w.endswith("s") else w):
        if cand in classes:
            return cand
    return w


def score_captions(captions: list[dict[str, Any]], gt: dict[str, set[str]], classes: list[str],
                   detections: dict[str, list[dict[str, Any]]] | None = None) -> tuple[list[dict], list[dict]]:
    """Fill the per-caption columns and build mention rows (naive lexical matcher)."""
    pat, cls = _matcher(classes), set(classes)
    cap_rows, men_rows = [], []
    for c in captions:
        text = c.get("caption")
        iid = c["image_id"]
        has_gt = iid in gt
        g = gt.get(iid, set())
        row = dict(c)
        if not text or not text.strip():
            row.update(status="skipped: empty caption", mentioned=[], hallucinated=[], covered=[],
                       gt_objects=sorted(g), open_mentioned=[], n_mentions=0, n_hallucinated=0,
                       n_unverifiable=0, n_words=0, n_chars=len(text or ""), chair_i=None,
                       has_hallucination=None, coverage=None, halluc_per_100w=None, gt_available=has_gt)
            cap_rows.append(row)
            continue
        mentioned, halluc, n_h, n_m, n_u = [], [], 0, 0, 0
        for idx, mt in enumerate(pat.finditer(text)):
            canon = _canonical(mt.group(0), cls)
            if not has_gt:
                verdict, reason, n_u = "unverifiable", "no_ground_truth", n_u + 1
            elif canon in g:
                verdict, reason, n_m = "supported", "gt", n_m + 1
            else:
                verdict, reason, n_m, n_h = "hallucinated", "not_in_gt", n_m + 1, n_h + 1
                if canon not in halluc:
                    halluc.append(canon)
            if canon not in mentioned:
                mentioned.append(canon)
            det = (detections or {}).get(iid, [])
            hit = next((d for d in det if d["category"] == canon), None)
            men_rows.append({
                "caption_id": c["caption_id"], "image_id": iid, "source": c["source"], "idx": idx,
                "start": mt.start(), "end": mt.end(), "text": mt.group(0), "lemma": canon,
                "canonical": canon, "vocab": "coco80", "count": None, "negated": False,
                "hedged": False, "nonvisual": False, "verdict": verdict, "reason": reason,
                "evidence": "gt" if has_gt else "", "score": hit["score"] if hit else None,
                "box": hit["bbox"] if hit else None,
            })
        n_words = len(text.split())
        covered = [x for x in mentioned if x in g]
        row.update(status="scored", mentioned=mentioned, hallucinated=halluc, covered=covered,
                   gt_objects=sorted(g), open_mentioned=[], n_mentions=n_m, n_hallucinated=n_h,
                   n_unverifiable=n_u, n_words=n_words, n_chars=len(text),
                   chair_i=(n_h / n_m) if n_m else None,
                   has_hallucination=(n_h > 0) if has_gt else None,
                   coverage=(len(covered) / len(g)) if g else None,
                   halluc_per_100w=100.0 * n_h / n_words if n_words else None, gt_available=has_gt)
        cap_rows.append(row)
    return cap_rows, men_rows


def _classes_rows(cap_rows: list[dict], men_rows: list[dict]) -> list[dict]:
    agg: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for m in men_rows:
        if m["verdict"] == "unverifiable":
            continue
        a = agg[(m["source"], m["canonical"])]
        a["n_mentions"] += 1
        a["n_hallucinated"] += m["verdict"] == "hallucinated"
    gt_imgs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c in cap_rows:
        if c["status"] != "scored":
            continue
        for g in c["gt_objects"]:
            a = agg[(c["source"], g)]
            a["n_gt_captions"] += 1
            a["n_covered"] += g in c["covered"]
            gt_imgs[(c["source"], g)].add(c["image_id"])
    rows = []
    for (src, canon), a in sorted(agg.items()):
        rows.append({"source": src, "canonical": canon, "n_mentions": a["n_mentions"],
                     "n_hallucinated": a["n_hallucinated"], "n_gt_images": len(gt_imgs[(src, canon)]),
                     "n_covered": a["n_covered"], "n_gt_captions": a["n_gt_captions"],
                     "hallucination_rate": a["n_hallucinated"] / a["n_mentions"] if a["n_mentions"] else None,
                     "coverage": a["n_covered"] / a["n_gt_captions"] if a["n_gt_captions"] else None})
    return rows


def _bootstrap(cap_rows: list[dict], num: str, den: str | None, seed: int = 0, n: int = 200) -> dict[str, Any]:
    """Value and image-cluster percentile-bootstrap CI of sum(num)/sum(den) (den None: mean)."""
    by_img: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for c in cap_rows:
        v = c[num] if not callable(num) else None
        if v is None:
            continue
        d = 1.0 if den is None else c[den]
        if d is None:
            continue
        by_img[c["image_id"]][0] += float(v)
        by_img[c["image_id"]][1] += float(d)
    imgs = list(by_img.values())
    tn, td = sum(a for a, _ in imgs), sum(b for _, b in imgs)
    if not td:
        return {"value": None, "ci_low": None, "ci_high": None, "n": len(imgs), "status": "no_denominator"}
    rng = random.Random(seed)
    stats = []
    for _ in range(n):
        s = [imgs[rng.randrange(len(imgs))] for _ in imgs]
        sd = sum(b for _, b in s)
        if sd:
            stats.append(sum(a for a, _ in s) / sd)
    stats.sort()
    return {"value": tn / td, "ci_low": stats[int(0.025 * len(stats))],
            "ci_high": stats[min(len(stats) - 1, int(0.975 * len(stats)))], "n": len(imgs)}


def _summary(cap_rows: list[dict], extra: dict[str, Any]) -> dict[str, Any]:
    by_src: dict[str, list[dict]] = defaultdict(list)
    for c in cap_rows:
        by_src[c["source"]].append(c)
    sources = {}
    for src, rows in by_src.items():
        scored = [dict(r, cov_n=len(r["covered"]), cov_d=len(r["gt_objects"]),
                       hs=(1.0 if r["has_hallucination"] else 0.0) if r["has_hallucination"] is not None else None)
                  for r in rows if r["status"] == "scored"]
        for r in scored:
            r["h100"] = 100.0 * r["n_hallucinated"]
        metrics = {
            "chair_i": _bootstrap(scored, "n_hallucinated", "n_mentions"),
            "chair_s": _bootstrap([r for r in scored if r["hs"] is not None], "hs", None),
            "coverage": _bootstrap(scored, "cov_n", "cov_d"),
            "halluc_per_100w": _bootstrap([r for r in scored if r["hs"] is not None], "h100", "n_words"),
            "n_words_mean": _bootstrap(scored, "n_words", None),
            "n_chars_mean": _bootstrap(scored, "n_chars", None),
        }
        sources[src] = {"counts": {"input": len(rows), "scored": len(scored),
                                   "skipped": len(rows) - len(scored),
                                   "images": len({r["image_id"] for r in rows})},
                        "metrics": metrics}
    skipped = sum(c["status"] != "scored" for c in cap_rows)
    return {
        "schema_version": 1, "tool": {"name": "caption-audit", "version": "0.1.0"},
        "created": "2026-11-25T10:00:00Z", "gt_mode": "instances",
        "text": {"parser": "test-fixture lexical matcher"},
        "counts": {"input": len(cap_rows), "scored": len(cap_rows) - skipped, "skipped": skipped,
                   "skipped_by_reason": {"empty caption": skipped} if skipped else {}},
        "metrics": {
            "chair_i": {"higher_is_better": False, "unit": "fraction", "description": "CHAIR-i"},
            "chair_s": {"higher_is_better": False, "unit": "fraction", "description": "CHAIR-s"},
            "coverage": {"higher_is_better": True, "unit": "fraction", "description": "coverage"},
            "halluc_per_100w": {"higher_is_better": False, "unit": "per 100 words", "description": "per 100 words"},
            "n_words_mean": {"higher_is_better": None, "unit": "words", "description": "length"},
            "n_chars_mean": {"higher_is_better": None, "unit": "characters", "description": "length"},
        },
        "sources": sources,
        "bootstrap": {"n_resamples": 200, "confidence": 0.95, "unit": "image", "seed": 0},
        **extra,
    }


def write_run(out: Path, *, captions: list[dict], gt: dict[str, set[str]], classes: list[str],
              objects: list[dict], images: list[dict], extra_summary: dict[str, Any] | None = None,
              detections: dict[str, list[dict]] | None = None) -> Path:
    """Score ``captions`` naively and write all six files of a run folder to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cap_rows, men_rows = score_captions(captions, gt, classes, detections)
    tables = {"captions": cap_rows, "mentions": men_rows, "objects": objects, "images": images,
              "classes": _classes_rows(cap_rows, men_rows)}
    for name, rows in tables.items():
        schema = SCHEMAS[name]
        cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
        pq.write_table(pa.table(cols, schema=schema), out / f"{name}.parquet")
    (out / "summary.json").write_text(json.dumps(_summary(cap_rows, extra_summary or {}), indent=2))
    return out


def _xywh_to_xyxy(b: list[float]) -> list[float]:
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def build_coco_mini_run(out: Path, data: Path = SHARED_DATA, *, llava_like: bool = True) -> Path:
    """Run over coco_mini train2017 (80 images): COCO captions, plus a second synthetic
    source ``llava`` (the captions reworded with one extra object) and evil captions.
    Detector boxes: for each image, its first GT box re-labelled as ``detector:fixture``."""
    root = data / "coco_mini" / "annotations"
    inst = json.loads((root / "instances_train2017.json").read_text())
    caps = json.loads((root / "captions_train2017.json").read_text())
    cat = {c["id"]: c["name"] for c in inst["categories"]}
    classes = sorted(set(cat.values()))
    gt: dict[str, set[str]] = {str(im["id"]): set() for im in inst["images"]}
    objects, detections = [], defaultdict(list)
    for a in inst["annotations"]:
        iid = str(a["image_id"])
        gt[iid].add(cat[a["category_id"]])
        objects.append({"image_id": iid, "category": cat[a["category_id"]], "label": cat[a["category_id"]],
                        "bbox": _xywh_to_xyxy(a["bbox"]), "normalized": False, "origin": "instances",
                        "score": None})
    for iid in sorted(gt):
        first = next((o for o in objects if o["image_id"] == iid and o["origin"] == "instances"), None)
        if first:
            x1, y1, x2, y2 = first["bbox"]
            det = {"image_id": iid, "category": first["category"], "label": first["category"],
                   "bbox": [x1 + 5, y1 + 5, x2 - 5, y2 - 5], "normalized": False,
                   "origin": "detector:fixture", "score": 0.87}
            objects.append(det)
            detections[iid].append(det)
    images = [{"image_id": str(im["id"]), "file_name": im["file_name"], "width": im["width"],
               "height": im["height"], "gt_available": True} for im in inst["images"]]
    captions = []
    for i, a in enumerate(sorted(caps["annotations"], key=lambda a: a["id"])):
        captions.append({"caption_id": f"coco:{a['id']}", "image_id": str(a["image_id"]), "source": "coco",
                         "caption": a["caption"].strip(), "origin": f"captions_train2017.json:record {i}"})
    if llava_like:
        extra = ["umbrella", "dog", "clock", "bicycle"]
        for j, iid in enumerate(sorted(gt, key=int)):
            first = next(c for c in captions if c["image_id"] == iid)
            text = f"The image shows {first['caption'].rstrip('.').lower()}. In the background there is a {extra[j % 4]}."
            captions.append({"caption_id": f"llava:{iid}", "image_id": iid, "source": "llava",
                             "caption": text, "origin": f"synthetic:{j}"})
    evil_img = sorted(gt, key=int)[0]
    captions += [
        {"caption_id": "evil:1", "image_id": evil_img, "source": "evil", "caption": EVIL_SCRIPT, "origin": "evil:1"},
        {"caption_id": "evil:2", "image_id": evil_img, "source": "evil", "caption": EVIL_IMG, "origin": "evil:2"},
        {"caption_id": "evil:3", "image_id": evil_img, "source": "evil", "caption": "", "origin": "evil:3"},
    ]
    return write_run(out, captions=captions, gt=gt, classes=classes, objects=objects, images=images,
                     detections=detections,
                     extra_summary={"images_dir": str(data / "coco_mini" / "train2017"),
                                    "inputs": [{"path": str(root / "captions_train2017.json"),
                                                "format": "coco_captions", "records": len(caps["annotations"]),
                                                "role": "captions"}]})


def build_llava_run(out: Path, data: Path = SHARED_DATA) -> Path:
    """Run over LLaVA-Bench (COCO): the 80 caps_boxes images' COCO captions vs the GPT-4
    ``detail`` answers of qa90; boxes are normalised xyxy; no image folder in the summary."""
    llava = data / "llava"
    recs = [json.loads(line) for line in (llava / "caps_boxes_coco2014_val_80.jsonl").read_text().splitlines() if line.strip()]
    qs = [json.loads(line) for line in (llava / "qa90_questions.jsonl").read_text().splitlines() if line.strip()]
    ans = {a["question_id"]: a for a in (json.loads(line) for line in (llava / "qa90_gpt4_answer.jsonl").read_text().splitlines() if line.strip())}
    classes: set[str] = set()
    gt: dict[str, set[str]] = {}
    objects, images, captions = [], [], []
    for r in recs:
        iid = str(int(r["id"]))
        gt[iid] = set()
        images.append({"image_id": iid, "file_name": f"COCO_val2014_{int(iid):012d}.jpg", "width": None,
                       "height": None, "gt_available": True})
        for k, c in enumerate(r["captions"]):
            captions.append({"caption_id": f"coco:{iid}:{k}", "image_id": iid, "source": "coco",
                             "caption": c, "origin": f"caps_boxes_coco2014_val_80.jsonl:{len(captions) + 1}"})
        for o in r["instances"]:
            classes.add(o["category"])
            gt[iid].add(o["category"])
            objects.append({"image_id": iid, "category": o["category"], "label": o["category"],
                            "bbox": list(o["bbox"]), "normalized": True, "origin": "caps_boxes", "score": None})
    for q in qs:
        if q.get("category") != "detail":
            continue
        iid = str(int(str(q["image"]).split("_")[-1].split(".")[0]))
        a = ans.get(q["question_id"])
        if a:
            captions.append({"caption_id": f"llava:{q['question_id']}", "image_id": iid, "source": "llava",
                             "caption": a["text"], "origin": f"qa90_gpt4_answer.jsonl:{q['question_id'] + 1}"})
    return write_run(out, captions=captions, gt=gt, classes=sorted(classes), objects=objects, images=images)


TINY = REPO / "tests" / "data" / "dashboard" / "tiny.json"


def build_tiny_run(out: Path, *, drop: tuple[str, ...] = (), extra_summary: dict[str, Any] | None = None,
                   caption_overrides: dict[str, str] | None = None) -> Path:
    """Run folder from tests/data/dashboard/tiny.json (no shared data needed).

    Args:
        drop: caption ids to leave out (to make a different "baseline" run).
        caption_overrides: caption id -> replacement text.
    """
    spec = json.loads(TINY.read_text())
    caps = []
    for i, c in enumerate(spec["captions"]):
        if c["caption_id"] in drop:
            continue
        c = dict(c, origin=f"tiny.json:record {i}")
        if caption_overrides and c["caption_id"] in caption_overrides:
            c["caption"] = caption_overrides[c["caption_id"]]
        caps.append(c)
    objects = [dict({"label": o["category"], "score": None}, **o) for o in spec["objects"]]
    dets: dict[str, list[dict]] = defaultdict(list)
    for o in objects:
        if str(o["origin"]).startswith("detector"):
            dets[o["image_id"]].append(o)
    return write_run(out, captions=caps, gt={k: set(v) for k, v in spec["gt"].items()},
                     classes=spec["classes"], objects=objects, images=spec["images"],
                     detections=dets, extra_summary=extra_summary)


EVIL_CAPTIONS = REPO / "tests" / "data" / "dashboard" / "evil_captions.jsonl"


_AUDITED: dict[tuple[str, str], Path] = {}


def _once(kind: str, data: Path, out: Path, build) -> Path:
    """Audit each shared-data set once per test process; later callers get the same folder."""
    key = (kind, str(data))
    if key not in _AUDITED or not (_AUDITED[key] / "summary.json").is_file():
        _AUDITED[key] = build(out)
    return _AUDITED[key]


def audit_coco_mini(out: Path, data: Path = SHARED_DATA) -> Path:
    """The real pipeline on coco_mini train2017 (80 images, COCO captions + instances) plus
    tests/data/dashboard/evil_captions.jsonl (source ``evil``, on image 790).

    Built once per process (the first caller's ``out`` is used).
    """
    return _once("coco_mini", data, out, lambda o: _audit_coco_mini(o, data))


def audit_llava_bench(out: Path, data: Path = SHARED_DATA) -> Path:
    """The real pipeline on LLaVA-Bench (COCO): caps_boxes (5 COCO captions + normalised
    boxes for 80 val2014 images) vs the 30 GPT-4 answers of qa90. Built once per process."""
    return _once("llava", data, out, lambda o: _audit_llava_bench(o, data))


def _audit_coco_mini(out: Path, data: Path) -> Path:
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    ann = data / "coco_mini" / "annotations"
    return Path(audit(AuditConfig(inputs=[
        InputSpec(ann / "captions_train2017.json", "captions", None, "coco"),
        InputSpec(ann / "instances_train2017.json", "ground_truth"),
        InputSpec(EVIL_CAPTIONS, "captions"),
    ], out=out, n_resamples=200, progress=False)))


def _audit_llava_bench(out: Path, data: Path) -> Path:
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    llava = data / "llava"
    return Path(audit(AuditConfig(inputs=[
        InputSpec(llava / "caps_boxes_coco2014_val_80.jsonl", "both", None, "coco"),
        InputSpec(llava / "qa90_gpt4_answer.jsonl", "captions", None, "llava"),
    ], out=out, n_resamples=200, progress=False)))


# ----------------------------------------------------------------------------- hostile run

#: strings that would become a live link, an image fetch or markup if rendered as Markdown/HTML
HOSTILE_LINK = "[click](http://evil.example/src)"
HOSTILE_IMG = "![t](http://127.0.0.1:9/track.png)"
HOSTILE_HTML = '<img src="http://127.0.0.1:9/html.png">'
HOSTILE_AUTO = "www.evil.example/auto http://evil.example/auto"
HOSTILE_HOSTS = ("evil.example", "127.0.0.1:9")
SECRET_RGB = (255, 0, 255)


def audit_hostile_demo(root: Path) -> dict[str, Path]:
    """The real pipeline on a copy of the bundled demo sample where every string a user did
    not type is hostile: source names, image ids, file names, a class name and caption text
    carry Markdown links/images, HTML and autolinks; image file names point outside the
    image folder (``..``, an absolute path, a symlink); one image claims 60000x60000 pixels.

    Returns ``{"run", "images", "secret", "data"}``; ``secret`` is a magenta PNG outside the
    image folder that the dashboard must never open.
    """
    import shutil

    from PIL import Image

    from caption_audit.demo import data_dir
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    data = root / "data"
    shutil.copytree(data_dir(), data)
    images = data / "images"
    secret = root / "secret.png"
    Image.new("RGB", (320, 240), SECRET_RGB).save(secret)
    (images / "link.png").symlink_to(secret)
    for n in (1, 2, 3):  # only the hostile names are left to find for these three images
        (images / f"0000009000{n:02d}.png").unlink()
    for name in ("instances.json", "coco_captions.json"):
        doc = json.loads((data / name).read_text())
        by_id = {im["id"]: im for im in doc["images"]}
        by_id[900001]["file_name"] = "../../secret.png"
        by_id[900002]["file_name"] = str(secret)
        by_id[900003]["file_name"] = "link.png"
        by_id[900004].update(file_name=HOSTILE_IMG, width=60000, height=60000)
        by_id[900005]["file_name"] = HOSTILE_LINK
        if name == "instances.json":
            for c in doc["categories"]:
                if c["name"] == "frisbee":
                    c["name"] = HOSTILE_LINK  # an unmapped GT label: lands in summary warnings
        (data / name).write_text(json.dumps(doc))
    hostile = data / "hostile.jsonl"
    rows = [
        {"image_id": HOSTILE_HTML, "caption": f"A dog {HOSTILE_LINK} on the grass {HOSTILE_IMG}."},
        {"image_id": HOSTILE_LINK, "caption": f"A cat next to a clock {HOSTILE_AUTO}."},
        {"image_id": "900001", "caption": "A woman in a kitchen with a dog."},
        {"image_id": "900005", "caption": EVIL_SCRIPT},
        {"image_id": "900005", "caption": EVIL_IMG},
    ]
    hostile.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = Path(audit(AuditConfig(inputs=[
        InputSpec(data / "coco_captions.json", "captions", "coco_captions", "coco"),
        InputSpec(data / "instances.json", "ground_truth", "coco_instances"),
        InputSpec(hostile, "captions", None, HOSTILE_LINK),
        InputSpec(hostile, "captions", None, HOSTILE_IMG),
    ], out=root / "run", n_resamples=50, progress=False, images_dir=images)))
    return {"run": run, "images": images, "secret": secret, "data": data}
