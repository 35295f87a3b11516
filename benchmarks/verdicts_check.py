"""Record, or compare against a record, every mention a whole `caption-audit run` produces.

Speed changes must not change verdicts. This runs the command exactly as a user does on
(a) the 6,000 OPERA LVLM captions and (b) the first 5,000 COCO val2017 captions, both with
CHAIR's object table as ground truth, and keeps per mention
(caption_id, idx, start, end, canonical, verdict, negated, hedged, nonvisual, count,
count_verdict), plus each caption's status.

    python benchmarks/verdicts_check.py record /tmp/verdicts_before.json
    python benchmarks/verdicts_check.py compare /tmp/verdicts_before.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
CHAIR_GT = SHARED / "chair_standalone" / "chair_imid_to_objects.json"
MENTION_COLS = ["caption_id", "idx", "start", "end", "canonical", "verdict", "negated", "hedged",
                "nonvisual", "count", "count_verdict"]


def workloads(tmp: Path, n_coco: int = 5000) -> dict[str, list[str]]:
    """CLI input flags per workload (files written to ``tmp`` where a subset is needed)."""
    opera = sorted(glob.glob(str(SHARED / "opera" / "chair_eval_results" / "*" / "*.jsonl")))
    with open(SHARED / "coco_val2017_captions" / "captions_val2017.json") as fh:
        coco = json.load(fh)
    coco["annotations"] = coco["annotations"][:n_coco]
    sub = tmp / f"coco_first{n_coco}.json"
    sub.write_text(json.dumps(coco))
    flags_opera = [x for f in opera for x in ("--captions", f)]
    return {"opera": flags_opera, "coco5000": ["--coco-captions", str(sub)]}


def run_and_collect(flags: list[str], out: Path) -> dict[str, list]:
    import pyarrow.parquet as pq

    cmd = [sys.executable, "-m", "caption_audit.cli", "run", *flags, "--objects", str(CHAIR_GT),
           "--out", str(out), "--quiet", "--bootstrap", "10"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    m = pq.read_table(out / "mentions.parquet", columns=MENTION_COLS).to_pylist()
    c = pq.read_table(out / "captions.parquet", columns=["caption_id", "status"]).to_pylist()
    rows = sorted([[r[k] for k in MENTION_COLS] for r in m], key=lambda r: (r[0], r[1]))
    return {"mentions": rows, "captions": sorted([[r["caption_id"], r["status"]] for r in c])}


def collect() -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        return {name: run_and_collect(flags, tmp / name) for name, flags in workloads(tmp).items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["record", "compare"])
    ap.add_argument("file", type=Path)
    a = ap.parse_args()
    if not CHAIR_GT.exists():
        print(f"shared data not found under {SHARED}", file=sys.stderr)
        return 2
    now = collect()
    if a.action == "record":
        a.file.write_text(json.dumps(now))
        for k, v in now.items():
            print(f"{k}: {len(v['captions'])} captions, {len(v['mentions'])} mentions recorded")
        return 0
    before = json.loads(a.file.read_text())
    ok = True
    for k, v in now.items():
        b = before[k]
        now_set = {json.dumps(r) for r in v["mentions"]}
        before_set = {json.dumps(r) for r in b["mentions"]}
        diff_m = sorted(now_set - before_set)
        gone = sorted(before_set - now_set)
        same_caps = v["captions"] == b["captions"]
        print(f"{k}: {len(v['mentions'])} mentions (before {len(b['mentions'])}); "
              f"{'identical' if not diff_m and not gone and same_caps else 'DIFFERENT'}")
        for r in gone[:10]:
            print("  - before:", r)
        for r in diff_m[:10]:
            print("  + after: ", r)
        ok = ok and not diff_m and not gone and same_caps
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
