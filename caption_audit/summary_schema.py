"""Validation of a run folder's ``summary.json`` on read (docs/run-folder.md).

A summary may have been hand-edited, written by another tool or by another schema version.
Every reader (gate, compare, report, dashboard) passes the parsed JSON through
:func:`validate_summary` once, so impossible numbers (``-Infinity``, ``NaN``, a negative
fraction, ``false`` or a string where a number belongs) and wrong types end in one
:class:`~caption_audit.errors.InputError` naming the file and the JSON path, never in a
silently wrong verdict or a traceback further down.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from caption_audit.errors import InputError
from caption_audit.store.layout import SCHEMA_VERSION

TOOL_NAME = "caption-audit"
COMPATIBLE_SCHEMA_VERSIONS = frozenset(range(1, SCHEMA_VERSION + 1))
"""Schema versions this reader understands (see docs/run-folder.md): every one up to the
store's :data:`~caption_audit.store.layout.SCHEMA_VERSION` (columns a version 1 folder lacks
read as zeros in the metric statistics)."""

#: units whose values can never be negative
NON_NEGATIVE_UNITS = frozenset({"fraction", "per_100_words", "per 100 words", "words", "chars", "characters",
                                "count"})
_EPS = 1e-9
_NUMBER_KEYS = ("value", "ci_low", "ci_high")
_SUM_KEYS = ("numerator", "denominator")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class _Checker:
    def __init__(self, path: str | Path):
        self.path = str(path)

    def fail(self, where: str, msg: str) -> InputError:
        return InputError(self.path, msg, field=where)

    def mapping(self, v: Any, where: str, *, required: bool = True) -> dict:
        if v is None and not required:
            return {}
        if not isinstance(v, dict):
            raise self.fail(where, f"expected an object, got {_kind(v)}")
        return v

    def count(self, v: Any, where: str) -> None:
        if v is None:
            return
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise self.fail(where, f"expected a count (integer >= 0), got {_show(v)}")

    def number(self, v: Any, where: str, unit: str | None) -> None:
        if v is None:
            return  # undefined reads as undefined
        if not _is_number(v) or not math.isfinite(v):
            raise self.fail(where, f"expected a finite number or null, got {_show(v)}")
        if unit in NON_NEGATIVE_UNITS and v < -_EPS:
            raise self.fail(where, f"a {unit} cannot be negative, got {v!r}")
        if unit == "fraction" and v > 1 + _EPS:
            raise self.fail(where, f"a fraction must lie in [0, 1], got {v!r}")

    def metric_values(self, block: Any, where: str, units: dict[str, str | None]) -> None:
        for name, entry in self.mapping(block, where).items():
            w = f"{where}.{name}"
            entry = self.mapping(entry, w)
            unit = units.get(name)
            for key in _NUMBER_KEYS:
                self.number(entry.get(key), f"{w}.{key}", unit)
            for key in _SUM_KEYS:
                self.number(entry.get(key), f"{w}.{key}", "count")
            if "n" in entry:
                self.count(entry["n"], f"{w}.n")
            if entry.get("status") is not None and not isinstance(entry["status"], str):
                raise self.fail(f"{w}.status", f"expected a string, got {_show(entry['status'])}")
            lo, hi = entry.get("ci_low"), entry.get("ci_high")
            if lo is not None and hi is not None and lo > hi + _EPS:
                raise self.fail(f"{w}.ci_low", f"interval is inverted: ci_low {lo!r} > ci_high {hi!r}")

    def counts(self, block: Any, where: str) -> None:
        for key, v in self.mapping(block, where, required=False).items():
            if key == "skipped_by_reason":
                for reason, n in self.mapping(v, f"{where}.{key}", required=False).items():
                    self.count(n, f"{where}.{key}.{reason}")
            else:
                self.count(v, f"{where}.{key}")


def _kind(v: Any) -> str:
    return {bool: "a boolean", str: "a string", list: "a list", type(None): "null"}.get(type(v), type(v).__name__)


def _show(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(v, "NaN")
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_summary(summary: Any, path: str | Path) -> dict[str, Any]:
    """Check the types and ranges of a parsed ``summary.json`` and return it unchanged.

    Checks: the top level is an object written by ``caption-audit`` (``tool.name``) with a
    compatible ``schema_version``; ``metrics`` declares each metric with a real boolean (or
    null) ``higher_is_better``; every value / CI bound is a finite number or null, fractions
    lie in [0, 1] and counts are integers >= 0, for every source and for ``overall``.

    Args:
        summary: the parsed JSON.
        path: the ``summary.json`` file, named in errors.

    Raises:
        InputError: (exit 2) naming the file and the JSON path of the first bad field.
    """
    c = _Checker(path)
    if not isinstance(summary, dict):
        raise InputError(str(path), f"top level must be a JSON object, got {_kind(summary)}")
    tool = summary.get("tool")
    name = tool.get("name") if isinstance(tool, dict) else None
    if name != TOOL_NAME:
        raise c.fail("tool.name", f"written by {_show(name)}, not by {TOOL_NAME}: not a caption-audit run folder")
    version = summary.get("schema_version")
    if version not in COMPATIBLE_SCHEMA_VERSIONS or isinstance(version, bool):
        known = ", ".join(str(v) for v in sorted(COMPATIBLE_SCHEMA_VERSIONS))
        raise c.fail("schema_version", f"unsupported schema version {_show(version)} (this caption-audit reads "
                     f"{known}); re-run `caption-audit run` with this version")
    units: dict[str, str | None] = {}
    for metric, info in c.mapping(summary.get("metrics"), "metrics").items():
        w = f"metrics.{metric}"
        info = c.mapping(info, w)
        hib = info.get("higher_is_better")
        if hib is not None and not isinstance(hib, bool):
            raise c.fail(f"{w}.higher_is_better", f"must be true, false or null, got {_show(hib)}")
        unit = info.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise c.fail(f"{w}.unit", f"expected a string, got {_show(unit)}")
        units[str(metric)] = unit
    c.counts(summary.get("counts"), "counts")
    for src, block in c.mapping(summary.get("sources"), "sources").items():
        w = f"sources.{src}"
        block = c.mapping(block, w)
        c.counts(block.get("counts"), f"{w}.counts")
        c.metric_values(block.get("metrics", {}), f"{w}.metrics", units)
    overall = summary.get("overall")
    if overall is not None:
        overall = c.mapping(overall, "overall")
        if "metrics" in overall:
            c.metric_values(overall["metrics"], "overall.metrics", units)
    boot = summary.get("bootstrap")
    if boot is not None:
        boot = c.mapping(boot, "bootstrap")
        conf = boot.get("confidence")
        if conf is not None and not (_is_number(conf) and 0 < conf < 1):
            raise c.fail("bootstrap.confidence", f"must be a number between 0 and 1, got {_show(conf)}")
    images_dir = summary.get("images_dir")
    if images_dir is not None and not isinstance(images_dir, str):
        raise c.fail("images_dir", f"expected a string, got {_show(images_dir)}")
    return summary
