"""Pure rendering helpers: caption text to safe HTML, run strings to safe Markdown, and
images with boxes.

Every string from a run is untrusted (captions come from model outputs and web data; source
names, ids, class and file names, warnings and reasons from input files). Every piece of it
that reaches HTML goes through :func:`html.escape` with ``quote=True``, including the
tooltip attribute; every piece that reaches Streamlit Markdown (``st.markdown``,
``st.caption``, ``st.subheader``, ``st.warning``/``st.error``, metric help) goes through
:func:`md` so that no link, image, HTML tag, directive or autolink can come from data;
verdict names become CSS classes only through a whitelist. Sizes from data are capped before
any pixel is allocated. Nothing here talks to Streamlit or DuckDB.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: colours of the two box kinds (RGB); the legend in the app uses the same values
GT_COLOR = (0, 200, 83)  # green
DET_COLOR = (255, 109, 0)  # orange
PLACEHOLDER_BG = (236, 239, 241)
PLACEHOLDER_FG = (84, 110, 122)

VERDICT_CLASSES = {"supported": "ca-supported", "hallucinated": "ca-hallucinated",
                   "unverifiable": "ca-unverifiable"}

CAPTION_CSS = """
<style>
.ca-caption { white-space: pre-wrap; line-height: 1.6; font-size: 0.95rem; }
.ca-mention { border-radius: 3px; padding: 0 2px; cursor: help; }
.ca-supported { background: #c8e6c9; border-bottom: 2px solid #2e7d32; }
.ca-hallucinated { background: #ffcdd2; border-bottom: 2px solid #c62828; }
.ca-unverifiable { background: #eceff1; border-bottom: 2px dashed #78909c; }
.ca-unknown { background: #fff9c4; }
.ca-legend span { margin-right: 0.8em; }
</style>
"""


#: longest side of a placeholder image (sizes in a run's images table are untrusted)
MAX_PLACEHOLDER_SIDE = 2048
#: images with more pixels than this are not decoded (Pillow's own bomb guard is 2x its limit)
MAX_IMAGE_PIXELS = 50_000_000

WORD_JOINER = "\u2060"


def md(text: Any) -> str:
    """``text`` as inert Streamlit Markdown: shown literally, never a link, image or tag.

    Every ASCII punctuation character is backslash-escaped (CommonMark renders ``\\x`` as a
    literal ``x``), which disarms ``[t](url)``, ``![t](url)``, ``<tag>``, emphasis,
    Streamlit's ``:color[...]``/``:icon:`` directives and ``$`` math. GFM autolinks
    (``http://``, ``www.``, ``a@b.c``) survive escaping, so an invisible word joiner (U+2060)
    is put after each scheme / ``www`` and after ``@``. Line breaks become spaces so a string
    cannot start a new block.
    """
    from caption_audit.markup import md_escape

    return md_escape(text)


def _get(m: Any, key: str, default: Any = None) -> Any:
    v = m.get(key, default) if isinstance(m, Mapping) else getattr(m, key, default)
    if v is None:
        return default
    try:
        if isinstance(v, float) and math.isnan(v):
            return default
    except TypeError:  # pragma: no cover
        pass
    return v


def mention_tooltip(m: Mapping[str, Any] | Any) -> str:
    """Plain-text tooltip for one mention: verdict, class, reason and evidence.

    Example: ``hallucinated: dog (not_in_gt; evidence: gt)`` or
    ``supported: cat (detector grounding-dino, score 0.81)``.
    """
    verdict = str(_get(m, "verdict", "unknown"))
    canonical = str(_get(m, "canonical", "") or _get(m, "text", ""))
    parts = []
    reason = _get(m, "reason", "")
    if reason:
        parts.append(str(reason))
    evidence = _get(m, "evidence", "")
    score = _get(m, "score")
    if evidence:
        ev = f"evidence: {evidence}"
        if score is not None:
            ev += f", score {float(score):.2f}"
        parts.append(ev)
    elif score is not None:
        parts.append(f"score {float(score):.2f}")
    flags = [f for f in ("negated", "hedged", "nonvisual") if _get(m, f, False) is True]
    if flags:
        parts.append("/".join(flags))
    vocab = _get(m, "vocab", "")
    if vocab:
        parts.append(f"vocab {vocab}")
    count_verdict = _get(m, "count_verdict")
    if isinstance(count_verdict, str) and count_verdict:
        true = _get(m, "count_true")
        image = f", image has {int(true)}" if true is not None and true == true else ""
        parts.append(f"{count_verdict}: stated {_get(m, 'count_stated', '?')}{image}")
    tail = f" ({'; '.join(parts)})" if parts else ""
    return f"{verdict}: {canonical}{tail}"


def normalize_spans(text_len: int, mentions: Iterable[Any]) -> list[tuple[int, int, Any]]:
    """Clamp, sort and de-overlap mention spans.

    Offsets are clamped to ``[0, text_len]``; empty or inverted spans are dropped. Spans are
    sorted by start (longer first on ties); a span overlapping an earlier kept span is cut
    to start where that one ends (and dropped if nothing is left), so output spans never
    overlap and every character is highlighted at most once.
    """
    raw = []
    for m in mentions:
        try:
            s, e = int(_get(m, "start", 0)), int(_get(m, "end", 0))
        except (TypeError, ValueError):
            continue
        s, e = max(0, min(s, text_len)), max(0, min(e, text_len))
        if e > s:
            raw.append((s, e, m))
    raw.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    out: list[tuple[int, int, Any]] = []
    cursor = 0
    for s, e, m in raw:
        s = max(s, cursor)
        if e <= s:
            continue
        out.append((s, e, m))
        cursor = e
    return out


def caption_html(text: str | None, mentions: Iterable[Any] = ()) -> str:
    """Render a caption as escaped HTML with its mentions highlighted by verdict.

    Each mention becomes ``<span class="ca-mention ca-<verdict>" data-verdict="..."
    title="tooltip">escaped text</span>``; all other text is escaped as well. Unknown
    verdicts get the class ``ca-unknown``.

    Args:
        text: the caption (``None`` renders as an empty caption marker).
        mentions: mappings or objects with ``start``, ``end``, ``verdict`` and optional
            ``canonical``, ``reason``, ``evidence``, ``score``.
    """
    if text is None:
        return '<div class="ca-caption"><em>(no text)</em></div>'
    text = str(text)
    pieces = []
    cursor = 0
    for s, e, m in normalize_spans(len(text), mentions):
        pieces.append(html.escape(text[cursor:s], quote=True))
        verdict = str(_get(m, "verdict", ""))
        cls = VERDICT_CLASSES.get(verdict, "ca-unknown")
        pieces.append(
            f'<span class="ca-mention {cls}" data-verdict="{html.escape(verdict, quote=True)}" '
            f'title="{html.escape(mention_tooltip(m), quote=True)}">'
            f"{html.escape(text[s:e], quote=True)}</span>"
        )
        cursor = e
    pieces.append(html.escape(text[cursor:], quote=True))
    return f'<div class="ca-caption">{"".join(pieces)}</div>'


def legend_html() -> str:
    """The verdict colour legend (static HTML)."""
    return ('<div class="ca-legend"><span class="ca-mention ca-supported">supported</span>'
            '<span class="ca-mention ca-hallucinated">hallucinated</span>'
            '<span class="ca-mention ca-unverifiable">unverifiable</span></div>')


# --------------------------------------------------------------------------- images


def _box_pixels(bbox: Sequence[float], normalized: bool, w: int, h: int,
                scale: float = 1.0) -> tuple[float, float, float, float] | None:
    try:
        x1, y1, x2, y2 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    if normalized:
        x1, x2, y1, y2 = x1 * w, x2 * w, y1 * h, y2 * h
    else:
        x1, x2, y1, y2 = x1 * scale, x2 * scale, y1 * scale, y2 * scale
    # clamp to just outside the image: a huge coordinate from data must not reach the rasteriser
    x1, x2 = (min(max(v, -1.0), w + 1.0) for v in (x1, x2))
    y1, y2 = (min(max(v, -1.0), h + 1.0) for v in (y1, y2))
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    return x1, y1, x2, y2


def is_detector(origin: Any) -> bool:
    """Whether an objects.parquet ``origin`` denotes a detector box."""
    return str(origin or "").startswith("detector")


def draw_boxes(image: Any, objects: Iterable[Mapping[str, Any]], *, line_width: int | None = None,
               scale: float = 1.0) -> tuple[Any, dict[str, int]]:
    """Draw labelled boxes on a copy of ``image``.

    Ground-truth boxes are drawn in :data:`GT_COLOR`, detector boxes (``origin`` starting
    with ``detector``) in :data:`DET_COLOR`, each labelled with its category (and score for
    detector boxes). Objects without a box are counted but not drawn.

    Args:
        image: a PIL image.
        objects: rows of objects.parquet (``category``, ``bbox``, ``normalized``,
            ``origin``, ``score``).
        scale: factor from the boxes' pixel coordinates to ``image`` (a scaled-down
            placeholder); normalised boxes ignore it.

    Returns:
        ``(image copy, counts)`` where counts has ``gt``, ``detector`` (boxes drawn) and
        ``no_box`` (objects without a usable box).
    """
    from PIL import ImageDraw, ImageFont

    img = image.convert("RGB").copy()
    w, h = img.size
    lw = line_width or max(2, round(min(w, h) / 200))
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=max(11, round(min(w, h) / 40)))
    except TypeError:  # pragma: no cover - old Pillow
        font = ImageFont.load_default()
    counts = {"gt": 0, "detector": 0, "no_box": 0}
    # detector boxes first so GT boxes stay on top
    rows = sorted(objects, key=lambda o: not is_detector(_get(o, "origin")))
    for o in rows:
        bbox = _get(o, "bbox")
        box = None if bbox is None else _box_pixels(list(bbox), bool(_get(o, "normalized", False)), w, h, scale)
        if box is None:
            counts["no_box"] += 1
            continue
        det = is_detector(_get(o, "origin"))
        color = DET_COLOR if det else GT_COLOR
        counts["detector" if det else "gt"] += 1
        draw.rectangle(box, outline=color, width=lw)
        label = str(_get(o, "category", "") or _get(o, "label", "?"))[:60]
        score = _get(o, "score")
        if det and score is not None:
            label += f" {float(score):.2f}"
        tx, ty = box[0], max(0.0, box[1] - font.size - 4) if hasattr(font, "size") else box[1]
        tb = draw.textbbox((tx + 2, ty + 1), label, font=font)
        draw.rectangle((tb[0] - 2, tb[1] - 1, tb[2] + 2, tb[3] + 1), fill=color)
        draw.text((tx + 2, ty + 1), label, fill=(0, 0, 0) if not det else (255, 255, 255), font=font)
    return img, counts


def placeholder_size(width: Any = None, height: Any = None) -> tuple[int, int, float]:
    """``(w, h, scale)`` of a placeholder for an image of ``width`` x ``height`` (untrusted):
    the same aspect ratio, the long side at most :data:`MAX_PLACEHOLDER_SIDE` (``scale`` maps
    the original pixels onto it); 640x480 when a size is missing or not a positive number."""
    def _side(v: Any) -> float | None:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        return f if math.isfinite(f) and f >= 1 else None

    w, h = _side(width), _side(height)
    if w is None or h is None:
        return 640, 480, 1.0
    scale = min(1.0, MAX_PLACEHOLDER_SIDE / max(w, h))
    return max(1, min(MAX_PLACEHOLDER_SIDE, round(w * scale))), max(1, min(MAX_PLACEHOLDER_SIDE, round(h * scale))), scale


def placeholder_image(width: int | None = None, height: int | None = None, message: str = "image not found") -> Any:
    """A grey image with a crossed frame and ``message``, shaped like the missing image.

    Its long side is at most :data:`MAX_PLACEHOLDER_SIDE` (see :func:`placeholder_size`).
    """
    from PIL import Image, ImageDraw, ImageFont

    w, h, _ = placeholder_size(width, height)
    img = Image.new("RGB", (w, h), PLACEHOLDER_BG)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w - 1, h - 1), outline=PLACEHOLDER_FG, width=3)
    d.line((0, 0, w - 1, h - 1), fill=(207, 216, 220), width=2)
    d.line((0, h - 1, w - 1, 0), fill=(207, 216, 220), width=2)
    try:
        font = ImageFont.load_default(size=max(14, min(w, h) // 20))
    except TypeError:  # pragma: no cover
        font = ImageFont.load_default()
    tb = d.multiline_textbbox((0, 0), message, font=font, align="center")
    tw, th = tb[2] - tb[0], tb[3] - tb[1]
    x, y = (w - tw) / 2, (h - th) / 2
    d.rectangle((x - 10, y - 8, x + tw + 10, y + th + 8), fill=(255, 255, 255))
    d.multiline_text((x, y), message, fill=PLACEHOLDER_FG, font=font, align="center")
    return img


def compose_image(path: Any, objects: Iterable[Mapping[str, Any]], *, width: int | None = None,
                  height: int | None = None, image_id: str = "") -> tuple[Any, dict[str, Any]]:
    """Open ``path`` (or make a placeholder when it is None/unreadable) and draw the boxes.

    Returns ``(image, info)`` where info holds the box counts plus ``placeholder`` (bool) and
    ``message`` (why a placeholder was used, else empty).
    """
    from PIL import Image, UnidentifiedImageError

    message = ""
    img = None
    name = str(getattr(path, "name", path))[:80]
    if path is not None:
        try:
            with Image.open(path) as im:  # reads the header only
                iw, ih = im.size
                if iw * ih > MAX_IMAGE_PIXELS:
                    message = f"image too large to show\n{name}: {iw}x{ih} pixels"
                else:
                    img = im.convert("RGB")
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as exc:
            message = f"cannot read image file\n{name}: {type(exc).__name__}"
    else:
        message = f"image file not found\nimage id {str(image_id)[:80]}" if image_id else "image file not found"
    placeholder = img is None
    scale = 1.0
    if img is None:
        img = placeholder_image(width, height, message)
        scale = placeholder_size(width, height)[2]
    drawn, counts = draw_boxes(img, objects, scale=scale)
    return drawn, {**counts, "placeholder": placeholder, "message": message}


def format_metric(value: Any, unit: str | None) -> str:
    """Human form of a metric value: fractions as percent, others with 2 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    v = float(value)
    if unit == "fraction":
        return f"{100 * v:.1f}%"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"
