"""spaCy's English tokenizer, replayed in pure Python from its exported rules.

The lexical pass needs only token texts and offsets. Importing spaCy and loading a pipeline
costs seconds, and building a ``Doc`` per caption costs more than the look-ups that follow,
so the lexical pass tokenizes with :class:`RuleTokenizer`: the algorithm of
``spacy/tokenizer.pyx`` (whitespace split, special cases, prefix/suffix/infix regexes,
``token_match``/``url_match``) over the rules of the installed model's tokenizer, exported once
to ``vocab/tokenizer_en.json`` by :func:`export_rules`. Whitespace-delimited chunks are cached,
so most words cost one dict look-up.

Exactness: the rules are used only when the installed spaCy and model versions are the ones
they were exported from (:func:`load_rule_tokenizer` returns None otherwise, and the caller
uses spaCy). The one step not replayed, spaCy's multi-token special-case matcher
(``_apply_special_cases``, for specials such as ":)" that the affix rules split), is detected
instead: :meth:`RuleTokenizer.tokens` returns None for a text where a special-case pattern
occurs, and the caller tokenizes that text with spaCy.
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
import re
import unicodedata
from importlib import metadata, resources
from pathlib import Path
from typing import Any

# (text, char offset, lower, is_space, is_punct)
Token = tuple[str, int, str, bool, bool]

RULES_FILE = "tokenizer_en.json"
_TEXT = operator.itemgetter(0)  # a Token's text
_RUNS = re.compile(r"\s+|\S+")


def _is_punct(text: str) -> bool:
    """spaCy's ``is_punct`` lexical attribute (``spacy.lang.lex_attrs.is_punct``)."""
    return all(unicodedata.category(c).startswith("P") for c in text)


class RuleTokenizer:
    """Tokenize like spaCy's ``Tokenizer`` from exported rules (see the module docstring).

    Args:
        rules: the dict written by :func:`export_rules`.
    """

    def __init__(self, rules: dict[str, Any]) -> None:
        flags = int(rules.get("flags", 0))

        def compiled(key: str) -> Any:
            pat = rules.get(key)
            return re.compile(pat, flags) if pat is not None else None

        p, s, i = compiled("prefix"), compiled("suffix"), compiled("infix")
        tm, um = compiled("token_match"), compiled("url_match")
        self._prefix = p.search if p else None
        self._suffix = s.search if s else None
        self._infix = i.finditer if i else None
        self._token_match = tm.match if tm else None
        self._url_match = um.match if um else None
        self._specials: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in rules["specials"].items()}
        self._special_norms: dict[str, tuple[str | None, ...]] = {
            k: tuple(v) for k, v in (rules.get("special_norms") or {}).items()}
        self._span_norms: dict[str, tuple[str | None, ...]] = {}
        self._chunks: dict[str, tuple[tuple[int, str, str, bool, bool], ...]] = {}
        # special cases spaCy finds with a PhraseMatcher after splitting ("a." when the affix
        # rules gave "a" "."): single-token ones are flagged per chunk, longer ones by first pair
        self._single_patterns: set[str] = set()
        self._patterns: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        for special in rules.get("matcher", []):
            pattern = tuple(t for t, _ in self._affix_tokens(special, specials=False))
            # a match re-tokenizes into the same texts ("there's" -> there 's): nothing changes
            if not pattern or pattern == self._specials.get(special):
                continue
            if len(pattern) == 1:
                self._single_patterns.add(pattern[0])
            else:
                self._patterns.setdefault(pattern[:2], []).append(pattern)

    # -------------------------------------------------------------- spaCy's algorithm
    def _find_prefix(self, s: str) -> int:
        m = self._prefix(s) if self._prefix else None
        return m.end() - m.start() if m is not None else 0

    def _find_suffix(self, s: str) -> int:
        m = self._suffix(s) if self._suffix else None
        return m.end() - m.start() if m is not None else 0

    def _split_affixes(self, string: str, specials: bool) -> tuple[list[str], str, list[str]]:
        prefixes: list[str] = []
        suffixes: list[str] = []
        last_size = 0
        sp = self._specials
        while string and len(string) != last_size:
            if self._token_match and self._token_match(string):
                break
            if specials and string in sp:
                break
            last_size = len(string)
            pre_len = self._find_prefix(string)
            prefix = minus_pre = ""
            if pre_len != 0:
                prefix = string[:pre_len]
                minus_pre = string[pre_len:]
                if minus_pre and specials and minus_pre in sp:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = self._find_suffix(string[pre_len:])
            suffix = minus_suf = ""
            if suf_len != 0:
                suffix = string[-suf_len:]
                minus_suf = string[:-suf_len]
                if minus_suf and specials and minus_suf in sp:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and (pre_len + suf_len) <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        return prefixes, string, suffixes

    def _span_tokens(self, span: str, specials: bool, norms: list[str | None] | None = None) -> list[str]:
        """Token texts of one whitespace-free (or all-whitespace) span; with ``norms``, the norm a
        special case sets on each token (None where none) is appended to it."""
        if specials and span in self._specials:
            if norms is not None:
                norms.extend(self._special_norms.get(span) or [None] * len(self._specials[span]))
            return list(self._specials[span])
        prefixes, string, suffixes = self._split_affixes(span, specials)
        out = list(prefixes)
        special = None
        if string:
            if specials and string in self._specials:
                special = string
                out.extend(self._specials[string])
            elif (self._token_match and self._token_match(string)) or (self._url_match and self._url_match(string)):
                out.append(string)
            else:
                matches = list(self._infix(string)) if self._infix else []
                if not matches:
                    out.append(string)
                else:
                    start = 0
                    for match in matches:
                        infix_start, infix_end = match.start(), match.end()
                        if infix_start == 0:
                            continue
                        if infix_start != start:
                            out.append(string[start:infix_start])
                        if infix_start != infix_end:
                            out.append(string[infix_start:infix_end])
                        start = infix_end
                    if string[start:]:
                        out.append(string[start:])
        if norms is not None:
            middle: Any = [None] * (len(out) - len(prefixes))
            if special is not None:
                middle = self._special_norms.get(special) or middle
            norms.extend([None] * len(prefixes))
            norms.extend(middle)
            norms.extend([None] * len(suffixes))
        out.extend(reversed(suffixes))
        return out

    def _spans(self, text: str) -> list[tuple[int, str]]:
        """spaCy's whitespace split: (offset, span) pairs; a single ' ' after a span is dropped."""
        if not text:
            return []
        if text.isprintable() and "  " not in text and text[0] != " " and text[-1] != " ":
            # only single ASCII spaces (every other whitespace character is not printable):
            # part k starts at the lengths of the parts before it plus k spaces
            parts = text.split(" ")
            starts = map(operator.add, itertools.accumulate(map(len, parts), initial=0), itertools.count())
            return list(zip(starts, parts, strict=False))  # (accumulate gives one more start than parts)
        spans = []
        start = 0
        first = True
        for m in _RUNS.finditer(text):
            i = m.start()
            if first:
                first = False
                continue
            if start < i:
                spans.append((start, text[start:i]))
            start = i + 1 if text[i] == " " else i
        if start < len(text):
            spans.append((start, text[start:]))
        return spans

    def _affix_tokens(self, text: str, specials: bool = True) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for offset, span in self._spans(text):
            for t in self._span_tokens(span, specials):
                out.append((t, offset))
                offset += len(t)
        return out

    # -------------------------------------------------------------- public
    def _chunk(self, span: str) -> tuple[tuple[tuple[str, int, str, bool, bool], ...], bool]:
        """Tokens of one span (offsets relative to it), and whether a single-token pattern occurs."""
        got = self._chunks.get(span)
        if got is None:
            toks = []
            offset = 0
            for t in self._span_tokens(span, True):
                toks.append((t, offset, t.lower(), t.isspace(), _is_punct(t)))
                offset += len(t)
            got = (tuple(toks), any(t[0] in self._single_patterns for t in toks))
            if len(self._chunks) < 200_000:
                self._chunks[span] = got
        return got

    def affix_functions(self) -> dict[str, Any]:
        """The compiled rules as spaCy's ``Tokenizer`` attributes (``prefix_search``,
        ``suffix_search``, ``infix_finditer``, ``token_match``, ``url_match``; None where none)."""
        return {"prefix_search": self._prefix, "suffix_search": self._suffix, "infix_finditer": self._infix,
                "token_match": self._token_match, "url_match": self._url_match}

    def norms(self, text: str) -> list[str | None]:
        """Per token of :meth:`tokens`, the norm a tokenizer special case sets on it ("n't" ->
        "not", "'Cause" -> "because"), None where none: spaCy's tokenizer sets it on the token, so
        a ``Doc`` built from the token texts needs it to get the same tagger input."""
        out: list[str | None] = []
        for _, span in self._spans(text):
            got = self._span_norms.get(span)
            if got is None:
                norms: list[str | None] = []
                self._span_tokens(span, True, norms)
                got = tuple(norms)
                if len(self._span_norms) < 200_000:
                    self._span_norms[span] = got
            out.extend(got)
        return out

    def tokens(self, text: str) -> list[Token] | None:
        """``(text, offset, lower, is_space, is_punct)`` per token, as spaCy's tokenizer gives them.

        Returns None where spaCy's multi-token special-case matcher would apply (the caller
        then tokenizes this text with spaCy).
        """
        out: list[Token] = []
        append = out.append
        get = self._chunks.get
        for start, span in self._spans(text):
            toks, single = get(span) or self._chunk(span)
            if single:
                return None
            if len(toks) == 1:
                t = toks[0]
                append((t[0], start, t[2], t[3], t[4]))
            else:
                out.extend([(t, start + o, low, sp, pu) for t, o, low, sp, pu in toks])
        if self._patterns and len(out) > 1:
            pairs = self._patterns
            words = list(map(_TEXT, out))
            if pairs.keys().isdisjoint(zip(words, words[1:], strict=False)):  # the usual case (no Python loop)
                return out
            for i, pair in enumerate(zip(words, words[1:], strict=False)):
                for pattern in pairs.get(pair, ()):
                    if tuple(words[i : i + len(pattern)]) == pattern:
                        return None
        return out


# ------------------------------------------------------------------ rules on disk
def export_rules(nlp: Any) -> dict[str, Any]:
    """The tokenizer rules of a loaded spaCy pipeline, as JSON-able data for :class:`RuleTokenizer`."""
    import spacy

    tok = nlp.tokenizer

    def pattern(fn: Any) -> str | None:
        return fn.__self__.pattern if fn is not None else None

    flags = {fn.__self__.flags for fn in (tok.prefix_search, tok.suffix_search, tok.infix_finditer) if fn}
    if len(flags) > 1:
        raise ValueError("prefix/suffix/infix patterns use different regex flags")
    specials = {s: [d[65] if 65 in d else d["ORTH"] for d in subs] for s, subs in tok.rules.items()}
    # the norm a special case sets on its tokens (NORM, attribute id 67), for RulesTokenizer's Docs
    norms = {s: [d.get(67, d.get("NORM")) for d in subs] for s, subs in tok.rules.items()}
    matcher = sorted(
        s for s in specials
        if not tok.faster_heuristics or tok.find_prefix(s) or tok.find_infix(s) or tok.find_suffix(s) or " " in s
    )
    from caption_audit.text.nlp import installed_model_name

    package = installed_model_name()
    return {
        "spacy_version": spacy.__version__,
        "model_package": package,
        "model_version": _installed_versions(package)[1] if package else None,
        "flags": int(flags.pop()) if flags else 0,
        "prefix": pattern(tok.prefix_search),
        "suffix": pattern(tok.suffix_search),
        "infix": pattern(tok.infix_finditer),
        "token_match": pattern(tok.token_match),
        "url_match": pattern(tok.url_match),
        "specials": specials,
        "special_norms": {s: n for s, n in norms.items() if any(x is not None for x in n)},
        "matcher": matcher,
    }


def _installed_versions(package: str) -> tuple[str | None, str | None]:
    try:
        spacy_v = metadata.version("spacy")
    except metadata.PackageNotFoundError:
        spacy_v = None
    try:
        model_v = metadata.version(package)
    except metadata.PackageNotFoundError:
        model_v = None
    return spacy_v, model_v


@functools.lru_cache(maxsize=4)
def load_rule_tokenizer(path: str | None = None) -> RuleTokenizer | None:
    """The packaged (or ``path``) rule tokenizer, or None where its rules may not match.

    None when the file is missing, or the installed spaCy or model version differs from the
    ones the rules were exported from (the text stage then tokenizes with spaCy itself).
    """
    from caption_audit.text.nlp import installed_model_name

    try:
        raw = Path(path).read_bytes() if path else (
            resources.files("caption_audit.text").joinpath("vocab", RULES_FILE).read_bytes())
        rules = json.loads(raw)
    except (OSError, ValueError):
        return None
    package = installed_model_name()
    if package is None or package != rules.get("model_package"):
        return None
    spacy_v, model_v = _installed_versions(package)
    if spacy_v != rules.get("spacy_version") or model_v != rules.get("model_version"):
        return None
    return RuleTokenizer(rules)


def main() -> None:  # pragma: no cover - maintenance: python -m caption_audit.text.tokenize
    """Re-export ``vocab/tokenizer_en.json`` from the installed spaCy model."""
    from caption_audit.text.nlp import load_spacy

    target = Path(__file__).parent / "vocab" / RULES_FILE
    target.write_text(json.dumps(export_rules(load_spacy(rule_tokenizer=False)), ensure_ascii=False, sort_keys=True, indent=0) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":  # pragma: no cover
    main()
