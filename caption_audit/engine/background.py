"""A side job of a run in a forked child process: Parquet writing that depends on nothing the
run still computes (the ground-truth objects table while spaCy loads; the mentions and claims
merges while the captions table is rewritten), on the core the run's parent leaves idle.

A :class:`Background` job starts at once; :meth:`Background.join` waits for it and raises the
child's exception in the parent (an ``OSError`` stays an ``OSError``: a full disk reads the same
as in the parent). Without ``fork`` (Windows, or ``CAPTION_AUDIT_NO_FORK=1``), or for a small job
(``inline=True``: a fork and a join cost tens of milliseconds), the job runs inline, at the start,
and raises there. A job that is never joined (the run failed) is stopped when its ``with`` block
ends.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Any

__all__ = ["Background"]


def _child(conn: Any, fn: Callable[..., Any], args: tuple) -> None:
    # no cyclic collection in the child: it would visit (and so copy) every inherited object
    gc.disable()
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent, which raises it
        try:
            conn.send(exc)
        except Exception:  # noqa: BLE001 -- an exception that does not pickle: its text
            conn.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    else:
        conn.send(None)
    finally:
        conn.close()


class Background:
    """Run ``fn(*args)`` in a forked child now; :meth:`join` waits and re-raises its error.
    ``inline``: run it here and now instead (a small job: a fork costs more than it saves).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with Background(d.joinpath("x").write_text, "done") as job:
    ...     job.join()
    >>> d.joinpath("x").read_text()
    'done'
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, inline: bool = False):
        self._proc: Any = None
        self._conn: Any = None
        self._done = False
        self._error: BaseException | None = None
        if inline or os.environ.get("CAPTION_AUDIT_NO_FORK") or "fork" not in mp.get_all_start_methods():
            fn(*args)  # an error is raised here, at once
            self._done = True
            return
        ctx = mp.get_context("fork")
        self._conn, child_conn = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(child_conn, fn, args), daemon=True)
        self._proc.start()
        child_conn.close()

    def join(self) -> None:
        """Wait for the job; raise its exception, if it raised one (or died)."""
        if not self._done:
            try:
                self._error = self._conn.recv()
            except EOFError:  # died without a word (killed, out of memory)
                self._proc.join()
                self._error = RuntimeError(f"a background writer died (exit code {self._proc.exitcode})")
            self._proc.join()
            self._conn.close()
            self._done = True
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()
