"""Reading small UTF-8 files: the encoding or problem is named, never a UnicodeDecodeError."""

from __future__ import annotations

from pathlib import Path

import pytest

from caption_audit.errors import InputError
from caption_audit.textfile import read_text_file

TEXT = "checks:\n  - metric: chair_i  # ü\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (TEXT.encode("utf-16"), "encoded as UTF-16-LE (byte-order mark)"),
        (TEXT.encode("utf-16-be").join([b"\xfe\xff", b""]), "encoded as UTF-16-BE"),
        (TEXT.encode("utf-32"), "encoded as UTF-32-LE"),
        (TEXT.encode("utf-16-le"), "looks UTF-16 without a byte-order mark"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary, not text (NUL byte at offset 8)"),
        (TEXT.encode("latin-1"), "is not UTF-8 (byte 0xfc at offset"),
    ],
)
def test_wrong_encodings_are_named(tmp_path: Path, data: bytes, message: str):
    p = tmp_path / "f.yaml"
    p.write_bytes(data)
    with pytest.raises(InputError, match=None) as exc:
        read_text_file(p, what="gate config")
    assert str(exc.value).startswith(f"{p}: gate config ") and message in str(exc.value)


def test_utf8_with_and_without_bom(tmp_path: Path):
    p = tmp_path / "f.yaml"
    p.write_bytes(b"\xef\xbb\xbf" + TEXT.encode())
    assert read_text_file(p) == TEXT
    p.write_text(TEXT, encoding="utf-8")
    assert read_text_file(p) == TEXT


@pytest.mark.parametrize(("kind", "message"), [("dir", "is a folder"), ("missing", "not found"), ("big", "the limit is 10")])
def test_folders_missing_and_large(tmp_path: Path, kind: str, message: str):
    p = tmp_path / "x"
    if kind == "dir":
        p.mkdir()
    elif kind == "big":
        p.write_text("x" * 11)
    with pytest.raises(InputError, match=message):
        read_text_file(p, max_bytes=10)
