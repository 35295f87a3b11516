"""Shared helpers for the detector tests: real COCO images and tiny models built once."""

from __future__ import annotations

from pathlib import Path

import pytest

_BUILT: dict[str, Path] = {}


def shared_data() -> Path:
    from tests.conftest import SHARED

    return SHARED


def coco_images(n: int | None = None) -> list[Path]:
    """Real COCO train2017 images from shared/data/coco_mini (skip the test when absent)."""
    folder = shared_data() / "coco_mini" / "train2017"
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if not files:
        pytest.skip(f"real COCO images not found in {folder} (set CAPTION_AUDIT_SHARED_DATA)")
    return files[:n] if n else files


def tiny_model(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the tiny random ``grounding-dino`` or ``owlv2`` checkpoint once per session."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if kind not in _BUILT:
        from detectors.tiny import build_tiny_grounding_dino, build_tiny_owlv2

        out = tmp_path_factory.mktemp(f"tiny-{kind}")
        _BUILT[kind] = (build_tiny_grounding_dino if kind == "grounding-dino" else build_tiny_owlv2)(out)
    return _BUILT[kind]


def prompts_for(paths: list[Path]) -> dict[str, list[str]]:
    """Varied per-image prompt sets (different lengths, so text padding is exercised)."""
    pool = ["person", "dog", "hot dog", "dining table", "car", "traffic light", "cat", "bus",
            "teddy bear", "cell phone", "pizza", "chair"]  # fmt: skip
    return {p.stem: pool[: 2 + (i % 9)] for i, p in enumerate(paths)}
