"""Scale benchmark: streaming ingest of a 1.246M-caption ShareGPT4V file, audit throughput, projection.

Run from the repository root (about 8-10 minutes on a 2-core machine, the first time about one
more minute to write the 1.2 GB file, which is then cached)::

    python benchmarks/scale.py            # full: 1,246,000-record ingest, 20k long + 100k short audits
    python benchmarks/scale.py --quick    # CI-size smoke run (under a minute)

Measures:
  (a) streaming ingest (``caption_audit.ingest.iter_load``) of the whole synthetic
      Share-Captioner-shaped file: wall time and peak RSS in a fresh subprocess, next to what a
      naive ``json.load`` of the same file costs (also in its own subprocess);
  (b) end-to-end ``caption-audit run`` throughput (parse + score + run folder) on 20,000 long
      (ShareGPT4V-like, ~830 chars) and 100,000 short (COCO-like) captions, ``--workers 1`` and ``2``;
  (c) the projected time for all 1,246,000 long captions on this machine, and per added worker.

Prints a table and writes ``benchmarks/results/scale.json``. The synthetic files live in a cache
folder (``$CAPTION_AUDIT_BENCH_CACHE``, default ``~/.cache/caption-audit-bench``), never in git.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

FULL_N = 1_246_000

INGEST_CHILD = r"""
import json, resource, sys, time
t = time.perf_counter()
mode, path = sys.argv[1], sys.argv[2]
if mode == "stream":
    from caption_audit.ingest import iter_load
    n = chars = 0
    for c in iter_load(path):
        n += 1
        chars += len(c.text or "")
else:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    n = len(data)
    chars = sum(len(r["conversations"][1]["value"]) for r in data)
print(json.dumps({"n": n, "chars": chars, "seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cache_dir() -> Path:
    d = Path(os.environ.get("CAPTION_AUDIT_BENCH_CACHE", Path.home() / ".cache" / "caption-audit-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def cached(path: Path, make, label: str) -> Path:
    if not path.exists():
        t = time.perf_counter()
        print(f"writing {label} -> {path} ...", flush=True)
        make(path)
        print(f"  done in {time.perf_counter() - t:.1f} s ({path.stat().st_size / 1e6:,.0f} MB)", flush=True)
    return path


def child(args: list[str], timeout: float | None = None) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a subprocess; returns (result, wall seconds, its peak RSS in MB)."""
    t = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child so far
    if r.returncode != 0:
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(args)}\n{r.stderr[-3000:]}")
    return r, wall, peak


def measure_ingest(path: Path, mode: str) -> dict:
    r, wall, _ = child([sys.executable, "-c", INGEST_CHILD, mode, str(path)])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    size = path.stat().st_size
    out.update(mode=mode, wall_seconds=round(wall, 2), file_mb=round(size / 1e6, 1),
               mb_per_s=round(size / 1e6 / out["seconds"], 1),
               captions_per_s=round(out["n"] / out["seconds"]), seconds=round(out["seconds"], 2),
               peak_rss_mb=round(out["peak_rss_mb"], 1), load_avg=round(os.getloadavg()[0], 2))
    return out


def measure_audit(label: str, flags: list[str], workers: int, bootstrap: int) -> dict:
    cli = shutil.which("caption-audit", path=str(Path(sys.executable).parent)) or "caption-audit"
    out = Path(tempfile.mkdtemp(prefix="ca-bench-"))
    load = os.getloadavg()[0]
    try:
        # each run in its own process: RUSAGE_CHILDREN's max is reset by a wrapper process
        wrapper = ("import resource,subprocess,sys,json;r=subprocess.run(sys.argv[1:]);"
                   "print(json.dumps({'rc':r.returncode,'peak':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))")
        r, wall, _ = child([sys.executable, "-c", wrapper, cli, "run", *flags, "--out", str(out), "--quiet",
                            "--no-resume", "--workers", str(workers), "--bootstrap", str(bootstrap)])
        info = json.loads(r.stdout.strip().splitlines()[-1])
        if info["rc"] != 0:
            raise SystemExit(f"caption-audit run failed: {r.stderr[-3000:]}")
        s = json.loads((out / "summary.json").read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    n = s["counts"]["input"]
    return {"workload": label, "workers": workers, "captions": n, "scored": s["counts"]["scored"],
            "wall_seconds": round(wall, 2), "audit_seconds": s["run"]["seconds"],
            "captions_per_s": round(n / wall, 1), "audit_captions_per_s": round(n / s["run"]["seconds"], 1),
            "peak_rss_mb_largest_process": round(info["peak"], 1), "load_avg": round(load, 2)}


def projection(full_n: int, runs: list[dict], ingest_rate: float) -> list[dict]:
    by_w = {r["workers"]: r["captions_per_s"] for r in runs if r["workload"] == "long"}
    r1 = by_w.get(1)
    if not r1:
        return []
    gain = by_w.get(2, r1) - r1  # captions/s one more worker added here
    rows = []
    for w in (1, 2, 4, 8, 16):
        measured = w in by_w
        rate = by_w[w] if measured else r1 + (w - 1) * max(gain, 0.0)
        rate = min(rate, ingest_rate)  # the single reader (main process) is the ceiling
        ideal = min(w * r1, ingest_rate)  # perfect scaling, one free core per worker
        rows.append({"workers": w, "captions_per_s": round(rate, 1), "hours_for_full": round(full_n / rate / 3600, 2),
                     "ideal_captions_per_s": round(ideal, 1), "ideal_hours": round(full_n / ideal / 3600, 2),
                     "basis": "measured" if measured else "projected: + measured gain of worker 2 per worker"})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI-size smoke run: 50k ingest, 500 long, 5k short")
    ap.add_argument("--full-n", type=int, default=None, help=f"records in the ingest file (default {FULL_N:,})")
    ap.add_argument("--long", type=int, default=None, help="long captions for the audit runs (default 20,000)")
    ap.add_argument("--short", type=int, default=None, help="short captions for the audit runs (default 100,000)")
    ap.add_argument("--workers", default="1,2", help="comma list of --workers values (default 1,2)")
    ap.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples in the audit runs")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive json.load contrast")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    args = ap.parse_args(argv)
    full_n = args.full_n or (50_000 if args.quick else FULL_N)
    n_long = args.long or (500 if args.quick else 20_000)
    n_short = args.short or (5_000 if args.quick else 100_000)
    workers = [int(w) for w in args.workers.split(",")]
    cache = cache_dir()
    t_all = time.perf_counter()

    big = cached(cache / f"sharegpt4v_synth_{full_n}.json", lambda p: synth.write_sharegpt4v(p, full_n, seed=0),
                 f"{full_n:,}-record ShareGPT4V-shaped JSON")
    n_gt = max(n_long, n_short // 5)
    objects = cached(cache / f"objects_{n_gt}.json", lambda p: synth.write_objects(p, n_gt), "GT objects")
    long_f = cached(cache / f"sharegpt4v_long_{n_long}.json",
                    lambda p: synth.write_sharegpt4v(p, n_long, seed=1, coco_only=True, coco_images=n_gt),
                    f"{n_long:,} long captions")
    short_f = cached(cache / f"captions_short_{n_short}.json",
                     lambda p: synth.write_coco_captions(p, n_short // 5), f"{n_short:,} short captions")

    print("(a) streaming ingest ...", flush=True)
    ingest = [measure_ingest(big, "stream")]
    if not args.no_naive:
        print("    naive json.load ...", flush=True)
        ingest.append(measure_ingest(big, "json.load"))
    audits = []
    for label, flags in (("long", ["--sharegpt4v", str(long_f), "--objects", str(objects)]),
                         ("short", ["--coco-captions", str(short_f), "--objects", str(objects)])):
        for w in workers:
            print(f"(b) audit {label} --workers {w} ...", flush=True)
            audits.append(measure_audit(label, flags, w, args.bootstrap))
    proj = projection(FULL_N, audits, ingest[0]["captions_per_s"])

    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "files": {"ingest": {"records": full_n, "mb": ingest[0]["file_mb"],
                             "mean_chars": round(ingest[0]["chars"] / max(ingest[0]["n"], 1), 1)},
                  "long": n_long, "short": n_short},
        "ingest": ingest, "audit": audits, "projection_full_1246k_long": proj,
        "quick": args.quick, "total_seconds": round(time.perf_counter() - t_all, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_tables(result)
    print(f"\nwrote {args.out}")
    return 0


def print_tables(r: dict) -> None:
    f = r["files"]["ingest"]
    print(f"\n(a) ingest of {f['records']:,} records, {f['mb']:,.0f} MB, mean caption {f['mean_chars']:.0f} chars")
    print(f"{'reader':<12}{'seconds':>10}{'MB/s':>8}{'captions/s':>12}{'peak RSS MB':>13}")
    for i in r["ingest"]:
        print(f"{i['mode']:<12}{i['seconds']:>10.1f}{i['mb_per_s']:>8.1f}{i['captions_per_s']:>12,}{i['peak_rss_mb']:>13,.0f}")
    print("\n(b) caption-audit run, end to end (wall incl. start-up, spaCy load, run folder, bootstrap)")
    print(f"{'workload':<10}{'workers':>8}{'captions':>10}{'wall s':>9}{'captions/s':>12}{'peak RSS MB':>13}{'load':>6}")
    for a in r["audit"]:
        print(f"{a['workload']:<10}{a['workers']:>8}{a['captions']:>10,}{a['wall_seconds']:>9.1f}"
              f"{a['captions_per_s']:>12,.1f}{a['peak_rss_mb_largest_process']:>13,.0f}{a['load_avg']:>6.1f}")
    print(f"\n(c) projected time for all {FULL_N:,} long captions")
    print(f"{'workers':>8}{'captions/s':>12}{'hours':>8}{'ideal/s':>10}{'ideal h':>9}  basis")
    for p in r["projection_full_1246k_long"]:
        print(f"{p['workers']:>8}{p['captions_per_s']:>12,.1f}{p['hours_for_full']:>8.2f}"
              f"{p['ideal_captions_per_s']:>10,.1f}{p['ideal_hours']:>9.2f}  {p['basis']}")


if __name__ == "__main__":
    sys.exit(main())
