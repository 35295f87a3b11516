"""Cheap checks that decide whether a caption text can be scored at all."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_FUNCTION_WORDS = frozenset(
    ["the", "a", "an", "of", "in", "on", "with", "and", "is", "are", "to", "at", "for", "by", "it", "this", "that", "near", "next", "there", "some", "two", "his", "her", "their", "its", "from", "under", "over", "while", "as", "be", "or"]
)


def text_problem(text: str | None) -> str | None:
    """Why a caption cannot be scored (``"empty caption"``, ``"non-English caption ..."``), or None.

    Non-English detection is deliberately conservative: a text is flagged when most of its
    letters are outside the Latin script, or when it has five or more words and not one
    common English function word.
    """
    if text is None or not text.strip():
        return "empty caption"
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "empty caption (no words)"
    latin = sum(1 for c in letters if c < "\u0250")
    if latin / len(letters) < 0.5:
        return "non-English caption (mostly non-Latin script)"
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) >= 5 and not any(w in _FUNCTION_WORDS for w in words):
        return "non-English caption (no English function words)"
    return None
