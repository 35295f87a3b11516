"""Absolute threshold checks and the gate's verdict.

Scores are computed by ``caption-audit run``; the gate only applies thresholds to the
numbers in the run folder (score first, decide later).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from caption_audit.errors import ConfigError, unknown_name
from caption_audit.gate.config import ALL, OVERALL, Check, GateConfig
from caption_audit.gate.runio import Run
from caption_audit.scoring.paired import RATIO_METRICS, bootstrap_ratio, image_sums

Status = Literal["PASS", "WARN", "FAIL", "ERROR"]

EXIT_PASS, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


@dataclass
class CheckResult:
    """The outcome of one check on one source.

    Attributes:
        id: stable identifier, e.g. ``chair_i[llava] <= 0.1`` or ``chair_i[llava] vs baseline``.
        kind: ``absolute`` or ``baseline``.
        status: ``PASS``, ``WARN`` (failed a ``severity: warn`` check), ``FAIL``, or ``ERROR``
            (the check could not be evaluated: the metric is undefined, or no image is shared
            with the baseline); an ERROR makes the gate exit 2 whatever the severity.
        value: measured value (absolute) or regression, worse-is-positive (baseline).
        threshold: the bound it was compared with.
        op: ``<=`` or ``>=``.
        ci_low, ci_high: bootstrap interval of ``value`` (``None`` when unknown).
        n_captions: scored captions the value rests on; ``n_images``: images (baseline: shared).
        baseline_value, candidate_value: the metric on each side (baseline checks).
        higher_is_better: the metric's direction as the run declares it.
        message: why it failed or any caveat; empty when plain.
    """

    id: str
    kind: str
    metric: str
    source: str
    status: Status
    severity: str
    value: float | None
    threshold: float
    op: str
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None
    n_captions: int | None = None
    n_images: int | None = None
    baseline_value: float | None = None
    candidate_value: float | None = None
    higher_is_better: bool | None = None
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def verdict(passed: bool | None, severity: str) -> Status:
    """``passed`` None means the check could not be evaluated: ``ERROR``."""
    if passed is None:
        return "ERROR"
    return "PASS" if passed else ("FAIL" if severity == "fail" else "WARN")


def expand_sources(names: list[str], run: Run, where: str, origin: str) -> list[str]:
    """Expand ``all`` and validate names against the run's sources (plus ``overall``)."""
    valid = run.sources
    out: list[str] = []
    for name in names:
        if name == ALL:
            out.extend(s for s in valid if s not in out)
        elif name == OVERALL or name in valid:
            if name not in out:
                out.append(name)
        else:
            err = unknown_name("source", name, [*valid, ALL, OVERALL])
            raise ConfigError(f"{origin}: {where}: {err}")
    return out


def check_metric(metric: str, run: Run, where: str, origin: str, *, recomputable: bool) -> None:
    """A metric must be declared by the run (and be recomputable for overall/baseline)."""
    declared = list(run.metric_info)
    if metric not in run.metric_info:
        err = unknown_name("metric", metric, declared)
        raise ConfigError(f"{origin}: {where}: {err}")
    if recomputable and metric not in RATIO_METRICS:
        ok = [m for m in declared if m in RATIO_METRICS]
        err = unknown_name("metric", metric, ok)
        raise ConfigError(f"{origin}: {where}: '{metric}' cannot be recomputed per image. {err}")


def _source_metric(run: Run, source: str, metric: str, cfg: GateConfig) -> tuple[dict, int, int | None]:
    """(metric entry with value/ci_low/ci_high/status, n scored captions, n images)."""
    if source != OVERALL:
        src = run.summary["sources"][source]
        entry = (src.get("metrics") or {}).get(metric) or {"value": None, "status": "missing"}
        counts = src.get("counts") or {}
        return entry, int(counts.get("scored", 0)), counts.get("images")
    caps = run.captions()
    n_scored = int((caps["status"] == "scored").sum())
    n_images = int(caps["image_id"].nunique())
    sums = image_sums(caps, [metric])
    value, lo, hi = bootstrap_ratio(
        sums[f"{metric}__num"].to_numpy(),
        sums[f"{metric}__den"].to_numpy(),
        n_resamples=cfg.n_resamples,
        confidence=cfg.confidence,
        seed=cfg.seed,
    )
    entry = {"value": value, "ci_low": lo, "ci_high": hi}
    if value is None:
        entry["status"] = "no_denominator"
    return entry, n_scored, n_images


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def run_absolute_checks(cfg: GateConfig, run: Run) -> list[CheckResult]:
    """Evaluate every absolute check of ``cfg`` on ``run`` (sources expanded)."""
    results: list[CheckResult] = []
    for check in cfg.checks:
        sources = expand_sources(check.sources, run, f"{check.where}.source", cfg.origin)
        check_metric(check.metric, run, f"{check.where}.metric", cfg.origin, recomputable=OVERALL in sources)
        for source in sources:
            results.extend(_absolute(check, run, source, cfg))
    return results


def _absolute(check: Check, run: Run, source: str, cfg: GateConfig) -> list[CheckResult]:
    entry, n_scored, n_images = _source_metric(run, source, check.metric, cfg)
    value = entry.get("value")
    out = []
    for op, bound in (("<=", check.max), (">=", check.min)):
        if bound is None:
            continue
        label = check.name or f"{check.metric}[{source}] {op} {bound:g}"
        if check.name and (check.max is not None and check.min is not None):
            label = f"{check.name} {op}"
        msg = ""
        if n_scored < check.min_captions:
            passed, msg = False, f"only {n_scored} scored captions (min_captions {check.min_captions})"
        elif value is None:
            passed = None
            msg = f"metric undefined ({entry.get('status', 'no value')})"
        else:
            passed = value <= bound if op == "<=" else value >= bound
        conf = (run.summary.get("bootstrap") or {}).get("confidence", cfg.confidence)
        out.append(
            CheckResult(
                id=label,
                kind="absolute",
                metric=check.metric,
                source=source,
                status=verdict(passed, check.severity),
                severity=check.severity,
                value=value,
                threshold=bound,
                op=op,
                ci_low=entry.get("ci_low"),
                ci_high=entry.get("ci_high"),
                confidence=conf,
                n_captions=n_scored,
                n_images=n_images,
                higher_is_better=run.higher_is_better(check.metric),
                message=msg,
            )
        )
    return out


def totals(results: list[CheckResult]) -> dict[str, int]:
    t = {"checks": len(results), "passed": 0, "warnings": 0, "failed": 0, "errors": 0}
    for r in results:
        t[{"PASS": "passed", "WARN": "warnings", "FAIL": "failed", "ERROR": "errors"}[r.status]] += 1
    return t


def exit_code(results: list[CheckResult]) -> int:
    """2 when a check could not be evaluated (ERROR), else 1 when one has status FAIL, else 0
    (WARN never fails the build)."""
    if any(r.status == "ERROR" for r in results):
        return EXIT_CONFIG
    return EXIT_FAILED if any(r.status == "FAIL" for r in results) else EXIT_PASS


def describe(r: CheckResult) -> str:
    """One human line (without the status word) for console and reports."""
    ci = ""
    if r.ci_low is not None and r.ci_high is not None:
        pct = f"{100 * (r.confidence or 0.95):g}%"
        ci = f", {pct} CI [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]"
    if r.kind == "baseline":
        s = (
            f"{r.metric}[{r.source}] vs baseline: regression {_signed(r.value)}{ci} "
            f"(allowed {r.op} {_signed(r.threshold)}; {_fmt(r.baseline_value)} -> {_fmt(r.candidate_value)}, "
            f"{'higher' if r.higher_is_better else 'lower'} is better, {r.n_images} shared images)"
        )
    else:
        s = f"{r.metric}[{r.source}] = {_fmt(r.value)} (threshold {r.op} {r.threshold:g}{ci}, n={r.n_captions} captions)"
    return f"{s}: {r.message}" if r.message else s


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4g}"
