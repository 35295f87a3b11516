"""Content-addressed cache of parsed ground-truth object tables (Arrow IPC files).

Parsing CHAIR's ``imid_to_objects`` (123,287 images, ~400k names, 5.5 MB of JSON) costs about
a second on every run; reading the same columns back from an Arrow file costs a small fraction.

Key = the file's content hash (:func:`caption_audit.ingest.identity.content_hash`, blake2b of its
bytes: a rename or a touch keeps the entry, any edit misses it) + :data:`CACHE_VERSION` + the
loader name + the loader options that change the result (``bbox_format``, ``origin``). Only
name-only ``{image_id: [names]}`` tables are cached (the column form: :class:`NamedObjects` +
:class:`ImageIds`), and only files of at least :data:`MIN_BYTES` (smaller ones parse faster
than they hash and read back).

Where: ``$CAPTION_AUDIT_CACHE/ingest`` (as the embedding cache), else
``$XDG_CACHE_HOME/caption-audit/ingest`` (as the detection cache), else
``~/.cache/caption-audit/ingest``. ``CAPTION_AUDIT_NO_CACHE=1`` turns it off (nothing is read or
written). Entries are written to a temporary name in the cache folder and moved into place with
``os.replace``; a missing, damaged or mismatching entry is a miss (the JSON is parsed as before and
the entry rewritten); a folder that cannot be written is silently skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from itertools import chain, repeat
from pathlib import Path
from typing import Any

from caption_audit.types import ImageIds, NamedObjects

CACHE_VERSION = 1
MIN_BYTES = 1 << 20
DISABLE_ENV = "CAPTION_AUDIT_NO_CACHE"
_META = b"caption_audit.ingest_cache"


def cache_dir() -> Path | None:
    """The ingest cache folder, or ``None`` when ``CAPTION_AUDIT_NO_CACHE`` is set (not ``0``)."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return None
    root = os.environ.get("CAPTION_AUDIT_CACHE")
    if root:
        return Path(root).expanduser() / "ingest"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "caption-audit" / "ingest"


class ObjectTableCache:
    """One cache entry for one (file content, loader options): :meth:`get`, then :meth:`put` on a miss.

    Args:
        path: the ground-truth file.
        loader: the loader's name (part of the key).
        options: the loader options that change its result (part of the key).
        root: cache folder (default :func:`cache_dir`); ``None`` there disables the cache.
    """

    def __init__(self, path: str | Path, loader: str, options: dict[str, Any], root: Path | None = None) -> None:
        self.entry: Path | None = None
        self.key: str = ""
        root = root if root is not None else cache_dir()
        if root is None:
            return
        try:
            p = Path(path)
            if not p.is_file() or p.stat().st_size < MIN_BYTES:
                return
            from caption_audit.ingest.identity import content_hash

            blob = json.dumps({"v": CACHE_VERSION, "loader": loader, "options": options,
                               "content": content_hash(p)}, sort_keys=True)
        except OSError:
            return
        self.key = hashlib.sha256(blob.encode()).hexdigest()[:32]
        self.entry = root / f"{loader}-{self.key}.arrow"

    def get(self, origin: str) -> tuple[NamedObjects, ImageIds, list[str]] | None:
        """The cached ``(objects, images, warnings)``, or ``None`` on a miss or any damage."""
        if self.entry is None:
            return None
        try:
            import pyarrow as pa
            import pyarrow.compute as pc

            with pa.memory_map(str(self.entry), "r") as source:
                table = pa.ipc.open_file(source).read_all()
            meta = json.loads((table.schema.metadata or {})[_META])
            if meta["key"] != self.key or meta["v"] != CACHE_VERSION:
                return None
            warnings = [str(w) for w in meta["warnings"]]
            image_col = table.column("image_id").combine_chunks()
            labels_col = table.column("labels").combine_chunks()
            if image_col.null_count or labels_col.null_count or len(image_col) != meta["images"]:
                return None
            flat = labels_col.flatten()
            if flat.null_count or len(flat) != meta["objects"]:
                return None
            images = ImageIds()
            images.image_ids = ids = image_col.to_pylist()
            objects = NamedObjects(origin)
            # few distinct names (CHAIR: 80): one str per name, indexed, is ~4x faster than one per object
            coded = flat.dictionary_encode()
            vocab = coded.dictionary.to_pylist()
            objects.labels = list(map(vocab.__getitem__, coded.indices.to_pylist()))
            counts = pc.list_value_length(labels_col).to_pylist()
            objects.image_ids = list(chain.from_iterable(map(repeat, ids, counts)))
            return objects, images, warnings
        except Exception:  # noqa: BLE001  # any damage is a miss: the JSON is parsed instead
            return None

    def put(self, objects: NamedObjects, images: ImageIds, warnings: list[str]) -> Path | None:
        """Write the entry atomically; returns its path, or ``None`` (disabled, not the column form
        grouped by image, or the folder cannot be written)."""
        if self.entry is None:
            return None
        columns = _grouped(objects, images)
        if columns is None:
            return None
        import pyarrow as pa

        meta = {"v": CACHE_VERSION, "key": self.key, "warnings": list(warnings),
                "images": len(images), "objects": len(objects)}
        table = pa.table({"image_id": pa.array(images.image_ids, pa.string()),
                          "labels": pa.array(columns, pa.list_(pa.string()))},
                         metadata={_META: json.dumps(meta).encode()})
        tmp = None
        try:
            self.entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.entry.parent, prefix=".tmp-", suffix=".arrow")
            with os.fdopen(fd, "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
                writer.write_table(table)
            os.replace(tmp, self.entry)
            return self.entry
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return None


def _grouped(objects: NamedObjects, images: ImageIds) -> list[list[str]] | None:
    """Each image's labels, in order, when ``objects`` lists every image's names contiguously in
    the order of ``images`` (what the mapping loader builds); else ``None`` (not cacheable)."""
    out: list[list[str]] = []
    ids, labels = objects.image_ids, objects.labels
    i, n = 0, len(labels)
    for image_id in images.image_ids:
        j = i
        while j < n and ids[j] == image_id:
            j += 1
        out.append(labels[i:j])
        i = j
    return out if i == n else None
