"""The quality pass of a run (issue #12): corpus columns, quality summary, clean metrics, position.

The per-caption checks run in the batch scorer (:mod:`caption_audit.engine.batch`, columns
:data:`QUALITY_FLAG_COLUMNS`); what needs every caption runs here, once, after the captions
shards are merged (:func:`quality_pass`, called by :mod:`caption_audit.pipeline`):

1. ``captions.parquet`` (scored captions only) is streamed through
   :class:`~caption_audit.quality.corpus.CorpusAccumulator`;
2. ``captions.parquet`` is written (the shards merged, streamed in small batches) with the
   :data:`CORPUS_COLUMNS` filled and the corpus flags appended to ``quality_issues``; the corpus statistics are folded
   into the run's :class:`~caption_audit.engine.stats.RunStats` (so ``duplicate_share``,
   ``near_duplicate_share`` and ``boilerplate_share`` of summary.json are exact, with CIs), and
   the statistics of the non-degenerate captions are summed per source for ``metrics_clean``;
3. the hallucination (mentions) and contradiction (claims) rates by caption decile and sentence
   index are one DuckDB group-by over the position columns of mentions.parquet and
   claims.parquet (written by the batch scorer, :mod:`caption_audit.quality.position`).

Memory (issue #15): the corpus columns (about 50 bytes per caption: the accumulator's arrays are
freed once it is finished), one row group of the output (at most 65,536 rows or 16 MB of Arrow
data; rows are read, filled and summed 4,096 at a time), per-image sums. Caption texts in the
top lists are untrusted strings: stored raw in summary.json, escaped where rendered.

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

# the pass over captions.parquet (issue #15: memory bounded whatever the caption count): rows
# read, filled and summed at a time; a row group of the output is written once it holds
# _GROUP_ROWS rows or _GROUP_BYTES of Arrow data (ShareGPT4V-long captions, about 1.7 KB a row:
# 12,288 rows)
_BATCH_ROWS = 4_096
_GROUP_ROWS = 65_536
_GROUP_BYTES = 16 << 20
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
                 seed: int = 0, parts: list[Path] | None = None, corpus: Any = None,
                 merged: Any = None) -> QualityReport:
    """Corpus checks, clean metrics and position curves of a run folder.

    ``stats``: the run's :class:`~caption_audit.engine.stats.RunStats` (every batch folded);
    the corpus statistics are added to it, so the summary computed from it afterwards holds the
    corpus metrics. ``parts``: the captions shards in batch order (the pipeline's): written once
    as ``captions.parquet`` with the corpus columns filled, so the merge and the rewrite are one
    pass; None: ``captions.parquet`` is already merged and is rewritten in place.
    ``corpus``: a :class:`~caption_audit.quality.corpus.CorpusAccumulator` to which the scoring
    pass added every scored caption in captions order (local engine, one process or a worker
    pool, nothing resumed): finished here and emptied (its per-caption arrays are freed before
    the captions pass); None: the captions are read back (from ``parts`` or captions.parquet)
    and added here.
    mentions.parquet and claims.parquet must be merged already (:func:`position_block`), or by
    the time ``merged()`` returns (a callable that waits for their merge, called once the
    captions table is written).
    Memory: the per-caption corpus columns (numpy arrays and two lists) and one row group.
    """
    from caption_audit.store.layout import table_file

    caps = table_file(run_dir, "captions")
    sources = [caps] if parts is None else list(parts)
    corpus = _corpus(sources) if corpus is None else corpus.finish(release=True)
    values = _corpus_values(corpus.captions)
    reused, openers = corpus.reused, corpus.openers
    del corpus  # its per-caption DataFrame (caption ids...) is not needed past here
    clean, flag_counts = _rewrite(sources, caps, values, stats)
    report = QualityReport()
    report.quality = _quality_block(reused, openers, flag_counts)
    for name, sums in clean.items():
        report.metrics_clean[name] = _clean_block(sums, n_resamples=n_resamples, confidence=confidence, seed=seed)
    for name in stats.sources:  # a source whose every caption is degenerate: metrics undefined
        report.metrics_clean.setdefault(name, _clean_block(None, n_resamples=1, confidence=confidence, seed=seed))
    if merged is not None:
        merged()
    report.position = position_block(run_dir)
    return report


def _corpus(paths: list[Path]) -> Any:

    from caption_audit.quality.corpus import CorpusAccumulator, scored_rows

    acc = CorpusAccumulator()
    for path in paths:
        for rows in scored_rows(path, _BATCH_ROWS):  # tokenised a batch at a time: bounded memory
            acc.add_batch(*rows)
    return acc.finish()


def _chunks(paths: list[Path], schema: Any, rows: int) -> Any:
    """The rows of ``paths`` (captions tables, in order) as tables of ``rows`` rows (the last
    one shorter), cast to ``schema``: streamed, at most about ``2 × rows`` rows in memory."""
    import pyarrow as pa

    from caption_audit.store.shardfile import iter_table_batches

    buf: list[Any] = []
    n = 0
    for path in paths:
        for b in iter_table_batches(path, rows):
            t = pa.Table.from_batches([b])
            if not t.schema.equals(schema):
                t = t.cast(schema)
            buf.append(t)
            n += t.num_rows
            while n >= rows:
                whole = pa.concat_tables(buf)
                yield whole.slice(0, rows).combine_chunks()
                buf, n = [whole.slice(rows)], n - rows
    if n:
        yield pa.concat_tables(buf).combine_chunks()


class _GroupWriter:
    """Appends tables to a Parquet writer as row groups: the tables are held until they reach
    :data:`_GROUP_ROWS` rows or :data:`_GROUP_BYTES` bytes of Arrow data (whichever comes first),
    then written as one row group without concatenating them: memory holds one row group."""

    def __init__(self, writer: Any):
        self.writer = writer
        self.buf: list[Any] = []
        self.rows = 0
        self.bytes = 0

    def add(self, table: Any) -> None:
        self.buf.append(table)
        self.rows += table.num_rows
        self.bytes += table.nbytes
        if self.rows >= _GROUP_ROWS or self.bytes >= _GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write the held tables as one row group (their chunks are not concatenated)."""
        import pyarrow as pa

        if self.rows:
            self.writer.write_table(pa.concat_tables(self.buf), row_group_size=self.rows)
        self.buf, self.rows, self.bytes = [], 0, 0


def _rewrite(paths: list[Path], caps: Path, values: dict[str, Any], stats: Any, *, rows: int | None = None
             ) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """Write ``caps`` (captions.parquet) from the captions tables ``paths`` with the corpus
    columns filled from ``values`` (:func:`_corpus_values`; Arrow arrays, no pandas round trip of
    the table); fold the corpus statistics into ``stats``; return the per-source sums of the
    non-degenerate captions and flag counts. Streamed: ``rows`` (default :data:`_BATCH_ROWS`)
    rows are read, filled and summed at a time."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from caption_audit.engine.stats import _SourceSums
    from caption_audit.scoring.aggregate import CAPTION_COLUMNS, stat_table
    from caption_audit.scoring.metrics import STAT_COLUMNS
    from caption_audit.store.writer import CAPTIONS_SCHEMA

    corpus_idx = [STAT_COLUMNS.index(c) for c in CORPUS_STATS]
    stat_cols = [c for c in dict.fromkeys(CAPTION_COLUMNS) if c in CAPTIONS_SCHEMA.names]
    pos = 0
    clean: dict[str, _SourceSums] = {}
    flags: dict[str, dict[str, int]] = {}
    tmp = caps.with_name(f".{caps.name}.quality.tmp")
    with pq.ParquetWriter(tmp, CAPTIONS_SCHEMA, compression="zstd") as w:
        groups = _GroupWriter(w)
        for table in _chunks(paths, CAPTIONS_SCHEMA, rows or _BATCH_ROWS):
            scored = pc.fill_null(pc.equal(table.column("status"), "scored"), False).to_numpy(zero_copy_only=False)
            k = int(scored.sum())
            table = _fill(table, scored, values, pos, pos + k)
            pos += k
            groups.add(table)
            st = stat_table(table.select(stat_cols).to_pandas())
            data = np.column_stack([st[c] for c in STAT_COLUMNS])
            corpus_data = np.zeros_like(data)
            corpus_data[:, corpus_idx] = data[:, corpus_idx]
            sources = table.column("source").to_numpy(zero_copy_only=False)
            images = table.column("image_id").to_numpy(zero_copy_only=False).astype(str)
            bools = {c: pc.fill_null(table.column(c), False).to_numpy(zero_copy_only=False)
                     for c in (*QUALITY_FLAG_COLUMNS.values(), *CORPUS_FLAG_COLUMNS.values(), "degenerate")}
            degenerate = bools["degenerate"]
            for name in dict.fromkeys(sources.tolist()):
                mask = sources == name
                if name in stats.sources:
                    stats.sources[name].add(images[mask], corpus_data[mask])
                keep = mask & ~degenerate
                if keep.any():
                    clean.setdefault(name, _SourceSums()).add(images[keep], data[keep])
                counts = flags.setdefault(name, {})
                sel = mask & scored
                for check, col in (*QUALITY_FLAG_COLUMNS.items(), *CORPUS_FLAG_COLUMNS.items(), ("degenerate", "degenerate")):
                    counts[check] = counts.get(check, 0) + int(bools[col][sel].sum())
                counts["scored"] = counts.get("scored", 0) + int(sel.sum())
        groups.flush()
    if pos != len(values["issues"]):
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"quality pass: {pos} scored captions read back, {len(values['issues'])} added")
    os.replace(tmp, caps)
    return clean, flags


def _corpus_values(corpus: Any) -> dict[str, Any]:
    """The corpus columns of :class:`~caption_audit.quality.corpus.CorpusResult` ``.captions``
    (one row per scored caption, in order) as numpy arrays / lists, converted once."""
    import numpy as np

    share = corpus["boilerplate_share"].to_numpy(dtype=np.float64, na_value=np.nan)  # no float objects
    return {"dup_group_size": corpus["dup_group_size"].to_numpy(dtype=np.int64),
            "dup_images": corpus["dup_images"].to_numpy(dtype=np.int64),
            "near_dup_images": corpus["near_dup_images"].to_numpy(dtype=np.int64),
            # NaN (pandas' missing value in an object column) -> None, as pyarrow.from_pandas did
            "near_dup_of": [v if isinstance(v, str) else None for v in corpus["near_dup_of"].tolist()],
            "boilerplate_share": share,
            "issues": corpus["corpus_issues"].tolist()}


def _fill(table: Any, scored: Any, values: dict[str, Any], lo: int, hi: int) -> Any:
    """``table`` with the corpus columns of its scored rows (in order) set from rows ``lo:hi``
    of ``values``, null on the other rows, and the corpus flags appended to ``quality_issues``."""
    import numpy as np
    import pyarrow as pa

    n = table.num_rows
    schema = table.schema
    at = np.flatnonzero(scored)
    unscored = ~scored

    def put(name: str, arr: Any) -> None:
        nonlocal table
        i = schema.get_field_index(name)
        table = table.set_column(i, schema.field(i), arr)

    for c in ("dup_group_size", "dup_images", "near_dup_images"):
        vals = np.zeros(n, dtype=np.int64)
        vals[at] = values[c][lo:hi]
        put(c, pa.array(vals, schema.field(c).type, mask=unscored))
    near: list[str | None] = [None] * n
    for i, v in zip(at.tolist(), values["near_dup_of"][lo:hi], strict=True):
        near[i] = v
    put("near_dup_of", pa.array(near, schema.field("near_dup_of").type))
    share = np.zeros(n, dtype=np.float64)
    share[at] = values["boilerplate_share"][lo:hi]
    put("boilerplate_share", pa.array(share, schema.field("boilerplate_share").type,
                                      mask=unscored | np.isnan(share)))
    issues = values["issues"][lo:hi]
    for check, col in CORPUS_FLAG_COLUMNS.items():
        vals = np.zeros(n, dtype=bool)
        vals[at] = [check in i for i in issues]
        put(col, pa.array(vals, schema.field(col).type, mask=unscored))
    quality = [q if q is not None else [] for q in table.column("quality_issues").to_pylist()]
    for i, extra in zip(at.tolist(), issues, strict=True):
        if extra:
            quality[i] = quality[i] + list(extra)
    put("quality_issues", pa.array(quality, schema.field("quality_issues").type))
    return table


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


def _quality_block(reused: Any, openers: Any, flags: dict[str, dict[str, int]]) -> dict[str, Any]:
    """summary.json's ``quality`` block: flag counts, top reused captions, openers, closers
    (``reused``, ``openers``: those of :class:`~caption_audit.quality.corpus.CorpusResult`)."""
    from caption_audit.quality.checks import QUALITY_CHECKS

    sources: dict[str, Any] = {}
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
