"""CPU work of the whole `caption-audit run`, counted in instructions: a figure the machine's speed does not move.

On this project's shared 2-core machine the same command took 7 s one session and 12-14 s the
next, and CPU-seconds moved with it (the 1.246M-caption file cost 1.4-1.5x the CPU-seconds at a
slow moment), so timing two releases one after the other cannot resolve a 5% change. The number
of instructions a run executes does not depend on the machine's load (two runs of the same code
agreed within 0.01%). This benchmark runs the
command under Valgrind's ``cachegrind`` (``--cache-sim=no``: instruction counts only, about 30-50x
slower than a plain run) and reports, per workload:

* ``main_ginstr``: instructions of the command's own process, in billions: the run's critical
  path in one process (start-up, ingest, parse, score, tables, summary);
* ``forked``: each forked child's count (the side job that writes objects.parquet, and with
  ``--workers 2`` the pool's workers). Cachegrind copies a process's counters into a child at the
  fork, so a child's count includes its parent's work up to that moment: compare children of the
  same workload across releases, do not add them to the parent's.

Workloads are :mod:`run_e2e`'s start-up runs (5 COCO captions; 5 long OPERA captions that need
spaCy's parser; 5 COCO captions against CHAIR's whole 123,287-image table) and, with
``--coco N``, the first N COCO val2017 captions against CHAIR's table with one and two workers.
The environment is fixed so that two runs count the same: ``PYTHONHASHSEED=0`` (string hashes,
hence set and dict layouts), ``OPENBLAS_NUM_THREADS=1`` (OpenBLAS's threads spin while they wait,
and under Valgrind, which runs one thread at a time, the spinning dominates the count), and a
byte-code cache warmed by an unmeasured first run. Counts differ from a native run's where a
library picks its code path by CPU (e.g. BLAS kernels); for comparing releases that does not
matter.

    python benchmarks/instructions.py [--coco 2500] [--repo OTHER_CHECKOUT] [--out FILE]

Needs ``valgrind`` (Debian: ``apt-get install valgrind``) and ``../shared/data``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_e2e import CHAIR_GT, COCO, REPO, SHARED, prepare, run_command  # noqa: E402

_SUMMARY = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def count(flags: list[str], work: Path, env: dict[str, str], workers: int = 1) -> dict:
    """Instruction counts of one run: the main process's and each forked child's."""
    work.mkdir(parents=True)
    cmd = run_command(flags, work / "run", workers)
    t = time.perf_counter()
    proc = subprocess.Popen(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                             f"--cachegrind-out-file={work}/cg.%p", f"--log-file={work}/valgrind.%p", *cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=env["PYTHONPATH"])
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"run failed under valgrind (rc {proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    counts = {}
    for f in work.glob("cg.*"):
        got = _SUMMARY.search(f.read_text())
        if got:
            counts[int(f.name.split(".")[1])] = int(got.group(1))
    main = counts.pop(proc.pid)  # valgrind runs the program in its own process: Popen's pid
    return {"main_ginstr": round(main / 1e9, 3), "forked_ginstr": [round(n / 1e9, 3) for _, n in sorted(counts.items())],
            "valgrind_wall_s": round(time.perf_counter() - t, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coco", type=int, default=2500, help="COCO captions for the workers rows (0: none)")
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout to count (default: this one)")
    ap.add_argument("--pycache", type=Path, default=Path(tempfile.gettempdir()) / "caption-audit-bench-pycache")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "instructions.json")
    a = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind not found (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    if not CHAIR_GT.exists() or not COCO.exists():
        print(f"shared data not found under {SHARED}", file=sys.stderr)
        return 2
    env = {**os.environ, "PYTHONPATH": str(a.repo.resolve()), "PYTHONPYCACHEPREFIX": str(a.pycache),
           "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    git = subprocess.run(["git", "-C", str(a.repo), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.platform(),
                     "python": platform.python_version(), "commit": git.stdout.strip(), "workloads": {}}
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        w = prepare(tmp)
        subprocess.run(run_command(w["startup"]["opera_5"], tmp / "warm"), env=env, cwd=env["PYTHONPATH"],
                       check=True, stdout=subprocess.DEVNULL)  # warms the byte-code cache: not counted
        jobs = [(name, flags, 1) for name, flags in w["startup"].items()]
        if a.coco:
            coco = json.loads(COCO.read_text())
            sub = tmp / f"coco_{a.coco}.json"
            sub.write_text(json.dumps({**coco, "annotations": coco["annotations"][: a.coco]}))
            flags = ["--coco-captions", str(sub), "--objects", str(CHAIR_GT)]
            jobs += [(f"coco_{a.coco}_w1", flags, 1), (f"coco_{a.coco}_w2", flags, 2)]
        for name, flags, workers in jobs:
            got = count(flags, tmp / name, env, workers)
            results["workloads"][name] = got
            rows.append((name, got))
            print(f"{name:28s} main {got['main_ginstr']:8.3f} G  forked {got['forked_ginstr']}  "
                  f"({got['valgrind_wall_s']} s under valgrind)", flush=True)
    print()
    print("| workload | main process (G instructions) | forked children (G, include the parent's count at the fork) |")
    print("|---|---:|---|")
    for name, got in rows:
        print(f"| {name} | {got['main_ginstr']:.3f} | {', '.join(f'{x:.3f}' for x in got['forked_ginstr']) or '-'} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
