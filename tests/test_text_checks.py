"""Caption checks: the stop-word list is spaCy's, without importing spaCy."""

from __future__ import annotations

import re

import pytest

from caption_audit.text.checks import function_words, text_problem


def test_stop_words_are_spacys_letter_words():
    from caption_audit.text.nlp import torch_hidden

    with torch_hidden():
        from spacy.lang.en.stop_words import STOP_WORDS
    assert function_words() == frozenset(w for w in STOP_WORDS if re.fullmatch(r"[^\W\d_]+", w))


@pytest.mark.parametrize("text, problem", [
    (None, "empty caption"),
    ("   ", "empty caption"),
    ("... !!!", "empty caption (no words)"),
    ("Ein Hund läuft über die Wiese", "non-English caption (no English function words)"),
    ("A dog runs across the grass.", None),
    ("dog grass ball frisbee tree", None),  # vocabulary words, no stop word
    ("Кошка сидит на столе", "non-English caption (mostly non-Latin script)"),
])
def test_text_problem(text, problem):
    assert text_problem(text) == problem
