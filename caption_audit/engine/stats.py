"""Summary statistics folded batch by batch, so the summary never reads the whole captions table.

Each batch's captions shard adds its per-(source, image) sums of the statistic columns
(:data:`caption_audit.scoring.metrics.STAT_COLUMNS`, from
:func:`caption_audit.scoring.aggregate.stat_table`) and its skip-reason counts. Batches are folded
in batch order, so source order and reason order match a read of the merged table, and the
per-source metrics come from the same image-cluster bootstrap
(:func:`caption_audit.scoring.aggregate.metrics_with_ci`) fed with per-image sums. Memory is
O(images), not O(captions).

A batch's contribution (:class:`BatchStats`) is computed where the batch was scored (a worker
process or Ray actor, from its column dicts: :func:`batch_stats`) and sent back small; the parent
only folds it (:meth:`RunStats.add_batch`). A resumed batch is read back from its captions shard
(:meth:`RunStats.add_shard`), through the same :func:`batch_stats`, so both paths fold the same
numbers in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caption_audit.scoring.aggregate import CAPTION_COLUMNS, source_block, stat_table
from caption_audit.scoring.metrics import STAT_COLUMNS


@dataclass
class BatchStats:
    """What one batch adds to :class:`RunStats` (small: O(images of the batch)).

    Attributes:
        sources: ``[(source, image_ids, sums)]`` in first-seen order, ``sums`` an
            ``(images, len(STAT_COLUMNS))`` array of per-image sums of the statistic columns.
        reasons: skip-reason counts (grouped by the run's ``reason_key``), in first-seen order.
        n_input, n_scored: captions in the batch, and those scored.
    """

    sources: list[tuple[str, np.ndarray, np.ndarray]]
    reasons: dict[str, int]
    n_input: int
    n_scored: int


def batch_stats(captions: dict[str, list], reason_key: Callable[[str], str]) -> BatchStats:
    """A batch's :class:`BatchStats` from its captions rows: the column dict that
    :meth:`~caption_audit.engine.batch.BatchScorer.score` returns (or a shard's, read back),
    with :data:`~caption_audit.scoring.aggregate.CAPTION_COLUMNS` (lists; no DataFrame)."""
    status = captions.get("status") or []
    if not status:
        return BatchStats([], {}, 0, 0)
    stats = stat_table(captions)
    data = np.column_stack([stats[c] for c in STAT_COLUMNS])
    sources = np.array(captions["source"], dtype=object)
    images = np.array(captions["image_id"], dtype=object).astype(str)
    per_source = []
    for name in dict.fromkeys(captions["source"]):
        mask = sources == name
        uniq, inverse = np.unique(images[mask], return_inverse=True)
        sums = np.zeros((len(uniq), data.shape[1]))
        np.add.at(sums, inverse, data[mask])
        per_source.append((name, uniq, sums))
    reasons = dict(Counter(reason_key(s.removeprefix("skipped: ")) for s in status if s != "scored"))
    return BatchStats(per_source, reasons, len(status), sum(s == "scored" for s in status))


class _SourceSums:
    """image_id -> row of STAT_COLUMNS sums, for one source (a growable array)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.rows = np.zeros((64, len(STAT_COLUMNS)))

    def add(self, uniq: np.ndarray, sums: np.ndarray) -> None:
        """Add per-image sums (``uniq`` image ids, one row of ``sums`` each)."""
        for image_id, row in zip(uniq.tolist(), sums, strict=True):
            k = self.index.get(image_id)
            if k is None:
                k = self.index[image_id] = len(self.index)
                if k >= len(self.rows):
                    self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
            self.rows[k] += row

    def table(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rows = self.rows[: len(self.index)]
        return {c: rows[:, i] for i, c in enumerate(STAT_COLUMNS)}, np.array(list(self.index), dtype=object)


class RunStats:
    """Accumulates what summary.json needs from captions, one batch at a time, in batch order.

    Example:
        >>> stats = RunStats(reason_key=lambda s: s.split(":")[0])
        >>> stats.add_shard(0, Path(".parts/captions-00000.arrow"))   # doctest: +SKIP
        >>> stats.add_batch(1, batch_stats(captions_columns, stats.reason_key))  # doctest: +SKIP
        >>> sources, used = stats.per_source(n_resamples=1000, confidence=0.95, seed=0)  # doctest: +SKIP
    """

    def __init__(self, reason_key: Callable[[str], str]):
        self.reason_key = reason_key
        self.sources: dict[str, _SourceSums] = {}
        self.reasons: Counter = Counter()
        self.n_input = 0
        self.n_scored = 0
        self._pending: dict[int, BatchStats] = {}
        self._next = 0

    def add_shard(self, batch_id: int, path: Path) -> None:
        """Add the captions shard of ``batch_id`` (a resumed batch), read back from disk."""
        from caption_audit.store.shardfile import read_shard

        self.add_batch(batch_id, batch_stats(read_shard(path, CAPTION_COLUMNS).to_pydict(), self.reason_key))

    def add_batch(self, batch_id: int, batch: BatchStats) -> None:
        """Add the precomputed statistics of ``batch_id`` (see :func:`batch_stats`); batches may
        arrive in any order and are folded once every earlier batch is in."""
        self._pending[batch_id] = batch
        while self._next in self._pending:
            self._fold(self._pending.pop(self._next))
            self._next += 1

    def _fold(self, batch: BatchStats) -> None:
        for name, uniq, sums in batch.sources:
            self.sources.setdefault(name, _SourceSums()).add(uniq, sums)
        self.reasons.update(batch.reasons)
        self.n_input += batch.n_input
        self.n_scored += batch.n_scored

    def check_complete(self, n_batches: int) -> None:
        if self._pending or self._next != n_batches:
            raise RuntimeError(f"batch statistics incomplete: {self._next} of {n_batches} batches folded")

    def skip_reasons(self) -> dict[str, int]:
        return dict(self.reasons.most_common())

    def images(self) -> set[str]:
        """Every image id a caption names (all sources)."""
        return {i for s in self.sources.values() for i in s.index}

    def per_source(self, *, n_resamples: int, confidence: float, seed: int) -> tuple[dict[str, Any], int]:
        """The ``sources`` block of summary.json (as :func:`caption_audit.scoring.aggregate.per_source`)."""
        out: dict[str, Any] = {}
        used = 0
        for name, sums in self.sources.items():
            stats, image_ids = sums.table()
            out[name], used = source_block(stats, image_ids, n_resamples=n_resamples, confidence=confidence,
                                           seed=seed)
        return out, used
