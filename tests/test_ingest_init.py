import gzip
import shutil
import subprocess
import sys

import pytest

from caption_audit.errors import ConfigError
from caption_audit.ingest import GT_FORMATS, LOADERS, formats, iter_load, load
from tests._ingest_data import fx

ALL = [
    "coco_captions", "coco_instances", "generic_captions", "generic_objects", "hf_dataset", "llava_bench",
    "llava_caps_boxes", "llava_conversations", "llava_qa30x3", "sharegpt4v",
]


def test_registry_names_and_lazy_targets():
    assert formats() == ALL
    assert LOADERS.names() == ALL
    assert set(GT_FORMATS) <= set(ALL)
    for name in ALL:
        assert callable(LOADERS.get(name))


def test_unknown_format():
    with pytest.raises(ConfigError) as e:
        load(fx("generic_captions.jsonl"), "llava_conversation")
    assert str(e.value) == (
        "Unknown format 'llava_conversation'. Did you mean 'llava_conversations'? Valid names: "
        + ", ".join(ALL) + "."
    )


def test_unknown_option():
    with pytest.raises(ConfigError) as e:
        load(fx("captions_val2017_sample.json"), categories="detail")
    assert str(e.value) == "Unknown option 'categories' for format 'coco_captions'. Valid options: none."
    with pytest.raises(ConfigError, match="Valid options: questions, categories."):
        load(fx("llava_bench/qa90_gpt4_answer.jsonl"), question="x")


def test_load_sets_format_and_source():
    res = load(fx("detail_23k_sample.json"), source="llava-detail")
    assert res.format == "llava_conversations"
    assert {c.source for c in res.captions} == {"llava-detail"}


@pytest.mark.parametrize(
    "name, n",
    [
        ("captions_val2017_sample.json", 7),
        ("detail_23k_sample.json", 7),
        ("sharegpt4v_instruct_gpt4-vision_cap100k_sample.json", 7),
        ("generic_captions.jsonl", 9),
        ("caps_boxes_sample.jsonl", 11),
        ("objects.jsonl", 0),
    ],
)
def test_iter_load_matches_load(name, n):
    warnings: list[str] = []
    streamed = list(iter_load(fx(name), warnings=warnings))
    res = load(fx(name))
    assert len(streamed) == n
    assert [c.caption_id for c in streamed] == [c.caption_id for c in res.captions]
    assert warnings == res.warnings or name == "captions_val2017_sample.json"


def test_gzip(tmp_path):
    p = tmp_path / "detail_23k.json.gz"
    with open(fx("detail_23k_sample.json"), "rb") as src, gzip.open(p, "wb") as dst:
        shutil.copyfileobj(src, dst)
    res = load(p)
    assert res.format == "llava_conversations" and len(res.captions) == 7


def test_import_is_light():
    code = (
        "import sys, caption_audit.ingest as m; "
        "heavy = [n for n in ('caption_audit.ingest.coco', 'caption_audit.ingest.llava', 'ijson', "
        "'pyarrow', 'pandas', 'torch', 'spacy') if n in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
