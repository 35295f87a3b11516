"""The attribute ruler's matches, found by table look-up instead of spaCy's ``Matcher``.

spaCy's English pipeline ends with an ``attribute_ruler``: about 180 token patterns (a tag map,
pronoun morphology, contractions) that set POS, morphology and lemmas after the tagger. Its
``Matcher`` costs about 16 us a token, a fifth of the statistical pass on long captions
(issue #15), although every pattern tests only a token's ``TAG``, ``LOWER``, ``DEP`` and
``IS_SPACE``. A token's single-token matches are therefore a function of those four values,
looked up in a table filled as new combinations appear; the few two-token patterns
("gon na", "let 's") test the next token the same way.

:class:`RulerMatch` hands back exactly the list ``AttributeRuler.match`` returns (same
matches, same order), so ``AttributeRuler.set_annotations`` and every attribute it sets are
unchanged; ``tests/test_text_ruler.py`` checks this on real captions and on every pattern.
A ruler with a pattern outside this form (another attribute, an operator, three tokens) keeps
spaCy's ``Matcher`` (:func:`compile_ruler` returns ``None``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# the token attributes a compiled pattern may test, in the order of a token's key
_KEYS = ("TAG", "LOWER", "DEP", "IS_SPACE")
_Pred = Callable[[tuple], bool]
# token keys kept in the look-up table; past this it starts again (a key costs about 200 bytes;
# a million-caption run of varied text sends a few hundred thousand sentences to the parser)
_TABLE_MAX = 100_000


class _Test:
    """One attribute test of a token key: ``==``, ``IN``, ``NOT_IN`` or ``REGEX`` (a plain
    object, so that a pipeline holding a :class:`RulerMatch` still pickles)."""

    def __init__(self, k: int, op: str, value: Any) -> None:
        self.k, self.op, self.value = k, op, value

    def __call__(self, key: tuple) -> bool:
        v = key[self.k]
        if self.op == "==":
            return v == self.value
        if self.op == "IN":
            return v in self.value
        if self.op == "NOT_IN":
            return v not in self.value
        return self.value.search(v) is not None  # REGEX


class _AllOf:
    """A token pattern: all of its tests."""

    def __init__(self, tests: list[_Test]) -> None:
        self.tests = tests

    def __call__(self, key: tuple) -> bool:
        return all(t(key) for t in self.tests)


def _predicate(token_pattern: dict) -> _Pred | None:
    """A test of one token's ``(tag, lower, dep, is_space)`` strings, or ``None`` when the
    pattern uses anything else."""
    tests: list[_Test] = []
    for attr, value in token_pattern.items():
        if attr not in _KEYS:
            return None
        k = _KEYS.index(attr)
        if attr == "IS_SPACE":
            if not isinstance(value, bool):
                return None
            tests.append(_Test(k, "==", value))
        elif isinstance(value, str):
            tests.append(_Test(k, "==", value))
        elif isinstance(value, dict) and len(value) == 1:
            (op, arg), = value.items()
            if op in ("IN", "NOT_IN") and isinstance(arg, list):
                tests.append(_Test(k, op, frozenset(arg)))
            elif op == "REGEX" and isinstance(arg, str):
                tests.append(_Test(k, op, re.compile(arg)))
            else:
                return None
        else:
            return None
    return _AllOf(tests)


class RulerMatch:
    """``AttributeRuler.match`` by look-up: built by :func:`compile_ruler`."""

    def __init__(self, ruler: Any, singles: list[tuple[int, int, dict, _Pred]],
                 pairs: list[tuple[int, int, _Pred, _Pred]]) -> None:
        from spacy.attrs import DEP, IS_SPACE, LOWER, TAG

        self._strings = ruler.vocab.strings
        self._attrs = [TAG, LOWER, DEP, IS_SPACE]  # a token's key, in the order of _KEYS
        self._pairs = pairs  # (attr id, match id, first token's test, second token's)
        # each single-token pattern is tried only on the tokens it may match: those with the
        # lower form or the tag it names exactly, or on every token when it names neither
        self._by_lower: dict[str, list[tuple[int, int, _Pred]]] = {}
        self._by_tag: dict[str, list[tuple[int, int, _Pred]]] = {}
        self._always: list[tuple[int, int, _Pred]] = []
        for attr_id, match_id, token_pattern, test in singles:
            item = (attr_id, match_id, test)
            lower, tag = token_pattern.get("LOWER"), token_pattern.get("TAG")
            if isinstance(lower, str):
                self._by_lower.setdefault(lower, []).append(item)
            elif isinstance(lower, dict) and isinstance(lower.get("IN"), list):
                for word in dict.fromkeys(lower["IN"]):
                    self._by_lower.setdefault(word, []).append(item)
            elif isinstance(tag, str):
                self._by_tag.setdefault(tag, []).append(item)
            else:
                self._always.append(item)
        self._table: dict[tuple, tuple[tuple[tuple[int, int], ...], tuple[int, ...]]] = {}

    def _words(self, key: tuple) -> tuple:
        s = self._strings
        return (s[key[0]], s[key[1]], s[key[2]], bool(key[3]))

    def _entry(self, key: tuple) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
        """``key``'s single-token matches ``(attr id, match id)``, by attr id, and the pairs it may start."""
        words = self._words(key)
        candidates = self._by_lower.get(words[1], []) + self._by_tag.get(words[0], []) + self._always
        # a pattern whose alternatives both match a token matches it once, as in the Matcher
        entry = (tuple(sorted({(a, m) for a, m, test in candidates if test(words)})),
                 tuple(p for p, (_, _, first, _) in enumerate(self._pairs) if first(words)))
        if len(self._table) >= _TABLE_MAX:
            self._table.clear()
        self._table[key] = entry
        return entry

    def __call__(self, doc: Any) -> list[tuple[int, int, int, int]]:
        keys = list(map(tuple, doc.to_array(self._attrs).tolist()))
        table = self._table
        out: list[tuple[int, int, int, int]] = []
        last = len(keys) - 1
        for i, key in enumerate(keys):
            entry = table.get(key) or self._entry(key)
            for attr_id, match_id in entry[0]:
                out.append((attr_id, match_id, i, i + 1))
            if entry[1] and i < last:
                nxt = self._words(keys[i + 1])
                hits = {(a, m) for a, m, _, second in (self._pairs[p] for p in entry[1]) if second(nxt)}
                out.extend((a, m, i, i + 2) for a, m in hits)
        out.sort()
        return out


def compile_ruler(ruler: Any) -> RulerMatch | None:
    """A :class:`RulerMatch` for ``ruler`` (a spaCy ``AttributeRuler``), or ``None`` when one
    of its patterns is outside the compiled form."""
    singles: list[tuple[int, int, dict, _Pred]] = []
    pairs: list[tuple[int, int, _Pred, _Pred]] = []
    for attr_id, entry in enumerate(ruler.patterns):  # in attr id order (AttributeRuler.patterns)
        match_id = ruler.vocab.strings[str(attr_id)]
        for pattern in entry["patterns"]:
            preds = [_predicate(tp) for tp in pattern]
            if not preds or len(preds) > 2 or any(p is None for p in preds):
                return None
            if len(preds) == 1:
                singles.append((attr_id, match_id, pattern[0], preds[0]))
            else:
                pairs.append((attr_id, match_id, preds[0], preds[1]))
    return RulerMatch(ruler, singles, pairs)


def use_compiled_match(nlp: Any) -> bool:
    """Give ``nlp``'s ``attribute_ruler`` (if any) the look-up match; ``True`` when it did."""
    if "attribute_ruler" not in nlp.pipe_names:
        return False
    ruler = nlp.get_pipe("attribute_ruler")
    compiled = compile_ruler(ruler)
    if compiled is None:
        return False
    ruler.match = compiled  # AttributeRuler.__call__ calls self.match(doc), then set_annotations
    return True
