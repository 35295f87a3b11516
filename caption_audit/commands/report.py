"""``caption-audit report``: the per-source table of a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from caption_audit.errors import InputError
from caption_audit.store import read_summary

COLUMNS = (
    ("chair_i", "CHAIR-i"),
    ("chair_s", "CHAIR-s"),
    ("coverage", "coverage"),
    ("halluc_per_100w", "hall/100w"),
    ("n_words_mean", "words"),
    ("mentions_per_caption", "mentions"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print the per-source metrics of a run folder",
                       description="Print the per-source table (value and 95% CI) of a run folder.")
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--json", action="store_true", help="print summary.json's per-source block as JSON")
    p.set_defaults(func=run)


def _fmt(entry: dict, unit: str) -> str:
    v = entry.get("value")
    if v is None:
        return f"– ({entry.get('status', 'n/a')})"
    pct = unit == "fraction"
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.2f}")
    lo, hi = entry.get("ci_low"), entry.get("ci_high")
    ci = f" [{f(lo)}, {f(hi)}]" if lo is not None and hi is not None and unit in ("fraction", "per_100_words") else ""
    return f(v) + ci


def print_report(run_dir: Path, *, as_json: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from caption_audit.summary_schema import validate_summary

    sp = Path(run_dir) / "summary.json"
    try:
        raw = read_summary(run_dir)
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(str(sp), f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    summary = validate_summary(raw, sp)
    if as_json:
        print(json.dumps({"gt_mode": summary.get("gt_mode"), "counts": summary.get("counts"),
                          "sources": summary.get("sources")}, indent=2))
        return
    meta = summary.get("metrics", {})
    table = Table(title=escape(f"caption-audit · {run_dir} · GT: {summary.get('gt_mode')}"), title_justify="left")
    table.add_column("source")
    table.add_column("captions", justify="right")
    for key, label in COLUMNS:
        arrow = "↑" if meta.get(key, {}).get("higher_is_better") else "↓"
        table.add_column(f"{label} {arrow}" if key not in ("n_words_mean", "mentions_per_caption") else label,
                         justify="right")
    for name, block in summary.get("sources", {}).items():
        c = block.get("counts") or {}
        n = f"{c.get('scored', '?')}/{c.get('input', '?')}"
        ms = block.get("metrics") or {}
        cells = [_fmt(ms.get(k) or {"value": None, "status": "missing"}, meta.get(k, {}).get("unit", ""))
                 for k, _ in COLUMNS]
        table.add_row(escape(str(name)), n, *cells)
    console = Console(width=None if Console().is_terminal else 120)
    console.print(table)
    counts = summary.get("counts", {})
    line = f"input {counts.get('input')} · scored {counts.get('scored')} · skipped {counts.get('skipped')}"
    if counts.get("skipped_by_reason"):
        line += " (" + ", ".join(f"{k}: {v}" for k, v in counts["skipped_by_reason"].items()) + ")"
    console.print(escape(line))
    console.print("CIs: 95% image-cluster bootstrap. CHAIR-i/-s, hall/100w: lower is better; coverage: higher.")


def run(args: argparse.Namespace) -> int:
    print_report(args.run, as_json=args.json)
    return 0
