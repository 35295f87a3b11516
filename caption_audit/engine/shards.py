"""Numbered result shards and the manifest that makes a run resumable.

``<run>/.parts/`` holds ``captions-00012.parquet`` / ``mentions-00012.parquet`` per batch and
``manifest.json`` with the run's fingerprint. A shard is written to a temp name and renamed, so
a shard that exists is complete. A run killed with SIGKILL loses at most the batches in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from caption_audit.store.writer import SCHEMAS


class ShardStore:
    """Write, find and merge the numbered shards of one run folder."""

    def __init__(self, run_dir: Path, fingerprint: str):
        self.run_dir = run_dir
        self.dir = run_dir / ".parts"
        self.fingerprint = fingerprint

    def open(self, *, resume: bool) -> set[int]:
        """Prepare the shard folder; returns the batch ids already done (when resuming)."""
        manifest = self.dir / "manifest.json"
        if self.dir.exists():
            old = json.loads(manifest.read_text()) if manifest.exists() else {}
            if not resume or old.get("fingerprint") != self.fingerprint:
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"fingerprint": self.fingerprint}))
        return self.done()

    def done(self) -> set[int]:
        out = set()
        for p in self.dir.glob("captions-*.parquet"):
            k = int(p.stem.split("-")[1])
            if (self.dir / f"mentions-{k:05d}.parquet").exists():
                out.add(k)
        return out

    def write(self, batch_id: int, captions: dict[str, list], mentions: dict[str, list]) -> None:
        # mentions first: a batch counts as done once its captions shard exists
        for name, cols in (("mentions", mentions), ("captions", captions)):
            schema = SCHEMAS[name]
            table = pa.Table.from_pydict(cols, schema=schema) if cols else schema.empty_table()
            final = self.dir / f"{name}-{batch_id:05d}.parquet"
            tmp = final.with_name(f".{final.name}.tmp")
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, final)

    def merge(self, name: str) -> int:
        """Concatenate the shards of ``name`` in batch order into ``<run>/<name>.parquet``."""
        schema = SCHEMAS[name]
        final = self.run_dir / f"{name}.parquet"
        tmp = self.run_dir / f".{name}.parquet.tmp"
        rows = 0
        with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
            for p in sorted(self.dir.glob(f"{name}-*.parquet")):
                t = pq.read_table(p, schema=schema)
                if t.num_rows:
                    w.write_table(t)
                    rows += t.num_rows
        os.replace(tmp, final)
        return rows

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def fingerprint(parts: dict[str, Any]) -> str:
    """Stable hash of everything that changes a run's rows."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_identity(path: str | Path) -> dict[str, Any]:
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
