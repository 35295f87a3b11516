"""Position of errors in a caption (caption_audit/quality/position.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from caption_audit.quality.position import mention_positions, position_curves, relative_position
from caption_audit.quality.text import sentence_index, sentence_spans
from tests.conftest import shared

TEXT = "A dog sits on a sofa. A cat sleeps nearby.\n\nThere is a lamp"


@pytest.mark.parametrize("start, frac, sent", [
    (0, 0.0, 0), (2, round(2 / len(TEXT), 4), 0), (24, round(24 / len(TEXT), 4), 1),
    (TEXT.index("lamp"), round(TEXT.index("lamp") / len(TEXT), 4), 2),
    (len(TEXT), None, None), (-1, None, None),
])
def test_relative_position(start, frac, sent):
    assert relative_position(TEXT, start) == (frac, sent)


@pytest.mark.parametrize("text, spans", [
    ("A dog. A cat!\n\nA bird", [(0, 6), (7, 13), (15, 21)]),
    ("A dog", [(0, 5)]),
    ("  A dog.  ", [(2, 8)]),
    ("It costs 3.5 dollars. Next.", [(0, 21), (22, 27)]),
    ('He said "hi." Then left.', [(0, 13), (14, 24)]),
    ("", []),
])
def test_sentence_spans(text, spans):
    assert sentence_spans(text) == spans


def test_sentence_index_between_sentences_is_the_next_one():
    spans = sentence_spans("A dog.   A cat.")
    assert [sentence_index(spans, i) for i in (0, 6, 7, 9, 15)] == [0, 1, 1, 1, None]


def _mentions():
    caps = pd.DataFrame({"caption_id": ["c1", "c2", "c3"],
                         "caption": [TEXT, "A horse. A boat.", None]})
    men = pd.DataFrame({
        "caption_id": ["c1", "c1", "c1", "c2", "c2", "c3", "c9"],
        "source": ["s", "s", "s", "t", "t", "s", "s"],
        "start": [2, 24, TEXT.index("lamp"), 2, 11, 0, 0],
        "verdict": ["supported", "hallucinated", "unverifiable", "supported", "contradicted",
                    "hallucinated", "hallucinated"],
    })
    return men, caps


def test_mention_positions_and_missing_captions():
    men, caps = _mentions()
    pos = mention_positions(men, caps)
    assert pos["sentence_idx"].tolist()[:5] == [0, 1, 2, 0, 1]
    assert pos["decile"].tolist()[:2] == [0, min(int(24 / len(TEXT) * 10), 9)]
    assert pos["n_sentences"].tolist()[:5] == [3, 3, 3, 2, 2]
    assert pos["char_frac"].isna().tolist()[5:] == [True, True]  # no caption text: undefined


def test_curves_count_judged_only_and_leave_empty_bins_undefined():
    men, caps = _mentions()
    curves = position_curves(mention_positions(men, caps))
    sent = curves["sentence"].set_index(["source", "bin"])
    assert sent.loc[("s", 0), ["n_judged", "n_bad"]].tolist() == [1, 0]
    assert sent.loc[("s", 1), ["n_judged", "n_bad"]].tolist() == [1, 1]
    assert sent.loc[("s", 2), "n_judged"] == 0 and pd.isna(sent.loc[("s", 2), "rate"])  # unverifiable left out
    assert sent.loc[("t", 1), "rate"] == 1.0  # a contradicted claim counts as an error
    dec = curves["decile"]
    assert len(dec) == 20 and set(dec["bin"]) == set(range(10))
    assert dec["n_judged"].sum() == 4


def test_sentence_bins_pool_late_sentences():
    text = " ".join(f"Sentence {i} has a dog." for i in range(12))
    starts = [text.index(f"Sentence {i} ") for i in range(12)]
    men = pd.DataFrame({"caption_id": ["c"] * 12, "source": ["s"] * 12, "start": starts,
                        "verdict": ["hallucinated"] * 12})
    curve = position_curves(mention_positions(men, pd.DataFrame({"caption_id": ["c"], "caption": [text]})))["sentence"]
    assert curve["bin"].max() == 7 and curve.set_index("bin").loc[7, "n_judged"] == 5


def test_real_opera_mentions_from_the_parser(parser):
    path = shared("opera", "chair_eval_results", "llava-1.5", "greedy.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()[:30]]
    parsed = parser.parse([r["caption"] for r in rows])
    men = [{"caption_id": str(i), "source": "llava", "start": m.start, "verdict": "supported"}
           for i, p in enumerate(parsed) for m in p.mentions]
    caps = pd.DataFrame({"caption_id": [str(i) for i in range(len(rows))], "caption": [r["caption"] for r in rows]})
    pos = mention_positions(pd.DataFrame(men), caps)
    assert pos["sentence_idx"].notna().all() and pos["char_frac"].between(0, 1).all()
    for row in pos.head(60).itertuples():  # the mention lies inside the sentence it is given
        text = rows[int(row.caption_id)]["caption"]
        s, e = sentence_spans(text)[row.sentence_idx]
        assert s <= row.start < e
    assert position_curves(pos)["sentence"]["n_judged"].sum() == len(men)
