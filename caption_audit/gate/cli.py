"""``caption-audit gate``: pass or fail a run against thresholds and a baseline run."""

from __future__ import annotations

import argparse

EPILOG = """\
Examples:
  caption-audit gate runs/new --config gate.yaml --junit gate.xml --markdown gate.md
  caption-audit gate runs/new --max chair_i=0.10 --min coverage=0.30 --source llava
  caption-audit gate runs/new --baseline runs/main --max-regression chair_i=0.02

Exit codes:
  0  every check passed (warnings allowed)
  1  at least one check with severity `fail` failed
  2  bad config or options, a run folder that cannot be read, no check to evaluate, or a
     check that could not be evaluated (ERROR: metric undefined, no shared images)
  3  nothing was scored (empty input never passes)

A baseline check fails only when the whole paired-bootstrap interval of the regression
(on images both runs share) lies above the allowed regression. With --baseline and no
--max-regression, chair_i, chair_s, coverage and halluc_per_100w must not regress at all.
The Markdown table is also appended to $GITHUB_STEP_SUMMARY when that variable is set.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gate`` subcommand."""
    p = subparsers.add_parser(
        "gate",
        help="pass/fail a run against thresholds and a baseline (CI gate)",
        description="Check a run folder against absolute thresholds and/or a baseline run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `caption-audit run`")
    p.add_argument("--config", "-c", metavar="GATE.YAML", help="gate configuration (see docs/ci/gate.yaml)")
    g = p.add_argument_group("checks as flags (added to --config)")
    g.add_argument("--max", action="append", metavar="METRIC=VALUE", help="fail if METRIC > VALUE")
    g.add_argument("--min", action="append", metavar="METRIC=VALUE", help="fail if METRIC < VALUE")
    g.add_argument("--source", metavar="NAMES", help="sources for flag checks: name[,name], all or overall")
    g.add_argument("--severity", choices=("fail", "warn"), help="severity of flag checks")
    g.add_argument("--min-captions", type=int, metavar="N", help="fail a check resting on fewer captions")
    g.add_argument("--baseline", metavar="OLD_RUN", help="baseline run folder (overrides baseline.run)")
    g.add_argument(
        "--max-regression", action="append", metavar="METRIC=VALUE", help="allowed regression vs baseline"
    )
    b = p.add_argument_group("bootstrap")
    b.add_argument("--n-resamples", type=int, metavar="N", help="bootstrap resamples (default 1000)")
    b.add_argument("--confidence", type=float, metavar="C", help="interval level (default 0.95)")
    b.add_argument("--seed", type=int, metavar="S", help="bootstrap seed (default 0)")
    o = p.add_argument_group("reports")
    o.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per check)")
    o.add_argument("--markdown", metavar="FILE", help="write a Markdown table")
    o.add_argument("--json", metavar="FILE", help="write the results as JSON")
    o.add_argument("--quiet", "-q", action="store_true", help="print only failures and the totals line")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """The :class:`GateConfig` from ``--config`` plus flags (raises ConfigError)."""
    from caption_audit.gate.config import GateConfig, apply_flags, load_config, parse_assignments

    cfg = load_config(args.config) if args.config else GateConfig()
    return apply_flags(
        cfg,
        source=args.source,
        max_=parse_assignments(args.max, "--max"),
        min_=parse_assignments(args.min, "--min"),
        severity=args.severity,
        min_captions=args.min_captions,
        baseline=args.baseline,
        max_regression=parse_assignments(args.max_regression, "--max-regression"),
        n_resamples=args.n_resamples,
        confidence=args.confidence,
        seed=args.seed,
    )


def evaluate(cfg, run_path: str):
    """Open the run and evaluate every check: ``(results, exit_code)``.

    Raises:
        ConfigError / InputError: exit 2; NothingScoredError: exit 3.
    """
    from caption_audit.errors import ConfigError
    from caption_audit.gate.baseline import run_baseline_checks
    from caption_audit.gate.checks import exit_code, run_absolute_checks
    from caption_audit.gate.runio import NothingScoredError, open_run

    run_ = open_run(run_path)
    if run_.n_scored() == 0:
        raise NothingScoredError(f"{run_path}: nothing was scored (0 scored captions); the gate cannot pass")
    results = run_absolute_checks(cfg, run_) + run_baseline_checks(cfg, run_)
    if not results:
        raise ConfigError(f"{run_path}: no check could be evaluated (0 checks); the gate cannot pass on nothing")
    return results, exit_code(results)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``caption-audit gate``."""
    from caption_audit.gate import report

    cfg = build_config(args)
    results, code = evaluate(cfg, args.run)
    report.print_console(results, code, only_problems=args.quiet)
    baseline = str(cfg.baseline.run) if cfg.baseline and cfg.baseline.run else None
    if args.json:
        report.write_json(args.json, report.to_json(results, code, run=args.run, baseline=baseline))
    if args.junit:
        report.write_text(args.junit, report.to_junit(results))
    md = report.to_markdown(results, code, run=args.run, baseline=baseline)
    report.write_markdown(args.markdown, md)
    return code
