"""What ``caption-audit report`` shows: honest cells, small-sample and no-ground-truth notes,
and the Markdown and static HTML renderings of a run folder.

Honesty rules (docs/run-folder.md, "Reading the report"):

* an undefined number reads ``— (reason)``, never ``0``: with no ground truth and no detector,
  CHAIR-i/-s, coverage, hallucinations per 100 words and count errors are undefined;
* a CI over one image is degenerate (``x [x, x]``) and shows as ``n/a (n=1)``;
* a source with fewer than :data:`SMALL_SAMPLE_IMAGES` images gets a warning line.
"""

from __future__ import annotations

import copy
import html
from pathlib import Path
from typing import Any

from caption_audit.scoring.aggregate import SMALL_SAMPLE_IMAGES  # below it: small-sample warning

#: (metric key, column label) of the per-source table.
COLUMNS = (
    ("chair_i", "CHAIR-i"),
    ("chair_s", "CHAIR-s"),
    ("coverage", "coverage"),
    ("halluc_per_100w", "hall/100w"),
    ("n_words_mean", "words"),
    ("mentions_per_caption", "mentions"),
)
#: (metric key, column label) of the claims table: the share of checked claims contradicted.
CLAIM_COLUMNS = (
    ("claim_error_rate", "all claims"),
    ("claims_s", "captions"),
    ("object_error_rate", "object"),
    ("count_error_rate", "count"),
    ("colour_error_rate", "colour"),
    ("identity_error_rate", "person"),
    ("open_unsupported_share", "open unsupp."),
)
#: (metric key, column label) of the quality table (issue #12, docs/quality.md): shares of scored captions.
QUALITY_COLUMNS = (
    ("degenerate_share", "degenerate"),
    ("repetition_share", "loops"),
    ("truncated_share", "truncated"),
    ("garbage_share", "garbage"),
    ("duplicate_share", "duplicates"),
    ("near_duplicate_share", "near-dup."),
    ("boilerplate_share", "boilerplate"),
)
#: Metrics shown again without the degenerate captions (summary.json ``metrics_clean``).
CLEAN_COLUMNS = (("chair_i", "CHAIR-i"), ("chair_s", "CHAIR-s"), ("coverage", "coverage"),
                 ("halluc_per_100w", "hall/100w"), ("claim_error_rate", "claims"))
#: Key metrics that get a bar chart in the HTML report.
CHART_METRICS = ("chair_i", "chair_s", "coverage", "halluc_per_100w")
#: Metrics that need ground truth (or detector evidence) to mean anything.
NEEDS_EVIDENCE = ("chair_i", "chair_s", "coverage", "halluc_per_100w", "count_error_rate")
WORST_CAPTIONS = 20
_STATUS_TEXT = {"no_mentions": "no mentions", "no_ground_truth": "no ground truth", "missing": "missing"}


def annotate(summary: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``summary`` with undefined metrics set to ``None`` and degenerate CIs removed.

    * no ground truth and no detector: :data:`NEEDS_EVIDENCE` metrics get ``value: None``,
      ``status: "no_ground_truth"`` (summary.json may hold ``0.0`` for hallucinations per 100 words);
    * a source over fewer than 2 images: every CI is dropped and ``ci_note`` says ``n/a (n=K)``;
    * a source under :data:`SMALL_SAMPLE_IMAGES` images gets ``small_sample: True`` (as newer runs
      record in summary.json).
    """
    s = copy.deepcopy(summary)
    no_evidence = s.get("gt_mode") == "none" and not s.get("detector")
    for block in (s.get("sources") or {}).values():
        if not isinstance(block, dict):
            continue
        metrics = block.get("metrics") or {}
        n_images = (block.get("counts") or {}).get("images")
        if isinstance(n_images, int) and n_images < SMALL_SAMPLE_IMAGES:
            block["small_sample"] = True
        for key, entry in metrics.items():
            if not isinstance(entry, dict):
                continue
            if no_evidence and key in NEEDS_EVIDENCE:
                entry.update(value=None, ci_low=None, ci_high=None, status="no_ground_truth")
            if isinstance(n_images, int) and n_images < 2:
                entry.update(ci_low=None, ci_high=None, ci_note=f"n/a (n={n_images})")
    return s


def format_cell(entry: dict[str, Any] | None, unit: str, *, with_ci: bool = True) -> str:
    """``12.3% [9.8%, 14.1%]``, ``0.41 [0.20, 0.63]``, ``28.6% n/a (n=1)`` or ``— (no ground truth)``."""
    entry = entry or {"value": None, "status": "missing"}
    v = entry.get("value")
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        status = str(entry.get("status") or "undefined")
        return f"— ({_STATUS_TEXT.get(status, status.replace('_', ' '))})"
    f = (lambda x: f"{100 * x:.1f}%") if unit == "fraction" else (lambda x: f"{x:.2f}")
    if not with_ci or unit not in ("fraction", "per_100_words"):
        return f(v)
    if entry.get("ci_note"):
        return f"{f(v)} {entry['ci_note']}"
    lo, hi = entry.get("ci_low"), entry.get("ci_high")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
        return f"{f(v)} [{f(lo)}, {f(hi)}]"
    return f(v)


def column_label(key: str, label: str, meta: dict[str, Any]) -> str:
    """The header: label plus ↑/↓ for rates."""
    if key in ("n_words_mean", "mentions_per_caption"):
        return label
    return f"{label} {'↑' if (meta.get(key) or {}).get('higher_is_better') else '↓'}"


def has_claims(summary: dict[str, Any]) -> bool:
    """Whether any source has a claim metric with a non-empty denominator."""
    return any(((block.get("metrics") or {}).get(k) or {}).get("denominator")
               for block in (summary.get("sources") or {}).values() if isinstance(block, dict)
               for k, _ in CLAIM_COLUMNS)


def rows(summary: dict[str, Any], columns: tuple[tuple[str, str], ...] = COLUMNS) -> list[list[str]]:
    """``[source, scored/input, cells…]`` per source of an :func:`annotate`-d summary."""
    meta = summary.get("metrics") or {}
    out = []
    for name, block in (summary.get("sources") or {}).items():
        block = block if isinstance(block, dict) else {}
        c = block.get("counts") or {}
        ms = block.get("metrics") or {}
        out.append([str(name), f"{c.get('scored', '?')}/{c.get('input', '?')}",
                    *[format_cell(ms.get(k), (meta.get(k) or {}).get("unit", "")) for k, _ in columns]])
    return out


def has_quality(summary: dict[str, Any]) -> bool:
    """Whether the run has the quality metrics (schema 3 and later)."""
    return any("degenerate_share" in (block.get("metrics") or {})
               for block in (summary.get("sources") or {}).values() if isinstance(block, dict))


def clean_lines(summary: dict[str, Any]) -> list[str]:
    """One line per source with degenerate captions: the key metrics with -> without them
    (``sources[name]["metrics_clean"]``), e.g. ``opera: without 91 degenerate captions:
    CHAIR-i 13.7% -> 14.8% · ...``."""
    meta = summary.get("metrics") or {}
    out = []
    for name, block in (summary.get("sources") or {}).items():
        clean = block.get("metrics_clean") if isinstance(block, dict) else None
        if not isinstance(clean, dict):
            continue
        n_all = (block.get("counts") or {}).get("scored")
        n_clean = (clean.get("counts") or {}).get("scored")
        if not isinstance(n_all, int) or not isinstance(n_clean, int) or n_all == n_clean:
            continue
        ms, cs = block.get("metrics") or {}, clean.get("metrics") or {}
        cells = [f"{label} {format_cell(ms.get(k), (meta.get(k) or {}).get('unit', ''), with_ci=False)} -> "
                 f"{format_cell(cs.get(k), (meta.get(k) or {}).get('unit', ''), with_ci=False)}"
                 for k, label in CLEAN_COLUMNS]
        out.append(f"{name}: without {n_all - n_clean} degenerate caption(s): " + " · ".join(cells))
    return out


def _rates(entries: Any) -> str:
    if not isinstance(entries, list):
        return "—"
    return " ".join(f"{100 * e['rate']:.0f}%" if isinstance(e, dict) and isinstance(e.get("rate"), (int, float))
                    else "—" for e in entries)


def position_lines(summary: dict[str, Any]) -> list[str]:
    """Per source, the hallucination rate (COCO-80 mentions) and the claim contradiction rate
    by caption decile (first tenth ... last tenth) and by sentence (1st ... 8th+), from
    summary.json's ``position`` block; an empty bin reads ``—``."""
    out = []
    for name, block in ((summary.get("position") or {}).get("sources") or {}).items():
        if not isinstance(block, dict):
            continue
        for kind, what in (("mentions", "hallucination rate"), ("claims", "claim contradiction rate")):
            curves = block.get(kind)
            if isinstance(curves, dict) and any(isinstance(e, dict) and e.get("n_judged")
                                                for e in curves.get("decile") or []):
                out.append(f"{name}: {what} by caption decile: {_rates(curves.get('decile'))}; "
                           f"by sentence: {_rates(curves.get('sentence'))}")
    return out


def notes(summary: dict[str, Any]) -> list[str]:
    """Warning lines for under the table (small samples, no ground truth) of an annotated summary."""
    out = []
    if summary.get("gt_mode") == "none" and not summary.get("detector"):
        out.append("No ground truth: hallucination and coverage metrics are undefined (—). "
                   "Give --coco-instances, --objects or a --detector.")
    small = {str(name): (block.get("counts") or {}).get("images") for name, block in (summary.get("sources") or {}).items()
             if isinstance(block, dict) and block.get("small_sample")}
    if small:
        listed = ", ".join(f"{name} ({n} images)" for name, n in small.items())
        out.append(f"Small sample (< {SMALL_SAMPLE_IMAGES} images): {listed}; CIs are wide and unreliable"
                   + ("; with one image there is no CI (n/a)." if any(isinstance(n, int) and n < 2
                                                                       for n in small.values()) else "."))
    return out


def headers(summary: dict[str, Any], columns: tuple[tuple[str, str], ...] = COLUMNS) -> list[str]:
    meta = summary.get("metrics") or {}
    return ["source", "captions", *[column_label(k, label, meta) for k, label in columns]]


# ----------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    """A string from the run made inert in a Markdown table cell."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|").replace("`", "&#96;")


def _md_table(s: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> list[str]:
    """One per-source table as GitHub Markdown lines (a blank line after it)."""
    hs = headers(s, columns)
    out = ["| " + " | ".join(hs) + " |", "|" + "|".join(["---"] + ["---:"] * (len(hs) - 1)) + "|"]
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows(s, columns)]
    return [*out, ""]


def to_markdown(summary: dict[str, Any], run_dir: Path) -> str:
    """The per-source table (value and 95% CI) and notes as GitHub Markdown."""
    s = annotate(summary)
    lines = [f"# caption-audit report: {_md(str(run_dir))}", "",
             f"Ground truth: {_md(str(s.get('gt_mode')))}", ""]
    lines += _md_table(s, COLUMNS)
    if has_claims(s):
        lines += ["## Claims: share of checked claims contradicted", "", *_md_table(s, CLAIM_COLUMNS)]
    if has_quality(s):
        lines += ["## Caption quality: share of scored captions flagged (docs/quality.md)", "",
                  *_md_table(s, QUALITY_COLUMNS)]
        lines.extend(f"- {_md(x)}" for x in clean_lines(s) + position_lines(s))
        lines.append("")
    for n in notes(s):
        lines.append(f"> **Warning:** {_md(n)}")
        lines.append("")
    lines.append("CIs: 95% image-cluster bootstrap. CHAIR-i/-s, hall/100w: lower is better; coverage: higher.")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- HTML


def worst_captions(run_dir: Path, limit: int = WORST_CAPTIONS) -> list[dict[str, Any]]:
    """The ``limit`` scored captions with the most hallucinated mentions, with those mentions'
    character spans (read with DuckDB; only these rows are loaded)."""
    import duckdb

    from caption_audit.store.layout import table_file

    caps = table_file(run_dir, "captions")
    ments = table_file(run_dir, "mentions")
    if not caps.exists():
        return []
    con = duckdb.connect()
    try:
        top = con.execute(
            "select caption_id, source, image_id, caption, n_hallucinated, n_mentions from read_parquet(?) "
            "where status = 'scored' and n_hallucinated > 0 "
            "order by n_hallucinated desc, n_mentions desc, caption_id limit ?",
            [caps.as_posix(), int(limit)]).fetchall()
        spans: dict[str, list[tuple[int, int, str]]] = {}
        if top and ments.exists():
            ids = [t[0] for t in top]
            for cid, start, end, canon in con.execute(
                "select caption_id, start, \"end\", canonical from read_parquet(?) "
                "where verdict = 'hallucinated' and list_contains(?, caption_id) order by caption_id, start",
                [ments.as_posix(), ids]).fetchall():
                spans.setdefault(cid, []).append((int(start), int(end), str(canon)))
    finally:
        con.close()
    return [{"caption_id": c, "source": s, "image_id": i, "caption": t or "", "n_hallucinated": int(h),
             "n_mentions": int(m), "spans": spans.get(c, [])} for c, s, i, t, h, m in top]


MAX_CAPTION_CHARS = 3000


def _highlight(text: str, spans: list[tuple[int, int, str]]) -> str:
    """``text`` HTML-escaped with each hallucinated span in ``<mark>`` (overlaps and bad spans
    skipped); longer captions are cut at :data:`MAX_CAPTION_CHARS` characters."""
    cut = len(text) > MAX_CAPTION_CHARS
    text = text[:MAX_CAPTION_CHARS]
    out, pos = [], 0
    for start, end, canon in sorted(spans):
        if start < pos or end <= start or end > len(text):
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f'<mark title="hallucinated: {html.escape(canon)}">{html.escape(text[start:end])}</mark>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out) + (" …" if cut else "")


def _bar_chart(summary: dict[str, Any], key: str, label: str) -> str:
    """An inline SVG: one horizontal bar (value) with a CI whisker per source; undefined -> '—'."""
    meta = (summary.get("metrics") or {}).get(key) or {}
    unit = meta.get("unit", "")
    entries = [(str(n), ((b.get("metrics") or {}).get(key) or {}) if isinstance(b, dict) else {})
               for n, b in (summary.get("sources") or {}).items()]
    vals = [x for _n, e in entries for x in (e.get("value"), e.get("ci_high")) if isinstance(x, (int, float))]
    top = max(vals + [1e-9]) if unit != "fraction" else max(max(vals + [0.0]), 1e-9)
    w_label, w_bar, row_h = 160, 360, 22
    height = row_h * len(entries) + 28
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w_label + w_bar + 150}" height="{height}" '
             f'role="img" aria-label="{html.escape(label)}">',
             f'<text x="0" y="14" font-weight="bold">{html.escape(label)}</text>']
    for i, (name, e) in enumerate(entries):
        y = 24 + i * row_h
        short = name if len(name) <= 24 else name[:23] + "…"
        parts.append(f'<text x="0" y="{y + 14}"><title>{html.escape(name)}</title>{html.escape(short)}</text>')
        v = e.get("value")
        if not isinstance(v, (int, float)):
            parts.append(f'<text x="{w_label}" y="{y + 14}" fill="#666">{html.escape(format_cell(e, unit))}</text>')
            continue
        bw = max(w_bar * v / top, 1.0)
        parts.append(f'<rect x="{w_label}" y="{y + 3}" width="{bw:.1f}" height="{row_h - 8}" fill="#4a78b5"/>')
        lo, hi = e.get("ci_low"), e.get("ci_high")
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            x1, x2 = w_label + w_bar * lo / top, w_label + w_bar * hi / top
            yc = y + row_h / 2 - 1
            parts.append(f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{yc:.1f}" y2="{yc:.1f}" stroke="#222"/>')
        parts.append(f'<text x="{w_label + bw + 6:.1f}" y="{y + 14}" font-size="12">'
                     f'{html.escape(format_cell(e, unit))}</text>')
    parts.append("</svg>")
    return "".join(parts)


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}"
        "td.n{text-align:right;font-variant-numeric:tabular-nums}.warn{color:#8a4b00}"
        "mark{background:#ffb3b3}svg{display:block;margin:1em 0}text{font-size:13px}")


def to_html(summary: dict[str, Any], run_dir: Path, *, worst: list[dict[str, Any]] | None = None) -> str:
    """A static, self-contained HTML report: per-source table with CIs, an inline SVG bar chart per
    key metric, and the worst captions with their hallucinated mentions highlighted. No scripts,
    no external URLs; every string from the run is escaped with :func:`html.escape`."""
    s = annotate(summary)
    e = html.escape

    def table(columns: tuple[tuple[str, str], ...] = COLUMNS) -> list[str]:
        head = "".join(f"<th>{e(h)}</th>" for h in headers(s, columns))
        trs = ["<tr>" + f"<td>{e(r[0])}</td>" + "".join(f'<td class="n">{e(c)}</td>' for c in r[1:]) + "</tr>"
               for r in rows(s, columns)]
        return [f"<table><thead><tr>{head}</tr></thead><tbody>", *trs, "</tbody></table>"]

    body = [f"<h1>caption-audit report</h1><p>Run: <code>{e(str(run_dir))}</code> · ground truth: "
            f"{e(str(s.get('gt_mode')))}</p>", *table()]
    if has_claims(s):
        body += ["<h2>Claims: share of checked claims contradicted</h2>", *table(CLAIM_COLUMNS)]
    if has_quality(s):
        body += ["<h2>Caption quality: share of scored captions flagged</h2>", *table(QUALITY_COLUMNS)]
        body.extend(f"<p>{e(x)}</p>" for x in clean_lines(s) + position_lines(s))
    body.extend(f'<p class="warn">⚠ {e(n)}</p>' for n in notes(s))
    body.append("<p>CIs: 95% image-cluster bootstrap. CHAIR-i/-s, hall/100w: lower is better; coverage: higher.</p>")
    labels = dict(COLUMNS)
    body.append("<h2>Key metrics</h2>")
    body.extend(_bar_chart(s, k, labels[k]) for k in CHART_METRICS)
    worst = worst or []
    body.append(f"<h2>Worst captions (most hallucinated mentions; top {WORST_CAPTIONS})</h2>")
    if not worst:
        body.append("<p>No caption has a hallucinated mention.</p>")
    else:
        body.append("<table><thead><tr><th>source</th><th>image</th><th>caption id</th><th>hallucinated</th>"
                    "<th>caption (hallucinated mentions highlighted)</th></tr></thead><tbody>")
        for w in worst:
            body.append(f"<tr><td>{e(str(w['source']))}</td><td>{e(str(w['image_id']))}</td>"
                        f"<td>{e(str(w['caption_id']))}</td><td class=\"n\">{w['n_hallucinated']}/{w['n_mentions']}</td>"
                        f"<td>{_highlight(str(w['caption']), w['spans'])}</td></tr>")
        body.append("</tbody></table>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>caption-audit report</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
