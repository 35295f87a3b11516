"""Numbered result shards and the manifest that makes a run resumable.

``<run>/.parts/`` holds ``captions-00012.arrow`` / ``mentions-00012.arrow`` /
``claims-00012.arrow`` per batch (Arrow IPC files, :mod:`caption_audit.store.shardfile`), ``batch-00012.sha256`` (JSON: the sha256 of each shard) and
``manifest.json`` with the run's fingerprint. Shards are written to temp names and renamed; the
checksum file is written before the captions shard's rename, so a batch is done when its captions
shard exists and all its shards match their checksums. On resume a batch whose shards are missing, truncated, corrupted or empty
is redone. A run killed with SIGKILL loses at most the batches in flight.
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

from caption_audit.store.layout import table_file
from caption_audit.store.shardfile import SUFFIX, read_shard, write_shard
from caption_audit.store.writer import SCHEMAS

# the tables a batch writes; the captions shard is written last (the batch's commit point)
SHARD_TABLES = ("mentions", "claims", "captions")


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
            try:
                old = json.loads(manifest.read_text())
            except (OSError, ValueError):  # missing or damaged: start over
                old = {}
            if not resume or not isinstance(old, dict) or old.get("fingerprint") != self.fingerprint:
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / ".manifest.json.tmp"
        tmp.write_text(json.dumps({"fingerprint": self.fingerprint}))
        os.replace(tmp, manifest)
        return self.done()

    def shard(self, name: str, batch_id: int) -> Path:
        return self.dir / f"{name}-{batch_id:05d}{SUFFIX}"

    def _sums(self, batch_id: int) -> Path:
        return self.dir / f"batch-{batch_id:05d}.sha256"

    def done(self) -> set[int]:
        """Batch ids whose shards exist and match their checksums; the shards of other batches
        (killed mid-write, truncated, corrupted) are removed so the batch is redone."""
        out = set()
        for p in self.dir.glob(f"captions-*{SUFFIX}"):
            try:
                k = int(p.stem.split("-")[1])
            except (IndexError, ValueError):
                continue
            if self.verify(k):
                out.add(k)
            else:
                for name in SHARD_TABLES:
                    self.shard(name, k).unlink(missing_ok=True)
                self._sums(k).unlink(missing_ok=True)
        return out

    def verify(self, batch_id: int) -> bool:
        """Every shard of ``batch_id`` exists and matches the recorded sha256."""
        try:
            sums = json.loads(self._sums(batch_id).read_text())
            return all(sums.get(name) == sha256_file(self.shard(name, batch_id)) for name in SHARD_TABLES)
        except (OSError, ValueError, AttributeError):
            return False

    def write(self, batch_id: int, captions: dict[str, list], mentions: dict[str, list],
              claims: dict[str, list] | None = None) -> None:
        """Write one batch's shards: mentions and claims, then the checksums, then the captions
        shard's rename (the captions shard is the batch's commit point)."""
        sums = {}
        tmps = {}
        for name, cols in (("mentions", mentions), ("claims", claims or {}), ("captions", captions)):
            schema = SCHEMAS[name]
            table = pa.Table.from_pydict(cols, schema=schema) if cols else schema.empty_table()
            final = self.shard(name, batch_id)
            tmp = tmps[name] = final.with_name(f".{final.name}.tmp")
            write_shard(tmp, table)
            sums[name] = sha256_file(tmp)
            if name != "captions":
                os.replace(tmp, final)
        sums_path = self._sums(batch_id)
        sums_tmp = sums_path.with_name(f".{sums_path.name}.tmp")
        sums_tmp.write_text(json.dumps(sums))
        os.replace(sums_tmp, sums_path)
        os.replace(tmps["captions"], self.shard("captions", batch_id))

    def parts(self, name: str) -> list[Path]:
        """The shards of table ``name``, in batch order."""
        return sorted(self.dir.glob(f"{name}-*{SUFFIX}"))

    def merge(self, name: str) -> int:
        """Concatenate the shards of ``name`` in batch order into ``<run>/<name>.parquet``."""
        schema = SCHEMAS[name]
        final = table_file(self.run_dir, name)
        tmp = self.run_dir / f".{name}.parquet.tmp"
        rows = 0
        with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
            for p in self.parts(name):
                t = read_shard(p)
                if not t.schema.equals(schema):
                    t = t.cast(schema)
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


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 16 MB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()
