"""`caption-audit report`: honest cells (small samples, no ground truth), 80-column tables,
--json FILE, --markdown, --html (self-contained, escaped, bounded), and help on every flag."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from caption_audit.cli import build_parser, main
from caption_audit.commands.report_views import annotate, format_cell, to_html
from caption_audit.demo import data_dir

EVIL = '<script>alert(1)</script>|`x`'


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One source with a single caption on one image (the 28.6% [28.6%, 28.6%] case), one with an
    evil name, on the demo's instances."""
    d = data_dir()
    tmp = tmp_path_factory.mktemp("report")
    caps = tmp / "caps.jsonl"
    caps.write_text("".join(json.dumps(r) + "\n" for r in [
        {"image_id": 900001, "caption": "A dog, a horse and a giraffe stand next to a motorcycle and a bus.",
         "source": "one"},
        {"image_id": 900001, "caption": f"A horse near a bus. {EVIL}", "source": EVIL},
        {"image_id": 900002, "caption": "A person and a giraffe.", "source": EVIL},
    ]))
    out = tmp / "run"
    assert main(["run", "--captions", str(caps), "--coco-instances", str(d / "instances.json"),
                 "--out", str(out), "--quiet", "--bootstrap", "50"]) == 0
    return out


@pytest.fixture(scope="module")
def no_gt_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nogt")
    caps = tmp / "caps.jsonl"
    caps.write_text("".join(json.dumps({"image_id": i, "caption": "A dog runs on the grass."}) + "\n"
                            for i in range(3)))
    out = tmp / "run"
    assert main(["run", "--captions", str(caps), "--out", str(out), "--quiet", "--bootstrap", "20"]) == 0
    return out


def test_one_image_source_has_no_fake_ci(small_run, capsys):
    summary = json.loads((small_run / "summary.json").read_text())
    block = summary["sources"]["one"]
    assert block["small_sample"] is True and "undefined" in block["warning"]
    assert main(["report", str(small_run), "--width", "200"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if "│ one" in row)
    assert "n/a (n=1)" in line
    assert not re.search(r"(\d+\.\d%) \[\1, \1\]", line)  # never x [x, x]
    assert "Small sample" in out and "no CI (n/a)" in out


def test_no_ground_truth_reads_undefined_not_zero(no_gt_run, capsys):
    assert main(["report", str(no_gt_run), "--width", "200"]) == 0
    out = capsys.readouterr().out
    assert "0.00 [0.00, 0.00]" not in out
    row = next(r for r in out.splitlines() if "│ caps" in r)
    assert row.count("— (no ground truth)") == 4  # CHAIR-i, CHAIR-s, coverage, hall/100w
    assert "No ground truth" in out


@pytest.mark.parametrize(("entry", "unit", "expected"), [
    ({"value": 0.286, "ci_low": 0.2, "ci_high": 0.35}, "fraction", "28.6% [20.0%, 35.0%]"),
    ({"value": 0.286, "ci_note": "n/a (n=1)"}, "fraction", "28.6% n/a (n=1)"),
    ({"value": None, "status": "no_mentions"}, "fraction", "— (no mentions)"),
    ({"value": None, "status": "no_ground_truth"}, "per_100_words", "— (no ground truth)"),
    ({"value": 10.24, "ci_low": 9.0, "ci_high": 11.0}, "words", "10.24"),
    (None, "fraction", "— (missing)"),
])
def test_format_cell(entry, unit, expected):
    assert format_cell(entry, unit) == expected


def test_annotate_drops_ci_of_one_image_and_undefined_without_gt():
    s = {"gt_mode": "none", "sources": {"a": {"counts": {"images": 1}, "metrics": {
        "halluc_per_100w": {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0},
        "n_words_mean": {"value": 7.0, "ci_low": 7.0, "ci_high": 7.0}}}}}
    a = annotate(s)["sources"]["a"]
    assert a["metrics"]["halluc_per_100w"]["value"] is None
    assert a["metrics"]["n_words_mean"] == {"value": 7.0, "ci_low": None, "ci_high": None, "ci_note": "n/a (n=1)"}
    assert s["sources"]["a"]["metrics"]["halluc_per_100w"]["value"] == 0.0  # input untouched


def test_table_fits_80_columns_without_wrapped_cells(small_run, capsys):
    assert main(["report", str(small_run), "--width", "80"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines() if line.startswith(("┃", "│", "┏", "└"))) <= 80
    n_tables = out.count("┏")
    assert n_tables >= 2 and out.count("│ one ") == n_tables  # split tables, one line per row: no wrapped cells
    assert "CHAIR-i" in out and "hall/100w" in out


def test_json_writes_a_file_or_stdout(small_run, tmp_path, capsys):
    target = tmp_path / "r.json"
    assert main(["report", str(small_run), "--json", str(target)]) == 0
    data = json.loads(target.read_text())
    assert set(data["sources"]) == {"one", EVIL}
    capsys.readouterr()
    assert main(["report", str(small_run), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["gt_mode"] == "instances"


def test_html_is_self_contained_escaped_and_highlighted(small_run, tmp_path):
    target = tmp_path / "r.html"
    assert main(["report", str(small_run), "--html", str(target), "--markdown", str(tmp_path / "r.md")]) == 0
    page = target.read_text()
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "&lt;script&gt;" in page
    assert page.count("<svg") == 4
    assert '<mark title="hallucinated: dog">dog</mark>' in page  # not in image 900001's instances
    md = (tmp_path / "r.md").read_text()
    assert "\\|" in md and "<script>" not in md and "n/a (n=1)" in md


def test_html_bounded_to_top_lists(small_run):
    summary = json.loads((small_run / "summary.json").read_text())
    worst = [{"caption_id": str(i), "source": "s", "image_id": "1", "caption": "x" * 10_000,
              "n_hallucinated": 1, "n_mentions": 1, "spans": [(0, 1, "dog")]} for i in range(20)]
    assert len(to_html(summary, small_run, worst=worst)) < 20 * 3_500 + 20_000


def _actions(parser: argparse.ArgumentParser, path: str = "caption-audit"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_flag_has_help():
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in _actions(build_parser())
               if not a.help]
    assert not missing, f"flags without help: {missing}"
