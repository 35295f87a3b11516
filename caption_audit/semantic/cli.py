"""``caption-audit evaluate RUN --labels FILE``: agreement of a run with human labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate",
        help="agreement of a run's hallucination verdicts with human labels",
        description="Compare a run folder's verdicts with a JSONL label file: caption labels "
        '({"caption_id", "hallucinated": bool, "hallucinated_objects": [...], "spans": [[s, e], ...]}, '
        'see docs/semantic.md) or claim labels ({"caption_id", "kind", "span": [s, e], "subject", "value", '
        '"label": true|false|"unclear"}, see docs/claims.md); the kind is read from the first record.',
        epilog="Example:\n  caption-audit evaluate runs/a --labels labels.jsonl --json eval.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, metavar="RUN", help="run folder written by `caption-audit run`")
    p.add_argument("--labels", required=True, type=Path, metavar="FILE", help="JSONL label file")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the full result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from caption_audit.semantic.evaluate import evaluate_run, format_result
    from caption_audit.semantic.evaluate_claims import (
        evaluate_claims,
        format_claims_result,
        is_claim_label_file,
    )

    if is_claim_label_file(args.labels):
        res = evaluate_claims(args.run_dir, args.labels)
        print(format_claims_result(res))
    else:
        res = evaluate_run(args.run_dir, args.labels)
        print(format_result(res))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=str))
    return 0
