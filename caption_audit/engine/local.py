"""Run batches in this process, or in a pool of worker processes (``--workers N``).

Workers are forked after ground truth is built and spaCy is loaded (when the caller passes its
``scorer``), so both are shared copy-on-write instead of being rebuilt in every worker. At most
``2 * workers`` batches are in flight, and results are handed back in batch order, so output is
identical for any number of workers. Batches travel to workers as plain tuples (cheaper to pickle
than :class:`~caption_audit.types.Caption` objects). With a ``finish`` callable (a
:class:`~caption_audit.engine.sink.ShardSink`), each worker writes its batch's shards itself and
returns only what ``finish`` returns, so the parent never handles the rows.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from caption_audit.engine.batch import BatchScorer, ScoreContext
from caption_audit.types import Caption

# (batch id, finish(batch id, tables)), or (batch id, tables: column dicts of captions, mentions, claims)
Result = tuple[int, Any]
Finish = Callable[[int, tuple[dict[str, list], ...]], Any]

_WORKER: BatchScorer | None = None
_FINISH: Finish | None = None
_FORKED: BatchScorer | None = None  # the parent's scorer, set just before forking; workers inherit it
_MAP_STATE: tuple[Callable[[Any, Any], Any], Any] | None = None  # map_ordered's (fn, state), inherited by fork


def _watch_parent(ppid: int) -> None:
    """Exit when the parent dies (e.g. SIGKILL): a worker blocked on the task queue would never
    see EOF, since its siblings hold the queue's pipe open, and would sleep on as an orphan."""
    while True:
        time.sleep(1.0)
        if os.getppid() != ppid:
            os._exit(1)


def _init_worker(ctx: ScoreContext, finish: Finish | None) -> None:
    global _WORKER, _FINISH
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    _WORKER = _FORKED if _FORKED is not None and _FORKED.ctx is ctx else BatchScorer(ctx)
    _FINISH = finish


def pack(batch: list[Caption]) -> list[tuple]:
    """Captions as plain tuples, for sending to a worker (see :func:`unpack`)."""
    return [(c.caption_id, c.image_id, c.source, c.text, c.origin, c.error, c.image_file) for c in batch]


def unpack(rows: list[tuple]) -> list[Caption]:
    """The captions :func:`pack` sent."""
    return [Caption(*r) for r in rows]


def _work(batch_id: int, rows: list[tuple]) -> Result:
    assert _WORKER is not None
    tables = _WORKER.score(unpack(rows))
    return batch_id, (tables if _FINISH is None else _FINISH(batch_id, tables))


def run_local(
    batches: Iterator[tuple[int, list[Caption]]],
    ctx: ScoreContext,
    *,
    workers: int = 1,
    scorer: BatchScorer | None = None,
    on_result: Callable[[Result, int], None],
    finish: Finish | None = None,
) -> None:
    """Score ``(batch_id, captions)`` pairs and call ``on_result((id, tables), n)`` in order, where
    ``tables`` is :meth:`BatchScorer.score`'s tuple of column dicts; with ``finish``, the
    process that scored the batch calls ``finish(id, tables)`` and ``on_result`` gets
    ``(id, what finish returned)`` instead (``finish`` must be picklable), as batches complete
    (not necessarily in batch order: the caller reorders)."""
    if workers <= 1:
        scorer = scorer or BatchScorer(ctx)
        for batch_id, batch in batches:
            tables = scorer.score(batch)
            on_result((batch_id, tables if finish is None else finish(batch_id, tables)), len(batch))
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
                                 initargs=(ctx, finish)) as pool:

            def drain(limit: int) -> None:
                if finish is None:  # rows come back: hand them over in batch order
                    while order and len(pending) > limit:
                        fut, n = pending.pop(order.pop(0))
                        on_result(fut.result(), n)
                    return
                while len(pending) > limit:  # workers wrote their shards: take whatever finished first
                    finished, _ = wait([f for f, _ in pending.values()], return_when=FIRST_COMPLETED)
                    for bid in [b for b, (f, _) in pending.items() if f in finished]:
                        fut, n = pending.pop(bid)
                        on_result(fut.result(), n)

            for batch_id, batch in batches:
                pending[batch_id] = (pool.submit(_work, batch_id, pack(batch)), len(batch))
                order.append(batch_id)
                drain(2 * workers)
            drain(0)
    finally:
        _FORKED = None


def _init_map_worker() -> None:
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def _map_work(item_id: int, payload: Any) -> tuple[int, Any]:
    assert _MAP_STATE is not None
    fn, state = _MAP_STATE
    return item_id, fn(state, payload)


def map_ordered(
    fn: Callable[[Any, Any], Any],
    items: Iterator[tuple[int, Any]],
    *,
    state: Any,
    workers: int = 1,
    on_result: Callable[[int, Any], None],
) -> None:
    """Call ``fn(state, payload)`` for each ``(id, payload)`` in ``workers`` forked processes and
    ``on_result(id, result)`` in input order. ``state`` (e.g. a parser with spaCy loaded) is
    inherited by fork, not pickled; ``fn`` must be a module-level function. At most
    ``2 * workers`` items are in flight."""
    if workers <= 1:
        for item_id, payload in items:
            on_result(item_id, fn(state, payload))
        return
    global _MAP_STATE
    _MAP_STATE = (fn, state)
    pending: dict[int, Future] = {}
    order: list[int] = []
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"),
                                 initializer=_init_map_worker) as pool:

            def drain(limit: int) -> None:
                while order and len(pending) > limit:
                    on_result(*pending.pop(order.pop(0)).result())

            for item_id, payload in items:
                pending[item_id] = pool.submit(_map_work, item_id, payload)
                order.append(item_id)
                drain(2 * workers)
            drain(0)
    finally:
        _MAP_STATE = None
