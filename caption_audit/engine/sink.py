"""Where a scored batch goes: written as shards by the process that scored it.

A :class:`ShardSink` travels to every worker (forked processes, Ray actors). After a batch is
scored, the worker writes its shards itself (:meth:`ShardStore.write
<caption_audit.engine.shards.ShardStore.write>`: mentions, claims, checksums, then the captions
shard as the commit point) and sends back only a :class:`BatchDone`: the batch id, its number of
captions and its summary statistics (:class:`~caption_audit.engine.stats.BatchStats`). The parent
never receives the rows, so its work per batch is small and the run scales with the workers.
With ``--engine ray`` on a cluster, the run folder must be on storage every node can write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from caption_audit.engine.shards import ShardStore
from caption_audit.engine.stats import BatchStats, batch_stats

Tables = tuple[dict[str, list], dict[str, list], dict[str, list]]  # captions, mentions, claims


@dataclass(frozen=True)
class BatchDone:
    """What a worker returns for a batch it wrote: id, captions in it, its statistics."""

    batch_id: int
    n: int
    stats: BatchStats


@dataclass(frozen=True)
class ShardSink:
    """Write a scored batch's shards and summarise it (picklable: run folder, fingerprint, the
    module-level function that groups skip reasons).

    Attributes:
        run_dir: the run folder (its ``.parts/`` already prepared by :meth:`ShardStore.open`).
        fingerprint: the run's fingerprint (see :func:`~caption_audit.engine.shards.fingerprint`).
        reason_key: groups skip reasons for ``skipped_by_reason``.
    """

    run_dir: str
    fingerprint: str
    reason_key: Callable[[str], str]

    @staticmethod
    def warm() -> None:
        """Import what writing and summarising a batch needs (pandas, pyarrow.parquet), so that
        forked workers inherit the modules instead of each importing them (about 1.5 s)."""
        import pandas  # noqa: F401
        import pyarrow.parquet  # noqa: F401

    def __call__(self, batch_id: int, tables: Tables) -> BatchDone:
        """Write ``tables`` as the shards of ``batch_id``; returns the batch's statistics."""
        ShardStore(Path(self.run_dir), self.fingerprint).write(batch_id, *tables)
        captions = tables[0]
        return BatchDone(batch_id, len(captions.get("caption_id", ())), batch_stats(captions, self.reason_key))
