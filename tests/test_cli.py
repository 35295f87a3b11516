"""The CLI on bad and good input: clear messages, exit codes, no silent drops."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from caption_audit.cli import main


@pytest.fixture
def objects(tmp_path):
    p = tmp_path / "objects.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [
        {"image_id": 1, "objects": ["dog", "frisbee"]},
        {"image_id": 2, "objects": [{"label": "cat", "bbox": [1, 2, 30, 40]}]},
        {"image_id": 3, "objects": []},
    ]) + "\n")
    return p


def test_bad_records_become_skipped_rows_with_reasons(tmp_path, objects, capsys):
    caps = tmp_path / "caps.jsonl"
    caps.write_text("\n".join([
        json.dumps({"image_id": 1, "caption": "A dog catches a frisbee next to a bench."}),
        '{"image_id": 2, "caption": "broken',
        json.dumps({"caption": "no image id here"}),
        json.dumps({"image_id": 2, "caption": "   "}),
        json.dumps({"image_id": 2, "caption": "Un chat noir dort sur le canapé rouge."}),
        json.dumps({"image_id": 99, "caption": "A cat on a couch."}),
        json.dumps({"image_id": 3, "caption": "An empty room with no people."}),
    ]) + "\n")
    out = tmp_path / "run"
    assert main(["run", "--captions", str(caps), "--objects", str(objects), "--out", str(out), "--quiet"]) == 0
    rows = pd.read_parquet(out / "captions.parquet")
    assert len(rows) == 7  # every input line is a row
    status = list(rows["status"])
    assert status[0] == "scored" and status[6] == "scored"
    assert status[1].startswith("skipped: invalid JSON")
    assert "line 2" in rows["origin"][1]
    assert status[2] == "skipped: missing field 'image_id'"
    assert status[3] == "skipped: empty caption"
    assert status[4].startswith("skipped: non-English caption")
    assert status[5] == "skipped: unknown image id '99' (not in any ground-truth file)"
    first = rows.iloc[0]
    assert list(first["mentioned"]) == ["dog", "frisbee", "bench"]
    assert list(first["hallucinated"]) == ["bench"] and list(first["covered"]) == ["dog", "frisbee"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["input"] == 7 and summary["counts"]["skipped"] == 5
    assert summary["counts"]["skipped_by_reason"] == {
        "invalid JSON": 1, "missing field 'image_id'": 1, "empty caption": 1, "non-English caption": 1,
        "unknown image id": 1}
    # the room with no people: negated person, nothing hallucinated, nothing to cover
    last = rows.iloc[6]
    assert list(last["mentioned"]) == []
    assert pd.isna(last["coverage"])


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    rc = main(["run", "--captions", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r"), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "nope.jsonl" in err and "no such file" in err and "Traceback" not in err


def test_unreadable_ground_truth_names_the_file(tmp_path, capsys):
    bad = tmp_path / "objects.json"
    bad.write_text("{not json")
    caps = tmp_path / "caps.jsonl"
    caps.write_text(json.dumps({"image_id": 1, "caption": "A dog."}) + "\n")
    rc = main(["run", "--captions", str(caps), "--objects", str(bad), "--out", str(tmp_path / "r"), "--quiet"])
    assert rc == 2
    assert "objects.json" in capsys.readouterr().err


def test_no_ground_truth_everything_unverifiable(tmp_path):
    caps = tmp_path / "caps.csv"
    caps.write_text("image_id,caption,source\n5,A dog on a couch.,mymodel\n")
    out = tmp_path / "run"
    assert main(["run", "--captions", str(caps), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gt_mode"] == "none"
    m = summary["sources"]["mymodel"]["metrics"]
    assert m["chair_i"]["value"] is None and m["chair_i"]["status"] == "no_mentions"
    assert set(pd.read_parquet(out / "mentions.parquet")["reason"]) == {"no_ground_truth"}


def test_report_json_and_table(tmp_path, objects, capsys):
    caps = tmp_path / "caps.jsonl"
    caps.write_text(json.dumps({"image_id": 1, "caption": "A dog and a cat."}) + "\n")
    out = tmp_path / "run"
    main(["run", "--captions", str(caps), "--objects", str(objects), "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main(["report", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sources"]["caps"]["metrics"]["chair_i"]["value"] == 0.5
    assert main(["report", str(out)]) == 0
    assert "CHAIR-i" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2  # not a run folder


def test_demo_runs_the_bundled_sample(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for source in ("coco", "llava", "sharegpt4v"):
        assert source in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {**summary["counts"], "input": 98, "scored": 98}
    llava = summary["sources"]["llava"]["metrics"]
    coco = summary["sources"]["coco"]["metrics"]
    assert llava["chair_s"]["value"] > coco["chair_s"]["value"]


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for cmd in ("run", "report", "demo", "gate", "compare", "dashboard"):
        assert cmd in text
