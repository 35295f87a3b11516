"""The ``caption-audit`` command line.

Each subcommand lives in its own module that exposes ``register(subparsers)``; the module
adds its parser and sets ``func`` to a ``run(args) -> int`` callable. Modules are imported
only when listed here, and heavy libraries only inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from caption_audit import __version__
from caption_audit.errors import CaptionAuditError

# subcommand name -> module exposing register(subparsers)
SUBCOMMANDS: dict[str, str] = {
    "run": "caption_audit.commands.run",
    "report": "caption_audit.commands.report",
    "demo": "caption_audit.commands.demo",
    "gate": "caption_audit.gate.cli",
    "compare": "caption_audit.compare.cli",
    "dashboard": "dashboards.cli",
    "evaluate": "caption_audit.semantic.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caption-audit",
        description="Audit image captions for hallucinated objects and coverage.",
        epilog="Examples:\n  caption-audit demo\n"
        "  caption-audit run --coco-captions captions_val2017.json "
        "--coco-instances instances_val2017.json --llava detail_23k.json --out runs/a\n"
        "  caption-audit report runs/a\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"caption-audit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # an optional area not installed/built
            if exc.name and exc.name.startswith(module.split(".")[0]):
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CaptionAuditError as exc:
        print(f"caption-audit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("caption-audit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
