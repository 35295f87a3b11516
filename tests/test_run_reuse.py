"""The reference pass's parses reused by the scoring pass (one process), and the ASCII fast path
of ``text_problem``: both must give exactly what they replace."""

from __future__ import annotations

import random
import string

from caption_audit.engine.references import ParseReuse, parse_references
from caption_audit.text.checks import text_problem

TEXTS = [
    "Two hot dogs on a plate, no people.",
    "A man riding a bike next to a red bus.",
    "The orange cat is not on the glass table.",
    "A dog.",
    "Two hot dogs on a plate, no people.",  # the same text twice
]


def test_parse_reuse_equals_fresh_parse(parser):
    reuse = ParseReuse()
    rows = [(f"c{i}", "1", t) for i, t in enumerate(TEXTS)] + [("empty", "1", "   ")]
    parse_references((parser, False, reuse), rows)
    assert len(reuse) == 4  # one kept parse per distinct text; the empty text is not parsed
    texts = [*TEXTS, "A giraffe eating leaves."]
    got = reuse.parse(parser, texts)
    assert got == parser.parse(texts)
    assert len(reuse) == 0  # each kept parse is handed out once; the duplicate text is parsed again
    assert got[0] is not got[4]


def test_parse_reuse_limit(parser):
    reuse = ParseReuse(limit=2)
    parse_references((parser, False, reuse), [(f"c{i}", "1", t) for i, t in enumerate(TEXTS)])
    assert len(reuse) == 2
    assert reuse.parse(parser, TEXTS) == parser.parse(TEXTS)


def _text_problem_slow(text):
    """text_problem's first checks as they were written before the ASCII fast path."""
    if text is None or not text.strip():
        return "empty caption"
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "empty caption (no words)"
    if sum(1 for c in letters if c < "\u0250") / len(letters) < 0.5:
        return "non-English caption (mostly non-Latin script)"
    return "rest"


def test_text_problem_ascii_fast_path_same_answers():
    rng = random.Random(0)
    alphabet = string.printable + "éßдж漢"
    texts = ["", " ", "123 456", "--!!", "a", "A dog on a mat", "это собака", "Ünïcode çafé dog"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for t in texts:
        slow = _text_problem_slow(t)
        got = text_problem(t)
        assert got == slow or (slow == "rest" and got not in ("empty caption", "empty caption (no words)",
                                                             "non-English caption (mostly non-Latin script)")), t
