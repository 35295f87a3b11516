"""Untrusted text (source names, ids, file and class names, messages) as inert Markdown.

One escaper for every Markdown output: the dashboard (:func:`dashboards.render.md`) and the
gate's Markdown report. Backslash-escaping disarms links, images, HTML tags, emphasis and
directives; GFM autolinks (``http://``, ``www.``, ``a@b.c``) survive backslash escapes, so
an invisible word joiner (U+2060) is put after each scheme, ``www`` and ``@``. Line breaks
become spaces so a string cannot start a new Markdown block.
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"
ALL_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
"""Every ASCII punctuation character (CommonMark renders ``\\x`` as a literal ``x``)."""
TABLE_CELL = "\\`*[]()<>!|~&$:"
"""Enough inside a Markdown table cell: links, images, tags, code, emphasis, the cell border."""

_AUTOLINK = re.compile(r"(?i)(https?|ftps?|mailto|www|file|javascript|data|xmpp)(?=[:.])")


def md_escape(text: object, chars: str = ALL_PUNCTUATION) -> str:
    """``text`` as Markdown that shows literally: never a link, image, tag or autolink.

    Args:
        text: any value (``str()`` is taken).
        chars: the characters to backslash-escape (default: all ASCII punctuation).
    """
    s = " ".join(str(text).split())
    s = _AUTOLINK.sub(lambda m: m.group(1) + WORD_JOINER, s).replace("@", "@" + WORD_JOINER)
    return "".join("\\" + ch if ch in chars else ch for ch in s)
