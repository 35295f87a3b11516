"""The gate configuration (``gate.yaml``) and its validation.

Schema (every key optional except where noted; unknown keys are errors)::

    version: 1
    severity: fail            # default severity of every check: fail | warn
    min_captions: 1           # a check on fewer scored captions fails (per its severity)
    bootstrap: {n_resamples: 1000, confidence: 0.95, seed: 0}
    checks:                   # absolute thresholds on summary.json metrics
      - metric: chair_i       # required; a metric of the run (summary.json "metrics")
        source: llava         # a source, a list of sources, `all` (each source) or
                              # `overall` (pooled over sources); default `all`
        max: 0.10             # at least one of max / min
        min: 0.0
        severity: warn        # Evidently's is_critical: warn never fails the build
        min_captions: 50
        name: llava-chair     # optional label used in reports
    baseline:                 # regression against an older run, on shared images
      run: path/to/old_run    # relative paths resolve against the config file's folder
      sources: all            # as `source` above; default `all`
      max_regression: {chair_i: 0.02, coverage: 0.03}   # in the metric's unit, >= "worse"
      severity: fail
      min_captions: 1
      per_source:             # per-source overrides of run / max_regression / severity / min_captions
        llava: {max_regression: {chair_i: 0.05}, severity: warn}

A regression is ``candidate - baseline`` for metrics where lower is better and
``baseline - candidate`` where higher is better; the direction comes from the run's
``summary["metrics"][name]["higher_is_better"]``. A baseline check fails only when the whole
bootstrap interval of the regression lies above ``max_regression``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from caption_audit.errors import ConfigError
from caption_audit.scoring.paired import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES

Severity = Literal["fail", "warn"]
SEVERITIES = ("fail", "warn")
ALL, OVERALL = "all", "overall"

TOP_KEYS = ("version", "severity", "min_captions", "bootstrap", "checks", "baseline")
CHECK_KEYS = ("metric", "source", "max", "min", "severity", "min_captions", "name")
BASELINE_KEYS = ("run", "sources", "max_regression", "severity", "min_captions", "per_source")
OVERRIDE_KEYS = ("run", "max_regression", "severity", "min_captions")
BOOTSTRAP_KEYS = ("n_resamples", "confidence", "seed")

DEFAULT_REGRESSION_METRICS = ("chair_i", "chair_s", "coverage", "halluc_per_100w")
"""Metrics checked (with ``max_regression`` 0) when a baseline is given without any."""


@dataclass
class Check:
    """One absolute check as written (sources not yet expanded)."""

    metric: str
    sources: list[str]
    max: float | None = None
    min: float | None = None
    severity: Severity = "fail"
    min_captions: int = 1
    name: str | None = None
    where: str = ""


@dataclass
class SourceOverride:
    run: Path | None = None
    max_regression: dict[str, float] = field(default_factory=dict)
    severity: Severity | None = None
    min_captions: int | None = None


@dataclass
class BaselineSpec:
    run: Path | None
    sources: list[str] = field(default_factory=lambda: [ALL])
    max_regression: dict[str, float] = field(default_factory=dict)
    severity: Severity = "fail"
    min_captions: int = 1
    per_source: dict[str, SourceOverride] = field(default_factory=dict)
    where: str = "baseline"


@dataclass
class GateConfig:
    """A validated gate configuration (names still to be checked against a run)."""

    checks: list[Check] = field(default_factory=list)
    baseline: BaselineSpec | None = None
    severity: Severity = "fail"
    min_captions: int = 1
    n_resamples: int = DEFAULT_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = 0
    origin: str = "<flags>"


# --------------------------------------------------------------------------- helpers


def _err(origin: str, where: str, msg: str) -> ConfigError:
    loc = f"{origin}: {where}" if where else origin
    return ConfigError(f"{loc}: {msg}")


def _keys(d: Any, allowed: tuple[str, ...], origin: str, where: str) -> dict:
    if not isinstance(d, dict):
        raise _err(origin, where, f"expected a mapping with keys {', '.join(allowed)}, got {type(d).__name__}")
    for k in d:
        if k not in allowed:
            import difflib

            close = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise _err(origin, where, f"unknown key '{k}'.{hint} Allowed keys: {', '.join(allowed)}.")
    return d


def _number(v: Any, origin: str, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _err(origin, where, f"expected a number, got {v!r}")
    return float(v)


MAX_RESAMPLES = 100_000
"""Upper bound on bootstrap resamples (a typo of extra zeros must not exhaust memory)."""


def _int(v: Any, origin: str, where: str, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise _err(origin, where, f"expected an integer >= {minimum}, got {v!r}")
    if maximum is not None and v > maximum:
        raise _err(origin, where, f"expected an integer <= {maximum:,}, got {v!r}")
    return v


def _name(v: Any, origin: str, where: str) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > 200:
        raise _err(origin, where, f"expected a short text label (at most 200 characters), got {type(v).__name__}")
    return v


def _severity(v: Any, origin: str, where: str) -> Severity:
    if v not in SEVERITIES:
        raise _err(origin, where, f"invalid severity {v!r}. Allowed values: {', '.join(SEVERITIES)}.")
    return v


def _sources(v: Any, origin: str, where: str) -> list[str]:
    if isinstance(v, str):
        items = [s.strip() for s in v.split(",") if s.strip()]
    elif isinstance(v, list) and v and all(isinstance(s, str) for s in v):
        items = list(v)
    else:
        raise _err(origin, where, f"expected a source name, a list of names, '{ALL}' or '{OVERALL}', got {v!r}")
    if not items:
        raise _err(origin, where, "empty source list")
    return items


def _regressions(v: Any, origin: str, where: str) -> dict[str, float]:
    if not isinstance(v, dict):
        raise _err(origin, where, f"expected a mapping metric -> allowed regression, got {v!r}")
    return {str(k): _number(x, origin, f"{where}.{k}") for k, x in v.items()}


def _resolve(path: Any, base_dir: Path, origin: str, where: str) -> Path:
    if not isinstance(path, str | Path) or not str(path):
        raise _err(origin, where, f"expected a path to a run folder, got {path!r}")
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


# --------------------------------------------------------------------------- parsing


def parse_config(raw: Any, *, origin: str = "<config>", base_dir: Path | None = None) -> GateConfig:
    """Validate a raw config mapping (as loaded from YAML) into a :class:`GateConfig`.

    Raises:
        ConfigError: naming the file, the key path (e.g. ``checks[1].severity``) and the
            allowed keys or values.
    """
    base_dir = base_dir or Path.cwd()
    if raw is None:
        raw = {}
    d = _keys(raw, TOP_KEYS, origin, "")
    if "version" in d and d["version"] != 1:
        raise _err(origin, "version", f"unsupported version {d['version']!r}. Allowed values: 1.")
    cfg = GateConfig(origin=origin)
    if "severity" in d:
        cfg.severity = _severity(d["severity"], origin, "severity")
    if "min_captions" in d:
        cfg.min_captions = _int(d["min_captions"], origin, "min_captions")
    if "bootstrap" in d:
        b = _keys(d["bootstrap"], BOOTSTRAP_KEYS, origin, "bootstrap")
        if "n_resamples" in b:
            cfg.n_resamples = _int(b["n_resamples"], origin, "bootstrap.n_resamples", 1, MAX_RESAMPLES)
        if "confidence" in b:
            c = _number(b["confidence"], origin, "bootstrap.confidence")
            if not 0 < c < 1:
                raise _err(origin, "bootstrap.confidence", f"must be between 0 and 1, got {c}")
            cfg.confidence = c
        if "seed" in b:
            cfg.seed = _int(b["seed"], origin, "bootstrap.seed", 0, 2**32 - 1)
    checks = d.get("checks") or []
    if not isinstance(checks, list):
        raise _err(origin, "checks", f"expected a list of checks, got {type(checks).__name__}")
    for i, c in enumerate(checks):
        where = f"checks[{i}]"
        c = _keys(c, CHECK_KEYS, origin, where)
        if "metric" not in c:
            raise _err(origin, where, f"missing required key 'metric'. Keys: {', '.join(CHECK_KEYS)}.")
        if "max" not in c and "min" not in c:
            raise _err(origin, where, "needs a threshold: 'max' and/or 'min'.")
        cfg.checks.append(
            Check(
                metric=str(c["metric"]),
                sources=_sources(c.get("source", ALL), origin, f"{where}.source"),
                max=_number(c["max"], origin, f"{where}.max") if "max" in c else None,
                min=_number(c["min"], origin, f"{where}.min") if "min" in c else None,
                severity=_severity(c.get("severity", cfg.severity), origin, f"{where}.severity"),
                min_captions=_int(c.get("min_captions", cfg.min_captions), origin, f"{where}.min_captions"),
                name=_name(c["name"], origin, f"{where}.name") if "name" in c else None,
                where=where,
            )
        )
    if d.get("baseline") is not None:
        b = _keys(d["baseline"], BASELINE_KEYS, origin, "baseline")
        spec = BaselineSpec(
            run=_resolve(b["run"], base_dir, origin, "baseline.run") if "run" in b else None,
            sources=_sources(b.get("sources", ALL), origin, "baseline.sources"),
            max_regression=_regressions(b.get("max_regression", {}), origin, "baseline.max_regression"),
            severity=_severity(b.get("severity", cfg.severity), origin, "baseline.severity"),
            min_captions=_int(b.get("min_captions", cfg.min_captions), origin, "baseline.min_captions"),
        )
        per = b.get("per_source") or {}
        if not isinstance(per, dict):
            raise _err(origin, "baseline.per_source", f"expected a mapping source -> overrides, got {per!r}")
        for src, o in per.items():
            w = f"baseline.per_source.{src}"
            o = _keys(o, OVERRIDE_KEYS, origin, w)
            spec.per_source[str(src)] = SourceOverride(
                run=_resolve(o["run"], base_dir, origin, f"{w}.run") if "run" in o else None,
                max_regression=_regressions(o.get("max_regression", {}), origin, f"{w}.max_regression"),
                severity=_severity(o["severity"], origin, f"{w}.severity") if "severity" in o else None,
                min_captions=_int(o["min_captions"], origin, f"{w}.min_captions") if "min_captions" in o else None,
            )
        cfg.baseline = spec
    return cfg


MAX_CONFIG_BYTES = 1 << 20
"""A gate config larger than this (1 MiB) is refused before parsing."""
MAX_ALIASES = 100
"""YAML aliases (``*name``) allowed in one config: bounds anchor/alias expansion bombs."""


def _bounded_loader():
    """A ``yaml.SafeLoader`` subclass that caps aliases and refuses duplicate keys."""
    import yaml

    class BoundedSafeLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    mark = self.peek_event().start_mark
                    raise yaml.YAMLError(_Limit(f"more than {MAX_ALIASES} aliases (*name); refusing to expand", mark))
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.get(key)
                    except TypeError:  # unhashable key: the base class reports it
                        continue
                    if first is not None:
                        raise yaml.YAMLError(_Limit(f"duplicate key {key!r} (first on line {first})",
                                                    key_node.start_mark))
                    seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep)

    return BoundedSafeLoader


class _Limit:
    """A loader refusal with its position (wrapped in ``yaml.YAMLError``)."""

    def __init__(self, message: str, mark):
        self.message, self.mark = message, mark


def load_config(path: str | Path) -> GateConfig:
    """Read and validate a gate YAML file.

    The file must be UTF-8 text of at most :data:`MAX_CONFIG_BYTES`; YAML is read with a
    safe loader that allows at most :data:`MAX_ALIASES` aliases and refuses duplicate keys.

    Raises:
        ConfigError: the file is missing, is not UTF-8 YAML, breaks a bound, or fails validation.
    """
    import yaml

    from caption_audit.errors import InputError
    from caption_audit.textfile import read_text_file

    p = Path(path)
    try:
        text = read_text_file(p, what="gate config", max_bytes=MAX_CONFIG_BYTES)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    try:
        raw = yaml.load(text, Loader=_bounded_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        limit = exc.args[0] if exc.args and isinstance(exc.args[0], _Limit) else None
        if limit is not None:
            raise ConfigError(f"{p}:{limit.mark.line + 1}: {limit.message}") from None
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise ConfigError(f"{p}: YAML nested too deeply") from None
    return parse_config(raw, origin=str(p), base_dir=p.resolve().parent)


def parse_assignments(items: list[str] | None, flag: str) -> dict[str, float]:
    """``["chair_i=0.1", "coverage=0.3"]`` -> dict; for ``--max`` / ``--min`` / ``--max-regression``."""
    out: dict[str, float] = {}
    for item in items or []:
        key, sep, val = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            number = float(val)
        except ValueError:
            raise ConfigError(f"{flag} {item!r}: expected METRIC=NUMBER, e.g. {flag} chair_i=0.1") from None
        if not math.isfinite(number):
            raise ConfigError(f"{flag} {item!r}: the threshold must be a finite number, got {val.strip()}")
        out[key.strip()] = number
    return out


def apply_flags(
    cfg: GateConfig,
    *,
    source: str | None = None,
    max_: dict[str, float] | None = None,
    min_: dict[str, float] | None = None,
    severity: str | None = None,
    min_captions: int | None = None,
    baseline: str | Path | None = None,
    max_regression: dict[str, float] | None = None,
    n_resamples: int | None = None,
    confidence: float | None = None,
    seed: int | None = None,
) -> GateConfig:
    """Merge command-line flags into ``cfg`` (flags add checks and override settings)."""
    o = "<flags>"
    if n_resamples is not None:
        cfg.n_resamples = _int(n_resamples, o, "--n-resamples", 1, MAX_RESAMPLES)
    if confidence is not None:
        if not 0 < confidence < 1:
            raise _err(o, "--confidence", f"must be between 0 and 1, got {confidence}")
        cfg.confidence = confidence
    if seed is not None:
        cfg.seed = _int(seed, o, "--seed", 0, 2**32 - 1)
    sev = _severity(severity, o, "--severity") if severity is not None else cfg.severity
    mc = _int(min_captions, o, "--min-captions") if min_captions is not None else cfg.min_captions
    if min_captions is not None:
        cfg.min_captions = mc
    sources = _sources(source or ALL, o, "--source")
    for metric in sorted(set(max_ or {}) | set(min_ or {})):
        cfg.checks.append(
            Check(
                metric=metric,
                sources=sources,
                max=(max_ or {}).get(metric),
                min=(min_ or {}).get(metric),
                severity=sev,
                min_captions=mc,
                where=f"--max/--min {metric}",
            )
        )
    if baseline is not None or max_regression:
        if cfg.baseline is None:
            cfg.baseline = BaselineSpec(run=None, severity=sev, min_captions=mc, where="--baseline")
        if baseline is not None:
            cfg.baseline.run = Path(baseline)
        if source is not None:
            cfg.baseline.sources = sources
        if max_regression:
            cfg.baseline.max_regression.update(max_regression)
    if cfg.baseline is not None:
        if cfg.baseline.run is None and not any(o.run for o in cfg.baseline.per_source.values()):
            raise ConfigError(f"{cfg.origin}: baseline.run: no baseline run given (set it or pass --baseline RUN)")
        if not cfg.baseline.max_regression and not any(
            o.max_regression for o in cfg.baseline.per_source.values()
        ):
            cfg.baseline.max_regression = dict.fromkeys(DEFAULT_REGRESSION_METRICS, 0.0)
    if not cfg.checks and cfg.baseline is None:
        raise ConfigError(
            f"{cfg.origin}: no checks configured: give --config gate.yaml, --max/--min METRIC=VALUE "
            "or --baseline OLD_RUN"
        )
    return cfg
