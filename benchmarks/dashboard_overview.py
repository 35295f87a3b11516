"""First Overview load of the dashboard, cold and warm (issue #13).

Cold: a fresh Python process, from interpreter start (``time.perf_counter`` at the top of this
script, after the interpreter itself is up) to the end of the first AppTest run of the
Overview: every import (Streamlit, DuckDB, pyarrow, Altair, pandas if loaded), opening the run
and rendering. Warm: the same AppTest run again in that process (Streamlit caches filled), and a
new session in that process (imports done, data caches shared). Median of ``--repeat`` cold
processes.

    python benchmarks/dashboard_overview.py RUN_FOLDER [--repeat 3]
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "dashboards" / "app.py")


def one(run: str) -> dict:
    """One cold process's numbers (run in a child)."""
    from streamlit.testing.v1 import AppTest

    os.environ["CAPTION_AUDIT_RUN"] = run
    at = AppTest.from_file(APP, default_timeout=120).run()
    cold = time.perf_counter() - T0
    assert not at.exception, [e.value for e in at.exception]
    t = time.perf_counter()
    at.run()
    rerun = time.perf_counter() - t
    t = time.perf_counter()
    AppTest.from_file(APP, default_timeout=120).run()
    new_session = time.perf_counter() - t
    return {"cold_s": cold, "rerun_s": rerun, "new_session_s": new_session,
            "pandas_loaded": "pandas" in sys.modules}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", action="store_true")
    a = p.parse_args()
    if a.child:
        print(json.dumps(one(a.run)))
        return
    rows = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, a.run, "--child"], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONPATH": str(Path(APP).parents[1])})
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["process_s"] = time.perf_counter() - t
        rows.append(r)
    med = {k: round(statistics.median(r[k] for r in rows), 2) for k in ("cold_s", "process_s", "rerun_s",
                                                                        "new_session_s")}
    print(json.dumps({"runs": rows, "median": med}, indent=1))


if __name__ == "__main__":
    main()
