"""Cost of claim extraction in the text stage: parse throughput with claims off and on.

Parses 2,000 OPERA LVLM captions and 5,000 COCO captions (../shared/data) with
``CaptionParser(claims=False)`` and ``CaptionParser(claims=True)``, interleaved, and prints the
median process CPU time per workload (CPU time: the machine is shared, wall time is noisy).
The budget (issue #10): claims may slow the text stage by at most 25%.

    python benchmarks/text_claims_cost.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("pin_verdicts", HERE / "pin_verdicts.py")
pin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pin)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    from caption_audit.text.parse import CaptionParser

    captions = pin.load_captions()
    work = {"long": [t for k, t in captions if k.startswith("opera/")][:2000],
            "short": [t for k, t in captions if k.startswith("coco:")][:5000]}
    parsers = {False: CaptionParser(claims=False), True: CaptionParser(claims=True)}
    for p in parsers.values():
        p.parse(work["short"][:300])  # load spaCy, warm caches
    for name, texts in work.items():
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(a.repeats):
            for claims, p in parsers.items():
                t0 = time.process_time()
                for i in range(0, len(texts), 1000):
                    p.parse(texts[i : i + 1000])
                times[claims].append(time.process_time() - t0)
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"{name:5s} {len(texts):5d} captions: claims off {len(texts) / off:7.0f}/s, "
              f"on {len(texts) / on:7.0f}/s, cost {100 * (on / off - 1):+.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
