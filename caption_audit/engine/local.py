"""Run batches in this process, or in a pool of worker processes (``--workers N``).

Workers are forked after ground truth is built, so it is shared copy-on-write; each worker
loads spaCy once. At most ``2 * workers`` batches are in flight, and results are handed back
in batch order, so output is identical for any number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from caption_audit.engine.batch import BatchScorer, ScoreContext
from caption_audit.types import Caption

Result = tuple[int, dict[str, list], dict[str, list]]

_WORKER: BatchScorer | None = None


def _init_worker(ctx: ScoreContext) -> None:
    global _WORKER
    _WORKER = BatchScorer(ctx)


def _work(batch_id: int, batch: list[Caption]) -> Result:
    assert _WORKER is not None
    caps, ments = _WORKER.score(batch)
    return batch_id, caps, ments


def run_local(
    batches: Iterator[tuple[int, list[Caption]]],
    ctx: ScoreContext,
    *,
    workers: int = 1,
    scorer: BatchScorer | None = None,
    on_result: Callable[[Result, int], None],
) -> None:
    """Score ``(batch_id, captions)`` pairs and call ``on_result((id, caps, ments), n)`` in order."""
    if workers <= 1:
        scorer = scorer or BatchScorer(ctx)
        for batch_id, batch in batches:
            caps, ments = scorer.score(batch)
            on_result((batch_id, caps, ments), len(batch))
        return
    ctx_mp = mp.get_context("fork")
    pending: dict[int, tuple[Future, int]] = {}
    order: list[int] = []
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
