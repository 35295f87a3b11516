"""Claim-level agreement (``caption-audit evaluate`` with claim labels) on a real demo run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from caption_audit.cli import main
from caption_audit.errors import InputError
from caption_audit.semantic.evaluate_claims import (
    evaluate_claims,
    is_claim_label_file,
    load_claim_labels,
    match_claims,
)
from tests.demo_run import demo_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_run(tmp_path_factory.mktemp("demo") / "run")


def _label(row: pd.Series, label: object) -> dict:
    return {"caption_id": row["caption_id"], "kind": row["kind"], "span": [int(row["start"]), int(row["end"])],
            "subject": row["subject"], "value": row["value"], "label": label}


def test_counts_follow_the_labels(run: Path, tmp_path: Path) -> None:
    claims = pd.read_parquet(run / "claims.parquet")
    con = claims[claims.verdict == "contradicted"]
    sup = claims[claims.verdict == "supported"]
    assert len(con) >= 2 and len(sup) >= 2, "the demo sample has contradicted and supported claims"
    rows = [_label(con.iloc[0], False),   # alarm on a false claim: tp
            _label(con.iloc[1], True),    # alarm on a true claim: fp
            _label(sup.iloc[0], False),   # false claim supported: fn
            _label(sup.iloc[1], True),    # true claim supported: neither
            _label(sup.iloc[1], "unclear")]
    p = tmp_path / "labels.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert is_claim_label_file(p)
    res = evaluate_claims(run, p)
    a = res["all"]
    assert (a["tp"], a["fp"], a["fn"]) == (1, 1, 1)
    assert a["precision"] == pytest.approx(0.5) and a["recall"] == pytest.approx(0.5)
    assert a["support_precision"] == pytest.approx(0.5)
    assert res["n_unclear"] == 1 and a["found"] == 4
    assert main(["evaluate", str(run), "--labels", str(p), "--json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["all"]["tp"] == 1


def test_a_claim_the_run_did_not_find_is_a_miss() -> None:
    labels = [{"caption_id": "c", "kind": "count", "span": (0, 9), "label": False},
              {"caption_id": "c", "kind": "count", "span": (20, 30), "label": False}]
    pairs = match_claims(labels, {("c", "count"): [(2, 8, "contradicted")]})
    assert [v for _, v in pairs] == ["contradicted", None]  # one-to-one: the run claim is used once


@pytest.mark.parametrize(("line", "field"), [
    ('{"caption_id": "a", "kind": "size", "span": [0, 1], "label": true}', "kind"),
    ('{"caption_id": "a", "kind": "count", "span": [3, 1], "label": true}', "span"),
    ('{"caption_id": "a", "kind": "count", "span": [0, 1], "label": "yes"}', "label"),
    ('{"kind": "count", "span": [0, 1], "label": true}', "caption_id"),
])
def test_bad_label_lines_name_the_field(tmp_path: Path, line: str, field: str) -> None:
    p = tmp_path / "l.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(InputError) as e:
        load_claim_labels(p)
    assert e.value.field == field and e.value.line == 1
