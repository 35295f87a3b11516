"""Run batches in this process, or in a pool of worker processes (``--workers N``).

Workers are forked after ground truth is built and spaCy is loaded (when the caller passes its
``scorer``), so both are shared copy-on-write instead of being rebuilt in every worker. At most ``2 * workers`` batches are in flight, and results are handed back
in batch order, so output is identical for any number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from caption_audit.engine.batch import BatchScorer, ScoreContext
from caption_audit.types import Caption

Result = tuple[int, tuple[dict[str, list], ...]]  # (batch id, column dicts of captions, mentions, claims)

_WORKER: BatchScorer | None = None
_FORKED: BatchScorer | None = None  # the parent's scorer, set just before forking; workers inherit it


def _watch_parent(ppid: int) -> None:
    """Exit when the parent dies (e.g. SIGKILL): a worker blocked on the task queue would never
    see EOF, since its siblings hold the queue's pipe open, and would sleep on as an orphan."""
    while True:
        time.sleep(1.0)
        if os.getppid() != ppid:
            os._exit(1)


def _init_worker(ctx: ScoreContext) -> None:
    global _WORKER
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    _WORKER = _FORKED if _FORKED is not None and _FORKED.ctx is ctx else BatchScorer(ctx)


def _work(batch_id: int, batch: list[Caption]) -> Result:
    assert _WORKER is not None
    return batch_id, _WORKER.score(batch)


def run_local(
    batches: Iterator[tuple[int, list[Caption]]],
    ctx: ScoreContext,
    *,
    workers: int = 1,
    scorer: BatchScorer | None = None,
    on_result: Callable[[Result, int], None],
) -> None:
    """Score ``(batch_id, captions)`` pairs and call ``on_result((id, tables), n)`` in order, where
    ``tables`` is :meth:`BatchScorer.score`'s tuple of column dicts."""
    if workers <= 1:
        scorer = scorer or BatchScorer(ctx)
        for batch_id, batch in batches:
            on_result((batch_id, scorer.score(batch)), len(batch))
        return
    global _FORKED
    if scorer is not None:
        _ = scorer.parser.nlp  # load spaCy once here; forked workers share it instead of each loading it
        _FORKED = scorer
    ctx_mp = mp.get_context("fork")
    pending: dict[int, tuple[Future, int]] = {}
    order: list[int] = []
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx_mp, initializer=_init_worker,
                                 initargs=(ctx,)) as pool:

            def drain(limit: int) -> None:
                while order and len(pending) > limit:
                    bid = order.pop(0)
                    fut, n = pending.pop(bid)
                    on_result(fut.result(), n)

            for batch_id, batch in batches:
                pending[batch_id] = (pool.submit(_work, batch_id, batch), len(batch))
                order.append(batch_id)
                drain(2 * workers)
            drain(0)
    finally:
        _FORKED = None
