"""A run killed with SIGKILL part-way resumes from its finished shards and ends identical to an
uninterrupted run (captions/mentions/objects/images/classes tables and summary.json, less timing)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caption_audit.cli import build_parser
from caption_audit.commands.run import config_from_args
from caption_audit.pipeline import audit
from tests._scale_data import assert_same_run, interrupted_run, read_run, write_inputs

pytestmark = pytest.mark.slow


def _argv(caps: Path, objs: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--captions", str(caps), "--objects", str(objs), "--out", str(out), "--batch-size", "20",
            "--bootstrap", "50", "--quiet", *extra]


def _cli(argv: list[str]) -> list[str]:
    return [sys.executable, "-c", "import sys; from caption_audit.cli import main; sys.exit(main())", *argv]


def _kill_midway(cmd: list[str], parts: Path, min_shards: int = 3, timeout: float = 120) -> int:
    """Start ``cmd``, SIGKILL it once ``min_shards`` caption shards exist; returns the shard count."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            n = len(list(parts.glob("captions-*.arrow"))) if parts.exists() else 0
            if n >= min_shards:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                return n
            if proc.poll() is not None:
                pytest.fail(f"the run ended (rc {proc.returncode}) before it could be killed: "
                            f"{proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.01)
        pytest.fail("no shards appeared in time")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return 0


def test_sigkill_then_resume_gives_identical_output(tmp_path: Path) -> None:
    caps, objs = write_inputs(tmp_path / "in", n_images=250, per_image=4)  # 1,003 captions, 51 batches
    ref, out = tmp_path / "ref", tmp_path / "killed"
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, ref))))

    n_before = _kill_midway(_cli(_argv(caps, objs, out)), out / ".parts")
    assert not (out / "summary.json").exists(), "the run was not interrupted"
    done = sorted((out / ".parts").glob("captions-*.arrow"))
    assert len(done) >= n_before >= 3

    # restart with the same command line (in this process, where spaCy is already loaded)
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, out))))
    resumed = read_run(out)["summary"]

    run_block = json.loads((out / "summary.json").read_text())["run"]
    assert 20 * len(done) <= run_block["resumed_captions"] < resumed["counts"]["input"]
    assert not (out / ".parts").exists()  # shards cleaned up after the merge
    assert_same_run(ref, out)
    assert resumed["counts"]["input"] == 1003  # every input caption has a row, bad ones skipped


def test_changed_input_starts_over(tmp_path: Path) -> None:
    """Shards of a run with other inputs are never reused: the fingerprint differs."""
    caps, objs = write_inputs(tmp_path / "in", n_images=40, per_image=2)
    out = tmp_path / "run"
    parts = out / ".parts"
    parts.mkdir(parents=True)
    (parts / "manifest.json").write_text('{"fingerprint": "something-else"}')
    (parts / "captions-00000.arrow").write_text("stale")
    (parts / "mentions-00000.arrow").write_text("stale")
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, out))))

    s = json.loads((out / "summary.json").read_text())
    assert s["run"]["resumed_captions"] == 0
    assert s["counts"]["input"] == 83


def test_no_resume_flag_recomputes(tmp_path: Path) -> None:
    caps, objs = write_inputs(tmp_path / "in", n_images=30, per_image=2)
    out = tmp_path / "run"
    args = _argv(caps, objs, out)
    audit(config_from_args(build_parser().parse_args(args)))
    # leave finished shards behind as a killed run would, then ask for a fresh start
    from caption_audit.engine.shards import ShardStore

    fp = json_fp(out)
    store = ShardStore(out, fp)
    store.dir.mkdir()
    (store.dir / "manifest.json").write_text(json.dumps({"fingerprint": fp}))
    import shutil

    shutil.copy(out / "captions.parquet", store.dir / "captions-00000.arrow")
    shutil.copy(out / "mentions.parquet", store.dir / "mentions-00000.arrow")
    audit(config_from_args(build_parser().parse_args([*args, "--no-resume"])))
    assert json_run(out)["resumed_captions"] == 0
    audit(config_from_args(build_parser().parse_args(args)))  # nothing left to resume either
    assert json_run(out)["resumed_captions"] == 0


def json_run(out: Path) -> dict:

    return json.loads((out / "summary.json").read_text())["run"]


def json_fp(out: Path) -> str:
    return json_run(out)["fingerprint"]


def test_killed_worker_pool_leaves_no_orphans(tmp_path: Path) -> None:
    """SIGKILL of a ``--workers 2`` run: its worker processes exit too (no orphans eating CPU)."""
    psutil = pytest.importorskip("psutil")
    caps, objs = write_inputs(tmp_path / "in", n_images=250, per_image=4)
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli(_argv(caps, objs, out, "--workers", "2")), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((out / ".parts").glob("captions-*.arrow"))) < 2:
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)
        children = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, f"orphaned workers: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_resumed_run_reads_no_caption_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str) -> None:
    """A resumed run's corpus (duplicates, boilerplate) takes the resumed batches' records from
    their shards in their turn and the new batches' from their scorers: the quality pass reads
    no caption back, and the run ends identical to an uninterrupted one."""
    from caption_audit.quality import run as quality_run

    caps, objs = write_inputs(tmp_path / "in", n_images=60, per_image=3)
    ref, out = tmp_path / "ref", tmp_path / "run"
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, ref, "--workers", workers))))
    interrupted_run(_argv(caps, objs, out, "--workers", workers))
    assert len(list((out / ".parts").glob("captions-*.arrow"))) >= 3

    def no_read_back(paths: object) -> None:
        raise AssertionError("the quality pass read the captions back")

    monkeypatch.setattr(quality_run, "_corpus", no_read_back)
    audit(config_from_args(build_parser().parse_args(_argv(caps, objs, out, "--workers", workers))))
    assert json_run(out)["resumed_captions"] >= 60
    assert_same_run(ref, out)
