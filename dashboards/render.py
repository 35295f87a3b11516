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
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: colours of the two box kinds (RGB); the legend in the app uses the same values. Neither is
#: a verdict colour (green = supported and red = hallucinated/contradicted in the captions).
GT_COLOR = (30, 136, 229)  # blue
DET_COLOR = (255, 179, 0)  # amber
PLACEHOLDER_BG = (236, 239, 241)
PLACEHOLDER_FG = (84, 110, 122)

VERDICT_CLASSES = {"supported": "ca-supported", "hallucinated": "ca-hallucinated",
                   "unverifiable": "ca-unverifiable"}

CAPTION_CSS = """
<style>
.ca-caption { white-space: pre-wrap; line-height: 1.6; font-size: 0.95rem; }
.ca-mention { border-radius: 3px; padding: 0 1px; cursor: help; }
.ca-supported { background: #c8e6c9; }
.ca-hallucinated { background: #ffcdd2; }
.ca-unverifiable { background: #eceff1; }
.ca-unknown { background: #fff9c4; }
.ca-claim { cursor: help; text-decoration-line: underline; text-decoration-thickness: 2px;
            text-underline-offset: 4px; text-decoration-skip-ink: none; }
.ca-claim-supported { text-decoration-color: #2e7d32; }
.ca-claim-contradicted { text-decoration-color: #c62828; text-decoration-style: wavy; }
.ca-claim-unverifiable { text-decoration-color: #78909c; text-decoration-style: dotted; }
.ca-claim-unsupported_by_refs { text-decoration-color: #ef6c00; text-decoration-style: dashed; }
.ca-claim-unknown { text-decoration-color: #fbc02d; }
.ca-legend span { margin-right: 0.8em; }
.ca-swatch { display: inline-block; height: 0.8em; border: 1px solid #90a4ae; vertical-align: middle; }
.ca-claims { font-size: 0.8rem; color: #37474f; margin: 0.1em 0 0.2em 0; padding-left: 1.2em; }
</style>
"""


#: longest side of a placeholder image (sizes in a run's images table are untrusted)
MAX_PLACEHOLDER_SIDE = 2048
#: images with more pixels than this are not decoded (Pillow's own bomb guard is 2x its limit)
MAX_IMAGE_PIXELS = 50_000_000

WORD_JOINER = "\u2060"

#: plain-language sentence per mention reason code (docs/run-folder.md, mentions.parquet)
REASON_TEXT = {
    "gt": "the object is in the image's ground-truth annotations",
    "not_in_gt": "the image's ground-truth annotations have no such object",
    "negated": "the caption says it is not there, so it claims nothing",
    "depiction": "it is a picture or figure of the object, not the object itself",
    "open_vocab": "not one of the annotated classes, so the annotations cannot check it",
    "no_ground_truth": "the image has no ground-truth annotations to check against",
    "detector": "an object detector found it in the image",
    "not_detected": "the object detector did not find it in the image",
    "broader_term": "a broader word (e.g. 'animal') that the annotations cannot confirm or deny",
}

#: what a claim verdict means, in words
CLAIM_VERDICT_TEXT = {
    "supported": "supported by the evidence",
    "contradicted": "contradicted by the evidence",
    "unverifiable": "the evidence cannot decide",
    "unsupported_by_refs": "no reference caption or detector supports it",
}
CLAIM_VERDICT_ORDER = ("contradicted", "unsupported_by_refs", "unverifiable", "supported")

#: swatch colour per basic colour name (the 11 names of scoring/resolvers/colours.py)
SWATCH_HEX = {"black": "#212121", "white": "#ffffff", "grey": "#9e9e9e", "red": "#e53935",
              "orange": "#fb8c00", "yellow": "#fdd835", "green": "#43a047", "blue": "#1e88e5",
              "purple": "#8e24aa", "pink": "#f48fb1", "brown": "#795548"}


def reason_text(code: Any) -> str:
    """A plain-language sentence for a mention reason code (unknown codes as given)."""
    code = str(code or "")
    return REASON_TEXT.get(code, code)


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

    The reason code becomes a sentence (:data:`REASON_TEXT`). Example: ``hallucinated: dog
    (the image's ground-truth annotations have no such object)`` or ``supported: cat (an
    object detector found it in the image; evidence: grounding-dino, score 0.81)``.
    """
    verdict = str(_get(m, "verdict", "unknown"))
    canonical = str(_get(m, "canonical", "") or _get(m, "text", ""))
    parts = []
    reason = _get(m, "reason", "")
    if reason:
        parts.append(reason_text(reason))
    evidence = _get(m, "evidence", "")
    score = _get(m, "score")
    if evidence and str(evidence) != "gt":
        ev = f"evidence: {evidence}"
        if score is not None:
            ev += f", score {float(score):.2f}"
        parts.append(ev)
    elif score is not None:
        parts.append(f"score {float(score):.2f}")
    flags = [f for f in ("negated", "hedged", "nonvisual") if _get(m, f, False) is True]
    if flags:
        parts.append("/".join(flags))
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


def claim_tooltip(c: Mapping[str, Any] | Any) -> str:
    """Plain-text tooltip for one claim: kind, subject, stated value, verdict in words,
    evidence and resolver, e.g. ``colour claim: bus is red+white — contradicted by the
    evidence (mask: no white; red 99%; by pixels)``."""
    kind = str(_get(c, "kind", "claim"))
    subject = str(_get(c, "subject", "") or _get(c, "text", ""))
    value = str(_get(c, "value", "") or "")
    verdict = str(_get(c, "verdict", "unknown"))
    head = f"{kind} claim: {subject}" + (f" is {value}" if value else "")
    parts = [p for p in (str(_get(c, "evidence", "") or ""),
                         f"by {_get(c, 'resolver')}" if _get(c, "resolver") else "") if p]
    if _get(c, "hedged", False) is True:
        parts.append("hedged")
    tail = f" ({'; '.join(parts)})" if parts else ""
    return f"{head} — {CLAIM_VERDICT_TEXT.get(verdict, verdict)}{tail}"


def _claim_rank(c: Any) -> int:
    v = str(_get(c, "verdict", ""))
    return CLAIM_VERDICT_ORDER.index(v) if v in CLAIM_VERDICT_ORDER else len(CLAIM_VERDICT_ORDER)


def _clamped(text_len: int, items: Iterable[Any]) -> list[tuple[int, int, Any]]:
    out = []
    for c in items:
        try:
            s, e = int(_get(c, "start", 0)), int(_get(c, "end", 0))
        except (TypeError, ValueError):
            continue
        s, e = max(0, min(s, text_len)), max(0, min(e, text_len))
        if e > s:
            out.append((s, e, c))
    return out


def _claims_layer(text: str, a: int, b: int, claims: list[tuple[int, int, Any]], prefix: str = "") -> str:
    """``text[a:b]`` escaped, with every stretch covered by claims wrapped in one claim span
    (underlined in the colour of the worst covering verdict; tooltip lists them all)."""
    cuts = sorted({a, b, *(x for s, e, _ in claims for x in (s, e) if a < x < b)})
    out = []
    for s, e in zip(cuts, cuts[1:], strict=False):
        piece = html.escape(text[s:e], quote=True)
        cover = sorted((c for cs, ce, c in claims if cs < e and ce > s), key=_claim_rank)
        if not cover:
            out.append(piece)
            continue
        verdict = str(_get(cover[0], "verdict", ""))
        cls = "ca-claim-" + verdict if verdict in CLAIM_VERDICT_TEXT else "ca-claim-unknown"
        tip = "\n".join(([prefix] if prefix else []) + [claim_tooltip(c) for c in cover])
        out.append(f'<span class="ca-claim {cls}" data-claim-verdict="{html.escape(verdict, quote=True)}" '
                   f'title="{html.escape(tip, quote=True)}">{piece}</span>')
    return "".join(out)


def caption_html(text: str | None, mentions: Iterable[Any] = (), claims: Iterable[Any] | None = None) -> str:
    """Render a caption as escaped HTML with its mentions highlighted by verdict and, when
    ``claims`` are given, its claims underlined by verdict.

    Each mention becomes ``<span class="ca-mention ca-<verdict>" data-verdict="..."
    title="tooltip">escaped text</span>`` (a background colour); all other text is escaped as
    well. Unknown verdicts get the class ``ca-unknown``. Claims (which may overlap mentions
    and each other, e.g. the count claim "three giraffes" holds the object claim "giraffes")
    are cut at every claim boundary; each stretch covered by claims becomes ``<span
    class="ca-claim ca-claim-<worst verdict>" data-claim-verdict="..." title="every covering
    claim">`` nested inside the mention span (an underline: solid green supported, wavy red
    contradicted, dotted grey unverifiable, dashed orange unsupported by references).

    Args:
        text: the caption (``None`` renders as an empty caption marker).
        mentions: mappings or objects with ``start``, ``end``, ``verdict`` and optional
            ``canonical``, ``reason``, ``evidence``, ``score``.
        claims: claims.parquet rows (``start``, ``end``, ``kind``, ``subject``, ``value``,
            ``verdict``, ``evidence``, ``resolver``).
    """
    if text is None:
        return '<div class="ca-caption"><em>(no text)</em></div>'
    text = str(text)
    cl = _clamped(len(text), claims or ())
    pieces = []
    cursor = 0
    for s, e, m in normalize_spans(len(text), mentions):
        pieces.append(_claims_layer(text, cursor, s, cl))
        verdict = str(_get(m, "verdict", ""))
        cls = VERDICT_CLASSES.get(verdict, "ca-unknown")
        tip = mention_tooltip(m)
        pieces.append(
            f'<span class="ca-mention {cls}" data-verdict="{html.escape(verdict, quote=True)}" '
            f'title="{html.escape(tip, quote=True)}">'
            f"{_claims_layer(text, s, e, cl, prefix=tip)}</span>"
        )
        cursor = e
    pieces.append(_claims_layer(text, cursor, len(text), cl))
    return f'<div class="ca-caption">{"".join(pieces)}</div>'


_SHARE = re.compile(r"\b([a-z]+) (\d{1,3})%")


def mask_shares(evidence: Any) -> list[tuple[str, int]]:
    """Observed colour shares of a pixel-resolver evidence string (``mask: white 71%, grey
    18%`` -> ``[("white", 71), ("grey", 18)]``); only the 11 basic colour names count, and
    anything that is not ``mask:`` evidence gives ``[]``."""
    ev = str(evidence or "")
    if not ev.startswith("mask:"):
        return []
    out = []
    for name, pct in _SHARE.findall(ev):
        if name in SWATCH_HEX and 0 <= int(pct) <= 100:
            out.append((name, int(pct)))
    return out


def swatches_html(shares: Sequence[tuple[str, int]]) -> str:
    """Small colour bars, one per observed colour, as wide as its share (static HTML: the
    names come from the :data:`SWATCH_HEX` whitelist)."""
    return "".join(f'<span class="ca-swatch" title="{n} {p}%" style="background:{SWATCH_HEX[n]};'
                   f'width:{max(3, round(p * 0.6))}px"></span>' for n, p in shares if n in SWATCH_HEX)


def claims_list_html(claims: Iterable[Any], verdicts: Sequence[str] = ("contradicted",)) -> str:
    """A list of one caption's claims with the given verdicts (default: the contradicted
    ones): kind, claim words, stated value, the verdict in words, the evidence (escaped) and,
    for colour claims with mask evidence, swatches of the observed colours. Empty string when
    none."""
    rows = []
    for c in claims:
        verdict = str(_get(c, "verdict", ""))
        if verdict not in verdicts:
            continue
        kind = html.escape(str(_get(c, "kind", "")), quote=True)
        words = html.escape(str(_get(c, "text", "") or _get(c, "subject", "")), quote=True)
        value = str(_get(c, "value", "") or "")
        ev = str(_get(c, "evidence", "") or "")
        sw = swatches_html(mask_shares(ev)) if str(_get(c, "kind", "")) == "colour" else ""
        rows.append(f"<li><b>{kind}</b> “{words}”" + (f" ({html.escape(value, quote=True)})" if value else "")
                    + f" — {html.escape(CLAIM_VERDICT_TEXT.get(verdict, verdict), quote=True)}"
                    + (f": {html.escape(ev, quote=True)}" if ev else "") + (f" {sw}" if sw else "") + "</li>")
    return f'<ul class="ca-claims">{"".join(rows)}</ul>' if rows else ""


def legend_html() -> str:
    """The verdict colour legend (static HTML)."""
    return ('<div class="ca-legend">objects (background): '
            '<span class="ca-mention ca-supported">supported</span>'
            '<span class="ca-mention ca-hallucinated">hallucinated</span>'
            '<span class="ca-mention ca-unverifiable">unverifiable</span></div>'
            '<div class="ca-legend">claims (underline): '
            '<span class="ca-claim ca-claim-supported">supported</span>'
            '<span class="ca-claim ca-claim-contradicted">contradicted</span>'
            '<span class="ca-claim ca-claim-unverifiable">unverifiable</span>'
            '<span class="ca-claim ca-claim-unsupported_by_refs">unsupported by references</span></div>')


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


#: at most this many boxes get their full label on the image; more get numbers (legend below)
FULL_LABEL_LIMIT = 6


def box_label(o: Mapping[str, Any] | Any) -> str:
    """Category (and detector score) of one object row, at most 60 characters of it."""
    label = str(_get(o, "category", "") or _get(o, "label", "?"))[:60]
    score = _get(o, "score")
    if is_detector(_get(o, "origin")) and score is not None:
        label += f" {float(score):.2f}"
    return label


def _drawn_order(objects: Iterable[Mapping[str, Any]]) -> list[Any]:
    # detector boxes first so GT boxes stay on top
    return sorted(objects, key=lambda o: not is_detector(_get(o, "origin")))


def box_legend(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``[{"#", "object", "kind"}]`` for the boxes :func:`draw_boxes` draws, numbered as on
    the image (numbers are drawn when there are more than :data:`FULL_LABEL_LIMIT` boxes)."""
    out = []
    for o in _drawn_order(objects):
        bbox = _get(o, "bbox")
        if bbox is None or _box_pixels(list(bbox), bool(_get(o, "normalized", False)), 100, 100) is None:
            continue
        out.append({"#": len(out) + 1, "object": box_label(o),
                    "kind": "detector" if is_detector(_get(o, "origin")) else "ground truth"})
    return out


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_boxes(image: Any, objects: Iterable[Mapping[str, Any]], *, line_width: int | None = None,
               scale: float = 1.0) -> tuple[Any, dict[str, int]]:
    """Draw labelled boxes on a copy of ``image``.

    Ground-truth boxes are drawn in :data:`GT_COLOR`, detector boxes (``origin`` starting
    with ``detector``) in :data:`DET_COLOR` (neither is a verdict colour). With at most
    :data:`FULL_LABEL_LIMIT` boxes each is labelled with its category (and score for detector
    boxes); with more, each gets its number from :func:`box_legend` instead, so a busy image
    (33 boxes) stays legible. Labels sit on a filled tag and are moved down past tags already
    placed (collision avoidance). Objects without a box are counted but not drawn.

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
    boxes = []
    for o in _drawn_order(objects):
        bbox = _get(o, "bbox")
        box = None if bbox is None else _box_pixels(list(bbox), bool(_get(o, "normalized", False)), w, h, scale)
        if box is None:
            counts["no_box"] += 1
            continue
        boxes.append((box, o))
    numbered = len(boxes) > FULL_LABEL_LIMIT
    for box, o in boxes:
        det = is_detector(_get(o, "origin"))
        counts["detector" if det else "gt"] += 1
        draw.rectangle(box, outline=DET_COLOR if det else GT_COLOR, width=lw)
    placed: list[tuple[float, ...]] = []
    fs = getattr(font, "size", 11)
    for n, (box, o) in enumerate(boxes, 1):
        det = is_detector(_get(o, "origin"))
        label = str(n) if numbered else box_label(o)
        tx, ty = box[0], max(0.0, box[1] - fs - 4)
        tb = draw.textbbox((tx + 2, ty + 1), label, font=font)
        tag = (tb[0] - 2, tb[1] - 1, tb[2] + 2, tb[3] + 1)
        for _ in range(12):  # move down past tags already placed
            if not any(_overlaps(tag, p) for p in placed):
                break
            dy = tag[3] - tag[1] + 1
            tag = (tag[0], tag[1] + dy, tag[2], tag[3] + dy)
        placed.append(tag)
        draw.rectangle(tag, fill=DET_COLOR if det else GT_COLOR)
        draw.text((tag[0] + 2, tag[1] + 1), label, fill=(0, 0, 0) if det else (255, 255, 255), font=font)
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

    Returns ``(image, info)`` where info holds the box counts plus ``placeholder`` (bool),
    ``message`` (why a placeholder was used, else empty) and ``legend`` (the numbered boxes'
    :func:`box_legend` when the image shows numbers, else ``[]``).
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
    objects = list(objects)
    drawn, counts = draw_boxes(img, objects, scale=scale)
    numbered = counts["gt"] + counts["detector"] > FULL_LABEL_LIMIT
    return drawn, {**counts, "placeholder": placeholder, "message": message,
                   "legend": box_legend(objects) if numbered else []}


def format_metric(value: Any, unit: str | None) -> str:
    """Human form of a metric value: fractions as percent, others with 2 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    v = float(value)
    if unit == "fraction":
        return f"{100 * v:.1f}%"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"


# --------------------------------------------------------------------------- caption quality


def _share_text(v: Any) -> str:
    f = _get({"v": v}, "v")
    try:
        return f"{100 * float(f):.1f}%" if f is not None else "—"
    except (TypeError, ValueError):
        return "—"


def top_texts_html(rows: Iterable[Any], *, count_key: str = "count", images_key: str | None = None,
                   limit: int = 10, max_chars: int = 300) -> str:
    """An ordered list of reused texts (summary.json ``quality`` top lists: reused captions,
    openers, closers) as escaped HTML: each text (untrusted, cut to ``max_chars``) with its
    count, share and, when given, its number of images. A text that is None (its top-list
    slot was capped, docs/quality.md) shows as "(text not kept)". Empty string for no rows.
    """
    items = []
    for r in list(rows)[:limit]:
        if not isinstance(r, Mapping):
            continue
        t = r.get("text")
        text = ("<em>(text not kept)</em>" if t is None
                else html.escape(str(t)[:max_chars] + ("…" if len(str(t)) > max_chars else ""), quote=True))
        n = r.get(count_key)
        bits = [f"{int(n):,}×" if isinstance(n, int | float) and n == n else ""]
        if images_key and isinstance(r.get(images_key), int | float):
            bits.append(f"{int(r[images_key]):,} images")
        bits.append(_share_text(r.get("share")))
        if r.get("boilerplate") is True:
            bits.append("boilerplate")
        meta = html.escape(" · ".join(b for b in bits if b), quote=True)
        items.append(f'<li><span class="ca-reused">“{text}”</span> '
                     f'<span style="color:#607d8b;font-size:0.8rem">{meta}</span></li>')
    return f'<ol class="ca-top">{"".join(items)}</ol>' if items else ""
