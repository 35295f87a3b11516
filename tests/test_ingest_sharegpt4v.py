import json
import types
from pathlib import Path

from caption_audit.ingest import iter_load, load
from caption_audit.ingest.sharegpt4v import iter_sharegpt4v, load_sharegpt4v
from tests._ingest_data import fx

S4V = fx("sharegpt4v_instruct_gpt4-vision_cap100k_sample.json")


def test_fixture_ids_and_sources():
    res = load_sharegpt4v(S4V)
    assert res.format == "sharegpt4v"
    assert [(c.caption_id, c.image_id) for c in res.captions] == [
        ("000000000009", "9"),
        ("sa_1", "sam/images/sa_1.jpg"),
        ("000134591", "llava/llava_pretrain/images/00013/000134591.jpg"),
        ("wikiart_x", "wikiart/images/x.jpg"),
        ("000000000025", "25"),
        ("000000000030", "30"),
        ("000000000009~2", "9"),
    ]
    assert {c.source for c in res.captions} == {"sharegpt4v"}
    assert res.captions[0].image_file == "coco/train2017/000000000009.jpg"


def test_fixture_text_cleaning_and_errors():
    caps = load_sharegpt4v(S4V).captions
    assert 140 <= len(caps[0].text.split()) <= 170  # a GPT4V-length caption, unchanged
    assert caps[2].text.startswith("The image shows a close-up view") and caps[2].text.endswith("before mixing begins.")
    assert "<image>" not in caps[2].text
    assert (caps[4].error, caps[4].text, caps[4].origin) == ("no gpt turn", None, f"{S4V}:record 4")
    assert (caps[5].error, caps[5].text) == ("empty caption", "   ")
    assert [c.error for c in caps].count(None) == 5


def test_warnings():
    res = load_sharegpt4v(S4V)
    assert res.warnings == [
        f"{S4V}: 1 duplicate caption_id(s) made unique with a '~N' suffix (first: '000000000009' at {S4V}:record 6)",
        f"{S4V}: 2 of 7 captions cannot be scored: no gpt turn (1), empty caption (1)",
    ]


def test_iter_is_lazy_and_equal_to_load():
    it = iter_sharegpt4v(S4V)
    assert isinstance(it, types.GeneratorType)
    first = next(it)
    assert first.caption_id == "000000000009"
    warnings: list[str] = []
    streamed = list(iter_sharegpt4v(S4V, source="gpt4v", warnings=warnings))
    loaded = load(S4V, source="gpt4v").captions
    assert streamed == loaded
    assert len(warnings) == 2
    assert list(iter_load(S4V, source="gpt4v")) == loaded


def test_streams_large_file(tmp_path):
    """Memory stays bounded: read a 20k-record array lazily and stop early."""
    p = tmp_path / "share-captioner_coco_lcs_sam_1246k_1107.json"
    rec = json.loads(Path(S4V).read_text())[1]
    with open(p, "w") as f:
        f.write("[")
        for i in range(20000):
            r = dict(rec, id=f"sa_{i}", image=f"sam/images/sa_{i}.jpg")
            f.write(("," if i else "") + json.dumps(r))
        f.write("]")
    it = iter_sharegpt4v(p)
    got = [next(it) for _ in range(3)]
    assert [c.image_id for c in got] == ["sam/images/sa_0.jpg", "sam/images/sa_1.jpg", "sam/images/sa_2.jpg"]
    it.close()
    assert sum(1 for c in iter_sharegpt4v(p) if c.error is None) == 20000
