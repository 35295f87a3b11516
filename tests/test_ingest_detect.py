import json
from pathlib import Path

import pytest

from caption_audit.errors import InputError
from caption_audit.ingest.detect import detect_format
from tests._ingest_data import fx, real


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("captions_val2017_sample.json", "coco_captions"),
        ("instances_val2017_sample.json", "coco_instances"),
        ("detail_23k_sample.json", "llava_conversations"),
        ("sharegpt4v_instruct_gpt4-vision_cap100k_sample.json", "sharegpt4v"),
        ("llava_bench/qa90_gpt4_answer.jsonl", "llava_bench"),
        ("coco2014_val_gpt4_qa_30x3_sample.jsonl", "llava_qa30x3"),
        ("caps_boxes_sample.jsonl", "llava_caps_boxes"),
        ("generic_captions.jsonl", "generic_captions"),
        ("generic_captions.csv", "generic_captions"),
        ("pope_stream_sample.json", "generic_captions"),
        ("objects.jsonl", "generic_objects"),
        ("imid_to_objects_sample.json", "generic_objects"),
    ],
)
def test_fixtures(name, fmt):
    assert detect_format(fx(name)) == fmt


@pytest.mark.parametrize(
    "rel, fmt",
    [
        ("llava/caps_boxes_coco2014_val_80.jsonl", "llava_caps_boxes"),
        ("llava/qa90_gpt4_answer.jsonl", "llava_bench"),
        ("llava/coco2014_val_gpt4_qa_30x3.jsonl", "llava_qa30x3"),
        ("coco_mini/annotations/captions_train2017.json", "coco_captions"),
        ("coco_mini/annotations/instances_train2017.json", "coco_instances"),
        ("coco_mini/annotations/captions_val2017.json", "coco_captions"),
        ("coco_val2017_captions/captions_val2017.json", "coco_captions"),
        ("chair_standalone/chair_imid_to_objects.json", "generic_objects"),
        ("chair_standalone/example_inputs.jsonl", "generic_captions"),
        ("opera/chair_eval_results/llava-1.5/greedy.jsonl", "generic_captions"),
        ("pope/caption_data/Instruction1_llava.json", "generic_captions"),
        ("pope/caption_data/Instruction2_llava.json", "generic_captions"),
        ("image_textualization/gt-gpt4v-prefer.json", "generic_captions"),
    ],
)
def test_real_files(rel, fmt):
    assert detect_format(real(rel)) == fmt


def test_real_questions_file_is_refused():
    with pytest.raises(InputError, match="this is a LLaVA-Bench questions file; load the answers file"):
        detect_format(real("llava/qa90_questions.jsonl"))
    with pytest.raises(InputError, match="yes/no probe questions"):
        detect_format(real("pope/coco_pope_random.json"))


def test_coco_by_content_when_renamed(tmp_path):
    for src, fmt in [("captions_val2017_sample.json", "coco_captions"), ("instances_val2017_sample.json", "coco_instances")]:
        p = tmp_path / "renamed.json"
        p.write_bytes(Path(fx(src)).read_bytes())
        assert detect_format(p) == fmt


def test_conversations_by_image_path(tmp_path):
    p = tmp_path / "data.json"
    p.write_text(json.dumps([{"id": "sa_1", "image": "sam/images/sa_1.jpg", "conversations": []}]))
    assert detect_format(p) == "sharegpt4v"
    p.write_text(json.dumps([{"id": "1", "image": "000000000001.jpg", "conversations": []}]))
    assert detect_format(p) == "llava_conversations"


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "file is empty"),
        ("[]", "empty JSON array: cannot detect the format"),
        ("hello", "cannot detect the format: not JSON, JSONL, CSV or Parquet (starts with 'h')"),
        ('[{"a": 1}]', "cannot detect the format from the first record (fields: a); pass a format"),
        ('{"a": 1}\n', "cannot detect the format from the first record (fields: a); pass a format"),
        ('{\n "sentences": [{"image_id": 1}]\n}', "a JSON object whose first entry 'sentences' is not a list"),
    ],
)
def test_undetectable(tmp_path, content, message):
    p = tmp_path / "x.json"
    p.write_text(content)
    with pytest.raises(InputError) as e:
        detect_format(p)
    assert str(e.value).startswith(f"{p}: ") and message in str(e.value)


def test_missing_and_directory(tmp_path):
    with pytest.raises(InputError) as e:
        detect_format(tmp_path / "missing.json")
    assert str(e.value) == f"{tmp_path / 'missing.json'}: file not found"
    with pytest.raises(InputError, match="is a directory, expected a file"):
        detect_format(tmp_path)
