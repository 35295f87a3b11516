"""Hugging Face ``datasets`` input, without the ``datasets`` library.

Reads:

* a ``save_to_disk`` folder: ``state.json`` (``_data_files``: the ``data-*.arrow`` files, Arrow
  IPC *stream* format) + ``dataset_info.json``;
* a ``DatasetDict`` folder: ``dataset_dict.json`` (``{"splits": [...]}``) and one such folder per
  split; ``split=`` picks one (default: the only split, else ``train``);
* the Parquet files of a Hub dataset as downloaded: one ``.parquet`` file, or a folder of them
  (``data/train-00000-of-00001.parquet``; ``split=`` filters by the file-name prefix).

Columns: ``columns="image=img_path,caption=text"`` maps the roles ``image``, ``caption`` and
``id`` onto column names (defaults: the first of ``image_id``/``image``/``img``/``image_path``/
``file_name``; ``caption``/``text``/``conversations``; no id column). An ``image`` column of dicts
(``{"path": ..., "bytes": ...}``, the ``Image`` feature) gives the path's file name as image id.
A ``conversations`` column (``[{"from": "gpt", "value": ...}]``) gives one caption per gpt turn.
Record batches are streamed; only the mapped columns are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from caption_audit.errors import ConfigError, InputError
from caption_audit.ingest._io import PathLike, image_id_or_error, sink_captions, text_or_error
from caption_audit.ingest.base import LoadResult
from caption_audit.types import Caption

IMAGE_COLUMNS = ("image_id", "image", "img", "image_path", "file_name")
CAPTION_COLUMNS = ("caption", "text", "conversations")
ROLES = ("image", "caption", "id")
MAX_JSON_BYTES = 1 << 20


def is_hf_folder(path: PathLike) -> bool:
    """A ``save_to_disk`` / ``DatasetDict`` folder, or a folder of Parquet files."""
    p = Path(path)
    return p.is_dir() and ((p / "state.json").is_file() or (p / "dataset_dict.json").is_file()
                           or any(p.glob("*.parquet")) or any(p.glob("data/*.parquet")))


def parse_columns(columns: str | dict[str, str] | None) -> dict[str, str]:
    """``"image=img_path,caption=text"`` (or a dict) -> ``{"image": "img_path", "caption": "text"}``.

    Raises:
        ConfigError: a role other than image/caption/id, or an item without ``=``.
    """
    if not columns:
        return {}
    items = columns.items() if isinstance(columns, dict) else (
        tuple(part.split("=", 1)) if "=" in part else (part, None) for part in str(columns).split(",") if part.strip())
    out: dict[str, str] = {}
    for role, col in items:
        role = str(role).strip()
        if role not in ROLES or not col:
            raise ConfigError(f"columns: expected ROLE=COLUMN with ROLE one of {', '.join(ROLES)}, got "
                              f"'{role}={col or ''}'")
        out[role] = str(col).strip()
    return out


def _read_json(path: Path) -> Any:
    with open(path, "rb") as f:
        data = f.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise InputError(str(path), "larger than 1 MiB; not a datasets metadata file")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"invalid JSON: {exc}") from None


def _split_folder(root: Path, split: str | None) -> tuple[Path, str | None]:
    meta = _read_json(root / "dataset_dict.json")
    splits = meta.get("splits") if isinstance(meta, dict) else None
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
        raise InputError(str(root / "dataset_dict.json"), "expected {\"splits\": [names]}", field="splits")
    if split is None:
        split = splits[0] if len(splits) == 1 else "train" if "train" in splits else None
        if split is None:
            raise ConfigError(f"{root}: several splits ({', '.join(splits)}); choose one with split=")
    if split not in splits:
        raise ConfigError(f"{root}: no split '{split}'. Splits: {', '.join(splits)}.")
    folder = root / split
    if Path(split).name != split or not folder.is_dir():
        raise InputError(str(root), f"split folder '{split}' is missing")
    return folder, split


def _files(path: Path, split: str | None) -> list[tuple[Path, str]]:
    """``[(file, "arrow" | "parquet")]`` to read, in order."""
    if path.is_file():
        kind = "parquet" if path.name.endswith(".parquet") else "arrow"
        return [(path, kind)]
    if (path / "dataset_dict.json").is_file():
        path, split = _split_folder(path, split)
    if (path / "state.json").is_file():
        state = _read_json(path / "state.json")
        files = state.get("_data_files") if isinstance(state, dict) else None
        if not isinstance(files, list) or not files:
            raise InputError(str(path / "state.json"), "no '_data_files' list", field="_data_files")
        out = []
        for i, f in enumerate(files):
            name = f.get("filename") if isinstance(f, dict) else None
            if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
                raise InputError(str(path / "state.json"), f"_data_files[{i}]: not a file name in this folder",
                                 field="_data_files")
            if not (path / name).is_file():
                raise InputError(str(path / name), "listed in state.json but missing")
            out.append((path / name, "arrow"))
        return out
    parquet = sorted(path.glob("*.parquet")) or sorted(path.glob("data/*.parquet"))
    if split is not None:
        parquet = [p for p in parquet if p.name.startswith(f"{split}-") or p.name.startswith(f"{split}.")]
    if not parquet:
        raise InputError(str(path), "no state.json, dataset_dict.json or Parquet files: not a datasets folder")
    return [(p, "parquet") for p in parquet]


def _batches(path: Path, kind: str, wanted: list[str] | None) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    try:
        if kind == "parquet":
            pf = pq.ParquetFile(path)
            cols = [c for c in (wanted or []) if c in pf.schema_arrow.names] or None
            yield from pf.iter_batches(batch_size=1024, columns=cols)
            return
        with pa.memory_map(str(path), "r") as source:
            try:
                reader = ipc.open_stream(source)
            except pa.ArrowInvalid:
                source.seek(0)
                reader = ipc.open_file(source)
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i)
                return
            yield from reader
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), f"not readable as Arrow/Parquet: {exc}") from None


def _image_value(v: Any) -> Any:
    if isinstance(v, dict):
        p = v.get("path")
        return Path(str(p).replace("\\", "/")).name if isinstance(p, str) and p else None
    return v


def _texts(v: Any) -> list[Any]:
    if isinstance(v, list):
        if v and all(isinstance(t, dict) for t in v):
            return [t.get("value") for t in v if str(t.get("from", "")).lower() in ("gpt", "assistant")] or [None]
        return v or [None]
    return [v]


def iter_hf_dataset(
    path: PathLike,
    *,
    source: str | None = None,
    warnings: list[str] | None = None,
    name: str | None = None,
    split: str | None = None,
    columns: str | dict[str, str] | None = None,
) -> Iterator[Caption]:
    """Stream captions from a ``datasets`` folder or its Parquet/Arrow files (module docstring).

    ``source``: the argument, else ``name``, else the folder (file stem) name. ``caption_id``: the
    ``id`` column, else ``<prefix>:<row>`` (``#k`` per extra gpt turn), prefix ``name``/``source``/folder.

    Raises:
        InputError: missing metadata or data files, a missing mapped column.
        ConfigError: a bad ``columns`` mapping or an unknown ``split``.
    """
    p = Path(path)
    mapping = parse_columns(columns)
    default = name or source or (p.stem if p.is_file() else p.resolve().name)
    src = source or name or default
    files = _files(p, split)

    def gen() -> Iterator[Caption]:
        row = 0
        img_col = cap_col = None
        for f, kind in files:
            for batch in _batches(f, kind, [c for c in (*mapping.values(), *IMAGE_COLUMNS, *CAPTION_COLUMNS)]):
                names = batch.schema.names
                if img_col is None:
                    img_col = mapping.get("image") or next((c for c in IMAGE_COLUMNS if c in names), None)
                    cap_col = mapping.get("caption") or next((c for c in CAPTION_COLUMNS if c in names), None)
                    for role, col in (("image", img_col), ("caption", cap_col)):
                        if col is None or col not in names:
                            raise InputError(str(f), f"no {role} column{f' {col!r}' if col else ''}; columns are: "
                                             f"{', '.join(names)} (map one with columns={role}=NAME)", field=role)
                id_col = mapping.get("id")
                imgs = batch.column(img_col).to_pylist()
                caps = batch.column(cap_col).to_pylist()
                ids = batch.column(id_col).to_pylist() if id_col and id_col in names else [None] * len(imgs)
                for img, cap, rid in zip(imgs, caps, ids, strict=True):
                    origin = f"{f}:row {row}"
                    image_id, ierr = image_id_or_error(_image_value(img), img_col)
                    image_file = _image_value(img) if isinstance(_image_value(img), str) else None
                    base = str(rid) if rid is not None else f"{default}:{row}"
                    for k, txt in enumerate(_texts(cap)):
                        text, terr = text_or_error(txt)
                        yield Caption(base if k == 0 else f"{base}#{k}", image_id, src, text, origin,
                                      ierr or terr, image_file)
                    row += 1

    yield from sink_captions(gen(), p, warnings)


def load_hf_dataset(
    path: PathLike,
    *,
    source: str | None = None,
    name: str | None = None,
    split: str | None = None,
    columns: str | dict[str, str] | None = None,
) -> LoadResult:
    """Load a ``datasets`` folder's captions into a :class:`LoadResult` (see :func:`iter_hf_dataset`)."""
    result = LoadResult(format="hf_dataset", path=str(path))
    result.captions = list(iter_hf_dataset(path, source=source, warnings=result.warnings, name=name,
                                           split=split, columns=columns))
    return result
