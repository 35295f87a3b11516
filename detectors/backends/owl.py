"""OWLv2 (Minderer et al., NeurIPS 2023, arXiv 2306.09683) through transformers.

Each phrase is its own text query (CLIP text encoder, 16 tokens), so there is no prompt
chunking and no cross-phrase interference. OWLv2 pads every image to a square and resizes it
to a fixed size, so all images share one batch group and batched results equal one-by-one
results. Queries are padded per batch with all-zero rows, which the model masks out
(``query_mask = input_ids[..., 0] > 0``), so a padded query can never win a box.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from caption_audit.errors import ConfigError
from detectors.backends._hf import autocast_for, missing_model_error, resolve_device, resolve_model
from detectors.base import BaseDetector, Prepared, Prompt, normalize_prompts
from detectors.types import Detections

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_MODEL = "google/owlv2-base-patch16-ensemble"


class OwlPreprocessor:
    """Worker-side: PIL image -> fixed-size pixel tensor. Picklable."""

    def __init__(self, image_processor: Any):
        self.image_processor = image_processor

    def __call__(self, image_id: str, image: Image.Image) -> Prepared:
        pv = self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]
        return Prepared(image_id, image.size, pv, tuple(pv.shape))


class OwlDetector(BaseDetector):
    """Open-vocabulary detection with OWLv2 (or OWL-ViT v1 checkpoints, same interface).

    Args:
        model: ``save_pretrained`` directory or hub id (default
            ``google/owlv2-base-patch16-ensemble``).
        revision, device, precision: as for :class:`GroundingDinoDetector`.
        box_threshold: keep a box whose best query probability exceeds this (0.1 is the
            transformers default for OWLv2; its scores are much lower than Grounding DINO's).
        class_thresholds: per-canonical-class overrides.

    Raises:
        ConfigError: the model cannot be found/loaded, or an option is invalid.
    """

    name = "owlv2"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        revision: str | None = None,
        device: str = "auto",
        box_threshold: float = 0.1,
        class_thresholds: dict[str, float] | None = None,
        precision: str = "auto",
        **_ignored: Any,
    ):
        if not 0.0 <= box_threshold <= 1.0:
            raise ConfigError(f"box_threshold must be in [0, 1], got {box_threshold}")
        self.box_threshold = float(box_threshold)
        self.class_thresholds = {k: float(v) for k, v in (class_thresholds or {}).items()}
        try:
            import scipy  # noqa: F401 - the OWLv2 image processor resizes with scipy
        except ImportError as exc:
            raise ConfigError("the owlv2 detector needs scipy: pip install scipy") from exc
        path, kwargs, self.revision = resolve_model(model, revision, DEFAULT_MODEL)
        self.model_id = model
        self.device = resolve_device(device)
        self._autocast, self.precision = autocast_for(self.device, precision)
        try:
            from transformers import AutoConfig, AutoTokenizer

            config = AutoConfig.from_pretrained(path, **kwargs)
            if config.model_type == "owlvit":
                from transformers import OwlViTForObjectDetection as Model
                from transformers import OwlViTImageProcessor as ImageProcessor
                from transformers import OwlViTProcessor as Processor
            else:
                from transformers import Owlv2ForObjectDetection as Model
                from transformers import Owlv2Processor as Processor
                from transformers.models.owlv2.image_processing_pil_owlv2 import (
                    Owlv2ImageProcessorPil as ImageProcessor,
                )
            self.image_processor = ImageProcessor.from_pretrained(path, **kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
            self.model = Model.from_pretrained(path, **kwargs)
        except OSError as exc:
            raise missing_model_error(model, exc, DEFAULT_MODEL) from exc
        self.processor = Processor(image_processor=self.image_processor, tokenizer=self.tokenizer)
        self.model.to(self.device).eval()
        self.max_len = int(self.model.config.text_config.max_position_embeddings)

    def cache_fields(self) -> dict[str, Any]:
        return {
            "box_threshold": self.box_threshold,
            "class_thresholds": dict(sorted(self.class_thresholds.items())),
        }

    def preprocessor(self) -> OwlPreprocessor:
        return OwlPreprocessor(self.image_processor)

    def detect_prepared(
        self, items: list[Prepared], prompts: list[Sequence[Prompt]]
    ) -> list[Detections]:
        import torch

        if len(items) != len(prompts):
            raise ValueError(f"{len(items)} images but {len(prompts)} prompt lists")
        queries = [normalize_prompts(p) for p in prompts]
        results = [Detections.empty(it.image_size, **self.describe()) for it in items]
        live = [i for i, q in enumerate(queries) if q]
        if not live:
            return results
        nq = max(len(queries[i]) for i in live)
        enc = [
            self.tokenizer([ph for ph, _ in queries[i]], padding="max_length", truncation=True,
                           max_length=self.max_len)  # fmt: skip
            for i in live
        ]
        ids = torch.zeros((len(live), nq, self.max_len), dtype=torch.long)
        attn = torch.zeros_like(ids)
        attn[..., 0] = 1  # padded queries: all-zero ids (masked by the model), one live position
        for r, e in enumerate(enc):
            n = len(e["input_ids"])
            ids[r, :n] = torch.tensor(e["input_ids"])
            attn[r, :n] = torch.tensor(e["attention_mask"])
        pixels = torch.stack([items[i].payload for i in live]).to(self.device)
        with torch.inference_mode(), self._autocast:
            out = self.model(
                input_ids=ids.view(-1, self.max_len).to(self.device), pixel_values=pixels,
                attention_mask=attn.view(-1, self.max_len).to(self.device),
            )  # fmt: skip
        out.logits = out.logits.float()
        out.pred_boxes = out.pred_boxes.float()
        low = min([self.box_threshold, *self.class_thresholds.values()])
        # OWLv2 boxes are relative to the padded square: scale by the longer side.
        sizes = [(max(items[i].image_size),) * 2 for i in live]
        post = self.processor.post_process_grounded_object_detection(
            out, threshold=low, target_sizes=sizes
        )
        for r, i in enumerate(live):
            w, h = items[i].image_size
            res = post[r]
            xyxy, sc, ph, can = [], [], [], []
            for box, score, label in zip(
                res["boxes"].cpu().numpy(), res["scores"].cpu().numpy(), res["labels"].tolist(), strict=True
            ):
                if label >= len(queries[i]):
                    continue  # a padded query (masked, should not happen)
                phrase, canonical = queries[i][label]
                if score <= self.class_thresholds.get(canonical, self.box_threshold):
                    continue
                xyxy.append(np.clip(box, 0, [w, h, w, h]))
                sc.append(score)
                ph.append(phrase)
                can.append(canonical)
            results[i] = Detections(
                np.array(xyxy).reshape(-1, 4), sc, ph, can, (w, h),
                {**self.describe(), "precision": self.precision},
            )  # fmt: skip
        return results
