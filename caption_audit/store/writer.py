"""Writing a run folder: Parquet tables with fixed schemas, written batch by batch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from caption_audit.store.layout import SCHEMA_VERSION, table_file

__all__ = ["SCHEMAS", "SCHEMA_VERSION", "TableWriter", "write_json", "write_table"]

_STR = pa.string()
_LIST = pa.list_(pa.string())
_BOX = pa.list_(pa.float64())

# where a mention / claim sits in its caption (caption_audit.quality.position.caption_positions)
_POSITION_FIELDS = [("char_frac", pa.float64()), ("decile", pa.int32()), ("sentence_idx", pa.int32()),
                    ("n_sentences", pa.int32())]

CAPTIONS_SCHEMA = pa.schema([
    ("caption_id", _STR), ("image_id", _STR), ("source", _STR), ("caption", _STR),
    ("status", _STR), ("origin", _STR), ("mentioned", _LIST), ("hallucinated", _LIST),
    ("covered", _LIST), ("gt_objects", _LIST), ("open_mentioned", _LIST),
    ("n_mentions", pa.int32()), ("n_hallucinated", pa.int32()), ("n_unverifiable", pa.int32()),
    ("n_all_mentions", pa.int32()), ("n_count_checked", pa.int32()), ("n_count_wrong", pa.int32()),
    ("n_words", pa.int32()), ("n_chars", pa.int32()), ("chair_i", pa.float64()),
    ("has_hallucination", pa.bool_()), ("coverage", pa.float64()), ("halluc_per_100w", pa.float64()),
    ("gt_available", pa.bool_()),
    ("n_claims", pa.int32()), ("n_contradicted", pa.int32()), ("claims_contradicted", _LIST),
    ("n_object_checked", pa.int32()), ("n_object_wrong", pa.int32()),
    ("n_open_object_checked", pa.int32()), ("n_open_object_wrong", pa.int32()),
    ("n_open_object_unsupported", pa.int32()), ("n_open_object", pa.int32()),
    ("n_colour_checked", pa.int32()), ("n_colour_wrong", pa.int32()),
    ("n_identity_checked", pa.int32()), ("n_identity_wrong", pa.int32()),
    # quality (issue #12, docs/quality.md): per-caption checks from the batch scorer ...
    ("quality_issues", _LIST), ("q_repetition", pa.bool_()), ("q_truncated", pa.bool_()),
    ("q_garbage", pa.bool_()), ("q_non_english", pa.bool_()), ("q_empty", pa.bool_()),
    ("degenerate", pa.bool_()), ("repeated_share", pa.float64()), ("longest_repeat", pa.int32()),
    # ... and corpus checks, filled after the merge (caption_audit.quality.run)
    ("dup_group_size", pa.int32()), ("dup_images", pa.int32()), ("near_dup_of", _STR),
    ("near_dup_images", pa.int32()), ("boilerplate_share", pa.float64()), ("q_duplicate", pa.bool_()),
    ("q_near_duplicate", pa.bool_()), ("q_boilerplate", pa.bool_()),
])
MENTIONS_SCHEMA = pa.schema([
    ("caption_id", _STR), ("image_id", _STR), ("source", _STR), ("idx", pa.int32()),
    ("start", pa.int32()), ("end", pa.int32()), ("text", _STR), ("lemma", _STR),
    ("canonical", _STR), ("vocab", _STR), ("count", pa.int32()), ("negated", pa.bool_()),
    ("hedged", pa.bool_()), ("nonvisual", pa.bool_()), ("verdict", _STR), ("reason", _STR),
    ("evidence", _STR), ("score", pa.float64()), ("box", _BOX), ("count_verdict", _STR),
    ("count_stated", _STR), ("count_true", pa.int32()), *_POSITION_FIELDS,
])
CLAIMS_SCHEMA = pa.schema([
    ("caption_id", _STR), ("image_id", _STR), ("source", _STR), ("idx", pa.int32()),
    ("kind", _STR), ("start", pa.int32()), ("end", pa.int32()), ("text", _STR),
    ("subject", _STR), ("value", _STR), ("hedged", pa.bool_()), ("mention_idx", pa.int32()),
    ("verdict", _STR), ("resolver", _STR), ("evidence", _STR), ("confidence", pa.float64()), *_POSITION_FIELDS,
])
OBJECTS_SCHEMA = pa.schema([
    ("image_id", _STR), ("category", _STR), ("label", _STR), ("bbox", _BOX),
    ("normalized", pa.bool_()), ("origin", _STR), ("score", pa.float64()),
])
IMAGES_SCHEMA = pa.schema([
    ("image_id", _STR), ("file_name", _STR), ("width", pa.int32()), ("height", pa.int32()),
    ("gt_available", pa.bool_()),
])
CLASSES_SCHEMA = pa.schema([
    ("source", _STR), ("canonical", _STR), ("n_mentions", pa.int64()), ("n_hallucinated", pa.int64()),
    ("n_gt_images", pa.int64()), ("n_covered", pa.int64()), ("n_gt_captions", pa.int64()),
    ("hallucination_rate", pa.float64()), ("coverage", pa.float64()),
])
SCHEMAS = {
    "captions": CAPTIONS_SCHEMA,
    "mentions": MENTIONS_SCHEMA,
    "claims": CLAIMS_SCHEMA,
    "objects": OBJECTS_SCHEMA,
    "images": IMAGES_SCHEMA,
    "classes": CLASSES_SCHEMA,
}


class TableWriter:
    """Append column batches to ``<dir>/<name>.parquet`` (written to a temp name, then renamed)."""

    def __init__(self, directory: Path, name: str):
        self.schema = SCHEMAS[name]
        self.final = table_file(directory, name)
        self.tmp = directory / f".{name}.parquet.tmp"
        self._writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        self.rows = 0

    def write(self, columns: dict[str, list[Any]]) -> None:
        if not columns or not next(iter(columns.values()), None):
            return
        table = pa.Table.from_pydict(columns, schema=self.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        os.replace(self.tmp, self.final)


def write_table(directory: Path, name: str, columns: dict[str, list[Any]]) -> None:
    """Write a whole table at once (an empty table keeps its schema)."""
    w = TableWriter(directory, name)
    if columns and len(next(iter(columns.values()))):
        w.write(columns)
    else:
        w._writer.write_table(SCHEMAS[name].empty_table())
    w.close()


def write_arrow_table(directory: Path, name: str, table: pa.Table) -> None:
    """Write a whole table given as Arrow (``table.schema`` must be the table's schema)."""
    w = TableWriter(directory, name)
    w._writer.write_table(table)
    w.close()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic JSON write."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, set):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")
