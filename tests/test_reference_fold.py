"""The reference pass's fold (engine/references.py): claims sent between processes as tuples
(encode_chunk) fold to the same evidence as the Claim objects themselves, and the worker pool
loads spaCy before it forks."""

from __future__ import annotations

import pickle

import pytest

from caption_audit.engine.references import ReferenceFold, encode_chunk, parse_references
from caption_audit.text.parse import CaptionParser
from caption_audit.types import Claim
from tests.conftest import shared


def _rows() -> list[tuple[str, str, str]]:
    """COCO train2017 human captions of coco_mini (real captions, several per image)."""
    from caption_audit.ingest.coco import load_coco_captions

    caps = load_coco_captions(shared("coco_mini", "annotations", "captions_train2017.json")).captions
    return [(c.caption_id, c.image_id, c.text) for c in caps]


def test_tuple_chunks_fold_to_the_same_claims() -> None:
    rows = _rows()
    parsed = [parse_references((CaptionParser(), False), rows[i:i + 40]) for i in range(0, len(rows), 40)]
    direct, sent = ReferenceFold(None, chair=False), ReferenceFold(None, chair=False)
    for k, chunk in enumerate(parsed):
        direct.add(chunk)
        # as a pool's parent and the other workers get it: pickled tuples; some chunks as Claims (own)
        sent.add(chunk if k % 3 == 0 else pickle.loads(pickle.dumps(encode_chunk(chunk))))
    assert sum(len(v) for v in direct.refs.values()) > 100
    assert list(sent.refs) == list(direct.refs) and sent.n_refs == direct.n_refs
    for image_id, claims in direct.refs.items():
        got = sent.refs[image_id]
        assert got == claims  # same captions, equal claims, same order
        assert all(type(cl) is Claim for _, cl in got)
        assert sent.refs.get(image_id) is got  # built once


def test_claims_folded_after_a_read_are_seen() -> None:
    fold = ReferenceFold(None, chair=False)
    a = Claim("object", 2, 5, "dog", "", 0, "dog")
    b = Claim("count", 0, 9, "cat", "2", 0, "two cats")
    fold.add(encode_chunk([("c1", "7", [a], None), None]))
    assert fold.refs["7"] == [("c1", a)]
    fold.add([("c2", "7", [b], None), ("c3", "8", [], None)])
    assert fold.refs["7"] == [("c1", a), ("c2", b)]
    assert fold.refs["8"] == [] and "9" not in fold.refs and fold.refs.get("9", []) == []
    assert fold.n_refs == {"7": 2, "8": 1}


def test_pool_loads_spacy_before_forking() -> None:
    """``parser.nlp`` is a lazy stand-in: without loading it first, each worker loaded spaCy
    itself on its first parse (about 1 s of CPU per worker)."""
    from caption_audit.engine.pool import WorkerPool
    from caption_audit.text.nlp import installed_model_name

    if installed_model_name() is None:
        pytest.skip("no spaCy model installed")
    parser = CaptionParser(use_parser=True)
    assert not parser.nlp.loaded
    with WorkerPool(1, parser, None):
        assert parser.nlp.loaded
    lexical = CaptionParser(use_parser=False)
    with WorkerPool(1, lexical, None):
        assert not lexical.nlp.loaded  # never needed: not loaded
