"""The quality pass of a run (issue #12): corpus columns, quality summary, clean metrics, position.

The per-caption checks run in the batch scorer (:mod:`caption_audit.engine.batch`, columns
:data:`QUALITY_FLAG_COLUMNS`); what needs every caption runs here, once, after the captions
shards are merged (:func:`quality_pass`, called by :mod:`caption_audit.pipeline`):

1. ``captions.parquet`` (scored captions only) is streamed through
   :class:`~caption_audit.quality.corpus.CorpusAccumulator`;
2. ``captions.parquet`` is rewritten row group by row group with the :data:`CORPUS_COLUMNS`
   filled and the corpus flags appended to ``quality_issues``; the corpus statistics are folded
   into the run's :class:`~caption_audit.engine.stats.RunStats` (so ``duplicate_share``,
   ``near_duplicate_share`` and ``boilerplate_share`` of summary.json are exact, with CIs), and
   the statistics of the non-degenerate captions are summed per source for ``metrics_clean``;
3. the hallucination (mentions) and contradiction (claims) rates by caption decile and sentence
   index are one DuckDB group-by over the position columns of mentions.parquet and
   claims.parquet (written by the batch scorer, :mod:`caption_audit.quality.position`).

Memory: the accumulator (~330 bytes per caption), one row group, per-image sums. Caption texts
in the top lists are untrusted strings: stored raw in summary.json, escaped where rendered.

Example::

    >>> q = quality_pass(run_dir, stats, n_resamples=1000, confidence=0.95, seed=0)  # doctest: +SKIP
    >>> summary = {...}; q.attach(summary)                                           # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: per-caption check name -> captions.parquet bool column (written by the batch scorer)
QUALITY_FLAG_COLUMNS: dict[str, str] = {
    "repetition": "q_repetition", "truncated": "q_truncated", "garbage": "q_garbage",
    "non_english": "q_non_english", "empty": "q_empty",
}
#: corpus check name -> captions.parquet bool column (written by :func:`quality_pass`)
CORPUS_FLAG_COLUMNS: dict[str, str] = {
    "duplicate": "q_duplicate", "near_duplicate": "q_near_duplicate", "boilerplate": "q_boilerplate",
}
#: columns the batch scorer leaves null and :func:`quality_pass` fills (scored captions only)
CORPUS_COLUMNS: tuple[str, ...] = ("dup_group_size", "dup_images", "near_dup_of", "near_dup_images",
                                   "boilerplate_share", *CORPUS_FLAG_COLUMNS.values())
#: statistic columns (scoring.metrics) that depend on the corpus columns
CORPUS_STATS: tuple[str, ...] = ("n_duplicate", "n_near_duplicate", "boilerplate_sum")
#: metrics shown with and without degenerate captions (``metrics_clean``)
CLEAN_METRICS: tuple[str, ...] = ("chair_i", "chair_s", "coverage", "halluc_per_100w", "claim_error_rate")
#: rows of the per-source top lists kept in summary.json
TOP_ROWS = 10

_BATCH_ROWS = 65_536
# judged rows of mentions.parquet / claims.parquet per (source, decile, sentence bin), from the
# position columns the batch scorer wrote (no join with captions.parquet, no per-row Python)
_POSITION_SQL = ("select source, decile, least(sentence_idx, ?) as sbin, count(*) as n, "
                 "count(*) filter (where verdict in ('hallucinated', 'contradicted')) as k "
                 "from read_parquet(?) where {judged} group by all")
_JUDGED = {"mentions": ("vocab = 'coco80' and not negated and not nonvisual "
                        "and verdict in ('supported', 'hallucinated')"),
           "claims": "verdict in ('supported', 'contradicted')"}


@dataclass
class QualityReport:
    """What :func:`quality_pass` adds to summary.json (:meth:`attach`)."""

    quality: dict[str, Any] = field(default_factory=dict)
    position: dict[str, Any] = field(default_factory=dict)
    metrics_clean: dict[str, dict[str, Any]] = field(default_factory=dict)

    def attach(self, summary: dict[str, Any]) -> None:
        """Add ``quality`` and ``position`` blocks, and ``sources[name]["metrics_clean"]``."""
        summary["quality"] = self.quality
        summary["position"] = self.position
        for name, block in (summary.get("sources") or {}).items():
            if name in self.metrics_clean:
                block["metrics_clean"] = self.metrics_clean[name]


def quality_pass(run_dir: Path, stats: Any, *, n_resamples: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> QualityReport:
    """Corpus checks, clean metrics and position curves of a run folder whose tables are merged.

    ``stats``: the run's :class:`~caption_audit.engine.stats.RunStats` (every batch folded);
    the corpus statistics are added to it, so the summary computed from it afterwards holds the
    corpus metrics.
    """
    from caption_audit.store.layout import table_file

    caps = table_file(run_dir, "captions")
    corpus = _corpus(caps)
    clean, flag_counts = _rewrite(caps, corpus.captions, stats)
    report = QualityReport()
    report.quality = _quality_block(corpus, flag_counts)
    for name, sums in clean.items():
        report.metrics_clean[name] = _clean_block(sums, n_resamples=n_resamples, confidence=confidence, seed=seed)
    for name in stats.sources:  # a source whose every caption is degenerate: metrics undefined
        report.metrics_clean.setdefault(name, _clean_block(None, n_resamples=1, confidence=confidence, seed=seed))
    report.position = position_block(run_dir)
    return report


def _corpus(caps: Path) -> Any:
    import pyarrow.parquet as pq

    from caption_audit.quality.corpus import CorpusAccumulator

    acc = CorpusAccumulator()
    f = pq.ParquetFile(caps)
    for b in f.iter_batches(batch_size=_BATCH_ROWS, columns=["source", "image_id", "caption_id", "caption", "status"]):
        d = b.to_pydict()
        keep = [i for i, status in enumerate(d["status"]) if status == "scored"]
        for start in range(0, len(keep), 4096):  # the batch tokenised at once, bounded memory
            rows = keep[start:start + 4096]
            acc.add_batch([d["source"][i] for i in rows], [d["image_id"][i] for i in rows],
                          [d["caption_id"][i] for i in rows], [d["caption"][i] for i in rows])
    return acc.finish()


def _rewrite(caps: Path, corpus: Any, stats: Any) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """Rewrite captions.parquet with the corpus columns; fold the corpus statistics into
    ``stats``; return the per-source sums of the non-degenerate captions and flag counts."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from caption_audit.engine.stats import _SourceSums
    from caption_audit.scoring.aggregate import stat_table
    from caption_audit.scoring.metrics import STAT_COLUMNS
    from caption_audit.store.writer import CAPTIONS_SCHEMA

    corpus_idx = [STAT_COLUMNS.index(c) for c in CORPUS_STATS]
    pos = 0
    clean: dict[str, _SourceSums] = {}
    flags: dict[str, dict[str, int]] = {}
    tmp = caps.with_name(f".{caps.name}.quality.tmp")
    f = pq.ParquetFile(caps)
    with pq.ParquetWriter(tmp, CAPTIONS_SCHEMA, compression="zstd") as w:
        for b in f.iter_batches(batch_size=_BATCH_ROWS):
            df = b.to_pandas()
            scored = (df["status"] == "scored").to_numpy()
            k = int(scored.sum())
            part = corpus.iloc[pos:pos + k]
            pos += k
            _fill(df, scored, part)
            table = pa.Table.from_pandas(df, schema=CAPTIONS_SCHEMA, preserve_index=False)
            w.write_table(table)
            st = stat_table(df)
            data = np.column_stack([st[c] for c in STAT_COLUMNS])
            corpus_data = np.zeros_like(data)
            corpus_data[:, corpus_idx] = data[:, corpus_idx]
            sources = df["source"].to_numpy()
            images = df["image_id"].to_numpy().astype(str)
            degenerate = df["degenerate"].fillna(False).to_numpy(dtype=bool)
            for name in dict.fromkeys(sources.tolist()):
                mask = sources == name
                if name in stats.sources:
                    stats.sources[name].add(images[mask], corpus_data[mask])
                keep = mask & ~degenerate
                if keep.any():
                    clean.setdefault(name, _SourceSums()).add(images[keep], data[keep])
                counts = flags.setdefault(name, {})
                sel = df[mask & scored]
                for check, col in (*QUALITY_FLAG_COLUMNS.items(), *CORPUS_FLAG_COLUMNS.items()):
                    counts[check] = counts.get(check, 0) + int(sel[col].fillna(False).astype(bool).sum())
                counts["degenerate"] = counts.get("degenerate", 0) + int(sel["degenerate"].fillna(False).astype(bool).sum())
                counts["scored"] = counts.get("scored", 0) + len(sel)
    if pos != len(corpus):
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"quality pass: {pos} scored captions read back, {len(corpus)} added")
    os.replace(tmp, caps)
    return clean, flags


def _fill(df: Any, scored: Any, part: Any) -> None:
    """Set the corpus columns of the scored rows of ``df`` (in order) from ``part``."""
    import numpy as np
    import pandas as pd

    n = len(df)
    for c in ("dup_group_size", "dup_images", "near_dup_images"):
        vals = np.full(n, None, dtype=object)
        vals[scored] = part[c].to_numpy(dtype=np.int64).tolist()
        df[c] = vals
    near = np.full(n, None, dtype=object)
    near[scored] = part["near_dup_of"].to_numpy(dtype=object)
    df["near_dup_of"] = near
    share = np.full(n, None, dtype=object)
    share[scored] = [None if pd.isna(v) else float(v) for v in part["boilerplate_share"].tolist()]
    df["boilerplate_share"] = share
    issues = np.full(n, None, dtype=object)
    issues[scored] = part["corpus_issues"].to_numpy(dtype=object)
    for check, col in CORPUS_FLAG_COLUMNS.items():
        vals = np.full(n, None, dtype=object)
        vals[scored] = [check in i for i in issues[scored]]
        df[col] = vals
    df["quality_issues"] = [list(q if q is not None else []) + (list(extra) if extra is not None else [])
                            for q, extra in zip(df["quality_issues"], issues, strict=True)]


def _clean_block(sums: Any, *, n_resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    """Counts and :data:`CLEAN_METRICS` (with CIs) of one source's non-degenerate captions."""
    import numpy as np

    from caption_audit.scoring.aggregate import source_block
    from caption_audit.scoring.metrics import STAT_COLUMNS

    if sums is None:
        stats, ids = {c: np.zeros(0) for c in STAT_COLUMNS}, np.zeros(0, dtype=object)
    else:
        stats, ids = sums.table()
    block, _ = source_block(stats, ids, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return {"counts": block["counts"], "excluded": "degenerate captions (docs/quality.md)",
            "metrics": {k: block["metrics"][k] for k in CLEAN_METRICS}}


def _records(df: Any, cols: list[str], order: list[str]) -> list[dict[str, Any]]:
    """The first :data:`TOP_ROWS` rows by ``order`` (descending), ties by text: the corpus
    tables break ties by a per-process salted hash, summary.json must not."""
    if len(df):
        df = df.assign(_t=df["text"].fillna("")).sort_values([*order, "_t"], ascending=[False] * len(order) + [True],
                                                             kind="stable")
    out = []
    for r in df[cols].head(TOP_ROWS).to_dict("records"):
        out.append({k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()})
    return out


def _quality_block(corpus: Any, flags: dict[str, dict[str, int]]) -> dict[str, Any]:
    """summary.json's ``quality`` block: flag counts, top reused captions, openers, closers."""
    from caption_audit.quality.checks import QUALITY_CHECKS

    sources: dict[str, Any] = {}
    reused, openers = corpus.reused, corpus.openers
    for name, counts in flags.items():
        r = reused[reused["source"] == name] if len(reused) else reused
        o = openers[openers["source"] == name] if len(openers) else openers
        block: dict[str, Any] = {"flag_counts": counts,
                                 "reused": _records(r, ["text", "n_captions", "n_images", "share"],
                                                    ["n_images", "n_captions"])}
        for key, position in (("openers", "first"), ("closers", "last")):
            sel = o[o["position"] == position] if len(o) else o
            block[key] = {kind: _records(sel[sel["kind"] == kind] if len(sel) else sel,
                                         ["text", "count", "share", "boilerplate"], ["count"])
                          for kind in ("prefix", "sentence")}
        sources[name] = block
    return {"checks": [*QUALITY_CHECKS.names(), *CORPUS_FLAG_COLUMNS],
            "degenerate": list(QUALITY_FLAG_COLUMNS),
            "doc": "docs/quality.md", "sources": sources}


def position_block(run_dir: Path) -> dict[str, Any]:
    """summary.json's ``position`` block: per source, ``mentions`` (COCO-80 mentions judged
    supported/hallucinated) and ``claims`` (judged supported/contradicted), each with ``decile``
    and ``sentence`` lists of ``{bin, n_judged, n_bad, rate}`` (rate None when nothing judged).

    One DuckDB group-by per table over the position columns (``decile``, ``sentence_idx``) the
    batch scorer wrote (:func:`caption_audit.quality.position.caption_positions`). A source gets
    every bin of a curve once one of its judged rows has a position on that axis; rows without
    a position (offset outside the text) are left out, as in
    :func:`~caption_audit.quality.position.position_curves`.
    """
    import duckdb

    from caption_audit.quality.position import MAX_SENTENCE_BIN
    from caption_audit.store.layout import table_file

    bins = {"decile": range(10), "sentence": range(MAX_SENTENCE_BIN + 1)}
    out: dict[str, dict[str, Any]] = {}
    con = duckdb.connect()
    try:
        for kind, judged in _JUDGED.items():
            path = table_file(run_dir, kind)
            if not path.exists():
                continue
            rows = con.execute(_POSITION_SQL.format(judged=judged),
                               [MAX_SENTENCE_BIN, path.as_posix()]).fetchall()
            sums: dict[tuple[str, str], dict[int, list[int]]] = {}
            for source, decile, sbin, n, k in rows:
                for curve, b in (("decile", decile), ("sentence", sbin)):
                    if b is not None:
                        acc = sums.setdefault((str(source), curve), {}).setdefault(int(b), [0, 0])
                        acc[0] += int(n)
                        acc[1] += int(k)
            for (source, curve), counts in sorted(sums.items()):
                entry = out.setdefault(source, {}).setdefault(kind, {"decile": [], "sentence": []})
                for b in bins[curve]:
                    n, k = counts.get(b, (0, 0))
                    entry[curve].append({"bin": b, "n_judged": n, "n_bad": k, "rate": k / n if n else None})
    finally:
        con.close()
    return {"doc": "docs/quality.md#position-of-errors", "max_sentence_bin": MAX_SENTENCE_BIN, "sources": out}
