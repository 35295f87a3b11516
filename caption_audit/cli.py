"""The ``caption-audit`` command line.

Each subcommand lives in its own module that exposes ``register(subparsers)``; the module
adds its parser and sets ``func`` to a ``run(args) -> int`` callable. Modules are imported
only when listed here, and heavy libraries only inside ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
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


EXIT_OK, EXIT_GATE_FAILED, EXIT_ERROR, EXIT_NOTHING_SCORED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
"""Exit codes (README "Exit codes"): 0 ok, 1 gate failure, 2 usage/input/fault, 3 nothing
scored, 130 interrupted."""

DEBUG_ENV = "CAPTION_AUDIT_DEBUG"


def _say(message: str) -> None:
    """One line on stderr; a closed stderr is ignored."""
    with contextlib.suppress(OSError, ValueError):
        print(f"caption-audit: {message}", file=sys.stderr)


def _quiet_broken_pipe() -> None:
    """After EPIPE on stdout (``caption-audit compare --json - | head``): point stdout at
    /dev/null so the interpreter's final flush does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit code.

    Nothing reachable from here ends in a Python traceback: user errors
    (:class:`CaptionAuditError`) and OS errors print one line and return 2, a closed pipe
    exits quietly, Ctrl+C returns 130, and anything else prints
    ``caption-audit: internal error: <type>: <message>`` and returns 2 (set
    ``CAPTION_AUDIT_DEBUG=1`` to get the traceback instead).
    """
    import os

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args.func(args) or 0)
    except CaptionAuditError as exc:
        _say(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_broken_pipe()
        return EXIT_OK
    except OSError as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        _say(f"error: {where}{exc.strerror or exc}")
        return EXIT_ERROR
    except Exception as exc:  # last resort: never a traceback for users
        if os.environ.get(DEBUG_ENV):
            raise
        msg = " ".join(str(exc).split())[:500]
        _say(f"internal error: {type(exc).__name__}: {msg} (set {DEBUG_ENV}=1 for the traceback)")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
