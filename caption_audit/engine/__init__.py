"""Execution engines for the parse + score stage.

A batch of captions goes through :class:`~caption_audit.engine.batch.BatchScorer` and comes back
as column dicts for ``captions.parquet`` and ``mentions.parquet``. Engines only decide *where*
batches run: in this process, in worker processes (``--workers``), or on Ray (``--engine ray``).
The process that scored a batch writes it as numbered shards (:mod:`caption_audit.engine.sink`)
and returns only the batch's summary statistics; the parent folds those in batch order and merges
the shards, so a killed run resumes where it stopped and the output does not depend on the engine
or the number of workers.
"""

ENGINES = ("local", "ray")
