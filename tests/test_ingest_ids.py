import pytest

from caption_audit.ingest.ids import normalize_image_id


@pytest.mark.parametrize(
    "value, expected",
    [
        ("COCO_val2014_000000391895.jpg", "391895"),
        ("COCO_train2014_000000391895.jpg", "391895"),
        ("000000391895.jpg", "391895"),
        ("000000391895.png", "391895"),
        ("coco/train2017/000000391895.jpg", "391895"),
        ("data/coco/val2014/COCO_val2014_000000391895.jpg", "391895"),
        ("coco\\train2017\\000000391895.jpg", "391895"),  # Windows separators
        ("391895", "391895"),
        (" 391895 ", "391895"),
        ("000000391895", "391895"),
        (391895, "391895"),
        (391895.0, "391895"),
        (0, "0"),
        ("sam/images/sa_1.jpg", "sam/images/sa_1.jpg"),
        ("gqa/images/2354786.jpg", "gqa/images/2354786.jpg"),  # numeric name outside COCO keeps path
        ("llava/llava_pretrain/images/00013/000134591.jpg", "llava/llava_pretrain/images/00013/000134591.jpg"),
        ("wikiart/images/x.jpg", "wikiart/images/x.jpg"),
        ("./sam/images/sa_1.jpg", "sam/images/sa_1.jpg"),
    ],
)
def test_normalize_image_id(value, expected):
    assert normalize_image_id(value) == expected


@pytest.mark.parametrize("value", [None, True, False, "", "   ", -1, 1.5, [1], {"id": 1}])
def test_normalize_image_id_rejects(value):
    with pytest.raises(ValueError):
        normalize_image_id(value)


def test_same_image_same_id_across_sources():
    refs = ["COCO_val2014_000000391895.jpg", "000000391895.jpg", "coco/train2017/000000391895.jpg", "391895", 391895]
    assert {normalize_image_id(r) for r in refs} == {"391895"}
