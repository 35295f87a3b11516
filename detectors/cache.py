"""Content-addressed detection cache: one small JSON file per (image content, detector setup).

Key = sha256(image bytes) + backend name + model id + revision + prompt-set hash + the
detector's output-relevant options (thresholds, ...). Batch size, device, worker count and
file paths are deliberately *not* in the key: the same image bytes give the same detections
wherever the file lives and however the run was batched.

Layout: ``<root>/<setup hash>/<image sha[:2]>/<image sha>-<prompt hash>.json``. Each file is
written to a temporary name and moved into place with ``os.replace``, so a killed run never
leaves a half-written entry; readers only ever see complete files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.types import Detections

CACHE_VERSION = 2  # 2: Detections carry metadata["near_miss"]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/caption-audit/detections`` (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "caption-audit" / "detections"


def image_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def setup_hash(detector_name: str, model_id: str, revision: str, fields: dict[str, Any]) -> str:
    """Hash of everything about the detector that changes its output (not batch size/device)."""
    blob = json.dumps(
        {"v": CACHE_VERSION, "backend": detector_name, "model_id": model_id,
         "revision": revision, "fields": fields},
        sort_keys=True, default=str,
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class DetectionCache:
    """A directory of cached :class:`Detections`. Picklable (it is only a path).

    Args:
        root: cache directory (default :func:`default_cache_dir`).
        read_only: never write (e.g. a shared team cache).
    """

    root: Path
    read_only: bool = False

    @classmethod
    def at(cls, root: str | Path | None = None, *, read_only: bool = False) -> DetectionCache:
        return cls(Path(root).expanduser() if root else default_cache_dir(), read_only)

    def path_for(self, setup: str, image_sha: str, prompts_hash: str) -> Path:
        return self.root / setup / image_sha[:2] / f"{image_sha}-{prompts_hash}.json"

    def get(self, setup: str, image_sha: str, prompts_hash: str) -> Detections | None:
        """The cached detections, or ``None`` (a missing or unreadable entry is a miss)."""
        path = self.path_for(setup, image_sha, prompts_hash)
        try:
            data = json.loads(path.read_bytes())
            return Detections.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, setup: str, image_sha: str, prompts_hash: str, detections: Detections) -> Path | None:
        """Write atomically (tmp file + ``os.replace``); returns the path, or None if read-only."""
        if self.read_only:
            return None
        path = self.path_for(setup, image_sha, prompts_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(detections.to_dict(), separators=(",", ":")).encode())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    # -- file-identity memo: (path, size, mtime) -> image sha256, so a rerun need not read images
    @property
    def memo_path(self) -> Path:
        return self.root / "file-hashes.jsonl"

    def load_memo(self) -> dict[tuple[str, int, int], str]:
        """Known image hashes by file identity (an append-only JSON-lines file; bad lines skipped)."""
        memo: dict[tuple[str, int, int], str] = {}
        try:
            with open(self.memo_path, "rb") as fh:
                for line in fh:
                    try:
                        r = json.loads(line)
                        memo[(r["p"], int(r["s"]), int(r["m"]))] = str(r["h"])
                    except (ValueError, KeyError, TypeError):
                        continue
        except OSError:
            pass
        return memo

    def remember(self, entries: list[tuple[str, int, int, str]]) -> None:
        """Append ``(path, size, mtime_ns, sha)`` entries (one small write per line: safe to share)."""
        if self.read_only or not entries:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.memo_path, "ab") as fh:
            for p, size, mtime, sha in entries:
                fh.write(json.dumps({"p": p, "s": size, "m": mtime, "h": sha}).encode() + b"\n")

    def count(self, setup: str | None = None) -> int:
        """Number of complete entries (under one setup, or all)."""
        base = self.root / setup if setup else self.root
        if not base.is_dir():
            return 0
        return sum(1 for p in base.rglob("*.json") if not p.name.startswith(".tmp-"))
