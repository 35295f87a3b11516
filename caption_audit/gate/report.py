"""Gate reports: console lines, JSON, JUnit XML and Markdown.

The console prints one ``PASS`` / ``WARN`` / ``FAIL`` line per check and a totals line
(Evidently ``--test-summary`` / pytest style). JUnit has one ``testcase`` per check; a
``FAIL`` is a ``<failure>``, a ``WARN`` passes with the reason in ``<system-out>``, since
JUnit has no warning state.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from caption_audit.gate.checks import CheckResult, describe, totals

_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red", "ERROR": "bold magenta"}
_WORD = {0: "PASS", 1: "FAIL", 2: "ERROR"}


def totals_line(results: list[CheckResult], code: int) -> str:
    t = totals(results)
    word = _WORD.get(code, "FAIL")
    errors = f", {t['errors']} errors" if t["errors"] else ""
    return (
        f"gate: {word} ({t['checks']} checks: {t['passed']} passed, "
        f"{t['warnings']} warnings, {t['failed']} failed{errors}; exit {code})"
    )


def print_console(
    results: list[CheckResult], code: int, file: TextIO | None = None, *, only_problems: bool = False
) -> None:
    """One line per check plus the totals line, coloured when the stream is a terminal."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=file or sys.stdout, highlight=False, soft_wrap=True)
    for r in results:
        if only_problems and r.status == "PASS":
            continue
        console.print(f"[{_STYLE[r.status]}]{r.status:<4}[/] {escape(describe(r))}")
    style = "bold red" if code else "bold green"
    console.print(f"[{style}]{escape(totals_line(results, code))}[/]")


def to_json(results: list[CheckResult], code: int, *, run: str, baseline: str | None) -> dict[str, Any]:
    return {
        "tool": "caption-audit gate",
        "status": _WORD.get(code, "FAIL").lower(),
        "exit_code": code,
        "run": run,
        "baseline": baseline,
        "totals": totals(results),
        "checks": [r.to_dict() for r in results],
    }


def write_text(path: str | Path, text: str, *, mode: str = "w") -> None:
    """Write (or with ``mode="a"`` append) a report file, creating its folder.

    Raises:
        InputError: (exit 2) the path is a folder, or cannot be created or written.
    """
    from caption_audit.errors import InputError

    p = Path(path)
    if p.is_dir():
        raise InputError(str(p), "is a folder; give a file name for the report")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, mode, encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(str(p), f"cannot write report: {exc.strerror or exc}") from None


def write_json(path: str | Path, doc: dict[str, Any]) -> None:
    write_text(path, json.dumps(doc, indent=2) + "\n")


def to_junit(results: list[CheckResult], *, suite: str = "caption-audit gate") -> str:
    """JUnit XML: one ``<testcase>`` per check (classname ``caption_audit.gate.<source>``)."""
    import xml.etree.ElementTree as ET

    t = totals(results)
    root = ET.Element("testsuites", name=suite, tests=str(t["checks"]), failures=str(t["failed"]))
    ts = ET.SubElement(
        root, "testsuite", name=suite, tests=str(t["checks"]), failures=str(t["failed"]),
        errors=str(t["errors"]), skipped="0", time="0",
    )  # fmt: skip
    for r in results:
        tc = ET.SubElement(ts, "testcase", classname=f"caption_audit.gate.{r.source}", name=r.id, time="0")
        props = ET.SubElement(tc, "properties")
        for key in ("status", "kind", "metric", "source", "severity", "value", "threshold", "ci_low", "ci_high"):
            val = getattr(r, key)
            if val is not None:
                ET.SubElement(props, "property", name=key, value=str(val))
        line = f"{r.status} {describe(r)}"
        if r.status == "FAIL":
            fail = ET.SubElement(tc, "failure", message=describe(r), type="GateCheckFailed")
            fail.text = line
        elif r.status == "ERROR":
            err = ET.SubElement(tc, "error", message=describe(r), type="GateCheckError")
            err.text = line
        else:
            ET.SubElement(tc, "system-out").text = line
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cell(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def md_text(text: object) -> str:
    """Untrusted text (source names, messages, paths) for a Markdown table cell
    (:func:`caption_audit.markup.md_escape`: no link, image, tag or autolink)."""
    from caption_audit.markup import TABLE_CELL, md_escape

    return md_escape(text, TABLE_CELL)


def to_markdown(results: list[CheckResult], code: int, *, run: str, baseline: str | None = None) -> str:
    """A Markdown section with a table of checks (for PR comments / job summaries)."""
    icon = {"PASS": "✅ PASS", "WARN": "⚠️ WARN", "FAIL": "❌ FAIL", "ERROR": "⛔ ERROR"}
    lines = [
        "## caption-audit gate",
        "",
        f"Run: {md_text(run)}" + (f" · baseline: {md_text(baseline)}" if baseline else ""),
        "",
        "| status | check | source | value | threshold | CI | n | note |",
        "|---|---|---|---:|---|---|---:|---|",
    ]
    for r in results:
        ci = f"[{_cell(r.ci_low)}, {_cell(r.ci_high)}]" if r.ci_low is not None else ""
        what = r.metric + (" regression vs baseline" if r.kind == "baseline" else "")
        note = md_text(r.message)
        if r.kind == "baseline" and r.baseline_value is not None:
            note = (f"{_cell(r.baseline_value)} → {_cell(r.candidate_value)}. " + note).strip()
        n = r.n_images if r.kind == "baseline" else r.n_captions
        lines.append(
            f"| {icon[r.status]} | {md_text(what)} | {md_text(r.source)} | {_cell(r.value)} | {r.op} {r.threshold:g} "
            f"| {ci} | {n if n is not None else ''} | {note} |"
        )
    lines += ["", f"**{totals_line(results, code)}**", ""]
    return "\n".join(lines)


def write_markdown(path: str | Path | None, text: str) -> None:
    """Write ``text`` to ``path`` (if given) and append it to ``$GITHUB_STEP_SUMMARY`` when set."""
    if path:
        write_text(path, text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        write_text(summary, text + "\n", mode="a")
