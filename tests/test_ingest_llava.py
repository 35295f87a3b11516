import json
import shutil
from pathlib import Path

import pytest

from caption_audit.errors import ConfigError, InputError
from caption_audit.ingest import load
from caption_audit.ingest.llava import (
    clean_turn,
    find_questions_file,
    load_llava_bench,
    load_llava_caps_boxes,
    load_llava_conversations,
    load_llava_qa30x3,
)
from caption_audit.types import Caption, GTObject, ImageInfo
from tests._ingest_data import FIXTURES, fx, real

D23 = fx("detail_23k_sample.json")
ANS = fx("llava_bench/qa90_gpt4_answer.jsonl")
QA = fx("coco2014_val_gpt4_qa_30x3_sample.jsonl")
CB = fx("caps_boxes_sample.jsonl")


def test_clean_turn():
    assert clean_turn("<image>\nDescribe it.  ") == "Describe it."
    assert clean_turn("A <image> cat") == "A  cat"


def test_conversations_fixture():
    res = load_llava_conversations(D23)
    caps = res.captions
    assert caps[0] == Caption(
        "000000391895", "391895", "llava",
        "The image shows a man wearing a helmet riding a red dirt bike down a narrow dirt road in a rural "
        "area. Behind him, a second person stands near a wooden fence, and green hills rise in the "
        "background under a clear sky.",
        f"{D23}:record 0", None, "000000391895.jpg",
    )
    # multi-turn: one caption per gpt turn, id "<id>#<index in conversations>"
    assert [(c.caption_id, c.text) for c in caps if c.image_id == "139"] == [
        ("000000000139#1", "A vase of flowers sits on the table."),
        ("000000000139#3", "Yes, a television stands on a cabinet on the left side of the room."),
    ]
    errs = {c.caption_id: (c.error, c.text, c.origin) for c in caps if c.error}
    assert errs == {
        "text_only_1": ("missing field 'image'", None, f"{D23}:record 3"),
        "000000000632": ("caption is not a string (got number)", None, f"{D23}:record 4"),
        "000000000724": ("empty caption", "<image>", f"{D23}:record 5"),  # only an <image> token
    }
    assert len(caps) == 7


def test_conversations_jsonl_and_shapes(tmp_path):
    p = tmp_path / "llava_instruct_mini.jsonl"
    recs = json.loads(Path(D23).read_text())
    p.write_text("\n".join(json.dumps(r) for r in recs[:2]) + "\n{broken\n")
    caps = load_llava_conversations(p).captions
    assert [c.caption_id for c in caps] == ["000000391895", "000000039769", "llava_instruct_mini:3"]
    assert caps[2].error == "invalid JSON at line 3: Expecting property name enclosed in double quotes"
    assert caps[2].origin == f"{p}:line 3"
    obj = tmp_path / "obj.json"
    obj.write_text('{\n  "id": "1",\n  "image": "1.jpg"\n}\n')
    with pytest.raises(InputError) as e:
        load_llava_conversations(obj)
    assert str(e.value) == f"{obj}: expected a JSON array of conversation records at top level, got an object"


def test_bench_fixture():
    res = load_llava_bench(ANS)
    assert res.captions[0] == Caption(
        "qa90_gpt4_answer:1", "441147", "llava",
        "The image features two antique suitcases made of leather, stacked one on top of the other. The "
        "top suitcase is black, while the bottom one has a combination of brown and yellow colors.",
        f"{ANS}:line 2", None, "000000441147.jpg",
    )
    errs = [(c.caption_id, c.error) for c in res.captions if c.error]
    assert errs == [
        ("qa90_gpt4_answer:7", "no question with question_id 7 in qa90_questions.jsonl"),
        ("qa90_gpt4_answer:6", "invalid JSON at line 6: Expecting ',' delimiter"),
    ]
    assert res.warnings[-1] == (
        f"{ANS}: 2 answers of other categories left out: complex (1), conv (1); pass categories= to keep them"
    )
    every = load_llava_bench(ANS, categories="all")
    assert len(every.captions) == 6
    two = load_llava_bench(ANS, categories=["conv", "complex"])
    assert [c.caption_id for c in two.captions] == ["qa90_gpt4_answer:0", "qa90_gpt4_answer:2", "qa90_gpt4_answer:6"]
    with pytest.raises(ConfigError, match="Option 'categories' is empty"):
        load_llava_bench(ANS, categories="")


def test_bench_questions_option(tmp_path):
    ans = tmp_path / "answers.jsonl"
    shutil.copy(ANS, ans)
    (tmp_path / "a_questions.jsonl").write_text("")
    (tmp_path / "b_questions.jsonl").write_text("")
    with pytest.raises(InputError) as e:
        load_llava_bench(ans)
    assert str(e.value) == (
        f"{ans} field 'question_id': cannot find the questions file beside the answers "
        "(looked for qa90_questions.jsonl); pass questions=PATH"
    )
    res = load(ans, "llava_bench", questions=FIXTURES / "llava_bench" / "qa90_questions.jsonl")
    assert len(res.captions) == 4
    assert find_questions_file(ANS).name == "qa90_questions.jsonl"


def test_qa30x3_fixture():
    res = load_llava_qa30x3(QA)
    assert [(c.caption_id, c.image_id, c.error) for c in res.captions] == [
        ("000000525439#detail", "525439", None),
        ("000000034096#detail", "34096", "empty caption"),
    ]
    assert res.captions[0].image_file == "COCO_val2014_000000525439.jpg"
    assert len(load_llava_qa30x3(QA, categories="all").captions) == 4


def test_caps_boxes_fixture():
    res = load_llava_caps_boxes(CB)
    assert res.images == [ImageInfo("296284", "000000296284.jpg"), ImageInfo("151358", "000000151358.jpg")]
    assert res.objects == [
        GTObject("296284", "donut", (0.37, 0.584, 0.504, 0.709), True, "caps_boxes"),
        GTObject("296284", "donut", (0.369, 0.22, 0.492, 0.317), True, "caps_boxes"),
    ]
    assert [c.caption_id for c in res.captions][:6] == [f"296284#{k}" for k in range(5)] + ["151358#0"]
    assert all(c.source == "coco" for c in res.captions)
    bad = [c for c in res.captions if c.error]
    assert [(c.caption_id, c.error, c.origin) for c in bad] == [
        ("151358#2", "empty caption", f"{CB}:line 2"),
        ("caps_boxes_sample:3", "invalid JSON at line 3: Expecting value", f"{CB}:line 3"),
    ]


def test_caps_boxes_bad_instance_raises(tmp_path):
    p = tmp_path / "cb.jsonl"
    p.write_text(json.dumps({"id": "1", "image": "000000000001.jpg", "captions": ["x"],
                             "instances": [{"category": "dog", "bbox": [0.1, 0.2]}]}) + "\n")
    with pytest.raises(InputError) as e:
        load_llava_caps_boxes(p)
    assert str(e.value) == f"{p}:1 field 'bbox': instances[0]: bbox must be 4 numbers [x1, y1, x2, y2], got [0.1, 0.2]"


def test_real_caps_boxes():
    res = load(real("llava/caps_boxes_coco2014_val_80.jsonl"))
    assert res.format == "llava_caps_boxes"
    assert (len(res.images), len(res.captions), len(res.objects)) == (80, 401, 476)
    with_objects = {o.image_id for o in res.objects}
    assert len([im for im in res.images if im.image_id not in with_objects]) == 3
    assert all(0 <= v <= 1 for o in res.objects for v in o.bbox)
    assert not any(c.error for c in res.captions)


def test_real_bench_and_30x3():
    bench = load(real("llava/qa90_gpt4_answer.jsonl"))
    real("llava/qa90_questions.jsonl")
    assert bench.format == "llava_bench" and len(bench.captions) == 30
    assert not any(c.error for c in bench.captions)
    assert len(load(bench.path, categories="all").captions) == 90
    qa = load(real("llava/coco2014_val_gpt4_qa_30x3.jsonl"))
    assert qa.format == "llava_qa30x3" and len(qa.captions) == 30
    caps_boxes_images = {im.image_id for im in load(real("llava/caps_boxes_coco2014_val_80.jsonl")).images}
    assert {c.image_id for c in bench.captions} <= caps_boxes_images
    assert {c.image_id for c in qa.captions} <= caps_boxes_images
