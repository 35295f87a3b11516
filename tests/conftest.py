"""Shared fixtures: the real data folder (../shared/data) and a session-wide parser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPTION_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared(*parts: str) -> Path:
    """Path into the shared real-data folder; skips the test when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (set CAPTION_AUDIT_SHARED_DATA to the shared/data folder)")
    return p


# The ingest cache (caption_audit/ingest/cache.py) stays off in tests (and in the CLI subprocesses
# they start), so no test writes under the user's home; tests/test_ingest_cache.py turns it on
# against tmp_path.
os.environ["CAPTION_AUDIT_NO_CACHE"] = "1"


@pytest.fixture(scope="session")
def parser():
    from caption_audit.text.parse import CaptionParser

    return CaptionParser()
