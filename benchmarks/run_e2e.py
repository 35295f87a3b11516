"""Throughput a user actually gets: the whole `caption-audit run`, timed as a user runs it.

Each figure is the wall clock of ``python -m caption_audit.cli run ... --quiet`` in a fresh
subprocess (ingest -> parse -> score -> Parquet -> summary with bootstrap CIs), median of
--repeats runs:

* start-up: a text-only run on 5 captions (5 COCO captions, and 5 long OPERA captions that
  need the statistical parser), ground truth = CHAIR's objects of those 5 images; and the
  same 5 COCO captions against CHAIR's whole 123,287-image object table.
* whole run and steady state on (a) the 25,014 COCO val2017 captions and (b) the 6,000
  OPERA LVLM captions (12 files), both against CHAIR's object table
  (chair_standalone/chair_imid_to_objects.json, ``--objects``). Steady state =
  (N - N/10) / (time on N - time on N/10); the N/10 inputs are the first tenth of the COCO
  annotations and the first tenth of each OPERA file. One process and ``--workers 2``.
* peak RSS: ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a wrapper process that runs
  only that command (the largest single process; with --workers 2 the workers are not summed).

The machine drifts: on 2026-12-02 the same pure-Python loop ran 1.6x slower at 20:20 than at
19:55 UTC, and the same run took 7 s one session and 12 s the next. So the runs of a workload are
interleaved (tenth, whole, tenth, whole, ...: each steady-state figure comes from a pair run
minutes apart at most, and the median over pairs is reported), and a fixed pure-Python workload
(:func:`speed_probe`, string and dict work like the text stage's) is timed before every run: its
median and range are printed beside each figure, so that figures taken at different moments can
be compared (lower is faster).

The reference CHAIR implementation's throughput on this machine type, measured idle by the
issue author, is printed for context: 198 captions/s on (b), 1,388 on (a) (one process).

Python byte-code: this environment sets PYTHONDONTWRITEBYTECODE and its site-packages hold no
``.pyc`` files, so every process would compile every module it imports (seconds) -- a cost an
installed package does not have. The runs therefore use a byte-code cache under
``--pycache`` (``PYTHONPYCACHEPREFIX``), warmed by an untimed first run;
``--no-bytecode-cache`` times the environment as it is.

    python benchmarks/run_e2e.py [--quick] [--repeats 3] [--workloads coco,opera] [--no-workers2]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
CHAIR_GT = SHARED / "chair_standalone" / "chair_imid_to_objects.json"
COCO = SHARED / "coco_val2017_captions" / "captions_val2017.json"
OPERA_GLOB = str(SHARED / "opera" / "chair_eval_results" / "*" / "*.jsonl")
REFERENCE_CHAIR = {"coco": 1388.0, "opera": 198.0}
TARGET_RATIO = 10.0

# runs a command, then prints its wall time and the children's peak RSS
_WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "wall = time.perf_counter() - t\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps({'rc': p.returncode, 'wall_s': wall, 'cpu_s': u.ru_utime + u.ru_stime,\n"
    "                  'peak_rss_mb': u.ru_maxrss / 1024, 'stderr': p.stderr[-2000:]}))\n"
)


def speed_probe() -> float:
    """Seconds for a fixed pure-Python workload (split, lower, dict look-ups and counting over
    20,000 short sentences, five times): the machine's speed at this moment, for comparing
    figures taken at different moments (lower is faster)."""
    words = ["a", "dog", "on", "the", "red", "sofa", "next", "to", "two", "cats", "in", "room"]
    text = [" ".join(words[(i + k) % len(words)] for k in range(9)) for i in range(20_000)]
    known = {"dog": 1, "sofa": 2, "cats": 3, "room": 4}
    t = time.perf_counter()
    hits = 0
    for _ in range(5):
        for sent in text:
            for w in sent.lower().split():
                if w in known:
                    hits += known[w]
    return time.perf_counter() - t


def run_command(flags: list[str], out: Path, workers: int = 1) -> list[str]:
    """The command line a user types for ``caption-audit run`` on ``flags`` (quiet, from scratch)."""
    cmd = [sys.executable, "-m", "caption_audit.cli", "run", *flags, "--out", str(out), "--quiet", "--no-resume"]
    return cmd + ["--workers", str(workers)] if workers > 1 else cmd


def timed_run(flags: list[str], out: Path, env: dict[str, str], workers: int = 1) -> dict:
    """One `caption-audit run` in a fresh process: wall seconds and peak RSS."""
    cmd = run_command(flags, out, workers)
    probe = speed_probe()
    res = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, env=env,
                         cwd=env.get("PYTHONPATH", REPO))
    got = json.loads(res.stdout.strip().splitlines()[-1])
    if got["rc"] != 0:
        raise SystemExit(f"run failed (rc {got['rc']}): {' '.join(cmd)}\n{got['stderr']}")
    got["probe_s"] = probe
    return got


def summarise(runs: list[dict]) -> dict:
    """Median wall and CPU seconds, every wall time, peak RSS and the speed probes of ``runs``."""
    walls = [r["wall_s"] for r in runs]
    probes = [r["probe_s"] for r in runs]
    return {"wall_s": statistics.median(walls), "walls_s": [round(w, 3) for w in walls],
            "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
            "probe_s": round(statistics.median(probes), 3), "probes_s": [round(p, 3) for p in probes]}


def median_run(flags: list[str], tmp: Path, env: dict[str, str], repeats: int, workers: int = 1) -> dict:
    return summarise([timed_run(flags, tmp / f"run{i}", env, workers) for i in range(repeats)])


def paired_runs(spec: dict, tmp: Path, env: dict[str, str], repeats: int, workers: int) -> tuple[dict, dict, list]:
    """The tenth and the whole input, interleaved ``repeats`` times: their summaries and, per
    pair, the steady state (captions/s and captions per CPU-second, None where undefined)."""
    fulls, tenths, pairs = [], [], []
    for i in range(repeats):
        tenth = timed_run(spec["tenth"], tmp / f"tenth_w{workers}_{i}", env, workers)
        full = timed_run(spec["full"], tmp / f"full_w{workers}_{i}", env, workers)
        fulls.append(full)
        tenths.append(tenth)
        n = spec["n"] - spec["n_tenth"]
        dt, dc = full["wall_s"] - tenth["wall_s"], full["cpu_s"] - tenth["cpu_s"]
        pairs.append((n / dt if dt > 0 else None, n / dc if dc > 0 else None))
    return summarise(fulls), summarise(tenths), pairs


def _median_defined(values: list) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def prepare(tmp: Path) -> dict[str, dict]:
    """Input flags for every workload (subsets written to ``tmp``)."""
    with open(COCO) as fh:
        coco = json.load(fh)
    with open(CHAIR_GT) as fh:
        chair = json.load(fh)
    anns = coco["annotations"]
    n_coco = len(anns)

    def coco_subset(n: int, name: str) -> Path:
        p = tmp / name
        p.write_text(json.dumps({**coco, "annotations": anns[:n]}))
        return p

    opera_files = sorted(glob.glob(OPERA_GLOB))
    opera_lines = [Path(f).read_text().splitlines() for f in opera_files]
    n_opera = sum(len(lines) for lines in opera_lines)
    tenth_dir = tmp / "opera_tenth"
    tenth_flags: list[str] = []
    for f, lines in zip(opera_files, opera_lines, strict=True):
        d = tenth_dir / Path(f).parent.name
        d.mkdir(parents=True, exist_ok=True)
        (d / Path(f).name).write_text("\n".join(lines[: len(lines) // 10]) + "\n")
        tenth_flags += ["--captions", str(d / Path(f).name)]

    five_coco = coco_subset(5, "coco_5.json")
    five_ids = {str(a["image_id"]) for a in anns[:5]}
    five_opera = tmp / "opera_5.jsonl"
    five_opera.write_text("\n".join(opera_lines[3][:5]) + "\n")  # llava-1.5 beam5: long, need the parser
    five_opera_ids = {str(json.loads(line)["image_id"]) for line in opera_lines[3][:5]}
    small_gt = tmp / "chair_objects_5.json"
    small_gt.write_text(json.dumps({k: chair[k] for k in sorted(five_ids | five_opera_ids) if k in chair}))
    gt = ["--objects", str(CHAIR_GT)]
    return {
        "startup": {
            "coco_5": ["--coco-captions", str(five_coco), "--objects", str(small_gt)],
            "opera_5": ["--captions", str(five_opera), "--objects", str(small_gt)],
            "coco_5_full_chair_table": ["--coco-captions", str(five_coco), *gt],
        },
        "coco": {"n": n_coco, "n_tenth": n_coco // 10,
                 "full": ["--coco-captions", str(COCO), *gt],
                 "tenth": ["--coco-captions", str(coco_subset(n_coco // 10, "coco_tenth.json")), *gt]},
        "opera": {"n": n_opera, "n_tenth": sum(len(lines) // 10 for lines in opera_lines),
                  "full": [x for f in opera_files for x in ("--captions", f)] + gt,
                  "tenth": tenth_flags + gt},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    ap.add_argument("--quick", action="store_true", help="one run per throughput figure (start-up keeps 3)")
    ap.add_argument("--workloads", default="coco,opera")
    ap.add_argument("--no-workers2", action="store_true", help="skip the --workers 2 rows")
    ap.add_argument("--pycache", type=Path, default=Path(tempfile.gettempdir()) / "caption-audit-bench-pycache")
    ap.add_argument("--no-bytecode-cache", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "run_e2e.json")
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout to time (default: this one), e.g. for a before/after")
    a = ap.parse_args()
    if not CHAIR_GT.exists() or not COCO.exists():
        print(f"shared data not found under {SHARED}", file=sys.stderr)
        return 2
    repeats = 1 if a.quick else a.repeats
    env = {**os.environ, "PYTHONPATH": str(a.repo.resolve())}
    if not a.no_bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(a.pycache)
    load_before = os.getloadavg()
    results: dict = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "loadavg_before": [round(x, 2) for x in load_before]},
        "caveat": "the machine is shared with other engineers (up to 8 processes on 2 cores); figures are noisy "
                  "and slower than on an idle machine",
        "repo": str(a.repo.resolve()),
        "bytecode_cache": None if a.no_bytecode_cache else str(a.pycache),
        "repeats": repeats, "reference_chair_captions_per_s": REFERENCE_CHAIR, "target_ratio": TARGET_RATIO,
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        w = prepare(tmp)
        timed_run(w["startup"]["opera_5"], tmp / "warm", env)  # warms the byte-code cache; not timed
        results["startup"] = {name: median_run(flags, tmp / name, env, max(repeats, 3))
                              for name, flags in w["startup"].items()}
        for name in [x for x in a.workloads.split(",") if x]:
            spec = w[name]
            row: dict = {"n": spec["n"], "n_tenth": spec["n_tenth"],
                         "reference_chair_captions_per_s": REFERENCE_CHAIR[name]}
            for workers in (1,) if a.no_workers2 else (1, 2):
                full, tenth, pairs = paired_runs(spec, tmp / name, env, repeats, workers)
                steady = _median_defined([p[0] for p in pairs])
                steady_cpu = _median_defined([p[1] for p in pairs])
                row[f"workers{workers}"] = {
                    "whole_run_s": round(full["wall_s"], 3), "whole_runs_s": full["walls_s"],
                    "tenth_run_s": round(tenth["wall_s"], 3), "tenth_runs_s": tenth["walls_s"],
                    "steady_per_pair_captions_per_s": [None if p[0] is None else round(p[0], 1) for p in pairs],
                    "probe_s": round(statistics.median(full["probes_s"] + tenth["probes_s"]), 3),
                    "probes_s": full["probes_s"] + tenth["probes_s"],
                    "whole_run_captions_per_s": round(spec["n"] / full["wall_s"], 1),
                    "steady_captions_per_s": round(steady, 1) if steady else None,
                    "steady_vs_reference": round(steady / REFERENCE_CHAIR[name], 2) if steady else None,
                    # CPU seconds (user + sys, all processes of the run): robust to a loaded machine
                    "whole_run_cpu_s": round(full["cpu_s"], 3), "tenth_run_cpu_s": round(tenth["cpu_s"], 3),
                    "steady_captions_per_cpu_s": round(steady_cpu, 1) if steady_cpu else None,
                    "steady_cpu_vs_reference": round(steady_cpu / REFERENCE_CHAIR[name], 2) if steady_cpu else None,
                    "peak_rss_mb": max(full["peak_rss_mb"], tenth["peak_rss_mb"]),
                }
            if "workers2" in row:
                row["workers2_speedup_end_to_end"] = round(
                    row["workers1"]["whole_run_s"] / row["workers2"]["whole_run_s"], 2)
            results[name] = row
    results["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwrote {a.out}")
    return 0


def print_table(r: dict) -> None:
    m = r["machine"]
    print(f"caption-audit run, end to end ({m['cpus']} CPUs, Python {m['python']}, median of {r['repeats']};"
          f" load average {m['loadavg_before'][0]} before, {m['loadavg_after'][0]} after)")
    print(f"NOTE: {r['caveat']}.")
    print(f"byte-code cache: {r['bytecode_cache'] or 'none (modules compiled on every start)'}\n")
    print(f"{'start-up (text-only run)':44} {'wall s':>8} {'peak RSS MB':>12}")
    for name, s in r["startup"].items():
        print(f"  {name:42} {s['wall_s']:8.2f} {s['peak_rss_mb']:12.0f}   runs {s['walls_s']}, cpu {s['cpu_s']:.2f} s,"
              f" probe {s['probe_s']:.3f} s")
    print("  target: <= 2 s (median of 3)\n")
    hdr = f"{'workload':10} {'workers':>7} {'whole s':>8} {'tenth s':>8} {'whole c/s':>10} {'steady c/s':>11} " \
          f"{'CHAIR c/s':>10} {'ratio':>6} {'RSS MB':>7}"
    print(hdr)
    for name in ("coco", "opera"):
        if name not in r:
            continue
        row = r[name]
        for key in ("workers1", "workers2"):
            if key not in row:
                continue
            x = row[key]
            steady = f"{x['steady_captions_per_s']:11.0f}" if x["steady_captions_per_s"] else f"{'—':>11}"
            ratio = f"{x['steady_vs_reference']:5.2f}x" if x["steady_vs_reference"] else f"{'—':>6}"
            print(f"{name + ' ' + str(row['n']):10} {key[-1]:>7} {x['whole_run_s']:8.2f} {x['tenth_run_s']:8.2f} "
                  f"{x['whole_run_captions_per_s']:10.0f} {steady} {row['reference_chair_captions_per_s']:10.0f} "
                  f"{ratio} {x['peak_rss_mb']:7.0f}")
            sc = x["steady_captions_per_cpu_s"]
            print(f"{'':10} {'':>7} speed probe {x['probe_s']:.3f} s (range {min(x['probes_s']):.3f}-"
                  f"{max(x['probes_s']):.3f});"
                  f" steady per pair {x['steady_per_pair_captions_per_s']}")
            print(f"{'':10} {'':>7} cpu s: whole {x['whole_run_cpu_s']:.2f}, tenth {x['tenth_run_cpu_s']:.2f}; "
                  f"steady {sc or float('nan'):.0f} captions per CPU-second"
                  f" = {x['steady_cpu_vs_reference'] or float('nan'):.2f}x CHAIR")
        if "workers2_speedup_end_to_end" in row:
            print(f"{'':10} --workers 2 end to end: {row['workers2_speedup_end_to_end']:.2f}x one worker (target 1.7x)")
    print(f"target: steady state >= {r['target_ratio']:.0f}x the reference CHAIR (one process)")


if __name__ == "__main__":
    sys.exit(main())
