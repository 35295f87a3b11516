"""Synthetic, realistic caption files for the scale benchmark (and nothing else).

The real Share-Captioner file (``share-captioner_coco_lcs_sam_1246k_1107.json``, 1.5 GB) is
HF-only and cannot be fetched here, so :func:`write_sharegpt4v` writes a file of the same shape:
a JSON array of ``{"id", "image", "conversations": [human, gpt]}`` records, image paths mixed
like the real set (SAM, LLaVA-pretrain/LCS, COCO train2017, a little WikiArt), gpt answers of
about 830 characters on average with a log-normal spread (short ones of ~150 characters, a long
tail past 2,000), written from COCO classes, open-vocabulary words and filler sentences, some
negated (``there are no people``) or hedged (``possibly a dog``).

Everything is seeded, so the same arguments give the same bytes.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from pathlib import Path

from caption_audit.text.vocab import default_vocabulary

OPEN_WORDS = ["tree", "grass", "sky", "cloud", "building", "window", "wall", "floor", "road", "sidewalk", "fence", "sign", "pole", "lamp", "shelf", "curtain", "plate", "glass", "mug", "flower", "hat", "shirt", "jacket", "helmet", "rock", "sand", "water", "mountain", "hill", "field", "bridge", "tower", "door", "table", "cloth", "pillow", "blanket", "rug", "mirror", "painting", "frame", "box", "basket", "fruit", "bread", "cheese", "tomato", "salad", "sauce", "coffee", "shoe", "boots", "bag", "hand", "face", "hair", "leaves", "branch", "river", "lake", "wave"]
ADJ = ["red", "blue", "green", "white", "black", "yellow", "wooden", "small", "large", "old", "modern", "bright", "dark", "colorful", "tall", "narrow", "shiny", "rusty", "striped", "round", "empty", "crowded", "quiet", "sunny"]
PLACES = ("in the foreground", "in the background", "on the left side of the image", "on the right",
          "near the center", "at the bottom of the frame", "along the edge", "behind it")
FILLER = (
    "The overall atmosphere of the scene is calm and peaceful.",
    "The lighting suggests that the photo was taken in the late afternoon.",
    "The image captures a moment of everyday life.",
    "The colors in the picture are vivid and well balanced.",
    "The composition draws the viewer's attention to the center of the frame.",
    "This image appears to be a photograph rather than a painting.",
    "Overall, the scene conveys a sense of warmth and comfort.",
    "The photograph is slightly blurry, which gives it a candid feel.",
    "The textures of the different surfaces are clearly visible.",
    "It is a well-composed shot with a shallow depth of field.",
)
IMAGE_MIX = (("sam", 0.457), ("llava", 0.445), ("coco", 0.095), ("wikiart", 0.003))
HUMAN = ("<image>\nWhat do you see happening in this image?",
         "<image>\nAnalyze the image in a comprehensive and detailed manner.",
         "Write a detailed description of the given image.\n<image>",
         "<image>\nDescribe the image in detail.")


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


class Writer:
    """Builds caption text from a seeded RNG and a fixed phrase pool."""

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.coco = list(default_vocabulary().classes)
        self.sentences = self._pool(6000)

    def _noun(self) -> str:
        r = self.rng.random()
        return self.rng.choice(self.coco) if r < 0.55 else self.rng.choice(OPEN_WORDS)

    def _sentence(self) -> str:
        rng = self.rng
        a, b, c = self._noun(), self._noun(), self._noun()
        adj, adj2 = rng.choice(ADJ), rng.choice(ADJ)
        place = rng.choice(PLACES)
        k = rng.random()
        if k < 0.08:
            return f"There are no {b}s visible in the scene, and no {c} can be seen {place}."
        if k < 0.14:
            return f"{place.capitalize()}, there appears to be {_a(adj)} {b}, possibly a {c}."
        if k < 0.20:
            return f"It is unclear whether the {a} is part of the {b} or simply placed {place}."
        if k < 0.32:
            return rng.choice(FILLER)
        forms = (
            f"The image shows {_a(adj)} {a} next to {_a(adj2)} {b} {place}.",
            f"{place.capitalize()}, {_a(adj)} {a} rests on {_a(b)}, while {_a(c)} stands nearby.",
            f"A {a} and two {b}s can be seen {place}, with {_a(adj)} {c} partially hidden behind them.",
            f"Several {a}s are arranged around {_a(adj)} {b}, adding depth to the scene.",
            f"There is {_a(adj)} {a} {place}, and a person is holding {_a(b)} close to the {c}.",
            f"The {a} is {adj}, and it sits beside {_a(adj2)} {b} that catches the light.",
        )
        return rng.choice(forms)

    def _pool(self, n: int) -> list[str]:
        return [self._sentence() for _ in range(n)]

    def long_caption(self, mean_chars: float = 790.0, sigma: float = 0.45, fresh: bool = False) -> str:
        """One description; lengths are log-normal with the given mean (chars), clipped to 120..4000.
        Sentences come from the pool of 6,000, or with ``fresh`` are each made anew (few repeats,
        so the text stage's per-sentence parse cache rarely hits, as on real model output)."""
        mu = math.log(mean_chars) - sigma * sigma / 2
        target = min(4000, max(120, int(self.rng.lognormvariate(mu, sigma))))
        parts: list[str] = []
        n = 0
        choice = self.rng.choice
        while n < target:
            s = self._sentence() if fresh else choice(self.sentences)
            parts.append(s)
            n += len(s) + 1
        return " ".join(parts)

    def short_caption(self) -> str:
        """A COCO-like one-line caption (about 50 characters)."""
        rng = self.rng
        a, b = self._noun(), self._noun()
        return rng.choice((
            f"{_a(rng.choice(ADJ)).capitalize()} {a} sitting next to {_a(b)}.",
            f"Two {a}s standing {rng.choice(PLACES)}.",
            f"A person holding {_a(a)} near {_a(b)}.",
            f"{_a(a).capitalize()} on top of {_a(rng.choice(ADJ))} {b}.",
            f"An old {a} parked beside {_a(b)} on the street.",
        ))

    def image(self, mix: tuple[tuple[str, float], ...] = IMAGE_MIX, coco_images: int = 118_000) -> tuple[str, str]:
        """``(record id, image path)`` drawn from the ShareGPT4V image roots."""
        r, acc = self.rng.random(), 0.0
        root = mix[-1][0]
        for name, p in mix:
            acc += p
            if r < acc:
                root = name
                break
        if root == "coco":
            k = self.rng.randrange(1, coco_images + 1)
            return f"{k:012d}", f"coco/train2017/{k:012d}.jpg"
        if root == "sam":
            k = self.rng.randrange(1, 11_000_000)
            return f"sa_{k}", f"sam/images/sa_{k}.jpg"
        if root == "llava":
            k = self.rng.randrange(0, 660_000)
            return f"{k:09d}", f"llava/llava_pretrain/images/{k // 10_000:05d}/{k:09d}.jpg"
        k = self.rng.randrange(0, 80_000)
        return f"wikiart_{k}", f"wikiart/images/artwork-{k}.jpg"


def sharegpt4v_records(n: int, *, seed: int = 0, coco_only: bool = False, coco_images: int = 118_000,
                       fresh: bool = False) -> Iterator[dict]:
    """``n`` ShareGPT4V-shaped records (``fresh``: see :meth:`Writer.long_caption`)."""
    w = Writer(seed)
    mix = (("coco", 1.0),) if coco_only else IMAGE_MIX
    for _ in range(n):
        rid, image = w.image(mix, coco_images)
        yield {"id": rid, "image": image,
               "conversations": [{"from": "human", "value": w.rng.choice(HUMAN)},
                                 {"from": "gpt", "value": w.long_caption(fresh=fresh)}]}


def write_sharegpt4v(path: Path, n: int, *, seed: int = 0, coco_only: bool = False, coco_images: int = 118_000,
                     fresh: bool = False) -> Path:
    """Write ``n`` records as one JSON array (one record per line inside the array)."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("[\n")
        for i, rec in enumerate(sharegpt4v_records(n, seed=seed, coco_only=coco_only, coco_images=coco_images,
                                                   fresh=fresh)):
            f.write(("" if i == 0 else ",\n") + json.dumps(rec, ensure_ascii=False))
        f.write("\n]\n")
    tmp.replace(path)
    return path


def write_coco_captions(path: Path, n_images: int, per_image: int = 5, *, seed: int = 1) -> Path:
    """An official-format COCO captions file with short COCO-like captions."""
    w = Writer(seed)
    images = [{"id": k, "file_name": f"{k:012d}.jpg", "width": 640, "height": 480} for k in range(1, n_images + 1)]
    anns = []
    for k in range(1, n_images + 1):
        for j in range(per_image):
            anns.append({"image_id": k, "id": k * 10 + j, "caption": w.short_caption()})
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


def write_objects(path: Path, n_images: int, *, seed: int = 2) -> Path:
    """Ground truth ``{image_id: [coco class names]}`` for images ``1..n_images`` (2 to 8 objects)."""
    rng = random.Random(seed)
    classes = list(default_vocabulary().classes)
    gt = {str(k): rng.sample(classes, rng.randint(2, 8)) for k in range(1, n_images + 1)}
    path.write_text(json.dumps(gt))
    return path
