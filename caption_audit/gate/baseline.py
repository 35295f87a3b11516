"""Baseline-relative checks: has a metric regressed beyond noise since the baseline run?

For each (source, metric) the candidate and baseline captions are restricted to the images
both runs share, and :func:`caption_audit.scoring.paired.compare_captions` gives the paired
bootstrap interval of ``candidate - baseline``. The regression is that difference signed so
that positive means worse, using the run's own ``higher_is_better``. The check fails only
when the *lower* end of the regression's interval exceeds ``max_regression``: a regression
that sampling noise could explain never fails a build.
"""

from __future__ import annotations

from pathlib import Path

from caption_audit.errors import ConfigError, unknown_name
from caption_audit.gate.checks import CheckResult, check_metric, expand_sources, verdict
from caption_audit.gate.config import ALL, OVERALL, GateConfig
from caption_audit.gate.runio import NothingScoredError, Run, open_run
from caption_audit.scoring.paired import compare_captions


def _open_baseline(path: Path, cache: dict[Path, Run]) -> Run:
    if path not in cache:
        run = open_run(path, role="baseline run")
        if run.n_scored() == 0:
            raise NothingScoredError(f"{path}: the baseline run scored no captions")
        cache[path] = run
    return cache[path]


def run_baseline_checks(cfg: GateConfig, run: Run) -> list[CheckResult]:
    """Evaluate ``cfg.baseline`` against ``run`` (no-op without a baseline)."""
    spec = cfg.baseline
    if spec is None:
        return []
    cache: dict[Path, Run] = {}
    explicit = [s for s in spec.sources if s != ALL]
    sources = expand_sources(spec.sources, run, "baseline.sources", cfg.origin)
    for src in spec.per_source:
        if src not in sources:
            err = unknown_name("source", src, sources)
            raise ConfigError(f"{cfg.origin}: baseline.per_source: {err}")
    results: list[CheckResult] = []
    compared = 0
    for source in sources:
        over = spec.per_source.get(source)
        path = (over.run if over and over.run else None) or spec.run
        base = _open_baseline(path, cache)
        limits = dict(spec.max_regression)
        if over:
            limits.update(over.max_regression)
        severity = (over.severity if over and over.severity else None) or spec.severity
        min_caps = over.min_captions if over and over.min_captions is not None else spec.min_captions
        if source != OVERALL and source not in base.sources:
            if source in explicit:
                err = unknown_name("source", source, [*base.sources, OVERALL])
                raise ConfigError(f"{cfg.origin}: baseline.sources: not in baseline run {path}: {err}")
            continue  # `all`: a source new in this run has no baseline to regress from
        compared += 1
        for metric in limits:
            where = f"baseline.max_regression.{metric}"
            check_metric(metric, run, where, cfg.origin, recomputable=True)
            if metric not in base.metric_info:
                err = unknown_name("metric", metric, list(base.metric_info))
                raise ConfigError(f"{cfg.origin}: {where}: not in baseline run {path}: {err}")
        diffs = compare_captions(
            base.source_captions(source),
            run.source_captions(source),
            list(limits),
            n_resamples=cfg.n_resamples,
            confidence=cfg.confidence,
            seed=cfg.seed,
        )
        for metric, allowed in limits.items():
            d = diffs[metric]
            hib = run.higher_is_better(metric)
            sign = -1.0 if hib else 1.0
            reg = None if d.diff is None else sign * d.diff + 0.0  # no -0.0
            lo, hi = d.ci_low, d.ci_high
            if lo is not None and hi is not None and hib:
                lo, hi = -hi + 0.0, -lo + 0.0
            msg = ""
            passed: bool | None
            if d.n_images == 0:
                passed, msg = None, "no images shared with the baseline run"
            elif min(d.n_a, d.n_b) < min_caps:
                passed = False
                msg = f"only {min(d.n_a, d.n_b)} captions on shared images (min_captions {min_caps})"
            elif reg is None or lo is None:
                passed, msg = None, f"metric undefined ({d.status or 'no value'})"
            else:
                passed = lo <= allowed
                if passed and reg > allowed:
                    msg = "point estimate above the allowed regression, but within noise"
            results.append(
                CheckResult(
                    id=f"{metric}[{source}] vs baseline",
                    kind="baseline",
                    metric=metric,
                    source=source,
                    status=verdict(passed, severity),
                    severity=severity,
                    value=reg,
                    threshold=allowed,
                    op="<=",
                    ci_low=lo,
                    ci_high=hi,
                    confidence=cfg.confidence,
                    n_captions=d.n_b,
                    n_images=d.n_images,
                    baseline_value=d.value_a,
                    candidate_value=d.value_b,
                    higher_is_better=hib,
                    message=msg,
                )
            )
    if not compared:
        bases = sorted({str(o.run) for o in spec.per_source.values() if o.run} | ({str(spec.run)} if spec.run else set()))
        raise ConfigError(
            f"{cfg.origin}: baseline: no source in common with the baseline run {', '.join(bases)} "
            f"(this run: {', '.join(run.sources) or 'none'}; baseline: "
            f"{', '.join(sorted({s for b in cache.values() for s in b.sources})) or 'none'}); nothing to compare"
        )
    return results
