"""``caption-audit dashboard RUN``: launch the Streamlit dashboard on a run folder.

The command checks its inputs, then runs ``streamlit run dashboards/app.py`` in a
subprocess bound to 127.0.0.1 by default, headless, with usage statistics off. Streamlit is
imported only by the subprocess.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import subprocess
import sys
from pathlib import Path

from caption_audit.errors import ConfigError, InputError
from caption_audit.store.layout import table_file

APP = Path(__file__).resolve().with_name("app.py")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``dashboard`` subcommand to the ``caption-audit`` parser."""
    p = subparsers.add_parser(
        "dashboard",
        help="browse a run in a local Streamlit dashboard",
        description="Open a run folder in the caption-audit dashboard (Overview, Image browser, "
        "Explorer, Baseline). Serves on http://HOST:PORT until interrupted.",
        epilog="Examples:\n  caption-audit dashboard runs/a --images coco/val2017\n"
        "  caption-audit dashboard runs/b --baseline runs/a --port 8600\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `caption-audit run --out`")
    p.add_argument("--baseline", metavar="OLD_RUN", help="an earlier run to compare against")
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; use 0.0.0.0 only on a trusted network)")
    p.add_argument("--images", metavar="DIR",
                   help="folder with the image files (found by file_name or COCO naming); "
                   "defaults to summary.json's images_dir")
    p.set_defaults(func=run)
    return p


def _check_run(path: str, flag: str) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InputError(str(root), f"{flag}: run folder not found")
    captions = table_file(root, "captions")
    if not captions.is_file():
        raise InputError(str(captions), f"{flag}: missing; not a caption-audit run folder")
    return root.resolve()


def build_command(args: argparse.Namespace) -> list[str]:
    """The ``streamlit run`` command line for ``args`` (validated).

    Raises:
        InputError: a run folder or the images folder does not exist.
        ConfigError: a bad port.
    """
    run_dir = _check_run(args.run, "RUN")
    if not 0 < int(args.port) < 65536:
        raise ConfigError(f"--port must be 1..65535, got {args.port}")
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP),
           "--server.headless", "true", "--server.address", str(args.host),
           "--server.port", str(int(args.port)), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
           "--", "--run", str(run_dir)]
    if getattr(args, "baseline", None):
        cmd += ["--baseline", str(_check_run(args.baseline, "--baseline"))]
    if getattr(args, "images", None):
        images = Path(args.images).expanduser()
        if not images.is_dir():
            raise InputError(str(images), "--images: folder not found")
        cmd += ["--images", str(images.resolve())]
    return cmd


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def exposure_warning(host: str) -> str | None:
    """The warning printed when ``--host`` makes the dashboard reachable from other machines."""
    h = str(host).strip().lower()
    if h in LOOPBACK or h.startswith("127."):
        return None
    return (f"caption-audit dashboard: WARNING: --host {host} makes the dashboard reachable by other "
            "machines on the network; it has no authentication, so anyone who can reach "
            "the port can read this run (captions, images). Use it only on a trusted network.")


def run(args: argparse.Namespace) -> int:
    """Launch the dashboard and wait for it; returns Streamlit's exit code."""
    cmd = build_command(args)
    if importlib.util.find_spec("streamlit") is None:
        raise ConfigError("the dashboard needs Streamlit: pip install 'caption-audit[dashboard]'")
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr)
    print(f"caption-audit dashboard: serving {cmd[cmd.index('--run') + 1]} on "
          f"http://{args.host}:{args.port}/ (Ctrl+C to stop)", file=sys.stderr)
    return serve(cmd)


#: seconds the server gets to stop after SIGTERM before it is killed
STOP_GRACE_S = 5.0


def serve(cmd: list[str]) -> int:
    """Run the Streamlit server ``cmd`` as a child in its own process group and wait for it.

    SIGTERM, SIGINT and SIGHUP sent to this process are forwarded to the child's process
    group (so the server and anything it spawned stop too); if the group is still there
    :data:`STOP_GRACE_S` seconds later it is killed. Returns the child's exit code, or 128 +
    the signal number when a signal stopped us.
    """
    import os
    import signal

    child = subprocess.Popen(cmd, start_new_session=True)
    got: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        got.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)

    stops = [signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)]
    previous = {sig: signal.signal(sig, forward) for sig in stops if sig is not None}
    try:
        while True:
            try:
                rc = child.wait(timeout=STOP_GRACE_S if got else None)
                break
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # leave nothing of the group behind (a grandchild the server started)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
    return 128 + got[0] if got else rc
