"""``caption-audit report``: the per-source table of a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from caption_audit.commands.report_views import COLUMNS  # noqa: F401  (re-exported)
from caption_audit.errors import InputError
from caption_audit.store import read_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print the per-source metrics of a run folder",
                       description="Print the per-source table (value and 95% CI) of a run folder.")
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="write summary.json's per-source block as JSON to FILE ('-' or no FILE: stdout)")
    p.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                   help="also write the table and warnings as GitHub Markdown to FILE")
    p.add_argument("--html", type=Path, default=None, metavar="FILE",
                   help="also write a static, self-contained HTML report (table, SVG charts, worst captions) to FILE")
    p.add_argument("--width", type=int, default=None, metavar="COLS",
                   help="table width in columns (default: the terminal's, or 100 in logs); narrower tables "
                   "are split in two rather than wrapped")
    p.set_defaults(func=run)


def _fmt(entry: dict, unit: str) -> str:
    from caption_audit.commands.report_views import format_cell

    return format_cell(entry, unit)


def _print_tables(console, title: str, headers: list[str], body: list[list[str]]) -> None:
    """The table, split into column groups (source first in each) when it would not fit the
    console: cells never wrap."""
    from rich.table import Table

    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    widths[0] = min(widths[0], 28)  # long source names end in an ellipsis
    groups: list[list[int]] = [[]]
    used = widths[0] + 4
    for i in range(1, len(headers)):
        if groups[-1] and used + widths[i] + 3 > console.width:
            groups.append([])
            used = widths[0] + 4
        groups[-1].append(i)
        used += widths[i] + 3
    for g, cols in enumerate(groups):
        table = Table(title=title if g == 0 else None, title_justify="left")
        table.add_column(headers[0], no_wrap=True, overflow="ellipsis", max_width=28)
        for i in cols:
            table.add_column(headers[i], justify="right", no_wrap=True, overflow="ellipsis")
        for r in body:
            table.add_row(r[0], *[r[i] for i in cols])
        console.print(table)


def print_report(run_dir: Path, *, as_json: bool | str = False, width: int | None = None) -> None:
    """Print the per-source table (or, with ``as_json``, the per-source JSON to stdout / a file).

    Cells never wrap: at a narrow ``width`` the table is split into two. Undefined metrics read
    ``— (reason)``, one-image CIs ``n/a (n=1)``; small samples and no ground truth get warning lines.
    """
    from rich.console import Console
    from rich.markup import escape

    from caption_audit.commands.report_views import (
        CLAIM_COLUMNS,
        QUALITY_COLUMNS,
        annotate,
        clean_lines,
        has_claims,
        has_quality,
        headers,
        notes,
        position_lines,
        rows,
    )
    from caption_audit.store.layout import summary_file
    from caption_audit.summary_schema import validate_summary

    sp = summary_file(run_dir)
    try:
        raw = read_summary(run_dir)
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(str(sp), f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    summary = validate_summary(raw, sp)
    if as_json:
        text = json.dumps({"gt_mode": summary.get("gt_mode"), "counts": summary.get("counts"),
                           "sources": annotate(summary).get("sources")}, indent=2)
        if as_json is True or as_json == "-":
            print(text)
        else:
            Path(as_json).write_text(text + "\n", encoding="utf-8")
        return
    s = annotate(summary)
    probe = Console()
    console = Console(width=width or (None if probe.is_terminal else 100), soft_wrap=False)
    title = escape(f"caption-audit · {run_dir} · GT: {s.get('gt_mode')}")
    _print_tables(console, title, headers(s), [[escape(c) for c in r] for r in rows(s)])
    if has_claims(s):
        _print_tables(console, "claims: share of checked claims contradicted (docs/claims.md)",
                      headers(s, CLAIM_COLUMNS), [[escape(c) for c in r] for r in rows(s, CLAIM_COLUMNS)])
    if has_quality(s):
        _print_tables(console, "caption quality: share of scored captions flagged (docs/quality.md)",
                      headers(s, QUALITY_COLUMNS), [[escape(c) for c in r] for r in rows(s, QUALITY_COLUMNS)])
        for x in clean_lines(s) + position_lines(s):
            console.print(escape(x), soft_wrap=True)
    counts = s.get("counts") or {}
    line = f"input {counts.get('input')} · scored {counts.get('scored')} · skipped {counts.get('skipped')}"
    if counts.get("skipped_by_reason"):
        line += " (" + ", ".join(f"{k}: {v}" for k, v in counts["skipped_by_reason"].items()) + ")"
    console.print(escape(line), soft_wrap=True)
    for note in notes(s):
        console.print(f"[yellow]warning:[/] {escape(note)}", soft_wrap=True)
    console.print("CIs: 95% image-cluster bootstrap. CHAIR-i/-s, hall/100w: lower is better; coverage: higher.",
                  soft_wrap=True)


def run(args: argparse.Namespace) -> int:
    from caption_audit.commands.report_views import to_html, to_markdown, worst_captions

    if args.markdown or args.html:
        summary = read_summary(args.run)
        if args.markdown:
            args.markdown.write_text(to_markdown(summary, args.run), encoding="utf-8")
        if args.html:
            args.html.write_text(to_html(summary, args.run, worst=worst_captions(args.run)), encoding="utf-8")
    print_report(args.run, as_json=args.json or False, width=args.width)
    return 0
