"""Text helpers shared by the quality checks: normal form, word tokens, sentence spans."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_NONWORD = re.compile(r"[\W_]+", re.UNICODE)
# A sentence ends at . ! ? … (plus closing quotes/brackets) followed by white space, or at a
# blank/new line. Decimal numbers ("3.5") and "e.g." style abbreviations mid-word do not split.
_SENT_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n+")


@functools.lru_cache(maxsize=1)
def settings() -> dict[str, Any]:
    """The thresholds and word lists of ``caption_audit/quality/quality.yaml``."""
    return yaml.safe_load((Path(__file__).with_name("quality.yaml")).read_text(encoding="utf-8"))


def words(text: str) -> list[str]:
    """Lower-case word tokens (letters/digits, inner apostrophes kept): ``"It's a dog."`` ->
    ``["it's", "a", "dog"]``."""
    return _WORD.findall(text.lower())


def normalise(text: str) -> str:
    """Lower case, punctuation and white space collapsed to single spaces, stripped.

    >>> normalise("  The image features a DOG!\\n")
    'the image features a dog'
    """
    return _NONWORD.sub(" ", text.lower()).strip()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text`` (white space trimmed).

    >>> sentence_spans("A dog. A cat!\\n\\nA bird")
    [(0, 6), (7, 13), (15, 21)]
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENT_END.finditer(text):
        _add_span(text, pos, m.end() if m.group()[0] != "\n" else m.start(), spans)
        pos = m.end()
    _add_span(text, pos, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def sentence_index(spans: list[tuple[int, int]], offset: int) -> int | None:
    """Index of the sentence holding character ``offset`` (the next one when it falls between
    sentences); None when ``spans`` is empty or the offset lies after the last sentence."""
    import bisect

    if not spans or offset >= spans[-1][1]:
        return None
    i = bisect.bisect_right([s for s, _ in spans], offset) - 1
    if i < 0:
        return 0
    return i if offset < spans[i][1] else i + 1
