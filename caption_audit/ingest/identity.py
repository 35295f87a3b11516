"""What identifies an input file: its content, not its name or mtime.

Used by the run's resume fingerprint (:func:`caption_audit.engine.shards.fingerprint`) and by the
ingest cache (:mod:`caption_audit.ingest.cache`), so both key on the same hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def content_hash(path: str | Path) -> str:
    """blake2b of a file's bytes, streamed in 16 MB chunks (about 1 s per GB)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def file_identity(path: str | Path) -> dict[str, Any]:
    """What identifies an input for resuming: its path, size and content hash (an edit that keeps
    the size and restores the mtime still changes the hash)."""
    p = Path(path)
    if p.is_dir():  # a dataset folder (e.g. a Hugging Face save_to_disk): every file in it
        h = hashlib.blake2b(digest_size=16)
        size = 0
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            st = f.stat().st_size
            size += st
            h.update(f"{f.relative_to(p).as_posix()}\0{st}\0{content_hash(f)}\n".encode())
        return {"path": str(p.resolve()), "size": size, "blake2b": h.hexdigest()}
    return {"path": str(p.resolve()), "size": p.stat().st_size, "blake2b": content_hash(p)}
