"""Engines and worker counts change where batches run, never the run folder."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from caption_audit.cli import build_parser
from caption_audit.commands.run import config_from_args
from caption_audit.errors import ConfigError
from caption_audit.pipeline import audit
from tests._scale_data import assert_same_run, interrupted_run, read_run, write_inputs


def _run(caps: Path, objs: Path, out: Path, *extra: str) -> Path:
    argv = ["run", "--captions", str(caps), "--objects", str(objs), "--out", str(out),
            "--batch-size", "40", "--bootstrap", "50", "--quiet", "--no-resume", *extra]
    return audit(config_from_args(build_parser().parse_args(argv)))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("engines")
    caps, objs = write_inputs(folder / "in", n_images=100, per_image=4)  # 403 captions, 11 batches
    ref = _run(caps, objs, folder / "w1")
    return caps, objs, ref


def test_workers_2_equals_workers_1(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    caps, objs, ref = inputs
    out = _run(caps, objs, tmp_path / "w2", "--workers", "2")
    assert_same_run(ref, out)
    s = read_run(out)["summary"]
    assert s["counts"]["input"] == 403
    assert s["counts"]["skipped_by_reason"] == {"unknown image id": 1, "empty caption": 1, "invalid JSON": 1}


def test_more_workers_than_batches(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    caps, objs, ref = inputs
    argv = ["run", "--captions", str(caps), "--objects", str(objs), "--out", str(tmp_path / "w3"),
            "--batch-size", "400", "--bootstrap", "50", "--quiet", "--workers", "3"]
    out = audit(config_from_args(build_parser().parse_args(argv)))
    a, b = read_run(ref), read_run(out)
    assert a["captions"].equals(b["captions"]) and a["mentions"].equals(b["mentions"])


def test_bad_engine_settings_are_config_errors(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    caps, objs, _ = inputs
    for extra in (["--workers", "0"], ["--batch-size", "0"]):
        with pytest.raises(ConfigError):
            _run(caps, objs, tmp_path / "bad", *extra)


_NO_READ_BACK = ("import caption_audit.quality.run as q\n"
                 "def _corpus(*_):\n    raise AssertionError('the quality pass read the captions back')\n"
                 "q._corpus = _corpus\n")


def _ray_run_without_read_back(argv: list[str]) -> None:
    """``caption-audit`` with ``argv`` (an ``--engine ray`` run) in a subprocess with a hard
    timeout, its quality pass made to fail if it reads the captions back: a Ray that deadlocks
    (see environment notes: a full actor pool on 2 cores) fails the test, not CI."""
    cmd = [sys.executable, "-c", _NO_READ_BACK + "import sys; from caption_audit.cli import main; sys.exit(main())",
           *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    try:
        _, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
        proc.communicate()
        pytest.fail("--engine ray did not finish in 240 s (deadlock?)")
    assert proc.returncode == 0, err[-3000:]


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'caption-audit[ray]')")
def test_ray_engine_equals_local(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """``--engine ray`` on a local Ray (CPU), in a subprocess with a hard timeout: a Ray that
    deadlocks (see environment notes: a full actor pool on 2 cores) fails the test, not CI. The
    actors prepare the corpus records: the quality pass never reads the captions back."""
    caps, objs, ref = inputs
    out = tmp_path / "ray"
    _ray_run_without_read_back(["run", "--captions", str(caps), "--objects", str(objs), "--out", str(out),
                                "--batch-size", "40", "--bootstrap", "50", "--quiet", "--no-resume",
                                "--engine", "ray", "--workers", "1"])
    assert_same_run(ref, out)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'caption-audit[ray]')")
def test_ray_resumes_a_local_run_without_reading_back(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A run stopped after 3 batches, resumed with ``--engine ray``: the resumed batches' corpus
    records come from their shards and the actors' from the actors, in batch order; the quality
    pass reads no caption back and the run folder equals an uninterrupted one."""
    caps, objs, ref = inputs
    out = tmp_path / "resumed"
    argv = ["run", "--captions", str(caps), "--objects", str(objs), "--out", str(out),
            "--batch-size", "40", "--bootstrap", "50", "--quiet"]
    interrupted_run(argv)
    _ray_run_without_read_back([*argv, "--engine", "ray", "--workers", "1"])
    assert json.loads((out / "summary.json").read_text())["run"]["resumed_captions"] >= 120
    assert_same_run(ref, out)
