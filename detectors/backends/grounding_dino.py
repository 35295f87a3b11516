"""Grounding DINO through transformers (``GroundingDinoForObjectDetection``), the default detector.

Why transformers and not ``groundingdino-py``: see ``docs/detectors.md``.

Prompts: an image's phrases are written as ``"a . b . c ."`` and split into chunks that fit
the text encoder (``config.max_text_len`` tokens, 256 for the released checkpoints); each
chunk is one row of the model batch, so an image with many phrases costs several rows.
Each detection is mapped back to a phrase by the phrase token with the highest probability,
and from there to the canonical name.

Batches only ever hold images whose preprocessed tensor has the same (padded) shape: every
image is padded to a multiple of ``pad_multiple`` pixels whether it is alone or in a batch, so
results do not depend on the batch size (which is why the cache key can ignore it).
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

DEFAULT_MODEL = "IDEA-Research/grounding-dino-tiny"
CLS, SEP, DOT = 101, 102, 1012
NEAR_MISS_FLOOR = 0.1  # lowest score read for near misses (below every default threshold)


def _clean_label(label: str) -> str:
    """Drop special tokens and stray '.' separators from a decoded ``text_labels`` entry."""
    words = [w.strip(".") for w in label.replace(" .", " ").split()]
    return " ".join(w for w in words if w and w not in {"[CLS]", "[SEP]", "[PAD]"})


class GroundingDinoPreprocessor:
    """Worker-side: PIL image -> padded pixel tensor + mask. Picklable (no model inside)."""

    def __init__(self, image_processor: Any, pad_multiple: int):
        self.image_processor = image_processor
        self.pad_multiple = max(1, int(pad_multiple))

    def __call__(self, image_id: str, image: Image.Image) -> Prepared:
        import torch

        pv = self.image_processor(images=image, do_pad=False, return_tensors="pt")["pixel_values"][0]
        _, h, w = pv.shape
        m = self.pad_multiple
        ph, pw = -(-h // m) * m, -(-w // m) * m
        pixels = torch.zeros((3, ph, pw), dtype=pv.dtype)
        pixels[:, :h, :w] = pv
        mask = torch.zeros((ph, pw), dtype=torch.long)
        mask[:h, :w] = 1
        return Prepared(image_id, image.size, (pixels, mask), (ph, pw))


class GroundingDinoDetector(BaseDetector):
    """Open-vocabulary detection with Grounding DINO (Liu et al., ECCV 2024, arXiv 2303.05499).

    Args:
        model: a ``save_pretrained`` directory or a hub id (default
            ``IDEA-Research/grounding-dino-tiny``). With ``HF_HUB_OFFLINE=1`` a hub id is only
            looked up in the local HF cache.
        revision: hub revision (branch, tag or commit); ignored for directories.
        device: ``auto`` | ``cpu`` | ``cuda`` (``cuda:N``).
        box_threshold: keep a query whose best token probability exceeds this (0.35, the
            value of the Grounding DINO demo, Woodpecker and HalluciDoctor).
        text_threshold: a token belongs to a detection's phrase above this (0.25).
        class_thresholds: per-canonical-class box thresholds overriding ``box_threshold``.
        precision: ``auto`` (bf16 autocast on CUDA, fp16 without bf16, fp32 on CPU),
            ``float32``, ``bfloat16`` or ``float16``.
        pad_multiple: pad every image to a multiple of this many pixels (batching groups).

    Raises:
        ConfigError: the model cannot be found/loaded, or an option is invalid.
    """

    name = "grounding-dino"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        revision: str | None = None,
        device: str = "auto",
        box_threshold: float = 0.35,
        text_threshold: float = 0.25,
        class_thresholds: dict[str, float] | None = None,
        precision: str = "auto",
        pad_multiple: int = 32,
    ):
        for label, v in [("box_threshold", box_threshold), ("text_threshold", text_threshold)] + [
            (f"class_thresholds[{k!r}]", t) for k, t in (class_thresholds or {}).items()
        ]:
            if not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"{label} must be in [0, 1], got {v}")
        self.box_threshold = float(box_threshold)
        self.text_threshold = float(text_threshold)
        self.class_thresholds = {k: float(v) for k, v in (class_thresholds or {}).items()}
        self.pad_multiple = int(pad_multiple)
        path, kwargs, self.revision = resolve_model(model, revision, DEFAULT_MODEL)
        self.model_id = model
        self.device = resolve_device(device)
        self._autocast, self.precision = autocast_for(self.device, precision)
        try:
            from transformers import AutoTokenizer, GroundingDinoForObjectDetection
            from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
                GroundingDinoImageProcessorPil,
            )
            from transformers.models.grounding_dino.processing_grounding_dino import (
                GroundingDinoProcessor,
            )

            self.image_processor = GroundingDinoImageProcessorPil.from_pretrained(path, **kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
            self.model = GroundingDinoForObjectDetection.from_pretrained(path, **kwargs)
        except OSError as exc:
            raise missing_model_error(model, exc, DEFAULT_MODEL) from exc
        self.processor = GroundingDinoProcessor(self.image_processor, self.tokenizer)
        self.model.to(self.device).eval()
        self.max_text_len = int(self.model.config.max_text_len)
        if self.tokenizer.convert_tokens_to_ids(".") != DOT or self.tokenizer.cls_token_id != CLS:
            raise ConfigError(
                f"--model {model}: tokenizer is not BERT-uncased compatible "
                f"('.' must be id {DOT}, [CLS] id {CLS}); Grounding DINO hard-codes these ids"
            )
        self._token_cache: dict[str, list[int]] = {}

    # -- cache identity ---------------------------------------------------------------------
    def cache_fields(self) -> dict[str, Any]:
        return {
            "box_threshold": self.box_threshold,
            "text_threshold": self.text_threshold,
            "class_thresholds": dict(sorted(self.class_thresholds.items())),
            "pad_multiple": self.pad_multiple,
            "max_text_len": self.max_text_len,
        }

    def preprocessor(self) -> GroundingDinoPreprocessor:
        return GroundingDinoPreprocessor(self.image_processor, self.pad_multiple)

    # -- prompts --------------------------------------------------------------------------------
    def _tokens(self, phrase: str) -> list[int]:
        ids = self._token_cache.get(phrase)
        if ids is None:
            ids = self.tokenizer(phrase, add_special_tokens=False)["input_ids"]
            self._token_cache[phrase] = ids
        return ids

    def chunk_prompts(self, prompts: Sequence[Prompt]) -> list[list[tuple[str, str, list[int]]]]:
        """Split prompts into chunks whose ``[CLS] a . b . [SEP]`` fits ``max_text_len``.

        A phrase too long for one chunk on its own is truncated to fit.
        """
        budget = self.max_text_len - 2
        chunks: list[list[tuple[str, str, list[int]]]] = []
        cur: list[tuple[str, str, list[int]]] = []
        used = 0
        for phrase, canonical in normalize_prompts(prompts):
            ids = self._tokens(phrase)[: budget - 1]
            need = len(ids) + 1
            if cur and used + need > budget:
                chunks.append(cur)
                cur, used = [], 0
            cur.append((phrase, canonical, ids))
            used += need
        if cur:
            chunks.append(cur)
        return chunks

    # -- inference -------------------------------------------------------------------------------
    def detect_prepared(
        self, items: list[Prepared], prompts: list[Sequence[Prompt]]
    ) -> list[Detections]:
        """Detect a batch of same-group prepared images (groups are split here if mixed)."""
        import torch

        if len(items) != len(prompts):
            raise ValueError(f"{len(items)} images but {len(prompts)} prompt lists")
        results: list[Detections | None] = [None] * len(items)
        by_group: dict[Any, list[int]] = {}
        for i, it in enumerate(items):
            by_group.setdefault(it.group, []).append(i)
        for idxs in by_group.values():
            rows: list[tuple[int, list[tuple[str, str, list[int]]]]] = []
            for i in idxs:
                for chunk in self.chunk_prompts(prompts[i]):
                    rows.append((i, chunk))
            per_image: dict[int, list[Detections]] = {i: [] for i in idxs}
            if rows:
                with torch.inference_mode():
                    dets = self._forward(items, rows)
                for (i, _), d in zip(rows, dets, strict=True):
                    per_image[i].append(d)
            for i in idxs:
                parts = per_image[i]
                meta = {**self.describe(), "precision": self.precision}
                results[i] = (
                    Detections.merge(parts) if parts else Detections.empty(items[i].image_size)
                )
                results[i].metadata.update(meta)
        return results  # type: ignore[return-value]

    def _forward(self, items: list[Prepared], rows: list[tuple[int, list]]) -> list[Detections]:
        import torch

        seqs, spans = [], []
        for _, chunk in rows:
            ids, sp = [CLS], []
            for phrase, canonical, toks in chunk:
                sp.append((len(ids), len(ids) + len(toks), phrase, canonical))
                ids += toks + [DOT]
            seqs.append(ids + [SEP])
            spans.append(sp)
        length = max(len(s) for s in seqs)
        input_ids = torch.zeros((len(seqs), length), dtype=torch.long)
        attn = torch.zeros_like(input_ids)
        for r, s in enumerate(seqs):
            input_ids[r, : len(s)] = torch.tensor(s)
            attn[r, : len(s)] = 1
        pixels = torch.stack([items[i].payload[0] for i, _ in rows])
        masks = torch.stack([items[i].payload[1] for i, _ in rows])
        dev = self.device
        with self._autocast:
            out = self.model(
                pixel_values=pixels.to(dev), pixel_mask=masks.to(dev), input_ids=input_ids.to(dev),
                attention_mask=attn.to(dev), token_type_ids=torch.zeros_like(input_ids).to(dev),
            )  # fmt: skip
        out.logits = out.logits.float()
        out.pred_boxes = out.pred_boxes.float()
        # queries down to NEAR_MISS_FLOOR are read so that an object asked for and not found
        # still reports its best (below-threshold) box: the "near miss" shown for hallucinations
        low = min([self.box_threshold, *self.class_thresholds.values(), NEAR_MISS_FLOOR])
        sizes = [(items[i].image_size[1], items[i].image_size[0]) for i, _ in rows]
        post = self.processor.post_process_grounded_object_detection(
            out, input_ids.to(dev), threshold=low, text_threshold=self.text_threshold, target_sizes=sizes
        )
        probs_all = out.logits.sigmoid()
        dets = []
        for r, (i, _) in enumerate(rows):
            keep = probs_all[r].max(-1).values > low  # same rule as the post-processor
            probs = probs_all[r][keep].cpu().numpy()
            res = post[r]
            boxes = res["boxes"].cpu().numpy().reshape(-1, 4)
            scores = res["scores"].cpu().numpy()
            labels = list(res["text_labels"])
            xyxy, sc, ph, can = [], [], [], []
            near: dict[str, list[float]] = {}
            w, h = items[i].image_size
            for q in range(len(scores)):
                best, best_p = None, -1.0
                for start, end, phrase, canonical in spans[r]:
                    p = float(probs[q, start:end].max()) if end > start else -1.0
                    if p > best_p:
                        best, best_p = (phrase, canonical), p
                if best is None or best_p <= self.text_threshold:
                    continue  # grounded to no phrase token (only [CLS] / '.' / [SEP])
                if scores[q] <= self.class_thresholds.get(best[1], self.box_threshold):
                    if best[1] not in near or scores[q] > near[best[1]][0]:
                        near[best[1]] = [float(scores[q]), *map(float, np.clip(boxes[q], 0, [w, h, w, h]))]
                    continue
                xyxy.append(np.clip(boxes[q], 0, [w, h, w, h]))
                sc.append(scores[q])
                ph.append(_clean_label(labels[q]) or best[0])
                can.append(best[1])
            found = set(can)
            near = {c: v for c, v in near.items() if c not in found}
            dets.append(Detections(np.array(xyxy).reshape(-1, 4), sc, ph, can, items[i].image_size,
                                   metadata={"near_miss": near} if near else {}))
        return dets
