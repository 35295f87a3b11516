"""Tiny random Grounding DINO and OWLv2 checkpoints, built offline, for tests and benchmarks.

The models have random weights, so their detections are meaningless; what they exercise is the
whole real code path (processor, tokenizer, batched forward, post-processing, cache) in well
under a second on a CPU. Recipe and gotchas: ``shared/docs/environment-notes.md`` §3.

Example:
    >>> from detectors.tiny import build_tiny_grounding_dino
    >>> path = build_tiny_grounding_dino("/tmp/tiny-gd")  # doctest: +SKIP
    >>> GroundingDinoDetector(model=str(path), device="cpu")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

# The 80 COCO classes (multi-word names are split into words for the tiny tokenizers). A data
# file of detectors/ (detectors know nothing of captions or the text vocabulary);
# tests/test_detectors_tiny.py checks it against the text stage's COCO-80 list.
COCO80: tuple[str, ...] = tuple(
    line.strip()
    for line in (Path(__file__).parent / "data" / "coco80.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)

_EXTRA_WORDS = ("a", "an", "the", "of", "man", "woman", "table", "plant", "phone", "glass")

# BERT ids the Grounding DINO model hard-codes (SPECIAL_TOKENS = [101, 102, 1012, 1029]).
_BERT_FIXED = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, ".": 1012, "?": 1029}


def _words() -> list[str]:
    seen: dict[str, None] = {}
    for name in COCO80 + _EXTRA_WORDS:
        for w in name.split():
            seen.setdefault(w, None)
    return list(seen)


def bert_vocab(size: int = 1100) -> list[str]:
    """A BERT vocab (index = id) with the fixed special ids and the COCO class words."""
    vocab: list[str | None] = [None] * size
    for tok, i in _BERT_FIXED.items():
        vocab[i] = tok
    words = iter(_words())
    for i in range(size):
        if vocab[i] is None and 1 <= i < 100 or vocab[i] is None and i > 1029:
            vocab[i] = next(words, None)
    for i in range(size):
        if vocab[i] is None:
            vocab[i] = f"[unused{i}]"
    missing = set(_words()) - set(vocab)
    if missing:
        raise ValueError(f"vocab size {size} too small for {len(missing)} words")
    return vocab  # type: ignore[return-value]


def build_tiny_grounding_dino(
    out_dir: str | Path, *, seed: int = 0, image_size: int = 224, max_text_len: int = 32
) -> Path:
    """Save a tiny random ``GroundingDinoForObjectDetection`` + processor to ``out_dir``.

    The image processor resizes to a shortest edge of ``image_size`` (longest ``image_size*5/3``)
    so CPU tests stay fast. ``max_text_len`` is the text-encoder token limit, kept small so
    prompt chunking is exercised. Returns ``out_dir``.
    """
    import torch
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
        SwinConfig,
    )
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = bert_vocab()
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer.from_pretrained(str(out))  # vocab_file= is ignored in v5
    assert tokenizer.convert_tokens_to_ids(".") == 1012
    text_config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64,
    )  # fmt: skip
    backbone = SwinConfig(
        image_size=224, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
        window_size=7, out_indices=[2, 3, 4],
    )  # fmt: skip
    config = GroundingDinoConfig(
        backbone_config=backbone, text_config=text_config, d_model=32, num_queries=20,
        encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        encoder_attention_heads=2, decoder_attention_heads=2, max_text_len=max_text_len,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config).eval()
    image_processor = GroundingDinoImageProcessorPil(
        size={"shortest_edge": image_size, "longest_edge": image_size * 5 // 3}
    )
    processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2 / CLIP convention)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def _clip_bpe_files(out: Path) -> None:
    """Write a word-level CLIP BPE vocab (every byte char, then each word + ``</w>``)."""
    chars = _byte_chars()
    vocab: dict[str, int] = {}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    for c in chars:
        vocab.setdefault(c + "</w>", len(vocab))
    merges: list[str] = []
    for w in _words():
        # merge left to right: "d o g</w>" -> "do g</w>" -> "dog</w>"
        pieces = list(w[:-1]) + [w[-1] + "</w>"]
        while len(pieces) > 1:
            a, b = pieces[0], pieces[1]
            merge = f"{a} {b}"
            if merge not in merges:
                merges.append(merge)
            pieces = [a + b] + pieces[2:]
            vocab.setdefault(a + b, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab.setdefault(special, len(vocab))
    (out / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def build_tiny_owlv2(out_dir: str | Path, *, seed: int = 0, image_size: int = 64) -> Path:
    """Save a tiny random ``Owlv2ForObjectDetection`` + processor to ``out_dir``."""
    import torch
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2Processor
    from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clip_bpe_files(out)
    tokenizer = CLIPTokenizer.from_pretrained(str(out))
    vocab_size = len(tokenizer)
    config = Owlv2Config(
        text_config={
            "vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 16,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id or 0,
        },
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "image_size": image_size, "patch_size": 16,
        },
        projection_dim=32,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Owlv2ForObjectDetection(config).eval()
    image_processor = Owlv2ImageProcessorPil(size={"height": image_size, "width": image_size})
    processor = Owlv2Processor(image_processor=image_processor, tokenizer=tokenizer)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
