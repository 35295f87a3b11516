"""summary.json validation on read: impossible values and foreign runs are exit 2 naming the
file and the JSON path, for gate, compare and report alike (issue #14)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from caption_audit.cli import main
from caption_audit.errors import InputError
from caption_audit.summary_schema import validate_summary
from tests.demo_run import demo_run


@pytest.fixture(scope="module")
def summary(tmp_path_factory) -> dict:
    return json.loads((demo_run(tmp_path_factory.mktemp("demo") / "run") / "summary.json").read_text())


def _set(doc: dict, path: str, value) -> None:
    *head, last = path.split(".")
    for key in head:
        doc = doc[key]
    doc[last] = value


DAMAGES = [
    ("sources.llava.metrics.chair_i.value", -math.inf, "expected a finite number or null, got -Infinity"),
    ("sources.llava.metrics.chair_i.value", math.nan, "got NaN"),
    ("sources.llava.metrics.chair_i.value", -0.2, "cannot be negative"),
    ("sources.llava.metrics.coverage.value", 1.5, "must lie in [0, 1]"),
    ("sources.llava.metrics.chair_i.value", False, "got False"),
    ("sources.llava.metrics.chair_i.value", "0.1", "got '0.1'"),
    ("sources.llava.metrics.chair_i.ci_low", 0.9, "interval is inverted"),
    ("sources.llava.metrics.halluc_per_100w.value", -1.0, "cannot be negative"),
    ("sources.llava.counts.scored", -3, "expected a count"),
    ("sources.llava.counts", "many", "expected an object, got a string"),
    ("sources.llava.metrics", [], "expected an object, got a list"),
    ("metrics.chair_i.higher_is_better", "false", "must be true, false or null, got 'false'"),
    ("metrics.chair_i.higher_is_better", 0, "must be true, false or null"),
    ("tool.name", "other-tool", "not a caption-audit run folder"),
    ("tool", None, "not a caption-audit run folder"),
    ("schema_version", 99, "unsupported schema version 99"),
    ("schema_version", "1", "unsupported schema version '1'"),
    ("bootstrap.confidence", 95, "between 0 and 1"),
    ("sources", None, "expected an object, got null"),
]


@pytest.mark.parametrize(("where", "value", "message"), DAMAGES)
def test_damaged_summary_names_file_and_json_path(summary, where, value, message):
    doc = json.loads(json.dumps(summary))
    _set(doc, where, value)
    field = where if where != "tool" else "tool.name"
    with pytest.raises(InputError, match=None) as exc:
        validate_summary(doc, "runs/x/summary.json")
    text = str(exc.value)
    assert text.startswith(f"runs/x/summary.json field '{field}': ") and message in text, text


def test_real_summary_passes_unchanged(summary):
    assert validate_summary(summary, "s.json") is summary


@pytest.mark.parametrize("command", [["gate", "{run}", "--max", "chair_i=0.5"], ["report", "{run}"],
                                     ["compare", "{run}"], ["gate", "{good}", "--baseline", "{run}"]])
def test_commands_exit_2_on_impossible_values(summary, tmp_path: Path, capsys, command):
    good = demo_run(tmp_path / "unused")
    run = tmp_path / "bad"
    shutil.copytree(good, run)
    doc = json.loads(json.dumps(summary))
    doc["sources"]["llava"]["metrics"]["chair_i"]["value"] = -math.inf
    (run / "summary.json").write_text(json.dumps(doc))
    code = main([a.format(run=run, good=good) for a in command])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "field 'sources.llava.metrics.chair_i.value'" in err and str(run / "summary.json") in err
