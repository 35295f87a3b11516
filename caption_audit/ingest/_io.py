"""Shared reading helpers for the loaders: opening, streaming records, bad-record captions.

Every reader yields ``(position, record, error)`` triples, where ``position`` is a 1-based line
number (JSONL, CSV, concatenated JSON) or a 0-based record index (JSON arrays, Parquet rows;
0-based so that ``jq '.[N]'`` finds it), ``record`` is the decoded value (``None`` when it could not
be decoded) and ``error`` is ``None`` or a message such as
``"invalid JSON at line 7: Expecting ',' delimiter"``.

A file that cannot be read at all raises :class:`~caption_audit.errors.InputError`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from caption_audit.errors import InputError
from caption_audit.ingest.ids import normalize_image_id
from caption_audit.types import Caption

PathLike = str | os.PathLike[str]

_WS = b" \t\r\n"
_BOM = codecs.BOM_UTF8


def plain_name(path: PathLike) -> str:
    """The file name without a trailing ``.gz`` (what format sniffing looks at)."""
    name = Path(path).name
    return name[:-3] if name.lower().endswith(".gz") else name


def stem(path: PathLike) -> str:
    """The file name without ``.gz`` and without its last extension (``greedy.jsonl`` -> ``greedy``)."""
    return Path(plain_name(path)).stem


def open_binary(path: PathLike) -> IO[bytes]:
    """Open ``path`` for binary reading (transparently gunzipping ``*.gz``).

    Raises:
        InputError: the file is missing, is a directory or cannot be opened.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(str(path), "file not found")
    if p.is_dir():
        raise InputError(str(path), "is a directory, expected a file")
    try:
        f: IO[bytes] = gzip.open(p, "rb") if p.name.lower().endswith(".gz") else open(p, "rb")  # type: ignore[assignment]  # noqa: SIM115
        if f.read(len(_BOM)) != _BOM:  # skip a UTF-8 byte-order mark
            f.seek(0)
        return f
    except (OSError, EOFError) as exc:
        raise InputError(str(path), f"cannot read file: {getattr(exc, 'strerror', None) or exc}") from exc


def head_bytes(path: PathLike, n: int = 1 << 16) -> bytes:
    """The first ``n`` bytes of the file, BOM removed."""
    with open_binary(path) as f:
        try:
            data = f.read(n)
        except (OSError, EOFError) as exc:
            raise InputError(str(path), f"cannot read file: {exc}") from exc
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def first_char(path: PathLike) -> str:
    """The first non-whitespace character of the file.

    Raises:
        InputError: the file is empty (or only whitespace) in its first 64 KiB.
    """
    data = head_bytes(path).lstrip(_WS)
    if not data:
        raise InputError(str(path), "file is empty")
    return data[:1].decode("latin-1")


def first_line_is_json_object(path: PathLike) -> bool:
    """Whether the first non-blank line (read up to 64 KiB) is a complete JSON object (JSONL)."""
    data = head_bytes(path).lstrip(_WS)
    if not data.startswith(b"{"):
        return False
    line = data.split(b"\n", 1)[0]
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, huge ints
        return False


def _short(msg: str) -> str:
    return str(msg).strip().splitlines()[0] if str(msg).strip() else "parse error"


def import_ijson() -> Any:
    """Import ijson, made safe against one crash of its C backend.

    ijson 3.6's ``yajl2_c`` backend crashes the interpreter (segmentation fault) on an integer
    literal longer than Python's int-conversion limit (4,300 digits): it does not check the
    ``ValueError`` of the conversion. One such number in a 1.5 GB file must not kill the run, so
    the limit is lifted (``sys.set_int_max_str_digits(0)``) while ijson is in use in this process.
    """
    import sys

    import ijson

    if hasattr(sys, "get_int_max_str_digits") and sys.get_int_max_str_digits():
        sys.set_int_max_str_digits(0)
    return ijson


def json_errors() -> tuple[type[BaseException], ...]:
    """What a JSON parser (json or ijson) raises on bad input: its own errors, ``ValueError``
    (which covers invalid UTF-8, lone ``\\u`` surrogate escapes and numbers too long to convert)
    and ``RecursionError`` (nesting too deep)."""
    ijson = import_ijson()
    return (ijson.JSONError, ValueError, RecursionError)


def describe_json_error(exc: BaseException) -> str:
    """A one-line reason for a JSON parse failure."""
    if isinstance(exc, UnicodeError):
        return f"invalid UTF-8 or a lone \\u surrogate escape ({_short(str(exc))})"
    if isinstance(exc, RecursionError):
        return "nesting too deep"
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    return _short(str(exc))


def type_name(value: object) -> str:
    """JSON-ish name of a value's type, for messages."""
    if value is None:
        return "null"
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), type(value).__name__)


# ----------------------------------------------------------------------------- readers


def iter_jsonl(path: PathLike) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line_no, record, error)`` for each non-blank line of a JSONL file."""
    with open_binary(path) as f:
        for n, raw in enumerate(f, start=1):
            if n == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield n, None, f"invalid UTF-8 at line {n}: {exc.reason}"
                continue
            try:
                yield n, json.loads(line), None
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge ints, deep nesting
                yield n, None, f"invalid JSON at line {n}: {describe_json_error(exc)}"


def iter_json_array(path: PathLike, what: str = "a JSON array of records") -> Iterator[tuple[int, Any]]:
    """Yield ``(index, record)`` for each item of a top-level JSON array, streaming with ijson.

    Raises:
        InputError: the top level is not an array, or the JSON breaks part-way (the message
            names the last good record).
    """
    ijson = import_ijson()
    c = first_char(path)
    if c != "[":
        got = "an object" if c == "{" else f"'{c}'"
        raise InputError(str(path), f"expected {what} at top level, got {got}")
    i = -1
    with open_binary(path) as f:
        try:
            for i, rec in enumerate(ijson.items(f, "item", use_float=True)):
                yield i, rec
        except json_errors() as exc:
            raise InputError(
                str(path), f"invalid JSON after record {i}: {describe_json_error(exc)}"
            ) from exc


def iter_json_prefix(path: PathLike, prefix: str) -> Iterator[Any]:
    """Stream the items at an ijson ``prefix`` (e.g. ``annotations.item``) of one JSON document."""
    ijson = import_ijson()
    with open_binary(path) as f:
        i = -1
        try:
            for rec in ijson.items(f, prefix, use_float=True):
                i += 1
                yield rec
        except json_errors() as exc:
            where = prefix.rsplit(".", 1)[0]
            raise InputError(
                str(path), f"invalid JSON in '{where}' after record {i}: {describe_json_error(exc)}"
            ) from exc


def iter_json_object_items(path: PathLike) -> Iterator[tuple[str, Any]]:
    """Stream ``(key, value)`` pairs of a top-level JSON object."""
    ijson = import_ijson()
    c = first_char(path)
    if c != "{":
        raise InputError(str(path), f"expected a JSON object at top level, got '{c}'")
    with open_binary(path) as f:
        try:
            yield from ijson.kvitems(f, "", use_float=True)
        except json_errors() as exc:
            raise InputError(str(path), f"invalid JSON: {describe_json_error(exc)}") from exc


def iter_json_stream(path: PathLike) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line_no, record, error)`` from concatenated (pretty-printed) JSON objects.

    Each object is expected to start with ``{`` at the start of a line, as ``json.dump(indent=4)``
    writes it one after the other. A broken object becomes one error and reading resumes at the
    next line that starts with ``{``. ``line_no`` is the line the object starts on.
    """
    decoder = json.JSONDecoder()

    def decode(seg: list[str], start: int) -> Iterator[tuple[int, Any, str | None]]:
        text = "".join(seg)
        pos, line = 0, start
        while True:
            stripped = len(text) - len(text[pos:].lstrip())
            line += text.count("\n", pos, stripped)
            pos = stripped
            if pos >= len(text):
                return
            try:
                obj, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                yield line, None, f"invalid JSON at line {exc.lineno + start - 1}: {exc.msg}"
                return
            except (ValueError, RecursionError) as exc:  # huge ints, deep nesting
                yield line, None, f"invalid JSON at line {line}: {describe_json_error(exc)}"
                return
            yield line, obj, None
            line += text.count("\n", pos, end)
            pos = end

    with open_binary(path) as fb:
        f = codecs.getreader("utf-8-sig")(fb, errors="replace")
        seg: list[str] = []
        seg_start = 1
        n = 0
        for n, line in enumerate(f, start=1):
            if line.startswith("{") and seg and "".join(seg).strip():
                yield from decode(seg, seg_start)
                seg = []
            if not seg:
                seg_start = n
            seg.append(line)
        if seg:
            yield from decode(seg, seg_start)


def iter_csv(path: PathLike) -> Iterator[tuple[int, dict[str, str], list[str]]]:
    """Yield ``(line_no, row, header)`` for a CSV (or ``.tsv``) file with a header row."""
    delimiter = "\t" if plain_name(path).lower().endswith(".tsv") else ","
    with open_binary(path) as fb:
        f = codecs.getreader("utf-8-sig")(fb)
        try:
            reader = csv.DictReader(f, delimiter=delimiter)
            header = list(reader.fieldnames or [])
            if not header:
                raise InputError(str(path), "file is empty (no header row)")
            prev = reader.line_num
            for row in reader:
                yield prev + 1, row, header
                prev = reader.line_num
        except UnicodeDecodeError as exc:
            raise InputError(str(path), f"invalid UTF-8: {exc.reason}") from exc
        except csv.Error as exc:
            raise InputError(str(path), f"invalid CSV: {exc}") from exc


def iter_parquet(path: PathLike, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_index, row)`` for the named ``columns`` of a Parquet file, in batches."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(str(path))
    except FileNotFoundError as exc:
        raise InputError(str(path), "file not found") from exc
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a bad file
        raise InputError(str(path), f"cannot read Parquet: {_short(str(exc))}") from exc
    i = 0
    for batch in pf.iter_batches(batch_size=8192, columns=columns):
        for row in batch.to_pylist():
            yield i, row
            i += 1


def parquet_columns(path: PathLike) -> list[str]:
    import pyarrow.parquet as pq

    if not Path(path).exists():
        raise InputError(str(path), "file not found")
    try:
        return list(pq.ParquetFile(str(path)).schema_arrow.names)
    except Exception as exc:
        raise InputError(str(path), f"cannot read Parquet: {_short(str(exc))}") from exc


# ----------------------------------------------------------------------------- captions


def image_id_or_error(value: object, field: str) -> tuple[str, str | None]:
    """``(normalised id, None)``, or ``("", error)`` when the value is missing or unusable."""
    if type(value) is str and value.isascii() and value.isdigit():
        return str(int(value)), None  # fast path; same result as normalize_image_id
    if value is None or (isinstance(value, str) and not value.strip()):
        return "", f"missing field '{field}'"
    try:
        return normalize_image_id(value), None
    except ValueError:
        return "", f"invalid image id in '{field}': {value!r}"[:200]


def text_or_error(value: object, *, present: bool = True, field: str = "caption") -> tuple[str | None, str | None]:
    """``(text, error)`` for a caption value: errors for absent, non-string and blank text."""
    if not present:
        return None, f"missing field '{field}'"
    if value is None:
        return None, "empty caption"
    if not isinstance(value, str):
        return None, f"caption is not a string (got {type_name(value)})"
    if not value.strip():
        return value, "empty caption"
    return value, None


def _reason_key(error: str) -> str:
    for cut in (" at line ", " after record ", ": "):
        if cut in error:
            return error.split(cut, 1)[0]
    return error


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(cap: Caption) -> Caption:
    """Replace lone surrogates (from JSON ``\\ud83d`` escapes, or undecodable file names) with
    U+FFFD: Parquet strings must be valid UTF-8."""
    fields = (cap.caption_id, cap.image_id, cap.source, cap.text, cap.origin, cap.error, cap.image_file)
    for v in fields:
        if v is not None and not v.isascii() and _SURROGATE.search(v):
            break
    else:
        return cap
    return Caption(*(_SURROGATE.sub("\ufffd", v) if isinstance(v, str) else v for v in fields))


class CaptionSink:
    """Makes caption ids unique within one file and summarises bad records as warnings.

    A repeated ``caption_id`` keeps the record; the second becomes ``<id>~2``, the third ``<id>~3``.
    Call :meth:`close` at the end to append the file-level warnings.
    """

    def __init__(self, path: PathLike, warnings: list[str] | None):
        self.path = str(path)
        self.warnings = warnings
        self._seen: dict[str, int] = {}
        self.n = 0
        self.n_dupes = 0
        self.first_dupe: tuple[str, str] | None = None
        self.errors: Counter[str] = Counter()

    def __call__(self, cap: Caption) -> Caption:
        cap = _no_surrogates(cap)
        self.n += 1
        if cap.error:
            self.errors[_reason_key(cap.error)] += 1
        cid = cap.caption_id
        if cid in self._seen:
            k = self._seen[cid] + 1
            while f"{cid}~{k}" in self._seen:
                k += 1
            self._seen[cid] = k
            new = f"{cid}~{k}"
            self._seen[new] = 1
            self.n_dupes += 1
            if self.first_dupe is None:
                self.first_dupe = (cid, cap.origin)
            return Caption(new, cap.image_id, cap.source, cap.text, cap.origin, cap.error, cap.image_file)
        self._seen[cid] = 1
        return cap

    def close(self) -> None:
        if self.warnings is None:
            return
        if self.n_dupes and self.first_dupe:
            cid, origin = self.first_dupe
            self.warnings.append(
                f"{self.path}: {self.n_dupes} duplicate caption_id(s) made unique with a '~N' "
                f"suffix (first: {cid!r} at {origin})"
            )
        if self.errors:
            parts = ", ".join(f"{k} ({v})" for k, v in self.errors.most_common())
            total = sum(self.errors.values())
            self.warnings.append(
                f"{self.path}: {total} of {self.n} captions cannot be scored: {parts}"
            )


def sink_captions(captions: Iterator[Caption], path: PathLike, warnings: list[str] | None) -> Iterator[Caption]:
    """Pass captions through a :class:`CaptionSink`, closing it when the stream ends."""
    sink = CaptionSink(path, warnings)
    for cap in captions:
        yield sink(cap)
    sink.close()

