"""Cheap checks that decide whether a caption text can be scored at all."""

from __future__ import annotations

import functools
import re
from importlib import resources

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ASCII_LETTER = re.compile(r"[A-Za-z]")


_EXTRA = frozenset({"near", "next", "beside", "behind", "inside", "outside", "onto", "towards", "atop"})


@functools.lru_cache(maxsize=1)
def function_words() -> frozenset[str]:
    """English stop words (spaCy's list, all-letter entries; ``vocab/stop_words.yaml``)."""
    from caption_audit.yamldata import load_yaml

    raw = resources.files("caption_audit.text").joinpath("vocab", "stop_words.yaml").read_bytes()
    return frozenset(load_yaml(raw)["words"])


@functools.lru_cache(maxsize=1)
def _vocab_words() -> frozenset[str]:
    from caption_audit.text.vocab import default_vocabulary

    return frozenset(default_vocabulary().table)


def text_problem(text: str | None) -> str | None:
    """Why a caption cannot be scored (``"empty caption"``, ``"non-English caption ..."``), or None.

    Non-English detection is deliberately conservative: a text is flagged when most of its
    letters are outside the Latin script, or when it has five or more words and not one
    English stop word (spaCy's list) or vocabulary word.
    """
    if text is None or not text.strip():
        return "empty caption"
    if text.isascii():  # the common case: every letter is A-Z/a-z, so Latin
        if _ASCII_LETTER.search(text) is None:
            return "empty caption (no words)"
    else:
        letters = [c for c in text if c.isalpha()]
        if not letters:
            return "empty caption (no words)"
        latin = sum(1 for c in letters if c < "\u0250")
        if latin / len(letters) < 0.5:
            return "non-English caption (mostly non-Latin script)"
    stop = function_words()
    vocab = _vocab_words()
    n_words = 0
    for m in _WORD.finditer(text):  # an English word ends the search (usually the first word)
        w = m.group().lower()
        if w in stop or w in _EXTRA or w in vocab:
            return None
        n_words += 1
    if n_words < 5:
        return None
    return "non-English caption (no English function words)"
