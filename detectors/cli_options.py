"""Detector options for argparse (wired into ``caption-audit run`` by the CLI)."""

from __future__ import annotations

import argparse
from typing import Any

from detectors.base import DETECTORS


def add_detector_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add ``--images --detector --model --device --detect-batch-size --detect-workers --cache-dir
    --box-threshold --text-threshold`` in an argument group, and return the group."""
    g = parser.add_argument_group("detector (optional: check objects against the image pixels)")
    g.add_argument("--images", metavar="DIR", help="folder with the image files (searched two levels deep; recorded for the dashboard; "
                   "COCO names like 000000391895.jpg / COCO_val2014_000000391895.jpg are found by id)")
    g.add_argument("--no-pixels", action="store_true",
                   help="with --images, do not judge colour claims on the pixels (e.g. drawn or synthetic images)")
    g.add_argument("--detector", metavar="NAME", default=None,
                   help=f"detector backend: {', '.join(DETECTORS.names())} (default: none, i.e. ground truth only)")
    g.add_argument("--model", metavar="PATH_OR_ID", default=None,
                   help="save_pretrained folder or Hugging Face id (default: the backend's, e.g. "
                   "IDEA-Research/grounding-dino-tiny); with HF_HUB_OFFLINE=1 only the local cache is used")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the model runs (default: %(default)s = cuda if available)")
    g.add_argument("--detect-batch-size", type=_positive_int, default=8, metavar="N",
                   help="images per model batch (default: %(default)s)")
    g.add_argument("--detect-workers", type=int, default=2, metavar="N",
                   help="image decoding workers (default: %(default)s)")
    g.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="detection cache (default: $XDG_CACHE_HOME/caption-audit/detections)")
    g.add_argument("--box-threshold", type=_unit_float, default=None, metavar="T",
                   help="minimum box score (default: the backend's own: 0.35 for grounding-dino, 0.1 for owlv2)")
    g.add_argument("--text-threshold", type=_unit_float, default=None, metavar="T",
                   help="minimum phrase-token score, Grounding DINO only (default: the backend's, 0.25)")
    return g


def detector_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`detectors.base.get_detector` from parsed options.

    A threshold the user did not give is left out, so each backend keeps its own default
    (OWLv2's 0.1 is not Grounding DINO's 0.35).
    """
    kw: dict[str, Any] = {"device": args.device}
    if args.box_threshold is not None:
        kw["box_threshold"] = args.box_threshold
    if args.model:
        kw["model"] = args.model
    if (args.detector or "grounding-dino") == "grounding-dino" and args.text_threshold is not None:
        kw["text_threshold"] = args.text_threshold
    return kw


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _unit_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got '{text}'") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {v}")
    return v
