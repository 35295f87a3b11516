"""All data access of the dashboard: DuckDB over one run folder's Parquet files.

Nothing here imports Streamlit, so every function can be unit-tested and timed on its own.
The dashboard keeps one :class:`Run` per run folder in ``st.cache_resource`` and calls the
functions below; each returns a small pandas frame (an aggregate, one image's rows, or one
page of a table). No function returns a whole table: paging is ``LIMIT``/``OFFSET`` inside
DuckDB and every user-supplied value (source, class, verdict, search text, image id) is a
bound parameter. Column names for sorting are checked against a whitelist, never spliced in
from user input.

DuckDB connections are not safe to share between threads, so each query runs on its own
``con.cursor()`` (a cheap child connection to the same in-memory database, which holds
only views over the Parquet files plus one small image index).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caption_audit.errors import ConfigError, InputError
from caption_audit.store.reader import RunFolder, summary_file, table_file

if TYPE_CHECKING:  # pandas costs ~2 s to import: only the pages that show a DataFrame load it
    import pandas as pd

REQUIRED_TABLES = ("captions",)

VERDICTS = ("supported", "hallucinated", "unverifiable")
CLAIM_VERDICTS = ("contradicted", "unsupported_by_refs", "unverifiable", "supported")
CLAIM_KINDS = ("object", "open_object", "count", "colour", "identity")

#: metrics shown as cards on the overview, in order: (summary name, label)
CARD_METRICS: tuple[tuple[str, str], ...] = (
    ("chair_i", "CHAIR-i"),
    ("chair_s", "CHAIR-s"),
    ("coverage", "coverage"),
    ("halluc_per_100w", "halluc. per 100 words"),
    ("n_words_mean", "words per caption"),
)

#: what a user looks for first comes first: CHAIR-i, the count and the hallucinated objects
#: claim metrics shown as a second row of cards when the run has them (summary.json and the
#: metric table, scoring/metrics.py METRIC_LIST)
CLAIM_CARD_METRICS: tuple[tuple[str, str], ...] = (
    ("claim_error_rate", "claim error rate"),
    ("claims_s", "captions with a wrong claim"),
    ("object_error_rate", "object errors"),
    ("count_error_rate", "count errors"),
    ("colour_error_rate", "colour errors"),
    ("identity_error_rate", "identity errors"),
    ("open_unsupported_share", "open objects unsupported"),
)

CAPTION_COLUMNS = ("chair_i", "n_hallucinated", "hallucinated", "n_contradicted", "claims_contradicted",
                   "source", "image_id", "caption", "n_mentions", "coverage", "n_words", "status",
                   "mentioned", "caption_id", "quality_issues", "degenerate", "repeated_share",
                   "longest_repeat", "dup_group_size", "dup_images", "near_dup_of", "near_dup_images",
                   "boilerplate_share")
MENTION_COLUMNS = ("verdict", "canonical", "text", "reason", "source", "image_id", "evidence", "score",
                   "vocab", "caption_id", "idx", "start", "end")
CLAIM_COLUMNS = ("verdict", "kind", "text", "subject", "value", "evidence", "source", "image_id",
                 "resolver", "confidence", "hedged", "caption_id", "idx", "start", "end")
#: list columns, written as ``a|b|c`` in CSV exports
LIST_COLUMNS = ("hallucinated", "mentioned", "claims_contradicted", "quality_issues")
COLUMNS = {"captions": CAPTION_COLUMNS, "mentions": MENTION_COLUMNS, "claims": CLAIM_COLUMNS}
#: columns a page may be sorted by (whitelist: ORDER BY cannot take a bound parameter)
SORTABLE = {
    "captions": ("caption_id", "image_id", "source", "n_words", "n_mentions", "n_hallucinated",
                 "chair_i", "coverage", "repeated_share", "longest_repeat", "dup_group_size",
                 "boilerplate_share"),
    "mentions": ("caption_id", "image_id", "source", "idx", "canonical", "verdict", "score"),
    "claims": ("caption_id", "image_id", "source", "idx", "kind", "subject", "verdict", "confidence"),
}
MAX_PAGE_SIZE = 500
EXPORT_CAP = 100_000

_IMAGE_ORDER = "TRY_CAST(image_id AS BIGINT) NULLS LAST, image_id"


def _q(name: str) -> str:
    """Quote an identifier (used only for whitelisted names)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Run:
    """One run folder opened for querying.

    Attributes:
        path: the run folder.
        summary: ``summary.json`` as a dict (empty when the file is absent).
        tables: names of the Parquet tables present.
        con: the DuckDB connection holding one view per table; query it through
            :meth:`cursor`.
        folder: the store's reader of the folder (file names, schemas).
    """

    path: Path
    summary: dict[str, Any]
    tables: tuple[str, ...]
    con: Any
    folder: RunFolder
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _image_index_ready: bool = False

    def cursor(self) -> Any:
        """A child connection for one query (thread-safe use of the shared database)."""
        return self.con.cursor()

    def has(self, table: str) -> bool:
        return table in self.tables

    def columns(self, table: str) -> list[str]:
        if not self.has(table):
            return []
        return [r[0] for r in self.cursor().execute(f"DESCRIBE {table}").fetchall()]

    @property
    def name(self) -> str:
        return self.path.name

    def ensure_image_index(self) -> None:
        """Build (once) the ordered image index used by the image browser.

        One row per image that has a caption: its 0-based position in natural id order, and
        its position among images with at least one hallucinating caption (null otherwise).
        It is small (one row per image) and built by DuckDB, never shipped to the browser.
        """
        if self._image_index_ready:
            return
        with self._lock:
            if self._image_index_ready:
                return
            self.cursor().execute(
                f"""
                CREATE OR REPLACE TABLE image_index AS
                WITH per AS (
                  SELECT image_id, bool_or(coalesce(has_hallucination, false)) AS any_h,
                         count(*) AS n_captions
                  FROM captions GROUP BY image_id)
                SELECT image_id, any_h, n_captions,
                       row_number() OVER (ORDER BY {_IMAGE_ORDER}) - 1 AS pos,
                       CASE WHEN any_h THEN
                         row_number() OVER (PARTITION BY any_h ORDER BY {_IMAGE_ORDER}) - 1 END AS hpos
                FROM per
                """
            )
            self._image_index_ready = True


def open_run(path: str | Path) -> Run:
    """Open a run folder (see docs/run-folder.md) as DuckDB views.

    Raises:
        InputError: when the folder or its ``captions.parquet`` is missing, or
            ``summary.json`` is not valid JSON.
    """
    import duckdb

    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise InputError(str(root), "run folder not found (expected the --out folder of `caption-audit run`)")
    for t in REQUIRED_TABLES:
        if not table_file(root, t).is_file():
            raise InputError(str(table_file(root, t)), "missing: this folder is not a caption-audit run")
    summary: dict[str, Any] = {}
    sp = summary_file(root)
    if sp.is_file():
        try:
            summary = json.loads(sp.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(str(sp), f"not valid JSON ({exc.msg})", line=exc.lineno) from None
        except (UnicodeDecodeError, OSError) as exc:
            raise InputError(str(sp), f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
        from caption_audit.summary_schema import validate_summary

        validate_summary(summary, sp)
    folder = RunFolder(root, summary=summary)
    con = duckdb.connect(":memory:")
    con.execute("SET threads TO 2")
    present = folder.present_tables()
    for t in present:
        extra = ", coalesce(status = 'scored', false) AS scored" if t == "captions" else ""
        con.execute(f"CREATE VIEW {t} AS SELECT *{extra} FROM {folder.sql_table(t)}")
    return Run(path=root, summary=folder.summary, tables=present, con=con, folder=folder)


# --------------------------------------------------------------------------- overview


def metric_info(run: Run) -> dict[str, dict[str, Any]]:
    """Direction, unit and description of each per-source metric.

    From the metric table (``caption_audit.scoring.metrics``), overlaid with
    ``summary.json["metrics"]`` (what the run itself declared).
    """
    from caption_audit.scoring.metrics import metric_metadata

    info = metric_metadata()
    for name, mi in (run.summary.get("metrics") or {}).items():
        if isinstance(mi, dict):
            info.setdefault(name, {}).update({k: v for k, v in mi.items() if v is not None})
    return info


def sources(run: Run) -> list[str]:
    """Caption sources in the run, in summary order when known."""
    listed = [s for s in (run.summary.get("sources") or {})]
    found = [r[0] for r in run.cursor().execute(
        "SELECT DISTINCT source FROM captions ORDER BY source").fetchall()]
    return [s for s in listed if s in found] + [s for s in found if s not in listed]


METRIC_RECORD_COLUMNS = ("source", "metric", "value", "ci_low", "ci_high", "n", "status", "from")


def _num(v: Any) -> float | None:
    """``v`` as a float, or None when it is missing, not a number or NaN (undefined)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def metric_records(run: Run) -> list[dict[str, Any]]:
    """Per-source metrics as plain dicts (``source, metric, value, ci_low, ci_high, n,
    status, from``), without pandas (the Overview's cold start).

    Values and confidence intervals come from ``summary.json`` (image-cluster bootstrap by
    the core). A metric missing there is computed with DuckDB from captions.parquet as a
    ratio of sums, without an interval (``ci_low``/``ci_high`` None).
    """
    rows: list[dict[str, Any]] = []
    have: set[tuple[str, str]] = set()
    for src, block in (run.summary.get("sources") or {}).items():
        for name, m in ((block or {}).get("metrics") or {}).items():
            if not isinstance(m, dict):
                continue
            rows.append({"source": src, "metric": name, "value": _num(m.get("value")),
                         "ci_low": _num(m.get("ci_low")), "ci_high": _num(m.get("ci_high")),
                         "n": m.get("n"), "status": m.get("status"), "from": "summary.json"})
            have.add((src, name))
    from caption_audit.scoring.metrics import METRIC_LIST

    names = {m.name for m in METRIC_LIST}
    srcs = sources(run)
    # summary.json usually holds every metric of every source: then the full-table scan that
    # recomputes them (seconds on a 1M-caption run) is skipped
    if not all((s, n) in have for s in srcs for n in names):
        # the metric SQL reads a missing column as zeros: a run written before the quality
        # columns would show 0% degenerate, so those metrics stay undefined there
        skip = set() if "quality_issues" in run.columns("captions") else {m for m, _ in QUALITY_METRICS}
        for r in _computed_records(run):
            if (r["source"], r["metric"]) not in have and r["metric"] not in skip:
                rows.append({**r, "value": _num(r["value"]), "ci_low": None, "ci_high": None,
                             "status": None, "from": "computed"})
    return rows


def source_metrics(run: Run) -> pd.DataFrame:
    """:func:`metric_records` as a DataFrame (``value``/``ci_low``/``ci_high`` numeric, NaN
    where undefined)."""
    import pandas as pd

    df = pd.DataFrame(metric_records(run), columns=list(METRIC_RECORD_COLUMNS))
    for c in ("value", "ci_low", "ci_high"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def _computed_records(run: Run) -> list[dict[str, Any]]:
    from caption_audit.scoring.aggregate import metric_sql

    exprs = metric_sql(run.columns("captions"))
    select = ", ".join(f"{v} AS {_q(k)}" for k, v in exprs.items())
    rows = run.cursor().execute(
        f"SELECT source, count(*) AS n, {select} FROM captions GROUP BY source ORDER BY source").fetchall()
    return [{"source": r[0], "metric": k, "value": v, "n": r[1]}
            for r in rows for k, v in zip(exprs, r[2:], strict=True)]


def computed_metrics(run: Run) -> pd.DataFrame:
    """Every metric of the metric table recomputed from captions.parquet in DuckDB (no
    intervals): SQL generated from each metric's numerator/denominator statistics
    (:func:`caption_audit.scoring.aggregate.metric_sql`), ``NULL`` for a zero denominator,
    so a value undefined in summary.json is undefined here too."""
    import pandas as pd

    return pd.DataFrame(_computed_records(run), columns=["source", "metric", "value", "n"])


_COUNTS_SQL = """SELECT source, count(*) AS captions, count(*) FILTER (WHERE scored) AS scored,
                  count(*) FILTER (WHERE NOT scored) AS skipped, count(DISTINCT image_id) AS images
           FROM captions GROUP BY source ORDER BY source"""


def count_records(run: Run) -> dict[str, dict[str, int]]:
    """``{source: {captions, scored, skipped, images}}`` from captions.parquet (no pandas)."""
    cur = run.cursor().execute(_COUNTS_SQL)
    cols = [d[0] for d in cur.description]
    return {r[0]: dict(zip(cols[1:], (int(x) for x in r[1:]), strict=True)) for r in cur.fetchall()}


def source_counts(run: Run) -> pd.DataFrame:
    """``source, captions, scored, skipped, images`` from captions.parquet."""
    return run.cursor().execute(_COUNTS_SQL).df()


def _result(run: Run, sql: str, params: list[Any], arrow: bool) -> Any:
    """A query result as a pandas DataFrame, or as a pyarrow Table when ``arrow`` (charts:
    Streamlit takes Arrow tables without importing pandas)."""
    rel = run.cursor().sql(sql, params=params)
    return rel.to_arrow_table() if arrow else rel.df()


def length_histogram(run: Run, bins: int = 30, column: str = "n_words", *, arrow: bool = False) -> Any:
    """Caption-length histogram per source computed in DuckDB.

    Returns ``source, bin_start, bin_end, captions`` with ``bins`` equal-width bins over
    [0, 99th percentile] (longer captions fall in the last bin); a DataFrame, or a pyarrow
    Table with ``arrow=True``.
    """
    if column not in ("n_words", "n_chars"):
        raise ConfigError(f"unknown length column {column!r}; use n_words or n_chars")
    cur = run.cursor()
    hi = cur.execute(f"SELECT quantile_cont({column}, 0.99) FROM captions WHERE scored").fetchone()[0]
    width = max(1.0, float(hi) / bins) if hi is not None else 1.0
    where = "scored" if hi is not None else "false"
    return _result(run,
        f"""SELECT source, b * ? AS bin_start, (b + 1) * ? AS bin_end, captions FROM (
              SELECT source, least(floor({column} / ?), ?) AS b, count(*) AS captions
              FROM captions WHERE {where} GROUP BY ALL) ORDER BY source, bin_start""",
        [width, width, width, bins - 1], arrow)


def class_rates(run: Run, top_k: int = 30, min_mentions: int = 1, by: str = "hallucinated", *,
                arrow: bool = False) -> Any:
    """Source x class hallucination rates from classes.parquet.

    Keeps the ``top_k`` classes with the most hallucinated mentions over all sources (ties:
    the most mentioned), or with ``by="mentions"`` the most mentioned. Returns ``source,
    canonical, n_mentions, n_hallucinated, hallucination_rate, coverage`` (a DataFrame, or a
    pyarrow Table with ``arrow=True``; None with ``arrow=True`` when the run has no classes).
    """
    if not run.has("classes"):
        if arrow:
            return None
        import pandas as pd

        return pd.DataFrame(columns=["source", "canonical", "n_mentions", "n_hallucinated",
                                     "hallucination_rate", "coverage"])
    if by not in ("hallucinated", "mentions"):
        raise ConfigError(f"class_rates: by must be hallucinated or mentions, got {by!r}")
    order = ("sum(n_hallucinated) DESC, sum(n_mentions) DESC" if by == "hallucinated"
             else "sum(n_mentions) DESC")
    return _result(run,
        f"""WITH top AS (SELECT canonical FROM classes GROUP BY canonical
                        ORDER BY {order}, canonical LIMIT ?)
           SELECT c.source, c.canonical, c.n_mentions, c.n_hallucinated,
                  c.hallucination_rate, c.coverage
           FROM classes c JOIN top USING (canonical)
           WHERE c.n_mentions >= ? ORDER BY c.canonical, c.source""",
        [int(top_k), int(min_mentions)], arrow)


def records_table(rows: Sequence[dict[str, Any]], columns: dict[str, str]) -> Any:
    """Plain dicts as a pyarrow Table (``columns``: name -> DuckDB type), built by DuckDB:
    pyarrow's own constructors from Python lists import pandas, which the Overview avoids."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("CREATE TABLE t (" + ", ".join(f"{_q(c)} {t}" for c, t in columns.items()) + ")")
        if rows:
            marks = ", ".join("?" for _ in columns)
            con.executemany(f"INSERT INTO t VALUES ({marks})", [[r.get(c) for c in columns] for r in rows])
        return con.sql("SELECT * FROM t").to_arrow_table()
    finally:
        con.close()


# --------------------------------------------------------------------------- caption quality

#: quality flags of captions.parquet ``quality_issues`` (docs/quality.md), in display order
QUALITY_FLAGS = ("repetition", "truncated", "garbage", "non_english", "empty", "duplicate",
                 "near_duplicate", "boilerplate")
#: per-source quality shares of summary.json (metric table), in display order: (name, label)
QUALITY_METRICS: tuple[tuple[str, str], ...] = (
    ("degenerate_share", "degenerate"),
    ("repetition_share", "repetition"),
    ("truncated_share", "truncated"),
    ("garbage_share", "garbage"),
    ("duplicate_share", "duplicate"),
    ("near_duplicate_share", "near-duplicate"),
    ("boilerplate_share", "boilerplate (mean share)"),
)
#: metrics compared with and without degenerate captions (summary ``metrics_clean``)
CLEAN_METRICS = ("chair_i", "chair_s", "coverage", "halluc_per_100w", "claim_error_rate")


def has_quality(run: Run) -> bool:
    """Whether the run has caption quality data (captions.parquet ``quality_issues``)."""
    return "quality_issues" in run.columns("captions")


def quality_records(run: Run) -> list[dict[str, Any]]:
    """Per-source quality shares: ``source, metric, label, value, ci_low, ci_high`` for each
    of :data:`QUALITY_METRICS` that summary.json holds (empty for runs without them)."""
    labels = dict(QUALITY_METRICS)
    by = {(r["source"], r["metric"]): r for r in metric_records(run) if r["metric"] in labels}
    return [{**by[(s, m)], "label": lab} for s in sources(run) for m, lab in QUALITY_METRICS if (s, m) in by]


def clean_records(run: Run) -> list[dict[str, Any]]:
    """Key metrics with and without degenerate captions, per source with ``metrics_clean``:
    ``source, metric, value, clean_value, clean_ci_low, clean_ci_high, n_scored, n_clean``
    (values None where undefined)."""
    out: list[dict[str, Any]] = []
    for src, block in (run.summary.get("sources") or {}).items():
        clean = (block or {}).get("metrics_clean")
        if not isinstance(clean, dict):
            continue
        allm = (block or {}).get("metrics") or {}
        cm = clean.get("metrics") or {}
        n_clean = (clean.get("counts") or {}).get("scored")
        n_all = ((block or {}).get("counts") or {}).get("scored")
        for name in CLEAN_METRICS:
            if name not in cm and name not in allm:
                continue
            a, c = allm.get(name) or {}, cm.get(name) or {}
            out.append({"source": src, "metric": name, "value": _num(a.get("value")),
                        "clean_value": _num(c.get("value")), "clean_ci_low": _num(c.get("ci_low")),
                        "clean_ci_high": _num(c.get("ci_high")), "n_scored": n_all, "n_clean": n_clean})
    return out


def quality_lists(run: Run) -> dict[str, dict[str, Any]]:
    """summary.json ``quality.sources``: per source ``flag_counts``, ``reused``, ``openers``,
    ``closers`` (texts are raw, untrusted: render them escaped). Empty for old runs."""
    q = run.summary.get("quality")
    srcs = q.get("sources") if isinstance(q, dict) else None
    return {str(k): v for k, v in srcs.items() if isinstance(v, dict)} if isinstance(srcs, dict) else {}


POSITION_COLUMNS = {"source": "VARCHAR", "kind": "VARCHAR", "axis": "VARCHAR", "bin": "INTEGER",
                    "n_judged": "BIGINT", "n_bad": "BIGINT", "rate": "DOUBLE", "segment": "INTEGER"}


def position_records(run: Run) -> list[dict[str, Any]]:
    """summary.json ``position`` as rows ``source, kind (mentions|claims), axis
    (decile|sentence), bin, n_judged, n_bad, rate, segment``.

    ``rate`` is None where nothing was judged (never 0). ``segment`` numbers the runs of
    consecutive defined rates within one (source, kind, axis) curve, so a line drawn per
    segment has a gap at every undefined bin instead of bridging it.
    """
    pos = run.summary.get("position")
    srcs = pos.get("sources") if isinstance(pos, dict) else None
    if not isinstance(srcs, dict):
        return []
    out: list[dict[str, Any]] = []
    for src, block in srcs.items():
        for kind in ("mentions", "claims"):
            for axis in ("decile", "sentence"):
                bins = ((block or {}).get(kind) or {}).get(axis) if isinstance(block, dict) else None
                if not isinstance(bins, list):
                    continue
                seg, prev_defined = 0, False
                for b in sorted((b for b in bins if isinstance(b, dict)), key=lambda b: int(b.get("bin", 0))):
                    n_judged = int(b.get("n_judged") or 0)
                    rate = _num(b.get("rate")) if n_judged > 0 else None
                    if rate is not None and not prev_defined:
                        seg += 1
                    prev_defined = rate is not None
                    out.append({"source": str(src), "kind": kind, "axis": axis, "bin": int(b.get("bin", 0)),
                                "n_judged": n_judged, "n_bad": int(b.get("n_bad") or 0), "rate": rate,
                                "segment": seg if rate is not None else None})
    return out


def provenance(run: Run) -> dict[str, Any]:
    """The run's provenance from summary.json (everything but the per-source metrics)."""
    s = run.summary
    keep = ("schema_version", "tool", "created", "gt_mode", "text", "detector", "inputs",
            "counts", "bootstrap", "images_dir", "config", "git")
    out = {k: s[k] for k in keep if k in s}
    out.setdefault("run_folder", str(run.path))
    return out


def class_names(run: Run) -> list[str]:
    """All canonical classes seen in mentions (for filter widgets)."""
    if run.has("classes"):
        sql = "SELECT DISTINCT canonical FROM classes ORDER BY 1"
    elif run.has("mentions"):
        sql = "SELECT DISTINCT canonical FROM mentions WHERE vocab = 'coco80' ORDER BY 1"
    else:
        return []
    return [r[0] for r in run.cursor().execute(sql).fetchall() if r[0] is not None]


# --------------------------------------------------------------------------- image browser


def image_count(run: Run, only_hallucinated: bool = False) -> int:
    """Number of images with captions (optionally only those with a hallucination)."""
    run.ensure_image_index()
    where = "WHERE any_h" if only_hallucinated else ""
    return int(run.cursor().execute(f"SELECT count(*) FROM image_index {where}").fetchone()[0])


def image_at(run: Run, position: int, only_hallucinated: bool = False) -> str | None:
    """The image id at a 0-based position of the browser's order, or None when out of range."""
    run.ensure_image_index()
    col = "hpos" if only_hallucinated else "pos"
    row = run.cursor().execute(f"SELECT image_id FROM image_index WHERE {col} = ?",
                               [int(position)]).fetchone()
    return None if row is None else row[0]


def image_position(run: Run, image_id: str, only_hallucinated: bool = False) -> int | None:
    """Position of ``image_id`` in the browser's order, or None if it has no caption there."""
    run.ensure_image_index()
    col = "hpos" if only_hallucinated else "pos"
    row = run.cursor().execute(f"SELECT {col} FROM image_index WHERE image_id = ?",
                               [str(image_id)]).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def image_info(run: Run, image_id: str) -> dict[str, Any]:
    """``image_id, file_name, width, height, gt_available`` (None values when unknown)."""
    info: dict[str, Any] = {"image_id": image_id, "file_name": None, "width": None,
                            "height": None, "gt_available": None}
    if run.has("images"):
        cur = run.cursor().execute("SELECT * FROM images WHERE image_id = ? LIMIT 1", [image_id])
        row = cur.fetchone()
        if row is not None:
            info.update(dict(zip([d[0] for d in cur.description], row, strict=True)))
    return info


def image_objects(run: Run, image_id: str) -> pd.DataFrame:
    """Ground-truth and detected objects of one image (objects.parquet rows)."""
    import pandas as pd

    if not run.has("objects"):
        return pd.DataFrame(columns=["image_id", "category", "label", "bbox", "normalized", "origin", "score"])
    return run.cursor().execute(
        "SELECT * FROM objects WHERE image_id = ? ORDER BY origin, category", [image_id]).df()


def image_captions(run: Run, image_id: str) -> pd.DataFrame:
    """All captions of one image, every source, ordered by source then caption id."""
    return run.cursor().execute(
        "SELECT * EXCLUDE (scored) FROM captions WHERE image_id = ? ORDER BY source, caption_id",
        [image_id]).df()


def caption_mentions(run: Run, caption_ids: Sequence[str]) -> pd.DataFrame:
    """Mentions of the given captions, ordered by caption and position."""
    import pandas as pd

    if not run.has("mentions") or not caption_ids:
        return pd.DataFrame(columns=list(MENTION_COLUMNS))
    return run.cursor().execute(
        "SELECT * FROM mentions WHERE list_contains(?, caption_id) ORDER BY caption_id, start, idx",
        [list(map(str, caption_ids))]).df()


def caption_claims(run: Run, caption_ids: Sequence[str]) -> pd.DataFrame:
    """Claims of the given captions (claims.parquet), ordered by caption and position; an
    empty frame for runs without claims."""
    import pandas as pd

    if not run.has("claims") or not caption_ids:
        return pd.DataFrame(columns=list(CLAIM_COLUMNS))
    return run.cursor().execute(
        "SELECT * FROM claims WHERE list_contains(?, caption_id) ORDER BY caption_id, start, idx",
        [list(map(str, caption_ids))]).df()


def find_image(image_id: str, file_name: str | None, dirs: Sequence[str | Path]) -> Path | None:
    """Find an image file under one of ``dirs``.

    Tries, in each folder: ``file_name`` as given, its base name, then for numeric ids the
    COCO names ``%012d.jpg``, ``COCO_val2014_%012d.jpg`` and ``COCO_train2014_%012d.jpg``
    (also inside ``train2017``/``val2017``/``val2014``/``train2014`` subfolders).

    ``file_name`` comes from the run's data and is untrusted: a candidate is used only when
    its resolved path (symlinks followed) lies inside the resolved folder, so ``..`` names,
    absolute paths and symlinks pointing outside are never opened.
    """
    names: list[str] = []
    if file_name:
        names += [file_name, Path(file_name).name]
    if str(image_id).isdigit():
        n = int(image_id)
        names += [f"{n:012d}.jpg", f"COCO_val2014_{n:012d}.jpg", f"COCO_train2014_{n:012d}.jpg",
                  f"{n:012d}.png"]
    subdirs = ("", "train2017", "val2017", "val2014", "train2014", "images")
    for d in dirs:
        try:
            base = Path(d).expanduser().resolve()
        except (OSError, ValueError, RuntimeError):
            continue
        if not base.is_dir():
            continue
        for sub in subdirs:
            for name in names:
                try:
                    p = (base / sub / name).resolve()
                    if p.is_relative_to(base) and p.is_file():
                        return p
                except (OSError, ValueError, RuntimeError):  # NUL byte, name too long, symlink loop
                    continue
    return None


def image_dirs(run: Run, images: str | Path | None) -> list[Path]:
    """Folders searched for image files: ``--images`` first, then summary ``images_dir``."""
    out: list[Path] = []
    if images:
        out.append(Path(images))
    sdir = run.summary.get("images_dir")
    if isinstance(sdir, str) and sdir:
        p = Path(sdir)
        out.append(p if p.is_absolute() else run.path / p)
    return out


# --------------------------------------------------------------------------- explorer


@dataclass(frozen=True)
class Filters:
    """Explorer filters. Empty sequences mean "no filter".

    Attributes:
        sources: keep these sources.
        classes: captions: mentioning any of these classes; mentions: of these classes.
        verdicts: mentions: with these verdicts; captions: having a mention with one of them
            (``hallucinated`` uses ``n_hallucinated > 0``).
        min_chair_i: keep captions whose CHAIR-i is at least this (captions with no
            mentions drop out when it is set).
        text: case-insensitive substring of the caption (mentions: of the mention text).
        issues: keep captions (and their mentions/claims) with any of these quality flags
            (captions.parquet ``quality_issues``, :data:`QUALITY_FLAGS`).
        only_degenerate: keep captions flagged ``degenerate`` (and their mentions/claims).
        only_hallucinated: captions with at least one hallucinated mention.
        kinds: claims: of these kinds (object, open_object, count, colour, identity).

    For the claims table, ``classes`` filters the claim subject, ``verdicts`` the claim
    verdict (:data:`CLAIM_VERDICTS`) and ``text`` searches the claim words, subject, value
    and evidence.
    """

    sources: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    verdicts: tuple[str, ...] = ()
    min_chair_i: float | None = None
    text: str = ""
    only_hallucinated: bool = False
    kinds: tuple[str, ...] = ()
    issues: tuple[str, ...] = ()
    only_degenerate: bool = False


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` literally (``%``, ``_`` and ``\\`` escaped)."""
    esc = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def _where(table: str, f: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if f.sources:
        clauses.append("list_contains(?, source)")
        params.append(list(f.sources))
    if table == "captions":
        if f.classes:
            clauses.append("list_has_any(mentioned, ?)")
            params.append(list(f.classes))
        if f.verdicts:
            parts = []
            if "hallucinated" in f.verdicts:
                parts.append("n_hallucinated > 0")
            if "supported" in f.verdicts:
                parts.append("n_mentions > n_hallucinated")
            if "unverifiable" in f.verdicts:
                parts.append("n_unverifiable > 0")
            if parts:
                clauses.append("(" + " OR ".join(parts) + ")")
        if f.min_chair_i is not None:
            clauses.append("chair_i >= ?")
            params.append(float(f.min_chair_i))
        if f.only_hallucinated:
            clauses.append("n_hallucinated > 0")
        if f.text:
            clauses.append("caption ILIKE ? ESCAPE '\\'")
            params.append(_like_pattern(f.text))
        q_where, q_params = _quality_clauses(f)
        clauses += q_where
        params += q_params
    elif table == "claims":
        if f.classes:
            clauses.append("list_contains(?, subject)")
            params.append(list(f.classes))
        if f.kinds:
            clauses.append("list_contains(?, kind)")
            params.append(list(f.kinds))
        if f.verdicts:
            clauses.append("list_contains(?, verdict)")
            params.append(list(f.verdicts))
        if f.text:
            clauses.append("concat_ws(' ', text, subject, value, evidence) ILIKE ? ESCAPE '\\'")
            params.append(_like_pattern(f.text))
        _caption_subquery(f, clauses, params)
    else:
        if f.classes:
            clauses.append("list_contains(?, canonical)")
            params.append(list(f.classes))
        if f.verdicts:
            clauses.append("list_contains(?, verdict)")
            params.append(list(f.verdicts))
        if f.text:
            clauses.append("text ILIKE ? ESCAPE '\\'")
            params.append(_like_pattern(f.text))
        _caption_subquery(f, clauses, params)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _quality_clauses(f: Filters) -> tuple[list[str], list[Any]]:
    """Caption-level quality filters (captions.parquet ``quality_issues``/``degenerate``)."""
    clauses: list[str] = []
    params: list[Any] = []
    if f.issues:
        clauses.append("list_has_any(coalesce(quality_issues, []), ?)")
        params.append(list(f.issues))
    if f.only_degenerate:
        clauses.append("coalesce(degenerate, false)")
    return clauses, params


def _caption_subquery(f: Filters, clauses: list[str], params: list[Any]) -> None:
    """Mentions/claims: keep rows whose caption passes the caption-level filters."""
    sub: list[str] = []
    if f.min_chair_i is not None:
        sub.append("chair_i >= ?")
        params.append(float(f.min_chair_i))
    if f.only_hallucinated:
        sub.append("n_hallucinated > 0")
    q_where, q_params = _quality_clauses(f)
    sub += q_where
    params += q_params
    if sub:
        clauses.append(f"caption_id IN (SELECT caption_id FROM captions WHERE {' AND '.join(sub)})")


def _check_table(run: Run, table: str) -> None:
    if table not in SORTABLE:
        raise ConfigError(f"unknown table {table!r}; use captions, mentions or claims")
    if not run.has(table):
        raise InputError(str(run.folder.table_path(table)), "missing from this run")


def _select_cols(run: Run, table: str) -> str:
    have = set(run.columns(table))
    return ", ".join(_q(c) for c in COLUMNS[table] if c in have)


def count_rows(run: Run, table: str, filters: Filters = Filters()) -> int:
    """Number of rows of ``captions``, ``mentions`` or ``claims`` matching ``filters``."""
    _check_table(run, table)
    where, params = _where(table, filters)
    return int(run.cursor().execute(f"SELECT count(*) FROM {table} {where}", params).fetchone()[0])


def page(run: Run, table: str, filters: Filters = Filters(), *, sort_by: str | None = None,
         descending: bool = False, page_number: int = 0, page_size: int = 50) -> pd.DataFrame:
    """One page of ``captions``, ``mentions`` or ``claims`` matching ``filters``.

    Args:
        sort_by: a column from :data:`SORTABLE`; ties break on the table's key so pages
            are stable.
        page_number: 0-based page index.
        page_size: rows per page, at most :data:`MAX_PAGE_SIZE`.

    Raises:
        ConfigError: unknown table or sort column, or a bad page size.
    """
    _check_table(run, table)
    if sort_by is not None and sort_by not in SORTABLE[table]:
        raise ConfigError(f"cannot sort {table} by {sort_by!r}; choose one of {', '.join(SORTABLE[table])}")
    if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
        raise ConfigError(f"page size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    if int(page_number) < 0:
        raise ConfigError(f"page number must be >= 0, got {page_number}")
    where, params = _where(table, filters)
    key = "caption_id" if table == "captions" else "caption_id, idx"
    order = key if sort_by is None else f"{_q(sort_by)} {'DESC' if descending else 'ASC'} NULLS LAST, {key}"
    sql = (f"SELECT {_select_cols(run, table)} FROM {table} {where} ORDER BY {order} "
           f"LIMIT ? OFFSET ?")
    return run.cursor().execute(sql, [*params, int(page_size), int(page_number) * int(page_size)]).df()


def iter_csv(run: Run, table: str, filters: Filters = Filters(), *, cap: int = EXPORT_CAP,
             batch_rows: int = 50_000) -> Iterator[bytes]:
    """The filtered rows as CSV, streamed from DuckDB in Arrow batches, at most ``cap`` rows.

    List columns are written as ``a|b|c``. Yields the header first.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    _check_table(run, table)
    where, params = _where(table, filters)
    have = set(run.columns(table))
    cols = []
    for c in COLUMNS[table]:
        if c not in have:
            continue
        if c in LIST_COLUMNS:
            cols.append(f"array_to_string({_q(c)}, '|') AS {_q(c)}")
        else:
            cols.append(_q(c))
    key = "caption_id" if table == "captions" else "caption_id, idx"
    reader = run.cursor().sql(
        f"SELECT {', '.join(cols)} FROM {table} {where} ORDER BY {key} LIMIT ?",
        params=[*params, int(cap)]).to_arrow_reader(batch_rows)
    first = True
    for batch in reader:
        buf = io.BytesIO()
        pcsv.write_csv(pa.Table.from_batches([batch]), buf,
                       write_options=pcsv.WriteOptions(include_header=first))
        first = False
        yield buf.getvalue()
    if first:  # no rows: still a header
        buf = io.BytesIO()
        pcsv.write_csv(reader.schema.empty_table(), buf)
        yield buf.getvalue()


def export_csv(run: Run, table: str, filters: Filters = Filters(), *, cap: int = EXPORT_CAP) -> bytes:
    """:func:`iter_csv` joined into one payload (what the download button sends)."""
    return b"".join(iter_csv(run, table, filters, cap=cap))


# --------------------------------------------------------------------------- baseline


def metric_deltas(run: Run, base: Run, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per-source metric changes from ``base`` to ``run`` with paired image-bootstrap CIs.

    For each source pair of :func:`source_pairs`, every ratio metric both runs know is
    compared on the images both sides describe, by the project's paired bootstrap
    (:func:`caption_audit.scoring.paired.compare_captions`, the same as ``caption-audit
    compare``): the difference ``run - base`` and its 95% interval.

    Returns ``source, metric, base_value, value, delta, ci_low, ci_high, n_images,
    higher_is_better, change`` where ``change`` is ``better``/``worse`` only when the
    interval excludes 0 (direction from :func:`metric_info`), ``no clear difference`` when it
    holds 0, and ``n/a`` for direction-less or undefined metrics.
    """
    import pandas as pd

    from caption_audit.scoring.paired import RATIO_METRICS, compare_captions

    info = metric_info(run)
    known = set(info) | set(metric_info(base))
    metrics = [m for m in RATIO_METRICS if m in known]
    caps_run, caps_base = run.folder.metric_captions(), base.folder.metric_captions()
    rows = []
    for src_run, src_base in source_pairs(run, base)[0]:
        a = caps_base[caps_base["source"] == src_base]
        b = caps_run[caps_run["source"] == src_run]
        label = src_run if src_run == src_base else f"{src_run} (baseline: {src_base})"
        diffs = compare_captions(a, b, metrics, n_resamples=n_resamples, seed=seed)
        for m, d in diffs.items():
            hib = info.get(m, {}).get("higher_is_better")
            if d.ci_low is None or d.ci_high is None or hib is None:
                change = "n/a"
            elif d.ci_low > 0 or d.ci_high < 0:
                change = "better" if (d.ci_low > 0) == bool(hib) else "worse"
            else:
                change = "no clear difference"
            rows.append({"source": label, "metric": m, "base_value": d.value_a, "value": d.value_b,
                         "delta": d.diff, "ci_low": d.ci_low, "ci_high": d.ci_high,
                         "n_images": d.n_images, "higher_is_better": hib, "change": change})
    cols = ["source", "metric", "base_value", "value", "delta", "ci_low", "ci_high", "n_images",
            "higher_is_better", "change"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("base_value", "value", "delta", "ci_low", "ci_high"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def source_pairs(run: Run, base: Run) -> tuple[list[tuple[str, str]], str]:
    """Which source of ``run`` is compared with which source of ``base``, and how.

    Sources with the same name are paired. When the runs share no source name but each has
    exactly one (two decodings of one model, named differently), those two are paired.
    Returns ``([(run_source, base_source), ...], description)``.
    """
    a, b = sources(run), sources(base)
    common = [s for s in a if s in b]
    if common:
        return [(s, s) for s in common], "same source name"
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])], f"the only source of each run ({a[0]} vs baseline {b[0]})"
    return [], "no source in common"


_ORDER_IN_IMAGE = ("TRY_CAST(regexp_extract(coalesce(origin, ''), '(\\d+)$', 1) AS BIGINT) NULLS LAST, "
                   "caption_id")


def _attach(run: Run, base: Run) -> Any:
    """A cursor with ``pairs``: captions of both runs matched on (source, image, position of
    the caption among that image's captions of that source, in input order), plus
    ``a_only``/``b_only`` counts."""
    pairs, _ = source_pairs(run, base)
    cur = run.cursor()
    cur.execute(f"CREATE OR REPLACE TEMP VIEW base_captions AS SELECT * FROM {base.folder.sql_table('captions')}")
    cur.execute("CREATE OR REPLACE TEMP TABLE source_map (run_source VARCHAR, base_source VARCHAR)")
    if pairs:
        cur.executemany("INSERT INTO source_map VALUES (?, ?)", [list(p) for p in pairs])
    order_a = _ORDER_IN_IMAGE if "origin" in run.columns("captions") else "caption_id"
    order_b = _ORDER_IN_IMAGE if "origin" in base.columns("captions") else "caption_id"
    cur.execute(f"""
        CREATE OR REPLACE TEMP VIEW caption_pairs AS
        WITH a AS (SELECT *, row_number() OVER (PARTITION BY source, image_id ORDER BY {order_a}) AS k
                   FROM captions),
             b AS (SELECT *, row_number() OVER (PARTITION BY source, image_id ORDER BY {order_b}) AS k
                   FROM base_captions)
        SELECT a.caption_id, a.image_id, a.source, a.caption, a.chair_i, a.hallucinated,
               b.caption_id AS base_caption_id, b.caption AS base_caption, b.chair_i AS base_chair_i,
               b.hallucinated AS base_hallucinated, a.k
        FROM a JOIN source_map m ON a.source = m.run_source
               JOIN b ON b.source = m.base_source AND b.image_id = a.image_id AND b.k = a.k""")
    return cur


def caption_matching(run: Run, base: Run) -> dict[str, Any]:
    """How the Baseline page matched captions: ``{"how", "sources", "pairs", "run_only",
    "base_only", "same_id"}`` (``same_id``: matched pairs whose caption ids are equal)."""
    pairs, how = source_pairs(run, base)
    cur = _attach(run, base)
    n, same = cur.execute("SELECT count(*), count(*) FILTER (WHERE caption_id = base_caption_id) "
                          "FROM caption_pairs").fetchone()
    n_a = cur.execute("SELECT count(*) FROM captions WHERE source IN (SELECT run_source FROM source_map)").fetchone()[0]
    n_b = cur.execute("SELECT count(*) FROM base_captions WHERE source IN (SELECT base_source FROM source_map)"
                      ).fetchone()[0]
    return {"how": how, "sources": pairs, "pairs": int(n), "same_id": int(same),
            "run_only": int(n_a) - int(n), "base_only": int(n_b) - int(n)}


_CHANGED = """
  FROM caption_pairs
  WHERE list_sort(coalesce(hallucinated, [])) IS DISTINCT FROM list_sort(coalesce(base_hallucinated, []))
"""


def changed_captions_count(run: Run, base: Run) -> int:
    """Matched caption pairs (:func:`caption_matching`) whose hallucinated list differs."""
    cur = _attach(run, base)
    return int(cur.execute(f"SELECT count(*) {_CHANGED}").fetchone()[0])


def changed_captions(run: Run, base: Run, *, page_number: int = 0, page_size: int = 50) -> pd.DataFrame:
    """One page of matched caption pairs whose hallucinated list changed, with what was
    added/removed and both captions."""
    if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
        raise ConfigError(f"page size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
    cur = _attach(run, base)
    return cur.execute(
        f"""SELECT source, image_id,
                   array_to_string(list_filter(coalesce(hallucinated, []),
                       lambda x: NOT list_contains(coalesce(base_hallucinated, []), x)), ', ') AS newly_hallucinated,
                   array_to_string(list_filter(coalesce(base_hallucinated, []),
                       lambda x: NOT list_contains(coalesce(hallucinated, []), x)), ', ') AS no_longer_hallucinated,
                   base_chair_i, chair_i, caption, base_caption, caption_id, base_caption_id
            {_CHANGED} ORDER BY source, {_IMAGE_ORDER}, k LIMIT ? OFFSET ?""",
        [int(page_size), int(page_number) * int(page_size)]).df()
