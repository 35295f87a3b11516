"""The text stage: caption text -> object mentions with negation, hedge and count.

Two passes, so that a million long captions stay affordable on a CPU:

1. **Lexical pass, every caption.** spaCy's tokenizer, then a longest-match phrase look-up
   against the compiled :class:`~caption_audit.text.vocab.Vocabulary` ("hot dog" before "dog",
   "toilet seat" before "seat"), then data-driven rules: compound modifiers ("bus stop"),
   animal modifiers ("baby elephant"), depictions ("a painting of a horse"), counts
   ("two dogs"), and NegEx-style cue scopes for determiner negation ("no people", "without a
   car") and hedges ("possibly a cat", "a cup, perhaps").
2. **Statistical pass, only where needed.** Sentences that contain a word whose reading needs
   its part of speech ("orange cat" vs "an orange"; "glass case" vs "a glass"; "bears" the
   verb) or a verbal negation ("the cat is not visible") go through the full spaCy pipeline
   (tagger + parser; NER is not loaded), and the parse decides.

NegEx: Chapman et al., "A Simple Algorithm for Identifying Negated Findings and Diseases in
Discharge Summaries", J. Biomed. Inform. 2001.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from caption_audit.gc_pause import gc_paused
from caption_audit.text.claims import ClaimExtractor, default_extractor
from caption_audit.text.nlp import LazyPipeline
from caption_audit.text.ops import one_blas_thread
from caption_audit.text.tokenize import Token, load_rule_tokenizer
from caption_audit.text.vocab import Entry, Vocabulary, default_vocabulary
from caption_audit.types import Mention, ParsedCaption

_SENT_END = frozenset({".", "!", "?"})
_PSEUDO_NEG = frozenset({("no", "doubt"), ("no", "longer"), ("not", "only"), ("no", "matter"),
                         ("nothing", "but"), ("not", "just"), ("not", "far"), ("no", "sooner")})
# predicates whose negation denies existence of their subject and object
_EXIST = frozenset({"be", "visible", "present", "see", "show", "appear", "exist", "find",
                    "include", "contain", "have", "feature", "depict", "picture", "display",
                    "notice", "spot", "observe", "there", "seen", "shown", "available"})
_NEG_ARG_DEPS = frozenset({"dobj", "attr", "prep", "dative", "oprd", "pobj", "acomp", "npadvmod"})
_FRUIT_HEADS = frozenset({"slice", "wedge", "peel", "segment", "half", "piece", "section", "rind"})
_SENT_CACHE = 1024  # parsed sentences kept across batches (10-20 KB each)
_COMPOUND_SENSITIVE = frozenset({"orange", "glass", "remote", "ski", "skate", "bat", "mouse",
                                 "book", "cup", "plant", "bear", "tie", "bow"})


@dataclass(slots=True)
class _Tok:
    word: str
    start: int
    end: int
    sent: int


@dataclass(slots=True)
class _Match:
    i: int  # first token index (into the token list)
    j: int  # one past the last token
    entry: Entry
    needs_pos: bool = False
    negated: bool = False
    hedged: bool = False
    nonvisual: bool = False
    count: int | None = None
    dropped: bool = False


class CaptionParser:
    """Find object mentions in caption texts.

    Example:
        >>> parser = CaptionParser()
        >>> [(m.canonical, m.count, m.negated) for m in parser.parse(["Two hot dogs, no people."])[0].mentions]
        [('hot dog', 2, False), ('person', None, True)]

    Args:
        vocab: compiled vocabulary (default: the packaged one).
        nlp: a spaCy ``Language``; by default ``load_spacy()``'s, loaded only when a sentence
            needs the statistical pass (the lexical pass then tokenizes with
            :class:`~caption_audit.text.tokenize.RuleTokenizer`, spaCy's rules replayed without
            spaCy). A given ``nlp`` tokenizes everything with its own tokenizer.
        use_parser: run the statistical pass on the sentences that need it. With ``False``
            everything is lexical (faster, less exact on "orange", "glass" and "not").
        batch_size: ``nlp.pipe`` batch size for both passes.
        claims: fill ``ParsedCaption.claims`` (:mod:`caption_audit.text.claims`).
    """

    def __init__(
        self,
        vocab: Vocabulary | None = None,
        nlp: Any = None,
        *,
        use_parser: bool = True,
        batch_size: int = 256,
        claims: bool = True,
    ) -> None:
        self.vocab = vocab or default_vocabulary()
        self._nlp = nlp
        self._rule_tokenizer = load_rule_tokenizer() if nlp is None else None
        self.use_parser = use_parser
        self.batch_size = batch_size
        r = self.vocab.rules
        self._heads = frozenset(r.get("modifier_heads", []))
        self._exempt = frozenset(r.get("modifier_exempt_classes", []))
        self._animal_mod = frozenset(r.get("animal_modifiers", []))
        self._animals = frozenset(r.get("animal_classes", []))
        self._kin_after_its = frozenset(r.get("animal_kin_after_its", []))
        self._animal_open = frozenset(r.get("animal_open_words", []))
        self._animal_kin = frozenset(r.get("animal_kin", []))
        self._animal_age = frozenset(r.get("animal_age_predicates", []))
        self._copulas = frozenset(r.get("copulas", []))
        self._young_of = {k: frozenset(v) for k, v in (r.get("young_of") or {}).items()}
        self._part_of = {k: frozenset(v) for k, v in (r.get("part_of") or {}).items()}
        self._part_links = frozenset(r.get("part_links", []))
        self._non_ref = _cue_table(r.get("non_referential_before", []))
        self._non_ref_last: dict[str, list[tuple[str, ...]]] = {}  # the same cues by last word
        for cues in self._non_ref.values():
            for cue in cues:
                self._non_ref_last.setdefault(cue[-1], []).append(cue)
        self._purpose_for = bool(r.get("purpose_for", False))
        self._hyphen_non_asserting = frozenset(r.get("hyphen_non_asserting", []))
        self._vehicles = frozenset({"car", "bus", "truck", "train", "airplane", "boat", "motorcycle", "bicycle"})
        self._sense = frozenset(r.get("ambiguous_sense", []))
        self._verbish = frozenset(r.get("ambiguous_verb", []))
        self._verb_before = frozenset(r.get("verb_context_before", []))
        self._verb_after = frozenset(r.get("verb_context_after", []))
        neg, hedge = r.get("negation", {}), r.get("hedge", {})
        self._neg_pre = _cue_table(neg.get("pre", []))
        self._neg_verbal = frozenset(neg.get("verbal", []))
        self._hedge_pre = _cue_table(hedge.get("pre", []))
        self._hedge_post = frozenset(c for c in hedge.get("post", []) if " " not in c)
        # the words a scope cue can start with (a superset: _scopes checks each one found)
        self._cue_first = frozenset(self._neg_pre) | frozenset(self._hedge_pre) | self._neg_verbal
        self._scope_end = frozenset(r.get("scope_end", []))
        self._dets = frozenset(r.get("determiners", []))
        self._max_scope = int(r.get("max_scope", 9))
        self._depiction = frozenset(r.get("depiction", []))
        self._quantities = default_extractor()  # count tables: text/vocab/claims.yaml
        self._stats = {"captions": 0, "sentences_parsed": 0}
        self._lemmatizer: Any = None  # see _lazy_lemmas
        self._parsed_sents: dict[str, tuple[Any, set[int]]] = {}  # sentence text -> (Doc, negated token indices)
        self.claims: ClaimExtractor | None = default_extractor() if claims else None

    # ------------------------------------------------------------------ public API
    @property
    def nlp(self) -> Any:
        """The spaCy pipeline (a :class:`~caption_audit.text.nlp.LazyPipeline` until first used)."""
        if self._nlp is None:
            self._nlp = LazyPipeline()
        return self._nlp

    @property
    def stats(self) -> dict[str, int]:
        """Counters: captions seen and sentences sent to the statistical pass."""
        return dict(self._stats)

    def parse(self, texts: Iterable[str]) -> list[ParsedCaption]:
        """Parse a batch of caption texts (``None``/empty texts give empty results)."""
        with gc_paused():
            return self._parse([t or "" for t in texts])

    def _parse(self, texts: list[str]) -> list[ParsedCaption]:
        docs = self._tokenize(texts)
        per_doc: list[tuple[list[_Tok], list[_Match], int]] = []
        todo: list[tuple[int, int, int]] = []  # (doc index, char start, char end)
        for d, doc in enumerate(docs):
            toks, n_words, sent_bounds = self._tokens(doc)
            matches = self._lexical(toks, texts[d])
            per_doc.append((toks, matches, n_words))
            if self.use_parser and matches:
                for s in self._sentences_needing_parse(toks, matches):
                    todo.append((d, *sent_bounds[s]))
        if todo:
            self._statistical(texts, per_doc, todo)
        self._stats["captions"] += len(texts)
        self._stats["sentences_parsed"] += len(todo)
        out = []
        for text, (toks, matches, n_words) in zip(texts, per_doc, strict=True):
            mentions = self._mentions(text, toks, matches)
            parsed = ParsedCaption(mentions, n_words, len(text))
            if self.claims is not None and mentions:
                spans = [(m.i, m.j) for m in matches if not m.dropped]
                parsed.claims = self.claims.extract(text, toks, spans, mentions)
            out.append(parsed)
        return out

    # ------------------------------------------------------------------ lexical pass
    def _tokenize(self, texts: list[str]) -> list[list[Token]]:
        """Tokens of every text: the rule tokenizer, spaCy's tokenizer where it cannot answer."""
        rt = self._rule_tokenizer
        out: list[list[Token] | None] = [rt.tokens(t) for t in texts] if rt is not None else [None] * len(texts)
        missing = [i for i, toks in enumerate(out) if toks is None]
        if missing:
            docs = self.nlp.tokenizer.pipe([texts[i] for i in missing], batch_size=self.batch_size)
            for i, doc in zip(missing, docs, strict=True):
                out[i] = [(t.text, t.idx, t.lower_, t.is_space, t.is_punct) for t in doc]
        return out  # type: ignore[return-value]

    def _tokens(self, doc: list[Token]) -> tuple[list[_Tok], int, list[tuple[int, int]]]:
        toks: list[_Tok] = []
        append = toks.append
        tok = _Tok
        n_punct = 0
        sent = 0
        bounds: list[tuple[int, int]] = []
        sent_start = None
        for text, start, lower, is_space, is_punct in doc:
            if is_space:
                if "\n" in text and toks and toks[-1].sent == sent:
                    bounds.append((sent_start, toks[-1].end))
                    sent += 1
                    sent_start = None
                continue
            if text == "-":
                continue
            if sent_start is None:
                sent_start = start
            append(tok(lower, start, start + len(text), sent))
            if is_punct:
                n_punct += 1
                if text in _SENT_END:  # (".", "!", "?" are punctuation)
                    bounds.append((sent_start, start + len(text)))
                    sent += 1
                    sent_start = None
        if sent_start is not None and toks:
            bounds.append((sent_start, toks[-1].end))
        return toks, len(toks) - n_punct, bounds

    def _lexical(self, toks: list[_Tok], text: str = "") -> list[_Match]:
        words = [t.word for t in toks]
        n = len(words)
        vocab = self.vocab
        table = vocab.table
        matches: list[_Match] = []
        i = 0
        while i < n:
            if words[i] not in table:  # most words: skip the look-up call
                i += 1
                continue
            hit = vocab.lookup(words, i)
            if hit is None:
                i += 1
                continue
            k, entry = hit
            m = _Match(i, i + k, entry)
            if k == 1:
                w = words[i]
                if w in self._sense or w in self._verbish and (
                    (i > 0 and words[i - 1] in self._verb_before)
                    or (i + 1 < n and words[i + 1] in self._verb_after)
                ):
                    m.needs_pos = True
            matches.append(m)
            i += k
        if not matches:
            return matches
        self._modifiers(toks, words, matches)
        self._context(toks, words, matches, text)
        self._counts(toks, words, matches)
        self._depictions(toks, words, matches)
        self._scopes(toks, words, matches)
        return matches

    def _modifiers(self, toks: list[_Tok], words: list[str], matches: list[_Match]) -> None:
        n = len(words)
        for a, m in enumerate(matches):
            c = m.entry.canonical
            if c is None:
                m.dropped = True
                continue
            j = m.j
            if j < n and toks[j].sent == toks[m.i].sent:
                nxt = matches[a + 1] if a + 1 < len(matches) else None
                adjacent = nxt is not None and nxt.i == j
                # "bus driver", "cake donuts", "computer keyboard": a noun modifying the next noun
                if c not in self._exempt and (
                    (words[j] in self._heads and not (adjacent and nxt.entry.canonical == c))
                    or (adjacent and nxt.entry.vocab == "coco80" and nxt.entry.canonical != c and c != "person"
                        and not words[m.j - 1].endswith("s") and words[j] not in self._verbish)
                ):
                    m.dropped = True
                    continue
                # "baby elephant", "passenger jet", "mother bear": the person word is a modifier
                if c == "person" and (
                    (adjacent and nxt.entry.canonical in self._animals | self._vehicles)
                    or (words[m.i] in self._animal_mod and words[j] in self._animal_open)
                ):
                    m.dropped = True
                    continue
            # "its mother": an animal's kin, not a person
            if c == "person" and m.i > 0 and words[m.i - 1] == "its" and words[m.i] in self._kin_after_its:
                m.dropped = True

    def _context(self, toks: list[_Tok], words: list[str], matches: list[_Match], text: str) -> None:
        """Readings that need the words around a mention (rules.yaml): hyphen prefixes
        ("sandwich-styler", "man-made"), animal kin ("a zebra mother and her child", "two of the
        elephants are adults"), the young of animals ("an elephant calf"), parts of a whole
        ("a toilet with the seat up"), and non-referential uses ("waiting for a bus", "a place
        for people to sit")."""
        n = len(words)
        n_text = len(text)
        animals = self._animals
        seen_animal: dict[int, int] = {}  # sentence -> token index of its last live animal mention
        seen_classes: set[str] = set()
        kin_dropped_sent = -1
        for a, m in enumerate(matches):
            c = m.entry.canonical
            if m.dropped or c is None:
                continue
            i, j = m.i, m.j
            sent = toks[i].sent
            w = words[i] if j - i == 1 else ""
            # the first half of a hyphenated word: "sandwich-styler", "shelf-to-table", "man-made"
            end = toks[j - 1].end
            if j < n and end < n_text and text[end] == "-" and toks[j].start == end + 1 \
                    and words[j] in self._hyphen_non_asserting:
                m.dropped = True
                continue
            if c == "person":
                prev = matches[a - 1] if a > 0 else None
                # "a zebra mother": the kin word names the animal; the animal stays
                if w in self._animal_kin and prev is not None and prev.j == i and prev.entry.canonical in animals:
                    prev.dropped = False
                    m.dropped = True
                    kin_dropped_sent = sent
                    continue
                # "... and her child" after an animal's kin in the same sentence
                if w in self._animal_kin and kin_dropped_sent == sent and i > 0 and words[i - 1] in ("her", "its", "his", "their"):
                    m.dropped = True
                    continue
                # "two of the elephants are adults"
                if w in self._animal_age and sent in seen_animal and any(
                        words[k] in self._copulas for k in range(seen_animal[sent] + 1, i)) and not any(
                        x.i > seen_animal[sent] and x.i < i and not x.dropped for x in matches[max(0, a - 3) : a]):
                    m.dropped = True
                    continue
            # "an elephant calf", "the third is a young calf" beside elephants
            young = self._young_of.get(words[j - 1])
            if young is not None and c != "" and young & seen_classes and "cow" not in seen_classes:
                m.dropped = True
                continue
            # "a toilet with the seat up", "the toilet has a wooden seat", "the seat of the toilet"
            wholes = self._part_of.get(words[j - 1])
            if wholes is not None and j - i == 1:
                before = next((x for x in reversed(matches[:a]) if not x.dropped and toks[x.i].sent == sent), None)
                if before is not None and before.entry.canonical in wholes and (
                        self._part_links.intersection(words[before.j : i]) or words[i - 1] in ("the", "its")):
                    m.dropped = True
                    continue
                if j + 2 < n and words[j] == "of" and any(
                        x.i in (j + 1, j + 2) and x.entry.canonical in wholes for x in matches[a + 1 : a + 3]):
                    m.dropped = True
                    continue
            # "waiting for a bus"; "a sidewalk for pedestrians to walk on"
            k = i - 1
            det = words[k] if k >= 0 and words[k] in self._dets else None
            if det is not None:
                k -= 1
            # ("waiting for the light to turn green" refers to the light: only without "to")
            if k >= 0 and not (j < n and words[j] == "to") and self._non_ref_before(words, k):
                m.dropped = True
                continue
            # (only indefinite: "a cozy place for the teddy bear to rest" refers to the bear)
            if self._purpose_for and k >= 0 and words[k] == "for" and j + 1 < n and words[j] == "to" \
                    and words[j + 1] not in self._dets and det in (None, "a", "an", "some"):
                m.dropped = True
                continue
            if c in animals:
                seen_animal[sent] = j - 1
            seen_classes.add(c)

    def _non_ref_before(self, words: list[str], k: int) -> bool:
        """A non-referential cue ends at token ``k`` ("waiting for")."""
        for cue in self._non_ref_last.get(words[k], ()):
            s = k - len(cue) + 1
            if s >= 0 and tuple(words[s : k + 1]) == cue:
                return True
        return False

    def _counts(self, toks: list[_Tok], words: list[str], matches: list[_Match]) -> None:
        """Exact stated numbers ("two dogs", "a pair of skis") -> ``Mention.count``, with the count
        claims' look-back (compounds such as "a four door truck" state none)."""
        qty = self._quantities
        for m in matches:
            if m.dropped or m.i == 0:
                continue
            hit = qty.quantity_before(words, m.i, toks)
            if hit is not None:
                value = qty.value_of(hit[2])
                if value.isdigit():
                    m.count = int(value)

    def _depictions(self, toks: list[_Tok], words: list[str], matches: list[_Match]) -> None:
        for m in matches:
            if m.dropped:
                continue
            j = m.i - 1
            # skip determiners/adjectives back to "of"
            steps = 0
            while j >= 0 and steps < 3 and words[j] != "of" and words[j] not in self._depiction:
                j -= 1
                steps += 1
            if j < 0:
                continue
            if words[j] in self._depiction and j == m.i - 1:
                m.nonvisual = True  # "stuffed dog", "toy car", "wooden horse"
            elif words[j] == "of" and j >= 1 and words[j - 1] in self._depiction:
                m.nonvisual = True  # "a painting of a horse", "a statue of a bear"

    def _scopes(self, toks: list[_Tok], words: list[str], matches: list[_Match]) -> None:
        n = len(words)
        starts = {m.i: m for m in matches}
        first = self._cue_first
        nxt = 0  # a cue's words are not read again as the start of another
        for i in [i for i, w in enumerate(words) if w in first]:
            if i < nxt:
                continue
            w = words[i]
            k = _cue_at(self._neg_pre, words, i)
            kind = "neg" if k else None
            if not k and w in self._neg_verbal and not self.use_parser:
                k, kind = 1, "neg"
            if not k:
                k = _cue_at(self._hedge_pre, words, i)
                kind = "hedge" if k else None
            if k and i + 1 < n and (words[i], words[i + 1]) in _PSEUDO_NEG:
                k = 0
            if not k:
                continue
            self._apply_scope(toks, words, starts, i + k, kind)  # type: ignore[arg-type]  # k: kind is set
            nxt = i + k
        # post-hedges: "a cup, perhaps" / "a cup perhaps"
        for m in matches:
            j = m.j
            if j < n and words[j] == ",":
                j += 1
            if j < n and words[j] in self._hedge_post and toks[j].sent == toks[m.i].sent:
                m.hedged = True
        # alternatives: "a cat or a dog" -> both hedged
        # "a book, laptop computer, or toothbrush": every item of an "X, Y, or Z" list
        live = [m for m in matches if not m.dropped]
        for x in range(1, len(live)):
            a, b = live[x - 1], live[x]
            between = words[a.j : b.i]
            if between and between[0] == ",":
                between = between[1:]
            if between and between[0] == "or" and len(between) <= 2 and not (a.negated or b.negated):
                a.hedged = b.hedged = True
                y = x - 1
                while y > 0 and not live[y - 1].negated:
                    sep = words[live[y - 1].j : live[y].i]
                    if not (sep and sep[0] == "," and (len(sep) == 1 or len(sep) == 2 and sep[1] in self._dets)
                            and toks[live[y - 1].i].sent == toks[a.i].sent):
                        break
                    live[y - 1].hedged = True
                    y -= 1

    def _apply_scope(self, toks: list[_Tok], words: list[str], starts: dict[int, _Match], i: int, kind: str) -> None:
        n = len(words)
        sent = toks[i - 1].sent
        end = min(n, i + self._max_scope)
        j = i
        while j < end and toks[j].sent == sent:
            w = words[j]
            if w in self._scope_end:
                break
            if w in {"and", "or", ","} and j + 1 < n and words[j + 1] in self._dets and j > i:
                break
            m = starts.get(j)
            if m is not None:
                if kind == "neg":
                    m.negated = True
                else:
                    m.hedged = True
                j = m.j
                # a list continues the scope ("no forks, knives or spoons"); anything else ends it
                if j < n and words[j] in {",", "or", "and", "nor"}:
                    end = min(n, max(end, j + 4))
                    j += 1
                    continue
                break
            j += 1

    def _sentences_needing_parse(self, toks: list[_Tok], matches: list[_Match]) -> set[int]:
        need = {toks[m.i].sent for m in matches if m.needs_pos and not m.dropped}
        live_sents = {toks[m.i].sent for m in matches if not m.dropped}
        for t in toks:
            if t.sent in live_sents and t.word in self._neg_verbal:
                need.add(t.sent)
        return need

    # ------------------------------------------------------------------ statistical pass
    def _statistical(self, texts: list[str], per_doc: list, todo: list[tuple[int, int, int]]) -> None:
        """Parse the sentences of ``todo`` and let the parse decide their mentions' readings.

        A sentence's parse is a function of its text, so each distinct sentence text is parsed
        once: within the batch, and across batches through a bounded cache of recent parses.
        (Repeats are common in template-like text: the synthetic benchmark's 20,000 long captions,
        drawn from a pool of 6,000 sentences, send 224 distinct of 7,491; OPERA's 6,000 LVLM
        captions 626 of 711.)
        """
        cache = self._parsed_sents
        sent_texts = [texts[d][cs:ce] for d, cs, ce in todo]
        new = [t for t in dict.fromkeys(sent_texts) if t not in cache]
        if new:
            if len(cache) + len(new) > _SENT_CACHE:  # keep only what this batch reads
                kept = {t: cache[t] for t in sent_texts if t in cache}
                cache.clear()
                cache.update(kept)
            docs = self.nlp.pipe(new, batch_size=self.batch_size, disable=self._lazy_lemmas())
            with one_blas_thread():  # faster than several for these products (text/ops.py)
                for t, sdoc in zip(new, docs, strict=True):
                    sdoc.tensor = sdoc.tensor[:0].copy()  # tok2vec's output, unused here: half of a kept Doc
                    cache[t] = (sdoc, self._verbal_negation(sdoc))
        for (d, cs, ce), sent_text in zip(todo, sent_texts, strict=True):
            sdoc, negated_tokens = cache[sent_text]
            toks, matches, _ = per_doc[d]
            inside = [m for m in matches if cs <= toks[m.i].start < ce and not m.dropped]
            for m in inside:
                span = sdoc.char_span(toks[m.i].start - cs, toks[m.j - 1].end - cs, alignment_mode="expand")
                if span is None or len(span) == 0:
                    continue
                tok = span[-1]
                if m.needs_pos:
                    self._resolve_sense(m, tok)
                if tok.i in negated_tokens:
                    m.negated = True

    def _lazy_lemmas(self) -> list[str]:
        """``["lemmatizer"]`` when the pipeline's last component is a rule lemmatizer that keeps
        existing lemmas: it is then left out of the pass and :meth:`_lemma` lemmatizes the few
        tokens read (the heads of negations and compounds), giving the lemma it would have set."""
        if self._lemmatizer is None:
            nlp = self.nlp
            names = list(nlp.pipe_names)
            pipe = nlp.get_pipe("lemmatizer") if names and names[-1] == "lemmatizer" else None
            lazy = pipe is not None and getattr(pipe, "mode", None) == "rule" and not getattr(pipe, "overwrite", True)
            self._lemmatizer = pipe if lazy else False
        return ["lemmatizer"] if self._lemmatizer else []

    def _lemma(self, tok: Any) -> str:
        """``tok.lemma_``, from the lemmatizer left out of the pass when it is unset (:meth:`_lazy_lemmas`)."""
        if tok.lemma == 0 and self._lemmatizer:
            tok.lemma_ = self._lemmatizer.lemmatize(tok)[0]  # what Lemmatizer.__call__ does per token
        return tok.lemma_

    def _resolve_sense(self, m: _Match, tok: Any) -> None:
        word = tok.lower_
        stem = word[:-1] if word.endswith("s") and word[:-1] in _COMPOUND_SENSITIVE else word
        if tok.pos_ in ("VERB", "AUX") or tok.tag_.startswith("VB"):
            m.dropped = True
            return
        if stem in ("orange", "remote") and tok.pos_ == "ADJ":
            m.dropped = True
            return
        if stem in _COMPOUND_SENSITIVE and tok.dep_ in ("compound", "amod") and tok.head.i != tok.i:
            if stem == "orange" and self._lemma(tok.head) in _FRUIT_HEADS:
                return
            if tok.head.pos_ in ("NOUN", "PROPN"):
                m.dropped = True

    def _verbal_negation(self, sdoc: Any) -> set[int]:
        out: set[int] = set()
        for t in sdoc:
            if not (t.dep_ == "neg" or t.lower_ in self._neg_verbal):
                continue
            if t.i + 1 < len(sdoc) and (t.lower_, sdoc[t.i + 1].lower_) in _PSEUDO_NEG:
                continue
            head = t.head
            existential = self._lemma(head) in _EXIST or any(c.dep_ == "expl" for c in head.children)
            for child in head.children:
                if child.i == t.i:
                    continue
                if existential and child.dep_ in ("nsubj", "nsubjpass", "expl") or child.dep_ in _NEG_ARG_DEPS:
                    out.update(x.i for x in child.subtree)
        return out

    # ------------------------------------------------------------------ output
    def _mentions(self, text: str, toks: list[_Tok], matches: list[_Match]) -> list[Mention]:
        out = []
        for m in matches:
            if m.dropped:
                continue
            start, end = toks[m.i].start, toks[m.j - 1].end
            e = m.entry
            # (start, end, text, lemma, canonical, vocab, count, negated, hedged, nonvisual)
            out.append(Mention(start, end, text[start:end], e.lemma, e.canonical or "", e.vocab, m.count, m.negated,
                               m.hedged, m.nonvisual))
        return out


def _cue_table(cues: Iterable[str]) -> dict[str, list[tuple[str, ...]]]:
    table: dict[str, list[tuple[str, ...]]] = {}
    for cue in cues:
        key = tuple(cue.lower().split())
        table.setdefault(key[0], []).append(key)
    for v in table.values():
        v.sort(key=len, reverse=True)
    return table


def _cue_at(table: dict[str, list[tuple[str, ...]]], words: list[str], i: int) -> int:
    cands = table.get(words[i])
    if not cands:
        return 0
    for key in cands:
        if tuple(words[i : i + len(key)]) == key:
            return len(key)
    return 0
