"""``caption-audit compare``: paired comparison of sources, or of a run against a baseline."""

from __future__ import annotations

import argparse
import json
from typing import Any

EPILOG = """\
Examples:
  caption-audit compare runs/a --sources coco,llava
  caption-audit compare runs/a --sources coco,llava,sharegpt4v --json cmp.json --markdown cmp.md
  caption-audit compare runs/new --baseline runs/old --sources llava

Differences are "later minus earlier" (llava - coco; run - baseline) on the images every
side describes, with a paired image-bootstrap interval. "better"/"worse" needs the whole
interval on one side of zero, using each metric's higher_is_better from the run.
Exit codes: 0 done, 2 bad options or unreadable run, 3 no shared images.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    p = subparsers.add_parser(
        "compare",
        help="paired comparison of caption sources (or two runs) on shared images",
        description="Compare caption sources of a run, or a run against a baseline run, on shared images.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `caption-audit run`")
    p.add_argument("--sources", metavar="A,B[,C]", help="sources to compare (default: all of the run)")
    p.add_argument("--baseline", metavar="OLD_RUN", help="compare the same sources against this run")
    p.add_argument("--metrics", metavar="M1,M2", help="metrics (default: the quality and length-normalised set)")
    p.add_argument("--top-classes", type=int, default=15, metavar="N", help="classes shown in the terminal")
    p.add_argument("--n-resamples", type=int, default=1000, metavar="N",
                   help="paired bootstrap resamples (default 1000)")
    p.add_argument("--confidence", type=float, default=0.95, metavar="C",
                   help="confidence level of the intervals (default 0.95)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap random seed (default 0)")
    p.add_argument("--json", metavar="FILE", help="write the full comparison (all classes) as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write Markdown tables")
    p.set_defaults(func=run)


def _split(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def compute(args: argparse.Namespace) -> dict[str, Any]:
    from caption_audit.compare.paired import compare_runs, compare_sources
    from caption_audit.errors import ConfigError
    from caption_audit.gate.config import MAX_RESAMPLES
    from caption_audit.gate.runio import open_run

    if not 1 <= args.n_resamples <= MAX_RESAMPLES:
        raise ConfigError(f"--n-resamples must be between 1 and {MAX_RESAMPLES:,}, got {args.n_resamples}")
    if not 0 <= args.seed < 2**32:
        raise ConfigError(f"--seed must be between 0 and {2**32 - 1}, got {args.seed}")
    if not 0 < args.confidence < 1:
        raise ConfigError(f"--confidence must be between 0 and 1, got {args.confidence}")
    opts = dict(metrics=_split(args.metrics), n_resamples=args.n_resamples, confidence=args.confidence, seed=args.seed)
    run_ = open_run(args.run)
    if args.baseline:
        return compare_runs(open_run(args.baseline, role="baseline run"), run_, _split(args.sources), **opts)
    sources = _split(args.sources) or run_.sources
    return compare_sources(run_, sources, **opts)


def _f(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _pair_cell(row: dict) -> str:
    if row["diff"] is None:
        return f"n/a ({row['status']})"
    return f"{_f(row['diff'], True)} [{_f(row['ci_low'], True)}, {_f(row['ci_high'], True)}] {row['verdict']}"


def _class_table(res: dict, top: int | None) -> tuple[list[str], list[list[str]]]:
    import pandas as pd

    cls = pd.DataFrame(res["classes"])
    if cls.empty:
        return [], []
    order = cls.groupby("canonical")["n_mentions"].sum().sort_values(ascending=False, kind="stable")
    names = list(order.index[:top] if top else order.index)
    header = ["class"] + [f"{s} {k}" for s in res["sides"] for k in ("halluc (h/m)", "coverage (c/gt)")]
    rows = []
    by = {(r["side"], r["canonical"]): r for r in res["classes"]}
    for c in names:
        row = [c]
        for s in res["sides"]:
            r = by.get((s, c))
            if r is None:
                row += ["", ""]
                continue
            hr = "n/a" if r["hallucination_rate"] is None else f"{r['hallucination_rate']:.2f}"
            cv = "n/a" if r["coverage"] is None else f"{r['coverage']:.2f}"
            row += [f"{hr} ({r['n_hallucinated']}/{r['n_mentions']})", f"{cv} ({r['n_covered']}/{r['n_gt_captions']})"]
        rows.append(row)
    return header, rows


def _metric_rows(res: dict) -> tuple[list[str], list[list[str]]]:
    header = ["metric", "better"] + res["sides"] + [f"{p['b']} − {p['a']} (CI)" for p in res["pairs"]]
    rows = []
    for m in res["metrics"]:
        row = [m, "higher" if res["higher_is_better"][m] else "lower"]
        row += [_f(res["values"][s][m]) for s in res["sides"]]
        row += [_pair_cell(p["metrics"][m]) for p in res["pairs"]]
        rows.append(row)
    return header, rows


def _shared_text(res: dict) -> str:
    n = res["n_shared_images"]
    if isinstance(n, dict):
        return "shared images: " + ", ".join(f"{s} {k}" for s, k in n.items())
    return f"{n} shared images"


def print_rich(res: dict, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    title = f"caption-audit compare: {res['run']}" + (f" vs baseline {res['baseline']}" if res["baseline"] else "")
    conf = res["bootstrap"]["confidence"]
    header, rows = _metric_rows(res)
    t = Table(title=title, caption=f"{_shared_text(res)}; {100 * conf:g}% paired image-bootstrap CI")
    for h in header:
        t.add_column(h, overflow="fold")
    colors = {"better": "green", "worse": "red"}
    for row in rows:
        cells = [c if not any(c.endswith(v) for v in colors) else f"[{colors[c.rsplit(' ', 1)[1]]}]{c}[/]" for c in row]
        t.add_row(*cells)
    console.print(t)
    header, rows = _class_table(res, top)
    if rows:
        ct = Table(title=f"Per COCO class (top {len(rows)} by mentions; as classes.parquet)")
        for h in header:
            ct.add_column(h)
        for row in rows:
            ct.add_row(*row)
        console.print(ct)


def to_markdown(res: dict, top: int | None = 30) -> str:
    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        esc = [[c.replace("|", "\\|") for c in r] for r in [header, *rows]]
        return ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(header)] + [
            "| " + " | ".join(r) + " |" for r in esc[1:]
        ]

    lines = ["## caption-audit compare", "", f"Run: `{res['run']}`"]
    if res["baseline"]:
        lines[-1] += f" · baseline: `{res['baseline']}`"
    conf = res["bootstrap"]["confidence"]
    lines += ["", f"{_shared_text(res)}; {100 * conf:g}% paired image-bootstrap CI "
              f"({res['bootstrap']['n_resamples']} resamples).", ""]  # fmt: skip
    lines += table(*_metric_rows(res))
    header, rows = _class_table(res, top)
    if rows:
        lines += ["", "### Per COCO class (hallucinated/judged mentions; covering/GT captions)", ""]
        lines += table(header, rows)
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Entry point of ``caption-audit compare``."""
    from caption_audit.gate.report import write_text

    res = compute(args)
    print_rich(res, args.top_classes)
    if args.json:
        write_text(args.json, json.dumps(res, indent=2) + "\n")
    if args.markdown:
        write_text(args.markdown, to_markdown(res))
    return 0
