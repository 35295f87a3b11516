"""Reading a run folder (see docs/run-folder.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from caption_audit.errors import InputError
from caption_audit.store.layout import TABLES, sql_literal, summary_file, table_file
from caption_audit.store.lifecycle import IN_PROGRESS_MESSAGE, in_progress

__all__ = ["TABLES", "RunFolder", "read_summary", "summary_file", "table_file"]


def read_summary(path: str | Path) -> dict[str, Any]:
    """``summary.json`` of a finished run folder, with a clear error when it is not one.

    Raises:
        InputError: no folder, no summary.json, invalid JSON, or a run still in progress (or
            killed before its final commit, see :mod:`caption_audit.store.lifecycle`).
    """
    p = Path(path)
    f = p / "summary.json"
    if not p.is_dir():
        raise InputError(str(p), "not a run folder (no such directory)")
    if in_progress(p):
        raise InputError(str(p), IN_PROGRESS_MESSAGE)
    if not f.is_file():
        raise InputError(str(p), "not a run folder (summary.json is missing); run `caption-audit run --out` first")
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(str(f), f"invalid JSON: {exc.msg}", line=exc.lineno) from None


class RunFolder:
    """A run folder opened for reading: ``summary`` plus typed access to its tables.

    The only reader of run folders: the gate, ``compare``, the dashboard and ``evaluate`` all
    go through it (pandas frames, or DuckDB views for SQL).

    Args:
        path: the folder written by ``caption-audit run --out``.
        summary: an already parsed and validated ``summary.json`` (skips reading it again).
        require_summary: when False, a folder without ``summary.json`` opens with an empty
            summary (the dashboard shows such folders); a malformed one is still an error.

    Example:
        >>> run = RunFolder("runs/demo")          # doctest: +SKIP
        >>> run.captions(columns=["source", "chair_i"]).groupby("source").mean()  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, *, summary: dict[str, Any] | None = None,
                 require_summary: bool = True):
        self.path = Path(path)
        if summary is not None:
            self.summary = summary
        elif require_summary or summary_file(self.path).is_file():
            self.summary = read_summary(self.path)
        else:
            self.summary = {}

    @property
    def schema_version(self) -> int | None:
        """``summary.json["schema_version"]`` (None for a folder without a summary)."""
        return self.summary.get("schema_version")

    def table_path(self, name: str) -> Path:
        """Path of one table (``ValueError`` for a name not in :data:`TABLES`)."""
        return table_file(self.path, name)

    def has(self, name: str) -> bool:
        """Whether the table's Parquet file is present."""
        return self.table_path(name).is_file()

    def present_tables(self) -> tuple[str, ...]:
        """The tables present in the folder, in :data:`TABLES` order."""
        return tuple(t for t in TABLES if self.has(t))

    def _read(self, name: str, columns: list[str] | None = None):
        import pandas as pd

        p = self.table_path(name)
        if not p.exists():
            raise InputError(str(p), "missing from the run folder")
        try:
            return pd.read_parquet(p, columns=columns)
        except Exception as exc:  # pyarrow raises several types for a corrupt file or a missing column
            raise InputError(str(p), f"cannot read Parquet: {exc}") from None

    def captions(self, columns: list[str] | None = None):
        return self._read("captions", columns)

    def mentions(self, columns: list[str] | None = None):
        return self._read("mentions", columns)

    def claims(self, columns: list[str] | None = None):
        return self._read("claims", columns)

    def objects(self, columns: list[str] | None = None):
        return self._read("objects", columns)

    def images(self, columns: list[str] | None = None):
        return self._read("images", columns)

    def classes(self, columns: list[str] | None = None):
        return self._read("classes", columns)

    def metric_captions(self):
        """``captions.parquet`` with every column the metric statistics need
        (:func:`caption_audit.scoring.aggregate.stat_table`), ``image_id`` as str.

        Folders written before ``n_all_mentions`` existed get it from ``mentions.parquet``
        (every mention, negated ones included: ``unverifiable_share``'s denominator).
        """
        df = self.captions()
        missing = [c for c in ("image_id", "source", "status") if c not in df.columns]
        if missing:
            raise InputError(str(self.table_path("captions")), f"missing columns {', '.join(missing)}",
                             field=missing[0])
        df["image_id"] = df["image_id"].astype(str)
        if "n_all_mentions" not in df.columns and self.has("mentions") and "caption_id" in df.columns:
            ids = self.mentions(columns=["caption_id"])["caption_id"]
            df["n_all_mentions"] = df["caption_id"].map(ids.value_counts()).fillna(0).astype(int)
        return df

    def sql_table(self, name: str) -> str:
        """A DuckDB table expression for one table: ``read_parquet('<path>')``."""
        return f"read_parquet({sql_literal(self.table_path(name))})"

    def connect(self, *, threads: int | None = None):
        """An in-memory DuckDB connection with one view per present table (named as the table)."""
        import duckdb

        con = duckdb.connect(":memory:")
        if threads:
            con.execute(f"SET threads TO {int(threads)}")
        for t in self.present_tables():
            con.execute(f"CREATE VIEW {t} AS SELECT * FROM {self.sql_table(t)}")
        return con

    @property
    def sources(self) -> list[str]:
        return list(self.summary.get("sources", {}))

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, sources={self.sources})"
