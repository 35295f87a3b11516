"""Map open-vocabulary words to the nearest COCO-80 class with sentence embeddings.

A phrase (a mention's lemma, e.g. ``"telly"``, ``"labrador retriever"``) maps to class ``c``
when

1. its cosine to ``c``'s prototype is at least ``threshold``, where the prototype score is the
   **maximum** over the embeddings of ``c``'s name and every synonym (``sofa``, ``loveseat``,
   ... for couch), and
2. no *reject anchor* is closer: the open-vocabulary words of ``open.yaml`` (except
   ``mappable_open``) and the generic words of ``data/distractors.yaml``. A phrase closer to
   "glass", "sign" or "animal" than to any COCO entry stays open.

Broad terms (``data/hypernyms.yaml``: "animal", "vehicle", ...) are never mapped to one class;
:mod:`caption_audit.semantic.hypernyms` judges them against the whole group.

The default threshold (0.80) was calibrated on ``tests/data/semantic/words.tsv`` with
all-MiniLM-L6-v2: see docs/semantic.md for the precision/recall table.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from caption_audit.semantic.hypernyms import broad_terms
from caption_audit.text.vocab import Vocabulary, default_vocabulary
from caption_audit.types import ParsedCaption
from caption_audit.yamldata import load_yaml

DEFAULT_THRESHOLD = 0.80


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    """One mention rewritten by :meth:`SemanticMapper.map_mentions`.

    Attributes:
        caption: index into the ``parsed`` list.
        mention: index into that caption's ``mentions``.
        phrase: the phrase that was embedded (the mention's lemma).
        cls: the COCO-80 class it now carries as ``canonical``.
        score: cosine to the class prototype.
    """

    caption: int
    mention: int
    phrase: str
    cls: str
    score: float


def _distractor_data() -> dict:
    raw = resources.files("caption_audit.semantic").joinpath("data", "distractors.yaml").read_bytes()
    return load_yaml(raw)


class SemanticMapper:
    """Nearest-COCO-class mapping with a threshold and reject anchors.

    Example:
        >>> from caption_audit.semantic.embedder import Embedder
        >>> mapper = SemanticMapper(Embedder())                     # doctest: +SKIP
        >>> mapper.map_phrases(["telly", "labrador retriever", "bear market"])   # doctest: +SKIP
        [(None, 0.44), ('dog', 0.87), (None, 0.68)]

    Args:
        embedder: anything with ``encode(list[str]) -> np.ndarray`` of unit vectors
            (:class:`~caption_audit.semantic.embedder.Embedder`).
        vocab: the compiled vocabulary (default: the packaged one).
        threshold: minimum cosine to map.
        anchors: use reject anchors (open words and generic words).
    """

    def __init__(self, embedder: Any, vocab: Vocabulary | None = None, threshold: float = DEFAULT_THRESHOLD,
                 *, anchors: bool = True):
        self.embedder = embedder
        self.vocab = vocab or default_vocabulary()
        self.threshold = float(threshold)
        data = _distractor_data()
        mappable = set(data.get("mappable_open") or [])
        self.broad = broad_terms()
        anchor_words: list[str] = []
        if anchors:
            anchor_words = [w for w in self.vocab.open_words if w not in mappable]
            for key in ("generic", "near_misses", "candidate_near_misses"):
                anchor_words += list(data.get(key) or [])
            anchor_words += sorted(self.broad)
        self.anchor_words = list(dict.fromkeys(anchor_words))
        self._entries = [(c, c) for c in self.vocab.classes] + [
            (c, s) for c in self.vocab.classes for s in self.vocab.synonyms[c]
        ]
        self._classes = list(self.vocab.classes)
        self._proto: np.ndarray | None = None  # (n_entries, d)
        self._entry_class: np.ndarray | None = None
        self._anchor: np.ndarray | None = None
        self._memo: dict[str, tuple[str | None, float]] = {}
        self.stats = {"phrases": 0, "mapped": 0, "encode_calls": 0}

    def _prepare(self) -> None:
        if self._proto is not None:
            return
        index = {c: i for i, c in enumerate(self._classes)}
        texts = [s for _, s in self._entries] + self.anchor_words
        vecs = self.embedder.encode(texts)
        n = len(self._entries)
        self._proto = vecs[:n]
        self._entry_class = np.array([index[c] for c, _ in self._entries])
        self._anchor = vecs[n:]

    def scores(self, phrases: list[str]) -> np.ndarray:
        """Per-class scores ``(len(phrases), 80)``: max cosine over each class's entries."""
        self._prepare()
        vecs = self.embedder.encode(phrases)
        sim = vecs @ self._proto.T  # type: ignore[union-attr]
        out = np.full((len(phrases), len(self._classes)), -1.0, dtype=np.float32)
        np.maximum.at(out.T, self._entry_class, sim.T)
        return out

    def map_phrases(self, phrases: list[str]) -> list[tuple[str | None, float]]:
        """(class or None, best class score) for each phrase; memoised per phrase."""
        keys = [" ".join(p.lower().split()) for p in phrases]
        todo = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if todo:
            self.stats["encode_calls"] += 1
            self._prepare()
            vecs = self.embedder.encode(todo)
            sim = vecs @ self._proto.T  # type: ignore[union-attr]
            best_entry = sim.argmax(axis=1)
            best = sim[np.arange(len(todo)), best_entry]
            if self._anchor is not None and len(self._anchor):
                anchor_best = (vecs @ self._anchor.T).max(axis=1)
            else:
                anchor_best = np.full(len(todo), -1.0)
            for k, e, s, a in zip(todo, best_entry, best, anchor_best, strict=True):
                cls = self._entries[int(e)][0]
                ok = s >= self.threshold and s >= a and k not in self.broad
                self._memo[k] = (cls if ok else None, round(float(s), 4))
        self.stats["phrases"] += len(keys)
        return [self._memo[k] for k in keys]

    def map_mentions(self, parsed: list[ParsedCaption]) -> list[SemanticMatch]:
        """Rewrite open-vocabulary mentions that map to a COCO-80 class, in place.

        Every open mention of every caption goes into one batched ``encode`` call (cached
        phrases cost nothing). A mapped mention gets ``canonical = class`` and
        ``vocab = "coco80"``; ``lemma`` and everything else stay, so the mention is then judged
        against ground truth like a lexical one. Broad terms are left alone.

        Returns:
            One :class:`SemanticMatch` per rewritten mention (the scorer records the score in
            the mention's ``MentionVerdict.score`` and ``evidence``, after judging).
        """
        where: list[tuple[int, int, str]] = []
        for ci, p in enumerate(parsed):
            for mi, m in enumerate(p.mentions):
                if m.vocab == "open" and (m.lemma or m.canonical).lower() not in self.broad:
                    where.append((ci, mi, (m.lemma or m.canonical).lower()))
        if not where:
            return []
        results = self.map_phrases([w[2] for w in where])
        out: list[SemanticMatch] = []
        for (ci, mi, phrase), (cls, score) in zip(where, results, strict=True):
            if cls is None:
                continue
            m = parsed[ci].mentions[mi]
            m.canonical, m.vocab = cls, "coco80"
            out.append(SemanticMatch(ci, mi, phrase, cls, score))
        self.stats["mapped"] += len(out)
        return out
