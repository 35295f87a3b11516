"""The Ray engine (``--engine ray``): batches scored by an actor pool through Ray Data.

Each actor builds one :class:`~caption_audit.engine.batch.BatchScorer` (spaCy loaded once per
actor) from the shared :class:`~caption_audit.engine.batch.ScoreContext` (``ray.put`` once).
Batches are sent in windows of 256 (a new actor pool, and a spaCy load per actor, per window) so
memory stays bounded on million-caption inputs. With a ``finish`` callable (a
:class:`~caption_audit.engine.sink.ShardSink`) each actor writes its batch's shards itself and
sends back only what ``finish`` returns (on a cluster the run folder must be on storage every node
can write); results come back tagged with their batch id and are handed over in batch order, so
the run folder is identical to ``--engine local``. With ``corpus`` (the run's
:class:`~caption_audit.quality.corpus.BatchOrder`) each actor's quality checks also prepare
the batch's corpus record (:class:`~caption_audit.quality.corpus.CorpusRecorder`; its hashes are
the same in every process); it comes back beside the batch's result and the driver's
``BatchOrder`` absorbs the records in batch order, so the run's corpus pass reads no caption back. The reference pass (``--gt chair``, the
``references`` resolver) runs in the driver process. On a cluster, pass ``--ray-address``; locally a Ray instance is started
with ``num_cpus`` set and the dashboard off. Actors take fractional CPUs so the Ray Data
read tasks always find a free CPU (a full actor pool on 2 cores deadlocks, see the notes).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from caption_audit.engine.batch import BatchScorer, ScoreContext
from caption_audit.engine.local import Finish, Result, pack, unpack
from caption_audit.errors import ConfigError
from caption_audit.types import Caption


class _RayScorer:
    """Ray Data callable class: one BatchScorer per actor."""

    def __init__(self, ctx: Any, finish: Finish | None = None, record: bool = False):
        import ray

        if isinstance(ctx, ray.ObjectRef):  # Ray Data passes constructor args as given, refs included
            ctx = ray.get(ctx)
        self.recorder = None
        if record:  # the driver gathers the corpus: prepare each batch's record here
            from caption_audit.quality.corpus import CorpusRecorder

            self.recorder = CorpusRecorder()
        self.scorer = BatchScorer(ctx, corpus=self.recorder)
        self.finish = finish

    def __call__(self, rows: dict[str, Any]) -> dict[str, Any]:
        """Score each batch; ``result``: the pickled ``(tables or finish(...), corpus records or None)``."""
        ids, out = [], []
        for bid, payload in zip(rows["batch_id"], rows["payload"], strict=True):
            bid = int(bid)
            tables = self.scorer.score(unpack(pickle.loads(payload)))
            result = tables if self.finish is None else self.finish(bid, tables)
            records = None if self.recorder is None else self.recorder.take()
            ids.append(bid)
            out.append(pickle.dumps((result, records), protocol=pickle.HIGHEST_PROTOCOL))
        return {"batch_id": ids, "result": out}


def run_ray(
    batches: Iterator[tuple[int, list[Caption]]],
    ctx: ScoreContext,
    *,
    workers: int = 1,
    address: str | None = None,
    window: int = 256,
    on_result: Callable[[Result, int], None],
    finish: Finish | None = None,
    corpus: Any = None,
) -> None:
    """Score batches on Ray; ``on_result`` is called in batch order with ``(id, tables)``, or
    ``(id, finish(id, tables))`` when ``finish`` is given (run on the actor). ``corpus``: a
    :class:`~caption_audit.quality.corpus.BatchOrder` given each batch's corpus records
    (prepared on the actors) before its ``on_result``."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError("--engine ray needs Ray Data: pip install 'caption-audit[ray]' "
                          "(or pip install 'ray[data]').") from exc

    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(2, workers + 1), include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        started = True
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the pipeline draws its own progress bar
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        ctx_ref = ray.put(ctx)
        while True:
            chunk = list(islice(batches, window))
            if not chunk:
                break
            sizes = {bid: len(b) for bid, b in chunk}
            items = [{"batch_id": bid, "payload": pickle.dumps(pack(b), protocol=pickle.HIGHEST_PROTOCOL)} for bid, b in chunk]
            ds = ray.data.from_items(items).map_batches(
                _RayScorer,
                fn_constructor_args=(ctx_ref, finish, corpus is not None),
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=max(1, workers)),
                num_cpus=0.5,
            )
            results = {}
            for row in ds.iter_rows():
                results[int(row["batch_id"])] = pickle.loads(row["result"])
            for bid in sorted(results):
                result, records = results.pop(bid)
                if corpus is not None:
                    corpus.put(bid, records or [])
                on_result((bid, result), sizes[bid])
    finally:
        if started:
            ray.shutdown()
