"""`caption-audit evaluate`: agreement of a real run with the hand-labelled set in tests/data/semantic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caption_audit.errors import InputError
from caption_audit.semantic.evaluate import average_precision, evaluate_run, load_labels

DATA = Path(__file__).parent / "data"
LABELS = DATA / "semantic" / "labels.jsonl"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from caption_audit.cli import main

    out = tmp_path_factory.mktemp("semantic") / "run"
    rc = main(["run", "--captions", str(DATA / "semantic" / "captions.jsonl"),
               "--objects", str(DATA / "labelled" / "objects.jsonl"), "--out", str(out), "--quiet", "--bootstrap", "50"])
    assert rc == 0
    return out


def test_agreement_with_human_labels(run_dir):
    res = evaluate_run(run_dir, LABELS)
    assert res["n_matched"] == 84 and res["n_missing"] == 0
    c = res["caption"]
    assert c["n_positive"] == 24
    assert c["f1"] >= 0.95 and c["ap"] >= 0.95
    assert res["objects"]["f1"] >= 0.95
    assert res["spans"]["n"] >= 20 and res["spans"]["f1"] >= 0.95
    assert set(res["per_source"]) == {"coco", "llava", "sharegpt4v"}


def test_disagreement_is_measured(run_dir, tmp_path):
    rows = [json.loads(line) for line in LABELS.read_text().splitlines()]
    flipped = []
    for r in rows[:10]:  # flip ten labels: a false "hallucinated" or a missed one
        r = {"caption_id": r["caption_id"], "hallucinated": not r["hallucinated"]}
        flipped.append(r)
    f = tmp_path / "flipped.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in flipped + rows[10:]))
    res = evaluate_run(run_dir, f)
    c = res["caption"]
    assert c["fp"] + c["fn"] == 10
    assert c["f1"] < 0.9


def test_cli_prints_and_writes_json(run_dir, tmp_path, capsys):
    import argparse

    from caption_audit.semantic.cli import register, run

    p = argparse.ArgumentParser()
    register(p.add_subparsers())
    args = p.parse_args(["evaluate", str(run_dir), "--labels", str(LABELS), "--json", str(tmp_path / "e.json")])
    assert run(args) == 0
    assert "caption level" in capsys.readouterr().out
    assert json.loads((tmp_path / "e.json").read_text())["caption"]["n"] == 84


@pytest.mark.parametrize("line,field", [
    ('{"caption_id": "a"}', "hallucinated"),
    ('{"hallucinated": true}', "caption_id"),
    ('{"caption_id": "a", "hallucinated": true, "spans": [[5, 2]]}', "spans"),
    ('{"caption_id": "a", "hallucinated": "yes"}', "hallucinated"),
    ('{"caption_id": "a", "hallucinated": false, "hallucinated_objects": ["dog"]}', "hallucinated"),
    ('not json', None),
])
def test_bad_label_lines_name_file_line_and_field(tmp_path, line, field):
    f = tmp_path / "l.jsonl"
    f.write_text('{"caption_id": "ok", "hallucinated": false}\n' + line + "\n")
    with pytest.raises(InputError) as e:
        load_labels(f)
    assert f"{f}:2" in str(e.value)
    if field:
        assert f"field '{field}'" in str(e.value)


def test_no_matching_ids_is_an_error(run_dir, tmp_path):
    f = tmp_path / "l.jsonl"
    f.write_text('{"caption_id": "nope", "hallucinated": true}\n')
    with pytest.raises(InputError, match="none of the 1 labelled caption ids"):
        evaluate_run(run_dir, f)


def test_average_precision():
    assert average_precision([0.9, 0.8, 0.1], [True, False, True]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([0.5, 0.5], [True, False]) == 0.5  # ties: negatives first
    assert average_precision([0.1], [False]) is None
