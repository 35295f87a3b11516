"""Pins every output of the caption-quality checks on the real captions: the 6,000 OPERA LVLM
captions and the 25,014 COCO val2017 captions (skipped without ../shared/data).

``tests/data/quality/pin.json`` holds, per workload, the flag counts (readable) and a SHA-256
of everything the checks return: per caption ``quality_issues``, ``values`` and ``reasons`` of
:func:`~caption_audit.quality.checks.check_caption`; the ``captions``, ``reused`` and
``openers`` tables of :class:`~caption_audit.quality.corpus.CorpusAccumulator`. A speed-up must
leave the digests unchanged; a deliberate rule change re-writes the pin
(``python tests/test_quality_pin.py``) and says in the commit what changed and why.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import pytest

if __name__ == "__main__":  # python tests/test_quality_pin.py: re-write the pin
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import SHARED, shared

PIN = Path(__file__).with_name("data") / "quality" / "pin.json"
CHECK_FLAGS = ("repetition", "truncated", "garbage", "non_english", "empty")
CORPUS_FLAGS = ("duplicate", "near_duplicate", "boilerplate")


def _rows(workload: str) -> list[tuple[str, str, str, str]]:
    """(source, image_id, caption_id, text) in the order of benchmarks/quality_cost.py."""
    if workload == "opera":
        root = shared("opera", "chair_eval_results")
        rows = []
        for f in sorted(root.glob("*/*.jsonl")):
            src = f"{f.parent.name}/{f.stem}"
            for i, line in enumerate(f.read_text().splitlines()):
                r = json.loads(line)
                rows.append((src, str(r["image_id"]), f"{src}:{i}", r["caption"]))
        return rows
    data = json.loads(shared("coco_val2017_captions", "captions_val2017.json").read_text())
    return [("coco", str(a["image_id"]), str(a["id"]), a["caption"]) for a in data["annotations"]]


def _plain(v):
    """JSON-stable form of a table cell: NA -> None, numpy scalars -> Python, floats to 12 digits."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return None if math.isnan(v) else float(f"{v:.12g}")
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if type(v).__name__ == "NAType":
        return None
    return v


def outputs(workload: str, batch: int = 0) -> dict:
    """Flag counts and digests of all quality outputs on one workload: caption by caption
    (``check_caption`` + ``CorpusAccumulator.add``), or with ``batch`` > 0 in batches of that
    many captions (``check_captions`` + ``add_batch``, as the batch scorer and the quality pass)."""
    from caption_audit.quality.checks import (
        CaptionBatch,
        CaptionText,
        check_caption,
        check_captions,
    )
    from caption_audit.quality.corpus import CorpusAccumulator
    from caption_audit.text.checks import text_problem

    rows = _rows(workload)
    acc = CorpusAccumulator()
    h_checks = hashlib.sha256()
    counts = dict.fromkeys(CHECK_FLAGS, 0)
    results = []
    if batch:
        for b in range(0, len(rows), batch):
            chunk = rows[b:b + batch]
            cb = CaptionBatch([r[3] for r in chunk])
            cols = check_captions(cb, [text_problem(r[3]) for r in chunk])
            results.extend(cols[i] for i in range(len(chunk)))
            acc.add_batch([r[0] for r in chunk], [r[1] for r in chunk], [r[2] for r in chunk], cb)
    else:
        for src, img, cid, text in rows:
            c = CaptionText(text)
            results.append(check_caption(c, problem=text_problem(text)))
            acc.add(src, img, cid, c)
    for r in results:
        h_checks.update(json.dumps([r.quality_issues, {k: _plain(v) for k, v in r.values.items()}, r.reasons],
                                   sort_keys=True).encode())
        for f in r.quality_issues:
            counts[f] += 1
    res = acc.finish()
    digests = {"checks": h_checks.hexdigest()}
    for name, df in (("captions", res.captions), ("reused", res.reused), ("openers", res.openers)):
        recs = [[_plain(v) for v in r] for r in df.itertuples(index=False)]
        digests[name] = hashlib.sha256(json.dumps([list(df.columns), recs]).encode()).hexdigest()
    corpus_counts = {f: int(sum(f in i for i in res.captions["corpus_issues"])) for f in CORPUS_FLAGS}
    return {"n": len(rows), "flags": counts, "corpus_flags": corpus_counts, "sha256": digests}


@pytest.mark.parametrize("batch", [0, 1000])
@pytest.mark.parametrize("workload", ["opera", "coco"])
def test_quality_outputs_are_pinned(workload, batch):
    got = outputs(workload, batch)
    want = json.loads(PIN.read_text())[workload]
    assert got["n"] == want["n"]
    assert (got["flags"], got["corpus_flags"]) == (want["flags"], want["corpus_flags"])
    assert got["sha256"] == want["sha256"]


if __name__ == "__main__":
    if not SHARED.exists():
        sys.exit(f"real data not found at {SHARED}")
    PIN.write_text(json.dumps({w: outputs(w) for w in ("opera", "coco")}, indent=2) + "\n")
    print(PIN.read_text())
