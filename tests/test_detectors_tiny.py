"""detectors/tiny.py keeps its own COCO-80 list (detectors import nothing of the text stage)."""

from __future__ import annotations

from caption_audit.text.vocab import default_vocabulary
from detectors.tiny import COCO80, bert_vocab


def test_coco80_data_file_equals_the_text_vocabulary():
    assert tuple(default_vocabulary().classes) == COCO80
    assert len(COCO80) == 80


def test_bert_vocab_holds_every_class_word():
    vocab = set(bert_vocab())
    assert {w for name in COCO80 for w in name.split()} <= vocab
