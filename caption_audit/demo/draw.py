"""Draw the demo sample's images from its ``instances.json``.

Each image is a 320x240 PNG: a simple scene background (wall and floor, sky and ground, ...)
and, for every COCO instance, a filled, lightly hatched shape at its box in a colour fixed per
class, with the class name written in it. The output depends only on the JSON files and
Pillow's built-in font, so running it twice gives the same pixels.

Run ``python -m caption_audit.demo.draw`` to rewrite ``caption_audit/demo/data/images/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

# image id -> scene name; the scene picks the background
SCENES: dict[int, str] = {
    900001: "indoor_warm",
    900002: "street",
    900003: "park",
    900004: "indoor_cool",
    900005: "indoor_warm",
    900006: "beach",
    900007: "street",
    900008: "tiles",
    900009: "savanna",
    900010: "wood",
    900011: "indoor_cool",
    900012: "field",
    900013: "indoor_cool",
    900014: "park",
}

# scene -> (upper colour, lower colour, fraction of height where the lower part starts)
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], float]] = {
    "indoor_warm": ((238, 226, 200), (170, 140, 110), 0.55),
    "indoor_cool": ((214, 222, 230), (150, 130, 115), 0.60),
    "street": ((196, 206, 216), (110, 110, 115), 0.45),
    "park": ((170, 205, 235), (110, 170, 90), 0.40),
    "beach": ((150, 200, 240), (232, 214, 160), 0.45),
    "tiles": ((235, 240, 245), (200, 205, 215), 0.70),
    "savanna": ((185, 215, 240), (200, 185, 120), 0.50),
    "wood": ((225, 215, 200), (150, 105, 70), 0.40),
    "field": ((160, 195, 230), (120, 165, 85), 0.35),
}

# classes drawn as ellipses (round things); everything else is a rectangle
ROUND = {
    "sports ball", "frisbee", "clock", "donut", "orange", "pizza", "bowl", "cup", "apple",
    "cake", "plate", "umbrella", "kite",
}


def class_colour(name: str) -> tuple[int, int, int]:
    """A stable, fairly saturated RGB colour for a class name (from its MD5, not ``hash``)."""
    digest = hashlib.md5(name.encode("utf-8")).digest()
    r, g, b = digest[0], digest[1], digest[2]
    lo = min(r, g, b)
    # stretch away from grey so classes stay distinguishable on the backgrounds
    return tuple(int(40 + (c - lo) * 200 / max(1, 255 - lo)) for c in (r, g, b))  # type: ignore[return-value]


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, int(c * factor))) for c in rgb)  # type: ignore[return-value]


def draw_image(image: dict, annotations: list[dict], categories: dict[int, str], out: Path) -> None:
    """Draw one image and save it as PNG.

    Args:
        image: a COCO ``images`` entry (``id``, ``width``, ``height``, ``file_name``).
        annotations: its COCO instance annotations (``bbox`` is ``[x, y, w, h]`` pixels).
        categories: category id -> name.
        out: folder to write ``image["file_name"]`` into.
    """
    from PIL import Image, ImageDraw, ImageFont

    width, height = int(image["width"]), int(image["height"])
    top, bottom, split = BACKGROUNDS[SCENES.get(int(image["id"]), "indoor_cool")]
    canvas = Image.new("RGB", (width, height), top)
    pen = ImageDraw.Draw(canvas)
    horizon = int(height * split)
    pen.rectangle([0, horizon, width, height], fill=bottom)
    # faint horizontal texture on the background
    for y in range(0, height, 6):
        pen.line([0, y, width, y], fill=_shade(top if y < horizon else bottom, 0.96))
    font = ImageFont.load_default()

    # big boxes first so small objects stay visible on top of them
    ordered = sorted(annotations, key=lambda a: (-a["bbox"][2] * a["bbox"][3], a["id"]))
    for ann in ordered:
        name = categories[ann["category_id"]]
        x, y, w, h = ann["bbox"]
        box = [x, y, x + w - 1, y + h - 1]
        fill = class_colour(name)
        edge = _shade(fill, 0.6)
        if name in ROUND:
            pen.ellipse(box, fill=fill, outline=edge, width=2)
        else:
            pen.rectangle(box, fill=fill, outline=edge, width=2)
        # slight texture: diagonal hatching clipped to the box
        hatch = _shade(fill, 0.85)
        step = 7
        for k in range(-int(h), int(w), step):
            x0, y0 = x + max(0, k), y + max(0, -k)
            length = min(w - max(0, k), h - max(0, -k))
            if length > 2:
                pen.line([x0 + 1, y0 + 1, x0 + length - 2, y0 + length - 2], fill=hatch)
        # class name, on a small label strip at the top-left of the box
        tw = pen.textlength(name, font=font)
        lx, ly = max(1, min(x + 2, width - tw - 3)), max(1, min(y + 2, height - 13))
        pen.rectangle([lx - 1, ly - 1, lx + tw + 1, ly + 11], fill=(255, 255, 255))
        pen.text((lx, ly), name, fill=(0, 0, 0), font=font)

    out.mkdir(parents=True, exist_ok=True)
    canvas.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out / image["file_name"], optimize=True
    )


def draw_all(data_dir: Path = DATA_DIR) -> list[Path]:
    """Draw every image listed in ``data_dir/instances.json`` into ``data_dir/images``."""
    instances = json.loads((data_dir / "instances.json").read_text(encoding="utf-8"))
    categories = {c["id"]: c["name"] for c in instances["categories"]}
    by_image: dict[int, list[dict]] = {}
    for ann in instances["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    out = data_dir / "images"
    written = []
    for image in instances["images"]:
        draw_image(image, by_image.get(image["id"], []), categories, out)
        written.append(out / image["file_name"])
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    for path in draw_all(args.data_dir):
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
