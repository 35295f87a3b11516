"""Run batches in this process, or in a pool of worker processes (``--workers N``).

Workers are forked after ground truth is built and spaCy is loaded (when the caller passes its
``scorer``), so both are shared copy-on-write instead of being rebuilt in every worker (see
:class:`~caption_audit.engine.pool.WorkerPool`, which ``caption-audit run`` also uses for the
reference pass). At most two batches are in flight per worker. With a ``finish`` callable (a
:class:`~caption_audit.engine.sink.ShardSink`), each worker writes its batch's shards itself and
returns only what ``finish`` returns, so the parent never handles the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from caption_audit.engine.batch import BatchScorer, ScoreContext
from caption_audit.engine.pool import WorkerPool, pack, unpack
from caption_audit.types import Caption

__all__ = ["Finish", "Result", "pack", "run_local", "unpack"]

# (batch id, finish(batch id, tables)), or (batch id, tables: column dicts of captions, mentions, claims)
Result = tuple[int, Any]
Finish = Callable[[int, tuple[dict[str, list], ...]], Any]


def run_local(
    batches: Iterator[tuple[int, list[Caption]]],
    ctx: ScoreContext,
    *,
    workers: int = 1,
    scorer: BatchScorer | None = None,
    on_result: Callable[[Result, int], None],
    finish: Finish | None = None,
    pool: WorkerPool | None = None,
    corpus: Any = None,
) -> None:
    """Score ``(batch_id, captions)`` pairs and call ``on_result((id, tables), n)``, where
    ``tables`` is :meth:`BatchScorer.score`'s tuple of column dicts, in batch order; with
    ``finish``, the process that scored the batch calls ``finish(id, tables)`` and ``on_result``
    gets ``(id, what finish returned)`` instead (``finish`` must be picklable), as batches
    complete (not necessarily in batch order: the caller reorders). ``pool``: score in this
    already started pool (which may hold the batches' reference parses) instead of a new one.
    ``corpus``: the run's :class:`~caption_audit.quality.corpus.BatchOrder`, given each batch's
    corpus records: from the workers' quality checks (:meth:`WorkerPool.score`), or in one
    process from the ``scorer``'s :class:`~caption_audit.quality.corpus.CorpusRecorder`."""
    if pool is not None:
        pool.score(batches, ctx, on_result=on_result, finish=finish, corpus=corpus)
        return
    if workers <= 1:
        scorer = scorer or BatchScorer(ctx)
        for batch_id, batch in batches:
            tables = scorer.score(batch)
            if corpus is not None:  # the scorer's CorpusRecorder prepared the batch's records
                corpus.put(batch_id, scorer.corpus.take())
            on_result((batch_id, tables if finish is None else finish(batch_id, tables)), len(batch))
        return
    if scorer is None:
        from caption_audit.text.parse import CaptionParser

        parser = CaptionParser(use_parser=ctx.use_parser)
    else:
        parser = scorer.parser  # the pool loads its spaCy once, before forking
    with WorkerPool(workers, parser, ctx.gt) as new:
        new.score(batches, ctx, on_result=on_result, finish=finish, corpus=corpus)
