"""Read a small UTF-8 text file (a config, a label file) with errors that name the problem.

A UTF-16/UTF-32 file (byte-order mark), a binary file (NUL bytes) or bytes that are not
UTF-8 end in one :class:`~caption_audit.errors.InputError` naming the file and the encoding
found, instead of a ``UnicodeDecodeError`` traceback or a confusing parse error.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from caption_audit.errors import InputError

#: byte-order marks that mean "not UTF-8", longest first (UTF-32-LE starts like UTF-16-LE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32-LE"),
    (codecs.BOM_UTF32_BE, "UTF-32-BE"),
    (codecs.BOM_UTF16_LE, "UTF-16-LE"),
    (codecs.BOM_UTF16_BE, "UTF-16-BE"),
)


def read_text_file(path: str | Path, *, what: str = "file", max_bytes: int | None = None) -> str:
    """The text of a UTF-8 file (a UTF-8 byte-order mark is dropped).

    Args:
        path: the file.
        what: what the file is, for messages (``"gate config"``, ``"label file"``).
        max_bytes: refuse files larger than this (a bound on what a parser is handed).

    Raises:
        InputError: (exit 2) missing, a folder, unreadable, too large, UTF-16/32, binary or
            not UTF-8; the message names the file and the encoding or byte offset.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(str(p), f"is a folder, expected a {what}")
    try:
        if max_bytes is not None and p.stat().st_size > max_bytes:
            raise InputError(str(p), f"{what} is {p.stat().st_size:,} bytes; the limit is {max_bytes:,}")
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(str(p), f"{what} not found") from None
    except OSError as exc:
        raise InputError(str(p), f"cannot read {what}: {exc.strerror or exc}") from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise InputError(str(p), f"{what} is encoded as {name} (byte-order mark); save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    nul = data.find(b"\x00")
    if nul >= 0:
        looks16 = nul < 4 and len(data) > 1 and data[1::2].count(0) > len(data) // 4
        kind = "UTF-16 without a byte-order mark" if looks16 else "binary, not text"
        raise InputError(str(p), f"{what} looks {kind} (NUL byte at offset {nul}); save it as UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            str(p), f"{what} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
