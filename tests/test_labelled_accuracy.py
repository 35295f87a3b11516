"""`caption-audit run` on the hand-labelled set (tests/data/labelled) against the human labels.

78 captions in three styles (COCO, LLaVA, ShareGPT4V), labelled by hand following
docs/labelling-guide.md. Bar: micro F1 >= 0.97 on COCO-80 mentions, and the hallucinated and
covered lists right.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from caption_audit.cli import main

DATA = Path(__file__).parent / "data" / "labelled"


def _prf(pred: list[set], gold: list[set]) -> tuple[float, float, float]:
    tp = sum(len(p & g) for p, g in zip(pred, gold, strict=True))
    fp = sum(len(p - g) for p, g in zip(pred, gold, strict=True))
    fn = sum(len(g - p) for p, g in zip(pred, gold, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("labelled") / "run"
    rc = main(["run", "--captions", str(DATA / "captions.jsonl"), "--objects", str(DATA / "objects.jsonl"),
               "--out", str(out), "--quiet"])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def joined(run_dir):
    got = pd.read_parquet(run_dir / "captions.parquet").set_index("caption_id")
    expected = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines() if line.strip()]
    return got, expected


def test_every_caption_scored(joined):
    got, expected = joined
    assert len(got) == len(expected)
    assert (got["status"] == "scored").all()


@pytest.mark.parametrize("field", ["mentioned", "hallucinated", "covered"])
def test_f1_against_human_labels(joined, field):
    got, expected = joined
    pred = [set(got.loc[e["caption_id"], field]) for e in expected]
    gold = [set(e[field]) for e in expected]
    precision, recall, f1 = _prf(pred, gold)
    wrong = [(e["caption_id"], sorted(p - g), sorted(g - p)) for e, p, g in zip(expected, pred, gold, strict=True) if p != g]
    assert f1 >= 0.97, f"{field}: P={precision:.3f} R={recall:.3f} F1={f1:.3f}; wrong: {wrong}"


@pytest.mark.parametrize("source", ["coco", "llava", "sharegpt4v"])
def test_each_style_is_accurate(joined, source):
    got, expected = joined
    rows = [e for e in expected if got.loc[e["caption_id"], "source"] == source]
    assert rows
    _, _, f1 = _prf([set(got.loc[e["caption_id"], "mentioned"]) for e in rows], [set(e["mentioned"]) for e in rows])
    assert f1 >= 0.95, (source, f1)
