"""Gate configuration: parsing, flags, and malformed configs (exit 2 naming key and allowed values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from caption_audit.cli import main
from caption_audit.errors import ConfigError
from caption_audit.gate.config import (
    DEFAULT_REGRESSION_METRICS,
    apply_flags,
    load_config,
    parse_assignments,
    parse_config,
)
from tests.gate_runs import have_shared, real_run

needs_data = pytest.mark.skipif(not have_shared(), reason="shared data (/work/shared/data) not available")


def test_full_config_parses(tmp_path: Path):
    raw = {
        "version": 1,
        "severity": "warn",
        "min_captions": 5,
        "bootstrap": {"n_resamples": 200, "confidence": 0.9, "seed": 3},
        "checks": [{"metric": "chair_i", "source": "llava", "max": 0.1}, {"metric": "coverage", "min": 0.3, "severity": "fail"}],
        "baseline": {"run": "old", "max_regression": {"chair_i": 0.02}, "per_source": {"llava": {"severity": "fail", "run": "/abs/old2"}}},
    }
    cfg = parse_config(raw, origin="g.yaml", base_dir=tmp_path)
    assert (cfg.n_resamples, cfg.confidence, cfg.seed) == (200, 0.9, 3)
    assert cfg.checks[0].sources == ["llava"] and cfg.checks[0].severity == "warn"  # inherits top severity
    assert cfg.checks[1].sources == ["all"] and cfg.checks[1].severity == "fail"
    assert cfg.checks[0].min_captions == 5
    assert cfg.baseline.run == tmp_path / "old"  # relative to the config's folder
    assert cfg.baseline.per_source["llava"].run == Path("/abs/old2")
    assert cfg.baseline.severity == "warn"


BAD = [
    # (yaml text, fragments the message must contain)
    ("checkz: []", ["checkz", "Did you mean 'checks'", "Allowed keys: version, severity"]),
    ("checks: [{metric: chair_i, maxx: 0.1}]", ["checks[0]", "unknown key 'maxx'", "Did you mean 'max'", "Allowed keys: metric, source, max, min"]),
    ("checks: [{metric: chair_i, max: 0.1, severity: critical}]", ["checks[0].severity", "'critical'", "Allowed values: fail, warn"]),
    ("checks: [{source: llava, max: 0.1}]", ["checks[0]", "missing required key 'metric'"]),
    ("checks: [{metric: chair_i}]", ["checks[0]", "'max' and/or 'min'"]),
    ("checks: [{metric: chair_i, max: lots}]", ["checks[0].max", "expected a number", "'lots'"]),
    ("checks: {metric: chair_i}", ["checks", "expected a list"]),
    ("baseline: {run: x, max_regression: {chair_i: high}}", ["baseline.max_regression.chair_i", "expected a number"]),
    ("baseline: {run: x, per_source: {llava: {sevrity: warn}}}", ["baseline.per_source.llava", "unknown key 'sevrity'", "Allowed keys: run, max_regression, severity, min_captions"]),
    ("baseline: {runs: x}", ["baseline", "unknown key 'runs'", "Allowed keys: run, sources"]),
    ("bootstrap: {confidence: 95}", ["bootstrap.confidence", "between 0 and 1"]),
    ("bootstrap: {n_resamples: 0}", ["bootstrap.n_resamples", "integer >= 1"]),
    ("min_captions: -1", ["min_captions", "integer >= 0"]),
    ("version: 2", ["version", "Allowed values: 1"]),
    ("checks: [\n  {metric: chair_i, max: 0.1\n", ["gate.yaml:", "not valid YAML"]),
    ("- just a list", ["expected a mapping with keys version"]),
]


@pytest.mark.parametrize(("text", "fragments"), BAD, ids=[b[0][:30] for b in BAD])
def test_malformed_config_message(tmp_path: Path, text: str, fragments: list[str]):
    p = tmp_path / "gate.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert str(p) in msg
    for f in fragments:
        assert f in msg, msg


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="gate config not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("items", "ok"),
    [(["chair_i=0.1", "coverage = 0.3"], {"chair_i": 0.1, "coverage": 0.3}), (["chair_i"], None), (["=1"], None), (["x=abc"], None)],
)
def test_parse_assignments(items, ok):
    if ok is None:
        with pytest.raises(ConfigError, match="expected METRIC=NUMBER"):
            parse_assignments(items, "--max")
    else:
        assert parse_assignments(items, "--max") == ok


def test_flags_baseline_defaults_to_no_regression():
    cfg = apply_flags(parse_config({}), baseline="old")
    assert cfg.baseline.max_regression == dict.fromkeys(DEFAULT_REGRESSION_METRICS, 0.0)


def test_no_checks_is_an_error():
    with pytest.raises(ConfigError, match="no checks configured"):
        apply_flags(parse_config({}))


def test_baseline_without_run_is_an_error():
    with pytest.raises(ConfigError, match=r"baseline.run.*--baseline"):
        apply_flags(parse_config({"baseline": {"max_regression": {"chair_i": 0}}}))


@needs_data
@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("checks: [{metric: chair_x, max: 0.1}]", ["checks[0].metric", "Unknown metric 'chair_x'", "Did you mean", "'chair_i'", "Valid names:", "coverage", "halluc_per_100w"]),
        ("checks: [{metric: chair_i, source: lava, max: 0.1}]", ["checks[0].source", "Unknown source 'lava'", "Did you mean 'llava'", "Valid names: all, coco, llava, overall"]),
        ("baseline: {run: RUN, max_regression: {coverag: 0.1}}", ["baseline.max_regression.coverag", "Unknown metric 'coverag'", "coverage"]),
        ("baseline: {run: RUN, sources: [sharegpt4v]}", ["baseline.sources", "Unknown source 'sharegpt4v'", "coco, llava"]),
        ("baseline: {run: RUN, per_source: {cocoo: {severity: warn}}}", ["baseline.per_source", "Unknown source 'cocoo'"]),
        ("baseline: {run: does/not/exist}", ["does/not/exist", "baseline run folder does not exist"]),
    ],
)
def test_names_checked_against_the_run_exit_2(tmp_path: Path, capsys, text: str, fragments: list[str]):
    bench = real_run("bench")
    p = tmp_path / "gate.yaml"
    p.write_text(text.replace("RUN", str(bench)))
    assert main(["gate", str(bench), "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("caption-audit: error:")
    for f in fragments:
        assert f in err, err


# ----------------------------------------------------------------------------- hostile configs (issue #14)


def _bomb(levels: int) -> str:
    """Billion-laughs anchors chained into checks[0].name."""
    lines = ["x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nchecks:\n  - metric: chair_i\n    max: 0.1\n    name: *a{levels - 1}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_bomb(13), "more than 100 aliases"),
        ("checks:\n  - metric: chair_i\n    max: 0.1\n    max: 0.5\n", ":4: duplicate key 'max' (first on line 3)"),
        ("severity: warn\nchecks: []\nseverity: fail\n", ":3: duplicate key 'severity' (first on line 1)"),
        ("checks:\n  - metric: chair_i\n    max: 0.1\n    name: [a, b]\n", "checks[0].name: expected a short text label"),
        ("checks:\n  - metric: chair_i\n    max: .nan\n", "checks[0].max: expected a number"),
        ("bootstrap: {n_resamples: 100000000000}\n", "bootstrap.n_resamples: expected an integer <= 100,000"),
    ],
)
def test_hostile_yaml_refused_quickly(tmp_path: Path, text: str, message: str):
    import time

    p = tmp_path / "gate.yaml"
    p.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert message in str(exc.value) and str(exc.value).startswith(str(p))
    assert time.perf_counter() - t0 < 2.0


def test_merge_keys_are_not_duplicates(tmp_path: Path):
    p = tmp_path / "gate.yaml"
    p.write_text("checks:\n  - &c {metric: chair_i, max: 0.1}\n  - <<: *c\n    max: 0.2\n")
    cfg = load_config(p)
    assert [c.max for c in cfg.checks] == [0.1, 0.2]


def test_oversized_config_refused(tmp_path: Path):
    p = tmp_path / "gate.yaml"
    p.write_text("# " + "x" * (1 << 20) + "\nchecks: []\n")
    with pytest.raises(ConfigError, match="the limit is 1,048,576"):
        load_config(p)


@pytest.mark.parametrize("item", ["chair_i=nan", "chair_i=inf", "coverage=-inf", "chair_i=NaN"])
def test_non_finite_thresholds_refused(item: str):
    with pytest.raises(ConfigError, match="must be a finite number"):
        parse_assignments([item], "--max")
