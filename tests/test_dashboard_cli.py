"""Tests for dashboards/cli.py: argument checks and the streamlit command line."""

from __future__ import annotations

import argparse
import sys

import pytest

from caption_audit.cli import build_parser, main
from dashboards import cli
from tests.dashboard_fixture import build_tiny_run


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["dashboard", *argv])


def test_registered_in_caption_audit_cli():
    args = parse("runs/a")
    assert args.func is cli.run and args.port == 8501 and args.host == "127.0.0.1"
    assert args.baseline is None and args.images is None


def test_command_line(tmp_path):
    run = build_tiny_run(tmp_path / "a")
    base = build_tiny_run(tmp_path / "b")
    (tmp_path / "imgs").mkdir()
    cmd = cli.build_command(parse(str(run), "--baseline", str(base), "--port", "8612", "--images", str(tmp_path / "imgs")))
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"] and cmd[4].endswith("dashboards/app.py")
    opts = dict(zip(cmd[5:cmd.index("--")][::2], cmd[5:cmd.index("--")][1::2], strict=True))
    assert opts["--server.headless"] == "true" and opts["--server.address"] == "127.0.0.1"
    assert opts["--server.port"] == "8612" and opts["--browser.gatherUsageStats"] == "false"
    tail = cmd[cmd.index("--") + 1:]
    assert tail == ["--run", str(run.resolve()), "--baseline", str(base.resolve()), "--images", str((tmp_path / "imgs").resolve())]


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/missing"], "RUN: run folder not found"),
    (["{tmp}"], "captions.parquet: RUN: missing"),
    (["{run}", "--baseline", "{tmp}/nope"], "--baseline: run folder not found"),
    (["{run}", "--images", "{tmp}/nope"], "--images: folder not found"),
    (["{run}", "--port", "70000"], "--port must be 1..65535"),
])
def test_user_errors_are_clear_and_exit_2(tmp_path, capsys, argv, message):
    run = build_tiny_run(tmp_path / "r")
    argv = [a.format(tmp=tmp_path, run=run) for a in argv]
    assert main(["dashboard", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("caption-audit: error: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("host", "warns"),
    [("127.0.0.1", False), ("localhost", False), ("::1", False), ("127.0.0.2", False),
     ("0.0.0.0", True), ("::", True), ("192.168.1.5", True), ("example.org", True)],
)
def test_exposure_warning_for_non_loopback_hosts(host, warns):
    w = cli.exposure_warning(host)
    assert (w is not None) == warns
    if warns:
        assert f"--host {host}" in w and "no authentication" in w and "reachable by other" in w


def test_host_warning_printed_before_launch(tmp_path, monkeypatch, capsys):
    run = build_tiny_run(tmp_path / "run")
    monkeypatch.setattr(cli, "serve", lambda cmd: 0)  # the Streamlit process boundary
    assert main(["dashboard", str(run), "--host", "0.0.0.0"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("caption-audit dashboard: WARNING: --host 0.0.0.0") and "no authentication" in err


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_stopping_the_command_stops_the_server(tmp_path, sig):
    """A real `caption-audit dashboard` on 127.0.0.1: once it serves, the signal stops the
    command and its Streamlit server (the port closes), within a bounded wait."""
    import os
    import signal
    import socket
    import subprocess
    import time

    run = build_tiny_run(tmp_path / "run")
    with socket.socket() as s_:
        s_.bind(("127.0.0.1", 0))
        port = s_.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(cli.APP.parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "caption_audit.cli", "dashboard", str(run), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening() -> bool:
        with socket.socket() as c:
            c.settimeout(0.5)
            return c.connect_ex(("127.0.0.1", port)) == 0

    try:
        deadline = time.monotonic() + 60
        while not listening():
            assert proc.poll() is None, "the dashboard exited before serving"
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            time.sleep(0.3)
        proc.send_signal(getattr(signal, sig))
        rc = proc.wait(timeout=20)
        assert rc == 128 + getattr(signal, sig)
        deadline = time.monotonic() + 10
        while listening():
            assert time.monotonic() < deadline, "the Streamlit server kept serving after the command stopped"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
