"""The bundled demo sample audited once per test process by the real pipeline (no shared data)."""

from __future__ import annotations

from pathlib import Path

_BUILT: dict[str, Path] = {}


def demo_run(out: Path) -> Path:
    """Run folder of the demo sample (coco, llava, sharegpt4v); built once, later callers share it."""
    if "demo" not in _BUILT or not (_BUILT["demo"] / "summary.json").is_file():
        from caption_audit.demo import data_dir
        from caption_audit.pipeline import AuditConfig, InputSpec, audit

        d = data_dir()
        _BUILT["demo"] = Path(audit(AuditConfig(inputs=[
            InputSpec(d / "coco_captions.json", "captions", "coco_captions", "coco"),
            InputSpec(d / "instances.json", "ground_truth", "coco_instances"),
            InputSpec(d / "llava_detail.json", "captions", "llava_conversations", "llava"),
            InputSpec(d / "sharegpt4v.json", "captions", "sharegpt4v", "sharegpt4v"),
        ], out=out, n_resamples=100, progress=False)))
    return _BUILT["demo"]
