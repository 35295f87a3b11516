"""benchmarks/faithscore_agreement.py: human flags from FaithScore, P/R/F1, both tool columns."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.faithscore_agreement import compare, load_answers, prf
from tests.conftest import shared


@pytest.mark.parametrize(
    ("human", "tool", "p", "r"),
    [
        ([True, True, False, False], [True, False, True, False], 0.5, 0.5),
        ([True, False], [False, False], None, 0.0),  # the tool flags nothing: precision undefined
        ([False, False], [True, False], 0.0, None),  # nothing to find: recall undefined
    ],
)
def test_prf(human, tool, p, r):
    got = prf(human, tool)
    assert got["precision"] == p and got["recall"] == r
    assert got["tp"] + got["fp"] + got["fn"] + got["tn"] == len(human)
    if p is None or r is None:
        assert got["f1"] is None


def test_load_answers_reads_stage2_zero_as_hallucinated():
    answers = load_answers(shared("faithscore", "annotation.jsonl"))
    assert len(answers) == 180 and len({a["image_id"] for a in answers}) == 30
    first = answers[0]  # "There is a ramp.": 0 in the first answer
    assert first["image_id"] == "525439" and first["human_any"] is True and first["human_existence"] is True
    assert all(a["human_any"] or not a["human_existence"] for a in answers)


def test_compare_reports_both_tool_columns_when_present(tmp_path):
    answers = [{"caption_id": str(i), "image_id": "1", "human_any": h, "human_existence": h}
               for i, h in enumerate([True, True, False, False])]
    pd.DataFrame({"caption_id": ["0", "1", "2", "3"], "source": "faithscore", "status": "scored",
                  "has_hallucination": [True, False, False, False],
                  "n_contradicted": [0, 2, 1, None]}).to_parquet(tmp_path / "captions.parquet")
    res = compare(answers, tmp_path)
    rows = {(r["human"], r["tool"]): r for r in res["rows"]}
    assert set(res["tool_positive"]) == {"has_hallucination", "any_contradicted_claim", "either"}
    assert rows[("any_fact", "has_hallucination")]["precision"] == 1.0
    assert rows[("any_fact", "any_contradicted_claim")]["tp"] == 1
    assert rows[("any_fact", "either")]["recall"] == 1.0
