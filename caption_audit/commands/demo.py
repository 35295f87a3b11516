"""``caption-audit demo``: audit the bundled sample and print the per-source comparison."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="audit the bundled sample (COCO vs LLaVA vs ShareGPT4V styles)",
                       description="Run the full audit on the bundled sample: 14 drawn images with "
                       "hand-written imitations of COCO, LLaVA and ShareGPT4V captions and COCO-format "
                       "instances. It is not real COCO/LLaVA/ShareGPT4V data; its numbers show the tool, "
                       "not the datasets.")
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
        pixels=False,  # the images are drawn shapes in class colours: their pixels judge no colour claim
    )
    if not args.quiet:
        print(INTRO)
    out = audit(cfg)
    if not args.quiet:
        print_report(out)
        print(METRICS)
        print(f"\nRun folder: {out}   (images: {d / 'images'})")
        print(f"Next: caption-audit report {out} --html report.html   |   {dashboard_hint(out)}")
    return 0


INTRO = ("Demo sample: 14 drawn images (coloured shapes, not photos) with hand-written imitations of COCO "
         "captions,\nLLaVA detailed descriptions and ShareGPT4V long descriptions; not real COCO/LLaVA/ShareGPT4V "
         "data.\n")
METRICS = ("\nCHAIR-i: share of object mentions (COCO classes) that are not in the image; lower is better.\n"
           "CHAIR-s: share of captions with at least one hallucinated object; lower is better.\n"
           "coverage: share of the image's annotated object classes that the caption names; higher is better.")


def dashboard_hint(out: object) -> str:
    """The dashboard command, or what to install first when Streamlit is missing."""
    import importlib.util

    if importlib.util.find_spec("streamlit") is None:
        return f"pip install 'caption-audit[dashboard]', then: caption-audit dashboard {out}"
    return f"caption-audit dashboard {out}"
