"""Reading a run folder (see docs/run-folder.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from caption_audit.errors import InputError
from caption_audit.store.lifecycle import IN_PROGRESS_MESSAGE, in_progress

TABLES = ("captions", "mentions", "claims", "objects", "images", "classes")


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
    """A finished run: ``summary`` plus its Parquet tables as pandas DataFrames.

    Example:
        >>> run = RunFolder("runs/demo")          # doctest: +SKIP
        >>> run.captions(columns=["source", "chair_i"]).groupby("source").mean()  # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.summary = read_summary(self.path)

    def table_path(self, name: str) -> Path:
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        return self.path / f"{name}.parquet"

    def _read(self, name: str, columns: list[str] | None = None):
        import pandas as pd

        p = self.table_path(name)
        if not p.exists():
            raise InputError(str(p), "missing from the run folder")
        return pd.read_parquet(p, columns=columns)

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

    @property
    def sources(self) -> list[str]:
        return list(self.summary.get("sources", {}))

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, sources={self.sources})"
