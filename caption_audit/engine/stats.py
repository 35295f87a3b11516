"""Summary statistics folded batch by batch, so the summary never reads the whole captions table.

Each batch's captions shard adds its per-(source, image) sums of the statistic columns
(:data:`caption_audit.scoring.metrics.STAT_COLUMNS`, from
:func:`caption_audit.scoring.aggregate.stat_table`) and its skip-reason counts. Batches are folded
in batch order, so source order and reason order match a read of the merged table, and the
per-source metrics come from the same image-cluster bootstrap
(:func:`caption_audit.scoring.aggregate.metrics_with_ci`) fed with per-image sums. Memory is
O(images), not O(captions).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from caption_audit.scoring.aggregate import CAPTION_COLUMNS, source_block, stat_table
from caption_audit.scoring.metrics import STAT_COLUMNS


class _SourceSums:
    """image_id -> row of STAT_COLUMNS sums, for one source (a growable array)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.rows = np.zeros((64, len(STAT_COLUMNS)))

    def add(self, image_ids: np.ndarray, data: np.ndarray) -> None:
        uniq, inverse = np.unique(image_ids, return_inverse=True)
        sums = np.zeros((len(uniq), data.shape[1]))
        np.add.at(sums, inverse, data)
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
        >>> stats.add_shard(0, Path(".parts/captions-00000.parquet"))   # doctest: +SKIP
        >>> sources, used = stats.per_source(n_resamples=1000, confidence=0.95, seed=0)  # doctest: +SKIP
    """

    def __init__(self, reason_key: Callable[[str], str]):
        self.reason_key = reason_key
        self.sources: dict[str, _SourceSums] = {}
        self.reasons: Counter = Counter()
        self.n_input = 0
        self.n_scored = 0
        self._pending: dict[int, Any] = {}
        self._next = 0

    def add_shard(self, batch_id: int, path: Path) -> None:
        """Add the captions shard of ``batch_id`` (folded once every earlier batch is in)."""
        import pandas as pd

        self._pending[batch_id] = pd.read_parquet(path, columns=CAPTION_COLUMNS)
        while self._next in self._pending:
            self._fold(self._pending.pop(self._next))
            self._next += 1

    def _fold(self, captions: Any) -> None:
        stats = stat_table(captions)
        data = np.column_stack([stats[c] for c in STAT_COLUMNS]) if len(captions) else None
        sources = captions["source"].to_numpy()
        images = captions["image_id"].to_numpy().astype(str)
        for name in dict.fromkeys(sources.tolist()):
            mask = sources == name
            self.sources.setdefault(name, _SourceSums()).add(images[mask], data[mask])
        status = captions["status"]
        skipped = status[status != "scored"].str.removeprefix("skipped: ")
        self.reasons.update(Counter(self.reason_key(s) for s in skipped))
        self.n_input += len(captions)
        self.n_scored += int((status == "scored").sum())

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
