"""Candidate nouns for semantic mapping (caption_audit.semantic.candidates) and their use in --semantic runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from caption_audit.semantic.candidates import noun_candidates, singular
from caption_audit.text.parse import CaptionParser
from tests._semantic import embedder


@pytest.fixture(scope="module")
def parser():
    return CaptionParser(use_parser=False)


# text -> expected candidates as (surface, lemma, negated, hedged)
CASES = [
    ("A telly on the wall.", [("telly", "telly", False, False)]),
    ("There is a flatscreen.", [("flatscreen", "flatscreen", False, False)]),
    ("Two small ducklings swim.", [("ducklings", "duckling", False, False)]),
    ("Several employees stand near the counter.", [("employees", "employee", False, False)]),
    ("Her rucksack, his telly and their dog.", [("rucksack", "rucksack", False, False), ("telly", "telly", False, False)]),
    ("The room has no telly.", [("room", "room", False, False), ("telly", "telly", True, False)]),
    ("A desk without a flatscreen.", [("flatscreen", "flatscreen", True, False)]),
    ("It is not a telly but a radio.", [("telly", "telly", True, False), ("radio", "radio", False, False)]),
    ("It appears to be a telly.", [("telly", "telly", False, True)]),
    ("Possibly a rucksack lies there.", [("rucksack", "rucksack", False, True)]),
    ("Perhaps the benches are wet.", []),  # "bench" is a COCO word: the lexical pass decides
    ("A man is skiing.", []),  # man is a mention; skiing follows a verb, not a determiner
    ("The skiing was fun.", []),  # -ing head
    ("The car parked near a shed.", [("shed", "shed", False, False)]),  # "parked" ends the run, car is a mention
    ("The boy quickly ran.", []),  # -ly word after a mention
    ("A very big old rusty wagon.", []),  # run longer than three words
    ("An orange parking meter.", []),  # known words are not candidates
    ("The baby elephant.", []),
    ("These are the same.", []),  # stop word
    ("Some crates and three sandwiches.", [("crates", "crate", False, False)]),
    ("A gazebo, 3 turbines.", [("gazebo", "gazebo", False, False), ("turbines", "turbine", False, False)]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_noun_candidates_table(parser, text, expected):
    p = parser.parse([text])[0]
    got = noun_candidates(text, p, parser.vocab)
    assert [(m.text, m.lemma, m.negated, m.hedged) for m in got] == expected
    for m in got:
        assert text[m.start:m.end] == m.text  # offsets exact
        assert m.vocab == "open" and m.canonical == m.lemma
        assert not any(m.start < o.end and o.start < m.end for o in p.mentions)


@pytest.mark.parametrize(("plural", "single"), [("puppies", "puppy"), ("benches", "bench"), ("boxes", "box"),
                                                ("glass", "glass"), ("bus", "bus"), ("tennis", "tennis"),
                                                ("cats", "cat"), ("gas", "gas")])
def test_singular(plural, single):
    assert singular(plural) == single


def _run(tmp_path, captions: list[dict], objects: list[dict], *extra: str) -> pd.DataFrame:
    from caption_audit.cli import main

    tmp_path.mkdir(parents=True, exist_ok=True)
    caps = tmp_path / "caps.jsonl"
    caps.write_text("".join(json.dumps(r) + "\n" for r in captions))
    objs = tmp_path / "objects.jsonl"
    objs.write_text("".join(json.dumps(r) + "\n" for r in objects))
    out = tmp_path / "run"
    assert main(["run", "--captions", str(caps), "--objects", str(objs), "--out", str(out), "--quiet", *extra]) == 0
    return pd.read_parquet(out / "mentions.parquet")


@pytest.mark.slow
def test_run_semantic_maps_unknown_synonym_and_drops_the_rest(tmp_path, monkeypatch):
    embedder()  # skips without the [semantic] extra; imports sentence-transformers once
    monkeypatch.setenv("CAPTION_AUDIT_CACHE", str(tmp_path / "cache"))
    captions = [
        {"image_id": 1, "caption": "A flatscreen hangs above a wooden dresser."},
        {"image_id": 2, "caption": "A cat sleeps beside a flatscreen and a rucksack."},
        {"image_id": 2, "caption": "A cat sleeps, but there is no flatscreen."},
    ]
    objects = [{"image_id": 1, "objects": ["tv"]}, {"image_id": 2, "objects": ["cat"]}]
    lexical = _run(tmp_path / "lex", captions, objects)
    assert "flatscreen" not in set(lexical["lemma"])
    assert "flatscreen" not in set(_run(tmp_path / "plain", captions, objects, "--semantic")["lemma"])  # opt-in
    m = _run(tmp_path / "sem", captions, objects, "--semantic", "--semantic-candidates")
    flat = m[m["lemma"] == "flatscreen"].sort_values("caption_id")
    assert list(flat["canonical"]) == ["tv"] * 3 and set(flat["vocab"]) == {"coco80"}
    assert list(flat["verdict"]) == ["supported", "hallucinated", "unverifiable"]  # last one is negated
    assert list(flat["negated"]) == [False, False, True]
    assert all("semantic" in e for e in flat["evidence"][:2]) and (flat["score"][:2] > 0.8).all()
    # unmapped candidates (rucksack) add no open-vocabulary rows; "dresser" is a lexical open word
    assert "rucksack" not in set(m["lemma"]) and "dresser" in set(lexical["lemma"])
    assert len(m) == len(lexical) + 3
