"""``caption-audit demo``: audit the bundled sample and print the per-source comparison."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="audit the bundled sample (COCO vs LLaVA vs ShareGPT4V styles)",
                       description="Run the full audit on the bundled, authored sample of 14 images with "
                       "COCO-style, LLaVA-style and ShareGPT4V-style captions and COCO-format instances.")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (default runs/demo)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, report or hints")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from caption_audit.commands.report import print_report
    from caption_audit.demo import data_dir
    from caption_audit.pipeline import AuditConfig, InputSpec, audit

    d = data_dir()
    cfg = AuditConfig(
        inputs=[
            InputSpec(d / "coco_captions.json", "captions", "coco_captions", "coco"),
            InputSpec(d / "instances.json", "ground_truth", "coco_instances"),
            InputSpec(d / "llava_detail.json", "captions", "llava_conversations", "llava"),
            InputSpec(d / "sharegpt4v.json", "captions", "sharegpt4v", "sharegpt4v"),
        ],
        out=args.out,
        progress=not args.quiet,
        images_dir=d / "images",
    )
    out = audit(cfg)
    if not args.quiet:
        print_report(out)
        print(f"\nRun folder: {out}   (images: {d / 'images'})")
        print(f"Next: caption-audit report {out} --json   |   caption-audit dashboard {out}")
    return 0
