"""End-to-end ``--workers`` scaling: wall time of the whole ``caption-audit run`` command.

Workloads (real data under ``$CAPTION_AUDIT_SHARED_DATA``, default ``../shared/data``), ground
truth CHAIR's object table (123k images) via ``--objects``:

* ``coco``: the 25,014 COCO val2017 captions (``--coco-captions``; COCO is also the reference source,
  so the reference pass parses every caption too);
* ``opera``: the 6,000 OPERA LVLM captions (12 JSONL files, ``--captions``).

Each setting runs ``--repeats`` times (default 3) in a fresh process, the worker counts interleaved
(1, 2, 1, 2, ...: a load that changes during the benchmark hits every count alike); the script
prints the min and median wall time and the median CPU time (all processes) per workload and worker
count, the load average, and the speedup of the medians, and checks that the run folders of every
worker count are identical (all tables, summary.json minus timings). Python
byte code is cached under a temp prefix (``PYTHONPYCACHEPREFIX``, one warm-up run first), as in an
installed package, even where the environment sets ``PYTHONDONTWRITEBYTECODE``::

    python benchmarks/workers_scaling.py                         # both workloads, --workers 1 and 2
    python benchmarks/workers_scaling.py --workload opera --repeats 1 --workers 1 2 4

On a shared machine the numbers are noisy: read the minimum next to the median.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def _inputs(workload: str) -> list[str]:
    objects = ["--objects", str(SHARED / "chair_standalone" / "chair_imid_to_objects.json")]
    if workload == "coco":
        return ["--coco-captions", str(SHARED / "coco_val2017_captions" / "captions_val2017.json"), *objects]
    files = sorted((SHARED / "opera" / "chair_eval_results").glob("*/*.jsonl"))
    return [a for f in files for a in ("--captions", str(f))] + objects


def _run(workload: str, workers: int, out: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the command and its workers) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "caption_audit.cli", "run", *_inputs(workload), "--out", str(out), "--quiet",
           "--no-resume", "--workers", str(workers)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _same(a: Path, b: Path) -> bool:
    sys.path.insert(0, str(REPO))
    from tests._scale_data import read_run

    ra, rb = read_run(a), read_run(b)
    return all(ra[k] == rb[k] if k == "summary" else ra[k].equals(rb[k]) for k in ra)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", choices=["coco", "opera", "both"], default="both")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ca-workers-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONPYCACHEPREFIX": f"{tmp}/pycache"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        results = []
        for workload in (["coco", "opera"] if args.workload == "both" else [args.workload]):
            _run("opera", 1, Path(tmp) / "warmup", env)  # fills the byte-code cache
            runs: dict[int, list[float]] = {w: [] for w in args.workers}
            cpu: dict[int, list[float]] = {w: [] for w in args.workers}
            loads = []
            for _ in range(args.repeats):
                for w in args.workers:
                    loads.append(os.getloadavg()[0])
                    wall, used = _run(workload, w, Path(tmp) / f"{workload}-w{w}", env)
                    runs[w].append(wall)
                    cpu[w].append(used)
            for w in args.workers:
                times = runs[w]
                print(f"{workload:6s} --workers {w}: min {min(times):6.1f} s  median {statistics.median(times):6.1f} s"
                      f"  ({', '.join(f'{t:.1f}' for t in times)}); CPU median {statistics.median(cpu[w]):.1f} s",
                      flush=True)
            print(f"{workload:6s} 1-min load average before the runs: median {statistics.median(loads):.2f} "
                  f"(min {min(loads):.2f}, max {max(loads):.2f})", flush=True)
            base = args.workers[0]
            for w in args.workers[1:]:
                same = _same(Path(tmp) / f"{workload}-w{base}", Path(tmp) / f"{workload}-w{w}")
                speed = statistics.median(runs[base]) / statistics.median(runs[w])
                print(f"{workload:6s} speedup --workers {w} vs {base}: {speed:.2f}x (medians), "
                      f"{min(runs[base]) / min(runs[w]):.2f}x (mins); run folders identical: {same}", flush=True)
            results.append({"workload": workload, "seconds": runs, "cpu_seconds": cpu, "load_average": loads})
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "load_at_end": os.getloadavg(),
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
