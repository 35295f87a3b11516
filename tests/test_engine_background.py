"""engine/background.py: a side job in a forked child; its error is raised in the parent at
join (an OSError stays an OSError), a child that dies is an error, a job never joined is
stopped; and a run whose side jobs are forked writes the same run folder as one that runs
them inline."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from caption_audit.engine.background import Background


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _fail_disk_full(path: Path) -> None:
    raise OSError(28, "No space left on device", str(path))


def _die() -> None:
    os._exit(3)


def _sleep_then_write(path: Path) -> None:
    time.sleep(30)
    path.write_text("late")


def test_forked_job_writes_and_joins(tmp_path: Path) -> None:
    with Background(_write, tmp_path / "a.txt", "done") as job:
        job.join()
        job.join()  # a second join is a no-op
    assert (tmp_path / "a.txt").read_text() == "done"


def test_error_in_child_is_raised_at_join_with_its_type(tmp_path: Path) -> None:
    job = Background(_fail_disk_full, tmp_path / "x")
    with pytest.raises(OSError) as info:
        job.join()
    assert info.value.errno == 28 and info.value.filename == str(tmp_path / "x")


def test_child_that_dies_is_an_error() -> None:
    job = Background(_die)
    with pytest.raises(RuntimeError, match="exit code 3"):
        job.join()


def test_inline_job_runs_at_once_and_raises_there(tmp_path: Path) -> None:
    Background(_write, tmp_path / "b.txt", "now", inline=True)
    assert (tmp_path / "b.txt").read_text() == "now"  # before any join
    with pytest.raises(OSError):
        Background(_fail_disk_full, tmp_path / "y", inline=True)


def test_job_never_joined_is_stopped_on_exit(tmp_path: Path) -> None:
    with Background(_sleep_then_write, tmp_path / "c.txt") as job:
        proc = job._proc
    assert not proc.is_alive()
    assert not (tmp_path / "c.txt").exists()


def test_run_with_forked_side_jobs_equals_run_with_inline_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from caption_audit import pipeline
    from caption_audit.cli import build_parser
    from caption_audit.commands.run import config_from_args
    from tests._scale_data import assert_same_run, write_inputs

    caps, objs = write_inputs(tmp_path / "in", n_images=60, per_image=3)

    def run(out: Path) -> None:
        args = ["run", "--captions", str(caps), "--objects", str(objs), "--out", str(out), "--batch-size", "20",
                "--bootstrap", "50", "--quiet"]
        pipeline.audit(config_from_args(build_parser().parse_args(args)))

    forks: list[bool] = []
    real = Background.__init__

    def spy(self: Background, fn: object, *args: object, inline: bool = False) -> None:
        forks.append(not inline)
        real(self, fn, *args, inline=inline)

    monkeypatch.setattr(Background, "__init__", spy)
    run(tmp_path / "inline")  # small: both side jobs inline
    assert forks == [False, False]
    monkeypatch.setattr(pipeline, "_BACKGROUND_MIN_OBJECTS", 0)
    monkeypatch.setattr(pipeline, "_BACKGROUND_MIN_BYTES", 0)
    forks.clear()
    run(tmp_path / "forked")
    assert forks == [True, True]
    assert_same_run(tmp_path / "inline", tmp_path / "forked")
