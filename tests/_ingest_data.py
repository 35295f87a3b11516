"""Paths shared by the ingest tests: the fixtures and the optional real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED  # one definition of the real-data folder

FIXTURES = Path(__file__).resolve().parent / "data" / "ingest"


def real(rel: str) -> Path:
    """A file of the shared real data, or skip the test with the reason."""
    p = SHARED / rel
    if not p.is_file():
        pytest.skip(f"real data not available: {p} (set CAPTION_AUDIT_SHARED_DATA)")
    return p


def fx(name: str) -> str:
    """A fixture path as a string (origins are compared as strings)."""
    return str(FIXTURES / name)
