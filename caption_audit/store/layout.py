"""Names of the files in a run folder: the one place that knows them (docs/run-folder.md).

Every other module (pipeline, scoring, gate, compare, dashboard, evaluate) asks the store for
a path, a table or a DuckDB view instead of building ``<dir>/captions.parquet`` itself.
"""

from __future__ import annotations

from pathlib import Path

#: Version of the run-folder layout, written into summary.json (``store.writer``) and checked
#: on read (``caption_audit.summary_schema``). Change it whenever a table's columns change
#: (tests/test_store.py pins it to a fingerprint of ``store.writer.SCHEMAS``).
#: 1: the first documented layout; 2: claims.parquet and the per-caption claim columns;
#: 3: the caption quality columns (issue #12); 4: the position columns of mentions and claims
#: (``char_frac``, ``decile``, ``sentence_idx``, ``n_sentences``; issue #15).
SCHEMA_VERSION = 4

TABLES: tuple[str, ...] = ("captions", "mentions", "claims", "objects", "images", "classes")
SUMMARY_FILE = "summary.json"


def table_file(directory: str | Path, name: str) -> Path:
    """``<directory>/<name>.parquet`` for one of :data:`TABLES`.

    Raises:
        ValueError: ``name`` is not a run-folder table.
    """
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
    return Path(directory) / f"{name}.parquet"


def summary_file(directory: str | Path) -> Path:
    """``<directory>/summary.json``."""
    return Path(directory) / SUMMARY_FILE


def sql_literal(path: str | Path) -> str:
    """A path as a quoted SQL string literal (single quotes doubled)."""
    return "'" + str(path).replace("'", "''") + "'"
