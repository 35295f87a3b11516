"""Agreement of a run's claim verdicts with claim-level human labels.

Label file: JSONL, one claim per line (docs/claims.md)::

    {"caption_id": "cl-139-1", "kind": "count", "span": [4, 18], "subject": "giraffe",
     "value": "3", "label": false}

``label`` says whether the claim is true of the image; ``"unclear"`` rows are counted and
skipped. A run claim matches a labelled claim of the same caption and kind whose character
span overlaps; matching is one-to-one (the largest overlap first).

Per kind, for the verdict *contradicted* (the tool's alarm):

.. math::
    P = \\frac{|\\{\\text{contradicted} \\wedge \\text{label false}\\}|}{|\\{\\text{contradicted}\\}|}, \\qquad
    R = \\frac{|\\{\\text{contradicted} \\wedge \\text{label false}\\}|}{|\\{\\text{label false}\\}|}

A labelled claim the run did not find counts as a miss in R; a run claim with no label is not
counted (the labeller did not judge it). *Support* precision (labelled true among claims the
tool calls supported) is reported too: a tool that supports false claims hides errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from caption_audit.errors import InputError
from caption_audit.semantic.evaluate import _prf
from caption_audit.types import ClaimKind

_LABELS = {True: True, False: False, "true": True, "false": False, "unclear": None}


def is_claim_label_file(path: str | Path) -> bool:
    """True when the first record of a JSONL label file is a claim label (has ``kind``)."""
    from caption_audit.semantic.evaluate import read_label_text

    for line in read_label_text(path).splitlines():
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                return False
            return isinstance(rec, dict) and "kind" in rec and "label" in rec
    return False


def load_claim_labels(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a claim label file.

    Raises:
        InputError: naming the file, line and field of the first bad record.
    """
    from caption_audit.semantic.evaluate import iter_label_records

    p = Path(path)
    kinds = {k.value for k in ClaimKind}
    rows: list[dict[str, Any]] = []
    for n, rec, cid in iter_label_records(p):
        kind = rec.get("kind")
        if kind not in kinds:
            raise InputError(str(p), f"must be one of {', '.join(sorted(kinds))}", line=n, field="kind")
        span = rec.get("span")
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                                 for x in span) and 0 <= span[0] < span[1]):
            raise InputError(str(p), "must be [start, end] integers with start < end", line=n, field="span")
        label = rec.get("label")
        if isinstance(label, str):
            label = label.lower()
        if label not in _LABELS:
            raise InputError(str(p), 'must be true, false or "unclear"', line=n, field="label")
        rows.append({"caption_id": str(cid), "kind": kind, "span": (span[0], span[1]),
                     "subject": str(rec.get("subject", "")), "value": str(rec.get("value", "")),
                     "label": _LABELS[label], "line": n})
    if not rows:
        raise InputError(str(p), "no labels in the file")
    return rows


def match_claims(labels: list[dict[str, Any]], run_claims: dict[tuple[str, str], list[tuple[int, int, str]]]
                 ) -> list[tuple[dict[str, Any], str | None]]:
    """Pair each labelled claim with the verdict of an overlapping run claim (or None).

    ``run_claims`` maps ``(caption_id, kind)`` to ``[(start, end, verdict), ...]``; each run
    claim is used at most once, the largest overlap first.
    """
    pool = {k: list(v) for k, v in run_claims.items()}
    out: list[tuple[dict[str, Any], str | None]] = []
    for r in labels:
        cands = pool.get((r["caption_id"], r["kind"]), [])
        gs, ge = r["span"]
        best, best_ov = None, 0
        for c in cands:
            ov = min(ge, c[1]) - max(gs, c[0])
            if ov > best_ov:
                best, best_ov = c, ov
        if best is not None:
            cands.remove(best)
        out.append((r, best[2] if best is not None else None))
    return out


def evaluate_claims(run_path: str | Path, labels_path: str | Path) -> dict[str, Any]:
    """Compare a run folder's claim verdicts with claim-level labels.

    Returns:
        ``{"n_labels", "n_unclear", "n_missing_captions", "kinds": {kind: {contradicted P/R/F1,
        "support_precision", "n_true", "n_false", "found"}}, "all": {...}}``.

    Raises:
        InputError: bad label file, a run without claims, or no labelled caption in the run.
    """
    from caption_audit.store.reader import RunFolder

    run = RunFolder(run_path)
    labels = load_claim_labels(labels_path)
    try:
        claims = run.claims(columns=["caption_id", "kind", "start", "end", "verdict"])
    except InputError:
        raise InputError(str(run.path), "the run has no claims.parquet (made by caption-audit >= 0.2)") from None
    caption_ids = set(run.captions(columns=["caption_id"])["caption_id"])
    judged = [r for r in labels if r["label"] is not None]
    present = [r for r in judged if r["caption_id"] in caption_ids]
    if judged and not present:
        raise InputError(str(labels_path), f"none of the labelled caption ids is in the run {run.path} "
                         f"(first: {judged[0]['caption_id']!r})", field="caption_id")
    by_key: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for cid, kind, s, e, v in zip(claims["caption_id"], claims["kind"], claims["start"], claims["end"],
                                  claims["verdict"], strict=True):
        by_key.setdefault((cid, kind), []).append((int(s), int(e), v))
    pairs = match_claims(present, by_key)

    def block(items: list[tuple[dict[str, Any], str | None]]) -> dict[str, Any]:
        tp = sum(1 for r, v in items if v == "contradicted" and r["label"] is False)
        fp = sum(1 for r, v in items if v == "contradicted" and r["label"] is True)
        fn = sum(1 for r, v in items if v != "contradicted" and r["label"] is False)
        sup_true = sum(1 for r, v in items if v == "supported" and r["label"] is True)
        sup_all = sum(1 for _, v in items if v == "supported")
        verdicts: dict[str, int] = {}
        for _, v in items:
            verdicts[v or "not_found"] = verdicts.get(v or "not_found", 0) + 1
        return {**_prf(tp, fp, fn), "n": len(items),
                "n_true": sum(1 for r, _ in items if r["label"] is True),
                "n_false": sum(1 for r, _ in items if r["label"] is False),
                "found": sum(1 for _, v in items if v is not None),
                "support_precision": sup_true / sup_all if sup_all else None,
                "verdicts": verdicts}

    kinds = [k.value for k in ClaimKind]
    return {
        "run": str(run.path), "labels": str(labels_path), "n_labels": len(labels),
        "n_unclear": len(labels) - len(judged), "n_missing_captions": len(judged) - len(present),
        "kinds": {k: block([p for p in pairs if p[0]["kind"] == k]) for k in kinds
                  if any(p[0]["kind"] == k for p in pairs)},
        "all": block(pairs),
    }


def format_claims_result(res: dict[str, Any]) -> str:
    """A short plain-text table of :func:`evaluate_claims`'s result."""

    def f(x: Any) -> str:
        return "  —  " if x is None else f"{x:.3f}"

    lines = [f"claim labels: {res['n_labels']} ({res['n_unclear']} unclear, "
             f"{res['n_missing_captions']} on captions missing from the run)",
             f"{'kind':<12} {'n':>4} {'false':>5} {'found':>5}   contradicted: {'P':>5} {'R':>5} {'F1':>5}"
             f"   supported: P"]
    for name, b in [*res["kinds"].items(), ("all", res["all"])]:
        lines.append(f"{name:<12} {b['n']:>4} {b['n_false']:>5} {b['found']:>5}   {'':>13}{f(b['precision'])} "
                     f"{f(b['recall'])} {f(b['f1'])}   {f(b['support_precision'])}")
    return "\n".join(lines)
