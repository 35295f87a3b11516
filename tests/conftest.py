"""Shared fixtures: the real data folder (../shared/data) and a session-wide parser."""

from __future__ import annotations

import glob
import json
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


def real_captions(per_opera_file: int, n_coco: int) -> list[str]:
    """The first captions of each of the 12 OPERA files, then the first COCO val2017 captions
    (skips the test where the shared data is absent)."""
    texts = []
    for f in sorted(glob.glob(str(shared("opera", "chair_eval_results") / "*" / "*.jsonl"))):
        with open(f) as fh:
            texts += [json.loads(line)["caption"] for line in fh][:per_opera_file]
    with open(shared("coco_val2017_captions", "captions_val2017.json")) as fh:
        texts += [a["caption"] for a in json.load(fh)["annotations"][:n_coco]]
    return texts


def local_captions() -> list[str]:
    """The project's own labelled captions (tests/data): short COCO-style and long LVLM-style
    texts, there on every machine."""
    texts = []
    for name in ("labelled/captions.jsonl", "claims_labelled/captions.jsonl", "claims_labelled/real_captions.jsonl"):
        with open(REPO / "tests" / "data" / name) as fh:
            texts += [json.loads(line)["caption"] for line in fh if line.strip()]
    return texts


# The ingest cache (caption_audit/ingest/cache.py) stays off in tests (and in the CLI subprocesses
# they start), so no test writes under the user's home; tests/test_ingest_cache.py turns it on
# against tmp_path.
os.environ["CAPTION_AUDIT_NO_CACHE"] = "1"


@pytest.fixture(scope="session")
def parser():
    from caption_audit.text.parse import CaptionParser

    return CaptionParser()
