"""Unit tests for dashboards/render.py: escaping, span handling, boxes, placeholders."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from dashboards import render as rd

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


def m(start, end, verdict="hallucinated", **kw):
    return {"start": start, "end": end, "verdict": verdict, "canonical": kw.pop("canonical", "x"), **kw}


def visible_text(markup: str) -> str:
    """The text a browser would show: strip our tags, unescape entities."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_script_tag_is_escaped_not_markup():
    text = "A cat <script>window.__pwned=1</script> and a dog."
    out = rd.caption_html(text, [m(2, 5, "supported"), m(47, 50)])
    assert "<script" not in out
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in out
    assert visible_text(out) == text


def test_img_onerror_is_escaped_everywhere_including_inside_a_mention():
    text = 'Two dogs <img src=x onerror="window.__pwned=1"> end'
    # a (bogus) mention span that covers the evil tag itself
    out = rd.caption_html(text, [m(9, 47, "supported", canonical='"><img src=x onerror=alert(1)>')])
    assert "<img" not in out
    assert 'onerror="' not in out  # the attribute quote is escaped too
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in out
    # the tooltip attribute holds escaped evidence, so it cannot break out of title="..."
    title = re.search(r'title="([^"]*)"', out).group(1)
    assert "<" not in title and '"' not in title
    assert visible_text(out) == text


def test_unknown_verdict_cannot_inject_a_class_or_attribute():
    out = rd.caption_html("a dog", [m(2, 5, verdict='x" onmouseover="alert(1)')])
    assert 'class="ca-mention ca-unknown"' in out
    assert 'onmouseover="' not in out


def test_verdict_classes_and_tooltip_evidence():
    text = "a dog and a cat"
    out = rd.caption_html(text, [
        m(2, 5, "supported", canonical="dog", reason="gt", evidence="detector:gdino", score=0.8123),
        m(12, 15, "hallucinated", canonical="cat", reason="not_in_gt", evidence="gt"),
    ])
    assert out.count('class="ca-mention ca-supported"') == 1
    assert out.count('class="ca-mention ca-hallucinated"') == 1
    # reason codes read as sentences; "evidence: gt" is said by the sentence already
    assert ('title="supported: dog (the object is in the image&#x27;s ground-truth annotations; '
            'evidence: detector:gdino, score 0.81)"') in out
    assert 'title="hallucinated: cat (the image&#x27;s ground-truth annotations have no such object)"' in out


def test_overlapping_spans_are_cut_and_text_is_preserved():
    text = "a red fire hydrant here"
    out = rd.caption_html(text, [m(2, 18, "supported"), m(6, 18, "hallucinated"), m(10, 23, "unverifiable")])
    assert visible_text(out) == text
    spans = re.findall(r'<span class="ca-mention (ca-\w+)"[^>]*>([^<]*)</span>', out)
    assert spans == [("ca-supported", "red fire hydrant"), ("ca-unverifiable", " here")]


def test_adjacent_spans_both_render():
    text = "hotdog"
    out = rd.caption_html(text, [m(3, 6, "supported"), m(0, 3, "hallucinated")])
    spans = re.findall(r'<span class="ca-mention (ca-\w+)"[^>]*>([^<]*)</span>', out)
    assert spans == [("ca-hallucinated", "hot"), ("ca-supported", "dog")]


def test_offsets_at_and_past_text_end_are_clamped():
    text = "a dog"
    out = rd.caption_html(text, [m(2, 5), m(5, 5), m(4, 99), m(-3, 1, "supported"), m(7, 9)])
    assert visible_text(out) == text
    spans = re.findall(r'<span class="ca-mention (ca-\w+)"[^>]*>([^<]*)</span>', out)
    assert spans == [("ca-supported", "a"), ("ca-hallucinated", "dog")]


def test_empty_and_missing_text():
    assert "(no text)" in rd.caption_html(None, [m(0, 3)])
    assert visible_text(rd.caption_html("", [m(0, 3)])) == ""


def test_normalize_spans_ignores_bad_offsets():
    assert rd.normalize_spans(5, [{"start": "x", "end": 3}, {"start": None, "end": None}, m(1, 2)]) == [(1, 2, m(1, 2))]


def _count_color(img, color, tol=30):
    px = img.convert("RGB").getdata()
    return sum(1 for p in px if all(abs(a - b) <= tol for a, b in zip(p, color, strict=True)))


def test_draw_boxes_gt_and_detector_colours_and_normalized_boxes():
    base = Image.new("RGB", (200, 100), (255, 255, 255))
    objs = [
        {"category": "dog", "bbox": [10, 10, 90, 90], "normalized": False, "origin": "instances"},
        {"category": "cat", "bbox": [0.5, 0.1, 0.95, 0.9], "normalized": True, "origin": "caps_boxes"},
        {"category": "dog", "bbox": [20, 20, 80, 80], "normalized": False, "origin": "detector:gdino", "score": 0.9},
        {"category": "person", "bbox": None, "origin": "chair_captions"},
    ]
    out, counts = rd.draw_boxes(base, objs)
    assert counts == {"gt": 2, "detector": 1, "no_box": 1}
    assert base.getpixel((10, 50)) == (255, 255, 255)  # input untouched
    assert _count_color(out, rd.GT_COLOR) > 200
    assert _count_color(out, rd.DET_COLOR) > 100
    # the normalised box's left edge is at x = 0.5 * 200 = 100
    assert _count_color(out.crop((99, 40, 102, 60)), rd.GT_COLOR) > 10


def test_placeholder_and_compose_with_missing_file(tmp_path: Path):
    img, info = rd.compose_image(None, [{"category": "dog", "bbox": [1, 1, 10, 10], "origin": "instances"}],
                                 width=400, height=300, image_id="42")
    assert info["placeholder"] and "42" in info["message"]
    assert img.size == (400, 300)
    assert _count_color(img, rd.PLACEHOLDER_BG, tol=2) > 400 * 300 / 3
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    img2, info2 = rd.compose_image(bad, [])
    assert info2["placeholder"] and "cannot read" in info2["message"]
    assert img2.size == (640, 480)


def test_format_metric():
    assert rd.format_metric(0.1234, "fraction") == "12.3%"
    assert rd.format_metric(None, "fraction") == "n/a"
    assert rd.format_metric(float("nan"), "words") == "n/a"
    assert rd.format_metric(3.14159, "words") == "3.14"


def test_tooltip_shows_count_verdicts():
    from dashboards.render import mention_tooltip

    tip = mention_tooltip({"verdict": "supported", "canonical": "dog", "reason": "gt", "evidence": "gt",
                           "count_verdict": "count_wrong", "count_stated": "2", "count_true": 1})
    assert "count_wrong: stated 2, image has 1" in tip
    assert "count" not in mention_tooltip({"verdict": "supported", "canonical": "dog", "count_verdict": None})


# ----------------------------------------------------------------------------- untrusted strings and sizes (issue #14)


@pytest.mark.parametrize(
    "hostile",
    ["[click](http://evil.example)", "![t](http://127.0.0.1:9/track.png)", "<img src=x onerror=alert(1)>",
     "www.evil.example", "mail me@evil.example", ":red[alarm] :material/warning:", "$x^2$", "**bold** _it_",
     "# heading\n- item", "`code`", "<https://evil.example>", "[ref]: http://evil.example"],
)
def test_md_shows_text_literally_and_never_a_link(hostile):
    out = rd.md(hostile)
    assert "\n" not in out
    live = re.sub(r"\\.", "", out)  # what CommonMark still interprets after backslash escapes
    assert not re.search(r"[\[\]()<>!*_`$:#]", live)
    shown = re.sub(r"\\(.)", r"\1", out)
    assert not re.search(r"(?i)https?:|www\.|\w@\w", shown)  # GFM autolinks broken by U+2060
    assert shown.replace(rd.WORD_JOINER, "") == " ".join(hostile.split())


@pytest.mark.parametrize(
    ("w", "h", "expected"),
    [(60000, 60000, (2048, 2048)), (60000, 30, (2048, 1)), (320, 240, (320, 240)), (None, 5, (640, 480)),
     ("nan", 1, (640, 480)), (-5, 10, (640, 480)), (1e308, 1e308, (2048, 2048)), ("abc", "x", (640, 480))],
)
def test_placeholder_size_is_capped(w, h, expected):
    assert rd.placeholder_size(w, h)[:2] == expected
    assert rd.placeholder_image(w, h).size == expected


def test_boxes_on_a_scaled_placeholder_follow_the_scale():
    img, info = rd.compose_image(None, [{"category": "dog", "bbox": [0, 0, 30000, 30000], "normalized": False,
                                         "origin": "instances"}], width=60000, height=60000, image_id="1")
    assert img.size == (2048, 2048) and info["placeholder"] and info["gt"] == 1
    assert img.getpixel((1100, 1100)) != rd.GT_COLOR and img.getpixel((1024, 500))[:3] == rd.GT_COLOR


def test_oversized_image_is_not_decoded(tmp_path: Path, monkeypatch):
    p = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(p)
    monkeypatch.setattr(rd, "MAX_IMAGE_PIXELS", 100_000)
    img, info = rd.compose_image(p, [], width=400, height=300)
    assert info["placeholder"] and "too large" in info["message"] and img.size == (400, 300)
