"""Agreement of a run's verdicts with human hallucination labels (``caption-audit evaluate``).

Label file: JSONL, one caption per line (see docs/semantic.md)::

    {"caption_id": "llava-900001", "hallucinated": true,
     "hallucinated_objects": ["knife", "chair"],      # optional, COCO class names or synonyms
     "spans": [[412, 418], [530, 535]]}                # optional, character offsets [start, end)

Caption level: does the caption contain a hallucination? Precision, recall, F1 of the run's
``has_hallucination``, and average precision (AP) ranking captions by ``chair_i``.
Mention level: object names (``hallucinated_objects``) against the run's ``hallucinated``
list, and spans against the hallucinated mentions' character spans (any overlap matches,
one-to-one), each as micro precision / recall / F1 over the captions that carry that field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from caption_audit.errors import InputError


def read_label_text(path: str | Path) -> str:
    """The text of a label file.

    Raises:
        InputError: a missing file, or not UTF-8 text (the message names the encoding found).
    """
    from caption_audit.textfile import read_text_file

    p = Path(path)
    if not p.is_file() and not p.is_dir():
        raise InputError(str(p), "no such label file")
    return read_text_file(p, what="label file")


def iter_label_records(path: Path) -> Iterator[tuple[int, dict[str, Any], str]]:
    """``(line, record, caption id)`` of each non-blank line of a JSONL label file.

    Raises:
        InputError: invalid JSON, not an object, or a missing/empty ``caption_id`` (file and line).
    """
    for n, line in enumerate(read_label_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(str(path), f"invalid JSON: {exc.msg}", line=n) from None
        if not isinstance(rec, dict):
            raise InputError(str(path), "expected a JSON object", line=n)
        cid = rec.get("caption_id")
        if not isinstance(cid, str | int) or isinstance(cid, bool) or cid == "":
            raise InputError(str(path), "missing or empty caption id", line=n, field="caption_id")
        yield n, rec, str(cid)


def load_labels(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a label file.

    Raises:
        InputError: naming the file, line and field of the first bad record.
    """
    p = Path(path)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, rec, cid in iter_label_records(p):
        if cid in seen:
            raise InputError(str(p), f"duplicate caption id {cid!r}", line=n, field="caption_id")
        seen.add(cid)
        if not isinstance(rec.get("hallucinated"), bool):
            raise InputError(str(p), "must be true or false", line=n, field="hallucinated")
        objs = rec.get("hallucinated_objects")
        if objs is not None and not (isinstance(objs, list) and all(isinstance(o, str) for o in objs)):
            raise InputError(str(p), "must be a list of object names", line=n, field="hallucinated_objects")
        spans = rec.get("spans")
        if spans is not None and not (
            isinstance(spans, list)
            and all(isinstance(s, list) and len(s) == 2 and all(isinstance(x, int) for x in s) and 0 <= s[0] < s[1]
                    for s in spans)
        ):
            raise InputError(str(p), "must be a list of [start, end] integer pairs with start < end",
                             line=n, field="spans")
        if rec["hallucinated"] is False and (objs or spans):
            raise InputError(str(p), "hallucinated is false but objects/spans are given", line=n, field="hallucinated")
        rows.append({"caption_id": cid, "hallucinated": rec["hallucinated"], "hallucinated_objects": objs,
                     "spans": [tuple(s) for s in spans] if spans is not None else None, "line": n})
    if not rows:
        raise InputError(str(p), "no labels in the file")
    return rows


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (2 * precision * recall / (precision + recall) if precision and recall else 0.0) \
        if precision is not None and recall is not None else None
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def average_precision(scores: list[float], labels: list[bool]) -> float | None:
    r"""Average precision of a ranking (ties broken pessimistically, i.e. negatives first).

    .. math:: \mathrm{AP} = \frac{1}{P} \sum_{k:\,y_k = 1} \mathrm{precision@}k

    (the non-interpolated AP of TREC / scikit-learn's ``average_precision_score``, except for
    ties: here tied scores rank their negatives first, a lower bound). ``None`` without positives.
    """
    n_pos = sum(labels)
    if n_pos == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], labels[i]))
    hits, total = 0, 0.0
    for k, i in enumerate(order, 1):
        if labels[i]:
            hits += 1
            total += hits / k
    return total / n_pos


def _canon(name: str, vocab: Any) -> str:
    return vocab.canonical_of(name) or name.strip().lower()


def evaluate_run(run_path: str | Path, labels_path: str | Path) -> dict[str, Any]:
    """Compare a run folder's verdicts with a label file.

    Returns:
        ``{"n_labels", "n_matched", "missing", "not_judged", "caption": {...P/R/F1, "ap"},
        "objects": {...} | None, "spans": {...} | None, "per_source": {source: caption-level}}``.

    Raises:
        InputError: bad label file, or no labelled caption id is in the run.
    """
    from caption_audit.store.reader import RunFolder
    from caption_audit.text.vocab import default_vocabulary

    run = RunFolder(run_path)
    labels = load_labels(labels_path)
    caps = run.captions(columns=["caption_id", "source", "has_hallucination", "chair_i", "hallucinated", "status"])
    caps = caps.set_index("caption_id")
    missing = [r["caption_id"] for r in labels if r["caption_id"] not in caps.index]
    if len(missing) == len(labels):
        raise InputError(str(labels_path), f"none of the {len(labels)} labelled caption ids is in the run "
                         f"{run.path} (first: {missing[0]!r})", field="caption_id")
    vocab = default_vocabulary()
    judged = []
    not_judged = []
    for r in labels:
        if r["caption_id"] in missing:
            continue
        row = caps.loc[r["caption_id"]]
        if row["has_hallucination"] is None or row["has_hallucination"] != row["has_hallucination"]:
            not_judged.append(r["caption_id"])
            continue
        judged.append((r, row))

    def caption_level(items: list) -> dict[str, Any]:
        tp = sum(1 for r, row in items if r["hallucinated"] and bool(row["has_hallucination"]))
        fp = sum(1 for r, row in items if not r["hallucinated"] and bool(row["has_hallucination"]))
        fn = sum(1 for r, row in items if r["hallucinated"] and not bool(row["has_hallucination"]))
        out = _prf(tp, fp, fn)
        out["n"] = len(items)
        out["n_positive"] = sum(1 for r, _ in items if r["hallucinated"])
        scores = [float(row["chair_i"]) if row["chair_i"] == row["chair_i"] and row["chair_i"] is not None else 0.0
                  for _, row in items]
        out["ap"] = average_precision(scores, [r["hallucinated"] for r, _ in items])
        out["accuracy"] = (len(items) - fp - fn) / len(items) if items else None
        return out

    result: dict[str, Any] = {
        "run": str(run.path), "labels": str(labels_path), "n_labels": len(labels),
        "n_matched": len(labels) - len(missing), "missing": missing[:20], "n_missing": len(missing),
        "not_judged": not_judged[:20], "n_not_judged": len(not_judged),
        "caption": caption_level(judged),
        "per_source": {},
    }
    for src in sorted({row["source"] for _, row in judged}):
        result["per_source"][src] = caption_level([(r, row) for r, row in judged if row["source"] == src])

    with_objs = [(r, row) for r, row in judged if r["hallucinated_objects"] is not None or not r["hallucinated"]]
    if any(r["hallucinated_objects"] is not None for r, _ in judged):
        tp = fp = fn = 0
        for r, row in with_objs:
            gold = {_canon(o, vocab) for o in (r["hallucinated_objects"] or [])}
            pred = set(row["hallucinated"])
            tp, fp, fn = tp + len(gold & pred), fp + len(pred - gold), fn + len(gold - pred)
        result["objects"] = {**_prf(tp, fp, fn), "n": len(with_objs)}
    else:
        result["objects"] = None

    span_rows = [(r, row) for r, row in judged if r["spans"] is not None]
    if span_rows:
        men = run.mentions(columns=["caption_id", "start", "end", "verdict"])
        men = men[men["verdict"] == "hallucinated"]
        by_cap: dict[str, list[tuple[int, int]]] = {}
        for cid, s, e in zip(men["caption_id"], men["start"], men["end"], strict=True):
            by_cap.setdefault(cid, []).append((int(s), int(e)))
        tp = fp = fn = 0
        for r, _ in span_rows:
            pred = list(by_cap.get(r["caption_id"], []))
            matched = 0
            for gs, ge in r["spans"]:
                hit = next((p for p in pred if p[0] < ge and gs < p[1]), None)
                if hit is not None:
                    pred.remove(hit)
                    matched += 1
            tp += matched
            fn += len(r["spans"]) - matched
            fp += len(pred)
        result["spans"] = {**_prf(tp, fp, fn), "n": len(span_rows)}
    else:
        result["spans"] = None
    return result


def format_result(res: dict[str, Any]) -> str:
    """A short plain-text report of :func:`evaluate_run`'s result."""

    def f(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [f"labels: {res['n_labels']} ({res['n_matched']} in the run, {res['n_missing']} missing, "
             f"{res['n_not_judged']} not judged: no ground truth or skipped)"]
    c = res["caption"]
    lines.append(f"caption level  n={c['n']} positives={c['n_positive']}  P={f(c['precision'])} "
                 f"R={f(c['recall'])} F1={f(c['f1'])} AP(chair_i)={f(c['ap'])} acc={f(c['accuracy'])}")
    for src, s in res["per_source"].items():
        lines.append(f"  {src:<12} n={s['n']} P={f(s['precision'])} R={f(s['recall'])} F1={f(s['f1'])} AP={f(s['ap'])}")
    for key, title in (("objects", "object level "), ("spans", "span level   ")):
        o = res.get(key)
        if o:
            lines.append(f"{title}  n={o['n']} tp={o['tp']} fp={o['fp']} fn={o['fn']}  P={f(o['precision'])} "
                         f"R={f(o['recall'])} F1={f(o['f1'])}")
    if res["n_missing"]:
        lines.append(f"missing caption ids (first {len(res['missing'])}): {', '.join(res['missing'])}")
    return "\n".join(lines)
