"""Source names: two captions files never merge silently into one source."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from caption_audit.cli import main
from caption_audit.errors import ConfigError
from caption_audit.ingest.naming import assign_source_names
from caption_audit.pipeline import InputSpec
from tests.conftest import shared

DEMO_CAPTIONS = [
    {"image_id": 1, "caption": "A dog catches a frisbee on the grass."},
    {"image_id": 2, "caption": "A cat sleeps on a couch."},
]


def _greedy(tmp_path, model: str, rows=DEMO_CAPTIONS):
    d = tmp_path / model
    d.mkdir(parents=True, exist_ok=True)
    p = d / "greedy.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


@pytest.mark.parametrize(("files", "expected"), [
    # (path, format, explicit source) -> final name (source, else the generic loader's `name` option)
    ([("a/llava-1.5/greedy.jsonl", "generic_captions", None), ("a/minigpt4/greedy.jsonl", "generic_captions", None)],
     ["llava-1.5/greedy", "minigpt4/greedy"]),
    ([("x/m/greedy.jsonl", "generic_captions", None), ("y/m/greedy.jsonl", "generic_captions", None)],
     ["x/m/greedy", "y/m/greedy"]),
    ([("d/detail_23k.json", "llava_conversations", None), ("d/complex_77k.json", "llava_conversations", None)],
     ["llava/detail_23k", "llava/complex_77k"]),
    ([("a/greedy.jsonl", "generic_captions", None), ("b/beam5.jsonl", "generic_captions", None)],
     ["greedy", "beam5"]),  # no collision: plain stems, as before
    ([("a/greedy.jsonl", "generic_captions", "greedy"), ("b/greedy.jsonl", "generic_captions", None)],
     ["greedy", "b/greedy"]),  # a default never takes a name the user gave
])
def test_default_names_are_distinct(files, expected):
    specs, notes = assign_source_names([InputSpec(p, "captions", f, s) for p, f, s in files])
    got = [s.source or s.options.get("name") or p.split("/")[-1].split(".")[0] for s, (p, _f, _s) in zip(specs, files, strict=True)]
    assert got == expected
    assert bool(notes) == (expected != ["greedy", "beam5"])


def test_same_name_given_twice_is_pooled_with_a_warning():
    specs, notes = assign_source_names([InputSpec("p1.jsonl", "captions", "generic_captions", "blip2"),
                                        InputSpec("p2.jsonl", "captions", "generic_captions", "blip2")])
    assert [s.source for s in specs] == ["blip2", "blip2"]
    assert len(notes) == 1 and "pooled" in notes[0] and "p1.jsonl" in notes[0] and "p2.jsonl" in notes[0]


def _run(tmp_path, *argv):
    out = tmp_path / "run"
    assert main(["run", *argv, "--out", str(out), "--quiet", "--no-parser", "--bootstrap", "10"]) == 0
    return pd.read_parquet(out / "captions.parquet"), json.loads((out / "summary.json").read_text())


def test_run_three_greedy_files_gives_three_sources_and_clean_ids(tmp_path, capsys):
    files = [_greedy(tmp_path, m) for m in ("llava-1.5", "minigpt4", "shikra")]
    caps, summary = _run(tmp_path, *[a for f in files for a in ("--captions", str(f))])
    assert sorted(summary["sources"]) == ["llava-1.5/greedy", "minigpt4/greedy", "shikra/greedy"]
    assert not caps["caption_id"].str.contains("~").any()
    assert "llava-1.5/greedy:1" in set(caps["caption_id"])
    assert any("would all be source 'greedy'" in w for w in summary["warnings"])
    assert "would all be source 'greedy'" in capsys.readouterr().err


def test_source_flag_both_forms_give_clean_ids(tmp_path):
    a, b = _greedy(tmp_path, "llava-1.5"), _greedy(tmp_path, "shikra")
    caps, summary = _run(tmp_path, "--captions", str(a), "--source", f"{a}=llava15", "--source", f"shikra={b}")
    assert sorted(summary["sources"]) == ["llava15", "shikra"]
    assert set(caps["caption_id"]) == {"llava15:1", "llava15:2", "shikra:1", "shikra:2"}


def test_source_flag_errors(tmp_path):
    from caption_audit.commands.run import parse_source_flags

    with pytest.raises(ConfigError, match="FILE=NAME or NAME=PATH"):
        parse_source_flags(["blip2"], set())
    with pytest.raises(ConfigError, match="nor 'missing.jsonl' an existing captions file"):
        parse_source_flags(["blip2=missing.jsonl"], set())
    assert main(["run", "--source", "x=nope.jsonl", "--out", str(tmp_path / "r")]) == 2


def test_real_opera_greedy_files_stay_apart(tmp_path):
    root = shared("opera", "chair_eval_results")
    files = sorted(root.glob("*/greedy.jsonl"))[:3]
    specs, _ = assign_source_names([InputSpec(f, "captions", "generic_captions") for f in files])
    assert [s.options["name"] for s in specs] == [f"{f.parent.name}/greedy" for f in files]


_DATA = "tests/data/ingest/"


@pytest.mark.parametrize(("path", "fmt"), [
    ("captions_val2017_sample.json", "coco_captions"),
    ("detail_23k_sample.json", "llava_conversations"),
    ("sharegpt4v_instruct_gpt4-vision_cap100k_sample.json", "sharegpt4v"),
    ("coco2014_val_gpt4_qa_30x3_sample.jsonl", "llava_qa30x3"),
    ("caps_boxes_sample.jsonl", "llava_caps_boxes"),
    ("llava_bench/qa90_gpt4_answer.jsonl", "llava_bench"),
])
def test_fixed_source_is_what_the_loader_gives(path, fmt):
    """The run skips reading files for the reference pass on this name (pipeline._reference_pass):
    it must be the name every caption of the file really gets, with and without --source."""
    from caption_audit.ingest import iter_load
    from caption_audit.ingest.naming import fixed_source

    for given in (None, "mine"):
        sources = {c.source for c in iter_load(_DATA + path, fmt, source=given)}
        assert sources == {fixed_source(fmt, given)}, (fmt, given)


@pytest.mark.parametrize("fmt", ["generic_captions", "hf_dataset", "no_such_format", None])
def test_no_fixed_source_where_records_name_their_own(fmt):
    from caption_audit.ingest.naming import fixed_source

    assert fixed_source(fmt, None) is None
    assert fixed_source(fmt, "given") == "given"
