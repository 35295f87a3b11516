"""Real run folders built once per test session by the pipeline from the bundled demo data
(14 images; COCO-, LLaVA- and ShareGPT4V-style captions): one with COCO instances as ground
truth, and one of the same captions WITHOUT ground truth (so undefined metrics appear)."""

from __future__ import annotations

from pathlib import Path

import pytest

_BUILT: dict[str, Path] = {}


def demo_run(tmp_path_factory: pytest.TempPathFactory, *, ground_truth: bool = True) -> Path:
    """The run folder (built on first use)."""
    key = "gt" if ground_truth else "nogt"
    if key not in _BUILT:
        from caption_audit.demo import data_dir
        from caption_audit.pipeline import AuditConfig, InputSpec, audit

        d = data_dir()
        inputs = [
            InputSpec(d / "coco_captions.json", "captions", "coco_captions", "coco"),
            InputSpec(d / "llava_detail.json", "captions", "llava_conversations", "llava"),
            InputSpec(d / "sharegpt4v.json", "captions", "sharegpt4v", "sharegpt4v"),
        ]
        if ground_truth:
            inputs.insert(1, InputSpec(d / "instances.json", "ground_truth", "coco_instances"))
        out = tmp_path_factory.mktemp(f"demo-{key}") / "run"
        _BUILT[key] = audit(AuditConfig(inputs=inputs, out=out, progress=False, n_resamples=200))
    return _BUILT[key]
