"""The run folder's lifecycle while ``caption-audit run`` writes it (see docs/run-folder.md).

* ``.caption-audit`` - identity marker, written before anything else: this folder belongs to
  caption-audit, so a later ``run --out`` into it may overwrite and resume it. A non-empty folder
  without it (and without a caption-audit ``summary.json``) is refused.
* ``.lock`` - ``fcntl.flock`` held for the whole run: a second writer fails at once.
* ``.in-progress`` - present from the start of a run until its final commit (``summary.json``
  written last, then this marker removed); readers refuse a folder that has it.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from caption_audit.errors import InputError

MARKER = ".caption-audit"
LOCK = ".lock"
IN_PROGRESS = ".in-progress"
IN_PROGRESS_MESSAGE = "run in progress or interrupted; rerun the same command to resume"
TOOL = "caption-audit"


def os_reason(exc: OSError) -> str:
    """A one-line reason for an OS error (``disk full``, ``permission denied``, ...)."""
    if exc.errno == errno.ENOSPC:
        return "disk full (no space left on device)"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return (exc.strerror or str(exc)).lower()


def is_run_folder(path: Path) -> bool:
    """True when ``path`` was written by caption-audit (marker, summary.json or a killed run's shards)."""
    if (path / MARKER).is_file() or (path / ".parts" / "manifest.json").is_file():
        return True
    try:
        summary = json.loads((path / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    tool = summary.get("tool") if isinstance(summary, dict) else None
    return isinstance(tool, dict) and tool.get("name") == TOOL


def check_out(path: Path) -> None:
    """Refuse an ``--out`` that is a file, lies under a file, or is a non-empty folder of other files.

    Raises:
        InputError: with a one-line reason naming the path.
    """
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                where = "is a file" if parent == path else f"lies under a file ({parent})"
                raise InputError(str(path), f"--out {where}, not a folder")
            break
    if path.is_dir() and any(path.iterdir()) and not is_run_folder(path):
        raise InputError(str(path), "--out is a non-empty folder that is not a caption-audit run folder; "
                         "refusing to overwrite it (give a new or empty folder)")


class RunLock:
    """Create and lock a run folder for one writer; mark it in progress until :meth:`commit`.

    Example:
        >>> with RunLock(Path("runs/x")) as lock:   # doctest: +SKIP
        ...     ...                                 # write tables, then summary.json
        ...     lock.commit()
    """

    def __init__(self, path: Path, info: dict[str, Any] | None = None):
        self.path = path
        self.info = info or {}
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        check_out(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(str(self.path), f"cannot write the run folder: {os_reason(exc)}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise InputError(str(self.path), "another caption-audit run is writing this folder; "
                             "wait for it to finish or give another --out") from None
        try:
            _write_atomic(self.path / MARKER, json.dumps({"tool": TOOL, **self.info}) + "\n")
            _write_atomic(self.path / IN_PROGRESS, "caption-audit run in progress\n")
        except OSError as exc:
            self.release()
            raise InputError(str(self.path), f"cannot write the run folder: {os_reason(exc)}") from None
        return self

    def commit(self) -> None:
        """The run is complete (``summary.json`` is written): remove the in-progress marker."""
        (self.path / IN_PROGRESS).unlink(missing_ok=True)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def __exit__(self, *exc: Any) -> None:
        self.release()


def in_progress(path: Path) -> bool:
    """True while a run writes ``path`` or after one was killed before its final commit."""
    return (path / IN_PROGRESS).exists()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def remove_temp_files(path: Path) -> None:
    """Remove the ``.*.tmp`` files a failed write left in the run folder and its shard folder."""
    for folder in (path, path / ".parts"):
        if folder.is_dir():
            for p in folder.glob(".*.tmp"):
                p.unlink(missing_ok=True)
