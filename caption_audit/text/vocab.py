"""The object vocabulary: COCO-80 classes with synonyms, open-vocabulary words, and rules.

All of it is data (``caption_audit/text/vocab/*.yaml``). :class:`Vocabulary` compiles it into a
phrase table keyed by the first word, so the text stage can find the longest match at each
token with a few dict look-ups (the same idea as spaCy's ``PhraseMatcher``, without building
Docs for patterns).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from caption_audit.text.inflect import phrase_forms
from caption_audit.yamldata import load_yaml

_SPLIT = re.compile(r"[\s\-]+")


def phrase_key(text: str) -> tuple[str, ...]:
    """Words of a phrase as the matcher sees them: lower case, hyphens and spaces split."""
    return tuple(w for w in _SPLIT.split(text.lower()) if w)


@dataclass(frozen=True, slots=True)
class Entry:
    """What a matched phrase means.

    Attributes:
        canonical: the COCO class or open word; ``None`` means the phrase names nothing to count.
        vocab: ``coco80`` or ``open`` (``""`` when canonical is None).
        lemma: singular form of the matched phrase.
    """

    canonical: str | None
    vocab: str
    lemma: str


@dataclass
class Vocabulary:
    """Compiled vocabulary and rules.

    Attributes:
        classes: COCO-80 class names in COCO order.
        synonyms: class -> synonyms.
        table: first word -> list of (key, Entry), longest key first.
        rules: the parsed ``rules.yaml``.
        hash: ``sha256:`` of the three data files, recorded in every run's summary.
    """

    classes: list[str]
    synonyms: dict[str, list[str]]
    open_words: list[str]
    table: dict[str, list[tuple[tuple[str, ...], Entry]]]
    rules: dict
    hash: str
    max_len: int

    def lookup(self, words: list[str], i: int) -> tuple[int, Entry] | None:
        """Longest entry starting at ``words[i]``: (number of words, entry) or None."""
        cands = self.table.get(words[i])
        if not cands:
            return None
        n = len(words)
        for key, entry in cands:
            k = len(key)
            if i + k <= n and (k == 1 or tuple(words[i : i + k]) == key):
                return k, entry
        return None

    def canonical_of(self, name: str) -> str | None:
        """Map any class name, synonym or open word (any number) to its canonical name."""
        key = phrase_key(name)
        if not key:
            return None
        hit = self.lookup(list(key), 0)
        if hit and hit[0] == len(key):
            return hit[1].canonical
        return None


def _read(path: Path | None, name: str) -> bytes:
    if path is not None:
        return (path / name).read_bytes()
    return resources.files("caption_audit.text").joinpath("vocab", name).read_bytes()


def build_vocabulary(directory: str | Path | None = None) -> Vocabulary:
    """Compile the vocabulary from ``directory`` (default: the packaged data)."""
    path = Path(directory) if directory is not None else None
    raw = {n: _read(path, n) for n in ("coco80.yaml", "open.yaml", "rules.yaml")}
    digest = hashlib.sha256(b"".join(raw[n] for n in sorted(raw))).hexdigest()
    coco = load_yaml(raw["coco80.yaml"])["classes"]
    opened = load_yaml(raw["open.yaml"])["words"]
    rules = load_yaml(raw["rules.yaml"])

    entries: dict[tuple[str, ...], Entry] = {}

    def add(surface: str, canonical: str | None, vocab: str, *, override: bool = False) -> None:
        for form in phrase_forms(surface):
            key = phrase_key(form)
            if key and (override or key not in entries):
                entries[key] = Entry(canonical, vocab if canonical else "", surface)

    classes = [c["name"] for c in coco]
    synonyms = {c["name"]: list(c.get("synonyms") or []) for c in coco}
    # COCO first (it wins over open words), class names before synonyms.
    for name in classes:
        add(name, name, "coco80")
    for name in classes:
        for syn in synonyms[name]:
            add(syn, name, "coco80")
    open_words = [w for group in opened.values() for w in group]
    for word in open_words:
        add(word, word, "open")
    # Rule phrases override everything: they exist to correct the word-level reading.
    for phrase, target in (rules.get("phrases") or {}).items():
        vocab = "coco80" if target in synonyms else "open"
        key = phrase_key(phrase)
        entries[key] = Entry(target, vocab if target else "", phrase)

    table: dict[str, list[tuple[tuple[str, ...], Entry]]] = {}
    for key, entry in entries.items():
        table.setdefault(key[0], []).append((key, entry))
    for cands in table.values():
        cands.sort(key=lambda ke: -len(ke[0]))
    return Vocabulary(
        classes=classes,
        synonyms=synonyms,
        open_words=open_words,
        table=table,
        rules=rules,
        hash=f"sha256:{digest}",
        max_len=max(len(k) for k in entries),
    )


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The packaged vocabulary, compiled once per process."""
    return build_vocabulary()


@functools.lru_cache(maxsize=1)
def coco80_classes() -> frozenset[str]:
    """The COCO-80 class names of the packaged vocabulary (the classes COCO instances cover)."""
    return frozenset(default_vocabulary().classes)
